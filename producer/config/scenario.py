"""Scenario files: a whole run described in YAML, validated before anything is sent.

One schema (:data:`SCHEMA`) describes every key; ``docs/scenarios.md`` is generated
from it (a test keeps them equal). A scenario is a layer of the one resolution
order: CLI flag > environment variable > scenario file > default.

Every problem is reported as one line naming the file, the key path and the value:
``scenarios/x.yaml: data_faults.duplicates.rate: must be within [0, 1] (got 1.5)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from producer.config.settings import (
    SETTINGS,
    SINKS,
    SIZE_UNITS,
    Settings,
    parse_quota,
    parse_size,
    parse_timestamp,
    resolve,
)
from producer.errors import ConfigError
from producer.generation.data_faults import DataFaults, Fault, SchemaDrift
from producer.generation.geo import COUNTRIES
from producer.generation.schema import DEVICE_TYPES, EVENT_TYPES
from producer.generation.sessions import SessionParams
from producer.generation.world import WorldConfig
from producer.resources import bundled_dir
from producer.runtime.rate import (
    _DURATION_UNITS,
    _MULTIPLIER,
    _UNIT_SECONDS,
    parse_duration,
    parse_rate,
    parse_shape,
)

__all__ = [
    "SCHEMA",
    "SCHEMA_FILE",
    "SHIPPED_DIR",
    "Key",
    "Scenario",
    "ScenarioError",
    "find_scenario",
    "json_schema",
    "load_scenario",
    "resolve_run",
    "scenario_reference",
    "shipped_scenarios",
]

#: Where the shipped scenarios live (the repository's scenarios/, or the wheel's copy).
SHIPPED_DIR = bundled_dir("scenarios")


@dataclass(frozen=True, slots=True)
class Key:
    """One leaf of the schema: its kind, default (as shown in the docs), meaning and bounds.

    ``minimum``/``maximum`` bound a number, a count, a size (in bytes) or the entries of
    a list; a duration with ``minimum=0`` may be zero (others must be greater).
    ``limit`` says why the bounds are what they are. ``required`` keys must be present
    whenever their mapping is. ``names`` are the only names a ``weights`` mapping takes
    (``noun``: what each one is), or the only values of a ``string``. The checks and the JSON Schema are both read from here.
    """

    kind: str
    help: str
    default: str = ""
    minimum: float | None = None
    maximum: float | None = None
    limit: str = ""
    required: bool = False
    names: tuple[str, ...] = ()
    noun: str = ""


_SESSIONS = SessionParams()
_WORLD = WorldConfig()
_SETTING_DEFAULTS: Mapping[str, str | None] = {s.name: s.default for s in SETTINGS}


def _shown(value: Any) -> str:
    """A default as the docs show it: 90.0 as 90, (20.0, 90.0) as [20, 90], True as true."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(map(_shown, value)) + "]"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items())
    return str(value)


def _session(field: str) -> str:
    """The default of a :class:`SessionParams` field, as shown."""
    return _shown(getattr(_SESSIONS, field))


def _world(field: str) -> str:
    """The default of a :class:`WorldConfig` field, as shown."""
    return _shown(getattr(_WORLD, field))


def _setting(name: str) -> str:
    """The default of a setting (the scenario key is that setting's layer)."""
    return _SETTING_DEFAULTS[name] or ""


# Kinds: int, number, fraction (0..1), string, rate, duration, timestamp, speed, bool,
# size, quota, choice:<a|b>, weights (mapping name -> weight), list (of probabilities),
# mapping, strings (list of names), pair (two numbers), transitions.
SCHEMA: dict[str, Any] = {
    "name": Key("string", "A short name (defaults to the file name)."),
    "description": Key("string", "What the scenario reproduces."),
    "seed": Key("int", "Seed of the world, the sessions and the faults.", "random"),
    "rate": Key("rate", "Target rate: 500/s, 5k/s, 30000/min...", _setting("rate")),
    "shape": Key(
        "string", "constant, daily, ramp:<from>..<to>:<over>, steps:<r>,<r>,...:<each>.", _setting("shape")
    ),
    "duration": Key("duration", "Stop after this much schedule time."),
    "count": Key("int", "Stop after this many events.", minimum=1),
    "clock": {
        "start": Key("timestamp", "Simulated clock: start of the window (ISO-8601, UTC)."),
        "end": Key("timestamp", "Simulated clock: end of the window (exclusive)."),
        "speed": Key("speed", "max, or a factor such as 10x.", _setting("speed")),
    },
    "population": {
        "accounts": Key("int", "Accounts (1-5 profiles each).", _setting("accounts"), minimum=1),
        "profiles_per_account": Key(
            "list",
            "Probabilities of 1..5 profiles; must sum to 1.",
            "[0.35, 0.30, 0.16, 0.11, 0.08]",
            maximum=5,
            limit="at most 5 profiles per account",
        ),
        "country_weights": Key(
            "weights",
            "Country code -> weight (known codes: see docs/data_model.md).",
            "Netflix's regional mix",
            names=tuple(c.code for c in COUNTRIES),
            noun="country",
        ),
        "device_weights": Key(
            "weights",
            "tv, console, web, mobile, tablet -> weight.",
            _world("device_weights"),
            names=DEVICE_TYPES,
            noun="device",
        ),
        "app_versions": Key("weights", "App version -> install share."),
    },
    "catalog": {
        "titles": Key("int", "Films plus series seasons.", _setting("titles"), minimum=2),
        "popularity": Key("choice:lognormal|zipf", "Popularity law.", _world("popularity")),
        "popularity_sigma": Key("number", "Lognormal sigma of season weights.", _world("popularity_sigma")),
        "film_popularity_sigma": Key(
            "number", "Lognormal sigma of film weights.", _world("film_popularity_sigma")
        ),
        "zipf_exponent": Key("number", "Zipf exponent (popularity: zipf).", _world("zipf_exponent")),
        "film_share": Key("fraction", "Films as a share of titles.", _world("film_share")),
        "series_play_share": Key(
            "fraction", "Share of plays that are episodes.", _world("series_play_share")
        ),
    },
    "sessions": {
        "pause_rate_per_h": Key(
            "weights",
            "Pauses per viewing hour, by device.",
            "tv/console 0.8, others 1.5",
            names=DEVICE_TYPES,
            noun="device",
        ),
        "pause_median_s": Key("number", "Pause length: lognormal median (s).", _session("pause_median_s")),
        "pause_sigma": Key("number", "Pause length: lognormal sigma.", _session("pause_sigma")),
        "pause_timeout_s": Key("number", "A longer pause ends the session.", _session("pause_timeout_s")),
        "seek_rate_per_h": Key("number", "Seeks per viewing hour.", _session("seek_rate_per_h")),
        "seek_tap_share": Key(
            "fraction", "Share of seeks that are +/-10 s taps.", _session("seek_tap_share")
        ),
        "seek_scrub_median_s": Key(
            "number", "Other seeks: lognormal median distance (s).", _session("seek_scrub_median_s")
        ),
        "seek_forward_share": Key(
            "fraction", "Share of seeks going forward.", _session("seek_forward_share")
        ),
        "poor_network_share": Key(
            "fraction", "Share of plays on a poor network.", _session("poor_network_share")
        ),
        "rebuffer_rate_per_h_good": Key(
            "number", "Stalls per viewing hour, good network.", _session("rebuffer_rate_per_h_good")
        ),
        "rebuffer_rate_per_h_poor": Key(
            "number", "Stalls per viewing hour, poor network.", _session("rebuffer_rate_per_h_poor")
        ),
        "stall_mean_s_good": Key("number", "Mean stall (s), good network.", _session("stall_mean_s_good")),
        "stall_mean_s_poor": Key("number", "Mean stall (s), poor network.", _session("stall_mean_s_poor")),
        "completion_episode": Key("fraction", "Episodes watched to the end.", _session("completion_episode")),
        "completion_film": Key("fraction", "Films watched to the end.", _session("completion_film")),
        "quick_abandon_share": Key(
            "fraction", "Of the rest, share abandoned within minutes.", _session("quick_abandon_share")
        ),
        "quick_abandon_mean_s": Key(
            "number", "Mean watch time of a quick abandon (s).", _session("quick_abandon_mean_s")
        ),
        "resume_share": Key("fraction", "Plays starting from a resume point.", _session("resume_share")),
        "max_episodes_per_sitting": Key(
            "int", "Most episodes in a row.", _session("max_episodes_per_sitting"), minimum=1
        ),
        "browse_s": Key(
            "pair", "Browsing before a sitting's first play, [min, max] s.", _session("browse_s")
        ),
        "autoplay_gap_s": Key("pair", "Autoplay countdown, [min, max] s.", _session("autoplay_gap_s")),
        "still_watching_episodes": Key(
            "int",
            "'Are you still watching?' before an autoplay after this many autoplayed episodes "
            "without a pause or seek.",
            _session("still_watching_episodes"),
            minimum=1,
        ),
        "still_watching_s": Key(
            "number", "... or after this long without a pause or seek (s).", _session("still_watching_s")
        ),
        "still_watching_stop_prob": Key(
            "fraction", "Sittings that end at the prompt.", _session("still_watching_stop_prob")
        ),
        "still_watching_answer_s": Key(
            "pair", "Time to answer the prompt, [min, max] s.", _session("still_watching_answer_s")
        ),
        "warm_start": Key("bool", "Start with sittings already in progress.", _session("warm_start")),
        "transitions": Key(
            "transitions",
            "Probabilities of what follows an event: SEEK -> BUFFER_START (a stall after a "
            "seek), PLAY_STOP -> PLAY_START (the next episode autoplays). Each row sums to at most 1; "
            "the rest of a row is 'back to playing' (SEEK) or 'the sitting ends' (PLAY_STOP).",
            f"SEEK: {{BUFFER_START: {_session('seek_buffer_prob')}}}, "
            f"PLAY_STOP: {{PLAY_START: {_session('autoplay_prob')}}}",
        ),
    },
    "sink": {
        "type": Key("string", ", ".join(SINKS) + ".", _setting("sink"), names=SINKS),
        "lake_dir": Key("string", "Root of the local lake.", _setting("lake_dir")),
        "stream": Key("string", "Firehose or Kinesis stream name.", _setting("stream")),
        "prefix": Key("string", "S3 prefix with Firehose timestamp expressions."),
        "buffer_size": Key(
            "size",
            "Lake/S3 buffering size hint.",
            _setting("buffer_size"),
            minimum=1024**2,
            maximum=128 * 1024**2,
            limit="Firehose buffering size is 1 MiB to 128 MiB",
        ),
        "buffer_interval": Key(
            "duration",
            "Lake/S3 buffering interval hint.",
            _setting("buffer_interval"),
            minimum=0,
            maximum=900,
            limit="Firehose buffering interval is 0 to 900 seconds",
        ),
        "gzip": Key("bool", "GZIP objects (lake, s3) or the file.", _setting("gzip")),
        "out": Key("string", "File sink output path."),
        "bucket": Key("string", "S3 sink bucket (s3://bucket/prefix)."),
        "region": Key("string", "AWS region."),
        "profile": Key("string", "AWS profile."),
        "endpoint_url": Key("string", "AWS endpoint URL."),
        "transport": Key(
            "choice:botocore|fast",
            "Firehose/Kinesis calls: fast (signed directly) or botocore (aiobotocore).",
            _setting("transport"),
        ),
        "partition_key": Key(
            "choice:user_id|session_id|random", "Kinesis partition key.", _setting("partition_key")
        ),
        "max_in_flight": Key("int", "Calls in flight.", _setting("max_in_flight"), minimum=1, maximum=64),
        "max_attempts": Key(
            "int",
            "Sends per record failing otherwise than throttled or unreachable.",
            _setting("max_attempts"),
            minimum=1,
            maximum=50,
        ),
        "max_retry_time": Key(
            "duration",
            "How long a throttled or unreachable record is resent.",
            _setting("max_retry_time"),
            minimum=1,
            maximum=3600,
            limit="1s to 1h",
        ),
        "linger": Key(
            "duration", "Longest wait before a partial batch is sent.", _setting("linger"), minimum=0
        ),
        "batch_records": Key(
            "int",
            "Records per batch (at most 500).",
            _setting("batch_records"),
            minimum=1,
            maximum=500,
            limit="PutRecordBatch takes at most 500 records",
        ),
        "dead_letter": Key("string", "Dead-letter file.", _setting("dead_letter")),
        "manifest": Key("string", "Manifest of accepted event ids, for verify."),
        "capture": Key("string", "Capture of every record as sent, for replay."),
    },
    "data_faults": {
        name: {
            "rate": Key(
                "fraction",
                "Share of events hit."
                + (" Required." if name != "schema_drift" else " Default: 1 (every event in the window)."),
                required=name != "schema_drift",
            ),
            "start": Key("timestamp", "Only events at or after this event_ts."),
            "end": Key("timestamp", "Only events before this event_ts."),
            **extra,
        }
        for name, extra in {
            "duplicates": {
                "delay": Key("duration", "Send the copy this much later (0: at once).", "0s", minimum=0)
            },
            "late": {
                "min_delay": Key("duration", "Shortest delay (log-uniform).", "5m"),
                "max_delay": Key("duration", "Longest delay.", "1d"),
            },
            "out_of_order": {},
            "null_event_ts": {},
            "missing_event_ts": {},
            "malformed": {},
            "schema_drift": {
                "rename": Key("mapping", "Field renames, e.g. {title_id: content_id}."),
                "event_ts_as_iso": Key("bool", "Send event_ts as an ISO-8601 string.", "false"),
                "add_fields": Key("mapping", "Fields added with these values."),
                "drop_fields": Key("strings", "Fields removed."),
            },
            "oversize": {
                "size": Key(
                    "size",
                    "Size of the padded record.",
                    "1100KiB",
                    minimum=1_024_001,
                    maximum=16 * 1024**2,
                    limit="an oversize record is over Firehose's 1,000 KiB (1,024,000 bytes) limit, "
                    "and at most 16 MiB",
                )
            },
        }.items()
    },
    "transport_faults": {
        "throttle_rate": Key(
            "fraction", "Share of records answered as throttled.", _setting("throttle_rate")
        ),
        "call_failure_rate": Key(
            "fraction", "Share of calls failing with a 503.", _setting("call_failure_rate")
        ),
        "quota": Key("quota", "Simulated stream quota: 1MiB/s, 1000rec/s."),
    },
}

# Scenario keys that are settings of the run (so flags and env vars override them).
_SETTING_OF: dict[str, str] = {
    "seed": "seed", "rate": "rate", "shape": "shape", "duration": "duration", "count": "count",
    "clock.start": "start", "clock.end": "end", "clock.speed": "speed",
    "population.accounts": "accounts", "catalog.titles": "titles",
    "sink.type": "sink", "sink.lake_dir": "lake_dir", "sink.stream": "stream", "sink.prefix": "prefix",
    "sink.buffer_size": "buffer_size", "sink.buffer_interval": "buffer_interval", "sink.gzip": "gzip",
    "sink.out": "out", "sink.bucket": "bucket", "sink.region": "region", "sink.profile": "profile",
    "sink.endpoint_url": "endpoint_url", "sink.transport": "transport", "sink.partition_key": "partition_key",
    "sink.max_in_flight": "max_in_flight", "sink.max_attempts": "max_attempts",
    "sink.max_retry_time": "max_retry_time", "sink.linger": "linger",
    "sink.batch_records": "batch_records", "sink.dead_letter": "dead_letter", "sink.manifest": "manifest",
    "sink.capture": "capture",
    "transport_faults.throttle_rate": "throttle_rate",
    "transport_faults.call_failure_rate": "call_failure_rate", "transport_faults.quota": "quota",
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A validated scenario: a settings layer plus the objects only a scenario can set."""

    path: Path
    name: str
    description: str
    settings: Mapping[str, str]
    world: WorldConfig
    sessions: SessionParams
    data_faults: DataFaults


class ScenarioError(ConfigError):
    """A scenario file with problems: one line per problem, each naming the file, the
    key path and the value (``problems``; the message is those lines)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


class _Problem(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _fail(path: str, message: str, value: Any = None, *, show: bool = True) -> _Problem:
    return _Problem(path, f"{message} (got {value!r})" if show else message)


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(path: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, "must be a number", value)
    return float(value)


def _bounds(path: str, key: Key, measured: float, value: Any, unit: str = "") -> None:
    """Check ``key``'s bounds, unless ``path`` is a run setting: those are checked by
    :func:`resolve`, with the same bounds (a test keeps them equal), as for a flag."""
    if path in _SETTING_OF:
        return
    why = f": {key.limit}" if key.limit else ""
    if key.minimum is not None and measured < key.minimum:
        raise _fail(path, f"must be at least {_figure(key.minimum)}{unit}{why}", value)
    if key.maximum is not None and measured > key.maximum:
        raise _fail(path, f"must be at most {_figure(key.maximum)}{unit}{why}", value)


def _figure(x: float) -> str:
    return f"{int(x):,}" if x == int(x) else f"{x:g}"


def _check_leaf(path: str, key: Key, value: Any, problems: list[_Problem]) -> Any:
    """Check one value against its kind and bounds; return it normalised.

    A problem of the whole value is raised; the kinds made of entries (weights, lists,
    transitions) add one problem per bad entry to ``problems`` and return None.
    """
    kind = key.kind
    try:
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise _fail(path, "must be a whole number", value)
            if value < 0:
                raise _fail(path, "must not be negative", value)
            _bounds(path, key, value, value)
            return value
        if kind == "number":
            v = _number(path, value)
            if v < 0:
                raise _fail(path, "must not be negative", value)
            return v
        if kind == "fraction":
            v = _number(path, value)
            if not 0.0 <= v <= 1.0:
                raise _fail(path, "must be within [0, 1]", value)
            return v
        if kind == "bool":
            if not isinstance(value, bool):
                raise _fail(path, "must be true or false", value)
            return value
        if kind == "string":
            if not isinstance(value, str) or not value:
                raise _fail(path, "must be a non-empty string", value)
            if key.names and value not in key.names and path not in _SETTING_OF:
                raise _fail(path, "must be one of " + ", ".join(key.names), value)
            return value
        if kind.startswith("choice:"):
            options = kind.split(":", 1)[1].split("|")
            if value not in options:
                raise _fail(path, "must be one of " + ", ".join(options), value)
            return value
        if kind == "rate":
            rate = parse_rate(_text(value), option=path)
            if rate <= 0:
                raise _fail(path, "must be greater than zero", value)
            return _text(value)
        if kind == "duration":
            text = _text(value)
            if text.strip() in ("0", "0s", "0.0"):
                if key.minimum != 0 and path not in _SETTING_OF:
                    raise _fail(path, "must be greater than zero", value)
            else:
                _bounds(path, key, parse_duration(text, option=path), value, " s")
            return text
        if kind == "timestamp":
            parse_timestamp(_text(value), option=path)
            return _text(value)
        if kind == "speed":
            text = _text(value).lower()
            if text not in ("max", "inf", "fast"):
                try:
                    factor = float(text.removesuffix("x"))
                except ValueError:
                    factor = -1.0
                if not (factor > 0 and math.isfinite(factor)):
                    raise _fail(path, "must be max or a factor such as 10x", value)
            return text
        if kind == "size":
            _bounds(path, key, parse_size(_text(value), path), value, " bytes")
            return _text(value)
        if kind == "quota":
            parse_quota(_text(value), option=path)
            return _text(value)
        if kind == "weights":
            return _check_weights(path, key, value, problems)
        if kind == "list":
            return _check_probabilities(path, key, value, problems)
        if kind == "pair":
            if not isinstance(value, list) or len(value) != 2:
                raise _fail(path, "must be [min, max]", value)
            lo, hi = (_number(f"{path}[{i}]", v) for i, v in enumerate(value))
            if lo < 0 or hi < lo:
                raise _fail(path, "must be [min, max] with 0 <= min <= max", value)
            return (lo, hi)
        if kind == "mapping":
            if not isinstance(value, Mapping):
                raise _fail(path, "must be a mapping", value)
            return dict(value)
        if kind == "strings":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise _fail(path, "must be a list of field names", value)
            return tuple(value)
        if kind == "transitions":
            return _check_transitions(path, value, problems)
    except ConfigError as exc:
        # A parser's own message already names the key and the value.
        raise _Problem(path, str(exc).removeprefix(f"invalid {path} ").strip()) from None
    raise AssertionError(kind)


def _entries(problems: list[_Problem], check: Callable[[], Any]) -> Any:
    """Run one entry's check; a problem is noted (and the entry left out), not raised."""
    try:
        return check()
    except _Problem as p:
        problems.append(p)
        return None


def _check_weights(path: str, key: Key, value: Any, problems: list[_Problem]) -> dict[str, float] | None:
    if not isinstance(value, Mapping) or not value:
        raise _fail(path, "must be a mapping of name -> weight", value)
    before = len(problems)
    weights: dict[str, float] = {}
    for raw, v in value.items():
        name, where = str(raw), f"{path}.{raw}"
        if key.names and name not in key.names:
            if len(key.names) <= 8:
                extra = f"; {key.noun}s are " + ", ".join(key.names) + f" (got {name!r})"
            else:
                hint = difflib.get_close_matches(name, sorted(key.names), n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else ""
            problems.append(_Problem(where, f"unknown {key.noun}{extra}"))
            continue

        def one(where: str = where, v: Any = v) -> float:
            weight = _number(where, v)
            if weight < 0:
                raise _fail(where, "must not be negative", v)
            return weight

        weight = _entries(problems, one)
        if weight is not None:
            weights[name] = weight
    if len(problems) > before:
        return None
    if sum(weights.values()) <= 0:
        raise _fail(path, "weights must not all be zero", value)
    return weights


def _check_probabilities(path: str, key: Key, value: Any, problems: list[_Problem]) -> list[float] | None:
    if not isinstance(value, list) or not value:
        raise _fail(path, "must be a list of numbers", value)
    if key.maximum is not None and len(value) > key.maximum:
        raise _fail(path, key.limit or f"at most {key.maximum:g} entries", value)
    before = len(problems)
    probs = [_entries(problems, partial(_number, f"{path}[{i}]", v)) for i, v in enumerate(value)]
    if len(problems) > before:
        return None
    if any(not 0 <= p <= 1 for p in probs):
        raise _fail(path, "probabilities must be within [0, 1]", value)
    if abs(sum(probs) - 1.0) > 1e-6:
        raise _fail(path, f"probabilities sum to {sum(probs):g}, not 1", value)
    return probs


#: The transitions a scenario may set, by source state, and where "the rest" goes.
_EDGES: dict[str, tuple[str, ...]] = {"SEEK": ("BUFFER_START",), "PLAY_STOP": ("PLAY_START",)}


def _check_transitions(path: str, value: Any, problems: list[_Problem]) -> dict[str, dict[str, float]] | None:
    if not isinstance(value, Mapping):
        raise _fail(path, "must be a mapping of state -> {next state: probability}", value)
    before = len(problems)
    rows: dict[str, dict[str, float]] = {}
    for state, row in value.items():
        row_problems = len(problems)
        where = f"{path}.{state}"
        if state not in EVENT_TYPES:
            hint = difflib.get_close_matches(str(state), EVENT_TYPES, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else f"; states are {', '.join(EVENT_TYPES)}"
            problems.append(_fail(where, f"undefined state {state!r}{extra}", state, show=False))
            continue
        if state not in _EDGES:
            problems.append(_fail(where, f"the transitions out of {state} are fixed by the model; settable: "
                        + ", ".join(f"{k} -> {'/'.join(v)}" for k, v in _EDGES.items()), row, show=False))  # fmt: skip
            continue
        if not isinstance(row, Mapping):
            problems.append(_fail(where, "must be a mapping of next state -> probability", row))
            continue
        total = 0.0
        for target, p in row.items():
            tpath = f"{where}.{target}"
            if target not in EVENT_TYPES:
                hint = difflib.get_close_matches(str(target), EVENT_TYPES, n=1)
                extra = f"; did you mean {hint[0]!r}?" if hint else ""
                problems.append(_fail(tpath, f"undefined state {target!r}{extra}", target, show=False))
            elif target not in _EDGES[state]:
                problems.append(
                    _fail(tpath, f"no transition {state} -> {target} in the session model", p, show=False)
                )
            else:
                prob = _entries(problems, partial(_number, tpath, p))
                if prob is not None and not 0.0 <= prob <= 1.0:
                    problems.append(_fail(tpath, "probability must be within [0, 1]", p))
                elif prob is not None:
                    total += prob
        if len(problems) > row_problems:
            continue
        if total > 1.0 + 1e-9:
            problems.append(
                _fail(where, f"probabilities sum to {total:g}, more than 1", dict(row), show=False)
            )
            continue
        rows[str(state)] = {str(k): float(v) for k, v in row.items()}
    return None if len(problems) > before else rows


def _walk(
    node: Mapping[str, Any], data: Any, prefix: str, out: dict[str, Any], problems: list[_Problem]
) -> None:
    """Check ``data`` against the schema ``node``: every problem is noted, none stops the walk."""
    if not isinstance(data, Mapping):
        problems.append(_fail(prefix or "(top level)", "must be a mapping of keys", data))
        return
    for raw_key, value in data.items():
        key = str(raw_key)
        path = f"{prefix}.{key}" if prefix else key
        if key not in node:
            hint = difflib.get_close_matches(key, list(node), n=1, cutoff=0.6)
            suggestion = f"; did you mean {(prefix + '.' if prefix else '') + hint[0]!r}?" if hint else ""
            problems.append(_fail(path, f"unknown key{suggestion}", value, show=not hint))
            continue
        spec = node[key]
        if value is None:
            continue
        if isinstance(spec, dict):
            _walk(spec, value, path, out, problems)
            continue
        try:
            checked = _check_leaf(path, spec, value, problems)
        except _Problem as p:
            problems.append(p)
        else:
            if checked is not None:
                out[path] = checked
    for name, spec in node.items():
        if isinstance(spec, Key) and spec.required and data.get(name) is None:
            path = f"{prefix}.{name}" if prefix else name
            problems.append(_Problem(path, "is required"))


def _dur(text: str | None, default: float) -> float:
    if text is None:
        return default
    return 0.0 if text.strip() in ("0", "0s", "0.0") else parse_duration(text)


def _ts(text: str | None) -> float | None:
    return None if text is None else parse_timestamp(text, option="timestamp")


def _cross_checks(v: Mapping[str, Any], problems: list[_Problem]) -> None:
    """What only makes sense together (each value already passed its own check)."""
    if "shape" in v:
        try:
            parse_shape(v["shape"], 1.0, lambda _t: 1.0)
        except ConfigError as exc:
            # The parser names the flag (--shape); name the scenario key and its value.
            detail = str(exc).replace("invalid --shape ", "", 1).replace("--shape ", "")
            if repr(v["shape"]) not in detail:
                detail = f"{detail} (got {v['shape']!r})"
            problems.append(_Problem("shape", detail))
    transitions = v.get("sessions.transitions", {})
    if "SEEK" in transitions and v.get("sessions.seek_rate_per_h") == 0:
        problems.append(_fail("sessions.transitions.SEEK", "state SEEK is unreachable: sessions.seek_rate_per_h is 0",
                              transitions["SEEK"], show=False))  # fmt: skip
    if "PLAY_STOP" in transitions and v.get("catalog.series_play_share") == 0:
        problems.append(_fail("sessions.transitions.PLAY_STOP", "autoplay is unreachable: catalog.series_play_share is 0",
                              transitions["PLAY_STOP"], show=False))  # fmt: skip
    lo, hi = v.get("data_faults.late.min_delay"), v.get("data_faults.late.max_delay")
    if lo is not None and hi is not None and parse_duration(hi) < parse_duration(lo):
        problems.append(
            _fail(
                "data_faults.late.max_delay",
                f"must not be shorter than data_faults.late.min_delay ({lo})",
                hi,
            )
        )


def _build(path: Path, v: dict[str, Any]) -> Scenario:
    """The scenario of values that passed every check."""
    transitions = v.get("sessions.transitions", {})
    world_fields = {
        "population.profiles_per_account": ("profiles_per_account", tuple),
        "population.country_weights": ("country_weights", dict),
        "population.device_weights": ("device_weights", dict),
        "population.app_versions": ("app_versions", dict),
        "catalog.popularity": ("popularity", str),
        "catalog.popularity_sigma": ("popularity_sigma", float),
        "catalog.film_popularity_sigma": ("film_popularity_sigma", float),
        "catalog.zipf_exponent": ("zipf_exponent", float),
        "catalog.film_share": ("film_share", float),
        "catalog.series_play_share": ("series_play_share", float),
    }
    world_kw: dict[str, Any] = {f: conv(v[k]) for k, (f, conv) in world_fields.items() if k in v}
    world = WorldConfig(**world_kw)

    session_kw: dict[str, Any] = {
        k.split(".", 1)[1]: val
        for k, val in v.items()
        if k.startswith("sessions.") and k != "sessions.transitions"
    }
    if "SEEK" in transitions:
        session_kw["seek_buffer_prob"] = transitions["SEEK"].get("BUFFER_START", 0.0)
    if "PLAY_STOP" in transitions:
        session_kw["autoplay_prob"] = transitions["PLAY_STOP"].get("PLAY_START", 0.0)
    sessions = SessionParams(**session_kw)

    def fault(name: str) -> Fault | None:
        p = f"data_faults.{name}."
        if p + "rate" not in v:
            return None
        return Fault(
            rate=v[p + "rate"],
            start=_ts(v.get(p + "start")),
            end=_ts(v.get(p + "end")),
            delay_s=_dur(v.get(p + "delay") or v.get(p + "min_delay"), 300.0 if name == "late" else 0.0),
            max_delay_s=_dur(v.get(p + "max_delay"), 86400.0),
            size_bytes=parse_size(v.get(p + "size", "1100KiB"), p + "size"),
        )

    drift = None
    if any(k.startswith("data_faults.schema_drift.") for k in v):
        p = "data_faults.schema_drift."
        drift = SchemaDrift(
            rate=v.get(p + "rate", 1.0),
            start=_ts(v.get(p + "start")),
            end=_ts(v.get(p + "end")),
            rename={str(a): str(b) for a, b in v.get(p + "rename", {}).items()},
            event_ts_as_iso=v.get(p + "event_ts_as_iso", False),
            add_fields=v.get(p + "add_fields", {}),
            drop_fields=v.get(p + "drop_fields", ()),
        )
    faults = DataFaults(
        duplicates=fault("duplicates"),
        late=fault("late"),
        out_of_order=fault("out_of_order"),
        null_event_ts=fault("null_event_ts"),
        missing_event_ts=fault("missing_event_ts"),
        malformed=fault("malformed"),
        schema_drift=drift,
        oversize=fault("oversize"),
    )
    return Scenario(
        path=path,
        name=v.get("name", path.stem),
        description=v.get("description", ""),
        settings=_settings_of(v),
        world=world,
        sessions=sessions,
        data_faults=faults,
    )


def _settings_of(values: Mapping[str, Any]) -> dict[str, str]:
    return {_SETTING_OF[k]: _text(val) for k, val in values.items() if k in _SETTING_OF}


_KEY_OF: dict[str, str] = {setting: key for key, setting in _SETTING_OF.items()}
_SETTING_PROBLEM = re.compile(r"^invalid scenario key '(\w+)' (.*)$", re.DOTALL)


def _check_settings(settings: Mapping[str, str], problems: list[_Problem]) -> None:
    """Check the scenario's settings as a run would (limits, ranges, end after start), so
    that ``scenarios validate`` rejects what ``run`` would. :func:`resolve` stops at its
    first problem: the key it names is noted and left out, and the rest checked again.
    Problems of a combination that flags may complete (``sink: {type: s3}`` and
    ``--bucket``) are left to the run."""
    remaining = dict(settings)
    while remaining:
        try:
            resolve({}, {}, scenario=remaining)
        except ConfigError as exc:
            m = _SETTING_PROBLEM.match(str(exc))
            if m is None or m.group(1) not in _KEY_OF or m.group(1) not in remaining:
                return
            key = _KEY_OF[m.group(1)]
            if all(p.path != key for p in problems):  # not said twice (a shape, say)
                problems.append(_Problem(key, m.group(2)))
            del remaining[m.group(1)]
        else:
            return


class _ScenarioLoader(yaml.SafeLoader):
    """PyYAML's safe loader, noting each key repeated in a mapping (at any depth) with
    its key path and lines: YAML itself keeps the last value without a word."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated: list[_Problem] = []

    def construct_document(self, node: yaml.Node) -> Any:
        self._note_repeats(node, "")
        return super().construct_document(node)

    def _note_repeats(self, node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._note_repeats(item, f"{prefix}[{i}]")
        if not isinstance(node, yaml.MappingNode):
            return
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *anchor' merges on purpose
            key = str(key_node.value)
            path = f"{prefix}.{key}" if prefix else key
            line = key_node.start_mark.line + 1
            if key in first:
                self.repeated.append(_Problem(path, f"repeated key on line {line} (first on line {first[key]}); "
                                              f"a key may appear once (got {value_node.value!r} again)"))  # fmt: skip
            else:
                first[key] = line
            self._note_repeats(value_node, path)


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file.

    Every problem is found before any is reported: a :class:`ScenarioError` carries one
    line per problem, each naming the file, the key path and the value.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"{path}: cannot read the scenario: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    loader = _ScenarioLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        msg = f"{path}: {where}not valid YAML: {problem}"
        raise ConfigError(msg) from None
    finally:
        loader.dispose()
    problems = list(loader.repeated)
    values: dict[str, Any] = {}
    _walk(SCHEMA, {} if data is None else data, "", values, problems)
    _cross_checks(values, problems)
    _check_settings(_settings_of(values), problems)
    if not problems:
        try:
            return _build(path, values)
        except ConfigError as exc:
            problems.append(_Problem("", str(exc)))
    raise ScenarioError(
        [f"{path}: {p.path}: {p.message}" if p.path else f"{path}: {p.message}" for p in problems]
    )


def shipped_scenarios() -> list[Path]:
    """The scenario files shipped with netflix-producer."""
    return sorted(SHIPPED_DIR.glob("*.yaml")) if SHIPPED_DIR.is_dir() else []


def find_scenario(name_or_path: str) -> Path:
    """A path, or the name of a shipped scenario (``steady-demo``)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = {s.stem: s for s in shipped_scenarios()}
    if name_or_path in shipped:
        return shipped[name_or_path]
    hint = difflib.get_close_matches(name_or_path, list(shipped), n=1)
    extra = f" (did you mean {hint[0]!r}?)" if hint else f" (shipped: {', '.join(shipped)})"
    msg = f"--scenario {name_or_path!r}: no such file or shipped scenario{extra}"
    raise ConfigError(msg)


def resolve_run(
    flags: Mapping[str, Any], env: Mapping[str, str] | None = None, scenario: str | None = None
) -> Settings:
    """Settings from flags, environment and an optional scenario (name or path)."""
    if scenario is None:
        return resolve(flags, env)
    loaded = load_scenario(find_scenario(scenario))
    settings = resolve(flags, env, scenario=loaded.settings)
    return dataclasses.replace(
        settings,
        world=loaded.world,
        session_params=loaded.sessions,
        data_faults=loaded.data_faults if loaded.data_faults.active else None,
        scenario=loaded.name,
    )


def _bounds_text(key: Key) -> str:
    if key.limit:
        return f" Limit: {key.limit}."
    if key.kind in ("size", "duration") or (key.minimum is None and key.maximum is None):
        return ""
    lo = f"{key.minimum:g}" if key.minimum is not None else "0"
    return f" At least {lo}." if key.maximum is None else f" {lo} to {key.maximum:g}."


def scenario_reference() -> str:
    """Every scenario key as Markdown (docs/scenarios.md embeds it; a test keeps them equal)."""
    lines = ["| key | kind | default | meaning |", "|---|---|---|---|"]

    def visit(node: Mapping[str, Any], prefix: str) -> None:
        for name, spec in node.items():
            path = f"{prefix}.{name}" if prefix else name
            if isinstance(spec, dict):
                visit(spec, path)
            else:
                kind = spec.kind.replace("choice:", "one of: ").replace("|", ", ")
                lines.append(f"| `{path}` | {kind} | {spec.default} | {spec.help}{_bounds_text(spec)} |")

    visit(SCHEMA, "")
    return "\n".join(lines)


#: Where the generated JSON Schema is shipped, beside the scenarios that point to it.
SCHEMA_FILE = "scenario.schema.json"
_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"


def _anycase(word: str) -> str:
    """A pattern matching ``word`` in any case (JSON Schema patterns have no flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


def _alternatives(words: Iterable[str], *, anycase: bool = False) -> str:
    # Longest first, so that a regex engine without backtracking into alternatives agrees.
    ordered = sorted((w for w in words if w), key=len, reverse=True)
    return "(?:" + "|".join(_anycase(w) if anycase else re.escape(w) for w in ordered) + ")"


def _leaf_schema(key: Key) -> dict[str, Any]:
    """The JSON Schema of one leaf: what its checks can say without reading other keys."""
    kind = key.kind
    lo = key.minimum if key.minimum is not None else 0
    if kind == "int":
        out: dict[str, Any] = {"type": "integer", "minimum": int(lo)}
        if key.maximum is not None:
            out["maximum"] = int(key.maximum)
        return out
    if kind == "number":
        return {"type": "number", "minimum": 0}
    if kind == "fraction":
        return {"type": "number", "minimum": 0, "maximum": 1}
    if kind == "bool":
        return {"type": "boolean"}
    if kind == "string":
        return {"enum": list(key.names)} if key.names else {"type": "string", "minLength": 1}
    if kind.startswith("choice:"):
        return {"enum": kind.split(":", 1)[1].split("|")}
    if kind == "rate":
        per = _alternatives(_UNIT_SECONDS)
        mult = _alternatives(_MULTIPLIER)
        pattern = rf"^\s*{_NUM}\s*{mult}?\s*(?:/\s*{per})?\s*$"
        return {"anyOf": [{"type": "string", "pattern": pattern}, {"type": "number", "exclusiveMinimum": 0}]}
    if kind == "duration":
        unit = _alternatives(_DURATION_UNITS)
        pattern = rf"^\s*(?:{_NUM}|(?:{_NUM}\s*{unit})+)\s*$"
        number: dict[str, Any] = {"type": "number", "minimum": 0}
        if key.maximum is not None:
            number["maximum"] = key.maximum
        return {"anyOf": [{"type": "string", "pattern": pattern}, number]}
    if kind == "timestamp":
        # ISO-8601; unquoted, YAML reads it as a date, which the checks accept too.
        return {
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?$",
        }
    if kind == "speed":
        words = _alternatives(("max", "inf", "fast"), anycase=True)
        return {"anyOf": [{"type": "string", "pattern": rf"^\s*(?:{words}|{_NUM}[xX]?)\s*$"},
                          {"type": "number", "exclusiveMinimum": 0}]}  # fmt: skip
    if kind == "size":
        unit = _alternatives(SIZE_UNITS, anycase=True)
        integer: dict[str, Any] = {"type": "integer", "minimum": int(lo)}
        if key.maximum is not None:
            integer["maximum"] = int(key.maximum)
        return {"anyOf": [{"type": "string", "pattern": rf"^\s*{_NUM}\s*{unit}?\s*$"}, integer]}
    if kind == "quota":
        unit = _alternatives(("rec", "records", *SIZE_UNITS), anycase=True)
        return {"type": "string", "pattern": rf"^\s*\d+(?:\.\d*)?\s*{unit}\s*/\s*[sS]\s*$"}
    if kind == "weights":
        out = {"type": "object", "minProperties": 1, "additionalProperties": {"type": "number", "minimum": 0}}
        if key.names:
            out["propertyNames"] = {"enum": list(key.names)}
        return out
    if kind == "list":
        out = {"type": "array", "minItems": 1, "items": {"type": "number", "minimum": 0, "maximum": 1}}
        if key.maximum is not None:
            out["maxItems"] = int(key.maximum)
        return out
    if kind == "pair":
        return {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number", "minimum": 0}}
    if kind == "mapping":
        return {"type": "object"}
    if kind == "strings":
        return {"type": "array", "items": {"type": "string", "minLength": 1}}
    if kind == "transitions":
        row = {"type": "number", "minimum": 0, "maximum": 1}
        return {"type": "object", "additionalProperties": False, "properties": {
            state: {"type": "object", "additionalProperties": False, "properties": dict.fromkeys(targets, row)}
            for state, targets in _EDGES.items()}}  # fmt: skip
    raise AssertionError(kind)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """An empty value (``key:`` or ``key: null``) means "not set": allow it."""
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    if "anyOf" in schema:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def _object_schema(node: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, spec in node.items():
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(spec, dict):
            properties[name] = _nullable(_object_schema(spec, path))
            continue
        text = spec.help + (f" Default: {spec.default}." if spec.default else "")
        if spec.limit:
            text += f" Limit: {spec.limit}."
        properties[name] = {"description": text, **_nullable(_leaf_schema(spec))}
        if spec.required:
            required.append(name)
    out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        out["required"] = required
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file, generated from :data:`SCHEMA`.

    It checks each value on its own; what needs other keys (probabilities summing to 1,
    ``clock.end`` after ``clock.start``, a parseable ``shape``), repeated keys and the
    bounds of a size given with a unit are left to ``netflix-producer scenarios validate``.
    """
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_FILE,
        "title": "netflix-producer scenario",
        "description": "A whole run of netflix-producer: rate, clock, world, sessions, sink and faults. "
        "Generated by 'netflix-producer scenarios schema'; 'netflix-producer scenarios validate' "
        "checks everything this schema does, and what it cannot say.",
        **_object_schema(SCHEMA, ""),
    }

"""Configuration, resolved in one place and one order.

Every setting has one entry in :data:`SETTINGS`: its environment variable, its
default and how its text is parsed. :func:`resolve` takes, for each setting, the
first value found in: CLI flag > environment variable (``NETFLIX_PRODUCER_*``) >
scenario file > default; then checks the combination. The result is a frozen
:class:`Settings`; nothing downstream reads flags or the environment.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from producer.delivery.transport_faults import Quota
from producer.errors import ConfigError
from producer.generation.data_faults import DataFaults
from producer.generation.geo import COUNTRIES, ZoneClock, daily_curve_factor, zone_mix
from producer.generation.sessions import SessionParams
from producer.generation.world import WorldConfig
from producer.runtime.rate import RateShape, parse_duration, parse_rate, parse_shape
from producer.sinks.dims import lake_world_seed
from producer.sinks.registry import sink_names

__all__ = [
    "ENV_PREFIX",
    "SETTINGS",
    "SINKS",
    "SIZE_UNITS",
    "TRANSPORTS",
    "Setting",
    "Settings",
    "parse_quota",
    "parse_size",
    "parse_speed",
    "parse_timestamp",
    "resolve",
    "settings_table",
]

ENV_PREFIX = "NETFLIX_PRODUCER_"
#: The sinks a run can name (the registry declares them).
SINKS: tuple[str, ...] = sink_names()
#: How the firehose and kinesis sinks call AWS: requests built and signed directly (the
#: default), or through aiobotocore. Other sinks ignore the choice.
TRANSPORTS: tuple[str, ...] = ("botocore", "fast")


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One setting: its flag, environment variable, default and meaning."""

    name: str
    flag: str
    default: str | None
    help: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(name="rate", flag="--rate", default="500/s", help="Target event rate: 500/s, 5k/s, 30000/min, 1M/h."),
    Setting(name="shape", flag="--shape", default="constant",
            help="Rate shape: constant, daily, ramp:500/s..5k/s:60s, steps:500/s,1k/s:30s."),
    Setting(name="duration", flag="--duration", default=None,
            help="Stop after this much (schedule) time: 30s, 10m, 1h."),
    Setting(name="count", flag="--count", default=None, help="Stop after this many events."),
    Setting(name="seed", flag="--seed", default=None,
            help="Seed of the world and the sessions (unset: the lake's world's, else random; the summary shows it)."),
    Setting(name="sink", flag="--sink", default="lake", help="Where events go: " + ", ".join(SINKS) + "."),
    Setting(name="lake_dir", flag="--lake-dir", default="./lake", help="Root of the local lake (the 'bucket')."),
    Setting(name="stream", flag="--stream", default="netflix-events",
            help="Firehose delivery stream or Kinesis stream name (also in lake and S3 object names)."),
    Setting(name="bucket", flag="--bucket", default=None, help="S3 sink: bucket, or s3://bucket/prefix."),
    Setting(name="region", flag="--region", default=None, help="AWS region (default: the AWS SDK's resolution)."),
    Setting(name="profile", flag="--profile", default=None, help="AWS profile of the shared config files."),
    Setting(name="endpoint_url", flag="--endpoint-url", default=None,
            help="AWS endpoint (e.g. a local moto server); AWS_ENDPOINT_URL also works."),
    Setting(name="transport", flag="--transport", default="fast",
            help="Firehose/Kinesis calls: fast (built and signed directly: same credentials and endpoint, a fifth of the CPU per call) or botocore (the fallback: the calls made by aiobotocore)."),
    Setting(name="max_in_flight", flag="--max-in-flight", default="4", help="Calls in flight at once (1..64)."),
    Setting(name="max_attempts", flag="--max-attempts", default="8",
            help="Sends of a record failing with an error other than throttling or an unreachable endpoint before it is dead-lettered (1..50)."),
    Setting(name="max_retry_time", flag="--max-retry-time", default="60s",
            help="How long a throttled record, or one the endpoint could not be reached for, is resent (1s..1h); a stream that accepts nothing that long stops the run."),
    Setting(name="no_check", flag="--no-check", default="false",
            help="Skip the start-up check of the stream or bucket (DescribeDeliveryStream...)."),
    Setting(name="partition_key", flag="--partition-key", default="user_id",
            help="Kinesis partition key: user_id, session_id or random."),
    Setting(name="throttle_rate", flag="--throttle-rate", default="0",
            help="Rehearsal: share of records answered as throttled (0..1)."),
    Setting(name="call_failure_rate", flag="--call-failure-rate", default="0",
            help="Rehearsal: share of calls failing whole with a 503 (0..1)."),
    Setting(name="quota", flag="--quota", default=None,
            help="Rehearsal: a simulated stream quota, e.g. 1MiB/s or 1000rec/s; excess is throttled."),
    Setting(name="capture", flag="--capture", default=None,
            help="Record every record exactly as sent, with its send time, for 'netflix-producer replay' (.gz to compress)."),
    Setting(name="manifest", flag="--manifest", default=None,
            help="Write the event_id of every accepted event here, for 'netflix-producer verify'."),
    Setting(name="prefix", flag="--prefix",
            default="netflix/ingest_year=!{timestamp:yyyy}/!{timestamp:MM/dd/HH}/",
            help="S3 prefix of lake objects, with Firehose timestamp expressions."),
    Setting(name="buffer_size", flag="--buffer-size", default="5MiB",
            help="Lake buffering hint: object size (1MiB..128MiB)."),
    Setting(name="buffer_interval", flag="--buffer-interval", default="300s",
            help="Lake buffering hint: interval (0s..900s)."),
    Setting(name="gzip", flag="--gzip", default="false", help="GZIP lake objects or the --out file."),
    Setting(name="out", flag="--out", default=None, help="Output file of the file sink (.gz to compress)."),
    Setting(name="start", flag="--start", default=None,
            help="Simulated clock: start of the window, ISO-8601 UTC (e.g. 2026-01-27T00:00:00Z)."),
    Setting(name="end", flag="--end", default=None, help="Simulated clock: end of the window (exclusive)."),
    Setting(name="speed", flag="--speed", default="max",
            help="Simulated clock speed: max (as fast as possible) or a factor such as 10x."),
    Setting(name="accounts", flag="--accounts", default="250000",
            help="Accounts in the population (1-5 profiles each, 2.3 on average)."),
    Setting(name="titles", flag="--titles", default="16000", help="Titles in the catalog (films plus seasons)."),
    Setting(name="linger", flag="--linger", default="1s", help="Longest wait before a partial batch is sent (0: every tick)."),
    Setting(name="pack", flag="--pack", default=None,
            help="Firehose/Kinesis: pack several events into one record up to this size, e.g. 5KB (Firehose bills per 5 KB record)."),
    Setting(name="batch_records", flag="--batch-records", default="500",
            help="Records per batch (1..500, the PutRecordBatch limit)."),
    Setting(name="dead_letter", flag="--dead-letter", default="dead-letters.ndjson",
            help="File for records the sink did not accept (created only if needed)."),
    Setting(name="summary_json", flag="--summary-json", default=None, help="Write the summary as JSON here ('-': to stdout)."),
    Setting(name="report", flag="--report", default=None,
            help="Write the run's report here: one HTML page of charts that opens offline (the report extra)."),
    Setting(name="quiet", flag="--quiet", default="false", help="No live view and no summary table."),
)  # fmt: skip

_BY_NAME = {s.name: s for s in SETTINGS}


def settings_table() -> str:
    """The settings as a Markdown table (the README embeds it; a test keeps them equal)."""
    rows = ["| flag | environment variable | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = "" if s.default is None else f"`{s.default}`"
        rows.append(f"| `{s.flag}` | `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything a run needs, resolved and checked."""

    shape: RateShape
    target_rate: float
    duration_s: float | None = None
    count: int | None = None
    seed: int = 0
    sink: str = "lake"
    lake_dir: Path = Path("lake")
    stream: str = "netflix-events"
    prefix: str = "netflix/ingest_year=!{timestamp:yyyy}/!{timestamp:MM/dd/HH}/"
    buffer_bytes: int = 5 * 1024 * 1024
    buffer_interval_s: float = 300.0
    gzip: bool = False
    out: Path | None = None
    start: float | None = None
    end: float | None = None
    speed: float | None = None
    accounts: int = 250_000
    titles: int = 16_000
    linger_s: float = 1.0
    batch_records: int = 500
    pack_bytes: int | None = None
    tick_s: float = 0.01
    dead_letter: Path = Path("dead-letters.ndjson")
    bucket: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    transport: str = "fast"
    max_in_flight: int = 4
    max_attempts: int = 8
    max_retry_time_s: float = 60.0
    check: bool = True
    partition_key: str = "user_id"
    throttle_rate: float = 0.0
    call_failure_rate: float = 0.0
    quota: Quota | None = None
    manifest: Path | None = None
    capture: Path | None = None
    #: From a scenario file: data faults, session behaviour and world overrides.
    data_faults: DataFaults | None = None
    session_params: SessionParams | None = None
    world: WorldConfig | None = None
    scenario: str | None = None
    summary_json: Path | None = None
    report: Path | None = None
    quiet: bool = False
    #: The lake and S3 sinks write the world's dimension tables beside the raw zone. Off
    #: for a replay: a capture does not say which world its events came from.
    write_dims: bool = True

    def world_config(self) -> WorldConfig:
        """The world a run of these settings builds: the scenario's world, with this seed and size."""
        base = self.world or WorldConfig()
        return dataclasses.replace(base, seed=self.seed, accounts=self.accounts, titles=self.titles)


def parse_timestamp(text: str, *, option: str) -> float:
    """Parse an ISO-8601 timestamp (a date alone means midnight); naive means UTC."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        msg = f"invalid {option} {text!r}: expected ISO-8601 UTC such as 2026-01-27T00:00:00Z"
        raise ConfigError(msg) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _parse_bool(text: str, option: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off", ""):
        return False
    msg = f"invalid {option} {text!r}: expected true or false"
    raise ConfigError(msg)


def _parse_int(text: str, option: str, *, minimum: int = 0) -> int:
    """A whole number: ``250000``, ``250_000``, ``100k``, ``2M`` or ``1e6``."""
    t = text.strip().replace("_", "")
    scale = {"k": 1_000, "K": 1_000, "m": 1_000_000, "M": 1_000_000}.get(t[-1:], 1)
    if scale != 1:
        t = t[:-1]
    try:
        number = float(t) if ("e" in t.lower() or "." in t or scale != 1) else int(t)
    except ValueError:
        number = math.nan
    value = int(number * scale) if math.isfinite(number) else None
    if value is None or value != number * scale:
        msg = f"invalid {option} {text!r}: expected a whole number (e.g. 50000, 100k, 1e6)"
        raise ConfigError(msg)
    if value < minimum:
        msg = f"invalid {option} {text!r}: must be at least {minimum}"
        raise ConfigError(msg)
    return value


#: Size units, case-insensitive: decimal ``KB``/``MB``/``GB`` (1000) and binary
#: ``KiB``/``MiB``/``GiB`` (1024), as AWS writes them; no unit (or ``B``) is bytes.
SIZE_UNITS: dict[str, int] = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}  # fmt: skip
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(text: str, option: str) -> int:
    """Parse a size in bytes: ``1048576``, ``5KB`` (5,000), ``5KiB`` (5,120), ``1.5MiB``, ``1GiB``.

    A fraction of a byte is dropped; a negative size is refused.
    """
    m = _SIZE_RE.match(text)
    unit = m.group(2).lower() if m is not None else ""
    if m is None or unit not in SIZE_UNITS:
        why = "a size must not be negative" if text.strip().startswith("-") else (
            "expected a size such as 5000, 5KB, 5KiB, 5MiB or 1GiB")  # fmt: skip
        msg = f"invalid {option} {text!r}: {why}"
        raise ConfigError(msg)
    # Decimal, so that 1.1KB is exactly 1,100 bytes.
    return int(Decimal(m.group(1)) * SIZE_UNITS[unit])


_QUOTA_RE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(rec|records|b|[kmg]i?b)\s*/\s*s\s*$", re.IGNORECASE)


def _parse_retry_time(text: str, option: str) -> float:
    seconds = parse_duration(text, option=option)
    if not 1.0 <= seconds <= 3600.0:
        msg = f"invalid {option} {text!r}: must be within 1s..1h"
        raise ConfigError(msg)
    return seconds


def parse_quota(text: str, *, option: str = "--quota") -> Quota:
    """Parse ``1MiB/s``, ``5MB/s``, ``1GiB/s``, ``1000rec/s`` (the units of :func:`parse_size`)."""
    m = _QUOTA_RE.match(text)
    if m is None or float(m.group(1)) <= 0:
        msg = f"invalid {option} {text!r}: expected e.g. 1MiB/s, 5MiB/s or 1000rec/s"
        raise ConfigError(msg)
    unit = m.group(2).lower()
    if unit.startswith("rec"):
        return Quota(per_s=float(m.group(1)), unit="records")
    return Quota(per_s=float(m.group(1)) * SIZE_UNITS[unit], unit="bytes")


def parse_speed(text: str, option: str) -> float | None:
    t = text.strip().lower()
    if t in ("max", "inf", "fast"):
        return None
    try:
        value = float(t.removesuffix("x"))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        msg = f"invalid {option} {text!r}: expected max or a factor such as 10x"
        raise ConfigError(msg)
    return value


def _daily_curve() -> Callable[[float], float]:
    names, country, share = zone_mix(COUNTRIES)
    weights = np.array([c.weight for c in COUNTRIES])[country] * share
    zones = ZoneClock(names)
    return lambda epoch: daily_curve_factor(epoch, weights, zones)


def resolve(
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    scenario: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve every setting (flag > env > scenario > default) and check them together."""
    env = os.environ if env is None else env
    scenario = scenario or {}
    unknown = set(flags) - set(_BY_NAME)
    if unknown:
        msg = f"unknown setting {sorted(unknown)[0]!r}"
        raise ConfigError(msg)

    def raw(name: str) -> tuple[str | None, str]:
        """The winning text of a setting and where it came from (for messages)."""
        s = _BY_NAME[name]
        value = flags.get(name)
        if value is not None:
            return (str(value).lower() if isinstance(value, bool) else str(value)), s.flag
        if s.env in env:
            return env[s.env], s.env
        if name in scenario and scenario[name] is not None:
            v = scenario[name]
            return (str(v).lower() if isinstance(v, bool) else str(v)), f"scenario key {name!r}"
        return s.default, s.flag

    rate_text, rate_src = raw("rate")
    assert rate_text is not None
    rate = parse_rate(rate_text, option=rate_src)
    if rate <= 0:
        msg = f"invalid {rate_src} {rate_text!r}: rate must be greater than zero"
        raise ConfigError(msg)
    shape_text, shape_src = raw("shape")
    assert shape_text is not None
    try:
        shape = parse_shape(shape_text, rate, _daily_curve())
    except ConfigError as exc:
        msg = str(exc).replace("--shape", shape_src, 1)
        raise ConfigError(msg) from None
    # A ramp or steps carry their own rates: the summary's target is their peak.
    target_rate = rate if shape.kind in ("constant", "daily") else shape.peak_rate

    def opt(name: str, parse: Callable[[str, str], Any]) -> Any:
        text, src = raw(name)
        return None if text is None else parse(text, src)

    duration = opt("duration", lambda t, o: parse_duration(t, option=o))
    count = opt("count", lambda t, o: _parse_int(t, o, minimum=1))
    seed_value = opt("seed", lambda t, o: _parse_int(t, o))
    sink = opt("sink", lambda t, o: t.strip().lower())
    if sink not in sink_names():
        _, src = raw("sink")
        msg = f"invalid {src} {sink!r}: expected one of " + ", ".join(sink_names())
        raise ConfigError(msg)
    # Unset, the seed is the lake's world's when it has one (a lake holds one world, so a
    # second run continues it), else random.
    lake_seed = lake_world_seed(opt("lake_dir", lambda t, o: Path(t))) if sink == "lake" else None
    if seed_value is not None:
        seed = seed_value
    else:
        seed = lake_seed if lake_seed is not None else secrets.randbelow(2**31)
    start = opt("start", lambda t, o: parse_timestamp(t, option=o))
    end = opt("end", lambda t, o: parse_timestamp(t, option=o))
    speed = opt("speed", parse_speed)
    speed_text, speed_src = raw("speed")
    if start is None:
        if end is not None:
            msg = "--end needs --start: a window is only valid with a simulated clock"
            raise ConfigError(msg)
        if speed_text not in (None, "max"):
            msg = f"{speed_src} {speed_text!r} needs --start: realtime runs go at wall-clock pace"
            raise ConfigError(msg)
    if start is not None and end is not None and end <= start:
        _, end_src = raw("end")
        end_text, _ = raw("end")
        start_text, _ = raw("start")
        msg = f"invalid {end_src} {end_text!r}: not after --start {start_text!r}"
        raise ConfigError(msg)
    out = opt("out", lambda t, o: Path(t))
    if sink == "file" and out is None:
        msg = "--sink file needs --out PATH"
        raise ConfigError(msg)
    buffer_bytes = opt("buffer_size", parse_size)
    if not 1024**2 <= buffer_bytes <= 128 * 1024**2:
        text, src = raw("buffer_size")
        msg = f"invalid {src} {text!r}: Firehose buffering size is 1 MiB to 128 MiB"
        raise ConfigError(msg)
    interval_text, interval_src = raw("buffer_interval")
    assert interval_text is not None
    interval = (
        0.0 if interval_text.strip() in ("0", "0s") else parse_duration(interval_text, option=interval_src)
    )
    if not 0 <= interval <= 900:
        msg = f"invalid {interval_src} {interval_text!r}: Firehose buffering interval is 0 to 900 seconds"
        raise ConfigError(msg)
    batch_records = opt("batch_records", lambda t, o: _parse_int(t, o, minimum=1))
    if batch_records > 500:
        text, src = raw("batch_records")
        msg = f"invalid {src} {text!r}: PutRecordBatch takes at most 500 records"
        raise ConfigError(msg)

    def fraction(text: str, option: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0.0 <= value <= 1.0:
            msg = f"invalid {option} {text!r}: expected a fraction within 0..1"
            raise ConfigError(msg)
        return value

    def bounded(name: str, lo: int, hi: int) -> int:
        text, src = raw(name)
        value = _parse_int(text or "", src, minimum=lo)
        if value > hi:
            msg = f"invalid {src} {text!r}: must be at most {hi}"
            raise ConfigError(msg)
        return value

    bucket = opt("bucket", lambda t, o: t.strip())
    if sink == "s3" and not bucket:
        msg = "--sink s3 needs --bucket BUCKET (or s3://bucket/prefix)"
        raise ConfigError(msg)
    partition_key = opt("partition_key", lambda t, o: t.strip())
    if partition_key not in ("user_id", "session_id", "random"):
        text, src = raw("partition_key")
        msg = f"invalid {src} {text!r}: expected user_id, session_id or random"
        raise ConfigError(msg)
    transport = opt("transport", lambda t, o: t.strip().lower())
    if transport not in TRANSPORTS:
        text, src = raw("transport")
        msg = f"invalid {src} {text!r}: expected botocore or fast"
        raise ConfigError(msg)
    pack = opt("pack", parse_size)
    if pack is not None and not 64 <= pack <= 1_024_000:
        text, src = raw("pack")
        msg = f"invalid {src} {text!r}: a packed record is 64 bytes to 1,000 KiB"
        raise ConfigError(msg)
    return Settings(
        pack_bytes=pack,
        bucket=bucket,
        region=opt("region", lambda t, o: t.strip()),
        profile=opt("profile", lambda t, o: t.strip()),
        endpoint_url=opt("endpoint_url", lambda t, o: t.strip()),
        transport=transport,
        max_in_flight=bounded("max_in_flight", 1, 64),
        max_attempts=bounded("max_attempts", 1, 50),
        max_retry_time_s=opt("max_retry_time", _parse_retry_time),
        check=not opt("no_check", _parse_bool),
        partition_key=partition_key,
        throttle_rate=opt("throttle_rate", fraction),
        call_failure_rate=opt("call_failure_rate", fraction),
        quota=opt("quota", lambda t, o: parse_quota(t, option=o)),
        manifest=opt("manifest", lambda t, o: Path(t)),
        capture=opt("capture", lambda t, o: Path(t)),
        shape=shape,
        target_rate=target_rate,
        duration_s=duration,
        count=count,
        seed=seed,
        sink=sink,
        lake_dir=opt("lake_dir", lambda t, o: Path(t)),
        stream=opt("stream", lambda t, o: t),
        prefix=opt("prefix", lambda t, o: t),
        buffer_bytes=buffer_bytes,
        buffer_interval_s=interval,
        gzip=opt("gzip", _parse_bool),
        out=out,
        start=start,
        end=end,
        speed=speed,
        accounts=opt("accounts", lambda t, o: _parse_int(t, o, minimum=1)),
        titles=opt("titles", lambda t, o: _parse_int(t, o, minimum=2)),
        linger_s=opt("linger", lambda t, o: 0.0 if t.strip() in ("0", "0s") else parse_duration(t, option=o)),
        batch_records=batch_records,
        dead_letter=opt("dead_letter", lambda t, o: Path(t)),
        summary_json=opt("summary_json", lambda t, o: Path(t)),
        report=opt("report", lambda t, o: Path(t)),
        quiet=opt("quiet", _parse_bool),
    )

"""The Glue job on a real local Spark, over a lake the producer wrote with data faults.

Everything the job and the queries output is checked against a reference computed
here in plain Python from the raw objects (json.loads, Counter): no Spark, no SQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import math
import os
import re
import shutil
import sys
import types
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="the Spark tests need pyspark==3.5.4")
pytest.importorskip("duckdb", reason="the query checks need duckdb>=1.5.6")

from producer.config.settings import resolve
from producer.errors import DataQualityError
from producer.generation.data_faults import DataFaults, Fault, SchemaDrift
from producer.generation.world import World
from producer.pipeline.etl import load_glue_job, run_etl
from producer.pipeline.query import LocalAthena, named_queries
from producer.runtime.clock import ManualClock
from producer.runtime.runner import run
from producer.sinks.registry import open_sink
from tests.support import browser

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.xdist_group("spark"),
]  # one local Spark session

JOB = load_glue_job()
EVENT_TYPES = set(JOB.EVENT_TYPES)
START = datetime(2026, 1, 27, 22, tzinfo=UTC)
#: Raw objects' modification time (fixed, so the incremental run's watermark is known).
LANDED = datetime(2026, 1, 28, 6, tzinfo=UTC).timestamp()
FAULTS = DataFaults(
    duplicates=Fault(rate=0.02, delay_s=120),
    late=Fault(rate=0.01, delay_s=3600, max_delay_s=3 * 86400),
    out_of_order=Fault(rate=0.01),
    null_event_ts=Fault(rate=0.008),
    missing_event_ts=Fault(rate=0.004),
    malformed=Fault(rate=0.008),
    schema_drift=SchemaDrift(
        rate=0.05,
        rename={"title_id": "content_id"},
        event_ts_as_iso=True,
        add_fields={"cdn": "edge-7"},
        drop_fields=("app_version",),
    ),
)


def event(**fields: Any) -> str:
    base: dict[str, Any] = {
        "event_id": "edge", "session_id": "edge-session", "user_id": 10000001, "profile_id": 0,
        "title_id": 80000001, "event_type": "PLAY_START", "event_ts": 1769558400.25, "position_ms": 0,
        "device_type": "tv", "country": "US", "app_version": "8.120.0", "bitrate_kbps": 3000, "seq": 0,
    }  # fmt: skip
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}, separators=(",", ":"))


#: Hand-written records for the rules the producer's faults do not reach.
EDGE_LINES = [
    event(event_id="edge-iso-offset", event_ts="2026-01-28T03:00:00+02:00"),
    event(event_id="edge-numeric-string", event_ts="1769558400.5", session_id="edge-s2"),
    event(event_id="edge-numeric-string", event_ts=1769558460.5, session_id="edge-s2"),  # later copy: dropped
    event(event_id="edge-lowercase-type", event_type="play_start"),
    event(event_id="edge-ad", event_type="AD_IMPRESSION"),
    event(event_id="edge-millis", event_ts=1769558400000),
    event(event_id="edge-nan", event_ts="NaN"),
    event(event_id="edge-not-a-time", event_ts="yesterday"),
    event(event_id="edge-bad-user", user_id="abc"),
    event(event_id="edge-no-user", user_id=...),
    event(event_id=""),
    event(event_id="edge-fractional-position", position_ms=12.5),
    event(event_id="edge-both-ids", title_id=80000002, content_id=80000003),
    "",
    "[1,2,3]",
    '{"event_id":"edge-truncated","session_id":"x"',
]


# -- the lake -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, small_world: World) -> Path:
    """20,000 events at 2/s from 22:00 UTC (two days, plus late ones), GZIP objects, with faults."""
    root = tmp_path_factory.mktemp("lake")
    flags = {
        "rate": "2/s", "count": "20000", "start": START.isoformat(), "seed": "11", "lake_dir": str(root),
        "gzip": "true", "buffer_interval": "900s", "dead_letter": str(root / "dead-letters.ndjson"),
    }  # fmt: skip
    settings = dataclasses.replace(resolve(flags, env={}), data_faults=FAULTS)
    summary = asyncio.run(
        run(settings, lambda clock: open_sink(settings, clock), world=small_world, clock=ManualClock())
    )
    assert summary.delivered == summary.generated > 20_000
    raw = root / "netflix"
    extra = raw / "extra"
    extra.mkdir()
    (extra / "edge-cases").write_text("\n".join(EDGE_LINES) + "\n", encoding="utf-8")
    (extra / ".in-progress.tmp").write_text("not a record\n", encoding="utf-8")  # skipped: dot-file
    (extra / "_SUCCESS").write_text("", encoding="utf-8")  # skipped: marker file
    for path in raw.rglob("*"):
        os.utime(path, (LANDED, LANDED))
    return raw


# -- the reference, in plain Python ----------------------------------------------------

_INTEGER = re.compile(r"^\s*-?[0-9]+\s*$")
#: DuckDB hands TIMESTAMP columns back as naive datetimes (UTC here).
NAIVE_EPOCH = datetime(1970, 1, 1, tzinfo=UTC).replace(tzinfo=None)
_RANGES = {"bigint": 2**63, "int": 2**31}


def raw_lines(raw: Path) -> list[str]:
    """Every line of every object under ``raw``, as Spark's text reader sees them."""
    lines = []
    for path in sorted(raw.rglob("*")):
        if not path.is_file() or any(p.startswith((".", "_")) for p in path.relative_to(raw).parts):
            continue
        data = path.read_bytes()
        text = (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")
        parts = text.split("\n")
        if parts and parts[-1] == "":
            parts.pop()
        lines.extend(parts)
    return lines


def as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def as_int(value: Any, kind: str) -> int | None:
    if isinstance(value, bool | float):
        return None
    text = str(value) if isinstance(value, int) else value
    if not isinstance(text, str) or not _INTEGER.match(text):
        return None
    number = int(text)
    return number if -_RANGES[kind] <= number < _RANGES[kind] else None


def as_epoch(value: Any) -> tuple[float | None, bool]:
    """event_ts as epoch seconds (None when unusable), and whether it was an ISO string."""
    if isinstance(value, bool):
        return None, False
    if isinstance(value, int | float):
        return float(value), False
    try:
        return float(value.strip()), False
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None, False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return micros / 1_000_000, True


def classify(line: str, null_event_ts: str) -> tuple[str | None, dict[str, Any] | None, dict[str, bool]]:
    """(reason or None, typed row or None, drift flags) for one raw line, as the job defines them."""
    flags = {"content_id": False, "iso": False}
    if not line.strip():
        return "empty_record", None, flags
    try:
        obj = json.loads(line)
    except ValueError:
        return "malformed_json", None, flags
    if not isinstance(obj, dict):
        return "malformed_json", None, flags
    title = obj.get("title_id")
    if title is None and obj.get("content_id") is not None:
        title = obj["content_id"]
        flags["content_id"] = True
    ts_raw = obj.get("event_ts")
    ts, iso = as_epoch(ts_raw) if ts_raw is not None else (None, False)
    flags["iso"] = iso
    ts_ok = ts is not None and not math.isnan(ts) and JOB.EVENT_TS_MIN <= ts < JOB.EVENT_TS_MAX
    event_id = as_text(obj.get("event_id"))
    event_type = as_text(obj.get("event_type"))
    ints = {
        name: as_int(title if name == "title_id" else obj.get(name), kind)
        for name, kind in JOB.RAW_COLUMNS
        if kind in _RANGES
    }
    checks = [
        ("missing_event_id", event_id is None or event_id.strip(" ") == ""),
        ("missing_user_id", obj.get("user_id") is None),
        ("invalid_user_id", ints["user_id"] is None),
        ("missing_title_id", title is None),
        ("invalid_title_id", ints["title_id"] is None),
        ("missing_event_type", event_type is None or event_type.strip(" ") == ""),
        ("unknown_event_type", event_type not in EVENT_TYPES),
        ("null_event_ts", null_event_ts == "quarantine" and ts_raw is None),
        ("invalid_event_ts", ts_raw is not None and not ts_ok),
    ]
    checks += [
        (f"invalid_{n}", obj.get(n) is not None and ints[n] is None) for n in ("profile_id", "position_ms")
    ]
    checks += [(f"invalid_{n}", obj.get(n) is not None and ints[n] is None) for n in ("bitrate_kbps", "seq")]
    for reason, failed in checks:
        if failed:
            return reason, None, flags
    row: dict[str, Any] = {
        name: ints[name] if name in ints else as_text(obj.get(name)) for name, _ in JOB.RAW_COLUMNS
    }
    row["event_ts"] = ts if ts_ok else None
    if ts_ok:
        assert ts is not None
        micros = math.floor(ts * 1_000_000 + 0.5)
        row["event_timestamp"] = NAIVE_EPOCH + timedelta(microseconds=micros)
        row["event_date"] = date(1970, 1, 1) + timedelta(days=micros // 86_400_000_000)
    else:
        row["event_timestamp"] = row["event_date"] = None
    row["_line"] = line
    return None, row, flags


@dataclasses.dataclass
class Reference:
    lines: list[str]
    rows: list[dict[str, Any]]  # the processed table
    quarantined: Counter[str]
    quarantined_lines: Counter[str]
    duplicates: int
    drift_content_id: int
    drift_iso: int
    violations: Counter[str]

    @property
    def table(self) -> list[tuple[Any, ...]]:
        return sorted(tuple(r[n] for n in JOB.PROCESSED_NAMES) for r in self.rows)


def reference(raw: Path, null_event_ts: str = "quarantine") -> Reference:
    lines = raw_lines(raw)
    quarantined: Counter[str] = Counter()
    quarantined_lines: Counter[str] = Counter()
    violations: Counter[str] = Counter()
    drift = Counter[str]()
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        reason, row, flags = classify(line, null_event_ts)
        drift.update(k for k, v in flags.items() if v)
        if reason is not None:
            quarantined[reason] += 1
            quarantined_lines[line] += 1
            if reason == "unknown_event_type":
                violations[json.loads(line)["event_type"]] += 1
            continue
        assert row is not None
        by_id[row["event_id"]].append(row)
    rows = [
        min(copies, key=lambda r: (r["event_ts"] is None, r["event_ts"] or 0.0, r["_line"]))
        for copies in by_id.values()
    ]
    duplicates = sum(len(c) - 1 for c in by_id.values())
    return Reference(
        lines, rows, quarantined, quarantined_lines, duplicates, drift["content_id"], drift["iso"], violations
    )


@pytest.fixture(scope="module")
def expected(lake: Path) -> Reference:
    return reference(lake)


# -- the first run ----------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    report: dict[str, Any]
    processed: Path
    quarantine: Path
    reports: Path


def etl(spark: Any, raw: Path, out: Path, **options: Any) -> Run:
    report = run_etl(
        raw,
        out / "processed",
        quarantine=out / "quarantine",
        report_dir=out / "reports",
        spark=spark,
        **options,
    )
    return Run(report, out / "processed", out / "quarantine", out / "reports")


@pytest.fixture(scope="module")
def first(spark: Any, lake: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return etl(spark, lake, tmp_path_factory.mktemp("out"))


def table(run: Run) -> list[tuple[Any, ...]]:
    with LocalAthena(run.processed) as athena:
        result = athena.run("SELECT * FROM processed_netflix_events")
    assert result.columns == JOB.PROCESSED_NAMES
    return sorted(result.rows)


def quarantine(run: Run) -> list[tuple[str, str]]:
    with LocalAthena(run.processed, quarantine=run.quarantine) as athena:
        return list(athena.run("SELECT reason, raw_record FROM quarantined_netflix_events").rows)


def test_every_row_read_is_written_quarantined_or_a_removed_duplicate(
    first: Run, expected: Reference
) -> None:
    r = first.report
    assert r["rows_read"] == len(expected.lines) > 20_000
    assert r["rows_read"] == r["rows_written"] + r["rows_quarantined"] + r["duplicates_removed"]
    assert r["rows_written"] == len(expected.rows)
    assert r["quarantined_by_reason"] == dict(expected.quarantined)
    assert r["duplicates_removed"] == r["duplicates"]["within_input"] == expected.duplicates > 300
    assert r["event_type_domain_violations"] == {"AD_IMPRESSION": 1, "play_start": 1}
    assert r["passed"] and r["output_committed"]
    assert r["files_read"] == len([p for p in first_raw_objects(r["raw_path"])])
    # The report on disk is the one returned.
    stored = json.loads(Path(r["report_location"]).read_text())
    assert stored["rows_written"] == r["rows_written"] and stored["run_id"] == r["run_id"]


def first_raw_objects(raw: str) -> list[Path]:
    root = Path(raw)
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and not any(s.startswith((".", "_")) for s in p.relative_to(root).parts)
    ]


def test_processed_table_is_exactly_the_reference(first: Run, expected: Reference) -> None:
    assert table(first) == expected.table
    dirs = sorted(p.name for p in first.processed.iterdir() if p.is_dir())
    assert dirs == sorted(f"event_date={d}" for d in {r["event_date"] for r in expected.rows})
    files = list(first.processed.rglob("*.parquet"))
    assert files and all(f.name.endswith(".snappy.parquet") for f in files)
    import pyarrow.parquet as pq

    schema = pq.read_schema(files[0])
    kinds = {"string": "string", "bigint": "int64", "int": "int32", "double": "double"}
    for name, kind in JOB.RAW_COLUMNS:
        assert str(schema.field(name).type) == kinds[kind], name
    assert "timestamp" in str(schema.field("event_timestamp").type)
    assert pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == "SNAPPY"


def test_quarantine_holds_every_rejected_line_with_its_reason(first: Run, expected: Reference) -> None:
    rows = quarantine(first)
    assert Counter(reason for reason, _ in rows) == expected.quarantined
    assert Counter(line for _, line in rows) == expected.quarantined_lines
    reasons = {line: reason for reason, line in rows}
    assert reasons[""] == "empty_record"
    assert reasons["[1,2,3]"] == "malformed_json"
    assert expected.quarantined["malformed_json"] > 100  # the producer's malformed fault
    assert expected.quarantined["null_event_ts"] > 100  # null and missing event_ts
    edge = {}
    for line in EDGE_LINES:
        try:
            edge[json.loads(line)["event_id"]] = reasons.get(line)
        except (ValueError, TypeError):
            continue
    assert edge == {
        "edge-iso-offset": None,
        "edge-numeric-string": None,
        "edge-lowercase-type": "unknown_event_type",
        "edge-ad": "unknown_event_type",
        "edge-millis": "invalid_event_ts",
        "edge-nan": "invalid_event_ts",
        "edge-not-a-time": "invalid_event_ts",
        "edge-bad-user": "invalid_user_id",
        "edge-no-user": "missing_user_id",
        "": "missing_event_id",
        "edge-fractional-position": "invalid_position_ms",
        "edge-both-ids": None,
    }
    assert reasons['{"event_id":"edge-truncated","session_id":"x"'] == "malformed_json"


def test_drifted_rows_are_recovered_and_late_rows_land_in_their_own_dates(
    first: Run, expected: Reference
) -> None:
    drift = first.report["schema_drift"]
    assert drift["content_id_as_title_id"] == expected.drift_content_id > 500
    assert drift["event_ts_as_iso_string"] == expected.drift_iso > 500
    rows = {r[0]: dict(zip(JOB.PROCESSED_NAMES, r, strict=True)) for r in table(first)}
    # content_id became title_id; ISO strings (with an offset too) became epoch seconds.
    drifted = []
    for line in expected.lines:
        if '"content_id":' in line and '"cdn":' in line:
            try:
                drifted.append(json.loads(line))
            except ValueError:
                continue  # drifted, then malformed
    kept = [d for d in drifted if isinstance(d.get("event_ts"), str) and d["event_id"] in rows]
    assert len(kept) > 500
    for d in kept[:200]:
        row = rows[d["event_id"]]
        assert row["title_id"] == d["content_id"]
        moment = datetime.fromisoformat(d["event_ts"].replace("Z", "+00:00"))
        assert row["event_ts"] == pytest.approx(moment.timestamp(), abs=1e-6)
        assert row["app_version"] is None  # a dropped field is a null, not a rejected row
    assert rows["edge-iso-offset"]["event_timestamp"] == datetime(2026, 1, 28, 1, tzinfo=UTC).replace(
        tzinfo=None
    )
    assert rows["edge-numeric-string"]["event_ts"] == 1769558400.5  # the earlier of two copies
    assert rows["edge-both-ids"]["title_id"] == 80000002
    assert first.report["null_rates"]["app_version"] == pytest.approx(
        sum(r["app_version"] is None for r in expected.rows) / len(expected.rows), abs=1e-6
    )
    # Late events (hours to days before the window) are in their own, earlier partitions.
    per_date = first.report["rows_per_date"]
    assert set(per_date) >= {"2026-01-27", "2026-01-28"}
    earlier = {d: n for d, n in per_date.items() if d < "2026-01-27"}
    assert earlier and sum(earlier.values()) > 20
    assert per_date == {k.isoformat(): v for k, v in Counter(r["event_date"] for r in expected.rows).items()}


# -- the queries against the reference -------------------------------------------------


def peak_concurrency(rows: list[dict[str, Any]]) -> list[tuple[datetime, int]]:
    spans: dict[str, list[datetime]] = {}
    for r in rows:
        if r["event_timestamp"] is None or r["session_id"] is None:
            continue
        span = spans.setdefault(r["session_id"], [r["event_timestamp"], r["event_timestamp"]])
        span[0] = min(span[0], r["event_timestamp"])
        span[1] = max(span[1], r["event_timestamp"])
    changes = sorted([(a, 1) for a, _ in spans.values()] + [(b, -1) for _, b in spans.values()])
    peaks: dict[datetime, int] = {}
    watching = 0
    for ts, delta in changes:
        before = watching
        watching += delta
        hour = ts.replace(minute=0, second=0, microsecond=0)
        peaks[hour] = max(peaks.get(hour, -(10**9)), watching, before)
    return sorted(peaks.items())


def finished_sessions(rows: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, int]]:
    sessions: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
    for r in rows:
        if r["session_id"] is not None and r["event_type"] in ("PLAY_START", "PLAY_STOP"):
            sessions[(r["session_id"], r["title_id"])][r["event_type"]] = r["position_ms"]
    return {k: v for k, v in sessions.items() if len(v) == 2}


def reference_queries(rows: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    dates = Counter(r["event_date"] for r in rows)
    out["rows_per_date"] = sorted(dates.items(), key=lambda kv: (kv[0] is None, kv[0] or date.min))
    types_ = Counter(r["event_type"] for r in rows)
    out["event_type_distribution"] = [
        (t, n, round(100.0 * n / len(rows), 2)) for t, n in sorted(types_.items(), key=lambda kv: -kv[1])
    ]
    plays = Counter(r["title_id"] for r in rows if r["event_type"] == "PLAY_START")
    # Names come from the world's dims; this lake's processed table has none beside it.
    top = sorted(plays.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    out["top_titles"] = [(title, None, views) for title, views in top]
    events = Counter(r["country"] for r in rows)
    users: dict[Any, set[int]] = defaultdict(set)
    for r in rows:
        users[r["country"]].add(r["user_id"])
    out["country_events"] = sorted(
        ((c, n, len(users[c])) for c, n in events.items()), key=lambda t: (-t[1], t[0] is None, t[0] or "")
    )
    devices: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        devices[r["device_type"]][0] += r["event_type"] == "PLAY_START"
        devices[r["device_type"]][1] += r["event_type"] == "BUFFER_START"
    out["device_mix"] = sorted(
        ((d, p, s, round(100.0 * s / p, 2) if p else None) for d, (p, s) in devices.items()),
        key=lambda t: (-t[1], t[0] is None, t[0] or ""),
    )
    hours = Counter(
        r["event_timestamp"].hour for r in rows if r["event_type"] == "PLAY_START" and r["event_timestamp"]
    )
    out["hourly_activity"] = sorted(hours.items())
    finished = finished_sessions(rows)
    per_title: dict[int, list[int]] = defaultdict(list)
    for (_, title), pos in finished.items():
        per_title[title].append(max(pos["PLAY_STOP"] - pos["PLAY_START"], 0))
    out["avg_watch_time_per_title"] = sorted(
        ((t, len(w), round(sum(w) / len(w) / 60000, 2)) for t, w in per_title.items()),
        key=lambda x: (-x[1], x[0]),
    )[:20]
    runtime: dict[int, int] = {}
    for r in rows:
        if r["position_ms"] is not None:
            runtime[r["title_id"]] = max(runtime.get(r["title_id"], r["position_ms"]), r["position_ms"])
    done: dict[int, list[bool]] = defaultdict(list)
    for (_, title), pos in finished.items():
        done[title].append(pos["PLAY_STOP"] >= 0.95 * runtime[title])
    out["completion_rate"] = sorted(
        ((t, len(d), sum(d), round(100.0 * sum(d) / len(d), 2)) for t, d in done.items()),
        key=lambda x: (-x[1], x[0]),
    )[:20]
    out["peak_concurrent_viewers_per_hour"] = peak_concurrency(rows)
    return out


def same(actual: tuple[Any, ...], wanted: tuple[Any, ...]) -> bool:
    if len(actual) != len(wanted):
        return False
    for a, w in zip(actual, wanted, strict=True):
        if isinstance(w, float) or isinstance(a, float):
            if a is None or w is None or not math.isclose(float(a), float(w), abs_tol=0.0101):
                return False
        elif a != w:
            return False
    return True


#: Queries that join the world's dimension tables (see tests/unit/pipeline/test_query.py).
DIMENSION_QUERIES = frozenset({"plays_by_genre", "plays_by_plan"})


def test_every_query_runs_on_duckdb_and_matches_the_reference(first: Run, expected: Reference) -> None:
    wanted = reference_queries(expected.rows)
    # The queries over the world's dimension tables are checked against a lake with
    # dims in tests/unit/pipeline/test_query.py; this lake's ETL output has none.
    queries = {n: p for n, p in named_queries().items() if n not in DIMENSION_QUERIES}
    assert set(queries) == set(wanted), "a query without a reference here"
    with LocalAthena(first.processed) as athena:
        for name, path in queries.items():
            result = athena.run(path.read_text(encoding="utf-8"))
            assert not result.translated, name
            rows = [tuple(r) for r in result.rows]
            assert len(rows) == len(wanted[name]) > 0, name
            for got, want in zip(rows, wanted[name], strict=True):
                assert same(got, want), (name, got, want)
    # The exact ones, spelled out (no float tolerance at all).
    assert rows_of(first, "rows_per_date") == wanted["rows_per_date"]
    assert rows_of(first, "top_titles") == wanted["top_titles"]
    assert rows_of(first, "country_events") == wanted["country_events"]
    assert [r[:2] for r in rows_of(first, "event_type_distribution")] == [
        r[:2] for r in wanted["event_type_distribution"]
    ]


def rows_of(run: Run, name: str) -> list[tuple[Any, ...]]:
    with LocalAthena(run.processed) as athena:
        return [tuple(r) for r in athena.run(named_queries()[name].read_text()).rows]


# -- re-runs, incremental runs, options, failures -------------------------------------------


def test_a_rerun_changes_nothing_and_an_incremental_run_reads_only_new_objects(
    spark: Any, lake: Path, first: Run, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    for part in ("processed", "quarantine", "reports"):
        shutil.copytree(getattr(first, part), out / part)
    before_table, before_quarantine = table(first), sorted(quarantine(first))

    again = etl(spark, lake, out)
    r = again.report
    assert table(again) == before_table
    assert sorted(quarantine(again)) == before_quarantine
    assert r["rows_read"] == first.report["rows_read"]
    assert r["rows_written"] == 0
    # Every usable row read (and every copy of it) is already in the table.
    assert (
        r["duplicates"]["already_in_output"]
        == first.report["rows_written"] + first.report["duplicates_removed"]
    )
    assert r["rows_read"] == r["rows_written"] + r["rows_quarantined"] + r["duplicates_removed"]
    assert r["rows_per_date"] == first.report["rows_per_date"]

    # One more object lands an hour later: an incremental run reads it alone.
    fresh = [event(event_id=f"fresh-{i}", event_ts=1769600000.0 + i, session_id="fresh") for i in range(5)]
    arrival = (
        lake / "late-arrivals" / "netflix-events-1-2026-01-28-07-00-00-0a1b2c3d-0000-4000-8000-00000000000f"
    )
    arrival.parent.mkdir()
    try:
        arrival.write_text("\n".join([*fresh, fresh[0], "{oops"]) + "\n", encoding="utf-8")
        os.utime(arrival, (LANDED + 3600, LANDED + 3600))
        third = etl(spark, lake, out, incremental=True, lookback_minutes=0, max_quarantine_ratio=0.5)
    finally:
        shutil.rmtree(arrival.parent)
    r3 = third.report
    assert (r3["files_read"], r3["rows_read"], r3["rows_written"]) == (1, 7, 5)
    assert r3["quarantined_by_reason"] == {"malformed_json": 1}
    assert r3["duplicates"]["within_input"] == 1
    assert r3["modified_after"] == "2026-01-28T06:00:00Z"
    added = sorted(set(table(third)) - set(before_table))
    assert [row[0] for row in added] == [f"fresh-{i}" for i in range(5)]
    assert len(table(third)) == len(before_table) + 5
    # Earlier runs' rejected rows stay; the new one is added.
    assert sorted(quarantine(third)) == sorted([*before_quarantine, ("malformed_json", "{oops")])


def test_null_event_ts_in_the_default_partition_reproduces_the_original_pipeline(
    spark: Any, lake: Path, tmp_path: Path
) -> None:
    wanted = reference(lake, "default_partition")
    run = etl(spark, lake, tmp_path, null_event_ts="default_partition")
    assert "null_event_ts" not in run.report["quarantined_by_reason"]
    nulls = sum(r["event_date"] is None for r in wanted.rows)
    assert nulls > 100
    default = run.processed / "event_date=__HIVE_DEFAULT_PARTITION__"
    assert default.is_dir() and list(default.glob("*.snappy.parquet"))
    assert run.report["rows_per_date"]["__HIVE_DEFAULT_PARTITION__"] == nulls
    assert table(run) == wanted.table
    assert rows_of(run, "rows_per_date")[-1] == (None, nulls)  # NULL last, as in Athena
    r = run.report
    assert r["rows_read"] == r["rows_written"] + r["rows_quarantined"] + r["duplicates_removed"]
    assert r["null_rates"]["event_date"] == pytest.approx(nulls / r["rows_written"], abs=1e-6)


@pytest.fixture
def edge_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "raw" / "2026" / "01" / "28"
    raw.mkdir(parents=True)
    (raw / "netflix-events-1-2026-01-28-09-00-00-0a1b2c3d-0000-4000-8000-000000000001").write_text(
        "\n".join(EDGE_LINES) + "\n", encoding="utf-8"
    )
    return tmp_path / "raw"


def test_a_failing_rule_stops_the_run_with_one_line_and_leaves_the_table_alone(
    spark: Any, edge_raw: Path, tmp_path: Path
) -> None:
    with pytest.raises(DataQualityError) as info:
        etl(spark, edge_raw, tmp_path / "out")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("data quality check failed: quarantine ratio")
    report = info.value.report
    assert not report["passed"] and not report["output_committed"]
    assert report["rows_read"] == len(EDGE_LINES)
    assert not list((tmp_path / "out" / "processed").rglob("*.parquet"))
    stored = json.loads(Path(report["report_location"]).read_text())
    assert stored["passed"] is False
    # The rejected rows are kept for inspection, in the Firehose arrival date's partition.
    assert (tmp_path / "out" / "quarantine" / "ingest_date=2026-01-28").is_dir()


class FakeGlue:
    """Just enough of awsglue for main(): argument parsing as the real one does it."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.calls: list[tuple[str, Any]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import argparse

        glue = self

        def get_resolved_options(args: list[str], options: list[str]) -> dict[str, Any]:
            parser = argparse.ArgumentParser()
            parser.add_argument("--job-bookmark-option", default="job-bookmark-disable")
            for option in options:
                parser.add_argument("--" + option, required=True)
            return vars(parser.parse_known_args(args[1:])[0])

        class GlueContext:
            def __init__(self, sc: Any) -> None:
                self.spark_session = glue.spark

        class Job:
            def __init__(self, context: Any) -> None:
                pass

            def init(self, name: str, args: dict[str, Any]) -> None:
                glue.calls.append(("init", name))

            def commit(self) -> None:
                glue.calls.append(("commit", None))

        modules = {
            "awsglue": types.ModuleType("awsglue"),
            "awsglue.utils": types.ModuleType("awsglue.utils"),
            "awsglue.context": types.ModuleType("awsglue.context"),
            "awsglue.job": types.ModuleType("awsglue.job"),
        }
        modules["awsglue.utils"].getResolvedOptions = get_resolved_options  # type: ignore[attr-defined]
        modules["awsglue.context"].GlueContext = GlueContext  # type: ignore[attr-defined]
        modules["awsglue.job"].Job = Job  # type: ignore[attr-defined]
        for name, module in modules.items():
            monkeypatch.setitem(sys.modules, name, module)


class FakeCloudWatch:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def put_metric_data(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


def test_glue_entry_runs_the_job_publishes_metrics_and_commits_only_on_success(
    spark: Any, edge_raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    glue = FakeGlue(spark)
    glue.install(monkeypatch)
    cloudwatch = FakeCloudWatch()
    monkeypatch.setattr(JOB, "_boto3_client", lambda service: cloudwatch)
    out = tmp_path / "out"
    argv = [
        "script.py", "--JOB_NAME", "netflix-raw-to-processed", "--raw_path", str(edge_raw),
        "--processed_path", str(out / "processed"), "--quarantine_path", str(out / "quarantine"),
        "--report_path", str(out / "reports"), "--job-bookmark-option", "job-bookmark-enable",
        "--max_quarantine_ratio", "1",
    ]  # fmt: skip
    JOB.main(argv)
    assert glue.calls == [("init", "netflix-raw-to-processed"), ("commit", None)]
    sent = [m for call in cloudwatch.calls for m in call["MetricData"]]
    assert {call["Namespace"] for call in cloudwatch.calls} == {"NetflixPipeline"}
    by_name = {m["MetricName"]: m["Value"] for m in sent if len(m["Dimensions"]) == 1}
    assert by_name["RowsRead"] == len(EDGE_LINES)
    assert by_name["DataQualityFailed"] == 0
    assert list((out / "processed").rglob("*.snappy.parquet"))

    # The same objects again with the default threshold: the rule fails, nothing commits.
    glue.calls.clear()
    with pytest.raises(JOB.DataQualityFailure, match="quarantine ratio"):
        JOB.main([*argv[:-2], "--incremental", "false"])
    assert glue.calls == [("init", "netflix-raw-to-processed")]


# -- the commands, end to end -----------------------------------------------------------------


def test_pipeline_command_produces_transforms_and_runs_every_query(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from producer.cli.commands import cli

    monkeypatch.setattr(spark, "stop", lambda: None)  # the command stops its session; keep the shared one
    lake_dir = tmp_path / "lake"
    page = tmp_path / "pipeline.html"
    args = ["pipeline", "--scenario", "late-and-duplicates", "--count", "3000", "--lake-dir", str(lake_dir),
            "--report", str(page)]  # fmt: skip
    result = CliRunner().invoke(cli, args, env={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "data quality: passed" in result.output
    for name in named_queries():
        assert f"\n{name}: " in result.output, name
    # One page of it all, drawn in a real browser: the run, the data-quality report, every query.
    dom = browser.load(page.as_uri())
    assert dom.body.get("data-rendered") == "true" and dom.root.get("data-console-errors") == "0", dom.root
    assert "Data quality: passed" in page.read_text()
    for name in ("rows_per_date", "event_type_distribution", "top_titles", "device_mix"):
        chart = dom.by_id[f"chart-query-{name}"]
        assert chart.attrs["data-points"] == chart.attrs["data-expected-points"] != "0", name
        assert chart.classes.get("mark-rect", 0) >= 1, name
    (report_path,) = (lake_dir / "dq-reports").glob("dq-report-*.json")
    report = json.loads(report_path.read_text())
    assert report["rows_read"] == len(raw_lines(lake_dir / "netflix")) > 3000
    assert report["duplicates_removed"] > 0 and report["rows_written"] == 3000

    # The same lake through etl and query: nothing new, the same answers.
    again = CliRunner().invoke(cli, ["etl", "--raw", str(lake_dir / "netflix"), "--processed",
                                     str(lake_dir / "processed")], env={}, catch_exceptions=False)  # fmt: skip
    assert again.exit_code == 0, again.output
    latest = json.loads(sorted((lake_dir / "dq-reports").glob("dq-report-*.json"))[-1].read_text())
    assert latest["rows_written"] == 0 and latest["duplicates"]["already_in_output"] == report["rows_read"]
    rows = CliRunner().invoke(cli, ["query", "rows-per-date", "--processed", str(lake_dir / "processed"),
                                    "--format", "json"], env={}, catch_exceptions=False)  # fmt: skip
    assert sum(r["rows_per_date"] for r in json.loads(rows.output)) == 3000


def test_etl_command_prints_the_report_and_fails_with_one_line(
    spark: Any, edge_raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from producer.cli.commands import cli

    monkeypatch.setattr(spark, "stop", lambda: None)
    args = ["etl", "--raw", str(edge_raw), "--processed", str(tmp_path / "processed")]
    result = CliRunner().invoke(cli, args, env={}, catch_exceptions=False)
    assert result.exit_code == 1
    assert "data quality: FAILED" in result.stdout and "rule max_quarantine_ratio" in result.stdout
    assert result.stderr.strip().splitlines() == [
        "netflix-producer: error: data quality check failed: quarantine ratio 0.7500 > 0.05 "
        "(12 of 16 rows: invalid_event_ts 3, malformed_json 2, unknown_event_type 2, empty_record 1)"
    ]
    assert "Traceback" not in result.output

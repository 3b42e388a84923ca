"""Every shipped scenario runs, in a real process, into a real lake, and produces the
faults its header promises, counted in its summary's ``faults``."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from producer.config.scenario import SHIPPED_DIR, load_scenario, shipped_scenarios

pytestmark = pytest.mark.slow  # every test here runs the command in a process

#: Events per run: a few thousand, enough for every fault to show.
COUNT = 5000
#: schema-drift starts at 11:59:30 at 200/s and changes at 12:00: 6,000 events in.
COUNTS = {"schema-drift": 10_000}
START = "2026-01-27"
#: Firehose's record limit (1,000 KiB).
MAX_RECORD_BYTES = 1_024_000


class Run:
    """One finished run: its summary, the lake's lines and the dead letters."""

    def __init__(self, tmp_path: Path, summary: dict[str, Any], count: int) -> None:
        self.summary = summary
        self.count = count
        self.faults: dict[str, int] = summary["faults"]
        self.objects = sorted(
            p
            for p in (tmp_path / "lake" / "netflix").rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        self.lines = [line for p in self.objects for line in _read(p).splitlines()]
        dead = tmp_path / "dead-letters.ndjson"
        self.dead = [json.loads(line) for line in dead.read_text().splitlines()] if dead.exists() else []

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def run_scenario(name: str, tmp_path: Path, *extra: str) -> Run:
    """Run a shipped scenario into a lake under tmp_path, on a simulated clock."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETFLIX_PRODUCER_")}
    summary_path = tmp_path / "summary.json"
    args = ["run", "--scenario", name, "--sink", "lake", "--lake-dir", str(tmp_path / "lake"), "--quiet",
            "--summary-json", str(summary_path), "--dead-letter", str(tmp_path / "dead-letters.ndjson"),
            "--count", str(COUNTS.get(name, COUNT)), *extra]  # fmt: skip
    # Scenarios with their own window keep it (schema-drift's change is at 12:00); the
    # others run simulated from START, as fast as possible.
    if "start" not in load_scenario(SHIPPED_DIR / f"{name}.yaml").settings:
        args += ["--start", START]
    proc = subprocess.run([sys.executable, "-m", "producer", *args], capture_output=True, env=env,
                          cwd=tmp_path, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    return Run(tmp_path, json.loads(summary_path.read_text()), COUNTS.get(name, COUNT))


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- what each scenario promises -------------------------------------------------------


def _no_faults(run: Run) -> None:
    assert sum(run.faults.values()) == 0
    assert run.summary["delivered"] == run.summary["generated"] == run.count
    assert all(json.loads(line)["event_ts"] >= _epoch(run.summary["start"]) - 0.0005 for line in run.lines)


def check_steady_demo(run: Run) -> None:
    _no_faults(run)
    assert run.summary["target_rate"] == 500


def check_primetime_ramp(run: Run) -> None:
    _no_faults(run)
    assert run.summary["target_rate"] == 2000
    # The first events are at the bottom of the ramp: ~200/s, rising.
    assert 200 <= run.summary["achieved_rate"] < 300


def check_black_friday_spike(run: Run) -> None:
    _no_faults(run)
    assert run.summary["target_rate"] == 10_000


def check_daily_backfill(run: Run) -> None:
    _no_faults(run)
    assert run.summary["start"] == "2026-01-27T00:00:00Z"
    assert run.objects and all(p.suffix == ".gz" for p in run.objects)
    assert all("/ingest_year=2026/01/27/00/" in p.as_posix() for p in run.objects)


def check_null_event_ts(run: Run) -> None:
    null, missing = run.faults["null_event_ts"], run.faults["missing_event_ts"]
    assert null > 0 and missing > 0
    assert run.summary["delivered"] == run.summary["generated"] == run.count
    events = run.events()  # still valid JSON
    null_lines = sum(1 for line in run.lines if b'"event_ts":null' in line)
    missing_lines = sum(1 for e in events if "event_ts" not in e)
    assert null_lines == sum(1 for e in events if "event_ts" in e and e["event_ts"] is None)
    assert null_lines > 0 and missing_lines > 0
    # An event hit by both faults is counted in both and lands without the key.
    assert missing_lines == missing
    assert max(null, missing) <= null_lines + missing_lines <= null + missing


def check_schema_drift(run: Run) -> None:
    drifted = run.faults["schema_drift"]
    assert drifted > 0
    assert sum(v for k, v in run.faults.items() if k != "schema_drift") == 0
    change = _epoch("2026-01-27T12:00:00Z")
    events = run.events()
    new = [e for e in events if "content_id" in e]
    old = [e for e in events if "content_id" not in e]
    assert len(new) == drifted
    assert sum(1 for line in run.lines if b'"content_id":' in line) == drifted
    for e in new:
        assert "title_id" not in e and e["schema_version"] == 2
        assert isinstance(e["event_ts"], str) and _epoch(e["event_ts"]) >= change
    assert old and all("title_id" in e and "schema_version" not in e and e["event_ts"] < change for e in old)


def check_late_and_duplicates(run: Run) -> None:
    f = run.faults
    assert f["duplicates"] > 0 and f["late"] > 0 and f["out_of_order"] > 0
    # The copies are records too.
    assert run.summary["generated"] == run.summary["delivered"] == run.count + f["duplicates"]
    events = run.events()
    ids = Counter(e["event_id"] for e in events)
    assert sum(n - 1 for n in ids.values()) == f["duplicates"]
    # Late events are 1 hour (min_delay) to 3 days (max_delay) older than when they
    # were sent: before the run's window, which is shorter than an hour.
    start, end = _epoch(run.summary["start"]), _epoch(run.summary["end"])
    assert end - start < 3600
    late = [e["event_ts"] for e in {e["event_id"]: e for e in events if e["event_ts"] < start}.values()]
    assert len(late) == f["late"]
    assert start - 3 * 86400 - 1 <= min(late) and max(late) <= end - 3599
    # Out of order: some session's events arrive with a later event before an earlier one.
    last_seq: dict[str, int] = {}
    backwards = 0
    for e in events:
        backwards += e["seq"] < last_seq.get(e["session_id"], -1)
        last_seq[e["session_id"]] = max(e["seq"], last_seq.get(e["session_id"], -1))
    assert backwards > 0


def check_malformed_records(run: Run) -> None:
    bad = run.faults["malformed"]
    assert bad > 0
    assert run.summary["delivered"] == run.summary["generated"] == run.count
    failing = 0
    for line in run.lines:
        try:
            json.loads(line)
        except ValueError:
            failing += 1
    assert failing == bad


def check_oversize_records(run: Run) -> None:
    big = run.faults["oversize"]
    assert big > 0
    assert run.summary["dead_lettered"] == big == len(run.dead)
    assert run.summary["delivered"] == run.count - big == len(run.lines)
    for dead in run.dead:
        assert dead["reason"] == "RecordTooLarge"
        assert dead["attempts"] == 0
        assert dead["size_bytes"] == 1100 * 1024 > MAX_RECORD_BYTES
    assert max(len(line) for line in run.lines) < MAX_RECORD_BYTES


def check_throttle_storm(run: Run) -> None:
    # Transport faults (the 1 MiB/s quota) apply to the firehose and kinesis sinks
    # only: the lake dry run takes everything, nothing is throttled or retried.
    _no_faults(run)
    s = run.summary
    assert s["sink"] == "lake"
    assert s["target_rate"] == 10_000
    assert s["throttled"] == s["retried"] == s["calls"] == s["dead_lettered"] == 0


CHECKS: dict[str, Callable[[Run], None]] = {
    "steady-demo": check_steady_demo,
    "primetime-ramp": check_primetime_ramp,
    "black-friday-spike": check_black_friday_spike,
    "daily-backfill": check_daily_backfill,
    "null-event-ts": check_null_event_ts,
    "schema-drift": check_schema_drift,
    "late-and-duplicates": check_late_and_duplicates,
    "malformed-records": check_malformed_records,
    "oversize-records": check_oversize_records,
    "throttle-storm": check_throttle_storm,
}


def test_every_shipped_scenario_has_a_check() -> None:
    assert sorted(p.stem for p in shipped_scenarios()) == sorted(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_shipped_scenario_runs_into_the_lake_with_its_faults(name: str, tmp_path: Path) -> None:
    run = run_scenario(name, tmp_path)
    s = run.summary
    assert s["clock"] == "simulated" and s["stopped_by"] == "count"
    assert s["generated"] == s["delivered"] + s["dead_lettered"] + s["failed"]
    assert s["failed"] == 0 and s["error"] is None
    assert len(run.lines) == s["delivered"]
    assert sum(s["event_types"].values()) == s["generated"]
    CHECKS[name](run)


def test_a_fault_scenario_gives_the_same_lake_every_time(tmp_path: Path) -> None:
    a = run_scenario("late-and-duplicates", tmp_path / "a")
    b = run_scenario("late-and-duplicates", tmp_path / "b")
    assert a.lines == b.lines
    assert a.faults == b.faults


def test_throttle_storm_against_a_firehose_endpoint_throttles_and_loses_nothing(
    aws: str, tmp_path: Path
) -> None:
    import boto3

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="netflix-raw")
    # In the region the producer resolves (AWS_DEFAULT_REGION): the scenario pins none.
    boto3.client("firehose").create_delivery_stream(
        DeliveryStreamName="netflix-events",
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": "arn:aws:s3:::netflix-raw",
        },
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETFLIX_PRODUCER_")}
    summary_path = tmp_path / "summary.json"
    dead = tmp_path / "dead-letters.ndjson"
    # ~2.5 MB as fast as possible against a rehearsed quota. The scenario's 1 MiB/s only
    # throttles when the producer outruns it, which a busy machine sending into moto may
    # not; a quarter of it throttles on any machine, through the same scenario otherwise.
    args = ["run", "--scenario", "throttle-storm", "--start", START, "--count", "8000", "--quiet",
            "--quota", "256KiB/s",
            "--summary-json", str(summary_path), "--dead-letter", str(dead)]  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "producer", *args], capture_output=True, env=env,
                          cwd=tmp_path, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    s = json.loads(summary_path.read_text())
    assert s["sink"] == "firehose"
    assert s["throttled"] > 0 and s["retried"] > 0
    assert s["calls"] > s["batches"]
    assert s["accepted"] + s["dead_lettered"] == s["generated"] == 8000
    dead_letters = [json.loads(line) for line in dead.read_text().splitlines()] if dead.exists() else []
    assert len(dead_letters) == s["dead_lettered"]
    assert all(d["reason"] == "ServiceUnavailableException" for d in dead_letters)
    # Throttled records never reached the stream: what landed is each accepted event once.
    s3 = boto3.client("s3", region_name="us-east-1")
    ids: Counter[str] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="netflix-raw"):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket="netflix-raw", Key=obj["Key"])["Body"].read()
            ids.update(json.loads(line)["event_id"] for line in body.splitlines())
    assert sum(ids.values()) == len(ids) == s["accepted"]

"""The real command, in a real process, writing a real lake."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producer.runtime.runner import REALTIME_LEAD_S
from tests.support.polling import RUN_DEADLINE_S, Child, wait_until

pytestmark = pytest.mark.slow  # every test here runs the command in a process

KEY_RE = re.compile(
    r"^netflix/ingest_year=(\d{4})/(\d{2})/(\d{2})/(\d{2})/"
    r"netflix-events-1-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\.gz)?$"
)


PRODUCER = [sys.executable, "-m", "producer"]


def producer_env() -> dict[str, str]:
    """The environment without the caller's ``NETFLIX_PRODUCER_*`` settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("NETFLIX_PRODUCER_")}


def producer(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*PRODUCER, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=producer_env(),
        **kwargs,
    )


def lake_objects(root: Path) -> dict[str, bytes]:
    """The raw zone's objects (the world's dims/ beside it are Parquet, not events)."""
    out = {}
    for p in sorted((root / "netflix").rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            data = p.read_bytes()
            out[str(p.relative_to(root))] = gzip.decompress(data) if p.suffix == ".gz" else data
    return out


def test_realtime_run_at_500_per_second_into_the_lake(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    summary_path = tmp_path / "summary.json"
    proc = producer(
        "run", "--rate", "500/s", "--duration", "3s", "--lake-dir", str(lake),
        "--seed", "21", "--summary-json", str(summary_path), "--buffer-interval", "1s",
    )  # fmt: skip
    _, err = proc.communicate(timeout=RUN_DEADLINE_S)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(summary_path.read_text())
    assert summary["generated"] == summary["delivered"] == 1500
    assert summary["dead_lettered"] == summary["failed"] == 0
    # Never faster than the rate, on the wire. How close to it a loaded machine keeps is a
    # figure of bench/pacing.py (and exact with a fake clock in the unit tests), not a
    # timed assertion here.
    assert summary["achieved_rate"] <= 500 * 1.005
    assert summary["elapsed_s"] >= 3.0 * 0.995
    assert sum(summary["event_types"].values()) == 1500
    objects = lake_objects(lake)
    assert objects, "the lake holds objects"
    lines = [line for data in objects.values() for line in data.splitlines()]
    assert len(lines) == summary["delivered"]
    for key in objects:
        m = KEY_RE.match(key)
        assert m, key
        # The hour folders and the file-name timestamp agree (both UTC, same instant).
        assert m.group(1, 2, 3, 4) == m.group(5, 6, 7, 8)
    events = [json.loads(line) for line in lines]
    start = datetime.fromisoformat(summary["start"].replace("Z", "+00:00")).timestamp()
    # Each event was sent after it happened, at most the viewers' lead before the
    # run's first second (event_ts has millisecond precision: half a millisecond of
    # rounding allowed).
    assert all(start - REALTIME_LEAD_S - 0.0005 <= e["event_ts"] < start + 3.0005 for e in events)
    assert len({e["event_id"] for e in events}) == 1500
    assert not list(lake.rglob(".*")), "no temporary files remain"
    # The run's world is beside the events, once.
    world = json.loads((lake / "dims" / "world.json").read_text())
    assert world["settings"]["seed"] == 21
    assert sorted(p.name for p in lake.iterdir()) == ["dims", "netflix"]


def lake_lines(root: Path) -> int:
    """Records in the lake's finished objects (temporary files are skipped)."""
    return sum(len(d.splitlines()) for d in lake_objects(root).values()) if root.exists() else 0


def test_ctrl_c_flushes_writes_the_summary_and_exits_cleanly(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    summary_path = tmp_path / "summary.json"
    # A 2 s buffer interval: objects appear while it runs, and some records are still
    # buffered when Ctrl-C comes, for the last flush to write.
    proc = Child(
        [*PRODUCER, "run", "--rate", "1k/s", "--lake-dir", str(lake), "--seed", "4",
         "--summary-json", str(summary_path), "--buffer-interval", "2s"],
        log_dir=tmp_path, name="netflix-producer run", env=producer_env(),
    )  # fmt: skip
    try:
        wait_until(lambda: lake_lines(lake) > 500, what="over 500 records in the lake", children=[proc])
        proc.proc.send_signal(signal.SIGINT)
        code = proc.wait()
    finally:
        proc.kill()
    err = proc.stderr()
    assert code == 0, proc.output()
    assert "Traceback" not in err
    summary = json.loads(summary_path.read_text())
    assert summary["stopped_by"] == "interrupt"
    assert summary["generated"] > 500
    assert summary["generated"] == summary["delivered"]
    assert lake_lines(lake) == summary["delivered"]


def test_backfill_of_a_simulated_window_lands_in_its_hours_gzipped(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    summary_path = tmp_path / "summary.json"
    proc = producer(
        "run", "--start", "2026-01-27T00:00:00Z", "--end", "2026-01-27T03:00:00Z", "--rate", "20/s",
        "--lake-dir", str(lake), "--gzip", "--buffer-interval", "60s", "--seed", "8",
        "--summary-json", str(summary_path), "--quiet",
    )  # fmt: skip
    _, err = proc.communicate(timeout=RUN_DEADLINE_S)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(summary_path.read_text())
    # The viewers are steered to the rate: each hour within 1 % of its 72,000 events.
    assert summary["generated"] == summary["delivered"]
    assert summary["generated"] == pytest.approx(20 * 3 * 3600, rel=0.01)
    stamps_start = datetime(2026, 1, 27, tzinfo=UTC).timestamp()
    objects = lake_objects(lake)
    hours = {KEY_RE.match(k).group(4) for k in objects}  # type: ignore[union-attr]
    assert hours == {"00", "01", "02"}
    stamps = [json.loads(line)["event_ts"] for data in objects.values() for line in data.splitlines()]
    per_hour = Counter(int((t - stamps_start) // 3600) for t in stamps)
    assert sorted(per_hour) == [0, 1, 2]
    assert all(abs(n / 72_000 - 1) < 0.01 for n in per_hour.values()), per_hour
    assert all(k.endswith(".gz") for k in objects)
    total = 0
    for key, data in objects.items():
        m = KEY_RE.match(key)
        assert m
        key_ts = datetime(*map(int, m.group(5, 6, 7, 8, 9, 10)), tzinfo=UTC).timestamp()
        ts = [json.loads(line)["event_ts"] for line in data.splitlines()]
        total += len(ts)
        # Objects are cut by the 60 s interval, in simulated time, and named after their
        # oldest record's arrival: every record is within a buffer interval of the name.
        assert min(ts) <= key_ts + 1.0
        assert max(ts) <= key_ts + 61.0 + 1.0
    assert total == summary["delivered"]


def test_python_dash_m_and_version() -> None:
    proc = producer("--version")
    out, _ = proc.communicate(timeout=RUN_DEADLINE_S)
    assert proc.returncode == 0
    assert out.decode().startswith("netflix-producer")

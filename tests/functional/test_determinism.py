"""Same scenario and seed: byte-identical events, whatever the sink, and on replay."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here runs the command in a process

SCENARIO = """
seed: 77
rate: 200/s
clock: {start: "2026-01-27T10:00:00Z"}
data_faults:
  duplicates: {rate: 0.02, delay: 20s}
  out_of_order: {rate: 0.02}
  malformed: {rate: 0.005}
  null_event_ts: {rate: 0.005}
"""


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETFLIX_PRODUCER_")}
    return subprocess.run([sys.executable, "-m", "producer", *args], capture_output=True, env=env, timeout=120,
                          check=False)  # fmt: skip


def lake_bytes(root: Path) -> bytes:
    """The lake's records in delivery order (objects by the time in their names), raw zone only."""
    stamp = re.compile(r"-(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-[0-9a-f-]{36}(\.gz)?$")
    objects = [p for p in (root / "netflix").rglob("*") if p.is_file() and not p.name.startswith(".")]
    objects.sort(key=lambda p: stamp.search(p.name).group(1))  # type: ignore[union-attr]
    stamps = [stamp.search(p.name).group(1) for p in objects]  # type: ignore[union-attr]
    assert len(stamps) == len(set(stamps)), "one object per second at most, so the order is known"
    out = b""
    for p in objects:
        data = p.read_bytes()
        out += gzip.decompress(data) if p.suffix == ".gz" else data
    return out


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "faulty.yaml"
    path.write_text(SCENARIO)
    return path


def test_same_scenario_twice_lake_and_file_and_replay_are_byte_identical(
    tmp_path: Path, scenario: Path
) -> None:
    common = ["run", "--scenario", str(scenario), "--count", "20000", "--quiet", "--buffer-interval", "30s"]
    a = cli(*common, "--lake-dir", str(tmp_path / "a"), "--capture", str(tmp_path / "cap.ndjson.gz"))
    assert a.returncode == 0, a.stderr.decode()
    b = cli(*common, "--lake-dir", str(tmp_path / "b"), "--gzip", "--batch-records", "77")
    assert b.returncode == 0, b.stderr.decode()
    c = cli(*common, "--sink", "file", "--out", str(tmp_path / "c.ndjson"))
    assert c.returncode == 0, c.stderr.decode()
    r = cli("replay", str(tmp_path / "cap.ndjson.gz"), "--speed", "max", "--lake-dir", str(tmp_path / "r"),
            "--buffer-interval", "30s", "--quiet")  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()

    original = lake_bytes(tmp_path / "a")
    assert original.count(b"\n") > 20000  # duplicates on top of the 20,000 events
    assert original == lake_bytes(tmp_path / "b")
    assert original == (tmp_path / "c.ndjson").read_bytes()
    assert original == lake_bytes(tmp_path / "r")
    # The world's dimension tables beside the raw zone are the same bytes too; a replay
    # writes none (its capture does not say which world the events came from).
    dims = lambda root: {p.relative_to(root): p.read_bytes() for p in (root / "dims").rglob("*.*")}  # noqa: E731
    assert dims(tmp_path / "a") and dims(tmp_path / "a") == dims(tmp_path / "b")
    assert not (tmp_path / "r" / "dims").exists()
    # Replay lands in the same hour folders, under the same object times.
    names = lambda root: sorted(p.name[:-37] for p in root.rglob("netflix-events-*"))  # noqa: E731
    assert names(tmp_path / "a") == names(tmp_path / "r")


def test_a_different_seed_gives_different_events(tmp_path: Path, scenario: Path) -> None:
    a = cli("run", "--scenario", str(scenario), "--count", "2000", "--quiet", "--sink", "file",
            "--out", str(tmp_path / "a.ndjson"))  # fmt: skip
    b = cli("run", "--scenario", str(scenario), "--count", "2000", "--quiet", "--sink", "file",
            "--out", str(tmp_path / "b.ndjson"), "--seed", "78")  # fmt: skip
    assert a.returncode == b.returncode == 0
    assert (tmp_path / "a.ndjson").read_bytes() != (tmp_path / "b.ndjson").read_bytes()

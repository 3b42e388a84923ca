from __future__ import annotations

import asyncio
import dataclasses
import gzip

import pytest

from producer.config.settings import resolve
from producer.delivery.capture import CaptureHeader, CaptureWriter, read_capture
from producer.errors import ConfigError
from producer.generation.world import World
from producer.runtime.clock import ManualClock
from producer.runtime.replay import replay
from producer.runtime.runner import run
from producer.sinks.memory import MemorySink

HEADER = CaptureHeader(producer_version="x", scenario=None, seed=1, clock="simulated",
                       start="2026-01-27T00:00:00Z", start_epoch=1769472000.0)  # fmt: skip


@pytest.mark.parametrize("name", ["cap.ndjson", "cap.ndjson.gz"])
def test_capture_round_trips_every_record_exactly(tmp_path, name: str) -> None:
    records = [b'{"a":1}\n', b"not json at all\n", b"\xff\xfe binary\n", b'{"b":"\xc3\xa9"}\n']
    w = CaptureWriter(tmp_path / name, HEADER)
    w.write(records[:2], 0.5)
    w.write(records[2:], 1.25)
    assert not (tmp_path / name).exists(), "a capture appears only when closed"
    w.close()
    if name.endswith(".gz"):
        gzip.decompress((tmp_path / name).read_bytes())
    header, items = read_capture(tmp_path / name)
    assert header == HEADER
    assert list(items) == [(0.5, records[0]), (0.5, records[1]), (1.25, records[2]), (1.25, records[3])]


def test_a_bad_capture_is_one_line(tmp_path) -> None:
    (tmp_path / "x.ndjson").write_text('{"hello": 1}\n')
    with pytest.raises(ConfigError, match=r"capture '.*x\.ndjson': not a netflix-producer capture"):
        read_capture(tmp_path / "x.ndjson")


def test_run_capture_then_replay_gives_the_same_bytes_with_the_same_timing(
    small_world: World, tmp_path
) -> None:
    cap = tmp_path / "run.ndjson.gz"
    flags = {
        "rate": "500/s",
        "count": "3000",
        "seed": "4",
        "capture": str(cap),
        "dead_letter": str(tmp_path / "d"),
    }
    original = MemorySink()
    clock = ManualClock()
    asyncio.run(run(resolve(flags, env={}), original, world=small_world, clock=clock))
    assert cap.exists()

    _, items = read_capture(cap)
    offsets = [t for t, _ in items]
    span = offsets[-1] - offsets[0]
    assert span > 4.0  # 500-record batches sent over the 6 s run
    for speed, expected in ((1.0, span), (10.0, span / 10), (None, 0.0)):
        replayed = MemorySink()
        rclock = ManualClock()
        settings = dataclasses.replace(resolve({"dead_letter": str(tmp_path / "d")}, env={}), speed=speed)
        summary = asyncio.run(replay(cap, settings, replayed, clock=rclock))
        assert replayed.records == original.records
        assert summary.generated == summary.accepted == 3000
        # Replay keeps the span between the first and the last send, scaled by the speed.
        assert rclock.monotonic() == pytest.approx(expected, abs=0.03)
        # Its timeline adds up to what it sent, a row per second of the replay.
        rows = summary.timeline["rows"]
        assert sum(rows["generated"]) == sum(rows["accepted"]) == 3000
        assert len(rows["t_s"]) >= int(expected)

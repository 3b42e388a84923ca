from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from producer.config.settings import Settings, resolve
from producer.delivery.batching import MAX_BATCH_BYTES, MAX_RECORD_BYTES, Batcher
from producer.errors import SinkError
from producer.generation.world import World
from producer.runtime.clock import ManualClock
from producer.runtime.pacing import Pacer
from producer.runtime.rate import constant
from producer.runtime.runner import run
from producer.runtime.stats import RunStats
from producer.sinks.base import BatchResult
from producer.sinks.memory import MemorySink

EPOCH = 1_790_000_000.0


def settings(tmp_path, **flags: str) -> Settings:
    base = {"seed": "5", "dead_letter": str(tmp_path / "dlq.ndjson")}
    return resolve({**base, **flags}, env={})


def test_pacer_never_drifts_and_counts_due_events() -> None:
    clock = ManualClock(monotonic=100.0)
    pacer = Pacer(constant(500).bind(EPOCH), clock, tick_s=0.01)

    async def go() -> list[int]:
        return [await pacer.wait_due(0) for _ in range(1000)]

    dues = asyncio.run(go())
    assert clock.monotonic() == pytest.approx(110.0, abs=1e-9)
    assert dues[0] == 6  # events at 0, 2, 4, 6, 8, 10 ms
    assert dues[-1] == 5001
    assert all(b - a == 5 for a, b in zip(dues, dues[1:], strict=False))


def test_pacer_skips_missed_ticks_but_the_due_count_catches_up() -> None:
    clock = ManualClock(monotonic=0.0)
    pacer = Pacer(constant(1000).bind(EPOCH), clock, tick_s=0.01)

    async def go() -> tuple[int, int]:
        await pacer.wait_due(0)
        clock.advance(3.0)  # a stalled sink
        ticks = clock.sleeps
        due = await pacer.wait_due(0)
        return due, clock.sleeps - ticks

    due, sleeps = asyncio.run(go())
    assert due == pytest.approx(3011, abs=1)
    assert sleeps == 1


class ClockedSink(MemorySink):
    """Notes the (manual) clock's time at which each record is sent."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock
        self.sent_at: list[float] = []

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        self.sent_at.extend([self.clock.epoch()] * len(records))
        return await super().send_batch(records)


def test_realtime_run_sends_exactly_the_rate_each_event_after_it_happened(
    small_world: World, tmp_path
) -> None:
    clock = ManualClock(epoch=EPOCH)
    sink = ClockedSink(clock)
    flags = {"rate": "500/s", "duration": "10s", "batch_records": "1"}
    summary = asyncio.run(run(settings(tmp_path, **flags), sink, world=small_world, clock=clock))
    assert summary.generated == summary.delivered == 5000 == len(sink.records)
    assert summary.dead_lettered == summary.failed == 0
    assert summary.achieved_rate == pytest.approx(500, rel=0.01)
    assert sum(summary.event_types.values()) == 5000
    # On the wire, exactly the schedule: by the end of second s, the events due by then
    # (one at 0, then every 2 ms) and not one more.
    sent_by = [sum(1 for t in sink.sent_at if t <= EPOCH + s) for s in range(1, 11)]
    assert sent_by == [min(500 * s + 1, 5000) for s in range(1, 11)]
    # Each event on its viewer's clock, sent after it happened: a bounded client-side lag.
    ts = [json.loads(r)["event_ts"] for r in sink.records]
    assert ts == sorted(ts)
    lags = sorted(sent - t for sent, t in zip(sink.sent_at, ts, strict=True))
    assert lags[0] >= -0.001  # event_ts is whole milliseconds
    assert lags[int(0.99 * len(lags))] <= 2.0
    assert summary.event_lag_ms["p99"] is not None and summary.event_lag_ms["p99"] <= 2_000.0
    assert summary.stopped_by == "duration"


def test_output_does_not_depend_on_batching_or_pacing(small_world: World, tmp_path) -> None:
    """Same scenario and seed: byte-identical records however batches are cut."""

    def records(**flags: str) -> list[bytes]:
        sink = MemorySink()
        asyncio.run(run(settings(tmp_path, **flags), sink, world=small_world, clock=ManualClock(epoch=EPOCH)))
        return sink.records

    a = records(rate="2k/s", count="20000", start="2026-09-01T00:00:00Z")
    b = records(rate="2k/s", count="20000", start="2026-09-01T00:00:00Z", batch_records="37")
    c = records(rate="2k/s", count="20000", start="2026-09-01T00:00:00Z", speed="10x", linger="50ms")
    assert a == b == c
    assert len(a) == 20000


def test_simulated_window_backfills_the_shape_up_to_its_end(small_world: World, tmp_path) -> None:
    sink = MemorySink()
    s = settings(tmp_path, rate="10/s", start="2026-01-27T00:00:00Z", end="2026-01-27T01:00:00Z")
    summary = asyncio.run(run(s, sink, world=small_world, clock=ManualClock()))
    # The viewers are steered to the shape: the hour holds its 36,000 events within 1 %.
    assert summary.generated == summary.delivered == len(sink.records)
    assert summary.generated == pytest.approx(36_000, rel=0.01)
    ts = [json.loads(r)["event_ts"] for r in sink.records]
    assert 1769472000.0 <= min(ts) and max(ts) < 1769472000.0 + 3600
    assert max(ts) > 1769472000.0 + 3590
    assert summary.stopped_by == "end"
    assert summary.clock == "simulated"
    assert summary.achieved_rate == pytest.approx(10.0, rel=0.01)


class SlowSink(MemorySink):
    """Takes 2 s of (manual) clock time per batch."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        self.clock.advance(2.0)
        return await super().send_batch(records)


def test_a_slow_sink_is_reported_as_sink_bound(small_world: World, tmp_path) -> None:
    clock = ManualClock(epoch=EPOCH)
    seen: list[str] = []

    def observe(stats: RunStats) -> None:
        seen.append(stats.pace)

    summary = asyncio.run(
        run(settings(tmp_path, rate="2k/s", duration="20s"), SlowSink(clock), world=small_world,
            clock=clock, observer=observe, observe_every_s=0.0)
    )  # fmt: skip
    assert "sink-bound" in seen
    assert summary.generated == summary.delivered == 40_000


def test_stop_event_ends_the_run_cleanly(small_world: World, tmp_path) -> None:
    stop = asyncio.Event()
    sink = MemorySink()

    def observe(stats: RunStats) -> None:
        if stats.generated >= 3000:
            stop.set()

    summary = asyncio.run(
        run(settings(tmp_path, rate="1k/s"), sink, world=small_world, clock=ManualClock(),
            observer=observe, observe_every_s=0.0, stop=stop)
    )  # fmt: skip
    assert summary.stopped_by == "interrupt"
    assert 3000 <= summary.generated < 4000
    assert summary.generated == summary.delivered == len(sink.records)


class FullDiskSink(MemorySink):
    """Accepts two batches into a buffer, then fails writing it, as a full disk would."""

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        if len(self.batches) == 2:
            msg = "lake: cannot write 'x': No space left on device"
            raise SinkError(msg, lost=len(records) + 300)
        return await super().send_batch(records)


def test_a_sink_failure_stops_the_run_and_the_accounting_still_balances(small_world: World, tmp_path) -> None:
    summary = asyncio.run(
        run(
            settings(tmp_path, rate="1k/s", count="5000"),
            FullDiskSink(),
            world=small_world,
            clock=ManualClock(),
        )
    )
    assert summary.stopped_by == "error"
    assert "No space left on device" in (summary.error or "")
    assert summary.generated == summary.delivered + summary.dead_lettered + summary.failed
    assert summary.delivered == 1000 - 300


def test_batcher_respects_firehose_limits() -> None:
    b = Batcher(linger_s=1.0)
    small = [b"x" * 99 + b"\n"] * 1234
    full = b.extend(small, now=0.0)
    assert [len(x) for x in full] == [500, 500]
    assert len(b) == 234
    assert not b.expired(0.5) and b.expired(1.0)
    assert len(b.drain()) == 234

    big = [b"y" * 1_000_000 + b"\n"] * 9  # 9 x ~1 MB: at most 4 per 4 MiB batch
    full = b.extend(big, now=2.0)
    assert [len(x) for x in full] == [4, 4]
    assert all(sum(map(len, x)) <= MAX_BATCH_BYTES for x in full)
    b.drain()

    too_big = b"z" * (MAX_RECORD_BYTES + 1)
    assert b.extend([too_big, b"ok\n"], now=3.0) == []
    assert b.take_oversize() == [too_big]
    assert b.drain() == [b"ok\n"]


def test_oversize_records_are_dead_lettered_with_a_reason(tmp_path) -> None:
    from producer.delivery.deadletter import DeadLetterFile

    dlq = DeadLetterFile(tmp_path / "d" / "dlq.ndjson")
    dlq.write(b'{"a":1}\n', code="RecordTooLarge", message="record exceeds 1,000 KiB")
    dlq.close()
    line = json.loads((tmp_path / "d" / "dlq.ndjson").read_text())
    assert line["reason"] == "RecordTooLarge" and line["record"] == '{"a":1}\n'


@pytest.mark.parametrize(
    ("flags", "stopped_by"),
    [
        ({"count": "500", "end": "2026-01-27T01:00:00Z"}, "count"),
        ({"count": "100000", "end": "2026-01-27T00:01:00Z"}, "end"),
        ({"count": "100000", "duration": "30s"}, "duration"),
        ({"duration": "30s", "end": "2026-01-27T01:00:00Z"}, "duration"),
    ],
)
def test_the_summary_names_the_limit_that_ended_a_simulated_run(
    small_world: World, tmp_path, flags: dict[str, str], stopped_by: str
) -> None:
    s = settings(tmp_path, rate="100/s", start="2026-01-27T00:00:00Z", **flags)
    summary = asyncio.run(run(s, MemorySink(), world=small_world, clock=ManualClock()))
    assert summary.stopped_by == stopped_by

"""Call slots: a batch backing off before a retry lets other batches call."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from producer.clock import ManualClock
from producer.config import resolve
from producer.deadletter import DeadLetterFile
from producer.delivery import DeliverySink, RetryPolicy, TransportError
from producer.dispatch import BATCHES_PER_CALL_SLOT, Dispatcher
from producer.runner import run
from producer.stats import RunStats
from producer.world import World

SLOW = ("ServiceUnavailableException", "Slow down.")


class FirstCallThrottled:
    """Throttles record 0 of each batch's first call; counts calls in flight."""

    name = "first-call-throttled"

    def __init__(self, *, hold: asyncio.Event | None = None) -> None:
        self.hold = hold
        self.seen: set[bytes] = set()
        self.active = self.peak = self.calls = 0
        self.accepted: list[bytes] = []

    async def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        self.calls += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.hold is not None:
                await self.hold.wait()
            await asyncio.sleep(0)
        finally:
            self.active -= 1
        first = records[0] not in self.seen
        self.seen.add(records[0])
        failed = [(0, *SLOW)] if first and self.hold is None else []
        self.accepted += [r for i, r in enumerate(records) if not (failed and i == 0)]
        return failed

    async def aclose(self) -> None:
        pass


def batch(k: int) -> list[bytes]:
    return [b"batch %d record %d\n" % (k, i) for i in range(3)]


def dispatcher(
    transport: FirstCallThrottled, gate: asyncio.Event, max_in_flight: int, tmp: Path
) -> Dispatcher:
    async def sleep(_: float) -> None:
        await gate.wait()  # every backoff lasts until the test opens the gate

    sink = DeliverySink(transport, policy=RetryPolicy(), rng=random.Random(0), sleep=sleep)
    stats = RunStats(sink="firehose", seed=0, target_rate=1.0, clock="simulated")
    return Dispatcher(sink, stats, DeadLetterFile(tmp / "dlq.ndjson"), ManualClock(), None, max_in_flight)


def test_batches_backing_off_give_their_call_slot_to_new_batches(tmp_path: Path) -> None:
    async def main() -> None:
        gate = asyncio.Event()
        transport = FirstCallThrottled()
        d = dispatcher(transport, gate, 2, tmp_path)
        # 12 batches through 2 call slots, every one of them left backing off: each made
        # its first call, because a batch waiting for its retry holds no slot.
        await asyncio.wait_for(asyncio.gather(*(d.submit(batch(k)) for k in range(12))), 5)
        for _ in range(10):
            await asyncio.sleep(0)
        assert transport.calls == 12 and len(d.inflight) == 12
        gate.set()
        await d.drain()
        assert d.stats.delivered == 36 and d.stats.retried == 12 and d.stats.dead_lettered == 0
        assert sorted(transport.accepted) == sorted(r for k in range(12) for r in batch(k))
        assert transport.peak <= 2

    asyncio.run(main())


def test_batches_in_progress_are_bounded_per_call_slot(tmp_path: Path) -> None:
    async def main() -> None:
        gate = asyncio.Event()
        transport = FirstCallThrottled()
        d = dispatcher(transport, gate, 1, tmp_path)
        for k in range(BATCHES_PER_CALL_SLOT):
            await asyncio.wait_for(d.submit(batch(k)), 5)
        late = asyncio.create_task(d.submit(batch(99)))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not late.done()  # backpressure: memory stays bounded while batches back off
        gate.set()
        await asyncio.wait_for(late, 5)
        await d.drain()
        assert d.stats.delivered == 3 * (BATCHES_PER_CALL_SLOT + 1)

    asyncio.run(main())


def test_without_retries_no_batch_waits_ahead_of_a_free_call_slot(tmp_path: Path) -> None:
    async def main() -> None:
        hold = asyncio.Event()
        transport = FirstCallThrottled(hold=hold)  # calls block until released, never fail
        d = dispatcher(transport, asyncio.Event(), 2, tmp_path)
        await d.submit(batch(0))
        await d.submit(batch(1))
        third = asyncio.create_task(d.submit(batch(2)))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not third.done() and transport.active == 2  # the runner waits for a call slot
        hold.set()
        await asyncio.wait_for(third, 5)
        await d.drain()
        assert d.stats.delivered == 9 and transport.peak == 2

    asyncio.run(main())


class NotFound:
    name = "firehose"

    async def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        raise TransportError("ResourceNotFoundException", "stream not found", retryable=False)

    async def aclose(self) -> None:
        pass


def test_a_fatal_error_leaves_every_generated_event_in_the_dead_letter_file(
    small_world: World, tmp_path: Path
) -> None:
    dlq = tmp_path / "dlq.ndjson"
    sink = DeliverySink(NotFound(), policy=RetryPolicy(), rng=random.Random(0))
    # One round of the generator fills many batches: those after the failing call were
    # never sent, and are dead-lettered as such rather than lost.
    flags = {"rate": "1M/s", "count": "20000", "start": "2026-01-27", "seed": "4", "dead_letter": str(dlq)}
    summary = asyncio.run(run(resolve(flags, env={}), sink, world=small_world, clock=ManualClock()))
    assert summary.error == "stream not found" and summary.accepted == 0
    assert summary.generated > 4 * 500 and summary.failed == 0
    reasons = Counter(json.loads(line)["reason"] for line in dlq.open())
    assert sum(reasons.values()) == summary.dead_lettered == summary.generated
    assert reasons["ResourceNotFoundException"] == 4 * 500  # the calls in flight when it came
    assert set(reasons) == {"ResourceNotFoundException", "NotSent"}

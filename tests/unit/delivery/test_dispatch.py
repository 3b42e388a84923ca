"""The Dispatcher: call slots, backpressure, and accounting when the sink fails."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from producer.config.settings import resolve
from producer.delivery.deadletter import DeadLetterFile
from producer.delivery.dispatch import Dispatcher
from producer.delivery.retry import DeliverySink, RetryPolicy, TransportError
from producer.generation.world import World
from producer.runtime.clock import ManualClock
from producer.runtime.runner import run
from producer.runtime.stats import RunStats
from tests.support.polling import turns_until

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
    transport: FirstCallThrottled,
    gate: asyncio.Event,
    max_in_flight: int,
    tmp: Path,
    calls: int | None = None,
) -> Dispatcher:
    async def sleep(_: float) -> None:
        await gate.wait()  # every backoff lasts until the test opens the gate

    sink = DeliverySink(transport, policy=RetryPolicy(), rng=random.Random(0), sleep=sleep,
                        max_in_flight=calls or max_in_flight)  # fmt: skip
    stats = RunStats(sink="firehose", seed=0, target_rate=1.0, clock="simulated")
    return Dispatcher(sink, stats, DeadLetterFile(tmp / "dlq.ndjson"), ManualClock(), None, max_in_flight)


def test_a_batch_backing_off_holds_no_call_while_the_next_batch_goes_out(tmp_path: Path) -> None:
    # The failed record waits in the outbox, not in a call: the one call slot serves the
    # next batch meanwhile (the send rate, not held calls, keeps a full stream from more).
    async def main() -> None:
        gate = asyncio.Event()
        transport = FirstCallThrottled()
        d = dispatcher(transport, gate, 2, tmp_path, calls=1)
        await asyncio.wait_for(d.submit(batch(0)), 5)
        await turns_until(lambda: transport.calls == 1, what="batch 0's first call")
        assert len(d.inflight) == 1  # batch 0 waits for its resend
        second = asyncio.create_task(d.submit(batch(1)))  # both batches out: the runner waits
        # Batch 1 goes out while batch 0's record backs off (the gate is still shut).
        await turns_until(lambda: transport.calls == 2, what="batch 1's call")
        gate.set()
        await asyncio.wait_for(second, 5)
        await asyncio.wait_for(d.drain(), 5)
        assert d.stats.delivered == 6 and d.stats.retried == 2
        assert transport.calls in (3, 4)  # the two resends together, or one after the other
        assert sorted(transport.accepted) == sorted(batch(0) + batch(1))

    asyncio.run(main())


def test_submit_returns_once_a_call_slot_is_free_for_the_next_batch(tmp_path: Path) -> None:
    async def main() -> None:
        hold = asyncio.Event()
        transport = FirstCallThrottled(hold=hold)  # calls block until released, never fail
        d = dispatcher(transport, asyncio.Event(), 2, tmp_path)
        await asyncio.wait_for(d.submit(batch(0)), 5)  # a slot is left for the next batch
        second = asyncio.create_task(d.submit(batch(1)))
        for _ in range(20):
            await asyncio.sleep(0)
        assert transport.active == 2 and not second.done()  # both slots busy: the runner waits
        hold.set()
        await asyncio.wait_for(second, 5)
        await d.drain()
        assert d.stats.delivered == 6 and transport.peak == 2

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

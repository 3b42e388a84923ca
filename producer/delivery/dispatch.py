"""Dispatching batches to a sink: calls in flight, backpressure, and the accounting.

Shared by the runner (generated events) and replay (captured records).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from producer.delivery.batching import Batcher, PackedBatch
from producer.delivery.deadletter import DeadLetterFile
from producer.errors import OutputClosedError, SinkError
from producer.runtime.clock import Clock
from producer.runtime.stats import RunStats
from producer.sinks.base import BatchResult, Sink

__all__ = ["CaptureLike", "Dispatcher", "ManifestLike", "close_sink", "settle", "stop_reason"]

#: ``stopped_by`` of a run whose reader closed the output: a normal end.
PIPE_CLOSED = "pipe-closed"


class ManifestLike(Protocol):
    def add(self, records: list[bytes]) -> None: ...
    def close(self) -> None: ...


class CaptureLike(Protocol):
    def write(self, records: list[bytes], t: float) -> None: ...
    def close(self) -> None: ...


class Dispatcher:
    """Sends batches with at most ``max_in_flight`` of them outstanding, and accounts for them.

    Backpressure: :meth:`submit` returns only once there is room, so a slow or throttled
    sink slows the runner down instead of growing a queue. Room is ``max_in_flight``
    batches; for a sink that counts its backlog (a stream's outbox, whose calls are paced
    by its send rate) also fewer than ``max_backlog`` records not yet settled.
    """

    def __init__(
        self,
        sink: Sink,
        stats: RunStats,
        dead: DeadLetterFile,
        clock: Clock,
        manifest: ManifestLike | None,
        max_in_flight: int,
        capture: CaptureLike | None = None,
        offset: Callable[[], float] | None = None,
        packed: bool = False,
        billing_unit: int = 5120,
        max_backlog: int | None = None,
    ) -> None:
        self.sink = sink
        #: With a sink that counts its backlog (records handed in, not settled), the runner
        #: waits on that rather than on batches: a batch waiting for one record to be resent
        #: then holds back one record, not a batch's worth.
        self.max_backlog = max_backlog if max_backlog is not None and hasattr(sink, "backlog") else None
        #: Ingestion is billed per record rounded up to this many bytes (Firehose: 5 KB).
        self.billing_unit = billing_unit
        self.stats = stats
        self.dead = dead
        self.clock = clock
        self.manifest = manifest
        self.max_in_flight = max_in_flight
        self.capture = capture
        #: Records may hold several newline-terminated events (--pack).
        self.packed = packed
        self._offset = offset or (lambda: 0.0)
        self.inflight: set[asyncio.Task[None]] = set()
        self.fatal: SinkError | None = None

    async def submit(self, batch: list[bytes]) -> None:
        if self.fatal is not None:
            self.dead_letter_unsent(batch)
            raise self.fatal
        if self.capture is not None:
            self.capture.write(batch, self._offset())
        task = asyncio.create_task(self._deliver(batch))
        self.inflight.add(task)
        while self._full():
            await self._reap(asyncio.FIRST_COMPLETED)
        if self.fatal is not None:
            raise self.fatal

    @property
    def in_flight(self) -> int:
        """Calls in flight: the sink's own count when it has one (a stream's outbox), else batches."""
        calls = getattr(self.sink, "calls_in_flight", None)
        return int(calls) if calls is not None else len(self.inflight)

    def _full(self) -> bool:
        if self.max_backlog is None:
            return len(self.inflight) >= self.max_in_flight
        backlog: int = self.sink.backlog  # type: ignore[attr-defined]
        return bool(self.inflight) and (
            len(self.inflight) >= self.max_in_flight or backlog >= self.max_backlog
        )

    async def drain(self) -> None:
        """Wait for every call in flight."""
        while self.inflight:
            await self._reap(asyncio.ALL_COMPLETED)

    async def _reap(self, when: str) -> None:
        done, _ = await asyncio.wait(self.inflight, return_when=when)
        self.inflight -= done

    async def _deliver(self, batch: list[bytes]) -> None:
        t0 = self.clock.monotonic()
        try:
            result = await self.sink.send_batch(batch)
        except SinkError as exc:
            if exc.result is not None:
                # The sink gave up on this batch: account for what it confirmed and
                # dead-letter the rest with the reason.
                self.account(batch, exc.result)
            else:
                # The batch was not taken; records accepted by earlier calls but lost
                # with the sink's buffer are no longer delivered either. (The lake and S3
                # sinks count events: packing does not apply to them.)
                lost = max(exc.lost, len(batch))
                self.stats.delivered -= lost - len(batch)
                self.stats.failed += lost
            if self.fatal is None:
                self.fatal = exc
            return
        finally:
            self.stats.sink_seconds += self.clock.monotonic() - t0
        self.account(batch, result)

    def account(self, batch: list[bytes], result: BatchResult) -> None:
        """Count a batch's outcome, in events (a packed record holds several)."""
        s = self.stats
        s.batches += 1
        s.records_sent += len(batch)
        sizes = list(map(len, batch))
        s.bytes_sent += sum(sizes)
        unit = self.billing_unit
        s.billed_bytes += sum((n + unit - 1) // unit for n in sizes) * unit
        s.retried += result.retried
        s.throttled += result.throttled
        s.calls += result.calls
        s.latency.add(result.latencies_ms)
        failed = {f.index for f in result.failures}
        if not self.packed:
            s.delivered += result.delivered
            for f in result.failures:
                self.dead.write(batch[f.index], code=f.code, message=f.message, attempts=f.attempts)
                s.dead_lettered += 1
            if self.manifest is not None:
                self.manifest.add([r for i, r in enumerate(batch) if i not in failed] if failed else batch)
            return
        # Packed records: every event inside counts, dead letters and manifest stay per event.
        if not failed and self.manifest is None:
            if isinstance(batch, PackedBatch):
                s.delivered += batch.events
            else:
                s.delivered += sum(r.count(b"\n") for r in batch)
            return
        for i, record in enumerate(batch):
            events = record.splitlines(keepends=True)
            if i in failed:
                f = next(x for x in result.failures if x.index == i)
                for event in events:
                    self.dead.write(event, code=f.code, message=f.message, attempts=f.attempts)
                s.dead_lettered += len(events)
            else:
                s.delivered += len(events)
                if self.manifest is not None:
                    self.manifest.add(events)

    async def submit_all(self, batcher: Batcher, records: list[bytes], now: float) -> None:
        """Batch ``records`` and send the batches that fill; oversize records are dead-lettered.

        If the sink fails for good, the batches not yet sent are dead-lettered (NotSent)
        before the error is raised: no event is left unaccounted for.
        """
        batches = batcher.extend(records, now)
        self.stats.dead_lettered += self.dead.write_oversize(batcher)
        for k, batch in enumerate(batches):
            try:
                await self.submit(batch)
            except SinkError:
                for unsent in batches[k + 1 :]:
                    self.dead_letter_unsent(unsent)
                raise

    async def finish(self, batcher: Batcher) -> None:
        """Send the partial batch, wait for every call, and raise if the last ones failed."""
        tail = batcher.drain()
        if tail:
            await self.submit(tail)
        await self.drain()
        if self.fatal is not None:
            raise self.fatal

    async def abandon(self, batcher: Batcher) -> None:
        """After a fatal sink error: wait for calls in flight, dead-letter what was never sent."""
        await self.drain()
        self.dead_letter_unsent(batcher.drain())

    def dead_letter_unsent(self, records: list[bytes]) -> None:
        """Records that will never be sent because the run stopped on an error."""
        if isinstance(self.fatal, OutputClosedError):
            # Nobody is reading any more: the records are simply not delivered, and a
            # dead-letter file of everything after a `| head` would help no one.
            self.stats.failed += sum(r.count(b"\n") for r in records) if self.packed else len(records)
            return
        reason = str(self.fatal) if self.fatal else "run stopped"
        for r in records:
            for event in r.splitlines(keepends=True) if self.packed else [r]:
                self.dead.write(
                    event, code="NotSent", message=f"run stopped before sending: {reason}", attempts=0
                )
                self.stats.dead_lettered += 1


async def close_sink(sink: Sink, stats: RunStats) -> str | None:
    """Close the sink; what its buffer loses at close is no longer delivered. The error, if any."""
    try:
        await sink.aclose()
    except SinkError as exc:
        stats.delivered -= exc.lost
        stats.failed += exc.lost
        return str(exc)
    return None


def stop_reason(exc: SinkError) -> tuple[str | None, str]:
    """The run's ``(error, stopped_by)`` after the sink raised ``exc``."""
    if isinstance(exc, OutputClosedError):
        return None, PIPE_CLOSED
    return str(exc), "error"


def settle(stats: RunStats) -> None:
    """Count as failed anything generated and still unaccounted for (lost with a failed sink)."""
    unsent = stats.generated - stats.delivered - stats.dead_lettered - stats.failed
    stats.failed += max(0, unsent)

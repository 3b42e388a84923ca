"""Replay: send a capture's records again, in the same order, with the same timing.

The records go through the same batching, dispatching and accounting as a run, to
any sink. ``speed`` 1 keeps the original send times, 10 plays ten times faster,
``None`` as fast as possible. Sinks that name objects by time (the lake, S3) get the
original timeline, so a capture replayed into the lake lands in the same hour
folders with byte-identical records.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

from producer.config.settings import Settings
from producer.delivery.dispatch import Dispatcher
from producer.errors import SinkError
from producer.runtime.clock import Clock, EventClock, SystemClock, utc_iso
from producer.runtime.runner import RunOutputs
from producer.runtime.stats import Observer, RunStats, Summary
from producer.sinks.base import Sink

__all__ = ["replay"]


async def replay(
    path: Path,
    settings: Settings,
    sink: Sink | Callable[[EventClock], Sink],
    *,
    clock: Clock | None = None,
    observer: Observer | None = None,
    observe_every_s: float = 0.25,
    stop: asyncio.Event | None = None,
    tick_s: float = 0.01,
) -> Summary:
    """Replay the capture at ``path`` into ``sink`` at ``settings.speed`` (None: max)."""
    the_replay = _Replay(path, settings, sink, clock or SystemClock(), observer, observe_every_s)
    try:
        try:
            await the_replay.check_sink()
            delivery = the_replay.prepare()
            sampler = the_replay.sample_every_row(lambda elapsed: the_replay.row(delivery, elapsed))
            try:
                await the_replay.send(delivery, stop, tick_s)
                await delivery.finish(the_replay.batcher)
            except SinkError as exc:
                the_replay.failed(exc)
                await delivery.abandon(the_replay.batcher)
            finally:
                if sampler is not None:
                    sampler.cancel()
        except SinkError as exc:  # the start-up check failed: nothing was sent
            the_replay.failed(exc)
    finally:
        await the_replay.close()
    return the_replay.summary()


class _Replay(RunOutputs):
    """One replay's state along the flow: the capture, the sending loop and the summary."""

    def __init__(
        self,
        path: Path,
        settings: Settings,
        sink: Sink | Callable[[EventClock], Sink],
        clock: Clock,
        observer: Observer | None,
        observe_every_s: float,
    ) -> None:
        from producer.delivery.capture import read_capture
        from producer.sinks.registry import batcher_for

        self.header, self.records = read_capture(path)
        self.event_clock = EventClock(realtime=False, clock=clock, start=self.header.start_epoch)
        the_sink = sink if isinstance(sink, Sink) else sink(self.event_clock)
        stats = RunStats(sink=the_sink.name, seed=self.header.seed, target_rate=0.0, clock="replay")
        super().__init__(settings, the_sink, clock, stats, observer, observe_every_s, stopped_by="end")
        self.batcher = batcher_for(settings)

    def prepare(self) -> Dispatcher:
        """The dispatcher to the sink; the replay's time starts now."""
        delivery = self.dispatcher()
        self.started = self.clock.monotonic()
        self.delivery = delivery
        return delivery

    def row(self, delivery: Dispatcher, elapsed: float) -> None:
        """End the timeline's row under way (a replay has no target rate)."""
        self.track_send_rate()
        self.stats.elapsed_s = elapsed
        self.timeline.sample(elapsed, self.stats, target_rate=0.0, in_flight=delivery.in_flight)

    async def send(self, delivery: Dispatcher, stop: asyncio.Event | None, tick_s: float) -> None:
        """Send each record when its original send time falls due, until ``stop`` is set."""
        clock, batcher, stats, speed = self.clock, self.batcher, self.stats, self.settings.speed
        started = next_tick = self.started
        first_t: float | None = None
        for t, record in self.records:
            if first_t is None:
                first_t = t
            if speed is not None:
                due = started + (t - first_t) / speed
                if due > clock.monotonic():
                    # Deadline pacing: sleep to the tick that covers this record.
                    next_tick = max(next_tick + tick_s, due)
                    await clock.sleep_until(next_tick)
                    if batcher.expired(clock.monotonic()):
                        await delivery.submit(batcher.drain())
            self.event_clock.latest = self.header.start_epoch + t
            stats.generated += 1
            await delivery.submit_all(batcher, [record], clock.monotonic())
            now = clock.monotonic()
            if self.timeline.due(now - started):
                self.row(delivery, now - started)
            if self.observe_due(now):
                stats.elapsed_s = now - started
                self.show()
            if stop is not None and stop.is_set():
                self.stopped_by = "interrupt"
                return
            if speed is None and stats.generated % 4096 == 0:
                await asyncio.sleep(0)

    def summary(self) -> Summary:
        """Settle the counters, show them a last time and build the summary."""
        elapsed = self.settle()
        self.stats.elapsed_s = elapsed
        self.show()
        delivery: Dispatcher | None = getattr(self, "delivery", None)
        if delivery is not None:
            self.row(delivery, elapsed)  # the last row: the rows add up to the totals
        summary = self.stats.summary(
            elapsed_s=elapsed,
            achieved_rate=self.stats.generated / elapsed if elapsed > 0 else 0.0,
            start=self.header.start,
            end=utc_iso(self.event_clock.latest),
            stopped_by=self.stopped_by,
            error=self.error,
            dead_letter_path=self.dead_letter_path,
            event_types={},
        )
        return dataclasses.replace(summary, timeline=self.timeline.to_dict())

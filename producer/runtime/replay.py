"""Replay: send a capture's records again, in the same order, with the same timing.

The records go through the same batching, dispatching and accounting as a run, to
any sink. ``speed`` 1 keeps the original send times, 10 plays ten times faster,
``None`` as fast as possible. Sinks that name objects by time (the lake, S3) get the
original timeline, so a capture replayed into the lake lands in the same hour
folders with byte-identical records.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from producer.config.settings import Settings
from producer.delivery.deadletter import DeadLetterFile
from producer.delivery.dispatch import Dispatcher, close_sink, settle, stop_reason
from producer.errors import SinkError
from producer.runtime.clock import Clock, EventClock, SystemClock
from producer.runtime.stats import Observer, RunStats, Summary
from producer.sinks.base import Sink
from producer.sinks.registry import spec_of

__all__ = ["replay"]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


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
    from producer.delivery.capture import read_capture
    from producer.sinks.registry import batcher_for

    clock = clock or SystemClock()
    header, records = read_capture(path)
    event_clock = EventClock(realtime=False, clock=clock, start=header.start_epoch)
    the_sink = sink if isinstance(sink, Sink) else sink(event_clock)
    stats = RunStats(sink=the_sink.name, seed=header.seed, target_rate=0.0, clock="replay")
    dead = DeadLetterFile(settings.dead_letter)
    batcher = batcher_for(settings)
    speed = settings.speed
    stopped_by = "end"
    error: str | None = None
    started = clock.monotonic()
    first_t: float | None = None
    last_observed = -math.inf
    try:
        opener = getattr(the_sink, "open", None)
        if opener is not None and settings.check:
            stats.destination = await opener()
        spec = spec_of(the_sink.name)
        in_flight = settings.max_in_flight if spec.concurrent else 1
        dispatch = Dispatcher(the_sink, stats, dead, clock, None, in_flight, billing_unit=spec.billing_unit)
        started = clock.monotonic()
        next_tick = started
        try:
            for t, record in records:
                if first_t is None:
                    first_t = t
                if speed is not None:
                    due = started + (t - first_t) / speed
                    if due > clock.monotonic():
                        # Deadline pacing: sleep to the tick that covers this record.
                        next_tick = max(next_tick + tick_s, due)
                        await clock.sleep_until(next_tick)
                        if batcher.expired(clock.monotonic()):
                            await dispatch.submit(batcher.drain())
                event_clock.latest = header.start_epoch + t
                stats.generated += 1
                await dispatch.submit_all(batcher, [record], clock.monotonic())
                now = clock.monotonic()
                if observer is not None and now - last_observed >= observe_every_s:
                    last_observed = now
                    stats.elapsed_s = now - started
                    observer(stats)
                if stop is not None and stop.is_set():
                    stopped_by = "interrupt"
                    break
                if speed is None and stats.generated % 4096 == 0:
                    await asyncio.sleep(0)
            await dispatch.finish(batcher)
        except SinkError as exc:
            error, stopped_by = stop_reason(exc)
            await dispatch.abandon(batcher)
    except SinkError as exc:
        error, stopped_by = stop_reason(exc)
    finally:
        close_error = await close_sink(the_sink, stats)
        if close_error is not None and error is None:
            error, stopped_by = close_error, "error"
        dead.close()
    settle(stats)
    elapsed = clock.monotonic() - started
    stats.elapsed_s = elapsed
    if observer is not None:
        observer(stats)
    return stats.summary(
        elapsed_s=elapsed,
        achieved_rate=stats.generated / elapsed if elapsed > 0 else 0.0,
        start=header.start,
        end=_iso(event_clock.latest),
        stopped_by=stopped_by,
        error=error,
        dead_letter_path=str(dead.path) if dead.count else None,
        event_types={},
    )

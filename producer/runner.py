"""The runner: generation -> encoding -> pacing -> batching -> sink -> stats.

The only async part of the pipeline besides the sinks. It owns no policy: every
setting arrives resolved in a :class:`~producer.config.Settings`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from producer.batching import Batcher
from producer.clock import Clock, SystemClock
from producer.config import Settings
from producer.deadletter import DeadLetterFile
from producer.encode import encode_block
from producer.errors import SinkError
from producer.pacing import Pacer
from producer.schema import EVENT_TYPES
from producer.sessions import SessionGenerator, SessionParams
from producer.sinks.base import Sink
from producer.stats import RunStats, Summary
from producer.world import World, WorldConfig

__all__ = ["EventClock", "Observer", "run"]

logger = logging.getLogger(__name__)

#: Called with the live counters, at most every ``observe_every_s``.
Observer = Callable[[RunStats], None]


class EventClock:
    """The time a sink should stamp objects with: wall time in realtime runs, the
    latest emitted event's timestamp in simulated (backfill) runs."""

    def __init__(self, *, realtime: bool, clock: Clock, start: float) -> None:
        self.realtime = realtime
        self._clock = clock
        self.latest = start

    def __call__(self) -> float:
        return self._clock.epoch() if self.realtime else self.latest


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


async def run(
    settings: Settings,
    sink: Sink | Callable[[EventClock], Sink],
    *,
    world: World | None = None,
    clock: Clock | None = None,
    observer: Observer | None = None,
    observe_every_s: float = 0.25,
    stop: asyncio.Event | None = None,
    params: SessionParams | None = None,
) -> Summary:
    """Run the producer until its count, duration or end is reached, or ``stop`` is set.

    ``sink`` is a sink, or a factory taking the run's :class:`EventClock` (so a
    lake written during a backfill is named after simulated time).
    """
    clock = clock or SystemClock()
    world = world or World(
        WorldConfig(seed=settings.seed, accounts=settings.accounts, titles=settings.titles)
    )
    realtime = settings.start is None
    start_epoch = clock.epoch() if settings.start is None else settings.start
    schedule = settings.shape.bind(start_epoch)
    total = _total_events(settings, schedule.count_before)
    event_clock = EventClock(realtime=realtime, clock=clock, start=start_epoch)
    the_sink = sink if isinstance(sink, Sink) else sink(event_clock)
    generator = SessionGenerator(world, schedule, seed=settings.seed, params=params)
    pacer = Pacer(schedule, clock, speed=1.0 if realtime else settings.speed, tick_s=settings.tick_s)
    batcher = Batcher(max_records=settings.batch_records, linger_s=settings.linger_s)
    dead = DeadLetterFile(settings.dead_letter)
    stats = RunStats(
        sink=the_sink.name,
        seed=settings.seed,
        target_rate=settings.target_rate,
        clock="realtime" if realtime else "simulated",
    )
    started = clock.monotonic()
    stopped_by = "count"
    error: str | None = None
    last_observed = -math.inf

    records: list[bytes] = []
    types = np.zeros(0, dtype=np.int8)
    stamps = np.zeros(0, dtype=np.float64)
    taken = 0
    emitted = 0

    async def send(batch: list[bytes]) -> None:
        t0 = clock.monotonic()
        try:
            result = await the_sink.send_batch(batch)
        except SinkError as exc:
            # The batch itself was not delivered; records accepted by earlier calls but
            # lost with the sink's buffer are no longer delivered either.
            lost = max(exc.lost, len(batch))
            stats.delivered -= lost - len(batch)
            stats.failed += lost
            raise
        finally:
            stats.sink_seconds += clock.monotonic() - t0
        stats.batches += 1
        stats.delivered += result.delivered
        stats.bytes_sent += sum(len(r) for r in batch)
        for failure in result.failures:
            dead.write(batch[failure.index], code=failure.code, message=failure.message)
            stats.dead_lettered += 1

    try:
        while total is None or emitted < total:
            if stop is not None and stop.is_set():
                stopped_by = "interrupt"
                break
            due = await pacer.wait_due(emitted)
            if total is not None:
                due = min(due, total)
            while emitted < due:
                if taken >= len(records):
                    block = generator.next_block()
                    records = encode_block(block)
                    types = block.event_type
                    stamps = block.event_ts
                    taken = 0
                n = min(due - emitted, len(records) - taken)
                chunk = records[taken : taken + n]
                stats.event_types += np.bincount(types[taken : taken + n], minlength=len(EVENT_TYPES))
                event_clock.latest = float(stamps[taken + n - 1])
                taken += n
                emitted += n
                stats.generated = emitted
                now = clock.monotonic()
                for batch in batcher.extend(chunk, now):
                    await send(batch)
                for record in batcher.take_oversize():
                    dead.write(record, code="RecordTooLarge", message="record exceeds 1,000 KiB")
                    stats.dead_lettered += 1
                if pacer.speed is None and stop is not None and stop.is_set():
                    break
            if batcher.expired(clock.monotonic()):
                await send(batcher.drain())
            now = clock.monotonic()
            if observer is not None and now - last_observed >= observe_every_s:
                last_observed = now
                _refresh(stats, generator, pacer, emitted, now - started)
                observer(stats)
            if pacer.speed is None:
                # Let signal handlers and other tasks run between bursts.
                await asyncio.sleep(0)
        else:
            stopped_by = _limit_name(settings)
        tail = batcher.drain()
        if tail:
            await send(tail)
    except SinkError as exc:
        error = str(exc)
        stopped_by = "error"
        logger.debug("sink failed", exc_info=True)
    finally:
        try:
            await the_sink.aclose()
        except SinkError as exc:
            lost = exc.lost
            stats.delivered -= lost
            stats.failed += lost
            if error is None:
                error = str(exc)
                stopped_by = "error"
        dead.close()

    # Records generated but never handed to the sink (a sink error mid-run) are failed too.
    unsent = stats.generated - stats.delivered - stats.dead_lettered - stats.failed
    stats.failed += max(0, unsent)
    elapsed = clock.monotonic() - started
    _refresh(stats, generator, pacer, emitted, elapsed)
    if observer is not None:
        observer(stats)
    span = (event_clock.latest - start_epoch) if emitted > 1 else 0.0
    if realtime:
        achieved = emitted / elapsed if elapsed > 0 else 0.0
    else:
        # Events per second of simulated time (the rate the data shows).
        achieved = (emitted - 1) / span if span > 0 else 0.0
    return Summary(
        generated=stats.generated,
        delivered=stats.delivered,
        dead_lettered=stats.dead_lettered,
        failed=stats.failed,
        elapsed_s=round(elapsed, 3),
        target_rate=settings.target_rate,
        achieved_rate=round(achieved, 3),
        event_types={name: int(c) for name, c in zip(EVENT_TYPES, stats.event_types, strict=True)},
        sink=the_sink.name,
        seed=settings.seed,
        clock=stats.clock,
        start=_iso(start_epoch),
        end=_iso(event_clock.latest),
        batches=stats.batches,
        bytes=stats.bytes_sent,
        stopped_by=stopped_by,
        error=error,
        dead_letter_path=str(dead.path) if dead.count else None,
    )


def _total_events(settings: Settings, count_before: Callable[[float], int]) -> int | None:
    limits: list[int] = []
    if settings.count is not None:
        limits.append(settings.count)
    if settings.duration_s is not None:
        limits.append(count_before(settings.duration_s))
    if settings.end is not None and settings.start is not None:
        limits.append(count_before(settings.end - settings.start))
    return min(limits) if limits else None


def _limit_name(settings: Settings) -> str:
    if settings.count is not None:
        return "count"
    if settings.duration_s is not None:
        return "duration"
    return "end"


def _refresh(
    stats: RunStats,
    generator: SessionGenerator,
    pacer: Pacer,
    emitted: int,
    elapsed: float,
) -> None:
    stats.elapsed_s = elapsed
    stats.active_sessions = generator.active_sessions
    stats.viewers = generator.active_slots
    stats.lag_s = pacer.lag_s(emitted)
    if stats.lag_s > 0.5:
        busy = stats.sink_seconds / max(elapsed, 1e-9)
        stats.pace = "sink-bound" if busy > 0.5 else "cpu-bound"
    else:
        stats.pace = "ok"

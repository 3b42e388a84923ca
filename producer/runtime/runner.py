"""The runner: generation -> encoding -> pacing -> batching -> sink -> stats.

The only async part of the pipeline besides the sinks. It owns no policy: every
setting arrives resolved in a :class:`~producer.config.settings.Settings`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from producer.config.settings import Settings
from producer.delivery.batching import Batcher
from producer.delivery.deadletter import DeadLetterFile
from producer.delivery.dispatch import CaptureLike, Dispatcher, ManifestLike, close_sink, settle, stop_reason
from producer.errors import SinkError
from producer.generation.data_faults import DataFaultInjector
from producer.generation.encode import encode_block
from producer.generation.schema import EVENT_TYPES
from producer.generation.sessions import SessionGenerator, SessionParams
from producer.generation.world import World, WorldConfig
from producer.runtime.clock import Clock, SystemClock
from producer.runtime.pacing import Pacer
from producer.runtime.stats import RunStats, Summary
from producer.sinks.base import Sink
from producer.sinks.registry import spec_of

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
    batcher: Batcher | None = None,
) -> Summary:
    """Run the producer until its count, duration or end is reached, or ``stop`` is set.

    ``sink`` is a sink, or a factory taking the run's :class:`EventClock` (so a
    lake written during a backfill is named after simulated time).
    """
    clock = clock or SystemClock()
    if world is None:
        base = settings.world or WorldConfig()
        world = World(
            dataclasses.replace(base, seed=settings.seed, accounts=settings.accounts, titles=settings.titles)
        )
    params = params or settings.session_params
    realtime = settings.start is None
    start_epoch = clock.epoch() if settings.start is None else settings.start
    schedule = settings.shape.bind(start_epoch)
    event_clock = EventClock(realtime=realtime, clock=clock, start=start_epoch)
    the_sink = sink if isinstance(sink, Sink) else sink(event_clock)
    stats = RunStats(
        sink=the_sink.name,
        seed=settings.seed,
        target_rate=settings.target_rate,
        clock="realtime" if realtime else "simulated",
    )
    dead = DeadLetterFile(settings.dead_letter)
    manifest: ManifestLike | None = None
    capture: CaptureLike | None = None
    stopped_by = "count"
    error: str | None = None
    emitted = 0
    total: int | None = None
    injector: DataFaultInjector | None = None
    generator: SessionGenerator | None = None
    pacer: Pacer | None = None
    started = clock.monotonic()
    try:
        # A local sink names its destination up front; a remote one once checked.
        stats.destination = str(getattr(the_sink, "destination", ""))
        opener = getattr(the_sink, "open", None)
        if opener is not None and settings.check:
            stats.destination = await opener()
        if settings.manifest is not None:
            from producer.delivery.manifest import ManifestWriter

            manifest = ManifestWriter(settings.manifest, clock=stats.clock)
        generator = SessionGenerator(world, schedule, seed=settings.seed, params=params)
        generator.prepare()
        if realtime:
            # Anchor the schedule now, after the set-up, so the first events are on time.
            start_epoch = clock.epoch()
            schedule = settings.shape.bind(start_epoch)
            generator.rebase(schedule)
            event_clock.latest = start_epoch
        total = _total_events(settings, schedule.count_before)
        pacer = Pacer(schedule, clock, speed=1.0 if realtime else settings.speed, tick_s=settings.tick_s)
        if batcher is None:
            from producer.sinks.registry import batcher_for

            batcher = batcher_for(settings)
        # Remote calls overlap; local sinks keep their buffers in order with one call at a time.
        spec = spec_of(the_sink.name)
        in_flight = settings.max_in_flight if spec.concurrent else 1
        if settings.capture is not None:
            from producer import __version__
            from producer.delivery.capture import CaptureHeader, CaptureWriter

            capture = CaptureWriter(
                settings.capture,
                CaptureHeader(
                    producer_version=__version__,
                    scenario=settings.scenario,
                    seed=settings.seed,
                    clock=stats.clock,
                    start=_iso(start_epoch),
                    start_epoch=start_epoch,
                ),
            )
        anchor = start_epoch
        delivery = Dispatcher(
            the_sink, stats, dead, clock, manifest, in_flight,
            capture=capture, offset=lambda: event_clock.latest - anchor,
            packed=batcher.pack_bytes is not None, billing_unit=spec.billing_unit,
        )  # fmt: skip
        started = clock.monotonic()
        last_observed = -math.inf
        if settings.data_faults is not None and settings.data_faults.active:
            injector = DataFaultInjector(settings.data_faults, settings.seed)
        records: list[bytes] = []
        groups: list[list[tuple[bytes, int]]] = []
        types = np.zeros(0, dtype=np.int8)
        stamps = np.zeros(0, dtype=np.float64)
        taken = 0
        try:
            while total is None or emitted < total:
                if stop is not None and stop.is_set():
                    stopped_by = "interrupt"
                    break
                due = await pacer.wait_due(emitted)
                if total is not None:
                    due = min(due, total)
                while emitted < due:
                    if taken >= len(stamps):
                        block = generator.next_block()
                        records = encode_block(block)
                        types = block.event_type
                        stamps = block.event_ts
                        if injector is not None:
                            groups = injector.apply(records, stamps, types)
                        taken = 0
                    n = min(due - emitted, len(stamps) - taken)
                    if injector is None:
                        chunk = records if n == len(records) else records[taken : taken + n]
                        stats.event_types += np.bincount(types[taken : taken + n], minlength=len(EVENT_TYPES))
                    else:
                        # Each event's group: itself, nothing (held back), or more (copies).
                        picked = [item for group in groups[taken : taken + n] for item in group]
                        chunk = [record for record, _ in picked]
                        kinds = np.fromiter((t for _, t in picked), dtype=np.int64, count=len(picked))
                        stats.event_types += np.bincount(kinds, minlength=len(EVENT_TYPES))
                    event_clock.latest = float(stamps[taken + n - 1])
                    taken += n
                    emitted += n
                    stats.generated += len(chunk)
                    await delivery.submit_all(batcher, chunk, clock.monotonic())
                    if pacer.speed is None and stop is not None and stop.is_set():
                        break
                # Flush a partial batch whose linger ends before the next tick, rather
                # than a tick late.
                if batcher.expired(clock.monotonic() + pacer.tick_s / 2):
                    await delivery.submit(batcher.drain())
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
            if injector is not None:
                # Records still held back (out of order, delayed copies) go out now.
                held, held_types = injector.flush()
                stats.generated += len(held)
                stats.event_types += np.bincount(
                    np.asarray(held_types, dtype=np.int64), minlength=len(EVENT_TYPES)
                )
                await delivery.submit_all(batcher, held, clock.monotonic())
            await delivery.finish(batcher)
        except SinkError as exc:
            error, stopped_by = stop_reason(exc)
            logger.debug("sink failed", exc_info=True)
            await delivery.abandon(batcher)
    except SinkError as exc:  # the start-up check failed: nothing was sent
        error, stopped_by = stop_reason(exc)
    finally:
        close_error = await close_sink(the_sink, stats)
        if close_error is not None and error is None:
            error, stopped_by = close_error, "error"
        dead.close()
        if manifest is not None:
            manifest.close()
        if capture is not None:
            capture.close()

    settle(stats)
    elapsed = clock.monotonic() - started
    if generator is not None and pacer is not None:
        _refresh(stats, generator, pacer, emitted, elapsed)
    if observer is not None:
        observer(stats)
    span = (event_clock.latest - start_epoch) if emitted > 1 else 0.0
    if realtime:
        achieved = emitted / elapsed if elapsed > 0 else 0.0
    else:
        # Events per second of simulated time (the rate the data shows).
        achieved = (emitted - 1) / span if span > 0 else 0.0
    return stats.summary(
        elapsed_s=elapsed,
        achieved_rate=achieved,
        start=_iso(start_epoch),
        end=_iso(event_clock.latest),
        stopped_by=stopped_by,
        error=error,
        dead_letter_path=str(dead.path) if dead.count else None,
        faults=dict(injector.counts) if injector is not None else None,
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
    stats: RunStats, generator: SessionGenerator, pacer: Pacer, emitted: int, elapsed: float
) -> None:
    stats.elapsed_s = elapsed
    stats.active_sessions = generator.active_sessions
    stats.viewers = generator.active_slots
    stats.lag_s = pacer.lag_s(emitted)
    throttling = stats.throttled > stats._throttled_seen
    stats._throttled_seen = stats.throttled
    if stats.lag_s > 0.5:
        if throttling:
            stats.pace = "quota-bound"
        else:
            busy = stats.sink_seconds / max(elapsed, 1e-9)
            stats.pace = "sink-bound" if busy > 0.5 else "cpu-bound"
    else:
        stats.pace = "ok"

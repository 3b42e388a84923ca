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

import numpy as np

from producer.config.settings import Settings
from producer.delivery.batching import Batcher
from producer.delivery.deadletter import DeadLetterFile
from producer.delivery.dispatch import CaptureLike, Dispatcher, ManifestLike, close_sink, settle, stop_reason
from producer.delivery.send_rate import SendRate
from producer.errors import SinkError
from producer.generation.data_faults import DataFaultInjector
from producer.generation.encode import encode_block
from producer.generation.schema import EVENT_TYPES
from producer.generation.sessions import SessionGenerator, SessionParams
from producer.generation.world import World, WorldConfig
from producer.runtime.clock import Clock, EventClock, SystemClock, utc_iso
from producer.runtime.pacing import Pacer
from producer.runtime.stats import Observer, RunStats, Summary
from producer.runtime.timeline import Timeline
from producer.sinks.base import Sink
from producer.sinks.registry import spec_of

__all__ = ["REALTIME_LEAD_S", "EventClock", "Observer", "RunOutputs", "run"]

#: How far a realtime run's events run ahead of the wire: each event is sent about
#: this long after it happened (a player's buffer), never before.
REALTIME_LEAD_S = 0.5
#: The most event time handed on to the sink at once.
CHUNK_SPAN_S = 1.0

logger = logging.getLogger(__name__)


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
    the_run = _Run(settings, sink, clock, observer, observe_every_s)
    try:
        try:
            await the_run.open_outputs()
            generation = the_run.prepare(world, params or settings.session_params, batcher)
            sampler = the_run.start_sampling(generation)
            try:
                await the_run.generate(generation, stop)
                await the_run.finish(generation)
            except SinkError as exc:
                the_run.failed(exc)
                logger.debug("sink failed", exc_info=True)
                await generation.delivery.abandon(generation.batcher)
            finally:
                if sampler is not None:
                    sampler.cancel()
        except SinkError as exc:  # the start-up check failed: nothing was sent
            the_run.failed(exc)
    finally:
        await the_run.close()
    return the_run.summary()


class _Events:
    """The generated events, block by block, cut at the run's limit, with the data faults applied.

    ``limit`` ends the run after that many events, ``until`` before the first event
    at or after that time (both in generation order, so the same whatever the pace).
    """

    def __init__(
        self,
        generator: SessionGenerator,
        injector: DataFaultInjector | None,
        stats: RunStats,
        *,
        limit: int | None = None,
        until: float | None = None,
    ) -> None:
        self.generator = generator
        self.injector = injector
        self._stats = stats
        self._limit = limit
        self._until = until
        #: The run's event count limit, if it has one.
        self.limit = limit
        self._records: list[bytes] = []
        self._groups: list[list[tuple[bytes, int]]] = []
        self._types = np.zeros(0, dtype=np.int8)
        self._stamps = np.zeros(0, dtype=np.float64)
        self._taken = 0
        self._seen = 0
        self._last_block = False
        self.last_stamps = self._stamps
        #: True once the last event of the run has been taken.
        self.done = limit == 0
        #: Which limit ended the run: "limit" (a count) or "until" (a time).
        self.ended_by = "limit"

    def _next_block(self) -> None:
        block = self.generator.next_block()
        n = len(block)
        if self._limit is not None:
            n = min(n, self._limit - self._seen)
        if self._until is not None:
            n = min(n, int(np.searchsorted(block.event_ts, self._until, side="left")))
        by_limit = self._limit is not None and self._seen + n >= self._limit
        last = n < len(block) or by_limit
        if last:
            self.ended_by = "limit" if by_limit else "until"
        if n < len(block):
            block = block.cut(n)
        self._seen += n
        self._records = encode_block(block)
        self._types = block.event_type
        self._stamps = block.event_ts
        if self.injector is not None:
            self._groups = self.injector.apply(self._records, self._stamps, self._types)
        self._taken = 0
        self._last_block = last

    def take(
        self, wanted: int, not_after: float = math.inf, *, span_s: float = math.inf
    ) -> tuple[list[bytes], int, float]:
        """Up to ``wanted`` events from the current block (a new one if it is used up), none
        that happens after ``not_after`` nor more than ``span_s`` after the first: the
        records to send, how many events they stand for, and the last one's time (``nan``
        when none was taken).

        A chunk never spans two blocks, so the batches a run sends depend only on
        the schedule, never on how the events were generated.
        """
        if self._taken >= len(self._stamps):
            self._next_block()
        taken = self._taken
        n = min(wanted, len(self._stamps) - taken)
        if n and span_s < math.inf:
            not_after = min(not_after, float(self._stamps[taken]) + span_s)
        if not_after < math.inf and n and self._stamps[taken + n - 1] > not_after:
            n = int(np.searchsorted(self._stamps[taken : taken + n], not_after, side="right"))
        if self.injector is None:
            chunk = self._records if n == len(self._records) else self._records[taken : taken + n]
            self._stats.event_types += np.bincount(self._types[taken : taken + n], minlength=len(EVENT_TYPES))
        else:
            # Each event's group: itself, nothing (held back), or more (copies).
            picked = [item for group in self._groups[taken : taken + n] for item in group]
            chunk = [record for record, _ in picked]
            kinds = np.fromiter((t for _, t in picked), dtype=np.int64, count=len(picked))
            self._stats.event_types += np.bincount(kinds, minlength=len(EVENT_TYPES))
        #: The times of the events just taken.
        self.last_stamps = self._stamps[taken : taken + n]
        self._taken += n
        self._stats.generated += len(chunk)
        if self._last_block and self._taken >= len(self._stamps):
            self.done = True
        return chunk, n, float(self._stamps[taken + n - 1]) if n else math.nan

    def held(self) -> list[bytes]:
        """The records still held back (out of order, delayed copies), counted as generated."""
        if self.injector is None:
            return []
        held, held_types = self.injector.flush()
        self._stats.generated += len(held)
        self._stats.event_types += np.bincount(
            np.asarray(held_types, dtype=np.int64), minlength=len(EVENT_TYPES)
        )
        return held


@dataclasses.dataclass(frozen=True, slots=True)
class _Generation:
    """What the generation loop works with, built once the outputs are open."""

    events: _Events
    pacer: Pacer
    batcher: Batcher
    delivery: Dispatcher


class RunOutputs:
    """What a run and a replay share along the flow: the sink with its stats and dead
    letters, checking and closing it, showing the stats, and how the flow ended."""

    def __init__(
        self,
        settings: Settings,
        sink: Sink,
        clock: Clock,
        stats: RunStats,
        observer: Observer | None,
        observe_every_s: float,
        *,
        stopped_by: str,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.clock = clock
        self.stats = stats
        self.observer = observer
        self.observe_every_s = observe_every_s
        self.dead = DeadLetterFile(settings.dead_letter)
        self.stopped_by = stopped_by
        self.error: str | None = None
        self.started = clock.monotonic()
        self._last_observed = -math.inf
        self.timeline = Timeline()

    def sample_every_row(self, row: Callable[[float], None]) -> asyncio.Task[None] | None:
        """On the system clock, a task calling ``row(elapsed)`` whenever a row of the
        timeline ends, also while the flow waits on its sink (the flow's loop calls it too,
        and on a test's clock, whose sleeps move time, only the loop does)."""
        if not isinstance(self.clock, SystemClock):
            return None

        async def sample() -> None:
            while True:
                await asyncio.sleep(
                    max(self.timeline.next_due - (self.clock.monotonic() - self.started), 0.01)
                )
                elapsed = self.clock.monotonic() - self.started
                if self.timeline.due(elapsed):
                    row(elapsed)

        return asyncio.create_task(sample())

    async def check_sink(self) -> None:
        """Open the sink when the settings ask for its start-up check, naming its destination."""
        opener = getattr(self.sink, "open", None)
        if opener is not None and self.settings.check:
            self.stats.destination = await opener()

    def dispatcher(
        self,
        manifest: ManifestLike | None = None,
        *,
        capture: CaptureLike | None = None,
        offset: Callable[[], float] | None = None,
        packed: bool = False,
    ) -> Dispatcher:
        """The dispatcher to this sink, with as many calls in flight as the sink takes."""
        # Remote calls overlap; local sinks keep their buffers in order with one call at a time.
        # A stream sink's batches outnumber its calls (its outbox counts what is not settled):
        # while some wait for a few records to be resent, the calls carry the next ones;
        # what waits is two rounds of full calls.
        spec = spec_of(self.sink.name)
        calls = self.settings.max_in_flight if spec.concurrent else 1
        outbox = spec.concurrent and hasattr(self.sink, "backlog")
        return Dispatcher(
            self.sink, self.stats, self.dead, self.clock, manifest, 8 * calls if outbox else calls,
            capture=capture, offset=offset, packed=packed, billing_unit=spec.billing_unit,
            max_backlog=2 * calls * spec.limits.max_records if outbox else None,
        )  # fmt: skip

    def observe_due(self, now: float) -> bool:
        """Whether the observer wants the stats now (at most once per ``observe_every_s``)."""
        if self.observer is None or now - self._last_observed < self.observe_every_s:
            return False
        self._last_observed = now
        return True

    def show(self) -> None:
        """Hand the stats to the observer, if there is one."""
        if self.observer is not None:
            self.observer(self.stats)

    def failed(self, exc: SinkError) -> None:
        """Record why the sink stopped the flow."""
        self.error, self.stopped_by = stop_reason(exc)

    async def close(self) -> None:
        """Close the sink and the dead-letter file; a failing close fails the flow."""
        close_error = await close_sink(self.sink, self.stats)
        if close_error is not None and self.error is None:
            self.error, self.stopped_by = close_error, "error"
        self.dead.close()

    def track_send_rate(self) -> None:
        """Copy the stream's send rate into the stats, once it has paced the calls."""
        rate = getattr(self.sink, "rate", None)
        if not isinstance(rate, SendRate) or not rate.cuts:
            return
        self.stats.send_limited = rate.active
        if rate.active:
            accepting_bytes, accepting_records = rate.accepting()
            self.stats.send_rate["accepting_bytes_per_s"] = round(accepting_bytes, 1)
            self.stats.send_rate["accepting_records_per_s"] = round(accepting_records, 1)
        self.stats.send_rate["cuts"] = rate.cuts
        self.stats.send_rate["background_throttled"] = round(rate.background, 3)

    def settle(self) -> float:
        """Settle the counters at the end; the seconds the flow took."""
        self.track_send_rate()
        settle(self.stats)
        return self.clock.monotonic() - self.started

    @property
    def dead_letter_path(self) -> str | None:
        """The dead-letter file, if anything went there."""
        return str(self.dead.path) if self.dead.count else None


class _Run(RunOutputs):
    """One run's state along the flow: outputs, generation loop, closing and summary."""

    def __init__(
        self,
        settings: Settings,
        sink: Sink | Callable[[EventClock], Sink],
        clock: Clock,
        observer: Observer | None,
        observe_every_s: float,
    ) -> None:
        self.realtime = settings.start is None
        self.start_epoch = clock.epoch() if settings.start is None else settings.start
        self.schedule = settings.shape.bind(self.start_epoch)
        self.event_clock = EventClock(realtime=self.realtime, clock=clock, start=self.start_epoch)
        the_sink = sink if isinstance(sink, Sink) else sink(self.event_clock)
        stats = RunStats(
            sink=the_sink.name,
            seed=settings.seed,
            target_rate=settings.target_rate,
            clock="realtime" if self.realtime else "simulated",
        )
        super().__init__(settings, the_sink, clock, stats, observer, observe_every_s, stopped_by="count")
        self.manifest: ManifestLike | None = None
        self.capture: CaptureLike | None = None
        self.generation: _Generation | None = None
        self.emitted = 0

    async def open_outputs(self) -> None:
        """Check the sink and open the manifest (the capture waits for the start time)."""
        # A local sink names its destination up front; a remote one once checked.
        self.stats.destination = str(getattr(self.sink, "destination", ""))
        await self.check_sink()
        if self.settings.manifest is not None:
            from producer.delivery.manifest import ManifestWriter

            self.manifest = ManifestWriter(self.settings.manifest, clock=self.stats.clock)

    def prepare(self, world: World, params: SessionParams | None, batcher: Batcher | None) -> _Generation:
        """Build the generator, pacer, batcher and dispatcher, and open the capture."""
        settings = self.settings
        # In real time each event is sent a little after it happened (a player's
        # buffer), never before: the viewers run ahead of the wire by the lead.
        lead = REALTIME_LEAD_S if self.realtime else 0.0
        generator = SessionGenerator(world, self.schedule, seed=settings.seed, params=params, lead_s=lead)
        generator.prepare()
        if self.realtime:
            # Anchor the schedule now, after the set-up, so the first events are on time.
            self.start_epoch = self.clock.epoch()
            self.schedule = settings.shape.bind(self.start_epoch)
            generator.rebase(self.schedule)
            self.event_clock.latest = self.start_epoch
        limit, until = _limits(settings, self.schedule.count_before)
        self.timeline = self._timeline()
        if self.realtime and limit:
            self.timeline.planned_end_s = round(float(self.schedule.offsets(limit - 1, 1)[0]), 3)
        speed = 1.0 if self.realtime else settings.speed
        pacer = Pacer(self.schedule, self.clock, speed=speed, tick_s=settings.tick_s)
        if batcher is None:
            from producer.sinks.registry import batcher_for

            batcher = batcher_for(settings)
        self._open_capture()
        anchor = self.start_epoch
        delivery = self.dispatcher(
            self.manifest,
            capture=self.capture,
            offset=lambda: self.event_clock.latest - anchor,
            packed=batcher.pack_bytes is not None,
        )
        self.started = self.clock.monotonic()
        injector = None
        if settings.data_faults is not None and settings.data_faults.active:
            injector = DataFaultInjector(settings.data_faults, settings.seed)
        events = _Events(generator, injector, self.stats, limit=limit, until=until)
        self.generation = _Generation(events, pacer, batcher, delivery)
        return self.generation

    def _timeline(self) -> Timeline:
        """The run's timeline; a simulated run's also counts events per minute of event time."""
        if self.realtime:
            return Timeline()
        schedule, start = self.schedule, self.start_epoch

        def planned(t0: float, t1: float) -> float:
            return schedule.expected(t1 - start) - schedule.expected(t0 - start)

        return Timeline(event_origin=start, planned=planned)

    def start_sampling(self, gen: _Generation) -> asyncio.Task[None] | None:
        """Rows of the timeline on time also while the run waits on its sink."""
        return self.sample_every_row(lambda elapsed: self._row(gen, elapsed))

    def _row(self, gen: _Generation, elapsed: float) -> None:
        self._refresh(gen, elapsed)
        self.sample_timeline(gen, elapsed)

    def sample_timeline(self, gen: _Generation, elapsed: float) -> None:
        """End the timeline's row under way."""
        offset = self.event_clock.latest - self.start_epoch
        self.timeline.sample(
            elapsed,
            self.stats,
            target_rate=self.schedule.rate_at(max(offset, 0.0)),
            in_flight=gen.delivery.in_flight,
        )

    def _open_capture(self) -> None:
        settings = self.settings
        if settings.capture is None:
            return
        from producer import __version__
        from producer.delivery.capture import CaptureHeader, CaptureWriter

        self.capture = CaptureWriter(
            settings.capture,
            CaptureHeader(
                producer_version=__version__,
                scenario=settings.scenario,
                seed=settings.seed,
                clock=self.stats.clock,
                start=utc_iso(self.start_epoch),
                start_epoch=self.start_epoch,
            ),
        )

    async def generate(self, gen: _Generation, stop: asyncio.Event | None) -> None:
        """Send events as they fall due until the run's limit, or until ``stop`` is set."""
        pacer, batcher, delivery, events = gen.pacer, gen.batcher, gen.delivery, gen.events
        while not events.done:
            if stop is not None and stop.is_set():
                self.stopped_by = "interrupt"
                return
            due = await pacer.wait_due(self.emitted)
            # In real time an event is never sent before it happened.
            not_after = self.clock.epoch() if self.realtime else math.inf
            while self.emitted < due and not events.done:
                # A simulated run hands on at most a second of event time at once, so a
                # sink that buffers by (simulated) time cuts its objects where AWS would.
                chunk, n, latest = events.take(due - self.emitted, not_after, span_s=CHUNK_SPAN_S)
                if n == 0:
                    break
                self.event_clock.latest = latest
                self.emitted += n
                now = self.clock.monotonic()
                if self.realtime:
                    self.stats.event_lag.add((not_after - events.last_stamps) * 1000.0)
                else:
                    self.timeline.add_event_times(events.last_stamps)
                await delivery.submit_all(batcher, chunk, now)
                if pacer.speed is None and stop is not None and stop.is_set():
                    break
            # Flush a partial batch whose linger ends before the next tick, rather
            # than a tick late.
            if batcher.expired(self.clock.monotonic() + pacer.tick_s / 2):
                await delivery.submit(batcher.drain())
            now = self.clock.monotonic()
            if self.timeline.due(now - self.started):
                self._row(gen, now - self.started)
            if self.observe_due(now):
                self._refresh(gen, now - self.started)
                self.show()
            if pacer.speed is None:
                # Let signal handlers and other tasks run between bursts.
                await asyncio.sleep(0)
        self.stopped_by = _limit_name(self.settings, events.ended_by, events.limit)

    async def finish(self, gen: _Generation) -> None:
        """Send the records the data faults held back, then every partial batch."""
        held = gen.events.held()
        if gen.events.injector is not None:
            await gen.delivery.submit_all(gen.batcher, held, self.clock.monotonic())
        await gen.delivery.finish(gen.batcher)

    async def close(self) -> None:
        """Close the sink and every output file; a failing close fails the run."""
        await super().close()
        if self.manifest is not None:
            self.manifest.close()
        if self.capture is not None:
            self.capture.close()

    def _refresh(self, gen: _Generation, elapsed: float) -> None:
        generator = gen.events.generator
        self.stats.active_sessions = generator.active_sessions
        self.stats.viewers = generator.active_slots
        self.stats.activity = max(self.stats.activity, generator.activity)
        self.track_send_rate()
        self.stats.update_pace(elapsed_s=elapsed, lag_s=gen.pacer.lag_s(self.emitted))

    def summary(self) -> Summary:
        """Settle the counters, show them a last time and build the summary."""
        elapsed = self.settle()
        if self.generation is not None:
            self._refresh(self.generation, elapsed)
            # The last row: the counters settled, so the rows add up to the totals.
            self.sample_timeline(self.generation, elapsed)
        self.show()
        emitted = self.emitted
        span = (self.event_clock.latest - self.start_epoch) if emitted > 1 else 0.0
        if self.realtime:
            achieved = emitted / elapsed if elapsed > 0 else 0.0
        else:
            # Events per second of simulated time (the rate the data shows).
            achieved = (emitted - 1) / span if span > 0 else 0.0
        injector = self.generation.events.injector if self.generation is not None else None
        summary = self.stats.summary(
            elapsed_s=elapsed,
            achieved_rate=achieved,
            start=utc_iso(self.start_epoch),
            end=utc_iso(self.event_clock.latest),
            stopped_by=self.stopped_by,
            error=self.error,
            dead_letter_path=self.dead_letter_path,
            faults=dict(injector.counts) if injector is not None else None,
        )
        return dataclasses.replace(summary, timeline=self.timeline.to_dict())


def _limits(settings: Settings, count_before: Callable[[float], int]) -> tuple[int | None, float | None]:
    """The run's event count limit and event-time limit (None: no such limit).

    A simulated run ends where its event time does; a realtime one after as many
    events as the schedule sends in its duration, so the wire rate is exact.
    """
    limits: list[int] = []
    if settings.count is not None:
        limits.append(settings.count)
    until: float | None = None
    if settings.start is None:
        if settings.duration_s is not None:
            limits.append(count_before(settings.duration_s))
    else:
        ends = [settings.start + settings.duration_s] if settings.duration_s is not None else []
        if settings.end is not None:
            ends.append(settings.end)
        until = min(ends) if ends else None
    return (min(limits) if limits else None), until


def _limit_name(settings: Settings, ended_by: str, limit: int | None) -> str:
    """The limit that ended the run, by its option: count, duration or end."""
    if ended_by == "until":  # a simulated run reached its end time
        assert settings.start is not None
        if settings.end is not None and (
            settings.duration_s is None or settings.end <= settings.start + settings.duration_s
        ):
            return "end"
        return "duration"
    # A count: --count, or a realtime run's duration as a count on the schedule.
    return "count" if settings.count is not None and limit == settings.count else "duration"

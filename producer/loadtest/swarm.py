"""The library side of a locust swarm (the library never imports locust).

A swarm is one or many worker processes. Each worker gets its own share, derived
from the scenario's seed and the worker's index: its own session seed and its own
range of user ids (the same catalog and population shape, shifted), so the union
of a paced swarm is reproducible from (seed, number of workers) and no two workers
ever speak for the same viewer. An unpaced worker steers its viewers to the pace it
keeps, so that its events stay near the wall clock (``follow``).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from producer.config.settings import Settings
from producer.delivery.batching import Batcher
from producer.generation.data_faults import DataFaultInjector
from producer.generation.encode import encode_block
from producer.generation.sessions import SessionGenerator
from producer.generation.world import World, WorldConfig
from producer.sinks.base import BatchResult
from producer.sinks.registry import FIREHOSE_LIMITS, KINESIS_LIMITS

__all__ = ["SwarmCounters", "WorkerShare", "swarm_batcher", "worker_seed"]

_EVENT_TS = re.compile(rb'"event_ts":([0-9.]+)')

#: The first user_id of worker 0.
USER_ID_BASE = 10_000_000


def worker_seed(seed: int, worker_index: int) -> int:
    """The session seed of one worker, derived from the swarm's seed."""
    return int(np.random.SeedSequence([seed, worker_index, 0x5A4D]).generate_state(1)[0])


class WorkerShare:
    """One worker's stream of encoded records: its own sessions over its own viewers."""

    def __init__(
        self,
        settings: Settings,
        worker_index: int,
        *,
        nominal_rate: float,
        start: float | None = None,
        follow: Callable[[], float] | None = None,
    ) -> None:
        """``follow``: a clock (epoch seconds) to keep the events' ``event_ts`` near, for a
        worker that sends as fast as it can. Its viewers are then steered to the pace the
        worker keeps (measured on that clock) rather than to ``nominal_rate``, so what it
        sends depends on how fast it sends: reproducible only when paced. Not when the
        scenario gives a rate shape: the viewers follow that."""
        base = settings.world or WorldConfig()
        self.worker_index = worker_index
        self.user_ids = (
            USER_ID_BASE + worker_index * settings.accounts,
            USER_ID_BASE + (worker_index + 1) * settings.accounts,
        )
        world = World(
            dataclasses.replace(
                base,
                seed=settings.seed,  # the same catalog and population shape on every worker
                accounts=settings.accounts,
                titles=settings.titles,
                user_id_base=self.user_ids[0],
            )
        )
        self.seed = worker_seed(settings.seed, worker_index)
        anchor = (
            settings.start if settings.start is not None else (start if start is not None else time.time())
        )
        from producer.runtime.rate import constant

        shape = settings.shape if settings.shape.kind != "constant" else constant(nominal_rate)
        self.generator = SessionGenerator(
            world,
            shape.bind(anchor),
            seed=self.seed,
            params=settings.session_params,
            # A worker that follows a clock steers its viewers about once a second.
            max_window_s=self.STEER_EVERY_S if follow is not None else None,
        )
        self.generator.prepare()
        faults = settings.data_faults
        self.injector = DataFaultInjector(faults, self.seed) if faults is not None and faults.active else None
        self._records: list[bytes] = []
        self._taken = 0
        # A scenario's own shape (a ramp, the daily curve) is what the viewers follow.
        self._follow = follow if settings.shape.kind == "constant" else None
        self._rate = nominal_rate
        self._handed = 0
        self._latest = anchor
        self._steered_at = follow() if follow is not None else 0.0
        self._steered_handed = 0

    def take(self, n: int) -> list[bytes]:
        """The next ``n`` records of this worker's stream."""
        while len(self._records) - self._taken < n:
            if self._follow is not None:
                self._steer(self._follow())
            block = self.generator.next_block()
            records = encode_block(block)
            if self.injector is not None:
                groups = self.injector.apply(records, block.event_ts, block.event_type)
                records = [r for g in groups for r, _ in g]
            self._records = self._records[self._taken :] + records
            self._taken = 0
        out = self._records[self._taken : self._taken + n]
        self._taken += n
        self._handed += len(out)
        if out and self._follow is not None:
            m = _EVENT_TS.search(out[-1])  # a faulty record may have none
            self._latest = float(m.group(1)) if m else self._latest
        return out

    #: How often (clock seconds) an unpaced worker re-measures its pace, and how fast a
    #: lag of the events behind the clock is made up.
    STEER_EVERY_S = 1.0
    CATCH_UP_S = 10.0

    def _steer(self, now: float) -> None:
        """Steer the viewers to the pace records were handed out at, so that their event
        time moves with ``now``, making up a lag (or a lead) over ``CATCH_UP_S``."""
        elapsed = now - self._steered_at
        if elapsed < self.STEER_EVERY_S:
            return
        pace = (self._handed - self._steered_handed) / elapsed
        self._steered_at, self._steered_handed = now, self._handed
        behind = now - self._latest
        # Event time moves pace/rate seconds per second of the clock: a rate below the
        # pace moves it faster (catching up), above it slower.
        rate = max(pace * min(max(1.0 - behind / self.CATCH_UP_S, 0.5), 2.0), 1.0)
        if abs(rate / self._rate - 1.0) > 0.05:
            schedule = self.generator.schedule
            schedule.hold_from(self.generator.window_start - schedule.start, rate)
            self._rate = rate


@dataclass(slots=True)
class SwarmCounters:
    """Records accepted, retried, throttled and dead-lettered, and calls, of a worker or a swarm."""

    batches: int = 0
    records: int = 0
    accepted: int = 0
    retried: int = 0
    throttled: int = 0
    dead_lettered: int = 0
    calls: int = 0
    failed_batches: int = 0
    by_worker: dict[str, dict[str, int]] = field(default_factory=dict)

    _FIELDS = (
        "batches",
        "records",
        "accepted",
        "retried",
        "throttled",
        "dead_lettered",
        "calls",
        "failed_batches",
    )

    def add(self, records: int, result: BatchResult) -> None:
        self.batches += 1
        self.records += records
        self.accepted += result.delivered
        self.retried += result.retried
        self.throttled += result.throttled
        self.dead_lettered += len(result.failures)
        self.calls += result.calls
        self.failed_batches += bool(result.failures)

    def totals(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in self._FIELDS}

    def take_delta(self, last: dict[str, int]) -> dict[str, int]:
        """What changed since ``last`` (updated in place): what a worker reports to the master."""
        now = self.totals()
        delta = {k: now[k] - last.get(k, 0) for k in now}
        last.update(now)
        return delta

    def merge(self, worker: str, delta: dict[str, int]) -> None:
        """Add a worker's report (on the master)."""
        mine = self.by_worker.setdefault(worker, dict.fromkeys(self._FIELDS, 0))
        for k, v in delta.items():
            if k in mine:
                mine[k] += int(v)
                setattr(self, k, getattr(self, k) + int(v))

    def to_dict(self) -> dict[str, Any]:
        return {**self.totals(), "workers": self.by_worker}


def swarm_batcher(kind: str, records_per_batch: int) -> Batcher:
    """A batcher with the limits of one PutRecords (``kind`` "kinesis") or PutRecordBatch call."""
    limits = KINESIS_LIMITS if kind == "kinesis" else FIREHOSE_LIMITS
    return Batcher(
        max_records=min(records_per_batch, limits.max_records),
        max_bytes=limits.max_bytes,
        max_record_bytes=limits.max_record_bytes - limits.key_bytes,
        hard_max_bytes=limits.max_bytes,
        hard_max_record_bytes=limits.max_record_bytes,
    )

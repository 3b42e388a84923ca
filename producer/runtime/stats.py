"""Run statistics: the live counters and the final summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from producer.generation.schema import EVENT_TYPES

__all__ = ["LatencyHistogram", "Observer", "RunStats", "Summary"]


class LatencyHistogram:
    """Call latencies in log-spaced buckets (0.01 ms .. 10 min, ~2 % wide): bounded memory."""

    _EDGES = np.geomspace(0.01, 600_000.0, 900)

    def __init__(self) -> None:
        self.counts = np.zeros(len(self._EDGES) + 1, dtype=np.int64)
        self.n = 0

    def add(self, latencies_ms: tuple[float, ...] | list[float] | npt.NDArray[np.float64]) -> None:
        if len(latencies_ms):
            idx = np.searchsorted(self._EDGES, latencies_ms)
            np.add.at(self.counts, idx, 1)
            self.n += len(latencies_ms)

    @property
    def edges(self) -> npt.NDArray[np.float64]:
        """The buckets' upper edges, in ms."""
        return self._EDGES

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0-100), as the upper edge of its bucket; None when empty."""
        if self.n == 0:
            return None
        rank = max(1, int(np.ceil(q / 100.0 * self.n)))
        i = int(np.searchsorted(np.cumsum(self.counts), rank))
        return float(self._EDGES[min(i, len(self._EDGES) - 1)])

    def summary(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for q in (50, 95, 99):
            v = self.percentile(q)
            out[f"p{q}"] = None if v is None else round(v, 2)
        return out


@dataclass(slots=True)
class RunStats:
    """Counters updated by the runner while a run goes; read by the live view."""

    sink: str
    seed: int
    target_rate: float
    clock: str
    generated: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    failed: int = 0
    batches: int = 0
    records_sent: int = 0
    bytes_sent: int = 0
    billed_bytes: int = 0
    event_types: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(len(EVENT_TYPES), dtype=np.int64)
    )
    elapsed_s: float = 0.0
    schedule_s: float = 0.0
    active_sessions: int = 0
    viewers: int = 0
    lag_s: float = 0.0
    sink_seconds: float = 0.0
    errors: int = 0
    retried: int = 0
    throttled: int = 0
    calls: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    #: Realtime: how long after it happened each event was sent, in ms.
    event_lag: LatencyHistogram = field(default_factory=LatencyHistogram)
    #: How many times more active than the reference the viewers are (see SessionGenerator.activity).
    activity: float = 1.0
    destination: str = ""
    #: The stream's send rate once it throttled (see SendRate): what it accepts, how often cut.
    send_rate: dict[str, float] = field(default_factory=dict)
    #: Whether the send rate paces the calls now.
    send_limited: bool = False
    _throttled_seen: int = 0
    #: "ok", "sink-bound", "quota-bound" or "cpu-bound": why the run is behind, if it is.
    pace: str = "ok"

    def update_pace(self, *, elapsed_s: float, lag_s: float) -> None:
        """Record the elapsed time and lag behind the schedule, and classify the pace.

        Behind by more than half a second, the run is quota-bound if the sink throttled
        since the last update or its send rate paces the calls, sink-bound if the sink
        took most of the time, else cpu-bound (generation cannot keep up).
        """
        self.elapsed_s = elapsed_s
        self.lag_s = lag_s
        throttling = self.throttled > self._throttled_seen or self.send_limited
        self._throttled_seen = self.throttled
        if lag_s > 0.5:
            if throttling:
                self.pace = "quota-bound"
            else:
                busy = self.sink_seconds / max(elapsed_s, 1e-9)
                self.pace = "sink-bound" if busy > 0.5 else "cpu-bound"
        else:
            self.pace = "ok"

    def summary(
        self,
        *,
        elapsed_s: float,
        achieved_rate: float,
        start: str,
        end: str,
        stopped_by: str,
        error: str | None,
        dead_letter_path: str | None,
        event_types: dict[str, int] | None = None,
        faults: dict[str, int] | None = None,
    ) -> Summary:
        """The final :class:`Summary` of these counters."""
        return Summary(
            generated=self.generated,
            delivered=self.delivered,
            accepted=self.delivered,
            dead_lettered=self.dead_lettered,
            failed=self.failed,
            elapsed_s=round(elapsed_s, 3),
            target_rate=self.target_rate,
            achieved_rate=round(achieved_rate, 3),
            event_types=(
                event_types
                if event_types is not None
                else {name: int(c) for name, c in zip(EVENT_TYPES, self.event_types, strict=True)}
            ),
            sink=self.sink,
            seed=self.seed,
            clock=self.clock,
            start=start,
            end=end,
            batches=self.batches,
            bytes=self.bytes_sent,
            records=self.records_sent,
            billed_bytes=self.billed_bytes,
            stopped_by=stopped_by,
            retried=self.retried,
            throttled=self.throttled,
            calls=self.calls,
            latency_ms=self.latency.summary(),
            event_lag_ms=self.event_lag.summary() if self.event_lag.n else {},
            activity=round(self.activity, 3),
            faults=faults or {},
            send_rate=dict(self.send_rate),
            destination=self.destination,
            error=error,
            dead_letter_path=dead_letter_path,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """What a run did, as confirmed by the sink. ``generated == delivered + dead_lettered + failed``.

    ``accepted`` is ``delivered`` under the name AWS uses.
    """

    generated: int
    delivered: int
    accepted: int
    dead_lettered: int
    failed: int
    elapsed_s: float
    target_rate: float
    achieved_rate: float
    event_types: dict[str, int]
    sink: str
    seed: int
    clock: str
    start: str
    end: str
    batches: int
    bytes: int
    stopped_by: str
    #: Records sent (fewer than events when packed) and billed bytes (Firehose: 5 KB units, Kinesis: 25 KB).
    records: int = 0
    billed_bytes: int = 0
    retried: int = 0
    throttled: int = 0
    calls: int = 0
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    #: Realtime runs: how long after it happened an event was sent (p50, p95, p99), in ms.
    event_lag_ms: dict[str, float | None] = field(default_factory=dict)
    #: 1 when the population gives the rate at reference behaviour; above 1, how many
    #: times more active than the reference viewers had to be (raise ``--accounts``).
    activity: float = 1.0
    #: Data faults injected, by name (what a downstream check should expect).
    faults: dict[str, int] = field(default_factory=dict)
    #: Stream sinks that throttled: what the stream accepted over the last second while the
    #: send rate paced the calls (bytes and records/s), its cuts, and the share of records
    #: throttled whatever the rate. Empty when the stream never throttled.
    send_rate: dict[str, float] = field(default_factory=dict)
    destination: str = ""
    error: str | None = None
    dead_letter_path: str | None = None
    #: What the run did second by second (see producer.runtime.timeline and docs/report.md).
    timeline: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready data."""
        return asdict(self)


#: Called with the live counters, at most every ``observe_every_s``.
Observer = Callable[[RunStats], None]

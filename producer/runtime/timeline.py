"""A run's timeline: what it did second by second, and, on a simulated clock, minute by
minute of event time against the planned shape.

Rows are kept per second of wall time. Memory is bounded: past ``max_rows`` rows,
neighbouring rows are merged in pairs and the step doubles (1 s, 2 s, 4 s ...), so a
run of a day keeps rows of 32 s and a run of a month rows of about 17 minutes, never
more than ``max_rows``. A merged row sums its counts, averages its rates, keeps the
larger p99 latency and in-flight count, and is quota- or sink-bound if either half was.
Event-time bins do the same past ``max_bins`` (a week of minutes).

The counts of all rows add up to the run's totals: the last row is taken when the run
is settled. The format (``Timeline.to_dict``) is columnar JSON, documented in
docs/report.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from producer.runtime.stats import LatencyHistogram, RunStats

__all__ = ["COUNTS", "Timeline"]

#: Counters kept per row, as the change since the row before.
COUNTS = (
    "generated",
    "accepted",
    "throttled",
    "retried",
    "dead_lettered",
    "failed",
    "calls",
    "bytes",
)
#: Values sampled at the end of each row.
_LEVELS = ("target_rate", "in_flight", "lag_s", "latency_p50_ms", "latency_p99_ms")
_FLAGS = ("quota_bound", "sink_bound")


def _stat(stats: RunStats, name: str) -> int:
    if name == "accepted":
        return stats.delivered
    if name == "bytes":
        return stats.bytes_sent
    return int(getattr(stats, name))


class _Bins:
    """Counts per bin of ``step`` seconds from ``origin``, merged in pairs past ``max_bins``."""

    def __init__(self, origin: float, step: float, max_bins: int) -> None:
        self.origin = origin
        self.step = step
        self.max_bins = max(2, max_bins)
        self.counts = np.zeros(0, dtype=np.int64)

    def add(self, times: npt.NDArray[np.float64]) -> None:
        if not len(times):
            return
        lo = max(int((float(times.min()) - self.origin) // self.step), 0)
        hi = max(int((float(times.max()) - self.origin) // self.step), 0)
        if lo == hi and hi < len(self.counts):  # a run's chunk is a second or less: one bin
            self.counts[lo] += len(times)
            return
        idx = np.floor((times - self.origin) / self.step).astype(np.int64)
        np.maximum(idx, 0, out=idx)
        top = int(idx.max()) + 1
        while top > self.max_bins:
            self._merge()
            idx //= 2
            top = int(idx.max()) + 1
        if top > len(self.counts):
            self.counts = np.concatenate([self.counts, np.zeros(top - len(self.counts), dtype=np.int64)])
        self.counts += np.bincount(idx, minlength=len(self.counts))

    def _merge(self) -> None:
        c = self.counts
        if len(c) % 2:
            c = np.append(c, 0)
        self.counts = c.reshape(-1, 2).sum(axis=1)
        self.step *= 2.0


class Timeline:
    """The rows of one run; fed by :meth:`sample` (often) and :meth:`add_event_times`."""

    def __init__(
        self,
        *,
        step_s: float = 1.0,
        max_rows: int = 3600,
        event_origin: float | None = None,
        event_step_s: float = 60.0,
        max_bins: int = 7 * 24 * 60,
        planned: Callable[[float, float], float] | None = None,
    ) -> None:
        """``event_origin``: the run's start in epoch seconds, for a simulated run whose
        events are counted per ``event_step_s`` of event time; ``planned(t0, t1)`` is the
        number of events the shape plans between two epoch times."""
        self.step_s = step_s
        self.max_rows = max(2, max_rows)
        self.columns: dict[str, list[float]] = {name: [] for name in ("t_s", *COUNTS, *_LEVELS, *_FLAGS)}
        self._last: dict[str, int] = dict.fromkeys(COUNTS, 0)
        self._latency = np.zeros(0, dtype=np.int64)
        self._next = step_s
        self._flags = dict.fromkeys(_FLAGS, 0)
        self._events = _Bins(event_origin, event_step_s, max_bins) if event_origin is not None else None
        self._planned = planned
        #: A realtime run with a count or a duration: when its last event is due, in
        #: seconds since the start (how long the run should take).
        self.planned_end_s: float | None = None
        self._latest_event = -math.inf

    def __len__(self) -> int:
        return len(self.columns["t_s"])

    @property
    def next_due(self) -> float:
        """When the row under way ends, in seconds since the start."""
        return self._next

    def due(self, elapsed_s: float) -> bool:
        """Whether a row ends at ``elapsed_s`` (seconds of wall time since the start)."""
        return elapsed_s >= self._next

    def note(self, stats: RunStats) -> None:
        """Remember the pace seen now for the row under way (sampled more often than rows end)."""
        if stats.pace == "quota-bound":
            self._flags["quota_bound"] = 1
        elif stats.pace == "sink-bound":
            self._flags["sink_bound"] = 1

    def sample(self, elapsed_s: float, stats: RunStats, *, target_rate: float, in_flight: int) -> None:
        """End the row under way at ``elapsed_s`` with the counters as they are now."""
        self.note(stats)
        cols = self.columns
        cols["t_s"].append(round(elapsed_s, 3))
        for name in COUNTS:
            now = _stat(stats, name)
            cols[name].append(now - self._last[name])
            self._last[name] = now
        p50, p99 = self._latency_since(stats.latency)
        cols["target_rate"].append(round(target_rate, 3))
        cols["in_flight"].append(in_flight)
        cols["lag_s"].append(round(max(stats.lag_s, 0.0), 3))
        cols["latency_p50_ms"].append(p50)
        cols["latency_p99_ms"].append(p99)
        for name in _FLAGS:
            cols[name].append(self._flags[name])
            self._flags[name] = 0
        self._next = (math.floor(elapsed_s / self.step_s) + 1) * self.step_s
        if len(self) > self.max_rows:
            self._merge()

    def add_event_times(self, times: npt.NDArray[np.float64]) -> None:
        """Count events by their ``event_ts`` (simulated runs)."""
        if self._events is not None and len(times):
            self._events.add(times)
            self._latest_event = max(self._latest_event, float(times.max()))

    def _latency_since(self, hist: LatencyHistogram) -> tuple[float, float]:
        """p50 and p99 of the calls that completed since the last row (NaN if none did)."""
        counts = hist.counts
        if len(self._latency) != len(counts):
            self._latency = np.zeros_like(counts)
        delta = counts - self._latency
        self._latency = counts.copy()
        n = int(delta.sum())
        if n == 0:
            return math.nan, math.nan
        cum = np.cumsum(delta)
        edges = hist.edges
        out = []
        for q in (50, 99):
            i = int(np.searchsorted(cum, max(1, math.ceil(q / 100.0 * n))))
            out.append(round(float(edges[min(i, len(edges) - 1)]), 2))
        return out[0], out[1]

    def _merge(self) -> None:
        """Merge neighbouring rows in pairs; the step doubles."""
        cols = self.columns
        n = len(self) // 2 * 2
        merged: dict[str, list[float]] = {}
        for name, values in cols.items():
            a, b = values[0:n:2], values[1:n:2]
            if name == "t_s":
                row = b
            elif name in COUNTS:
                row = [x + y for x, y in zip(a, b, strict=True)]
            elif name in ("in_flight", "latency_p99_ms", *_FLAGS):
                row = [_nanmax(x, y) for x, y in zip(a, b, strict=True)]
            else:
                row = [_nanmean(x, y) for x, y in zip(a, b, strict=True)]
            merged[name] = row + values[n:]
        self.columns = merged
        self.step_s *= 2.0

    def to_dict(self) -> dict[str, Any]:
        """The timeline as JSON-ready data (NaN, for no calls in a row, becomes null)."""
        rows = {name: [None if isinstance(v, float) and math.isnan(v) else v for v in values]
                for name, values in self.columns.items()}  # fmt: skip
        out: dict[str, Any] = {"step_s": self.step_s, "planned_end_s": self.planned_end_s, "rows": rows}
        if self._events is not None:
            bins = self._events
            starts = bins.origin + np.arange(len(bins.counts)) * bins.step
            # The last bin is planned up to the last event: a run that ends by count or
            # time within a bin asked for no more.
            end = self._latest_event
            planned = (
                [round(self._planned(t, min(t + bins.step, end)), 1) for t in starts]
                if self._planned is not None
                else None
            )
            out["event_time"] = {
                "origin": bins.origin,
                "step_s": bins.step,
                "events": bins.counts.tolist(),
                "planned": planned,
            }
        return out


def _nanmax(x: float, y: float) -> float:
    if isinstance(x, float) and math.isnan(x):
        return y
    if isinstance(y, float) and math.isnan(y):
        return x
    return max(x, y)


def _nanmean(x: float, y: float) -> float:
    if isinstance(x, float) and math.isnan(x):
        return y
    if isinstance(y, float) and math.isnan(y):
        return x
    return round((x + y) / 2.0, 3)

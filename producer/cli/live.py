"""The live view (rich) and the end-of-run summary table."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from typing import IO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from producer.generation.schema import EVENT_TYPES
from producer.runtime.stats import RunStats, Summary

__all__ = ["LiveView", "render_summary"]


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} TB"


def _rate(r: float) -> str:
    return f"{r:,.0f}/s" if r >= 100 else f"{r:,.1f}/s"


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


#: Why a run is behind, short enough for an 80-column terminal.
_PACE = {
    "ok": "[green]on schedule[/]",
    "sink-bound": "[red]sink-bound: sink too slow[/]",
    "quota-bound": "[red]quota-bound: throttled[/]",
    "cpu-bound": "[yellow]cpu-bound: generation too slow[/]",
}
_BAR_WIDTH = 24


_SPARK_WIDTH = 40
_BLOCKS = " ▁▂▃▄▅▆▇█"


def sparkline(values: Iterable[float], *, top: float = 0.0) -> str:
    """One character per value, from blank (0) to a full block (``top`` or the largest value)."""
    seen = list(values)
    peak = max([top, *seen]) or 1.0
    return "".join(_BLOCKS[min(round(max(v, 0.0) / peak * 8), 8)] for v in seen)


class LiveView:
    """A refreshing panel: target vs achieved rate, progress, events, sessions, batches, errors.

    ``total`` (the events a finite run will generate) adds a progress bar with an ETA.
    Every line fits an 80-column terminal.
    """

    def __init__(self, *, destination: str, file: IO[str] | None = None, total: int | None = None) -> None:
        self.destination = destination
        self.total = total
        self.console = Console(file=file, stderr=file is None)
        self._live = Live(console=self.console, refresh_per_second=4, transient=False)
        self._last: tuple[float, int] | None = None
        self._rate = 0.0
        #: The accepted rate of each of the last seconds, for the sparkline.
        self._history: deque[float] = deque(maxlen=_SPARK_WIDTH)
        self._second: tuple[float, int] | None = None

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def update(self, stats: RunStats) -> None:
        """Show the latest counters."""
        now = time.monotonic()
        if self._last is not None and now > self._last[0]:
            instant = (stats.generated - self._last[1]) / (now - self._last[0])
            self._rate = instant if self._rate == 0 else 0.7 * self._rate + 0.3 * instant
        self._last = (now, stats.generated)
        if self._second is None:
            self._second = (now, stats.delivered)
        elif now - self._second[0] >= 1.0:
            self._history.append((stats.delivered - self._second[1]) / (now - self._second[0]))
            self._second = (now, stats.delivered)
        self._live.update(self.render(stats), refresh=False)

    def render(self, s: RunStats) -> Table:
        """The panel for these counters (a rich renderable)."""
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold cyan", justify="right", no_wrap=True, min_width=8)
        t.add_column(no_wrap=True, overflow="ellipsis")
        t.add_row("producer", f"-> {s.destination or self.destination}")
        t.add_row("run", f"seed {s.seed}   {s.clock} clock   elapsed {_clock(s.elapsed_s)}")
        t.add_row("rate", f"target {_rate(s.target_rate)}  achieved {_rate(self._rate)}  {_PACE[s.pace]}")
        if self._history:
            t.add_row(
                "accepted",
                f"{sparkline(self._history, top=s.target_rate)}  per second, last {len(self._history)} s",
            )
        if self.total:
            done = min(s.generated / self.total, 1.0)
            filled = round(done * _BAR_WIDTH)
            bar = f"[green]{'━' * filled}[/][grey37]{'━' * (_BAR_WIDTH - filled)}[/]"
            eta = "-" if self._rate <= 0 else _clock((self.total - min(s.generated, self.total)) / self._rate)
            t.add_row("progress", f"{bar} {done * 100:3.0f}%  of {self.total:,}  ETA {eta}")
        if s.lag_s > 0.5:
            t.add_row("behind", f"{s.lag_s:,.1f} s")
        t.add_row("events", f"{s.generated:,} generated  {s.delivered:,} delivered")
        t.add_row("lost", f"{s.dead_lettered:,} dead-lettered  {s.failed:,} failed")
        t.add_row("sessions", f"{s.active_sessions:,} playing  {s.viewers:,} viewers in the pool")
        if s.activity > 1.0:
            t.add_row("activity", f"{s.activity:,.1f}x the reference: too few viewers (raise --accounts)")
        if s.event_lag.n:
            lag = s.event_lag.summary()
            t.add_row("sent", f"p50 {lag['p50']} ms  p99 {lag['p99']} ms after the event happened")
        t.add_row("batches", f"{s.batches:,}  {_bytes(s.bytes_sent)}")
        if s.calls:
            lat = s.latency.summary()
            t.add_row("calls", f"{s.calls:,}  retried {s.retried:,}  throttled {s.throttled:,}")
            if s.send_limited and "accepting_bytes_per_s" in s.send_rate:
                accepting = s.send_rate["accepting_bytes_per_s"]
                t.add_row("stream", f"accepting ~{_bytes(int(accepting))}/s: calls paced to it (quota-bound)")
            t.add_row("latency", f"p50 {lat['p50']} ms  p99 {lat['p99']} ms")
        total = max(int(s.event_types.sum()), 1)
        shares = [
            f"{name} {int(c) * 100 / total:.0f}%" for name, c in zip(EVENT_TYPES, s.event_types, strict=True)
        ]
        # Two lines of types: all seven on one would not fit 80 columns.
        t.add_row("types", "  ".join(shares[:4]))
        t.add_row("", "  ".join(shares[4:]))
        return t


#: How the summary table says why a run stopped.
_STOPPED_BY = {"pipe-closed": "the reader closed the pipe"}


def render_summary(summary: Summary, console: Console) -> None:
    """Print the end-of-run summary."""
    t = Table(title="netflix-producer summary", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    failed = f"{summary.failed:,}"
    if summary.stopped_by == "pipe-closed" and summary.failed:
        failed += "  (not written: the reader had gone)"
    rows: list[tuple[str, str]] = [
        ("sink", summary.sink),
        ("clock", f"{summary.clock}  {summary.start} .. {summary.end}"),
        ("seed", str(summary.seed)),
        ("generated", f"{summary.generated:,}"),
        ("delivered", f"{summary.delivered:,}"),
        ("dead-lettered", f"{summary.dead_lettered:,}"),
        ("failed", failed),
        ("target rate", f"{summary.target_rate:,.1f}/s"),
        ("achieved rate", f"{summary.achieved_rate:,.1f}/s"),
        ("elapsed", f"{summary.elapsed_s:,.2f} s"),
        ("batches", f"{summary.batches:,}  ({_bytes(summary.bytes)})"),
        ("stopped by", _STOPPED_BY.get(summary.stopped_by, summary.stopped_by)),
    ]
    if summary.destination:
        rows.insert(1, ("destination", summary.destination))
    if summary.calls:
        lat = summary.latency_ms
        rows += [
            ("calls", f"{summary.calls:,}"),
            ("retried", f"{summary.retried:,}"),
            ("throttled", f"{summary.throttled:,}"),
            ("latency p50/p95/p99", f"{lat.get('p50')} / {lat.get('p95')} / {lat.get('p99')} ms"),
        ]
    if "accepting_bytes_per_s" in summary.send_rate:
        accepting = summary.send_rate["accepting_bytes_per_s"]
        cuts = int(summary.send_rate.get("cuts", 0))
        rows.append(
            (
                "stream accepting",
                f"~{_bytes(int(accepting))}/s at the end, quota-bound (send rate cut {cuts:,}x)",
            )
        )
    if summary.event_lag_ms:
        lag = summary.event_lag_ms
        rows.append(("event lag p50/p95/p99", f"{lag.get('p50')} / {lag.get('p95')} / {lag.get('p99')} ms"))
    if summary.activity > 1.0:
        rows.append(("activity", f"{summary.activity:,.1f}x the reference (raise --accounts)"))
    if summary.error:
        rows.append(("error", summary.error))
    for name, count in summary.event_types.items():
        rows.append((f"  {name}", f"{count:,}"))
    if summary.dead_letter_path:
        rows.append(("dead letters", summary.dead_letter_path))
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)

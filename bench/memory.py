"""Resident memory of a large backfill: 1M profiles, 10M events to the null sink, as fast as possible.

The run is ``producer.runtime.runner.run`` on a simulated clock (``--start``, speed max) at
200k/s of schedule time, as ``netflix-producer run --sink null`` would do it. A
background thread samples VmRSS from /proc/self/status every 0.5 s together with
the events delivered so far; the report gives the peak (the kernel's VmHWM and the
highest sample) and RSS at 10 %, 50 %, 90 % and 100 % of the run, to show whether
memory stays flat once the pool is built.

    .venv/bin/python bench/memory.py                   # 435k accounts (~1M profiles), 10M events
    .venv/bin/python bench/memory.py --quick           # 43.5k accounts, 300k events
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from report import print_table, rss_bytes, verdict, write_results

from producer.config.settings import resolve
from producer.generation.world import World, WorldConfig
from producer.runtime.clock import SystemClock
from producer.runtime.runner import run
from producer.runtime.stats import RunStats
from producer.sinks.null import NullSink

TARGET_PEAK_MB = 300.0
MB = 1_000_000  # decimal megabytes, for figures and target alike


class RssSampler(threading.Thread):
    """Samples (seconds since start, VmRSS bytes, events delivered) until stopped."""

    def __init__(self, sink: NullSink, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.sink = sink
        self.every_s = every_s
        self.samples: list[tuple[float, int, int]] = []
        self._done = threading.Event()
        self._t0 = time.perf_counter()

    def run(self) -> None:
        while True:
            self.samples.append((time.perf_counter() - self._t0, rss_bytes(), self.sink.records))
            if self._done.wait(self.every_s):
                return

    def note(self) -> None:
        """Take one sample now (from the caller's thread)."""
        self.samples.append((time.perf_counter() - self._t0, rss_bytes(), self.sink.records))

    def stop(self) -> None:
        self._done.set()
        self.join()


def rss_at(samples: list[tuple[float, int, int]], total: int, share: float) -> dict[str, Any]:
    """The first sample at which ``share`` of the events had been delivered."""
    goal = share * total
    for t, rss, done in samples:
        if done >= goal:
            return {"share": share, "t_s": round(t, 2), "events": done, "rss_mb": round(rss / MB, 1)}
    t, rss, done = samples[-1]
    return {"share": share, "t_s": round(t, 2), "events": done, "rss_mb": round(rss / MB, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=435_000, help="accounts (default 435k, ~1M profiles)")
    parser.add_argument("--events", type=int, default=10_000_000, help="events (default 10M)")
    parser.add_argument("--rate", default="200k/s", help="simulated rate (default 200k/s)")
    parser.add_argument("--quick", action="store_true", help="43.5k accounts, 300k events (smoke check)")
    args = parser.parse_args()
    if args.quick:
        args.accounts = min(args.accounts, 43_500)
        args.events = min(args.events, 300_000)

    rss_start = rss_bytes()
    sink = NullSink()
    sampler = RssSampler(sink)
    sampler.start()
    w0 = time.perf_counter()
    world = World(WorldConfig(seed=1, accounts=args.accounts))
    world_s = time.perf_counter() - w0
    rss_world = rss_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        settings = resolve(
            {
                "rate": args.rate,
                "count": str(args.events),
                "start": "2026-01-01",
                "sink": "null",
                "seed": "1",
                "accounts": str(args.accounts),
                "dead_letter": str(Path(tmp) / "dead-letters.ndjson"),
            },
            env={},
        )

        def at_end(stats: RunStats) -> None:
            # run() calls its observer once more after the last batch, while the session
            # pool is still alive: that is the 100 % sample.
            if stats.generated >= args.events:
                sampler.note()

        r0, c0 = time.perf_counter(), time.process_time()
        summary = asyncio.run(
            run(settings, sink, world=world, clock=SystemClock(), observer=at_end, observe_every_s=3600.0)
        )
        run_s, run_cpu = time.perf_counter() - r0, time.process_time() - c0
    sampler.stop()
    rss_after = rss_bytes()
    hwm = rss_bytes("VmHWM")
    samples = sorted(sampler.samples)
    peak_sample = max(samples, key=lambda s: s[1])
    points = [rss_at(samples, summary.delivered, share) for share in (0.1, 0.5, 0.9, 1.0)]
    flat_drift_mb = (points[-1]["rss_mb"] - points[0]["rss_mb"]) if points else 0.0

    print(
        f"{summary.delivered:,} events ({summary.bytes / 1e9:.2f} GB) in {run_s:.1f} s "
        f"({summary.delivered / run_s:,.0f} ev/s wall, {summary.delivered / run_cpu:,.0f} per CPU-s); "
        f"world of {world.population.n_profiles:,} profiles built in {world_s:.2f} s"
    )
    rows = [
        ("RSS at start (interpreter + imports)", f"{rss_start / MB:.1f}", "", ""),
        ("RSS after building the world", f"{rss_world / MB:.1f}", "", ""),
        *((f"RSS at {p['share']:.0%} of events (t={p['t_s']} s)", f"{p['rss_mb']}", "", "") for p in points),
        (
            "peak RSS (VmHWM)",
            f"{hwm / MB:.1f}",
            f"<= {TARGET_PEAK_MB:.0f}",
            verdict(hwm / MB <= TARGET_PEAK_MB),
        ),
        (f"highest 0.5 s sample (t={peak_sample[0]:.1f} s)", f"{peak_sample[1] / MB:.1f}", "", ""),
        ("drift 10 % -> 100 %", f"{flat_drift_mb:+.1f}", "", ""),
        ("RSS after run() returned", f"{rss_after / MB:.1f}", "", ""),
    ]
    print_table("resident memory, MB (10^6 bytes)", ("figure", "MB", "target", ""), rows)
    write_results(
        "memory",
        {
            "quick": args.quick,
            "accounts": args.accounts,
            "profiles": world.population.n_profiles,
            "events": summary.delivered,
            "bytes": summary.bytes,
            "rate": args.rate,
            "run_wall_s": round(run_s, 3),
            "run_cpu_s": round(run_cpu, 3),
            "events_per_s_wall": round(summary.delivered / run_s),
            "world_build_s": round(world_s, 3),
            "rss_mb_start": round(rss_start / MB, 1),
            "rss_mb_after_world": round(rss_world / MB, 1),
            "rss_mb_at": points,
            "peak_rss_mb_vmhwm": round(hwm / MB, 1),
            "peak_rss_mb_sampled": round(peak_sample[1] / MB, 1),
            "peak_sample_t_s": round(peak_sample[0], 2),
            "drift_mb_10_to_100": round(flat_drift_mb, 1),
            "rss_mb_after_run": round(rss_after / MB, 1),
            "samples": [(round(t, 2), round(r / MB, 1), n) for t, r, n in samples],
            "targets": {"peak_rss_mb": TARGET_PEAK_MB, "met": hwm / MB <= TARGET_PEAK_MB},
        },
    )


if __name__ == "__main__":
    main()

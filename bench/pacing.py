"""Rate accuracy, emission lag and CPU cost of real-time runs (SystemClock), one per target rate.

Each run goes through ``producer.runtime.runner.run`` exactly as the CLI does, with
``--linger 0s`` (a partial batch leaves at every 10 ms tick) and
``--batch-records 500``, into a sink that notes, per batch,
the wall time and process CPU time of arrival, the record count, and the
``event_ts`` of its first and last records. From those:

* achieved rate per window (default 10 s) of arrival time, from the schedule's start
  (the run's start, from its summary);
* emission lag = arrival wall time - the time the schedule gives that event (the k-th
  event of a constant rate r is due at start + k/r): the pacer's promise, interpolated
  inside a batch (the first record carries the batch's largest lag);
* event lag = arrival wall time - ``event_ts``: how long after it happened an event
  reached the sink. By design about ``REALTIME_LEAD_S`` (0.5 s): the viewers run that far
  ahead of the wire, as a player buffers, and no event is sent before it happened;
* pacing CPU = process CPU seconds / wall seconds, steady state (after the first
  window) and over the whole run including start-up.

    .venv/bin/python bench/pacing.py                   # 500, 5k, 50k events/s, 60 s each
    .venv/bin/python bench/pacing.py --quick           # 3 s each, 1 s windows
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from report import print_table, verdict, write_results

from producer.config.settings import resolve
from producer.generation.world import World, WorldConfig
from producer.runtime.clock import SystemClock
from producer.runtime.runner import run
from producer.sinks.base import BatchResult

TARGET_WINDOW_ERROR_PCT = 0.5
TARGET_P99_LAG_MS = 20.0
TARGET_CPU_PCT_AT_50K = 15.0


class ArrivalLog:
    """A sink that keeps nothing but when each batch arrived and how late its events were."""

    name = "arrival-log"

    def __init__(self) -> None:
        # Per batch: arrival wall time, process CPU time, records, first and last event_ts.
        self.rows: list[tuple[float, float, int, float, float]] = []

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        now = time.time()
        cpu = time.process_time()
        first = json.loads(records[0])["event_ts"]
        last = json.loads(records[-1])["event_ts"]
        self.rows.append((now, cpu, len(records), first, last))
        return BatchResult(delivered=len(records))

    async def aclose(self) -> None:
        return None


def _ms_percentile(seconds: np.ndarray, q: float) -> float | None:
    """A percentile of lags given in seconds, in milliseconds (None when there are none)."""
    return round(float(np.percentile(seconds, q)) * 1000, 2) if len(seconds) else None


def analyse(
    rows: list[tuple[float, float, int, float, float]],
    *,
    origin: float,
    rate: float,
    window_s: float,
    run_wall: float,
    run_cpu: float,
) -> dict[str, Any]:
    """Turn the arrival log of one run into the figures."""
    a = np.asarray(rows, dtype=np.float64)
    arrive, cpu, count, first_ts, last_ts = a.T
    count = count.astype(np.int64)
    # The k-th event is due at origin + k / rate; a batch holds events k0 .. k1 - 1.
    k1 = np.cumsum(count)
    k0 = k1 - count
    due_first = origin + k0 / rate
    due_last = origin + (k1 - 1) / rate

    windows = []
    w = 0
    while origin + (w + 1) * window_s <= arrive[-1] + 1e-9:
        lo, hi = origin + w * window_s, origin + (w + 1) * window_s
        inside = (arrive >= lo) & (arrive < hi)
        n = int(count[inside].sum())
        achieved = n / window_s
        idx = np.flatnonzero(inside)
        windows.append(
            {
                "window": w,
                "events": n,
                "achieved_per_s": round(achieved, 2),
                "error_pct": round((achieved / rate - 1.0) * 100.0, 3),
                # CPU over this window: from the last arrival before it to the last arrival in it.
                "cpu_pct": (
                    round((cpu[idx[-1]] - cpu[idx[0] - 1]) / (arrive[idx[-1]] - arrive[idx[0] - 1]) * 100, 2)
                    if len(idx) and idx[0] > 0
                    else None
                ),
            }
        )
        w += 1

    # Per-event emission lag, interpolated inside each batch (due times 1/rate apart, one arrival).
    lag_first = arrive - due_first
    lag_last = arrive - due_last
    spread = [np.linspace(f, la, int(c)) for f, la, c in zip(lag_first, lag_last, count, strict=True)]
    event_lag = np.concatenate(
        [
            np.linspace(f, la, int(c))
            for f, la, c in zip(arrive - first_ts, arrive - last_ts, count, strict=True)
        ]
    )
    per_event = np.concatenate(spread)
    # Steady state: batches that arrived after the first window (start-up and catch-up excluded).
    after_first = arrive >= origin + window_s
    steady_lag = np.concatenate([x for x, keep in zip(spread, after_first, strict=True) if keep] or [[]])
    steady = [x["cpu_pct"] for x in windows[1:] if x["cpu_pct"] is not None]
    late = lag_first > 0.1
    return {
        "target_per_s": rate,
        "events": int(count.sum()),
        "batches": len(rows),
        "mean_batch": round(float(count.mean()), 1),
        "run_wall_s": round(run_wall, 3),
        "windows": windows,
        "max_abs_window_error_pct": max((abs(x["error_pct"]) for x in windows), default=None),
        "max_abs_window_error_pct_after_first": max((abs(x["error_pct"]) for x in windows[1:]), default=None),
        "lag_ms_p50": _ms_percentile(per_event, 50),
        "lag_ms_p99": _ms_percentile(per_event, 99),
        "lag_ms_max": _ms_percentile(per_event, 100),
        "steady_lag_ms_p50": _ms_percentile(steady_lag, 50),
        "steady_lag_ms_p99": _ms_percentile(steady_lag, 99),
        "steady_lag_ms_max": _ms_percentile(steady_lag, 100),
        "event_lag_ms_p50": _ms_percentile(event_lag, 50),
        "event_lag_ms_p99": _ms_percentile(event_lag, 99),
        "batches_over_100ms_late": int(late.sum()),
        "last_batch_over_100ms_late_s_after_start": (
            round(float(arrive[late][-1] - origin), 3) if late.any() else None
        ),
        "first_arrival_after_start_ms": round((arrive[0] - origin) * 1000, 1),
        "first_batch_lag_ms": round(float(lag_first[0]) * 1000, 1),
        "cpu_pct_steady": round(float(np.mean(steady)), 2) if steady else None,
        "cpu_pct_steady_max_window": round(float(np.max(steady)), 2) if steady else None,
        "cpu_pct_whole_run": round(run_cpu / run_wall * 100, 2),
    }


async def one_run(rate: float, seconds: float, world: World, dead_letter: Path) -> dict[str, Any]:
    settings = resolve(
        {
            "rate": f"{rate:g}/s",
            "duration": f"{seconds:g}s",
            "sink": "null",
            "seed": "1",
            "linger": "0s",
            "batch_records": "500",
            "accounts": str(world.config.accounts),
            "dead_letter": str(dead_letter),
        },
        env={},
    )
    sink = ArrivalLog()
    w0, c0 = time.perf_counter(), time.process_time()
    summary = await run(settings, sink, world=world, clock=SystemClock())
    run_wall, run_cpu = time.perf_counter() - w0, time.process_time() - c0
    return {
        "origin": datetime.fromisoformat(summary.start.replace("Z", "+00:00")).timestamp(),
        "summary_achieved_rate": summary.achieved_rate,
        "summary_elapsed_s": summary.elapsed_s,
        "rows": sink.rows,
        "run_wall": run_wall,
        "run_cpu": run_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="run length per rate (default 60)")
    parser.add_argument("--window", type=float, default=10.0, help="rate window, seconds (default 10)")
    parser.add_argument(
        "--rates", default="500,5000,50000", help="comma-separated target rates (default 500,5000,50000)"
    )
    parser.add_argument("--accounts", type=int, default=250_000, help="accounts (default 250k)")
    parser.add_argument("--quick", action="store_true", help="3 s per rate, 1 s windows (smoke check)")
    args = parser.parse_args()
    if args.quick:
        args.seconds = min(args.seconds, 3.0)
        args.window = min(args.window, 1.0)
    rates = [float(r) for r in args.rates.split(",")]

    world = World(WorldConfig(seed=1, accounts=args.accounts))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for rate in rates:
            raw = asyncio.run(one_run(rate, args.seconds, world, Path(tmp) / "dead-letters.ndjson"))
            fig = analyse(
                raw["rows"],
                origin=raw["origin"],
                rate=rate,
                window_s=args.window,
                run_wall=raw["run_wall"],
                run_cpu=raw["run_cpu"],
            )
            fig["summary_achieved_rate"] = raw["summary_achieved_rate"]
            results.append(fig)
            print(
                f"{rate:>8,.0f}/s: {fig['events']:,} events in {fig['batches']:,} batches "
                f"(mean {fig['mean_batch']}), windows: "
                + ", ".join(f"{x['achieved_per_s']:,.1f}" for x in fig["windows"])
                + f"; first batch arrived {fig['first_arrival_after_start_ms']} ms after the start "
                f"with lag {fig['first_batch_lag_ms']} ms"
            )

    rows = []
    for fig in results:
        rate = fig["target_per_s"]
        err = fig["max_abs_window_error_pct"]
        rows.append(
            (
                f"{rate:,.0f}/s",
                f"{err:.3f} %" if err is not None else "n/a",
                verdict(err is not None and err <= TARGET_WINDOW_ERROR_PCT),
                f"{fig['max_abs_window_error_pct_after_first']:.3f} %" if len(fig["windows"]) > 1 else "n/a",
                fig["lag_ms_p50"],
                fig["lag_ms_p99"],
                verdict(fig["lag_ms_p99"] <= TARGET_P99_LAG_MS),
                fig["lag_ms_max"],
                fig["steady_lag_ms_p50"],
                fig["steady_lag_ms_p99"],
                fig["event_lag_ms_p50"],
                fig["event_lag_ms_p99"],
                f"{fig['cpu_pct_steady']}",
                f"{fig['cpu_pct_whole_run']}",
                verdict((fig["cpu_pct_steady"] or 0.0) <= TARGET_CPU_PCT_AT_50K) if rate == 50_000 else "",
            )
        )
    print_table(
        f"real-time pacing, {args.seconds:g} s per rate, {args.window:g} s windows "
        f"(targets: window error <= {TARGET_WINDOW_ERROR_PCT} %, "
        f"p99 emission lag <= {TARGET_P99_LAG_MS:g} ms, "
        f"<= {TARGET_CPU_PCT_AT_50K:g} % of a core at 50k/s)",
        (
            "target",
            "max |window err|",
            "",
            "excl. 1st",
            "lag p50 ms",
            "lag p99 ms",
            "",
            "lag max ms",
            "steady p50",
            "steady p99",
            "event lag p50",
            "event lag p99",
            "CPU % steady",
            "CPU % whole",
            "",
        ),
        rows,
    )
    write_results(
        "pacing",
        {
            "quick": args.quick,
            "seconds": args.seconds,
            "window_s": args.window,
            "linger": "0s",
            "batch_records": 500,
            "runs": results,
            "targets": {
                "max_abs_window_error_pct": TARGET_WINDOW_ERROR_PCT,
                "lag_ms_p99": TARGET_P99_LAG_MS,
                "cpu_pct_at_50k": TARGET_CPU_PCT_AT_50K,
            },
        },
    )


if __name__ == "__main__":
    main()

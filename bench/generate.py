"""Generation + NDJSON encoding throughput in one process, against a naive Faker baseline.

The library path is ``SessionGenerator.next_block()`` then ``encode_block()``; each
block's records are counted and dropped (streaming in bounded blocks, as a sink
would see them). The baseline is the obvious per-event loop: Faker for ids and
numbers, ``random.choice`` for categories, ``json.dumps`` of a 13-field dict.

Both report events/s of wall time and events per CPU-second of this process
(``time.process_time``); the CPU figure is the "one core" number and holds up when
the machine is busy.

    .venv/bin/python bench/generate.py                 # 10M events, 200k baseline, 3 runs each,
                                                       # then 1M events at each rate of the sweep
    .venv/bin/python bench/generate.py --quick         # a few seconds, smoke check

The sweep runs the same path at 20/s, 200/s, 2k/s, 50k/s and 1M/s of simulated time:
the cost per event must not depend on the rate (the slowest within 1.5x of the fastest).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from report import print_table, verdict, write_results

from producer.generation.encode import encode_block
from producer.generation.schema import DEVICE_TYPES, EVENT_TYPES
from producer.generation.sessions import BITRATE_LADDER_KBPS, SessionGenerator
from producer.generation.world import DEFAULT_APP_VERSIONS, World, WorldConfig
from producer.runtime.rate import constant

#: 2026-09-03T12:00:00Z, a fixed start so runs are comparable.
START_EPOCH = 1_788_436_800.0
TARGET_EVENTS_PER_CORE_S = 600_000
TARGET_SPEEDUP = 15.0
SWEEP_RATES = (20.0, 200.0, 2_000.0, 50_000.0, 1_000_000.0)
TARGET_SWEEP_SPREAD = 1.5


def bench_library(*, events: int, rate: float, accounts: int, seed: int) -> dict[str, Any]:
    """Generate and encode at least ``events`` events; time each phase in wall and CPU seconds."""
    world = World(WorldConfig(seed=seed, accounts=accounts))
    schedule = constant(rate).bind(START_EPOCH)

    w0, c0 = time.perf_counter(), time.process_time()
    gen = SessionGenerator(world, schedule, seed=seed)
    # The first block fills the pool and burns it in (warm start): set-up, not steady state.
    encode_block(gen.next_block())
    setup_wall, setup_cpu = time.perf_counter() - w0, time.process_time() - c0

    gen_wall = gen_cpu = enc_wall = enc_cpu = 0.0
    n = nbytes = blocks = 0
    w_start, c_start = time.perf_counter(), time.process_time()
    while n < events:
        w0, c0 = time.perf_counter(), time.process_time()
        block = gen.next_block()
        w1, c1 = time.perf_counter(), time.process_time()
        records = encode_block(block)
        w2, c2 = time.perf_counter(), time.process_time()
        gen_wall += w1 - w0
        gen_cpu += c1 - c0
        enc_wall += w2 - w1
        enc_cpu += c2 - c1
        n += len(records)
        nbytes += sum(map(len, records))
        blocks += 1
        del block, records
    wall = time.perf_counter() - w_start
    cpu = time.process_time() - c_start
    wanted_pool = rate * gen.mean_gap_s
    return {
        "events": n,
        "bytes": nbytes,
        "bytes_per_event": round(nbytes / n, 1),
        "blocks": blocks,
        "events_per_block": round(n / blocks),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "events_per_s_wall": round(n / wall),
        "events_per_cpu_s": round(n / cpu),
        "mb_per_s_wall": round(nbytes / wall / 1e6, 1),
        "generation_cpu_s": round(gen_cpu, 3),
        "encoding_cpu_s": round(enc_cpu, 3),
        "generation_wall_s": round(gen_wall, 3),
        "encoding_wall_s": round(enc_wall, 3),
        "generation_share_cpu": round(gen_cpu / cpu, 3),
        "encoding_share_cpu": round(enc_cpu / cpu, 3),
        "generation_events_per_cpu_s": round(n / gen_cpu),
        "encoding_events_per_cpu_s": round(n / enc_cpu),
        "setup_wall_s": round(setup_wall, 3),
        "setup_cpu_s": round(setup_cpu, 3),
        "simulated_rate": rate,
        "accounts": accounts,
        "profiles": world.population.n_profiles,
        "pool_viewers": gen.active_slots,
        "pool_cap": gen.max_concurrent,
        "pool_wanted": round(wanted_pool),
        "pool_capped": wanted_pool > gen.max_concurrent,
        "mean_gap_s": round(gen.mean_gap_s, 1),
    }


def bench_baseline(*, events: int, seed: int) -> dict[str, Any]:
    """The obvious way: one dict per event from Faker and ``random``, then ``json.dumps``."""
    from faker import Faker  # imported here: its start-up is not part of either figure

    fake = Faker()
    Faker.seed(seed)
    random.seed(seed)
    event_types = list(EVENT_TYPES)
    devices = list(DEVICE_TYPES)
    apps = list(DEFAULT_APP_VERSIONS)
    ladder = list(BITRATE_LADDER_KBPS)
    n = nbytes = 0
    batch: list[bytes] = []
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(events):
        event = {
            "event_id": fake.uuid4(),
            "session_id": fake.uuid4(),
            "user_id": fake.random_int(10_000_000, 10_999_999),
            "profile_id": fake.random_int(0, 4),
            "title_id": fake.random_int(80_000_000, 80_100_000),
            "event_type": random.choice(event_types),
            "event_ts": round(time.time(), 3),
            "position_ms": fake.random_int(0, 7_200_000),
            "device_type": random.choice(devices),
            "country": fake.country_code(),
            "app_version": random.choice(apps),
            "bitrate_kbps": random.choice(ladder),
            "seq": fake.random_int(0, 40),
        }
        batch.append((json.dumps(event, separators=(",", ":")) + "\n").encode())
        if len(batch) == 10_000:  # bounded batches, like the library path
            n += len(batch)
            nbytes += sum(map(len, batch))
            batch = []
    n += len(batch)
    nbytes += sum(map(len, batch))
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0
    return {
        "events": n,
        "bytes_per_event": round(nbytes / n, 1),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "events_per_s_wall": round(n / wall),
        "events_per_cpu_s": round(n / cpu),
        "us_per_event_cpu": round(cpu / n * 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="library events (default 10M)")
    parser.add_argument("--baseline-events", type=int, default=200_000, help="baseline events (default 200k)")
    parser.add_argument("--rate", type=float, default=1_000_000.0, help="simulated rate (default 1M/s)")
    parser.add_argument("--accounts", type=int, default=250_000, help="accounts (default 250k)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each; the medians are shown (default 3)"
    )
    parser.add_argument(
        "--sweep-events", type=int, default=1_000_000, help="events at each rate of the sweep (default 1M)"
    )
    parser.add_argument("--quick", action="store_true", help="small run for smoke checks (a few seconds)")
    args = parser.parse_args()
    if args.quick:
        args.sweep_events = min(args.sweep_events, 100_000)
        args.events = min(args.events, 200_000)
        args.baseline_events = min(args.baseline_events, 10_000)
        args.accounts = min(args.accounts, 25_000)
        args.repeats = 1

    def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return sorted(runs, key=lambda r: float(r["events_per_cpu_s"]))[len(runs) // 2]

    libs, bases = [], []
    for _ in range(max(1, args.repeats)):
        libs.append(bench_library(events=args.events, rate=args.rate, accounts=args.accounts, seed=args.seed))
        bases.append(bench_baseline(events=args.baseline_events, seed=args.seed))
    lib, base = median_run(libs), median_run(bases)
    print(
        f"{len(libs)} run(s); library events per CPU-s: "
        + ", ".join(f"{r['events_per_cpu_s']:,}" for r in libs)
        + "; baseline: "
        + ", ".join(f"{r['events_per_cpu_s']:,}" for r in bases)
        + " (the medians are used)"
    )
    ratio_cpu = lib["events_per_cpu_s"] / base["events_per_cpu_s"]
    ratio_wall = lib["events_per_s_wall"] / base["events_per_s_wall"]

    print(
        f"library: {lib['events']:,} events in blocks of ~{lib['events_per_block']:,}, "
        f"{lib['bytes_per_event']} B/event; set-up (pool fill + burn-in) {lib['setup_wall_s']} s"
    )
    print(
        f"simulated rate {args.rate:,.0f}/s: pool of {lib['pool_viewers']:,} viewers "
        + (
            f"(capped by the population at 0.8 x {lib['profiles']:,} profiles; rate x mean gap "
            f"{lib['mean_gap_s']} s would want {lib['pool_wanted']:,}, so each viewer's events come "
            "closer together than in real time; the per-event work is the same)"
            if lib["pool_capped"]
            else "(not capped)"
        )
    )
    print(f"baseline: {base['events']:,} events, {base['bytes_per_event']} B/event")
    rows = [
        (
            "library ev/s per CPU-s",
            f"{lib['events_per_cpu_s']:,}",
            f">= {TARGET_EVENTS_PER_CORE_S:,}",
            verdict(lib["events_per_cpu_s"] >= TARGET_EVENTS_PER_CORE_S),
        ),
        ("library ev/s wall", f"{lib['events_per_s_wall']:,}", "", ""),
        ("library MB/s wall", lib["mb_per_s_wall"], "", ""),
        ("  generation share of CPU", f"{lib['generation_share_cpu']:.0%}", "", ""),
        ("  encoding share of CPU", f"{lib['encoding_share_cpu']:.0%}", "", ""),
        ("  generation only, ev per CPU-s", f"{lib['generation_events_per_cpu_s']:,}", "", ""),
        ("  encoding only, ev per CPU-s", f"{lib['encoding_events_per_cpu_s']:,}", "", ""),
        ("baseline ev/s per CPU-s", f"{base['events_per_cpu_s']:,}", "", ""),
        ("baseline ev/s wall", f"{base['events_per_s_wall']:,}", "", ""),
        (
            "speed-up (CPU-s)",
            f"{ratio_cpu:.1f}x",
            f">= {TARGET_SPEEDUP:.0f}x",
            verdict(ratio_cpu >= TARGET_SPEEDUP),
        ),
        ("speed-up (wall)", f"{ratio_wall:.1f}x", "", ""),
    ]
    print_table("generation + encoding, one process", ("figure", "value", "target", ""), rows)

    sweep = [
        bench_library(events=args.sweep_events, rate=rate, accounts=args.accounts, seed=args.seed)
        for rate in SWEEP_RATES
    ]
    per_cpu = [r["events_per_cpu_s"] for r in sweep]
    spread = max(per_cpu) / max(min(per_cpu), 1)
    sweep_rows = [
        (
            f"{r['simulated_rate']:,.0f}/s",
            f"{r['events_per_cpu_s']:,}",
            f"{r['setup_cpu_s']} s",
            f"{r['pool_viewers']:,}" + (" (capped)" if r["pool_capped"] else ""),
            f">= {TARGET_EVENTS_PER_CORE_S:,}",
            verdict(r["events_per_cpu_s"] >= TARGET_EVENTS_PER_CORE_S),
        )
        for r in sweep
    ]
    sweep_rows.append(
        ("slowest to fastest", f"{spread:.2f}x", "", "", f"<= {TARGET_SWEEP_SPREAD}x",
         verdict(spread <= TARGET_SWEEP_SPREAD))
    )  # fmt: skip
    print_table(
        f"by simulated rate ({args.sweep_events:,} events each, set-up excluded)",
        ("rate", "ev per CPU-s", "set-up CPU", "viewers", "target", ""),
        sweep_rows,
    )
    write_results(
        "generate",
        {
            "quick": args.quick,
            "library": lib,
            "baseline": base,
            "repeats": len(libs),
            "library_events_per_cpu_s_runs": [r["events_per_cpu_s"] for r in libs],
            "baseline_events_per_cpu_s_runs": [r["events_per_cpu_s"] for r in bases],
            "speedup_cpu": round(ratio_cpu, 2),
            "speedup_wall": round(ratio_wall, 2),
            "sweep": [
                {
                    k: r[k]
                    for k in (
                        "simulated_rate",
                        "events",
                        "events_per_cpu_s",
                        "setup_cpu_s",
                        "pool_viewers",
                        "pool_capped",
                    )
                }
                for r in sweep
            ],
            "sweep_spread": round(spread, 2),
            "targets": {
                "events_per_cpu_s": TARGET_EVENTS_PER_CORE_S,
                "speedup": TARGET_SPEEDUP,
                "events_per_cpu_s_met": lib["events_per_cpu_s"] >= TARGET_EVENTS_PER_CORE_S,
                "speedup_met": ratio_cpu >= TARGET_SPEEDUP,
                "sweep_spread": TARGET_SWEEP_SPREAD,
                "sweep_met": spread <= TARGET_SWEEP_SPREAD and min(per_cpu) >= TARGET_EVENTS_PER_CORE_S,
            },
        },
    )


if __name__ == "__main__":
    main()

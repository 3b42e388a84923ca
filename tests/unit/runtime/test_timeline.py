"""The run's timeline: rows that add up to the summary, pace flags, bounded memory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import numpy as np
import pytest

from producer.generation.world import World
from producer.runtime.clock import ManualClock
from producer.runtime.runner import run
from producer.runtime.stats import RunStats
from producer.runtime.timeline import COUNTS, Timeline
from producer.sinks.base import BatchResult
from producer.sinks.memory import MemorySink
from producer.sinks.null import NullSink
from tests.unit.runtime.test_pacing_and_runner import EPOCH, SlowSink, settings

START = 1_769_472_000.0  # 2026-01-27T00:00:00Z


def totals(summary_timeline: dict) -> dict[str, int]:
    rows = summary_timeline["rows"]
    return {name: sum(rows[name]) for name in COUNTS}


def test_rows_add_up_to_the_summary(small_world: World, tmp_path) -> None:
    clock = ManualClock(epoch=EPOCH)
    summary = asyncio.run(
        run(settings(tmp_path, rate="2k/s", duration="20s"), SlowSink(clock), world=small_world, clock=clock)
    )
    timeline = summary.timeline
    got = totals(timeline)
    assert got["generated"] == summary.generated == 40_000
    assert got["accepted"] == summary.accepted
    assert got["dead_lettered"] == summary.dead_lettered and got["failed"] == summary.failed
    assert got["bytes"] == summary.bytes
    rows = timeline["rows"]
    assert rows["t_s"] == sorted(rows["t_s"]) and set(rows["target_rate"]) == {2000.0}
    json.dumps(timeline, allow_nan=False)  # what --summary-json writes


class SleepySink(MemorySink):
    """Half a second of real time per batch: with one call in flight, 1,000 events/s."""

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        await asyncio.sleep(0.5)
        return await super().send_batch(records)


def test_a_row_every_second_while_a_slow_sink_holds_the_run_back(small_world: World, tmp_path) -> None:
    flags = {"rate": "2k/s", "duration": "3s", "max_in_flight": "1", "linger": "0"}
    summary = asyncio.run(run(settings(tmp_path, **flags), SleepySink(), world=small_world))
    rows = summary.timeline["rows"]
    assert summary.generated == summary.delivered == 6_000
    assert sum(rows["accepted"]) == 6_000
    # The run waits on its sink for most of its ~6 s; the rows still end each second.
    t = rows["t_s"]
    assert len(t) >= 5 and t[0] < 1.5, t
    assert max(b - a for a, b in zip(t[:-1], t[1:], strict=True)) < 1.9, t
    assert sum(rows["sink_bound"]) >= 2, rows["sink_bound"]


def test_a_simulated_day_counts_events_per_minute_of_event_time_against_the_plan(tmp_path) -> None:
    summary = asyncio.run(
        run(settings(tmp_path, rate="20/s", shape="daily", start="2026-01-27T00:00:00Z", end="2026-01-28T00:00:00Z",
                     accounts="20000", titles="2000"), NullSink())
    )  # fmt: skip
    bins = summary.timeline["event_time"]
    assert bins["origin"] == START and bins["step_s"] == 60.0
    assert len(bins["events"]) == len(bins["planned"]) == 24 * 60
    assert sum(bins["events"]) == summary.generated
    # Steered to the shape: each hour within 1 % of what the shape plans.
    events = np.array(bins["events"]).reshape(24, 60).sum(axis=1)
    planned = np.array(bins["planned"]).reshape(24, 60).sum(axis=1)
    assert np.all(np.abs(events / planned - 1) < 0.01), events / planned
    assert totals(summary.timeline)["generated"] == summary.generated


def test_memory_stays_bounded_over_a_day_of_rows_and_nothing_is_lost_in_the_roll_up() -> None:
    timeline = Timeline(max_rows=3600)
    stats = RunStats(sink="null", seed=1, target_rate=100.0, clock="realtime")
    rng = np.random.default_rng(1)
    for second in range(1, 24 * 3600 + 1):
        n = int(rng.integers(50, 150))
        stats.generated += n
        stats.delivered += n
        stats.calls += 1
        stats.latency.add([float(rng.uniform(5, 50))])
        stats.pace = "quota-bound" if 40_000 <= second < 40_100 else "ok"
        if timeline.due(float(second)):
            timeline.sample(float(second), stats, target_rate=100.0, in_flight=1)
    assert len(timeline) <= 3600
    out = timeline.to_dict()
    assert out["step_s"] == 32.0  # 86,400 s in rows of 32 s: 2,700 rows
    assert sum(out["rows"]["generated"]) == stats.generated
    assert sum(out["rows"]["calls"]) == 24 * 3600
    # The quota-bound minute and a half survives the roll-up, in the rows that held it.
    bound = [t for t, b in zip(out["rows"]["t_s"], out["rows"]["quota_bound"], strict=True) if b]
    assert bound and 40_000 <= min(bound) and max(bound) <= 40_100 + 32
    assert all(5.0 <= p <= 51.0 for p in out["rows"]["latency_p99_ms"])


def test_event_time_bins_roll_up_past_their_bound() -> None:
    timeline = Timeline(event_origin=0.0, event_step_s=60.0, max_bins=100)
    times = np.arange(0.0, 30 * 24 * 3600.0, 7.0)  # a month, an event every 7 s
    for chunk in np.array_split(times, 50):
        timeline.add_event_times(chunk)
    bins = timeline.to_dict()["event_time"]
    assert len(bins["events"]) <= 100
    assert sum(bins["events"]) == len(times)
    assert bins["step_s"] == pytest.approx(60.0 * 2**9)  # 43,200 minutes into at most 100 bins

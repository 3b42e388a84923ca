from __future__ import annotations

import json

from producer.config.settings import resolve
from producer.loadtest.swarm import WorkerShare

START = 1_788_436_800.0


def share() -> WorkerShare:
    settings = resolve({"seed": "4", "accounts": "20000"}, env={})
    return WorkerShare(settings, 1, nominal_rate=2_000.0, start=START)


def test_a_workers_stream_does_not_depend_on_how_it_is_taken() -> None:
    a, b = share(), share()
    whole = a.take(3_000)
    pieces = [r for n in (1, 499, 500, 7, 993, 1_000) for r in b.take(n)]
    assert whole == pieces
    ids = [json.loads(r)["event_id"] for r in whole]
    assert len(set(ids)) == len(ids)


def test_a_workers_events_follow_its_nominal_rate_from_its_start() -> None:
    events = [json.loads(r) for r in share().take(120_000)]
    ts = [e["event_ts"] for e in events]
    assert ts == sorted(ts) and START <= ts[0] < START + 0.05
    # The rate is a target the worker's viewers are steered to: 2,000 a second, within
    # 3 % over its first minute.
    assert abs(len(ts) / (ts[-1] - START) - 2_000.0) < 0.03 * 2_000.0


def test_an_unpaced_workers_events_keep_up_with_the_clock_it_follows() -> None:
    class Clock:
        now = START

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    settings = resolve({"seed": "4", "accounts": "20000"}, env={})
    # Nominally 1,000 a second; the worker sends 10,000 a second (500 every 50 ms).
    worker = WorkerShare(settings, 0, nominal_rate=1_000.0, start=START, follow=clock)
    lags = []
    for i in range(1, 1_201):  # a minute
        clock.now = START + i * 0.05
        last = json.loads(worker.take(500)[-1])["event_ts"]
        lags.append(clock.now - last)
    # At the nominal rate the events would be 54 s behind by now; they keep up instead.
    assert max(abs(lag) for lag in lags[-400:]) < 3.0, lags[-400::40]
    ts = [json.loads(r)["event_ts"] for r in worker.take(5_000)]
    assert ts == sorted(ts)


def test_a_scenario_shape_is_followed_even_by_an_unpaced_worker() -> None:
    settings = resolve({"seed": "4", "accounts": "20000", "shape": "daily", "rate": "200/s"}, env={})
    ticks = iter(range(10**6))
    worker = WorkerShare(
        settings, 0, nominal_rate=1_000.0, start=START, follow=lambda: START + 10.0 * next(ticks)
    )
    for _ in range(40):  # every call a clock 10 s later: a worker that would be re-steered
        assert len(worker.take(1_000)) == 1_000
    assert worker.generator.schedule.shape.kind == "daily" and worker._rate == 1_000.0

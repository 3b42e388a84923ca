from __future__ import annotations

import json

from producer.config.settings import resolve
from producer.loadtest.swarm import UNPACED_MIN_ROUND, WorkerShare

START = 1_788_436_800.0


def share(*, unpaced: bool) -> WorkerShare:
    settings = resolve({"seed": "4", "accounts": "20000"}, env={})
    return WorkerShare(settings, 1, nominal_rate=2_000.0, start=START, unpaced=unpaced)


def test_a_workers_stream_does_not_depend_on_how_it_is_taken() -> None:
    a, b = share(unpaced=False), share(unpaced=False)
    whole = a.take(3_000)
    pieces = [r for n in (1, 499, 500, 7, 993, 1_000) for r in b.take(n)]
    assert whole == pieces
    ids = [json.loads(r)["event_id"] for r in whole]
    assert len(set(ids)) == len(ids)


def test_an_unpaced_worker_generates_big_rounds_on_the_same_schedule() -> None:
    paced, unpaced = share(unpaced=False), share(unpaced=True)
    first = unpaced.take(10)
    # One round of at least 4,096 events, not 0.1 s of schedule (the pool allows it).
    assert unpaced.generator.next_event >= UNPACED_MIN_ROUND
    assert paced.take(1)
    assert paced.generator.next_event < UNPACED_MIN_ROUND
    events = [json.loads(r) for r in first + unpaced.take(5_000)]
    # The same nominal schedule: event times start at the worker's start, 2,000 a second.
    ts = [e["event_ts"] for e in events]
    assert ts == sorted(ts) and START <= ts[0] < START + 0.01
    assert abs(ts[-1] - START - len(ts) / 2_000.0) < 0.01

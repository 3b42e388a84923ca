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

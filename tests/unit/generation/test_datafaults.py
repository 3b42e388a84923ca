from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter

import pytest

from producer.config.settings import resolve
from producer.generation.data_faults import DataFaults, Fault, SchemaDrift
from producer.generation.world import World
from producer.runtime.clock import ManualClock
from producer.runtime.runner import run
from producer.sinks.memory import MemorySink

DAY = 1_769_472_000.0  # 2026-01-27T00:00:00Z


def faulty_run(world: World, tmp_path, faults: DataFaults, **flags: str):
    base = {"rate": "200/s", "count": "40000", "start": "2026-01-27", "seed": "9",
            "dead_letter": str(tmp_path / "dlq.ndjson")}  # fmt: skip
    settings = dataclasses.replace(resolve({**base, **flags}, env={}), data_faults=faults)
    sink = MemorySink()
    summary = asyncio.run(run(settings, sink, world=world, clock=ManualClock()))
    return summary, sink.records


def parsed(records: list[bytes]) -> list[dict | None]:
    out: list[dict | None] = []
    for r in records:
        try:
            out.append(json.loads(r))
        except ValueError:
            out.append(None)
    return out


@pytest.mark.slow  # statistical: fault rates measured on a big sample
def test_each_fault_is_present_at_its_rate(small_world: World, tmp_path) -> None:
    faults = DataFaults(
        duplicates=Fault(rate=0.02),
        late=Fault(rate=0.02, delay_s=3600, max_delay_s=3 * 86400),
        null_event_ts=Fault(rate=0.01),
        missing_event_ts=Fault(rate=0.01),
        malformed=Fault(rate=0.01),
        out_of_order=Fault(rate=0.01),
    )
    summary, records = faulty_run(small_world, tmp_path, faults)
    n = 40_000
    f = summary.faults
    for name, rate in (("duplicates", 0.02), ("late", 0.02), ("null_event_ts", 0.01),
                       ("missing_event_ts", 0.01), ("malformed", 0.01)):  # fmt: skip
        assert f[name] == pytest.approx(rate * n, rel=0.15), name
    assert f["out_of_order"] > 0.2 * 0.01 * n  # only those whose session has a next event in the run
    events = parsed(records)
    good = [e for e in events if e is not None]
    # Malformed lines really are not JSON (a few faults can stack on one event).
    assert sum(e is None for e in events) == pytest.approx(f["malformed"], abs=f["malformed"] * 0.05 + 2)
    assert sum(1 for e in good if "event_ts" in e and e["event_ts"] is None) >= f["null_event_ts"] * 0.9
    assert sum(1 for e in good if "event_ts" not in e) >= f["missing_event_ts"] * 0.9
    # Duplicates: the same event_id again; every generated record was delivered.
    ids = Counter(e["event_id"] for e in good)
    assert sum(c - 1 for c in ids.values()) >= f["duplicates"] * 0.9
    assert summary.generated == len(records) == n + f["duplicates"]
    # Late events: event_ts hours to days before the window's events.
    stamps = [e["event_ts"] for e in good if isinstance(e.get("event_ts"), float)]
    late = [t for t in stamps if t < DAY - 3000]
    assert len(late) == pytest.approx(f["late"], rel=0.1)
    assert min(late) >= DAY - 3 * 86400 - 1


def test_out_of_order_events_arrive_after_their_sessions_next_event(small_world: World, tmp_path) -> None:
    summary, records = faulty_run(small_world, tmp_path, DataFaults(out_of_order=Fault(rate=0.05)))
    sessions: dict[str, list[int]] = {}
    for e in parsed(records):
        assert e is not None
        sessions.setdefault(e["session_id"], []).append(e["seq"])
    swapped = sum(1 for seqs in sessions.values() for a, b in zip(seqs, seqs[1:], strict=False) if b < a)
    assert swapped == summary.faults["out_of_order"] > 100
    assert summary.generated == len(records) == 40_000  # held records are sent, not lost


def test_schema_drift_from_a_given_time(small_world: World, tmp_path) -> None:
    start = DAY + 100.0  # 100 s into the 200 s run
    drift = SchemaDrift(start=start, rename={"title_id": "content_id"}, event_ts_as_iso=True,
                        add_fields={"player": "v2"}, drop_fields=("app_version",))  # fmt: skip
    summary, records = faulty_run(small_world, tmp_path, DataFaults(schema_drift=drift))
    events = [e for e in parsed(records) if e is not None]
    before = [e for e in events if "title_id" in e]
    after = [e for e in events if "content_id" in e]
    assert before and after and len(before) + len(after) == len(events)
    assert all(isinstance(e["event_ts"], float) and e["event_ts"] < start for e in before)
    assert all(isinstance(e["event_ts"], str) and e["event_ts"].endswith("Z") for e in after)
    assert all(e["player"] == "v2" and "app_version" not in e for e in after)
    assert summary.faults["schema_drift"] == len(after)


def test_oversize_records_are_over_the_limit_and_dead_lettered(small_world: World, tmp_path) -> None:
    summary, records = faulty_run(
        small_world, tmp_path, DataFaults(oversize=Fault(rate=0.001)), count="10000"
    )
    assert summary.faults["oversize"] > 0
    assert summary.dead_lettered == summary.faults["oversize"]
    assert all(len(r) <= 1_024_000 for r in records)
    lines = (tmp_path / "dlq.ndjson").read_text().splitlines()
    assert {json.loads(line)["reason"] for line in lines} == {"RecordTooLarge"}
    assert summary.generated == summary.accepted + summary.dead_lettered


def test_faulty_output_is_identical_however_the_run_is_batched(small_world: World, tmp_path) -> None:
    faults = DataFaults(duplicates=Fault(rate=0.05, delay_s=30), out_of_order=Fault(rate=0.05),
                        malformed=Fault(rate=0.01), late=Fault(rate=0.01, delay_s=60, max_delay_s=7200))  # fmt: skip
    _, a = faulty_run(small_world, tmp_path, faults, count="20000")
    _, b = faulty_run(
        small_world, tmp_path, faults, count="20000", batch_records="37", speed="20x", linger="20ms"
    )
    assert a == b

from __future__ import annotations

import asyncio
import json
import random

from producer.config.settings import resolve
from producer.delivery.batching import Batcher, PackedBatch
from producer.delivery.manifest import read_manifest
from producer.delivery.retry import DeliverySink, RetryPolicy
from producer.delivery.transport_faults import FaultyTransport, TransportFaults
from producer.generation.world import World
from producer.runtime.clock import ManualClock
from producer.runtime.runner import run
from tests.support.transports import KeepingTransport


def shipped(world: World, tmp_path, pack: int | None) -> tuple:
    inner = KeepingTransport()
    sink = DeliverySink(inner, policy=RetryPolicy(base_s=0.0), rng=random.Random(0))
    flags = {"rate": "2k/s", "count": "20000", "start": "2026-01-27", "seed": "6",
             "dead_letter": str(tmp_path / f"dlq-{pack}.ndjson"), "manifest": str(tmp_path / f"m-{pack}")}  # fmt: skip
    summary = asyncio.run(
        run(resolve(flags, env={}), sink, world=world, clock=ManualClock(), batcher=Batcher(pack_bytes=pack))
    )
    return summary, inner.records


def test_packing_delivers_the_same_bytes_in_16x_fewer_billed_units(small_world: World, tmp_path) -> None:
    plain, plain_records = shipped(small_world, tmp_path, None)
    packed, packed_records = shipped(small_world, tmp_path, 5 * 1024)
    assert b"".join(plain_records) == b"".join(packed_records)  # what lands in S3 is identical
    assert plain.generated == plain.accepted == packed.generated == packed.accepted == 20_000
    assert all(len(r) <= 5 * 1024 for r in packed_records)
    assert packed.records == len(packed_records) < plain.records / 14
    assert plain.billed_bytes / packed.billed_bytes > 14  # ~310-byte events, 5 KB billing units
    ids = sum(len(chunk) for chunk in read_manifest(tmp_path / "m-5120"))
    assert ids == 20_000  # the manifest stays per event


def test_packed_records_that_fail_are_dead_lettered_event_by_event(small_world: World, tmp_path) -> None:
    inner = KeepingTransport()
    # Failing otherwise than throttled, so that one attempt is all a record gets.
    transport = FaultyTransport(inner, TransportFaults(throttle_rate=0.3), throttle_code="InternalFailure",
                                throttle_message="internal error", seed=1)  # fmt: skip
    sink = DeliverySink(transport, policy=RetryPolicy(max_attempts=1), rng=random.Random(0))
    dlq = tmp_path / "dlq.ndjson"
    flags = {"rate": "2k/s", "count": "10000", "start": "2026-01-27", "seed": "6", "dead_letter": str(dlq)}
    summary = asyncio.run(
        run(
            resolve(flags, env={}),
            sink,
            world=small_world,
            clock=ManualClock(),
            batcher=Batcher(pack_bytes=5120),
        )
    )
    assert summary.generated == summary.accepted + summary.dead_lettered == 10_000
    lines = dlq.read_text().splitlines()
    assert len(lines) == summary.dead_lettered > 1000
    assert all(json.loads(json.loads(line)["record"])["event_id"] for line in lines)  # one event each
    assert sum(r.count(b"\n") for r in inner.records) == summary.accepted


class OneByOne:
    """Packing as the rule says it, one event at a time: the oracle for Batcher."""

    def __init__(self, *, pack: int, max_records: int, max_bytes: int, max_record_bytes: int) -> None:
        self.pack, self.limit_n, self.limit_b = pack, max_records, max_bytes
        self.limit_r = min(max_record_bytes, max_bytes)
        self.pack = min(pack, self.limit_r)
        self.batch: list[bytes] = []
        self.size = 0
        self.since: float | None = None
        self.oversize: list[bytes] = []

    def extend(self, events: list[bytes], now: float) -> list[list[bytes]]:
        full = []
        for e in events:
            n = len(e)
            if n > self.limit_r:
                self.oversize.append(e)
            elif self.batch and len(self.batch[-1]) + n <= self.pack and self.size + n <= self.limit_b:
                self.batch[-1] += e  # joins the last record
                self.size += n
            else:
                if self.size + n > self.limit_b or len(self.batch) >= self.limit_n:
                    full.append(self.batch)
                    self.batch, self.size, self.since = [], 0, None
                self.batch.append(e)
                self.size += n
                if self.since is None:
                    self.since = now
        return full


def test_packing_by_runs_cuts_the_records_of_packing_one_event_at_a_time() -> None:
    rng = random.Random(8)
    for case in range(400):
        pack = rng.choice([64, 300, 1000, 5120])
        limits = {
            "max_records": rng.choice([1, 3, 500]),
            "max_bytes": rng.choice([200, 2000, 50_000]),
            "max_record_bytes": rng.choice([150, 1500, 10_000]),
        }
        batcher, oracle = Batcher(pack_bytes=pack, **limits), OneByOne(pack=pack, **limits)
        got: list[list[bytes]] = []
        want: list[list[bytes]] = []
        for call in range(rng.randint(1, 6)):
            events = [b"x" * rng.randint(1, 400) + b"\n" for _ in range(rng.randint(0, 60))]
            # Any iterable: a list, a tuple, a generator.
            given = rng.choice([list, tuple, iter])(events)
            got += batcher.extend(given, now=float(call))
            want += oracle.extend(events, now=float(call))
            assert len(batcher) == len(oracle.batch), case
            assert batcher.expired(call + 1.0) == (
                oracle.since is not None and call + 1.0 - oracle.since >= 1.0
            )
        got.append(batcher.drain())
        want.append(oracle.batch)
        assert got == want, case
        assert batcher.take_oversize() == oracle.oversize, case
        assert all(
            isinstance(b, PackedBatch) and b.events == sum(r.count(b"\n") for r in b) for b in got[:-1]
        )
        assert all(sum(map(len, b)) <= min(limits["max_bytes"], 4 * 1024 * 1024) for b in got), case

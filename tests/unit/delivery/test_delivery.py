from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence

import pytest

from producer.config.settings import parse_quota, resolve
from producer.delivery.batching import Batcher
from producer.delivery.retry import DeliverySink, RetryPolicy, TransportError
from producer.delivery.transport_faults import FaultyTransport, Quota, TransportFaults
from producer.errors import ConfigError, SinkError
from producer.generation.world import World
from producer.runtime.clock import ManualClock
from producer.runtime.runner import run
from tests.support.transports import SLOW, KeepingTransport


class ScriptedTransport:
    """Answers each call from a script: a set of failing indices, or an exception."""

    name = "scripted"

    def __init__(self, script: list[object]) -> None:
        self.script = list(script)
        self.calls: list[list[bytes]] = []
        self.closed = False

    async def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        self.calls.append(list(records))
        step = self.script.pop(0) if self.script else set()
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, set)
        return [(i, *SLOW) for i in sorted(step) if i < len(records)]

    async def aclose(self) -> None:
        self.closed = True


class Recorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_sink(script: list[object], attempts: int = 5) -> tuple[DeliverySink, ScriptedTransport, Recorder]:
    t = ScriptedTransport(script)
    rec = Recorder()
    sink = DeliverySink(t, policy=RetryPolicy(max_attempts=attempts), rng=random.Random(1), sleep=rec)
    return sink, t, rec


RECORDS = [f'{{"n":{i}}}\n'.encode() for i in range(10)]


def test_partial_failures_resend_only_the_failed_records() -> None:
    sink, t, rec = make_sink([{1, 3, 7}, {1}, set()])
    result = asyncio.run(sink.send_batch(RECORDS))
    assert result.delivered == 10 and not result.failures
    assert t.calls[1] == [RECORDS[1], RECORDS[3], RECORDS[7]]
    assert t.calls[2] == [RECORDS[3]]  # index 1 of the second call is record 3
    assert result.retried == 4 and result.throttled == 4 and result.calls == 3
    assert len(result.latencies_ms) == 3
    assert len(rec.delays) == 2


def test_records_that_exhaust_their_attempts_come_back_as_failures_with_the_reason() -> None:
    sink, t, _ = make_sink([{2, 5}, {0, 1}, {0, 1}], attempts=3)
    result = asyncio.run(sink.send_batch(RECORDS))
    assert result.delivered == 8
    assert [(f.index, f.code, f.message) for f in result.failures] == [(2, *SLOW), (5, *SLOW)]
    assert result.calls == 3
    assert len(t.calls) == 3


def test_whole_call_throttling_and_5xx_are_retried() -> None:
    busy = TransportError("ServiceUnavailableException", "Slow down.", retryable=True)
    boom = TransportError("InternalFailure", "oops", retryable=True)
    sink, t, _ = make_sink([busy, boom, set()])
    result = asyncio.run(sink.send_batch(RECORDS))
    assert result.delivered == 10 and result.calls == 3
    assert result.throttled == 10  # the whole call was throttled once
    assert all(call == RECORDS for call in t.calls)


def test_non_retryable_errors_stop_with_one_line_and_the_batch_as_failures() -> None:
    gone = TransportError(
        "ResourceNotFoundException", "Firehose stream 'x' not found in us-east-1", retryable=False
    )
    sink, t, _ = make_sink([gone])
    with pytest.raises(SinkError) as err:
        asyncio.run(sink.send_batch(RECORDS))
    assert str(err.value) == "Firehose stream 'x' not found in us-east-1"
    assert err.value.result is not None
    assert err.value.result.delivered == 0 and len(err.value.result.failures) == 10
    assert len(t.calls) == 1


def test_an_endpoint_that_stays_unreachable_stops_the_run_after_its_attempts() -> None:
    down = TransportError("EndpointConnectionError", "cannot reach http://127.0.0.1:1", retryable=True)
    sink, t, _ = make_sink([down] * 10, attempts=4)
    with pytest.raises(SinkError, match="cannot reach") as err:
        asyncio.run(sink.send_batch(RECORDS))
    assert len(t.calls) == 4
    assert err.value.result is not None
    assert {f.code for f in err.value.result.failures} == {"EndpointConnectionError"}


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(max_attempts=10, base_s=0.1, cap_s=1.0)
    rng = random.Random(3)
    for attempt in range(2, 11):
        ceiling = min(1.0, 0.1 * 2 ** (attempt - 2))
        draws = [policy.delay(attempt, rng) for _ in range(200)]
        assert 0 <= min(draws) and max(draws) <= ceiling
        assert max(draws) > 0.8 * ceiling  # jitter spans the whole range


def test_rehearsed_throttling_never_sends_throttled_records() -> None:
    inner = KeepingTransport()
    faulty = FaultyTransport(inner, TransportFaults(throttle_rate=0.3), throttle_code=SLOW[0],
                             throttle_message=SLOW[1], seed=4)  # fmt: skip
    records = [f"{i}\n".encode() for i in range(10_000)]
    failed = asyncio.run(faulty.put(records))
    assert 0.27 < len(failed) / len(records) < 0.33
    assert {code for _, code, _ in failed} == {SLOW[0]}
    sent = set(inner.records)
    assert all(records[i] not in sent for i, _, _ in failed)
    assert len(inner.records) + len(failed) == len(records)


def test_rehearsed_quota_throttles_the_excess_like_a_stream_limit() -> None:
    clock = ManualClock()
    inner = KeepingTransport()
    faulty = FaultyTransport(inner, TransportFaults(quota=Quota(per_s=1000, unit="records")),
                             throttle_code=SLOW[0], throttle_message=SLOW[1], clock=clock.monotonic)  # fmt: skip
    records = [b"x\n"] * 1500
    assert len(asyncio.run(faulty.put(records))) == 500
    clock.advance(0.25)
    assert len(asyncio.run(faulty.put(records[:500]))) == 250
    assert parse_quota("1MiB/s") == Quota(per_s=1024 * 1024, unit="bytes")
    with pytest.raises(ConfigError, match="--quota"):
        parse_quota("fast")


def test_a_run_under_30_percent_throttling_loses_nothing(small_world: World, tmp_path) -> None:
    inner = KeepingTransport()
    faulty = FaultyTransport(inner, TransportFaults(throttle_rate=0.3), throttle_code=SLOW[0],
                             throttle_message=SLOW[1], seed=2)  # fmt: skip
    sink = DeliverySink(faulty, policy=RetryPolicy(max_attempts=20, base_s=0.0), rng=random.Random(0))
    settings = resolve({"rate": "5k/s", "count": "20000", "start": "2026-01-01", "seed": "3",
                        "dead_letter": str(tmp_path / "dlq")}, env={})  # fmt: skip
    summary = asyncio.run(run(settings, sink, world=small_world, clock=ManualClock()))
    assert summary.generated == summary.accepted == 20_000
    assert summary.dead_lettered == summary.failed == 0
    assert summary.throttled > 0.25 * 20_000
    assert summary.retried >= summary.throttled
    assert len(inner.records) == 20_000 == len(set(inner.records))
    assert summary.latency_ms["p50"] is not None


def test_records_over_the_limit_are_dead_lettered_with_the_reason(small_world: World, tmp_path) -> None:
    inner = KeepingTransport()
    sink = DeliverySink(inner)
    dlq = tmp_path / "dlq.ndjson"
    settings = resolve({"rate": "1k/s", "count": "2000", "start": "2026-01-01", "seed": "3",
                        "dead_letter": str(dlq)}, env={})  # fmt: skip
    batcher = Batcher(max_record_bytes=320)
    summary = asyncio.run(run(settings, sink, world=small_world, clock=ManualClock(), batcher=batcher))
    big = summary.dead_lettered
    assert big > 0 and summary.accepted + big == 2000 == summary.generated
    lines = [json.loads(line) for line in dlq.read_text().splitlines()]
    assert len(lines) == big
    assert all(line["reason"] == "RecordTooLarge" and len(line["record"]) > 320 for line in lines)

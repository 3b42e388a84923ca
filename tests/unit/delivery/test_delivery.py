from __future__ import annotations

import asyncio
import json
import random
import re
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
from producer.sinks.base import BatchResult
from tests.support.polling import turns_until
from tests.support.transports import SLOW, KeepingTransport


class VirtualTime:
    """A clock that moves only when the sink sleeps: backoffs and pacing cost no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.delays: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class ScriptedTransport:
    """Answers each call from a script: a set of failing indices, or an exception."""

    name = "scripted"

    def __init__(self, script: list[object], time: VirtualTime, code: tuple[str, str] = SLOW) -> None:
        self.script = list(script)
        self.time = time
        self.code = code
        self.calls: list[list[bytes]] = []
        self.sent_at: list[float] = []
        self.closed = False

    async def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        self.calls.append(list(records))
        self.sent_at.append(self.time.now)
        step = self.script.pop(0) if self.script else set()
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, set)
        return [(i, *self.code) for i in sorted(step) if i < len(records)]

    async def aclose(self) -> None:
        self.closed = True


def make_sink(
    script: list[object], attempts: int = 5, retry_time: float = 60.0, code: tuple[str, str] = SLOW
) -> tuple[DeliverySink, ScriptedTransport, VirtualTime]:
    time = VirtualTime()
    t = ScriptedTransport(script, time, code)
    policy = RetryPolicy(max_attempts=attempts, max_retry_time_s=retry_time)
    sink = DeliverySink(t, policy=policy, rng=random.Random(1), sleep=time.sleep, clock=time.clock)
    return sink, t, time


RECORDS = [f'{{"n":{i}}}\n'.encode() for i in range(10)]
INTERNAL = ("InternalFailure", "internal error")


def test_partial_failures_resend_only_the_failed_records() -> None:
    sink, t, _ = make_sink([{1, 3, 7}, {1}, set()])
    result = asyncio.run(sink.send_batch(RECORDS))
    assert result.delivered == 10 and not result.failures
    assert t.calls[1] == [RECORDS[1], RECORDS[3], RECORDS[7]]  # failed together, resent together
    assert t.calls[2] == [RECORDS[3]]  # index 1 of the second call is record 3
    assert result.retried == 4 and result.throttled == 4 and result.calls == 3
    assert len(result.latencies_ms) == 3
    assert t.sent_at[0] < t.sent_at[1] < t.sent_at[2]  # each resend after a backoff


def test_records_that_exhaust_their_attempts_come_back_as_failures_with_the_reason() -> None:
    sink, t, _ = make_sink([{2, 5}, {0, 1}, {0, 1}], attempts=3, code=INTERNAL)
    result = asyncio.run(sink.send_batch(RECORDS))
    assert result.delivered == 8
    assert [(f.index, f.code, f.message, f.attempts) for f in result.failures] == [
        (2, *INTERNAL, 3), (5, *INTERNAL, 3)
    ]  # fmt: skip
    assert result.calls == 3
    assert len(t.calls) == 3


def test_throttled_records_are_resent_for_the_retry_time_not_a_count() -> None:
    # 30 calls throttled in part, far more than --max-attempts: none given up.
    sink, t, _ = make_sink([{0}] * 30, attempts=3, retry_time=3600)
    result = asyncio.run(sink.send_batch(RECORDS))
    assert result.delivered == 10 and not result.failures
    assert len(t.calls) == 31 and result.throttled == 30


def test_a_record_throttled_past_the_retry_time_is_dead_lettered_saying_so() -> None:
    # Record 0 is throttled in every call while the stream accepts the others.
    records = [f'{{"n":{i}}}\n'.encode() for i in range(400)]
    time = VirtualTime()

    class OneStuck:
        name = "stuck"

        async def put(self, batch: Sequence[bytes]) -> list[tuple[int, str, str]]:
            return [(j, *SLOW) for j, r in enumerate(batch) if r == records[0]]

        async def aclose(self) -> None:
            pass

    policy = RetryPolicy(max_retry_time_s=5.0)
    sink = DeliverySink(OneStuck(), policy=policy, rng=random.Random(1), sleep=time.sleep, clock=time.clock)

    async def main() -> list[object]:
        first = asyncio.create_task(sink.send_batch(records[:1]))
        others = []
        while not first.done():  # the stream keeps accepting other records meanwhile
            others.append(await sink.send_batch(records[1 + len(others) % 399 : 2 + len(others) % 399]))
        return [await first, *others]

    results = asyncio.run(main())
    stuck = results[0]
    assert isinstance(stuck, BatchResult) and stuck.delivered == 0
    (failure,) = stuck.failures
    assert failure.code == SLOW[0] and failure.attempts > 3
    assert re.search(r"\(throttled for [56] s over \d+ sends\)$", failure.message)
    assert 5.0 <= time.now < 7.0


def test_a_stream_that_accepts_nothing_for_the_retry_time_stops_the_run() -> None:
    sink, _, time = make_sink([set(range(10))] * 10_000, retry_time=10.0)
    with pytest.raises(SinkError) as err:
        asyncio.run(sink.send_batch(RECORDS))
    # Refusing everything, the stream gets the full backoff: the run stops at the first
    # answer past the retry time.
    assert re.fullmatch(r"scripted accepted nothing for 1[0-5] s: Slow down\.", str(err.value))
    assert err.value.result is not None and len(err.value.result.failures) == 10
    assert 10.0 <= time.now < 16.0


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


def test_an_endpoint_down_for_less_than_the_retry_time_is_waited_for() -> None:
    down = TransportError("EndpointConnectionError", "cannot reach http://127.0.0.1:1", retryable=True)
    sink, t, time = make_sink([down] * 12, attempts=3, retry_time=60.0)
    result = asyncio.run(sink.send_batch(RECORDS))
    assert result.delivered == 10 and len(t.calls) == 13
    assert time.now > 10.0  # backed off between the attempts, past --max-attempts


def test_an_endpoint_that_stays_unreachable_stops_the_run_after_the_retry_time() -> None:
    down = TransportError("EndpointConnectionError", "cannot reach http://127.0.0.1:1", retryable=True)
    sink, _, time = make_sink([down] * 1000, retry_time=20.0)
    with pytest.raises(SinkError, match="cannot reach") as err:
        asyncio.run(sink.send_batch(RECORDS))
    assert 20.0 <= time.now < 26.0
    assert err.value.result is not None
    assert {f.code for f in err.value.result.failures} == {"EndpointConnectionError"}


def test_resends_go_out_first_beside_the_records_of_later_batches() -> None:
    sink, t, _ = make_sink([{1, 2}])
    second = [b'{"later":%d}\n' % i for i in range(3)]

    async def main() -> tuple[BatchResult, BatchResult]:
        a = asyncio.create_task(sink.send_batch(RECORDS))
        await turns_until(lambda: len(t.calls) == 1, what="the first batch's call")
        b = asyncio.create_task(sink.send_batch(second))
        return await a, await b

    first, later = asyncio.run(main())
    assert first.delivered == 10 and later.delivered == 3
    # The failed records did not hold a call open: the next call carried them ahead of
    # the later batch's records (or the later batch went first while they backed off).
    flat = [r for call in t.calls[1:] for r in call]
    assert sorted(flat) == sorted([RECORDS[1], RECORDS[2], *second])
    assert len(t.calls) <= 3 and first.retried == 2 and later.retried == 0


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


def test_a_burst_of_whole_call_503s_and_an_endpoint_down_for_10_s_lose_nothing() -> None:
    time = VirtualTime()
    kept: list[bytes] = []

    class Outages:
        """Whole calls answered 503 "Slow down." for t in [1, 6), unreachable for [10, 20)."""

        name = "outages"

        async def put(self, batch: Sequence[bytes]) -> list[tuple[int, str, str]]:
            if 1.0 <= time.now < 6.0:
                raise TransportError("ServiceUnavailableException", "Slow down.", retryable=True)
            if 10.0 <= time.now < 20.0:
                raise TransportError("EndpointConnectionError", "cannot reach http://x", retryable=True)
            kept.extend(batch)
            return []

        async def aclose(self) -> None:
            pass

    sink = DeliverySink(Outages(), policy=RetryPolicy(max_attempts=3), rng=random.Random(2),
                        sleep=time.sleep, clock=time.clock)  # fmt: skip

    async def main() -> list[BatchResult]:
        results = []
        for k in range(30):  # a batch a second for 30 s, across both outages
            batch = [b'{"k":%d,"i":%d}\n' % (k, i) for i in range(20)]
            results.append(asyncio.create_task(sink.send_batch(batch)))
            await time.sleep(max(0.0, k + 1 - time.now))
        return list(await asyncio.gather(*results))

    results = asyncio.run(main())
    assert sum(r.delivered for r in results) == 600 == len(set(kept)) == len(kept)
    assert not any(r.failures for r in results)
    assert sum(r.throttled for r in results) > 0 and sum(r.retried for r in results) > 0


def test_a_batch_over_the_call_limits_goes_out_in_several_calls() -> None:
    sink, t, _ = make_sink([])
    records = [b"x" * 100 + b"\n"] * 1200
    result = asyncio.run(sink.send_batch(records))
    assert result.delivered == 1200 and [len(c) for c in t.calls] == [500, 500, 200]

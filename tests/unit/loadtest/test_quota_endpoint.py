"""The local quota endpoint answers the real transports as a stream at its quota does."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request
from collections.abc import Iterator

import pytest

from producer.loadtest.quota_endpoint import Quota, QuotaEndpoint, serve_in_thread
from producer.sinks.aws.clients import AwsOptions
from producer.sinks.aws.firehose import FirehoseTransport
from producer.sinks.aws.kinesis import KinesisTransport
from tests.support.canned_endpoint import REGION, dummy_env
from tests.support.polling import wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(i: int, user: int, size: int = 1000) -> bytes:
    head = json.dumps({"event_id": f"e{i:06d}", "user_id": user}, separators=(",", ":"))
    return (head[:-1] + ',"pad":"' + "x" * (size - len(head) - 10) + '"}\n').encode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[QuotaEndpoint]:
    dummy_env(monkeypatch)
    ep = QuotaEndpoint(Quota(bytes_per_s=10_000, records_per_s=1_000), shards=2, clock=clock)
    stop = serve_in_thread(ep)
    try:
        yield ep
    finally:
        stop()


def stats(ep: QuotaEndpoint) -> dict:
    with urllib.request.urlopen(f"{ep.url}/__stats", timeout=30) as answer:
        return dict(json.loads(answer.read()))


def test_firehose_keeps_records_up_to_the_quota_and_slows_down_the_rest(
    endpoint: QuotaEndpoint, clock: FakeClock
) -> None:
    records = [record(i, user=i) for i in range(50)]
    assert all(len(r) == 1000 for r in records)

    async def main() -> tuple[list, list, list]:
        transport = FirehoseTransport(
            stream="s", options=AwsOptions(endpoint_url=endpoint.url, region=REGION)
        )
        try:
            # A full bucket holds one second: 10 records of 1,000 bytes.
            first = await transport.put(records)
            clock.now += 0.5  # half a second refills 5,000 bytes
            again = await transport.put([records[i] for i, _, _ in first])
            clock.now += 1.0
            dup = await transport.put(records[:1])  # already kept once
            return first, again, dup
        finally:
            await transport.aclose()

    first, again, dup = asyncio.run(main())
    assert [i for i, _, _ in first] == list(range(10, 50))
    assert {(code, message) for _, code, message in first} == {("ServiceUnavailableException", "Slow down.")}
    assert len(again) == 35 and dup == []
    got = stats(endpoint)
    assert got["records"] == 50 + 40 + 1 and got["accepted"] == 10 + 5 + 1
    assert got["throttled"] == 40 + 35 and got["accepted_bytes"] == 16 * 1000
    assert got["events"] == 16 and got["duplicates"] == 1 and len(endpoint.event_ids) == 15


def test_kinesis_throttles_a_hot_shard_and_not_the_other(endpoint: QuotaEndpoint) -> None:
    hot = [record(i, user=7, size=100) for i in range(150)]  # one key: one shard
    spread = [record(100 + i, user=1000 + i, size=100) for i in range(60)]

    async def main() -> tuple[list, list]:
        transport = KinesisTransport(
            stream="k", partition_key="user_id", options=AwsOptions(endpoint_url=endpoint.url, region=REGION)
        )
        try:
            return await transport.put(hot), await transport.put(spread)
        finally:
            await transport.aclose()

    hot_failed, spread_failed = asyncio.run(main())
    # 100-byte records and a 1-character key against 10,000 bytes a second: 99 of them.
    assert len(hot_failed) == 150 - 10_000 // 101
    assert {code for _, code, _ in hot_failed} == {"ProvisionedThroughputExceededException"}
    assert all("Rate exceeded for shard shardId-" in message for _, _, message in hot_failed)
    by_shard = stats(endpoint)["accepted_by_shard"]
    assert len(by_shard) == 2, "the spread keys reach both shards"
    hot_shard = max(by_shard, key=by_shard.get)
    # The hot shard took no more than its quota; the other took every record sent to it.
    assert by_shard[hot_shard] <= 10_000 // 101
    assert sum(by_shard.values()) == 150 + 60 - len(hot_failed) - len(spread_failed)
    assert len(spread_failed) < 60


def test_it_stops_by_itself_when_nobody_calls() -> None:
    ep = QuotaEndpoint(idle_s=0.2)
    serve_in_thread(ep)
    port = int(ep.url.rsplit(":", 1)[1])

    def refused() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) != 0

    wait_until(refused, what="the idle endpoint to stop")


def test_random_throttling_with_spare_capacity() -> None:
    ep = QuotaEndpoint(Quota(bytes_per_s=1e12, records_per_s=1e12, throttle_share=0.3, seed=4))
    body = json.dumps({"DeliveryStreamName": "s", "Records": [{"Data": "eHg="} for _ in range(500)]}).encode()
    failed = sum(
        json.loads(ep.answer("Firehose_20150804.PutRecordBatch", body)[1])["FailedPutCount"]
        for _ in range(20)
    )
    assert ep.counts.records == 10_000 and failed == ep.counts.throttled
    assert abs(failed / 10_000 - 0.3) < 0.02

"""A local stream endpoint that enforces a quota, as Firehose and Kinesis do.

It speaks the JSON 1.1 protocol of Firehose (``PutRecordBatch``, ``DescribeDeliveryStream``)
and of Kinesis (``PutRecords``, ``DescribeStreamSummary``) on a loopback port, so the
producer, the locust users and the benchmarks can be pointed at it with
``--endpoint-url``. Every stream (every shard of a Kinesis stream) has two token buckets,
bytes and records per second, refilled continuously and holding at most ``burst_s`` worth.
A record the buckets cannot pay for is answered as AWS answers it and not kept: Firehose
``ServiceUnavailableException`` "Slow down.", Kinesis
``ProvisionedThroughputExceededException`` "Rate exceeded for shard ...". Records are
taken in order, so a call is accepted up to the quota and throttled beyond it.

It counts what it kept by event id (a packed record holds several events): an event
kept twice is a duplicate. ``GET /__stats`` answers the counts as JSON. It stops by
itself after ``idle_s`` without a request, so a test or benchmark that dies never
leaves it behind::

    python -m producer.loadtest.quota_endpoint --bytes-per-s 1MiB --records-per-s 1000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Quota", "QuotaEndpoint", "serve_in_thread"]

REGION = "us-east-1"
ACCOUNT = "123456789012"
_EVENT_ID = re.compile(rb'"event_id":\s*"([^"]+)"')
_SLOW = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}


@dataclass(frozen=True, slots=True)
class Quota:
    """Per stream (per shard for Kinesis): bytes and records per second, and the burst."""

    bytes_per_s: float = 1024 * 1024
    records_per_s: float = 1000.0
    burst_s: float = 1.0
    #: Besides the quota, this share of records is throttled at random (a hot partition,
    #: a short internal failure), with spare capacity; drawn from ``seed``.
    throttle_share: float = 0.0
    seed: int = 0


@dataclass(slots=True)
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    at: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now


class _Limit:
    """The two buckets of one stream or shard."""

    def __init__(self, quota: Quota, now: float) -> None:
        self.bytes = _Bucket(quota.bytes_per_s, quota.bytes_per_s * quota.burst_s, 0.0, now)
        self.records = _Bucket(quota.records_per_s, quota.records_per_s * quota.burst_s, 0.0, now)
        # Full at the start, as a stream that has been idle.
        self.bytes.tokens, self.records.tokens = self.bytes.capacity, self.records.capacity

    def take(self, size: int, now: float) -> bool:
        self.bytes.refill(now)
        self.records.refill(now)
        if self.bytes.tokens < size or self.records.tokens < 1.0:
            return False
        self.bytes.tokens -= size
        self.records.tokens -= 1.0
        return True


@dataclass
class Counts:
    """What the endpoint received and kept; ``GET /__stats``."""

    calls: int = 0
    records: int = 0
    accepted: int = 0
    throttled: int = 0
    accepted_bytes: int = 0
    events: int = 0
    duplicates: int = 0
    errors: int = 0
    first_call: float | None = None
    last_call: float | None = None
    by_shard: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "records": self.records,
            "accepted": self.accepted,
            "throttled": self.throttled,
            "accepted_bytes": self.accepted_bytes,
            "events": self.events,
            "duplicates": self.duplicates,
            "errors": self.errors,
            "first_call": self.first_call,
            "last_call": self.last_call,
            "accepted_by_shard": dict(self.by_shard),
        }


class QuotaEndpoint:
    """The endpoint's state and answers; :meth:`start` serves it on a loopback port."""

    def __init__(
        self,
        quota: Quota | None = None,
        *,
        shards: int = 1,
        idle_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quota = quota or Quota()
        self.shards = max(1, shards)
        self.idle_s = idle_s
        self.clock = clock
        self.counts = Counts()
        self.event_ids: set[bytes] = set()
        self._limits: dict[str, _Limit] = {}
        self._random = random.Random(self.quota.seed)
        self._server: asyncio.Server | None = None
        self._last_request = clock()
        self.url = ""

    # -- the answers ---------------------------------------------------------------------

    def _limit(self, key: str) -> _Limit:
        limit = self._limits.get(key)
        if limit is None:
            limit = self._limits[key] = _Limit(self.quota, self.clock())
        return limit

    def _refused(self) -> bool:
        share = self.quota.throttle_share
        return share > 0 and self._random.random() < share

    def _keep(self, data: bytes, shard: str) -> None:
        counts = self.counts
        counts.accepted += 1
        counts.accepted_bytes += len(data)
        counts.by_shard[shard] = counts.by_shard.get(shard, 0) + 1
        for event_id in _EVENT_ID.findall(data):
            counts.events += 1
            if event_id in self.event_ids:
                counts.duplicates += 1
            else:
                self.event_ids.add(event_id)

    def _shard(self, partition_key: str) -> int:
        # Kinesis maps the key's MD5 (a 128-bit number) onto shards of equal hash ranges.
        return int(hashlib.md5(partition_key.encode("utf-8")).hexdigest(), 16) * self.shards >> 128

    def put_record_batch(self, request: dict[str, Any]) -> dict[str, Any]:
        stream = str(request["DeliveryStreamName"])
        limit = self._limit(f"firehose/{stream}")
        now = self.clock()
        answers: list[dict[str, Any]] = []
        failed = 0
        for record in request["Records"]:
            data = base64.b64decode(record["Data"], validate=True)
            self.counts.records += 1
            if not self._refused() and limit.take(len(data), now):
                self._keep(data, stream)
                answers.append({"RecordId": f"{self.counts.accepted:056d}"})
            else:
                failed += 1
                answers.append(dict(_SLOW))
        self.counts.throttled += failed
        return {"FailedPutCount": failed, "Encrypted": False, "RequestResponses": answers}

    def put_records(self, request: dict[str, Any]) -> dict[str, Any]:
        stream = str(request["StreamName"])
        now = self.clock()
        answers: list[dict[str, Any]] = []
        failed = 0
        for record in request["Records"]:
            data = base64.b64decode(record["Data"], validate=True)
            key = str(record["PartitionKey"])
            shard = f"shardId-{self._shard(key):012d}"
            self.counts.records += 1
            # A record counts its data and its partition key against the shard's quota.
            paid = not self._refused() and self._limit(f"kinesis/{stream}/{shard}").take(
                len(data) + len(key.encode()), now
            )
            if paid:
                self._keep(data, shard)
                answers.append({"SequenceNumber": str(10**20 + self.counts.accepted), "ShardId": shard})
            else:
                failed += 1
                message = f"Rate exceeded for shard {shard} in stream {stream} under account {ACCOUNT}."
                answers.append(
                    {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": message}
                )
        self.counts.throttled += failed
        return {"FailedRecordCount": failed, "Records": answers}

    def describe(self, op: str, request: dict[str, Any]) -> dict[str, Any]:
        if op == "DescribeDeliveryStream":
            name = request["DeliveryStreamName"]
            return {
                "DeliveryStreamDescription": {
                    "DeliveryStreamName": name,
                    "DeliveryStreamARN": f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{name}",
                    "DeliveryStreamStatus": "ACTIVE",
                    "DeliveryStreamType": "DirectPut",
                    "VersionId": "1",
                    "Destinations": [],
                    "HasMoreDestinations": False,
                }
            }
        name = request["StreamName"]
        return {
            "StreamDescriptionSummary": {
                "StreamName": name,
                "StreamARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}",
                "StreamStatus": "ACTIVE",
                "OpenShardCount": self.shards,
            }
        }

    def answer(self, target: str, body: bytes) -> tuple[int, bytes]:
        """The status and JSON body for one request (``X-Amz-Target`` and its body)."""
        op = target.rpartition(".")[2]
        now = self.clock()
        try:
            request = json.loads(body or b"{}")
            if op == "PutRecordBatch":
                out = self.put_record_batch(request)
            elif op == "PutRecords":
                out = self.put_records(request)
            elif op in ("DescribeDeliveryStream", "DescribeStreamSummary"):
                out = self.describe(op, request)
            else:
                self.counts.errors += 1
                return 400, json.dumps({"__type": "UnknownOperationException", "message": target}).encode()
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            self.counts.errors += 1
            return 400, json.dumps({"__type": "InvalidArgumentException", "message": str(exc)}).encode()
        if op.startswith("Put"):
            self.counts.calls += 1
            self.counts.first_call = self.counts.first_call or now
            self.counts.last_call = now
        return 200, json.dumps(out).encode()

    # -- serving -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port); returns the endpoint's URL."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Http(self), host, port)
        self.url = f"http://{host}:{self._server.sockets[0].getsockname()[1]}"
        self._last_request = self.clock()
        return self.url

    async def serve_until_idle(self) -> None:
        """Serve until ``idle_s`` pass without a request (or :meth:`stop`)."""
        while self._server is not None:
            if self.clock() - self._last_request > self.idle_s:
                await self.stop()
                return
            await asyncio.sleep(min(1.0, self.idle_s / 4))

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    def touched(self) -> None:
        self._last_request = self.clock()


class _Http(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all the AWS clients send."""

    def __init__(self, endpoint: QuotaEndpoint) -> None:
        self.endpoint = endpoint
        self.buf = bytearray()
        self.head: tuple[str, dict[str, str]] | None = None
        self.need = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.head is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    key, _, value = line.partition(":")
                    headers[key.strip().lower()] = value.strip()
                del self.buf[: end + 4]
                self.head = (lines[0], headers)
                self.need = int(headers.get("content-length", "0"))
            if len(self.buf) < self.need:
                return
            body = bytes(self.buf[: self.need])
            del self.buf[: self.need]
            request_line, headers = self.head
            self.head = None
            self._respond(request_line, headers, body)

    def _respond(self, request_line: str, headers: dict[str, str], body: bytes) -> None:
        assert self.transport is not None
        endpoint = self.endpoint
        endpoint.touched()
        if request_line.startswith("GET /__stats"):
            status, payload = 200, json.dumps(endpoint.counts.as_dict()).encode()
        else:
            status, payload = endpoint.answer(headers.get("x-amz-target", ""), body)
        reason = "OK" if status == 200 else "Bad Request"
        self.transport.write(
            (
                f"HTTP/1.1 {status} {reason}\r\nx-amzn-RequestId: quota-{endpoint.counts.calls}\r\n"
                f"Content-Type: application/x-amz-json-1.1\r\nContent-Length: {len(payload)}\r\n\r\n"
            ).encode()
            + payload
        )


def serve_in_thread(endpoint: QuotaEndpoint) -> Callable[[], None]:
    """Serve ``endpoint`` from a thread of its own (its URL is set on return); returns a
    function that stops it."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(endpoint.start())
        ready.set()
        loop.run_until_complete(endpoint.serve_until_idle())
        loop.close()

    thread = threading.Thread(target=main, name="quota-endpoint", daemon=True)
    thread.start()
    if not ready.wait(30):
        msg = "the quota endpoint did not start within 30 s"
        raise RuntimeError(msg)

    def stop() -> None:
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(endpoint.stop(), loop).result(30)
        thread.join(30)

    return stop


def main(argv: list[str] | None = None) -> None:
    from producer.config.settings import parse_size

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--bytes-per-s", default="1MiB", help="bytes per second per stream or shard")
    parser.add_argument(
        "--records-per-s", type=float, default=1000.0, help="records per second (default 1000)"
    )
    parser.add_argument("--shards", type=int, default=1, help="shards of each Kinesis stream (default 1)")
    parser.add_argument("--throttle-share", type=float, default=0.0, help="records throttled at random")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random throttling")
    parser.add_argument("--idle", type=float, default=120.0, help="stop after this many idle seconds")
    args = parser.parse_args(argv)
    quota = Quota(
        bytes_per_s=float(parse_size(args.bytes_per_s, "--bytes-per-s")),
        records_per_s=args.records_per_s,
        throttle_share=args.throttle_share,
        seed=args.seed,
    )
    endpoint = QuotaEndpoint(quota, shards=args.shards, idle_s=args.idle)

    async def run() -> None:
        print(await endpoint.start(port=args.port), flush=True)
        await endpoint.serve_until_idle()
        print(json.dumps(endpoint.counts.as_dict()), flush=True)

    asyncio.run(run())


if __name__ == "__main__":
    main()

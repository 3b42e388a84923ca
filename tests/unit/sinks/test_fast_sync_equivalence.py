"""The blocking fast transport (locust) is boto3 on the wire, like the async one is aiobotocore.

The same canned endpoint as ``test_fast_equivalence`` (served from a thread, since these
transports block) answers a boto3 ``FirehoseSyncTransport``/``KinesisSyncTransport`` and
its fast counterpart: the same request body (as JSON), target and content type, a valid
signature, and the same failed records or the same ``TransportError`` for every answer.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from producer.config.settings import resolve
from producer.delivery.retry import TransportError
from producer.delivery.transport_faults import FaultySyncTransport
from producer.sinks.aws.fast import FastFirehoseSyncTransport, FastKinesisSyncTransport
from producer.sinks.aws.firehose import FirehoseSyncTransport
from producer.sinks.aws.kinesis import KinesisSyncTransport
from producer.sinks.registry import stream_delivery
from tests.unit.sinks.test_fast_equivalence import (
    FIREHOSE_ANSWERS,
    KINESIS_ANSWERS,
    REGION,
    SECRET_KEY,
    STREAM,
    CannedEndpoint,
    dummy_env,
    sample_records,
    sigv4_valid,
)


class ThreadedEndpoint:
    """A :class:`CannedEndpoint` on its own event loop thread, for blocking clients."""

    def __init__(self) -> None:
        self.server = CannedEndpoint()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> CannedEndpoint:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self.server

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def make_sync_pair(kind: str, url: str, partition_key: str = "user_id") -> tuple[Any, Any]:
    """A boto3 transport and a fast one on the same client (as ``stream_delivery`` builds them)."""
    session = boto3.session.Session(region_name=REGION)
    config = Config(retries={"total_max_attempts": 1}, max_pool_connections=10)
    if kind == "firehose":
        client = session.client("firehose", endpoint_url=url, config=config)
        return (
            FirehoseSyncTransport(stream=STREAM, client=client),
            FastFirehoseSyncTransport(stream=STREAM, client=client, credentials=session.get_credentials()),
        )
    client = session.client("kinesis", endpoint_url=url, config=config)
    return (
        KinesisSyncTransport(stream="clicks", client=client, partition_key=partition_key, seed=9),
        FastKinesisSyncTransport(
            stream="clicks",
            client=client,
            credentials=session.get_credentials(),
            partition_key=partition_key,
            seed=9,
        ),
    )


def outcome(transport: Any, records: list[bytes]) -> tuple[Any, ...]:
    try:
        return ("ok", transport.put(records))
    except TransportError as exc:
        return ("error", exc.code, exc.retryable, exc.message)


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    dummy_env(monkeypatch)


@pytest.mark.parametrize(
    ("kind", "partition_key"),
    [("firehose", "-"), ("kinesis", "user_id"), ("kinesis", "session_id"), ("kinesis", "random")],
)
def test_request_equals_boto3s(creds: None, kind: str, partition_key: str) -> None:
    records = sample_records()
    with ThreadedEndpoint() as server:
        slow, fast = make_sync_pair(kind, server.url, partition_key)
        assert slow.put(records) == []
        assert fast.put(records) == []
        theirs, ours = server.received
    assert json.loads(ours.body) == json.loads(theirs.body)
    assert len(json.loads(ours.body)["Records"]) == 500
    assert ours.method == theirs.method == "POST" and ours.path == theirs.path == "/"
    for header in ("x-amz-target", "content-type"):
        assert ours.headers[header] == theirs.headers[header]
    url = f"{server.url}/"
    assert sigv4_valid("POST", url, ours.headers, ours.body, SECRET_KEY)
    assert not sigv4_valid("POST", url, ours.headers, ours.body + b" ", SECRET_KEY)


@dataclass
class SyncRig:
    server: CannedEndpoint
    pairs: dict[str, tuple[Any, Any]]


@pytest.fixture(scope="module")
def sync_rig() -> Iterator[SyncRig]:
    with pytest.MonkeyPatch.context() as mp:
        dummy_env(mp)
        with ThreadedEndpoint() as server:
            yield SyncRig(
                server,
                {
                    "firehose": make_sync_pair("firehose", server.url),
                    "kinesis": make_sync_pair("kinesis", server.url),
                },
            )


@pytest.mark.parametrize(
    ("kind", "status", "body", "headers", "expected"),
    [pytest.param("firehose", *case[1:], id=f"firehose: {case[0]}") for case in FIREHOSE_ANSWERS]
    + [pytest.param("kinesis", *case[1:], id=f"kinesis: {case[0]}") for case in KINESIS_ANSWERS],
)
def test_answers_are_read_as_boto3_reads_them(
    sync_rig: SyncRig, kind: str, status: int, body: bytes, headers: dict[str, str], expected: tuple[Any, ...]
) -> None:
    records = [b'{"user_id":1}\n', b'{"user_id":2}\n', b'{"user_id":3}\n']
    slow, fast = sync_rig.pairs[kind]
    results = []
    for transport in (slow, fast):
        sync_rig.server.answers = [(status, body, headers)]
        results.append(outcome(transport, records))
    assert results[0] == expected, "boto3 transport"
    assert results[1] == results[0], "fast transport differs from boto3"


def test_unreachable_endpoint_and_dropped_connections_fail_alike(creds: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    refused = [outcome(t, [b"a\n"]) for t in make_sync_pair("firehose", f"http://127.0.0.1:{closed_port}")]
    assert refused[0] == (
        "error",
        "EndpointConnectionError",
        True,
        f"cannot reach http://127.0.0.1:{closed_port}/",
    )
    assert refused[1] == refused[0]

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]

        def drop() -> None:
            for _ in range(2):
                conn, _ = listener.accept()
                conn.recv(1024)  # read part of the request, then hang up without answering
                conn.close()

        thread = threading.Thread(target=drop, daemon=True)
        thread.start()
        dropped = [outcome(t, [b"a\n"]) for t in make_sync_pair("firehose", f"http://127.0.0.1:{port}")]
        thread.join(10)
    assert dropped[0][:3] == ("error", "ConnectionClosedError", True)
    assert dropped[1] == dropped[0]


def test_no_credentials_is_the_same_one_line(creds: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with ThreadedEndpoint() as server:
        slow, fast = (outcome(t, [b"a\n"]) for t in make_sync_pair("kinesis", server.url))
        assert server.received == []
    assert slow[:3] == ("error", "NoCredentials", False) and "no AWS credentials found" in slow[3]
    assert fast == slow


def test_blocking_stream_delivery_picks_the_fast_transport_by_default(creds: None) -> None:
    settings = resolve({"sink": "firehose", "stream": "s"}, env={})
    _, transport = stream_delivery(settings, "firehose", seed=1, blocking=True)
    assert type(transport) is FastFirehoseSyncTransport
    _, transport = stream_delivery(settings, "kinesis", seed=1, blocking=True)
    assert type(transport) is FastKinesisSyncTransport
    faulty = resolve({"sink": "firehose", "stream": "s", "throttle_rate": "0.1"}, env={})
    _, transport = stream_delivery(faulty, "firehose", seed=1, blocking=True)
    assert isinstance(transport, FaultySyncTransport) and type(transport.inner) is FastFirehoseSyncTransport


def test_blocking_stream_delivery_picks_boto3_when_asked_for(creds: None) -> None:
    settings = resolve({"sink": "firehose", "stream": "s", "transport": "botocore"}, env={})
    _, transport = stream_delivery(settings, "firehose", seed=1, blocking=True)
    assert type(transport) is FirehoseSyncTransport
    _, transport = stream_delivery(settings, "kinesis", seed=1, blocking=True)
    assert type(transport) is KinesisSyncTransport
    by_env = resolve({"sink": "firehose", "stream": "s"}, env={"NETFLIX_PRODUCER_TRANSPORT": "botocore"})
    _, transport = stream_delivery(by_env, "firehose", seed=1, blocking=True)
    assert type(transport) is FirehoseSyncTransport

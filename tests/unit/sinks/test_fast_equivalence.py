"""The fast transport is botocore on the wire: the same request, the same reading of every answer.

(a) For the same records, the body the fast transport sends, parsed as JSON, equals the
body botocore serialises for the same call (captured by a ``before-send`` handler);
URL, target and content type are botocore's, and the signature verifies.
(b) The same raw HTTP answers, served by one local endpoint to both transports, come
back as the same failed records or the same ``TransportError``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
import re
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.awsrequest import AioAWSResponse
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from producer.config.settings import resolve
from producer.delivery.retry import DeliverySink, TransportError
from producer.delivery.transport_faults import FaultyTransport
from producer.errors import ConfigError
from producer.sinks.aws.clients import AwsOptions
from producer.sinks.aws.fast import FastFirehoseTransport, FastKinesisTransport
from producer.sinks.aws.firehose import FirehoseTransport
from producer.sinks.aws.kinesis import KinesisTransport

ACCESS_KEY = "AKIDFASTTRANSPORT001"
SECRET_KEY = "fast/transport/secret/key/never/logged/00"
REGION = "us-east-1"
STREAM = "x"

_AWS_ENV = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_FIREHOSE", "AWS_ENDPOINT_URL_KINESIS", "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT", "AWS_REGION", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
    "ALL_PROXY", "all_proxy", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)  # fmt: skip


def dummy_env(mp: pytest.MonkeyPatch) -> None:
    """Known static credentials and nothing else from this machine's AWS set-up."""
    for name in _AWS_ENV:
        mp.delenv(name, raising=False)
    mp.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    mp.setenv("AWS_DEFAULT_REGION", REGION)
    mp.setenv("AWS_CONFIG_FILE", "/dev/null")
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    dummy_env(monkeypatch)


def sample_records() -> list[bytes]:
    """500 records: events, and the awkward ones (empty, binary, non-ASCII, 1,000 KiB)."""
    rng = random.Random(5)
    records = [
        json.dumps(
            {
                "event_id": f"e{i}",
                "user_id": rng.randrange(10**9),
                "session_id": f"s-{rng.randrange(16**6):x}",
            }
        ).encode()
        + b"\n"
        for i in range(494)
    ]
    records += [
        b"",
        bytes(range(256)),
        "unicode \u00e9 \u2603 \U0001d11e\n".encode(),
        b'{"user_id": "12", "session_id": "s\\u00e9-\\\\-x"}\n',
        b'{"session_id": "caf\xc3\xa9 \\"q"}\n',
        b"x" * 1_024_000,
    ]
    return records


def ok_body(request_body: bytes) -> bytes:
    """A success answer for a PutRecordBatch or PutRecords request."""
    n = len(json.loads(request_body)["Records"])
    if b'"StreamName"' in request_body:
        entries = [{"SequenceNumber": str(10**20 + i), "ShardId": "shardId-000000000000"} for i in range(n)]
        return json.dumps({"FailedRecordCount": 0, "Records": entries}).encode()
    entries = [{"RecordId": f"{i:056d}"} for i in range(n)]
    return json.dumps({"FailedPutCount": 0, "Encrypted": False, "RequestResponses": entries}).encode()


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class CannedEndpoint:
    """A local HTTP endpoint answering each request with the next canned answer (else success)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, bytes, dict[str, str]]] = []
        self.received: list[Received] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append(Received(request.method, request.path_qs, headers, body))
        status, payload, extra = self.answers.pop(0) if self.answers else (200, ok_body(body), {})
        headers_out = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "req-1", **extra}
        return web.Response(status=status, body=payload, headers=headers_out)

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def read(self) -> bytes:
        return self.body


def header_map(headers: Any) -> dict[str, str]:
    """A botocore request's headers (values may be bytes) as lower-case text."""
    return {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in headers.items()}


async def botocore_request(transport: FirehoseTransport | KinesisTransport, records: list[bytes]) -> Any:
    """The request the botocore transport builds for ``records`` (never sent: answered in place)."""
    client = await transport._holder.get()
    seen: list[Any] = []

    def capture(request: Any, **_: Any) -> AioAWSResponse:
        seen.append(request)
        return AioAWSResponse(request.url, 200, {"x-amzn-requestid": "canned"}, _Raw(ok_body(request.body)))

    client.meta.events.register("before-send", capture)
    try:
        assert await transport.put(records) == []
    finally:
        client.meta.events.unregister("before-send", capture)
    return seen[0]


_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/"
    r"aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)


def sigv4_valid(method: str, url: str, headers: dict[str, str], body: bytes, secret: str) -> bool:
    """Verify a SigV4 signature as AWS does: recompute it from what was received."""
    m = _AUTH_RE.match(headers["authorization"])
    assert m is not None, headers["authorization"]
    signed = m["signed"].split(";")
    request = AWSRequest(method=method, url=url, data=body, headers={h: headers[h] for h in signed})
    request.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(ReadOnlyCredentials(m["key"], secret, None), m["service"], m["region"])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return hmac.compare_digest(expected, m["sig"])


def make_pair(kind: str, options: AwsOptions, partition_key: str = "user_id") -> tuple[Any, Any]:
    if kind == "firehose":
        return (
            FirehoseTransport(stream=STREAM, options=options),
            FastFirehoseTransport(stream=STREAM, options=options),
        )
    return (
        KinesisTransport(stream="clicks", partition_key=partition_key, options=options, seed=9),
        FastKinesisTransport(stream="clicks", partition_key=partition_key, options=options, seed=9),
    )


# -- (a) the request ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "partition_key"),
    [("firehose", "-"), ("kinesis", "user_id"), ("kinesis", "session_id"), ("kinesis", "random")],
)
def test_request_body_equals_botocores_serialisation(creds: None, kind: str, partition_key: str) -> None:
    records = sample_records()

    async def main() -> tuple[Any, Received]:
        server = CannedEndpoint()
        await server.start()
        slow, fast = make_pair(kind, AwsOptions(endpoint_url=server.url, region=REGION), partition_key)
        try:
            theirs = await botocore_request(slow, records)
            assert await fast.put(records) == []
            return theirs, server.received[0]
        finally:
            await slow.aclose()
            await fast.aclose()
            await server.stop()

    theirs, ours = asyncio.run(main())
    assert json.loads(ours.body) == json.loads(theirs.body)
    sent = json.loads(ours.body)["Records"]
    assert len(sent) == 500 and sent[-1]["Data"] == "eHh4" * (1_024_000 // 3) + "eA=="
    if kind == "kinesis":
        keys = [r["PartitionKey"] for r in sent]
        if partition_key == "user_id":
            assert keys[0] == str(json.loads(records[0])["user_id"]) and keys[497] == "12"
        if partition_key == "session_id":
            assert keys[497] == "s\\u00e9-\\\\-x" and keys[498] == "caf\u00e9 \\"
    assert ours.method == "POST" and ours.path == "/" and theirs.url.endswith("/")
    for header in ("x-amz-target", "content-type"):
        assert ours.headers[header] == header_map(theirs.headers)[header]
    target = "Firehose_20150804.PutRecordBatch" if kind == "firehose" else "Kinesis_20131202.PutRecords"
    assert ours.headers["x-amz-target"] == target
    assert ours.headers["content-type"] == "application/x-amz-json-1.1"


def test_signature_verifies_and_a_tampered_request_does_not(creds: None) -> None:
    records = sample_records()[:10]

    async def main() -> tuple[Any, Received, str]:
        server = CannedEndpoint()
        await server.start()
        slow, fast = make_pair("firehose", AwsOptions(endpoint_url=server.url, region=REGION))
        try:
            theirs = await botocore_request(slow, records)
            await fast.put(records)
            return theirs, server.received[0], server.url
        finally:
            await slow.aclose()
            await fast.aclose()
            await server.stop()

    theirs, ours, url = asyncio.run(main())
    m = _AUTH_RE.match(ours.headers["authorization"])
    assert m is not None
    assert (m["key"], m["region"], m["service"]) == (ACCESS_KEY, REGION, "firehose")
    assert {"host", "x-amz-date", "x-amz-target", "content-type"} <= set(m["signed"].split(";"))
    sent_at = datetime.strptime(ours.headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(sent_at.timestamp() - time.time()) < 300  # AWS rejects a skew over 5 minutes
    assert sigv4_valid("POST", url + ours.path, ours.headers, ours.body, SECRET_KEY)
    assert not sigv4_valid(
        "POST", url + ours.path, ours.headers, ours.body.replace(b"eyJ", b"eyK", 1), SECRET_KEY
    )
    assert not sigv4_valid("POST", url + ours.path, ours.headers, ours.body, SECRET_KEY + "x")
    # The verifier accepts botocore's own signed request too (its Host comes from the URL).
    botocore_headers = header_map(theirs.headers)
    botocore_headers["host"] = url.removeprefix("http://")
    assert sigv4_valid("POST", theirs.url, botocore_headers, theirs.body, SECRET_KEY)


def test_session_tokens_are_sent_and_signed(creds: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-of-the-test")

    async def main() -> tuple[Received, str]:
        server = CannedEndpoint()
        await server.start()
        fast = FastFirehoseTransport(
            stream=STREAM, options=AwsOptions(endpoint_url=server.url, region=REGION)
        )
        try:
            await fast.put([b"a\n"])
            return server.received[0], server.url
        finally:
            await fast.aclose()
            await server.stop()

    ours, url = asyncio.run(main())
    assert ours.headers["x-amz-security-token"] == "session-token-of-the-test"
    m = _AUTH_RE.match(ours.headers["authorization"])
    assert m is not None and "x-amz-security-token" in m["signed"].split(";")
    assert sigv4_valid("POST", url + "/", ours.headers, ours.body, SECRET_KEY)


CREDENTIAL_PROCESS = """
import json, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
counter = Path(sys.argv[1])
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
# Expiring within botocore's mandatory refresh window: every use refreshes.
expires = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({"Version": 1, "AccessKeyId": f"AKIDREFRESHED{n:07d}", "SecretAccessKey": f"secret-{n}",
                  "SessionToken": f"token-{n}", "Expiration": expires}))
"""


def test_refreshable_credentials_refresh_for_every_call_that_needs_it(
    creds: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = tmp_path / "process.py"
    script.write_text(CREDENTIAL_PROCESS)
    config = tmp_path / "config"
    config.write_text(f"[default]\ncredential_process = {sys.executable} {script} {tmp_path / 'n'}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    async def main() -> tuple[list[Received], str]:
        server = CannedEndpoint()
        await server.start()
        fast = FastFirehoseTransport(
            stream=STREAM, options=AwsOptions(endpoint_url=server.url, region=REGION)
        )
        try:
            for _ in range(3):
                await fast.put([b"a\n"])
            return server.received, server.url
        finally:
            await fast.aclose()
            await server.stop()

    received, url = asyncio.run(main())
    keys = [_AUTH_RE.match(r.headers["authorization"])["key"] for r in received]  # type: ignore[index]
    assert len(set(keys)) == 3, keys
    for r in received:
        n = int(_AUTH_RE.match(r.headers["authorization"])["key"][-7:])  # type: ignore[index]
        assert r.headers["x-amz-security-token"] == f"token-{n}"
        assert sigv4_valid("POST", url + "/", r.headers, r.body, f"secret-{n}")


@pytest.mark.parametrize(
    ("kind", "env"),
    [
        ("firehose", {}),
        ("kinesis", {}),
        ("firehose", {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_USE_FIPS_ENDPOINT": "true"}),
        ("kinesis", {"AWS_DEFAULT_REGION": "us-west-2", "AWS_USE_FIPS_ENDPOINT": "true"}),
        ("firehose", {"AWS_DEFAULT_REGION": "us-east-2", "AWS_USE_DUALSTACK_ENDPOINT": "true"}),
        ("kinesis", {"AWS_DEFAULT_REGION": "cn-north-1"}),
        ("firehose", {"AWS_ENDPOINT_URL": "https://firehose.proxy.example/some/path"}),
        ("kinesis", {"AWS_ENDPOINT_URL_KINESIS": "https://kinesis.proxy.example:8443"}),
    ],
)
def test_endpoint_region_and_signing_scope_are_botocores(
    creds: None, monkeypatch: pytest.MonkeyPatch, kind: str, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    async def main() -> tuple[Any, str, dict[str, str]]:
        slow, fast = make_pair(kind, AwsOptions())
        try:
            theirs = await botocore_request(slow, [b'{"user_id":1}\n'])
            return theirs, await fast.wire.endpoint(), await fast.wire.signed_headers(b"{}")
        finally:
            await slow.aclose()
            await fast.aclose()

    theirs, url, headers = asyncio.run(main())
    assert url == theirs.url
    scope = _AUTH_RE.match(headers["Authorization"])
    botocore_scope = _AUTH_RE.match(header_map(theirs.headers)["authorization"])
    assert scope is not None and botocore_scope is not None
    assert (scope["region"], scope["service"]) == (botocore_scope["region"], botocore_scope["service"])


# -- (b) the answers ---------------------------------------------------------------------

FIREHOSE_NOT_FOUND = "Firehose stream 'x' not found in us-east-1"
DENIED = "User: arn:aws:iam::123456789012:user/u is not authorized to perform: firehose:PutRecordBatch"


def _j(value: object) -> bytes:
    return json.dumps(value).encode()


def _partial(key: str, count_key: str, entries: list[dict[str, Any]]) -> bytes:
    failed = sum(1 for e in entries if e.get("ErrorCode"))
    return _j({count_key: failed, key: entries})


# (name, status, body, extra headers, expected outcome)
FIREHOSE_ANSWERS: list[tuple[str, int, bytes, dict[str, str], tuple[Any, ...]]] = [
    ("success", 200, _j({"FailedPutCount": 0, "Encrypted": False, "RequestResponses": [{"RecordId": "a"}] * 3}),
     {}, ("ok", [])),
    ("partial failures", 200, _partial("RequestResponses", "FailedPutCount", [
        {"RecordId": "a"}, {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."},
        {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service failure."}]),
     {}, ("ok", [(1, "ServiceUnavailableException", "Slow down."), (2, "InternalFailure", "Internal service failure.")])),
    ("a failure without a message", 200, _partial("RequestResponses", "FailedPutCount", [
        {"RecordId": "a"}, {"ErrorCode": "InternalFailure", "ErrorMessage": None}, {"RecordId": "c"}]),
     {}, ("ok", [(1, "InternalFailure", "")])),
    ("a 200 that is not JSON (botocore reads no fields)", 200, b"<html>hello</html>", {}, ("ok", [])),
    ("stream not found", 400,
     _j({"__type": "ResourceNotFoundException", "message": "Firehose x under account 123456789012 not found."}),
     {}, ("error", "ResourceNotFoundException", False, FIREHOSE_NOT_FOUND)),
    ("namespaced code, capital Message", 400,
     _j({"__type": "com.amazonaws.firehose.v20150804#ResourceNotFoundException", "Message": "not found"}),
     {}, ("error", "ResourceNotFoundException", False, FIREHOSE_NOT_FOUND)),
    ("access denied", 400, _j({"__type": "AccessDeniedException", "Message": DENIED}),
     {}, ("error", "AccessDeniedException", False, f"access denied to Firehose stream 'x' in us-east-1: {DENIED}")),
    ("access denied, query style", 403, _j({"__type": "AccessDenied", "message": "denied"}),
     {}, ("error", "AccessDenied", False, "access denied to Firehose stream 'x' in us-east-1: denied")),
    ("rejected credentials", 400,
     _j({"__type": "UnrecognizedClientException", "message": "The security token included in the request is invalid."}),
     {}, ("error", "UnrecognizedClientException", False,
          "AWS rejected the credentials (UnrecognizedClientException): The security token included in the request is invalid.")),
    ("bad signature", 403, _j({"__type": "InvalidSignatureException", "message": "Signature expired"}),
     {}, ("error", "InvalidSignatureException", False, "AWS rejected the credentials (InvalidSignatureException): Signature expired")),
    ("code with a suffix", 400,
     _j({"__type": "ValidationException:http://internal.amazon.com/coral/validate/", "message": "1 validation error"}),
     {}, ("error", "ValidationException", False, "Firehose stream 'x': ValidationException: 1 validation error")),
    ("invalid argument", 400, _j({"__type": "InvalidArgumentException", "message": "Records size exceeds 4 MB limit"}),
     {}, ("error", "InvalidArgumentException", False, "Firehose stream 'x': InvalidArgumentException: Records size exceeds 4 MB limit")),
    ("throttled call", 400, _j({"__type": "ThrottlingException", "message": "Rate exceeded"}),
     {}, ("error", "ThrottlingException", True, "Rate exceeded")),
    ("limit exceeded", 400, _j({"__type": "LimitExceededException", "message": "Too many requests"}),
     {}, ("error", "LimitExceededException", True, "Too many requests")),
    ("slow down, 503", 503, _j({"__type": "ServiceUnavailableException", "message": "Slow down."}),
     {}, ("error", "ServiceUnavailableException", True, "Slow down.")),
    ("internal failure without a message", 500, _j({"__type": "InternalFailure"}),
     {}, ("error", "InternalFailure", True, "InternalFailure")),
    ("500, empty body", 500, b"", {}, ("error", "500", True, "Internal Server Error")),
    ("503, HTML body", 503, b"<html><body><b>Http/1.1 Service Unavailable</b></body></html>",
     {"Content-Type": "text/html"}, ("error", "503", True, "Service Unavailable")),
    ("502, plain text", 502, b"Bad Gateway", {"Content-Type": "text/plain"}, ("error", "502", True, "Bad Gateway")),
    ("404, plain text", 404, b"Not Found", {"Content-Type": "text/plain"},
     ("error", "404", False, "Firehose stream 'x': 404: Not Found")),
    ("400 without a code", 400, _j({"message": "something"}), {}, ("error", "400", False, "Firehose stream 'x': 400: something")),
    ("413 from a proxy", 413, b"<html>Request Entity Too Large</html>", {"Content-Type": "text/html"},
     ("error", "413", False, "Firehose stream 'x': 413: <html>Request Entity Too Large</html>")),
    ("query-compatible error header", 400, _j({"__type": "com.amazon#SomeException", "message": "m"}),
     {"x-amzn-query-error": "AWS.Some.Code;Sender"}, ("error", "AWS.Some.Code", False, "Firehose stream 'x': AWS.Some.Code: m")),
]  # fmt: skip

KINESIS_NOT_FOUND = "Kinesis stream 'clicks' not found in us-east-1"
RATE = "Rate exceeded for shard shardId-000000000000 in stream clicks under account 123456789012."

KINESIS_ANSWERS: list[tuple[str, int, bytes, dict[str, str], tuple[Any, ...]]] = [
    ("success", 200, _partial("Records", "FailedRecordCount", [{"SequenceNumber": "1", "ShardId": "s"}] * 3),
     {}, ("ok", [])),
    ("partial failures", 200, _partial("Records", "FailedRecordCount", [
        {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": RATE},
        {"SequenceNumber": "2", "ShardId": "s"}, {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service failure."}]),
     {}, ("ok", [(0, "ProvisionedThroughputExceededException", RATE), (2, "InternalFailure", "Internal service failure.")])),
    ("stream not found", 400,
     _j({"__type": "ResourceNotFoundException", "message": "Stream clicks under account 123456789012 not found."}),
     {}, ("error", "ResourceNotFoundException", False, KINESIS_NOT_FOUND)),
    ("KMS throttling", 400, _j({"__type": "KMSThrottlingException", "message": "slow"}),
     {}, ("error", "KMSThrottlingException", True, "slow")),
    ("too big", 400, _j({"__type": "InvalidArgumentException", "message": "Records size exceeds 5 MB limit"}),
     {}, ("error", "InvalidArgumentException", False, "Kinesis stream 'clicks': InvalidArgumentException: Records size exceeds 5 MB limit")),
    ("expired token", 400, _j({"__type": "ExpiredTokenException", "message": "The security token included in the request is expired"}),
     {}, ("error", "ExpiredTokenException", False,
          "AWS rejected the credentials (ExpiredTokenException): The security token included in the request is expired")),
    ("internal failure", 500, _j({"__type": "InternalFailure", "message": "boom"}), {}, ("error", "InternalFailure", True, "boom")),
    ("503, HTML body", 503, b"  <html>busy</html>", {"Content-Type": "text/html"},
     ("error", "503", True, "Service Unavailable")),
]  # fmt: skip


@dataclass
class Rig:
    loop: asyncio.AbstractEventLoop
    server: CannedEndpoint
    pairs: dict[str, tuple[Any, Any]]

    def outcome(self, transport: Any, records: list[bytes]) -> tuple[Any, ...]:
        try:
            return ("ok", self.loop.run_until_complete(transport.put(records)))
        except TransportError as exc:
            return ("error", exc.code, exc.retryable, exc.message)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    """One endpoint and one botocore/fast pair per service, shared by the answer cases."""
    with pytest.MonkeyPatch.context() as mp:
        dummy_env(mp)
        loop = asyncio.new_event_loop()
        server = CannedEndpoint()
        loop.run_until_complete(server.start())
        options = AwsOptions(endpoint_url=server.url, region=REGION)
        rig = Rig(
            loop,
            server,
            {"firehose": make_pair("firehose", options), "kinesis": make_pair("kinesis", options)},
        )
        try:
            yield rig
        finally:
            for pair in rig.pairs.values():
                for transport in pair:
                    loop.run_until_complete(transport.aclose())
            loop.run_until_complete(server.stop())
            loop.close()


@pytest.mark.parametrize(
    ("kind", "status", "body", "headers", "expected"),
    [pytest.param("firehose", *case[1:], id=f"firehose: {case[0]}") for case in FIREHOSE_ANSWERS]
    + [pytest.param("kinesis", *case[1:], id=f"kinesis: {case[0]}") for case in KINESIS_ANSWERS],
)
def test_answers_are_read_as_botocore_reads_them(
    rig: Rig, kind: str, status: int, body: bytes, headers: dict[str, str], expected: tuple[Any, ...]
) -> None:
    records = [b'{"user_id":1}\n', b'{"user_id":2}\n', b'{"user_id":3}\n']
    slow, fast = rig.pairs[kind]
    results = []
    for transport in (slow, fast):
        rig.server.answers = [(status, body, headers)]
        results.append(rig.outcome(transport, records))
    assert results[0] == expected, "botocore transport"
    assert results[1] == results[0], "fast transport differs from botocore"


def test_unreachable_endpoint_and_dropped_connections_fail_alike(creds: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)  # read part of the request, then hang up without answering
        writer.close()

    async def outcomes(url: str) -> list[tuple[Any, ...]]:
        out = []
        for transport in make_pair("firehose", AwsOptions(endpoint_url=url, region=REGION)):
            try:
                out.append(("ok", await transport.put([b"a\n"])))
            except TransportError as exc:
                out.append(("error", exc.code, exc.retryable, exc.message))
            finally:
                await transport.aclose()
        return out

    async def main() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        refused = await outcomes(f"http://127.0.0.1:{closed_port}")
        server = await asyncio.start_server(drop, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            dropped = await outcomes(f"http://127.0.0.1:{port}")
        return refused, dropped

    refused, dropped = asyncio.run(main())
    assert refused[0] == (
        "error",
        "EndpointConnectionError",
        True,
        f"cannot reach http://127.0.0.1:{closed_port}/",
    )
    assert refused[1] == refused[0]
    assert dropped[0][:3] == ("error", "ConnectionClosedError", True)
    assert dropped[1] == dropped[0]


def test_no_credentials_is_the_same_one_line(creds: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    async def main() -> list[tuple[Any, ...]]:
        server = CannedEndpoint()
        await server.start()
        out = []
        for transport in make_pair("kinesis", AwsOptions(endpoint_url=server.url, region=REGION)):
            try:
                out.append(("ok", await transport.put([b"a\n"])))
            except TransportError as exc:
                out.append(("error", exc.code, exc.retryable, exc.message))
            finally:
                await transport.aclose()
        await server.stop()
        assert server.received == []
        return out

    slow, fast = asyncio.run(main())
    assert slow[:3] == ("error", "NoCredentials", False) and "no AWS credentials found" in slow[3]
    assert fast == slow


def test_credentials_are_never_logged(creds: None, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        server = CannedEndpoint()
        await server.start()
        fast = FastKinesisTransport(
            stream="clicks", options=AwsOptions(endpoint_url=server.url, region=REGION)
        )
        try:
            server.answers = [(400, _j({"__type": "UnrecognizedClientException", "message": "bad"}), {})]
            with pytest.raises(TransportError):
                await fast.put([b"a\n"])
            await fast.put([b"b\n"])
        finally:
            await fast.aclose()
            await server.stop()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(main())
    assert caplog.records  # botocore did log (signing, credentials lookup) at DEBUG
    assert SECRET_KEY not in caplog.text


# -- the setting -------------------------------------------------------------------------


def test_the_fast_transport_is_the_default_behind_the_same_seam(creds: None) -> None:
    from producer.sinks.base import EpochClock
    from producer.sinks.registry import open_sink

    clock: EpochClock = time.time
    assert resolve({}, env={}).transport == "fast"
    sink = open_sink(resolve({"sink": "firehose"}, env={}), clock)
    assert isinstance(sink, DeliverySink) and type(sink.transport) is FastFirehoseTransport
    sink = open_sink(resolve({"sink": "kinesis"}, env={}), clock)
    assert isinstance(sink, DeliverySink) and type(sink.transport) is FastKinesisTransport
    sink = open_sink(resolve({"sink": "kinesis", "throttle_rate": "0.1"}, env={}), clock)
    assert isinstance(sink, DeliverySink) and isinstance(sink.transport, FaultyTransport)
    assert type(sink.transport.inner) is FastKinesisTransport


def test_botocore_is_still_picked_when_asked_for(creds: None) -> None:
    from producer.sinks.base import EpochClock
    from producer.sinks.registry import open_sink

    clock: EpochClock = time.time
    settings = resolve({"sink": "firehose", "transport": "botocore"}, env={})
    assert settings.transport == "botocore"
    sink = open_sink(settings, clock)
    assert isinstance(sink, DeliverySink) and type(sink.transport) is FirehoseTransport
    settings = resolve({"sink": "kinesis"}, env={"NETFLIX_PRODUCER_TRANSPORT": "botocore"})
    sink = open_sink(settings, clock)
    assert isinstance(sink, DeliverySink) and type(sink.transport) is KinesisTransport
    settings = resolve({"sink": "kinesis", "transport": "botocore", "throttle_rate": "0.1"}, env={})
    sink = open_sink(settings, clock)
    assert isinstance(sink, DeliverySink) and isinstance(sink.transport, FaultyTransport)
    assert type(sink.transport.inner) is KinesisTransport
    # A flag wins over the environment, either way.
    fast = resolve({"sink": "firehose", "transport": "fast"}, env={"NETFLIX_PRODUCER_TRANSPORT": "botocore"})
    sink = open_sink(fast, clock)
    assert isinstance(sink, DeliverySink) and type(sink.transport) is FastFirehoseTransport
    with pytest.raises(ConfigError) as err:
        resolve({}, env={"NETFLIX_PRODUCER_TRANSPORT": "boto"})
    assert str(err.value) == "invalid NETFLIX_PRODUCER_TRANSPORT 'boto': expected botocore or fast"


@pytest.mark.parametrize("transport", [None, "fast", "botocore"])
def test_sinks_other_than_firehose_and_kinesis_ignore_the_transport(
    creds: None, tmp_path: Path, transport: str | None
) -> None:
    from producer.sinks.aws.s3 import S3Sink
    from producer.sinks.base import EpochClock
    from producer.sinks.lake import LakeSink
    from producer.sinks.null import NullSink
    from producer.sinks.registry import open_sink

    clock: EpochClock = time.time
    chosen = {} if transport is None else {"transport": transport}
    s3 = open_sink(resolve({"sink": "s3", "bucket": "s3://datalake/raw/", **chosen}, env={}), clock)
    lake = open_sink(resolve({"lake_dir": str(tmp_path), **chosen}, env={}), clock)
    null = open_sink(resolve({"sink": "null", **chosen}, env={}), clock)
    assert (type(s3), type(lake), type(null)) == (S3Sink, LakeSink, NullSink)
    for sink in (s3, lake, null):
        asyncio.run(sink.aclose())


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (the certificate is its own CA)."""
    import datetime as dt
    import ipaddress

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fast-transport-test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_trusts_what_botocore_trusts(
    creds: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import ssl

    cert, key = _self_signed(tmp_path)

    async def outcomes() -> list[tuple[Any, ...]]:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        server = CannedEndpoint()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", server._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls).start()
        url = f"https://127.0.0.1:{runner.addresses[0][1]}"
        out = []
        try:
            for transport in make_pair("firehose", AwsOptions(endpoint_url=url, region=REGION)):
                try:
                    out.append(("ok", await transport.put([b"a\n"])))
                except TransportError as exc:
                    out.append(("error", exc.code, exc.retryable, exc.message))
                finally:
                    await transport.aclose()
        finally:
            await runner.cleanup()
        return out

    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
    assert asyncio.run(outcomes()) == [("ok", [])] * 2
    monkeypatch.delenv("AWS_CA_BUNDLE")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    untrusted = asyncio.run(outcomes())
    # botocore's SSLError is a ConnectionError: retried, then the run stops as unreachable.
    assert untrusted[0][:3] == ("error", "ConnectionClosedError", True)
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted[0][3]
    assert untrusted[1] == untrusted[0]


def test_the_scenario_key_sink_transport(tmp_path: Path) -> None:
    from producer.config.scenario import load_scenario

    path = tmp_path / "botocore.yaml"
    path.write_text("name: botocore\nsink:\n  type: kinesis\n  transport: botocore\n")
    assert resolve({}, env={}, scenario=load_scenario(path).settings).transport == "botocore"
    assert resolve({"transport": "fast"}, env={}, scenario=load_scenario(path).settings).transport == "fast"
    path.write_text("name: fast\nsink:\n  type: kinesis\n  transport: fast\n")
    assert resolve({}, env={}, scenario=load_scenario(path).settings).transport == "fast"
    assert (
        resolve({"transport": "botocore"}, env={}, scenario=load_scenario(path).settings).transport
        == "botocore"
    )
    path.write_text("name: fast\nsink:\n  transport: quick\n")
    with pytest.raises(ConfigError, match=r"sink\.transport: must be one of botocore, fast"):
        load_scenario(path)

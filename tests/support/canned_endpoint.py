"""A canned AWS JSON endpoint on loopback, and the botocore/fast transport pairs it answers.

Shared by the fast transports' equivalence tests (async and blocking): known static
credentials, awkward sample records, a SigV4 verifier, and the raw answers of Firehose and
Kinesis with what each must read as.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import re
import threading
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials

from producer.sinks.aws.clients import AwsOptions
from producer.sinks.aws.fast import (
    FastFirehoseSyncTransport,
    FastFirehoseTransport,
    FastKinesisSyncTransport,
    FastKinesisTransport,
)
from producer.sinks.aws.firehose import FirehoseSyncTransport, FirehoseTransport
from producer.sinks.aws.kinesis import KinesisSyncTransport, KinesisTransport

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


def header_map(headers: Any) -> dict[str, str]:
    """A botocore request's headers (values may be bytes) as lower-case text."""
    return {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in headers.items()}


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


AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/"
    r"aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)


def sigv4_valid(method: str, url: str, headers: dict[str, str], body: bytes, secret: str) -> bool:
    """Verify a SigV4 signature as AWS does: recompute it from what was received."""
    m = AUTH_RE.match(headers["authorization"])
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


# -- the answers, and what each reads as ---------------------------------------------------

FIREHOSE_NOT_FOUND = "Firehose stream 'x' not found in us-east-1"
DENIED = "User: arn:aws:iam::123456789012:user/u is not authorized to perform: firehose:PutRecordBatch"


def json_bytes(value: object) -> bytes:
    return json.dumps(value).encode()


def _partial(key: str, count_key: str, entries: list[dict[str, Any]]) -> bytes:
    failed = sum(1 for e in entries if e.get("ErrorCode"))
    return json_bytes({count_key: failed, key: entries})


# (name, status, body, extra headers, expected outcome)
FIREHOSE_ANSWERS: list[tuple[str, int, bytes, dict[str, str], tuple[Any, ...]]] = [
    ("success", 200, json_bytes({"FailedPutCount": 0, "Encrypted": False, "RequestResponses": [{"RecordId": "a"}] * 3}),
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
     json_bytes({"__type": "ResourceNotFoundException", "message": "Firehose x under account 123456789012 not found."}),
     {}, ("error", "ResourceNotFoundException", False, FIREHOSE_NOT_FOUND)),
    ("namespaced code, capital Message", 400,
     json_bytes({"__type": "com.amazonaws.firehose.v20150804#ResourceNotFoundException", "Message": "not found"}),
     {}, ("error", "ResourceNotFoundException", False, FIREHOSE_NOT_FOUND)),
    ("access denied", 400, json_bytes({"__type": "AccessDeniedException", "Message": DENIED}),
     {}, ("error", "AccessDeniedException", False, f"access denied to Firehose stream 'x' in us-east-1: {DENIED}")),
    ("access denied, query style", 403, json_bytes({"__type": "AccessDenied", "message": "denied"}),
     {}, ("error", "AccessDenied", False, "access denied to Firehose stream 'x' in us-east-1: denied")),
    ("rejected credentials", 400,
     json_bytes({"__type": "UnrecognizedClientException", "message": "The security token included in the request is invalid."}),
     {}, ("error", "UnrecognizedClientException", False,
          "AWS rejected the credentials (UnrecognizedClientException): The security token included in the request is invalid.")),
    ("bad signature", 403, json_bytes({"__type": "InvalidSignatureException", "message": "Signature expired"}),
     {}, ("error", "InvalidSignatureException", False, "AWS rejected the credentials (InvalidSignatureException): Signature expired")),
    ("code with a suffix", 400,
     json_bytes({"__type": "ValidationException:http://internal.amazon.com/coral/validate/", "message": "1 validation error"}),
     {}, ("error", "ValidationException", False, "Firehose stream 'x': ValidationException: 1 validation error")),
    ("invalid argument", 400, json_bytes({"__type": "InvalidArgumentException", "message": "Records size exceeds 4 MB limit"}),
     {}, ("error", "InvalidArgumentException", False, "Firehose stream 'x': InvalidArgumentException: Records size exceeds 4 MB limit")),
    ("throttled call", 400, json_bytes({"__type": "ThrottlingException", "message": "Rate exceeded"}),
     {}, ("error", "ThrottlingException", True, "Rate exceeded")),
    ("limit exceeded", 400, json_bytes({"__type": "LimitExceededException", "message": "Too many requests"}),
     {}, ("error", "LimitExceededException", True, "Too many requests")),
    ("slow down, 503", 503, json_bytes({"__type": "ServiceUnavailableException", "message": "Slow down."}),
     {}, ("error", "ServiceUnavailableException", True, "Slow down.")),
    ("internal failure without a message", 500, json_bytes({"__type": "InternalFailure"}),
     {}, ("error", "InternalFailure", True, "InternalFailure")),
    ("500, empty body", 500, b"", {}, ("error", "500", True, "Internal Server Error")),
    ("503, HTML body", 503, b"<html><body><b>Http/1.1 Service Unavailable</b></body></html>",
     {"Content-Type": "text/html"}, ("error", "503", True, "Service Unavailable")),
    ("502, plain text", 502, b"Bad Gateway", {"Content-Type": "text/plain"}, ("error", "502", True, "Bad Gateway")),
    ("404, plain text", 404, b"Not Found", {"Content-Type": "text/plain"},
     ("error", "404", False, "Firehose stream 'x': 404: Not Found")),
    ("400 without a code", 400, json_bytes({"message": "something"}), {}, ("error", "400", False, "Firehose stream 'x': 400: something")),
    ("413 from a proxy", 413, b"<html>Request Entity Too Large</html>", {"Content-Type": "text/html"},
     ("error", "413", False, "Firehose stream 'x': 413: <html>Request Entity Too Large</html>")),
    ("query-compatible error header", 400, json_bytes({"__type": "com.amazon#SomeException", "message": "m"}),
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
     json_bytes({"__type": "ResourceNotFoundException", "message": "Stream clicks under account 123456789012 not found."}),
     {}, ("error", "ResourceNotFoundException", False, KINESIS_NOT_FOUND)),
    ("KMS throttling", 400, json_bytes({"__type": "KMSThrottlingException", "message": "slow"}),
     {}, ("error", "KMSThrottlingException", True, "slow")),
    ("too big", 400, json_bytes({"__type": "InvalidArgumentException", "message": "Records size exceeds 5 MB limit"}),
     {}, ("error", "InvalidArgumentException", False, "Kinesis stream 'clicks': InvalidArgumentException: Records size exceeds 5 MB limit")),
    ("expired token", 400, json_bytes({"__type": "ExpiredTokenException", "message": "The security token included in the request is expired"}),
     {}, ("error", "ExpiredTokenException", False,
          "AWS rejected the credentials (ExpiredTokenException): The security token included in the request is expired")),
    ("internal failure", 500, json_bytes({"__type": "InternalFailure", "message": "boom"}), {}, ("error", "InternalFailure", True, "boom")),
    ("503, HTML body", 503, b"  <html>busy</html>", {"Content-Type": "text/html"},
     ("error", "503", True, "Service Unavailable")),
]  # fmt: skip

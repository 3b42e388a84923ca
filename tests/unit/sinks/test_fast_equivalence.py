"""The fast transports are botocore on the wire: the same request, the same reading of every answer.

The async pair (``FirehoseTransport``/``KinesisTransport`` on aiobotocore, and their fast
counterparts) and the blocking pair that locust uses (``FirehoseSyncTransport``/
``KinesisSyncTransport`` on boto3, and theirs):

(a) For the same records, the body the fast transport sends, parsed as JSON, equals the
body botocore serialises for the same call; URL, target and content type are botocore's,
and the signature verifies.
(b) The same raw HTTP answers, served by one local endpoint to both transports, come
back as the same failed records or the same ``TransportError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.awsrequest import AioAWSResponse
from aiohttp import web

from producer.config.settings import resolve
from producer.delivery.retry import DeliverySink, TransportError
from producer.delivery.transport_faults import FaultySyncTransport, FaultyTransport
from producer.errors import ConfigError
from producer.sinks.aws.clients import AwsOptions
from producer.sinks.aws.fast import (
    FastFirehoseSyncTransport,
    FastFirehoseTransport,
    FastKinesisSyncTransport,
    FastKinesisTransport,
)
from producer.sinks.aws.firehose import FirehoseSyncTransport, FirehoseTransport
from producer.sinks.aws.kinesis import KinesisSyncTransport, KinesisTransport
from producer.sinks.registry import stream_delivery
from tests.support.canned_endpoint import (
    ACCESS_KEY,
    AUTH_RE,
    FIREHOSE_ANSWERS,
    KINESIS_ANSWERS,
    REGION,
    SECRET_KEY,
    STREAM,
    CannedEndpoint,
    Received,
    ThreadedEndpoint,
    dummy_env,
    header_map,
    json_bytes,
    make_pair,
    make_sync_pair,
    ok_body,
    sample_records,
    sigv4_valid,
)


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    dummy_env(monkeypatch)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def read(self) -> bytes:
        return self.body


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
    m = AUTH_RE.match(ours.headers["authorization"])
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
    m = AUTH_RE.match(ours.headers["authorization"])
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
    keys = [AUTH_RE.match(r.headers["authorization"])["key"] for r in received]  # type: ignore[index]
    assert len(set(keys)) == 3, keys
    for r in received:
        n = int(AUTH_RE.match(r.headers["authorization"])["key"][-7:])  # type: ignore[index]
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
    scope = AUTH_RE.match(headers["Authorization"])
    botocore_scope = AUTH_RE.match(header_map(theirs.headers)["authorization"])
    assert scope is not None and botocore_scope is not None
    assert (scope["region"], scope["service"]) == (botocore_scope["region"], botocore_scope["service"])


# -- (b) the answers ---------------------------------------------------------------------


@dataclass
class Transports:
    """botocore's transport and the fast one, async (aiobotocore) or blocking (boto3, as locust
    runs them), built and driven alike so that one test body checks both kinds."""

    blocking: bool
    loop: asyncio.AbstractEventLoop

    def pair(self, kind: str, url: str) -> tuple[Any, Any]:
        if self.blocking:
            return make_sync_pair(kind, url)
        return make_pair(kind, AwsOptions(endpoint_url=url, region=REGION))

    def outcome(self, transport: Any, records: list[bytes]) -> tuple[Any, ...]:
        try:
            if self.blocking:
                return ("ok", transport.put(records))
            return ("ok", self.loop.run_until_complete(transport.put(records)))
        except TransportError as exc:
            return ("error", exc.code, exc.retryable, exc.message)

    def close(self, transport: Any) -> None:
        if not self.blocking:
            self.loop.run_until_complete(transport.aclose())

    def outcomes(self, kind: str, url: str, records: list[bytes]) -> list[tuple[Any, ...]]:
        """What each of a fresh pair makes of one call to ``url``: botocore's, then the fast one's."""
        out = []
        for transport in self.pair(kind, url):
            try:
                out.append(self.outcome(transport, records))
            finally:
                self.close(transport)
        return out


@pytest.fixture(scope="module", params=["async", "blocking"])
def transports(request: pytest.FixtureRequest) -> Iterator[Transports]:
    loop = asyncio.new_event_loop()
    try:
        yield Transports(blocking=request.param == "blocking", loop=loop)
    finally:
        loop.close()


@dataclass
class Rig:
    transports: Transports
    server: CannedEndpoint
    pairs: dict[str, tuple[Any, Any]]


@pytest.fixture(scope="module")
def rig(transports: Transports) -> Iterator[Rig]:
    """One endpoint and one botocore/fast pair per service, shared by the answer cases."""
    with pytest.MonkeyPatch.context() as mp:
        dummy_env(mp)
        with ThreadedEndpoint() as server:
            pairs = {kind: transports.pair(kind, server.url) for kind in ("firehose", "kinesis")}
            try:
                yield Rig(transports, server, pairs)
            finally:
                for pair in pairs.values():
                    for transport in pair:
                        transports.close(transport)


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
        results.append(rig.transports.outcome(transport, records))
    assert results[0] == expected, "botocore transport"
    assert results[1] == results[0], "fast transport differs from botocore"


def test_unreachable_endpoint_and_dropped_connections_fail_alike(creds: None, transports: Transports) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    refused = transports.outcomes("firehose", f"http://127.0.0.1:{closed_port}", [b"a\n"])
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
        dropped = transports.outcomes("firehose", f"http://127.0.0.1:{port}", [b"a\n"])
        thread.join(10)
    assert dropped[0][:3] == ("error", "ConnectionClosedError", True)
    assert dropped[1] == dropped[0]


def test_no_credentials_is_the_same_one_line(
    creds: None, monkeypatch: pytest.MonkeyPatch, transports: Transports
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with ThreadedEndpoint() as server:
        slow, fast = transports.outcomes("kinesis", server.url, [b"a\n"])
        assert server.received == []
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
            server.answers = [
                (400, json_bytes({"__type": "UnrecognizedClientException", "message": "bad"}), {})
            ]
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

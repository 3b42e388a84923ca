"""Every entry point that calls AWS goes through the one translator (moto in server mode).

The sinks' start-up checks, their calls, the S3 sink and `verify` meet the same
errors (a missing stream or bucket, a missing profile, a malformed or unreachable
endpoint) and give the same one-line messages; and `verify` reads an S3 prefix as it
reads a lake.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest

from producer.errors import ConfigError, ProducerError, SinkError, TransportError
from producer.landed.objects import LakeSource, S3Source
from producer.landed.verify import verify
from producer.sinks.aws.clients import AwsOptions, ClientHolder
from producer.sinks.aws.fast import FastFirehoseTransport, FastKinesisTransport
from producer.sinks.aws.firehose import FirehoseTransport
from producer.sinks.aws.kinesis import KinesisTransport
from producer.sinks.aws.s3 import S3Sink
from tests.support.lakes import build_lake

pytestmark = pytest.mark.slow  # every test here runs against moto in server mode

TRANSPORTS = {
    "firehose": (FirehoseTransport, "Firehose"),
    "fast-firehose": (FastFirehoseTransport, "Firehose"),
    "kinesis": (KinesisTransport, "Kinesis"),
    "fast-kinesis": (FastKinesisTransport, "Kinesis"),
}


@pytest.fixture
def lake(tmp_path: Path) -> tuple[Path, Path]:
    """A lake of 6 records among files that are not data (see ``build_lake``), and its manifest."""
    return build_lake(tmp_path)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text, text
    assert "botocore" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize("kind", sorted(TRANSPORTS))
def test_a_missing_stream_is_the_same_one_line_at_start_up_and_on_a_call(aws: str, kind: str) -> None:
    cls, service = TRANSPORTS[kind]
    transport: Any = cls(stream="nope", options=AwsOptions(region="us-east-1"))

    async def both() -> tuple[BaseException, BaseException]:
        try:
            with pytest.raises(SinkError) as started:
                await transport.describe()
            with pytest.raises(TransportError) as called:
                await transport.put([b'{"event_id":"x"}\n'])
            return started.value, called.value
        finally:
            await transport.aclose()

    started, called = asyncio.run(both())
    expected = f"{service} stream 'nope' not found in us-east-1"
    assert one_line(started) == expected
    assert isinstance(called, TransportError) and not called.retryable
    assert called.message == expected


def test_a_missing_bucket_is_the_same_one_line_for_the_s3_sink_and_verify(
    aws: str, tmp_path: Path, lake: tuple[Path, Path]
) -> None:
    _, manifest = lake
    sink = S3Sink(bucket="s3://no-such-bucket/raw/", root=tmp_path)

    async def open_sink() -> None:
        try:
            await sink.open()
        finally:
            await sink.aclose()

    with pytest.raises(SinkError) as from_sink:
        asyncio.run(open_sink())
    with pytest.raises(ConfigError) as from_verify:
        verify(manifest, S3Source.from_url("s3://no-such-bucket/raw/"))
    assert one_line(from_sink.value) == "S3 bucket 'no-such-bucket' not found"
    assert one_line(from_verify.value) == "S3 bucket 'no-such-bucket' not found"
    # verify's error is the SDK's, translated (not a message of its own).
    assert isinstance(from_verify.value.__cause__, botocore.exceptions.ClientError)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (AwsOptions(profile="ghost"), "--profile 'ghost': no such AWS profile"),
        (AwsOptions(endpoint_url="not a url"), "--endpoint-url 'not a url': "),
    ],
)
def test_bad_client_settings_are_the_same_one_line_for_sinks_and_verify(
    aws: str, options: AwsOptions, expected: str
) -> None:
    holder = ClientHolder("firehose", options)

    async def client() -> None:
        try:
            await holder.get()
        finally:
            await holder.aclose()

    with pytest.raises(ConfigError) as from_sink:
        asyncio.run(client())
    source = S3Source(bucket="b", profile=options.profile, endpoint_url=options.endpoint_url)
    with pytest.raises(ConfigError) as from_verify:
        source.objects()
    assert one_line(from_sink.value).startswith(expected)
    assert one_line(from_verify.value).startswith(expected)


def test_an_unreachable_endpoint_is_one_line_for_the_s3_sink_and_verify(
    aws: str, tmp_path: Path, lake: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, manifest = lake
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # verify leaves botocore's retries on
    sink = S3Sink(bucket="netflix-raw", root=tmp_path, options=AwsOptions(endpoint_url=url))

    async def open_sink() -> None:
        try:
            await sink.open()
        finally:
            await sink.aclose()

    with pytest.raises(SinkError) as from_sink:
        asyncio.run(open_sink())
    with pytest.raises(ProducerError) as from_verify:
        verify(manifest, S3Source(bucket="netflix-raw", prefix="p/", endpoint_url=url))
    assert one_line(from_sink.value).startswith(f"cannot reach {url}/")
    assert one_line(from_verify.value).startswith(f"cannot reach S3 for s3://netflix-raw/p/ ({url}/")


def test_verify_reads_an_s3_prefix_as_it_reads_the_lake(aws: str, lake: tuple[Path, Path]) -> None:
    root, manifest = lake
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="netflix-raw")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        s3.put_object(
            Bucket="netflix-raw", Key="copy/" + path.relative_to(root).as_posix(), Body=path.read_bytes()
        )
    from_s3 = verify(manifest, S3Source(bucket="netflix-raw", prefix="copy/"))
    from_lake = verify(manifest, LakeSource(root=root))
    assert (from_s3.objects, from_s3.records, from_s3.malformed, from_s3.unreadable_objects) == (3, 6, 0, 0)
    assert (from_lake.objects, from_lake.records, from_lake.malformed) == (3, 6, 0)
    assert from_s3.ok and from_lake.ok

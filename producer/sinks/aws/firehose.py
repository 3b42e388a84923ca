"""Kinesis Data Firehose: PutRecordBatch, its request and response, and its botocore transports.

Only translation lives here: retries, backoff and dead letters are
:class:`~producer.delivery.retry.DeliverySink`'s; limits are the batcher's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from producer.errors import TransportError
from producer.sinks.aws.clients import AwsOptions, ClientHolder, translate_error
from producer.sinks.aws.jsonapi import b64, json_string, record_failures

__all__ = [
    "FirehoseCalls",
    "FirehoseSyncTransport",
    "FirehoseTransport",
    "put_record_batch_body",
    "put_record_batch_failures",
    "put_record_batch_params",
]


class FirehoseCalls:
    """PutRecordBatch to one delivery stream: a batch's request and its response's failures.

    Pure, so that every Firehose transport (botocore or fast, async or blocking) holds one
    and differs from the others only in how it sends.
    """

    __slots__ = ("stream",)

    def __init__(self, stream: str) -> None:
        self.stream = stream

    @property
    def what(self) -> str:
        """The stream, as error messages name it."""
        return f"Firehose stream '{self.stream}'"

    def params(self, records: Sequence[bytes]) -> dict[str, Any]:
        """The parameters of the call, for a botocore client."""
        return put_record_batch_params(self.stream, records)

    def body(self, records: Sequence[bytes]) -> bytes:
        """The JSON body of the call, for the fast transports."""
        return put_record_batch_body(self.stream, records)

    @staticmethod
    def failures(resp: Any) -> list[tuple[int, str, str]]:
        """The failed records of a response: (index, code, message)."""
        return put_record_batch_failures(resp)


class FirehoseTransport:
    """One PutRecordBatch per :meth:`put` on an aiobotocore client."""

    name = "firehose"

    def __init__(self, *, stream: str, options: AwsOptions | None = None) -> None:
        self.calls = FirehoseCalls(stream)
        self._holder = ClientHolder("firehose", options or AwsOptions())

    @property
    def stream(self) -> str:
        return self.calls.stream

    @property
    def what(self) -> str:
        return self.calls.what

    async def describe(self) -> str:
        """Check the stream exists and is ACTIVE; describe its destination in one line."""
        desc, status = await self._holder.describe_active(
            "describe_delivery_stream", what=self.what, result="DeliveryStreamDescription",
            status="DeliveryStreamStatus", active=("ACTIVE",), DeliveryStreamName=self.stream,
        )  # fmt: skip
        return f"firehose {self.stream} ({status}, {self._holder.region}) -> {_destination(desc)}"

    async def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        try:
            client = await self._holder.get()
            resp = await client.put_record_batch(**self.calls.params(records))
        except TransportError:
            raise
        except Exception as exc:
            raise translate_error(exc, what=self.what, region=self._holder.region) from None
        return self.calls.failures(resp)

    async def aclose(self) -> None:
        await self._holder.aclose()


def _destination(desc: dict[str, Any]) -> str:
    for d in desc.get("Destinations", []):
        s3 = d.get("ExtendedS3DestinationDescription") or d.get("S3DestinationDescription")
        if s3:
            bucket = str(s3.get("BucketARN", "")).rsplit(":", 1)[-1]
            hints = s3.get("BufferingHints", {})
            return (
                f"s3://{bucket}/{s3.get('Prefix', '')} ({s3.get('CompressionFormat', 'UNCOMPRESSED')}, "
                f"{hints.get('SizeInMBs', '?')} MiB / {hints.get('IntervalInSeconds', '?')} s)"
            )
    return "a non-S3 destination"


def put_record_batch_params(stream: str, records: Sequence[bytes]) -> dict[str, Any]:
    """The parameters of a PutRecordBatch call, as a botocore client takes them."""
    return {"DeliveryStreamName": stream, "Records": [{"Data": r} for r in records]}


def put_record_batch_body(stream: str, records: Sequence[bytes]) -> bytes:
    """The JSON body of a PutRecordBatch call, equal (as JSON) to botocore's serialisation."""
    # base64 never needs JSON escaping, so the records are spliced in as they are, and the
    # body (megabytes when records are packed) is copied once more, not once per piece.
    head = b'{"DeliveryStreamName":' + json_string(stream) + b',"Records":['
    if not records:
        return head + b"]}"
    return b"".join((head, b'{"Data":"', b'"},{"Data":"'.join(map(b64, records)), b'"}]}'))


def put_record_batch_failures(resp: Any) -> list[tuple[int, str, str]]:
    """The failed records of a PutRecordBatch response: (index, code, message)."""
    return record_failures(resp, "FailedPutCount", "RequestResponses")


class FirehoseSyncTransport:
    """One PutRecordBatch per :meth:`put` on a blocking boto3 client (threads, gevent, locust)."""

    name = "firehose"

    def __init__(self, *, stream: str, client: Any) -> None:
        self.calls = FirehoseCalls(stream)
        self.client = client

    @property
    def stream(self) -> str:
        return self.calls.stream

    def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        try:
            resp = self.client.put_record_batch(**self.calls.params(records))
        except Exception as exc:
            region = str(self.client.meta.region_name)
            raise translate_error(exc, what=self.calls.what, region=region) from None
        return self.calls.failures(resp)

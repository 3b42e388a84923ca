"""Kinesis Data Streams: PutRecords, its request and response, and its botocore transports.

Limits (enforced by the batcher): 500 records and 5 MiB per call, 1 MiB per record
including its partition key. Per-record ``ProvisionedThroughputExceededException``
and ``InternalFailure`` come back in the response and are resent by
:class:`~producer.delivery.retry.DeliverySink`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from producer.errors import ConfigError, TransportError
from producer.sinks.aws.clients import AwsOptions, ClientHolder, translate_error
from producer.sinks.aws.jsonapi import b64, json_string, record_failures

__all__ = [
    "MAX_KINESIS_BATCH_BYTES",
    "MAX_KINESIS_RECORD_BYTES",
    "PARTITION_KEYS",
    "KinesisCalls",
    "KinesisSyncTransport",
    "KinesisTransport",
    "put_records_body",
    "put_records_failures",
    "put_records_params",
]

#: PutRecords: 5 MiB per call, 1 MiB per record (data plus partition key).
MAX_KINESIS_BATCH_BYTES = 5 * 1024 * 1024
MAX_KINESIS_RECORD_BYTES = 1024 * 1024
#: Longest partition key Kinesis accepts (UTF-8 characters).
_MAX_KEY = 256
PARTITION_KEYS = ("user_id", "session_id", "random")
_FIELD = {
    "user_id": re.compile(rb'"user_id"\s*:\s*"?(\d+)'),
    "session_id": re.compile(rb'"session_id"\s*:\s*"([^"]{1,256})"'),
}


class KinesisCalls:
    """PutRecords to one data stream: a batch's request (partition keys included) and its
    response's failures.

    Pure but for the random partition keys it draws (seeded), so that every Kinesis
    transport (botocore or fast, async or blocking) holds one and differs from the
    others only in how it sends.
    """

    def __init__(self, stream: str, *, partition_key: str = "user_id", seed: int = 0) -> None:
        if partition_key not in PARTITION_KEYS:
            msg = f"invalid --partition-key {partition_key!r}: expected one of {', '.join(PARTITION_KEYS)}"
            raise ConfigError(msg)
        self.stream = stream
        self.partition_key = partition_key
        self._rng = random.Random(seed)

    @property
    def what(self) -> str:
        """The stream, as error messages name it."""
        return f"Kinesis stream '{self.stream}'"

    def key_of(self, record: bytes) -> str:
        """The partition key of a record (a random one when the field is missing)."""
        if self.partition_key != "random":
            m = _FIELD[self.partition_key].search(record)
            if m:
                return m.group(1).decode("utf-8", errors="replace")[:_MAX_KEY]
        return f"{self._rng.getrandbits(64):016x}"

    def params(self, records: Sequence[bytes]) -> dict[str, Any]:
        """The parameters of the call, for a botocore client."""
        return put_records_params(self.stream, records, [self.key_of(r) for r in records])

    def body(self, records: Sequence[bytes]) -> bytes:
        """The JSON body of the call, for the fast transports."""
        return put_records_body(self.stream, records, [self.key_of(r) for r in records])

    @staticmethod
    def failures(resp: Any) -> list[tuple[int, str, str]]:
        """The failed records of a response: (index, code, message)."""
        return put_records_failures(resp)


class KinesisTransport:
    """One PutRecords per :meth:`put` on an aiobotocore client, partitioned by user, session or at random."""

    name = "kinesis"

    def __init__(
        self, *, stream: str, partition_key: str = "user_id", options: AwsOptions | None = None, seed: int = 0
    ) -> None:
        self.calls = KinesisCalls(stream, partition_key=partition_key, seed=seed)
        self._holder = ClientHolder("kinesis", options or AwsOptions())

    @property
    def stream(self) -> str:
        return self.calls.stream

    @property
    def what(self) -> str:
        return self.calls.what

    async def describe(self) -> str:
        """Check the stream exists and is ACTIVE."""
        # A stream being resharded (UPDATING) still takes records.
        desc, status = await self._holder.describe_active(
            "describe_stream_summary", what=self.what, result="StreamDescriptionSummary",
            status="StreamStatus", active=("ACTIVE", "UPDATING"), StreamName=self.stream,
        )  # fmt: skip
        shards = desc.get("OpenShardCount", "?")
        return f"kinesis {self.stream} ({status}, {shards} shards, {self._holder.region})"

    async def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        params = self.calls.params(records)
        try:
            client = await self._holder.get()
            resp = await client.put_records(**params)
        except TransportError:
            raise
        except Exception as exc:
            raise translate_error(exc, what=self.what, region=self._holder.region) from None
        return self.calls.failures(resp)

    async def aclose(self) -> None:
        await self._holder.aclose()


def put_records_params(stream: str, records: Sequence[bytes], keys: Sequence[str]) -> dict[str, Any]:
    """The parameters of a PutRecords call (one partition key per record), as botocore takes them."""
    entries = [{"Data": r, "PartitionKey": k} for r, k in zip(records, keys, strict=True)]
    return {"StreamName": stream, "Records": entries}


def put_records_body(stream: str, records: Sequence[bytes], keys: Sequence[str]) -> bytes:
    """The JSON body of a PutRecords call (one partition key per record)."""
    entries = b",".join(
        [
            b'{"Data":"' + b64(r) + b'","PartitionKey":' + json_string(k) + b"}"
            for r, k in zip(records, keys, strict=True)
        ]
    )
    return b'{"Records":[' + entries + b'],"StreamName":' + json_string(stream) + b"}"


def put_records_failures(resp: Any) -> list[tuple[int, str, str]]:
    """The failed records of a PutRecords response: (index, code, message)."""
    return record_failures(resp, "FailedRecordCount", "Records")


class KinesisSyncTransport:
    """One PutRecords per :meth:`put` on a blocking boto3 client (threads, gevent, locust)."""

    name = "kinesis"

    def __init__(self, *, stream: str, client: Any, partition_key: str = "user_id", seed: int = 0) -> None:
        self.calls = KinesisCalls(stream, partition_key=partition_key, seed=seed)
        self.client = client

    @property
    def stream(self) -> str:
        return self.calls.stream

    def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        params = self.calls.params(records)
        try:
            resp = self.client.put_records(**params)
        except Exception as exc:
            region = str(self.client.meta.region_name)
            raise translate_error(exc, what=self.calls.what, region=region) from None
        return self.calls.failures(resp)

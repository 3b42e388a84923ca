"""S3 directly: Firehose-layout objects put into a bucket, without Firehose.

The same key layout, buffering and GZIP as the lake (it *is* the lake sink, storing
with ``PutObject``): the way to backfill months of history into the raw zone
without paying for Firehose ingestion.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from producer.delivery.retry import RetryPolicy
from producer.errors import ConfigError, SinkError
from producer.sinks.aws.clients import AwsOptions, ClientHolder, translate_error
from producer.sinks.lake import LakeSink

__all__ = ["S3Sink", "parse_bucket"]


def parse_bucket(text: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` or ``bucket`` -> (bucket, key prefix before the Firehose prefix)."""
    t = text.strip()
    t = t.removeprefix("s3://")
    bucket, _, root = t.partition("/")
    if not bucket or len(bucket) < 3 or len(bucket) > 63:
        msg = f"invalid --bucket {text!r}: expected a bucket name or s3://bucket/prefix"
        raise ConfigError(msg)
    return bucket, root


class S3Sink(LakeSink):
    """A :class:`~producer.sinks.lake.LakeSink` whose objects go to S3 with ``PutObject``."""

    name = "s3"

    def __init__(
        self, *, bucket: str, options: AwsOptions | None = None, policy: RetryPolicy | None = None, **kw: Any
    ) -> None:
        self.bucket, self.root_prefix = parse_bucket(bucket)
        self._holder = ClientHolder("s3", options or AwsOptions())
        self._policy = policy or RetryPolicy()
        self._rng = random.Random()
        super().__init__(**kw)

    def _check_destination(self) -> None:
        """Checked in :meth:`open`, where a client can be made."""

    async def open(self) -> str:
        """Check the bucket exists and is reachable with these credentials."""
        try:
            client = await self._holder.get()
            await client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            err = translate_error(exc, what=f"S3 bucket '{self.bucket}'", region=self._holder.region)
            raise SinkError(err.message) from None
        return f"s3://{self.bucket}/{self.root_prefix}{self.prefix}"

    async def _store(self, key: str, body: bytes, *, lost: int) -> None:
        full = self.root_prefix + key
        for attempt in range(1, self._policy.max_attempts + 1):
            try:
                client = await self._holder.get()
                await client.put_object(Bucket=self.bucket, Key=full, Body=body)
                return
            except Exception as exc:
                err = translate_error(exc, what=f"S3 bucket '{self.bucket}'", region=self._holder.region)
                if not err.retryable or attempt == self._policy.max_attempts:
                    msg = f"cannot put s3://{self.bucket}/{full}: {err.message}"
                    raise SinkError(msg, lost=lost) from None
            await asyncio.sleep(self._policy.delay(attempt + 1, self._rng))

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self._holder.aclose()

"""S3 directly: Firehose-layout objects put into a bucket, without Firehose.

The same key layout, buffering and GZIP as the lake (it *is* the lake sink, storing
with ``PutObject``): the way to backfill months of history into the raw zone
without paying for Firehose ingestion. With a world, the dimension tables and
``world.json`` go under ``<root prefix>dims/`` in the bucket, as the lake writes them
under its directory: checked and written in :meth:`S3Sink.open`, or before the first
object when the start-up check is off.

Retries: the SDK's own are off (as for every AWS sink, so that each call is counted);
a retryable PutObject error is retried here up to ``--max-attempts`` with capped
exponential backoff. The batch whose records set off an object counts its calls,
retries (objects put again), throttled answers (``SlowDown``) and latencies in the
summary; the last object, put when the sink closes, is not in those counts.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from producer.delivery.retry import RetryPolicy
from producer.errors import ConfigError, SinkError
from producer.sinks.aws.clients import AwsOptions, ClientHolder, translate_error
from producer.sinks.base import THROTTLING_CODES, BatchResult
from producer.sinks.dims import WORLD_KEY
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
        # PutObject calls since the last batch's result: calls, retries, throttled, latencies.
        self._calls = self._retried = self._throttled = 0
        self._latencies: list[float] = []
        super().__init__(**kw)

    def _result(self, delivered: int) -> BatchResult:
        """The batch, with the PutObject calls it set off (and their retries) counted."""
        result = BatchResult(
            delivered=delivered, retried=self._retried, throttled=self._throttled, calls=self._calls,
            latencies_ms=tuple(self._latencies),
        )  # fmt: skip
        self._calls = self._retried = self._throttled = 0
        self._latencies = []
        return result

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
        await self._place_dims(lost=0)
        return f"s3://{self.bucket}/{self.root_prefix}{self.prefix}"

    def _where(self) -> str:
        return f"bucket 's3://{self.bucket}/{self.root_prefix}'"

    async def _place_dims(self, *, lost: int) -> None:
        """Write the world's dimension tables unless the bucket has them; refuse another world's."""
        if self.dims_ready:
            return
        existing = await self._get(WORLD_KEY, lost=lost)
        for key, body in self._dims_to_write(existing):
            await self._put(key, body, lost=lost)
        self.dims_ready = True

    async def _get(self, key: str, *, lost: int) -> bytes | None:
        """The object at ``key`` under the root prefix, or None when there is none."""
        full = self.root_prefix + key
        try:
            client = await self._holder.get()
            response = await client.get_object(Bucket=self.bucket, Key=full)
            async with response["Body"] as stream:
                body: bytes = await stream.read()
            return body
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            err = translate_error(exc, what=f"S3 bucket '{self.bucket}'", region=self._holder.region)
            msg = f"cannot read s3://{self.bucket}/{full}: {err.message}"
            raise SinkError(msg, lost=lost) from None

    async def _store(self, key: str, body: bytes, *, lost: int) -> None:
        try:
            await self._place_dims(lost=lost)
        except ConfigError as exc:  # another world's bucket, found mid-run: the run stops here
            raise SinkError(str(exc), lost=lost) from None
        await self._put(key, body, lost=lost)

    async def _put(self, key: str, body: bytes, *, lost: int) -> None:
        full = self.root_prefix + key
        for attempt in range(1, self._policy.max_attempts + 1):
            self._calls += 1
            self._retried += attempt > 1
            started = time.perf_counter()
            try:
                client = await self._holder.get()
                await client.put_object(Bucket=self.bucket, Key=full, Body=body)
                self._latencies.append((time.perf_counter() - started) * 1000.0)
                return
            except Exception as exc:
                self._latencies.append((time.perf_counter() - started) * 1000.0)
                err = translate_error(exc, what=f"S3 bucket '{self.bucket}'", region=self._holder.region)
                self._throttled += err.code in THROTTLING_CODES
                if not err.retryable or attempt == self._policy.max_attempts:
                    msg = f"cannot put s3://{self.bucket}/{full}: {err.message}"
                    raise SinkError(msg, lost=lost) from None
            await asyncio.sleep(self._policy.delay(attempt + 1, self._rng))

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self._holder.aclose()

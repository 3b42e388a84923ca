"""Delivery with retries: the seam between the producer and a remote API.

A :class:`Transport` makes one call (one PutRecordBatch, one PutRecords) and says
which records failed. :class:`DeliverySink` turns a transport into a
:class:`~producer.sinks.base.Sink` with the semantics AWS asks of producers:

- per-record failures (HTTP 200 with ``FailedPutCount > 0``) are resent, only those
  records, with capped exponential backoff and full jitter;
- whole-call throttling and server errors are retried the same way;
- records still failing after ``max_attempts`` come back as failures, with the last
  error code and message, for the dead-letter file;
- non-retryable errors (stream not found, access denied, bad request, no
  credentials) stop the run with one line; so does an endpoint that stays
  unreachable after every attempt.

The transports (``sinks/firehose.py``, ``sinks/kinesis.py``) only translate: they
never retry, and the SDK's own retries are switched off, so every attempt is counted.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from producer.errors import SinkError, TransportError
from producer.sinks.base import THROTTLING_CODES, BatchResult, RecordFailure

__all__ = [
    "THROTTLING_CODES",
    "BatchAttempts",
    "DeliverySink",
    "RetryPolicy",
    "SyncDelivery",
    "SyncTransport",
    "Transport",
    "TransportError",
]

logger = logging.getLogger(__name__)


class Transport(Protocol):
    """Makes one call with ``records``; returns the failed ones as (index, code, message)."""

    name: str

    async def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        """Send the records in one call; raise :class:`TransportError` if the call failed."""
        ...

    async def aclose(self) -> None:
        """Release the client."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter (AWS Architecture Blog, 2015)."""

    max_attempts: int = 8
    base_s: float = 0.1
    cap_s: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt`` (2, 3, ...)."""
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2 ** (attempt - 2)))


class BatchAttempts:
    """The retry logic of one batch, without I/O: which records to send next, after what
    delay, and what was confirmed. Driven by :class:`DeliverySink` (asyncio) and
    :class:`SyncDelivery` (threads, gevent, locust) alike, so both behave the same."""

    def __init__(self, records: Sequence[bytes], policy: RetryPolicy, rng: random.Random) -> None:
        self.records = records
        self.policy = policy
        self._rng = rng
        self.pending = list(range(len(records)))
        self.last_error: dict[int, tuple[str, str]] = {}
        self.retried = self.throttled = self.calls = self.attempt = 0
        self.latencies: list[float] = []

    def next_call(self) -> tuple[float, list[bytes]] | None:
        """(seconds to wait, records to send) for the next call, or None when done."""
        if not self.pending or self.attempt >= self.policy.max_attempts:
            return None
        self.attempt += 1
        delay = 0.0
        if self.attempt > 1:
            self.retried += len(self.pending)
            delay = self.policy.delay(self.attempt, self._rng)
        self.calls += 1
        return delay, [self.records[i] for i in self.pending]

    def succeeded(self, failed: list[tuple[int, str, str]], latency_ms: float) -> None:
        """The call returned; ``failed`` lists the records of the call that failed."""
        self.latencies.append(latency_ms)
        still: list[int] = []
        for j, code, message in failed:
            i = self.pending[j]
            self.last_error[i] = (code, message)
            if code in THROTTLING_CODES:
                self.throttled += 1
            still.append(i)
        self.pending = still

    def failed(self, exc: TransportError, latency_ms: float) -> None:
        """The whole call failed; raises :class:`SinkError` when retrying cannot help."""
        self.latencies.append(latency_ms)
        for i in self.pending:
            self.last_error[i] = (exc.code, exc.message)
        if exc.code in THROTTLING_CODES:
            self.throttled += len(self.pending)
        if not exc.retryable:
            raise SinkError(exc.message, result=self._result())
        logger.debug("call failed (attempt %d): %s", self.attempt, exc)

    def outcome(self) -> BatchResult:
        """What was confirmed, once :meth:`next_call` says done.

        Raises :class:`SinkError` if the endpoint stayed unreachable through every
        attempt: the run stops rather than spend the same backoff on every batch.
        """
        if self.pending:
            code, message = self.last_error.get(self.pending[0], ("", ""))
            if code in _UNREACHABLE:
                raise SinkError(message, result=self._result())
        return self._result()

    def _result(self) -> BatchResult:
        failures = tuple(
            RecordFailure(index=i, code=self.last_error[i][0], message=self.last_error[i][1])
            for i in self.pending
        )
        return BatchResult(
            delivered=len(self.records) - len(failures),
            failures=failures,
            retried=self.retried,
            throttled=self.throttled,
            calls=self.calls,
            latencies_ms=tuple(self.latencies),
        )


class DeliverySink:
    """A sink that delivers through a :class:`Transport`, retrying as AWS advises."""

    def __init__(
        self,
        transport: Transport,
        *,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        opener: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self.transport = transport
        self.name = transport.name
        self.policy = policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._sleep = sleep or asyncio.sleep
        self._opener = opener
        self.closed = False

    async def open(self) -> str:
        """Check the destination before the run (e.g. DescribeDeliveryStream); describe it."""
        if self._opener is None:
            return self.name
        return await self._opener()

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        """Deliver one batch, resending failed records; return what was confirmed."""
        if self.closed:
            msg = f"{self.name}: send_batch after the sink was closed"
            raise SinkError(msg)
        attempts = BatchAttempts(records, self.policy, self._rng)
        while (call := attempts.next_call()) is not None:
            delay, batch = call
            if delay:
                await self._sleep(delay)
            started = time.perf_counter()
            try:
                failed = await self.transport.put(batch)
            except TransportError as exc:
                attempts.failed(exc, (time.perf_counter() - started) * 1000.0)
                continue
            attempts.succeeded(failed, (time.perf_counter() - started) * 1000.0)
        return attempts.outcome()

    async def aclose(self) -> None:
        """Close the transport."""
        if not self.closed:
            self.closed = True
            await self.transport.aclose()


class SyncTransport(Protocol):
    """A blocking :class:`Transport` (boto3), for threads and gevent."""

    name: str

    def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        """Send the records in one call; raise :class:`TransportError` if the call failed."""
        ...


class SyncDelivery:
    """The same delivery semantics as :class:`DeliverySink`, blocking (for locust users)."""

    def __init__(
        self,
        transport: SyncTransport,
        *,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transport = transport
        self.policy = policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._sleep = sleep

    def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        """Deliver one batch, resending failed records; return what was confirmed."""
        attempts = BatchAttempts(records, self.policy, self._rng)
        while (call := attempts.next_call()) is not None:
            delay, batch = call
            if delay:
                self._sleep(delay)
            started = time.perf_counter()
            try:
                failed = self.transport.put(batch)
            except TransportError as exc:
                attempts.failed(exc, (time.perf_counter() - started) * 1000.0)
                continue
            attempts.succeeded(failed, (time.perf_counter() - started) * 1000.0)
        return attempts.outcome()


#: Transport error codes that mean the endpoint cannot be reached at all.
_UNREACHABLE = frozenset({"EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"})

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

from producer.errors import SinkError
from producer.sinks.base import BatchResult, RecordFailure

__all__ = [
    "THROTTLING_CODES",
    "DeliverySink",
    "RetryPolicy",
    "Transport",
    "TransportError",
]

logger = logging.getLogger(__name__)

#: Error codes that mean "slow down" (counted as throttled).
THROTTLING_CODES = frozenset(
    {
        "ServiceUnavailableException",  # Firehose: "Slow down."
        "ProvisionedThroughputExceededException",  # Kinesis Data Streams
        "ThrottlingException",
        "KMSThrottlingException",
        "SlowDown",  # S3
        "LimitExceededException",
    }
)


class TransportError(Exception):
    """A whole call failed. ``retryable`` says whether trying again can help."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


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
        pending = list(range(len(records)))
        last_error: dict[int, tuple[str, str]] = {}
        retried = throttled = calls = 0
        latencies: list[float] = []
        attempt = 0
        while pending and attempt < self.policy.max_attempts:
            attempt += 1
            if attempt > 1:
                retried += len(pending)
                await self._sleep(self.policy.delay(attempt, self._rng))
            started = time.perf_counter()
            try:
                calls += 1
                failed = await self.transport.put([records[i] for i in pending])
            except TransportError as exc:
                latencies.append((time.perf_counter() - started) * 1000.0)
                for i in pending:
                    last_error[i] = (exc.code, exc.message)
                if exc.code in THROTTLING_CODES:
                    throttled += len(pending)
                if not exc.retryable:
                    raise self._give_up(exc.message, records, pending, last_error, retried, throttled,
                                        calls, latencies) from None  # fmt: skip
                logger.debug("%s call failed (attempt %d): %s", self.name, attempt, exc)
                continue
            latencies.append((time.perf_counter() - started) * 1000.0)
            still: list[int] = []
            for j, code, message in failed:
                i = pending[j]
                last_error[i] = (code, message)
                if code in THROTTLING_CODES:
                    throttled += 1
                still.append(i)
            pending = still
        if pending:
            last = last_error.get(pending[0], ("", ""))
            if last[0] in _UNREACHABLE:
                # The endpoint stayed unreachable through every attempt: stop rather
                # than spend the same backoff on every batch that follows.
                raise self._give_up(
                    last[1], records, pending, last_error, retried, throttled, calls, latencies
                )
        failures = tuple(
            RecordFailure(index=i, code=last_error[i][0], message=last_error[i][1]) for i in pending
        )
        return BatchResult(
            delivered=len(records) - len(failures),
            failures=failures,
            retried=retried,
            throttled=throttled,
            calls=calls,
            latencies_ms=tuple(latencies),
        )

    def _give_up(
        self,
        message: str,
        records: Sequence[bytes],
        pending: list[int],
        last_error: dict[int, tuple[str, str]],
        retried: int,
        throttled: int,
        calls: int,
        latencies: list[float],
    ) -> SinkError:
        failures = tuple(
            RecordFailure(index=i, code=last_error[i][0], message=last_error[i][1]) for i in pending
        )
        result = BatchResult(
            delivered=len(records) - len(failures),
            failures=failures,
            retried=retried,
            throttled=throttled,
            calls=calls,
            latencies_ms=tuple(latencies),
        )
        return SinkError(message, result=result)

    async def aclose(self) -> None:
        """Close the transport."""
        if not self.closed:
            self.closed = True
            await self.transport.aclose()


#: Transport error codes that mean the endpoint cannot be reached at all.
_UNREACHABLE = frozenset({"EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"})

"""Transport fault rehearsal: throttling, failed calls and stream quotas, on demand.

:class:`FaultyTransport` wraps a real transport. Records it decides to throttle are
not sent at all and come back with the error AWS gives (``ServiceUnavailableException``
"Slow down." for Firehose, ``ProvisionedThroughputExceededException`` for Kinesis),
exactly where AWS puts them: in the per-record results of an HTTP 200 response. A
failed call never reaches the endpoint and comes back as a 503. So the producer's
real retry path runs against AWS, moto or anything, and the destination sees no
record twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from producer.delivery.retry import SyncTransport, Transport, TransportError
from producer.errors import ConfigError

__all__ = ["FaultPlan", "FaultySyncTransport", "FaultyTransport", "Quota", "TransportFaults"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Quota:
    """A simulated stream quota: ``per_s`` records or bytes per second."""

    per_s: float
    unit: str  # "records" or "bytes"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportFaults:
    """What to rehearse: a share of records throttled, a share of calls failed, a quota."""

    throttle_rate: float = 0.0
    call_failure_rate: float = 0.0
    quota: Quota | None = None

    def __post_init__(self) -> None:
        for name in ("throttle_rate", "call_failure_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                msg = f"invalid transport_faults.{name}: {value} (must be within [0, 1])"
                raise ConfigError(msg)

    @property
    def active(self) -> bool:
        return self.throttle_rate > 0 or self.call_failure_rate > 0 or self.quota is not None


class FaultPlan:
    """Decides, without I/O, which records of a call are throttled and which calls fail."""

    def __init__(
        self,
        faults: TransportFaults,
        *,
        throttle_code: str,
        throttle_message: str,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.faults = faults
        self.throttle_code = throttle_code
        self.throttle_message = throttle_message
        self._rng = random.Random(seed)
        self._clock = clock
        self._tokens = faults.quota.per_s if faults.quota else 0.0
        self._refilled = clock()
        self.injected_call_failures = 0
        self.injected_throttles = 0

    def _quota_allows(self, size: float) -> bool:
        quota = self.faults.quota
        if quota is None:
            return True
        now = self._clock()
        # A token bucket holding at most one second of quota, as a stream's per-second limit.
        self._tokens = min(quota.per_s, self._tokens + (now - self._refilled) * quota.per_s)
        self._refilled = now
        if self._tokens >= size:
            self._tokens -= size
            return True
        return False

    def split(self, records: Sequence[bytes]) -> tuple[list[int], list[tuple[int, str, str]]]:
        """(indices to really send, throttled failures); raises a 503 for a failed call."""
        f = self.faults
        if f.call_failure_rate and self._rng.random() < f.call_failure_rate:
            self.injected_call_failures += 1
            code, message = "ServiceUnavailableException", "Slow down. (rehearsed 503)"
            raise TransportError(code, message, retryable=True)
        throttled: list[tuple[int, str, str]] = []
        send: list[int] = []
        per_record = f.quota is not None and f.quota.unit == "records"
        for i, record in enumerate(records):
            size = 1.0 if per_record else float(len(record))
            if (f.throttle_rate and self._rng.random() < f.throttle_rate) or not self._quota_allows(size):
                throttled.append((i, self.throttle_code, self.throttle_message))
            else:
                send.append(i)
        self.injected_throttles += len(throttled)
        return send, throttled

    @staticmethod
    def merge(
        send: list[int], throttled: list[tuple[int, str, str]], inner_failed: list[tuple[int, str, str]]
    ) -> list[tuple[int, str, str]]:
        failed = list(throttled)
        failed.extend((send[j], code, message) for j, code, message in inner_failed)
        failed.sort()
        return failed


class FaultyTransport:
    """Wraps a transport and injects the faults of :class:`TransportFaults`."""

    def __init__(
        self,
        inner: Transport,
        faults: TransportFaults,
        *,
        throttle_code: str,
        throttle_message: str,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.plan = FaultPlan(
            faults, throttle_code=throttle_code, throttle_message=throttle_message, seed=seed, clock=clock
        )

    async def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        send, throttled = self.plan.split(records)
        inner_failed = await self.inner.put([records[i] for i in send]) if send else []
        return self.plan.merge(send, throttled, inner_failed)

    async def aclose(self) -> None:
        await self.inner.aclose()


class FaultySyncTransport:
    """:class:`FaultyTransport` for a blocking transport."""

    def __init__(self, inner: SyncTransport, plan: FaultPlan) -> None:
        self.inner = inner
        self.name = inner.name
        self.plan = plan

    def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        send, throttled = self.plan.split(records)
        inner_failed = self.inner.put([records[i] for i in send]) if send else []
        return self.plan.merge(send, throttled, inner_failed)

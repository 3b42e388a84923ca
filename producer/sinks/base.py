"""The sink seam: a tiny async protocol every destination implements."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = [
    "BatchResult",
    "EpochClock",
    "THROTTLING_CODES",
    "RecordFailure",
    "Sink",
]

#: Returns "now" as epoch seconds (UTC). The runner passes the run's clock, so a
#: backfill over a simulated window names lake objects after simulated time.
EpochClock = Callable[[], float]


#: Error codes (of a :class:`RecordFailure` or a whole failed call) that mean "slow down":
#: counted as throttled, and always worth retrying.
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


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordFailure:
    """One record the sink did not accept, with the sink's own error code."""

    index: int
    code: str
    message: str
    #: Sends of the record before it was given up (0: never sent).
    attempts: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchResult:
    """What the sink confirmed for one ``send_batch`` call.

    ``delivered`` counts the records the destination accepted (for Firehose: taken
    into the delivery stream; for the lake: taken into its buffer, which is written
    out by size, interval and at close). ``failures`` lists the others, by index in
    the batch.
    """

    delivered: int
    failures: tuple[RecordFailure, ...] = field(default_factory=tuple)
    #: Records sent again after a failure (a record resent twice counts twice).
    retried: int = 0
    #: Records answered with a throttling error (per record or whole call).
    throttled: int = 0
    #: Calls made to the destination for this batch, and how long each took.
    calls: int = 0
    latencies_ms: tuple[float, ...] = ()


@runtime_checkable
class Sink(Protocol):
    """A destination for encoded records (each one newline-terminated NDJSON bytes)."""

    #: Short name shown in the live view and the summary ("lake", "stdout", ...).
    name: str

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        """Deliver one batch; return what the destination confirmed."""
        ...

    async def aclose(self) -> None:
        """Flush whatever is buffered and release resources.

        Raises :class:`producer.errors.SinkError` if buffered records could not be
        written; the error's ``lost`` attribute then says how many.
        """
        ...

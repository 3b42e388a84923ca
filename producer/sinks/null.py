"""The null sink: discards records and counts them, for benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

from producer.errors import SinkError
from producer.sinks.base import BatchResult

__all__ = ["NullSink"]


class NullSink:
    """Discards every record; counts records, bytes and batches."""

    name = "null"

    def __init__(self) -> None:
        self.records = 0
        self.bytes = 0
        self.batches = 0
        self.closed = False

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        """Count the batch and drop it; every record is delivered."""
        if self.closed:
            msg = "null: send_batch after aclose"
            raise SinkError(msg)
        self.records += len(records)
        self.bytes += sum(map(len, records))
        self.batches += 1
        return BatchResult(delivered=len(records))

    async def aclose(self) -> None:
        """Mark the sink closed."""
        self.closed = True

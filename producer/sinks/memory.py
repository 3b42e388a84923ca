"""The in-memory sink: keeps every record, for library use, dry runs and tests."""

from __future__ import annotations

from collections.abc import Sequence

from producer.errors import SinkError
from producer.sinks.base import BatchResult

__all__ = ["MemorySink"]


class MemorySink:
    """Keeps every record it is sent, in order.

    ``records`` holds the records as sent (each one newline-terminated NDJSON);
    ``batches`` holds the size of each ``send_batch`` call, so callers can check
    how a run was batched as well as what it produced.
    """

    name = "memory"

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.batches: list[int] = []
        self.closed = False

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        """Keep the batch; every record is delivered."""
        if self.closed:
            msg = "memory: send_batch after aclose"
            raise SinkError(msg)
        self.records.extend(records)
        self.batches.append(len(records))
        return BatchResult(delivered=len(records))

    async def aclose(self) -> None:
        """Mark the sink closed; the records stay readable."""
        self.closed = True

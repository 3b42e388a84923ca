"""Cutting the record stream into PutRecordBatch-sized batches.

Firehose's limits are hard: at most 500 records and 4 MiB per PutRecordBatch
call, and 1,000 KiB per record (before base64). They cannot be raised, so the
producer enforces them itself rather than trusting an endpoint to reject a call.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_RECORDS_PER_BATCH",
    "MAX_RECORD_BYTES",
    "Batcher",
    "PackedBatch",
]

#: Records per PutRecordBatch call.
MAX_RECORDS_PER_BATCH = 500
#: Bytes per PutRecordBatch call (4 MiB).
MAX_BATCH_BYTES = 4 * 1024 * 1024
#: Bytes per record, before base64 (1,000 KiB).
MAX_RECORD_BYTES = 1_024_000


class PackedBatch(list[bytes]):
    """A batch of packed records that knows how many events it holds."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        super().__init__()
        self.events = 0


class Batcher:
    """Accumulates records and hands out batches that respect the limits.

    A batch is released when it reaches ``max_records`` or would exceed
    ``max_bytes``; ``linger_s`` (checked by the caller with :meth:`expired`)
    releases a partial batch so low rates still flow. Records over
    ``max_record_bytes`` are never batched: they come back from :meth:`extend`
    in ``oversize`` for the dead-letter file.
    """

    def __init__(
        self,
        *,
        max_records: int = MAX_RECORDS_PER_BATCH,
        max_bytes: int = MAX_BATCH_BYTES,
        max_record_bytes: int = MAX_RECORD_BYTES,
        linger_s: float = 1.0,
        hard_max_bytes: int = MAX_BATCH_BYTES,
        hard_max_record_bytes: int = MAX_RECORD_BYTES,
        pack_bytes: int | None = None,
    ) -> None:
        if not 1 <= max_records <= MAX_RECORDS_PER_BATCH:
            msg = f"records per batch must be within 1..{MAX_RECORDS_PER_BATCH}, got {max_records}"
            raise ValueError(msg)
        # The hard limits are the API's (Firehose by default); asking for more is capped.
        self.max_records = max_records
        self.max_bytes = min(max_bytes, hard_max_bytes)
        # A record always fits in a batch.
        self.max_record_bytes = min(max_record_bytes, hard_max_record_bytes, self.max_bytes)
        self.linger_s = linger_s
        #: Pack several events into one record up to this size (None: one event per record).
        self.pack_bytes = min(pack_bytes, self.max_record_bytes) if pack_bytes else None
        self._records: list[bytes] = []
        self._bytes = 0
        self._since: float | None = None
        self.oversize: list[bytes] = []

    def __len__(self) -> int:
        return len(self._records)

    def extend(self, records: Iterable[bytes], now: float) -> list[list[bytes]]:
        """Add records; return the batches that became full, in order."""
        if self.pack_bytes:
            events = records if isinstance(records, list | tuple) else list(records)
            return self._extend_packed(events, now, self.pack_bytes)
        full: list[list[bytes]] = []
        batch = self._records
        size = self._bytes
        limit_n = self.max_records
        limit_b = self.max_bytes
        limit_r = self.max_record_bytes
        fresh = not batch  # the partial batch starts in this call
        for record in records:
            n = len(record)
            if n > limit_r:
                self.oversize.append(record)
                continue
            if size + n > limit_b or len(batch) >= limit_n:
                full.append(batch)
                batch = []
                size = 0
                fresh = True
            batch.append(record)
            size += n
        if len(batch) >= limit_n:
            full.append(batch)
            batch = []
            size = 0
        self._keep(batch, size, now if fresh else None)
        return full

    def _extend_packed(self, records: Sequence[bytes], now: float, pack: int) -> list[list[bytes]]:
        """:meth:`extend` when packing: each event joins the last record while it fits.

        Events end in a newline, so the concatenation delivers to S3 exactly as separate
        records would. The run of events that fits is found by bisection over their
        cumulative sizes: Python work per record, not per event. A batch stays open
        while it holds ``max_records`` records, since its last record may still grow.
        """
        lens = list(map(len, records))
        limit_r = self.max_record_bytes
        if lens and max(lens) > limit_r:
            self.oversize.extend(r for r, n in zip(records, lens, strict=True) if n > limit_r)
            records = [r for r, n in zip(records, lens, strict=True) if n <= limit_r]
            lens = [n for n in lens if n <= limit_r]
        # ends[j] - ends[i]: the bytes of events i..j-1; the open batch holds ends[i] - base.
        ends = list(accumulate(lens, initial=0))
        full: list[list[bytes]] = []
        batch = self._records
        base = -self._bytes
        limit_n = self.max_records
        limit_b = self.max_bytes
        fresh = not batch
        i, n = 0, len(records)
        bisect = bisect_right
        join = b"".join
        if not isinstance(batch, PackedBatch):
            batch = PackedBatch()  # the batcher was empty
        if batch and n:
            # Top up the open record first: the events that fit in it and in the batch.
            j = bisect(ends, min(pack - len(batch[-1]), base + limit_b), 0) - 1
            if j > 0:
                batch[-1] += join(records[:j])
                batch.events += j
                i = j
        while i < n:
            if ends[i + 1] - base > limit_b or len(batch) >= limit_n:
                full.append(batch)
                batch = PackedBatch()
                base = ends[i]
                fresh = True
            cap = ends[i] + pack
            if cap > base + limit_b:
                cap = base + limit_b
            j = bisect(ends, cap, i) - 1
            if j <= i:
                j = i + 1  # one event larger than ``pack`` (within the record limit) goes alone
            batch.append(records[i] if j == i + 1 else join(records[i:j]))
            batch.events += j - i
            i = j
        self._keep(batch, ends[n] - base, now if fresh else None)
        return full

    def _keep(self, batch: list[bytes], size: int, started: float | None) -> None:
        """Keep the partial batch; ``started`` is when it began if it began in this call."""
        if not batch:
            self._since = None
        elif started is not None:
            self._since = started
        self._records = batch
        self._bytes = size

    def expired(self, now: float) -> bool:
        """True when a partial batch has waited ``linger_s``."""
        return self._since is not None and bool(self._records) and now - self._since >= self.linger_s

    def drain(self) -> list[bytes]:
        """Take the partial batch (possibly empty)."""
        batch = self._records
        self._records = []
        self._bytes = 0
        self._since = None
        return batch

    def take_oversize(self) -> list[bytes]:
        """Take the records rejected for size."""
        out = self.oversize
        self.oversize = []
        return out

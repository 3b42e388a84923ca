"""The dead-letter file: every record the sink did not accept, with the reason.

One JSON object per line: ``reason`` (error code), ``message``, ``attempts`` and
``record`` (the record as sent, as text). Created on the first dead letter only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from producer.delivery.batching import Batcher
from producer.errors import SinkError

__all__ = ["DeadLetterFile"]


class DeadLetterFile:
    """Appends dead letters to ``path``; counts them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._fh: IO[str] | None = None

    def write(self, record: bytes, *, code: str, message: str, attempts: int = 1) -> None:
        """Record one undelivered record."""
        if self._fh is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                msg = f"dead-letter file '{self.path}' is not writable: {exc.strerror or exc}"
                raise SinkError(msg) from exc
        line = {
            "reason": code,
            "message": message,
            "attempts": attempts,
            "size_bytes": len(record),
            "record": record.decode("utf-8", errors="replace"),
        }
        self._fh.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.count += 1

    def write_oversize(self, batcher: Batcher) -> int:
        """Dead-letter the records ``batcher`` set aside as over its per-record limit; how many."""
        oversize = batcher.take_oversize()
        limit = batcher.max_record_bytes
        for record in oversize:
            message = f"record of {len(record):,} bytes exceeds the {limit:,}-byte limit"
            self.write(record, code="RecordTooLarge", message=message, attempts=0)
        return len(oversize)

    def close(self) -> None:
        """Flush and close (a no-op when nothing was written)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

"""Capture files: every record exactly as sent, with when it was sent, for exact replay.

NDJSON (GZIP when the name ends in ``.gz``): a header line, then one line per
record in send order::

    {"format":"netflix-producer-capture","version":1,"producer_version":"0.1.0",
     "scenario":"null-event-ts","seed":42,"clock":"simulated","start":"2026-01-27T00:00:00Z",
     "start_epoch":1769472000.0}
    {"t":0.002,"r":"{\\"event_id\\":...}\\n"}

``t`` is the send time in seconds of the run's schedule since its start (wall time
for realtime runs, simulated time for backfills); ``r`` is the record as text (or
``b`` as base64 when it is not UTF-8). The file is written to ``.<name>.tmp`` and
renamed into place when closed, so a capture is either whole or absent.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from producer.errors import ConfigError

__all__ = ["CAPTURE_FORMAT", "CaptureHeader", "CaptureWriter", "read_capture"]

CAPTURE_FORMAT = "netflix-producer-capture"
_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureHeader:
    """What a capture says about the run it came from."""

    producer_version: str
    scenario: str | None
    seed: int
    clock: str
    start: str
    start_epoch: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CAPTURE_FORMAT,
            "version": _VERSION,
            "producer_version": self.producer_version,
            "scenario": self.scenario,
            "seed": self.seed,
            "clock": self.clock,
            "start": self.start,
            "start_epoch": self.start_epoch,
        }


class CaptureWriter:
    """Writes a capture; :meth:`close` makes it appear."""

    def __init__(self, path: Path, header: CaptureHeader) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            raw: IO[bytes] = self._tmp.open("wb")
        except OSError as exc:
            msg = f"--capture '{path}' is not writable: {exc.strerror or exc}"
            raise ConfigError(msg) from exc
        self._raw = raw
        self._out: IO[bytes] = (
            cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0))
            if path.suffix == ".gz"
            else raw
        )
        self._buf = io.BytesIO()
        self.records = 0
        self._write_line(header.to_dict())

    def _write_line(self, obj: dict[str, Any]) -> None:
        self._buf.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")
        if self._buf.tell() > 1 << 20:
            self._out.write(self._buf.getvalue())
            self._buf = io.BytesIO()

    def write(self, records: list[bytes], t: float) -> None:
        """Records handed to the sink together, at schedule offset ``t`` seconds."""
        stamp = round(t, 6)
        for r in records:
            try:
                self._write_line({"t": stamp, "r": r.decode("utf-8")})
            except UnicodeDecodeError:
                self._write_line({"t": stamp, "b": base64.b64encode(r).decode()})
        self.records += len(records)

    def close(self) -> None:
        """Flush and rename into place (idempotent)."""
        if self._raw.closed:
            return
        self._out.write(self._buf.getvalue())
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()
        self._tmp.replace(self.path)


def read_capture(path: Path) -> tuple[CaptureHeader, Iterator[tuple[float, bytes]]]:
    """The header and a streaming iterator of (offset, record)."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        msg = f"capture '{path}': {exc.strerror or exc}"
        raise ConfigError(msg) from None
    fh: IO[bytes] = raw
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        fh = cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    else:
        raw.seek(0)
    bad = f"capture '{path}': not a netflix-producer capture"
    try:
        head = json.loads(fh.readline())
    except (ValueError, OSError):
        raw.close()
        raise ConfigError(bad) from None
    if not isinstance(head, dict) or head.get("format") != CAPTURE_FORMAT:
        raw.close()
        raise ConfigError(bad)
    header = CaptureHeader(
        producer_version=str(head.get("producer_version", "?")),
        scenario=head.get("scenario"),
        seed=int(head.get("seed", 0)),
        clock=str(head.get("clock", "realtime")),
        start=str(head.get("start", "")),
        start_epoch=float(head.get("start_epoch", 0.0)),
    )

    def records() -> Iterator[tuple[float, bytes]]:
        try:
            for n, line in enumerate(fh, start=2):
                try:
                    item = json.loads(line)
                    t = float(item["t"])
                    data = item["r"].encode("utf-8") if "r" in item else base64.b64decode(item["b"])
                except (ValueError, KeyError, TypeError):
                    msg = f"capture '{path}': line {n} is damaged"
                    raise ConfigError(msg) from None
                yield t, data
        except (OSError, EOFError) as exc:
            msg = f"capture '{path}': cannot be read to the end ({exc})"
            raise ConfigError(msg) from None
        finally:
            raw.close()

    return header, records()

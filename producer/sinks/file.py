"""The file sink: one NDJSON file (optionally GZIP), which appears only when complete."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import zlib
from collections.abc import Sequence
from pathlib import Path

from producer.errors import SinkError
from producer.sinks.base import BatchResult

__all__ = ["FileSink"]

#: zlib level 6 (zlib's default): nearly level 9's ratio on NDJSON at a fraction of the CPU.
_GZIP_LEVEL = 6
#: zlib ``wbits`` for a gzip container (16 + 15-bit window).
_GZIP_WBITS = 31


class FileSink:
    """Writes every record to one NDJSON file, GZIP-compressed when asked.

    ``gzip=None`` compresses when ``path`` ends in ``.gz``. Records go to
    ``<dir>/.<name>.tmp``, renamed to ``path`` by :meth:`aclose`, so a half-written
    file never appears under the final name. An existing character device or FIFO
    (``/dev/stdout``, a named pipe) is written directly instead.

    An :class:`OSError` (unwritable directory, full disk) becomes a one-line
    :class:`~producer.errors.SinkError` whose ``lost`` attribute counts the records
    not durably written: every record of the run, since the file is only complete
    at close.
    """

    name = "file"

    def __init__(self, path: str | os.PathLike[str], gzip: bool | None = None) -> None:
        self.path = Path(path)
        self.gzip = self.path.suffix == ".gz" if gzip is None else gzip
        #: Where the records go, for the live view and the summary.
        self.destination = str(self.path)
        #: Records and (uncompressed) bytes accepted so far.
        self.records_written = 0
        self.bytes_written = 0
        self.closed = False
        self._compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS) if self.gzip else None
        self._direct = _is_stream_device(self.path)
        self._tmp = self.path if self._direct else self.path.with_name(f".{self.path.name}.tmp")
        try:
            if self.path.is_dir():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(self.path))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CLOEXEC | (0 if self._direct else os.O_CREAT | os.O_TRUNC)
            self._fd = os.open(self._tmp, flags, 0o666)
        except OSError as exc:
            msg = f"output file '{self.path}' is not writable: {exc.strerror or exc}"
            raise SinkError(msg, lost=0) from exc

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        """Append the batch to the file; records become durable at :meth:`aclose`."""
        if self.closed:
            msg = f"output file '{self.path}': send_batch after the sink was closed"
            raise SinkError(msg, lost=len(records))
        data = b"".join(records)
        try:
            _write_all(self._fd, self._compressor.compress(data) if self._compressor else data)
        except OSError as exc:
            raise self._fail(exc, lost=self.records_written + len(records)) from exc
        self.records_written += len(records)
        self.bytes_written += len(data)
        return BatchResult(delivered=len(records))

    async def aclose(self) -> None:
        """Finish the file and move it into place under its final name."""
        if self.closed:
            return
        try:
            if self._compressor is not None:
                _write_all(self._fd, self._compressor.flush())
            if not self._direct:
                os.fsync(self._fd)
            fd, self._fd = self._fd, -1
            os.close(fd)
            if not self._direct:
                os.replace(self._tmp, self.path)
        except OSError as exc:
            raise self._fail(exc, lost=self.records_written) from exc
        self.closed = True

    def _fail(self, exc: OSError, *, lost: int) -> SinkError:
        """Close, remove the partial file and describe the failure."""
        self.closed = True
        with contextlib.suppress(OSError):
            if self._fd >= 0:
                os.close(self._fd)
        self._fd = -1
        if not self._direct:
            with contextlib.suppress(OSError):
                self._tmp.unlink(missing_ok=True)
        msg = f"cannot write output file '{self.path}': {exc.strerror or exc}"
        return SinkError(msg, lost=lost)


def _is_stream_device(path: Path) -> bool:
    """True for an existing target that must be written in place (device, FIFO, socket)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]

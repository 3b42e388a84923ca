"""The stdout sink: NDJSON to a binary stream, for pipes (``... --sink stdout | jq``)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Protocol

from producer.errors import OutputClosedError, SinkError
from producer.sinks.base import BatchResult

__all__ = ["BinaryStream", "StdoutSink", "silence_stdout"]


class BinaryStream(Protocol):
    """What the sink needs from its stream (``sys.stdout.buffer``, ``io.BytesIO``...)."""

    def write(self, data: bytes, /) -> int:
        """Write ``data``; return the number of bytes written."""
        ...

    def flush(self) -> None:
        """Push buffered bytes to the reader."""
        ...


class StdoutSink:
    """Writes each batch to a binary stream and flushes it, so readers see it at once.

    The stream defaults to ``sys.stdout.buffer``; the sink never closes it. When the
    reader goes away (``| head``), ``send_batch`` raises
    :class:`~producer.errors.OutputClosedError` ``"stdout: pipe closed by the reader"``:
    the batch it was writing counts as not delivered, since how much of it the reader
    took is unknowable.
    """

    name = "stdout"

    def __init__(self, stream: BinaryStream | None = None) -> None:
        self._owns_stdout = stream is None
        self._stream: BinaryStream = sys.stdout.buffer if stream is None else stream
        self._broken = False
        self.closed = False

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        """Write and flush the batch; every record is delivered unless the pipe closes."""
        if self.closed or self._broken:
            msg = "stdout: send_batch after the sink was closed"
            raise SinkError(msg)
        with self._translate_errors():
            self._stream.write(b"".join(records))
            self._stream.flush()
        return BatchResult(delivered=len(records))

    async def aclose(self) -> None:
        """Flush what is left (the stream itself stays open)."""
        if self.closed:
            return
        self.closed = True
        if not self._broken:
            with self._translate_errors():
                self._stream.flush()

    @contextlib.contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError as exc:
            self._broken = True
            if self._owns_stdout:
                silence_stdout()
            msg = "stdout: pipe closed by the reader"
            raise OutputClosedError(msg) from exc
        except OSError as exc:
            msg = f"stdout: {exc.strerror or exc}"
            raise SinkError(msg) from exc


def silence_stdout() -> None:
    """Point fd 1 at /dev/null once its reader has gone, so the process can exit cleanly."""
    # Python flushes sys.stdout again at exit; with the reader gone that prints a
    # traceback and exits 120. Pointing fd 1 at /dev/null lets the CLI stop cleanly
    # (the recipe in the docs of the signal module).
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)

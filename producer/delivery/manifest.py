"""The delivery manifest: the ``event_id`` of every record a run says it delivered.

``netflix-producer run --manifest PATH`` writes one; ``netflix-producer verify`` compares
it with what landed. The format is compact so that tens of millions of ids stay small
and stream to and from disk:

- one line of JSON, ``{"format":"netflix-producer-manifest","version":1}\\n``, with the
  run's ``"clock"`` (``"realtime"`` or ``"simulated"``) when the writer knows it;
- then 16 bytes per accepted record, in delivery order: the id as a UUID's 16 bytes
  (``uuid.UUID(text).bytes``). An id that is not a UUID (schema drift, a foreign
  producer) is stored as ``blake2b(<the id's bytes as written in the record>,
  digest_size=16)``, so it still compares, collision-free in practice.

An id is taken from the record's bytes, without a JSON parse: the producer writes
``{"event_id":"<36-char uuid>",...`` so the fast path reads bytes 13 to 49; any other
layout falls back to a regular expression. Records with no ``event_id`` at all are
skipped and counted. :mod:`producer.landed.verify` reads landed records the same way, so
both sides always agree on what an id is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from producer.errors import ConfigError, ProducerError

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "ManifestWriter",
    "event_id_text",
    "event_id_words",
    "id_text",
    "read_manifest",
]

MANIFEST_FORMAT = "netflix-producer-manifest"
MANIFEST_VERSION = 1
#: Ids per chunk that :func:`read_manifest` yields (16 MiB).
CHUNK_IDS = 1 << 20

_HEADER = json.dumps({"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION}, separators=(",", ":"))
HEADER = _HEADER.encode("ascii") + b"\n"
_MAX_HEADER_BYTES = 4096
_ID_BYTES = 16
#: Write buffer: ids reach the disk in writes of about this size, not one per record.
_BUFFER_BYTES = 1 << 20

_FAST_PREFIX = b'{"event_id":"'
_ID_START = len(_FAST_PREFIX)  # 13
_ID_END = _ID_START + 36  # 49: the closing quote of a 36-character id
_QUOTE = ord('"')
_ID_PATTERN = re.compile(rb'"event_id"\s*:\s*"([^"]+)"')

# Canonical UUID text: hex digits everywhere except dashes at 8, 13, 18 and 23.
_DASH_COLS = np.array([8, 13, 18, 23])
_DIGIT_COLS = np.array([c for c in range(36) if c not in (8, 13, 18, 23)])
_HEX_VALUE = np.full(256, -1, dtype=np.int16)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_VALUE[_c] = _i
for _i, _c in enumerate(b"ABCDEF", start=10):
    _HEX_VALUE[_c] = _i


def event_id_text(record: bytes) -> bytes | None:
    """The ``event_id`` of an NDJSON record, as the bytes between its quotes, or None."""
    if (
        record.startswith(_FAST_PREFIX)
        and len(record) > _ID_END
        and record[_ID_END] == _QUOTE
        and _QUOTE not in record[_ID_START:_ID_END]
    ):
        return record[_ID_START:_ID_END]
    match = _ID_PATTERN.search(record)
    return match.group(1) if match else None


def event_id_words(texts: Sequence[bytes]) -> npt.NDArray[np.uint64]:
    """The 16-byte form of each id as an ``(n, 2)`` array of big-endian words (hi, lo).

    Canonical 36-character UUIDs are converted a whole array at a time; anything else
    goes through ``uuid.UUID`` and, if that fails, blake2b (see the module docstring).
    """
    n = len(texts)
    out = np.empty((n, 2), dtype=np.uint64)
    if n == 0:
        return out
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    candidates = np.flatnonzero(lengths == 36)
    done = np.zeros(n, dtype=bool)
    if len(candidates):
        joined = b"".join(texts) if len(candidates) == n else b"".join(texts[i] for i in candidates.tolist())
        chars = np.frombuffer(joined, dtype=np.uint8).reshape(-1, 36)
        values = _HEX_VALUE[chars[:, _DIGIT_COLS]]
        canonical = (chars[:, _DASH_COLS] == ord("-")).all(axis=1) & (values >= 0).all(axis=1)
        raw = ((values[canonical, 0::2] << 4) | values[canonical, 1::2]).astype(np.uint8)
        rows = candidates[canonical]
        out[rows] = np.ascontiguousarray(raw).view(">u8").reshape(-1, 2)
        done[rows] = True
    rest = np.flatnonzero(~done)
    if len(rest):
        raw_rest = b"".join(_id_bytes(texts[i]) for i in rest.tolist())
        out[rest] = np.frombuffer(raw_rest, dtype=">u8").reshape(-1, 2)
    return out


def id_text(hi: int, lo: int) -> str:
    """The UUID text of a stored id (for a hashed non-UUID id, the hash as a UUID)."""
    return str(uuid.UUID(int=(int(hi) << 64) | int(lo)))


def _id_bytes(text: bytes) -> bytes:
    try:
        return uuid.UUID(text.decode("ascii")).bytes
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return hashlib.blake2b(text, digest_size=_ID_BYTES).digest()


class ManifestWriter:
    """Appends the ``event_id`` of accepted records to a manifest file.

    The file is written to ``<path>.tmp`` through a buffer and renamed to ``path``
    by :meth:`close` (also on leaving a ``with`` block, even on an error: the ids
    written are of records that really were accepted), so a reader never sees a
    partial manifest. Memory stays bounded whatever the number of ids.

    ``written`` counts the ids written, ``unidentified`` the records without an
    ``event_id`` (not in the manifest).
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: str | None = None) -> None:
        self.path = Path(path)
        self.written = 0
        self.unidentified = 0
        self.closed = False
        self._tmp = Path(f"{self.path}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: BinaryIO = open(self._tmp, "wb", buffering=_BUFFER_BYTES)  # noqa: SIM115
        except OSError as exc:
            msg = f"--manifest '{self.path}' is not writable: {exc.strerror or exc}"
            raise ConfigError(msg) from exc
        # The run's clock ("realtime" or "simulated") tells verify whether object
        # times and event times share a clock (readers ignore keys they do not know).
        self._write(HEADER if clock is None else _header_with(clock=clock))

    def add(self, records: Sequence[bytes]) -> None:
        """Append the id of each record (NDJSON bytes) the destination accepted."""
        if self.closed:
            msg = f"manifest '{self.path}': add after close"
            raise ProducerError(msg)
        texts: list[bytes] = []
        for record in records:
            text = event_id_text(record)
            if text is None:
                self.unidentified += 1
            else:
                texts.append(text)
        if texts:
            self._write(event_id_words(texts).astype(">u8").tobytes())
            self.written += len(texts)

    def close(self) -> None:
        """Flush, sync and rename the manifest into place. Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self._discard()
            msg = f"cannot write manifest '{self.path}': {exc.strerror or exc}"
            raise ProducerError(msg) from exc

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            self.closed = True
            self._discard()
            msg = f"cannot write manifest '{self.path}': {exc.strerror or exc}"
            raise ProducerError(msg) from exc

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        self._tmp.unlink(missing_ok=True)


def read_manifest(
    path: str | os.PathLike[str], *, chunk_ids: int | None = None
) -> Iterator[npt.NDArray[np.uint64]]:
    """Yield the manifest's ids in order, as ``(n, 2)`` uint64 arrays of at most ``chunk_ids`` rows.

    Each row is an id's 16 bytes as two big-endian words (hi, lo). A file that is not
    a manifest raises :class:`~producer.errors.ConfigError`, before anything is yielded.
    ``chunk_ids`` defaults to :data:`CHUNK_IDS` (a million ids, 16 MiB).
    """
    path = Path(path)
    chunk = CHUNK_IDS if chunk_ids is None else chunk_ids
    try:
        file = path.open("rb")
    except OSError as exc:
        msg = f"--manifest '{path}': {exc.strerror or exc}"
        raise ConfigError(msg) from exc
    with file:
        try:
            header = file.readline(_MAX_HEADER_BYTES)
            body = os.fstat(file.fileno()).st_size - len(header)
        except OSError as exc:
            msg = f"--manifest '{path}': {exc.strerror or exc}"
            raise ConfigError(msg) from exc
        _check_header(path, header)
        if body % _ID_BYTES:
            raise _not_a_manifest(path)
        while True:
            try:
                data = file.read(chunk * _ID_BYTES)
            except OSError as exc:
                msg = f"--manifest '{path}': {exc.strerror or exc}"
                raise ConfigError(msg) from exc
            if not data:
                return
            if len(data) % _ID_BYTES:  # the file shrank while read
                raise _not_a_manifest(path)
            yield np.frombuffer(data, dtype=">u8").reshape(-1, 2).astype(np.uint64)


def _header_with(**meta: str) -> bytes:
    data = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, **meta}
    return json.dumps(data, separators=(",", ":")).encode("ascii") + b"\n"


def _check_header(path: Path, header: bytes) -> None:
    if not header.endswith(b"\n"):
        raise _not_a_manifest(path)
    try:
        meta = json.loads(header)
    except ValueError:
        raise _not_a_manifest(path) from None
    if not isinstance(meta, dict) or meta.get("format") != MANIFEST_FORMAT:
        raise _not_a_manifest(path)
    if meta.get("version") != MANIFEST_VERSION:
        msg = f"--manifest '{path}': manifest version {meta.get('version')!r} is not supported (expected 1)"
        raise ConfigError(msg)


def _not_a_manifest(path: Path) -> ConfigError:
    return ConfigError(f"--manifest '{path}': not a netflix-producer manifest")

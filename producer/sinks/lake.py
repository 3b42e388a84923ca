"""The local lake: what Kinesis Data Firehose would have written to S3, under a directory.

The directory plays the bucket. Objects follow Firehose's S3 delivery exactly:

- records are buffered and concatenated with no delimiter (each already ends in a
  newline) into one object per flush; a flush happens when the buffer reaches the
  size hint, when the interval hint has passed since its oldest record arrived,
  and at close;
- the key is ``<evaluated prefix><stream>-1-YYYY-MM-dd-HH-mm-ss-<uuid>[.gz]``, where
  the prefix's ``!{timestamp:...}`` expressions and the name's time both come from
  the arrival time of the object's oldest record, in UTC; a prefix without a
  timestamp expression gets ``YYYY/MM/dd/HH/`` appended, as Firehose does;
- GZIP compresses the whole object.

With a world (as a run gives it), the sink also writes the world's dimension tables
and identity under ``dims/`` beside the raw zone, once per world, and refuses a lake
that holds another world's (:mod:`producer.sinks.dims`).

Objects appear atomically (written to ``.<name>.tmp`` beside the final name, then
renamed), so anything listing the lake while it is written never reads a partial
object, provided it skips dot-files as Spark and Hadoop readers do.
"""

from __future__ import annotations

import contextlib
import errno
import gzip as gzip_format
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from producer.errors import ConfigError, SinkError
from producer.sinks.base import BatchResult, EpochClock
from producer.sinks.dims import WORLD_KEY, check_world, dims_objects

if TYPE_CHECKING:
    from producer.generation.world import WorldConfig

__all__ = [
    "DEFAULT_BUFFER_BYTES",
    "DEFAULT_BUFFER_INTERVAL_S",
    "DEFAULT_PREFIX",
    "DEFAULT_STREAM",
    "LakeSink",
    "MAX_PREFIX_LENGTH",
    "RANDOM_STRING_LENGTH",
    "STREAM_VERSION",
    "evaluate_prefix",
    "object_key",
]

logger = logging.getLogger(__name__)

DEFAULT_STREAM = "netflix-events"
DEFAULT_PREFIX = "netflix/ingest_year=!{timestamp:yyyy}/!{timestamp:MM/dd/HH}/"
#: Firehose's default S3 buffering hints: 5 MiB or 300 seconds, whichever comes first.
DEFAULT_BUFFER_BYTES = 5 * 1024 * 1024
DEFAULT_BUFFER_INTERVAL_S = 300.0
#: The ``<version>`` in object names: 1 until the stream's destination is updated.
STREAM_VERSION = 1
#: ``!{firehose:random-string}`` evaluates to this many characters.
RANDOM_STRING_LENGTH = 11
#: Longest ``Prefix`` the Firehose API accepts.
MAX_PREFIX_LENGTH = 1024

#: What Firehose appends to a prefix that has no ``!{timestamp:...}`` expression.
_DEFAULT_TIME_FORMAT = "yyyy/MM/dd/HH/"
#: Delivery stream names, as the Firehose API constrains them.
_STREAM_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,64}")
#: zlib level 6 (zlib's default): nearly level 9's ratio on NDJSON at a fraction of the CPU.
_GZIP_LEVEL = 6

#: One piece of an evaluated prefix, from the object's time and a random-string source.
_Part = Callable[[datetime, Callable[[], str]], str]


def evaluate_prefix(prefix: str, ts: float, *, random_string: Callable[[], str] | None = None) -> str:
    """Evaluate a Firehose S3 prefix for an object whose oldest record arrived at ``ts``.

    Supports ``!{timestamp:FMT}`` (Java ``DateTimeFormatter`` patterns with the
    letters ``y u M d H m s``, quoted text and literal punctuation, evaluated in
    UTC) and ``!{firehose:random-string}``. A prefix with no timestamp expression
    gets ``yyyy/MM/dd/HH/`` appended, as Firehose does. Raises
    :class:`~producer.errors.ConfigError` for anything Firehose would reject or the
    lake cannot emulate.
    """
    return _Prefix.compile(prefix).render(_utc(ts), random_string or _random_string)


def object_key(
    prefix: str,
    *,
    stream: str,
    ts: float,
    uuid: str,
    gzip: bool = False,
    random_string: Callable[[], str] | None = None,
) -> str:
    """The S3 key Firehose gives an object whose oldest record arrived at ``ts``.

    ``<evaluated prefix><stream>-1-YYYY-MM-dd-HH-mm-ss-<uuid>``, plus ``.gz`` with GZIP.
    """
    compiled = _Prefix.compile(prefix)
    return _object_key(compiled, stream, _utc(ts), uuid, gzip, random_string or _random_string)


class LakeSink:
    """Writes records as Firehose would deliver them to S3, under ``root``.

    ``send_batch`` takes records into the buffer (as Firehose accepts them into its
    own) and returns them all as delivered; objects are written when the buffer
    reaches ``buffer_bytes`` (uncompressed), when ``buffer_interval_s`` has passed
    since its oldest record arrived (checked on each ``send_batch``, on ``clock``),
    and at :meth:`aclose`.

    Failing to write an object (unwritable directory, full disk) raises
    :class:`~producer.errors.SinkError` with one line naming the object and the
    reason; its ``lost`` attribute counts the records of the failed buffer plus
    those of the current call that were not taken in. No temporary file is left.

    The settings are checked here, not at the first write: an invalid prefix or
    stream name raises :class:`~producer.errors.ConfigError`, and a ``root`` that
    cannot be created or written raises :class:`~producer.errors.SinkError`.

    With ``world``, the world's dimension tables are written under ``dims/`` here too
    (unless the lake already has them), and a lake holding another world's raises
    :class:`~producer.errors.ConfigError` naming the lake and both worlds.
    """

    name = "lake"

    def __init__(
        self,
        *,
        root: str | os.PathLike[str] = Path("lake"),
        stream: str = DEFAULT_STREAM,
        prefix: str = DEFAULT_PREFIX,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        buffer_interval_s: float = DEFAULT_BUFFER_INTERVAL_S,
        gzip: bool = False,
        clock: EpochClock | None = None,
        uuid_factory: Callable[[], str] | None = None,
        random_string: Callable[[], str] | None = None,
        world: WorldConfig | None = None,
    ) -> None:
        if not _STREAM_NAME.fullmatch(stream):
            msg = f"invalid stream name {stream!r}: 1 to 64 letters, digits, '_', '.' or '-'"
            raise ConfigError(msg)
        if buffer_bytes < 1:
            msg = f"invalid lake buffer size {buffer_bytes!r}: must be at least 1 byte"
            raise ConfigError(msg)
        if not buffer_interval_s >= 0:
            msg = f"invalid lake buffer interval {buffer_interval_s!r}: must be 0 s or more"
            raise ConfigError(msg)
        self.root = Path(root)
        self.stream = stream
        self.prefix = prefix
        self.buffer_bytes = buffer_bytes
        self.buffer_interval_s = buffer_interval_s
        self.gzip = gzip
        #: The world whose dimension tables go under ``dims/`` (None: no dimension tables).
        self.world = world
        #: The dimension tables are in place (written, or found to be this world's).
        self.dims_ready = world is None
        self._clock: EpochClock = clock or time.time
        self._uuid: Callable[[], str] = uuid_factory or _uuid4
        self._random_string: Callable[[], str] = random_string or _random_string
        self._prefix = _Prefix.compile(prefix)
        # Sample key for the check: fixed values, so injected clocks and factories are
        # not consumed before the first object.
        sample = _object_key(self._prefix, stream, _utc(0.0), "uuid", gzip, lambda: "random")
        _check_key_is_local(prefix, sample)
        self._check_destination()

        #: Objects written so far, their stored size (after GZIP) and keys, in order.
        self.objects_written = 0
        self.bytes_written = 0
        self.records_written = 0
        self.keys: list[str] = []
        self.closed = False
        self._buffer: list[bytes] = []
        self._buffered_bytes = 0
        self._first_arrival = 0.0

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        """Take the batch into the buffer, writing objects as the hints say."""
        if self.closed:
            msg = "lake: send_batch after the sink was closed"
            raise SinkError(msg, lost=len(records))
        now = self._clock()
        # The buffer's interval ran out before this batch arrived: Firehose would
        # already have delivered it, so these records start the next object.
        if self._buffer and self._interval_due(now):
            await self._flush(unaccepted=len(records))
        if not self._buffer:
            self._first_arrival = now
        size = sum(map(len, records))
        if self._buffered_bytes + size < self.buffer_bytes:
            self._buffer.extend(records)
            self._buffered_bytes += size
        else:
            # A batch may straddle objects: cut as soon as the size hint is reached.
            for taken, record in enumerate(records, start=1):
                if not self._buffer:
                    self._first_arrival = now
                self._buffer.append(record)
                self._buffered_bytes += len(record)
                if self._buffered_bytes >= self.buffer_bytes:
                    await self._flush(unaccepted=len(records) - taken)
        if self._buffer and self._interval_due(now):  # a 0 s interval: no buffering
            await self._flush(unaccepted=0)
        return self._result(len(records))

    def _result(self, delivered: int) -> BatchResult:
        """What a batch cost: nothing but the buffer here (the S3 sink counts its calls)."""
        return BatchResult(delivered=delivered)

    async def aclose(self) -> None:
        """Write whatever is buffered as a last object."""
        if self.closed:
            return
        self.closed = True
        if self._buffer:
            await self._flush(unaccepted=0)

    def _interval_due(self, now: float) -> bool:
        return now - self._first_arrival >= self.buffer_interval_s

    def _key(self, ts: float) -> str:
        return _object_key(self._prefix, self.stream, _utc(ts), self._uuid(), self.gzip, self._random_string)

    def _check_destination(self) -> None:
        _check_writable(self.root)
        world_file = self.root / WORLD_KEY
        try:
            existing = world_file.read_bytes() if world_file.is_file() else None
        except OSError as exc:
            msg = f"cannot read '{world_file}': {exc.strerror or exc}"
            raise SinkError(msg) from exc
        for key, body in self._dims_to_write(existing):
            path = self.root / key
            try:
                _write_object(path, body)
            except OSError as exc:
                msg = f"cannot write lake object '{path}': {exc.strerror or exc}"
                raise SinkError(msg) from exc
        self.dims_ready = True

    def _where(self) -> str:
        """The destination, as error messages name it."""
        return f"lake '{self.root}'"

    def _dims_to_write(self, existing: bytes | None) -> list[tuple[str, bytes]]:
        """The dims objects to write, given the ``world.json`` already there (if any).

        None to write when there is no world or the destination has this world's;
        :class:`~producer.errors.ConfigError` when it has another world's.
        """
        if self.world is None:
            return []
        if existing is not None:
            check_world(existing, self.world, where=self._where())
            return []
        from producer.generation.world import World

        return dims_objects(World(self.world))

    async def _store(self, key: str, body: bytes, *, lost: int) -> None:
        """Write one object (the S3 sink puts it in a bucket instead)."""
        path = self.root / key
        try:
            _write_object(path, body)
        except OSError as exc:
            msg = f"cannot write lake object '{path}': {exc.strerror or exc}"
            raise SinkError(msg, lost=lost) from exc

    async def _flush(self, *, unaccepted: int) -> None:
        """Write the buffer as one object; ``unaccepted`` records of the call are lost too."""
        records, data = len(self._buffer), b"".join(self._buffer)
        key = self._key(self._first_arrival)
        self._buffer = []
        self._buffered_bytes = 0
        body = gzip_format.compress(data, compresslevel=_GZIP_LEVEL, mtime=0) if self.gzip else data
        await self._store(key, body, lost=records + unaccepted)
        self.objects_written += 1
        self.bytes_written += len(body)
        self.records_written += records
        self.keys.append(key)
        logger.debug("lake object %s: %d records, %d bytes", key, records, len(body))


@dataclass(frozen=True, slots=True)
class _Prefix:
    """A prefix parsed once into parts, so each object only renders it."""

    parts: tuple[_Part, ...]

    @classmethod
    def compile(cls, prefix: str) -> _Prefix:
        if len(prefix) > MAX_PREFIX_LENGTH:
            raise _prefix_error(prefix, f"longer than {MAX_PREFIX_LENGTH} characters")
        parts: list[_Part] = []
        has_timestamp = False
        pos = 0
        while (start := prefix.find("!{", pos)) >= 0:
            parts.append(_literal(prefix[pos:start]))
            end = prefix.find("}", start + 2)
            if end < 0:
                raise _prefix_error(prefix, f"'!{{' at position {start} is never closed")
            body = prefix[start + 2 : end]
            if "!{" in body:
                raise _prefix_error(prefix, "expressions can't be nested")
            namespace, colon, value = body.partition(":")
            if not colon or not value:
                expr = f"!{{{body}}}"
                raise _prefix_error(prefix, f"{expr!r} is not of the form !{{namespace:value}}")
            if namespace == "timestamp":
                parts.append(_timestamp(value, prefix))
                has_timestamp = True
            elif namespace == "firehose":
                parts.append(_firehose(value, prefix))
            elif namespace in ("partitionKeyFromQuery", "partitionKeyFromLambda"):
                reason = f"!{{{namespace}:...}} needs dynamic partitioning, which the lake does not emulate"
                raise _prefix_error(prefix, reason)
            else:
                reason = f"unknown namespace {namespace!r} (expected timestamp or firehose)"
                raise _prefix_error(prefix, reason)
            pos = end + 1
        parts.append(_literal(prefix[pos:]))
        if not has_timestamp:
            parts.append(_timestamp(_DEFAULT_TIME_FORMAT, prefix))
        return cls(tuple(part for part in parts if part is not _empty))

    def render(self, when: datetime, random_string: Callable[[], str]) -> str:
        return "".join(part(when, random_string) for part in self.parts)


def _empty(when: datetime, random_string: Callable[[], str]) -> str:
    return ""


def _literal(text: str) -> _Part:
    if not text:
        return _empty
    return lambda when, random_string: text


def _firehose(value: str, prefix: str) -> _Part:
    if value == "random-string":
        return lambda when, random_string: random_string()
    if value == "error-output-type":
        reason = "!{firehose:error-output-type} is only valid in an error output prefix"
        raise _prefix_error(prefix, reason)
    reason = f"unknown expression !{{firehose:{value}}} (expected random-string)"
    raise _prefix_error(prefix, reason)


#: Numeric fields of a Java DateTimeFormatter pattern: one letter unpadded, two zero-padded.
_NUMERIC_FIELDS: dict[str, Callable[[datetime], int]] = {
    "M": lambda when: when.month,
    "d": lambda when: when.day,
    "H": lambda when: when.hour,
    "m": lambda when: when.minute,
    "s": lambda when: when.second,
}
_LETTER_HINTS = {
    "Y": "week-based year; use yyyy",
    "D": "day of year; use dd for the day of month",
    "h": "clock hour of am/pm; use HH",
    "S": "fraction of second",
}


def _timestamp(pattern: str, prefix: str) -> _Part:
    """Compile a Java ``DateTimeFormatter`` pattern (the subset a prefix needs)."""
    fields: list[Callable[[datetime], str]] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "'":
            text, i = _quoted(pattern, i, prefix)
            fields.append(_constant(text))
        elif ("a" <= char <= "z") or ("A" <= char <= "Z"):
            j = i
            while j < n and pattern[j] == char:
                j += 1
            fields.append(_pattern_field(char, j - i, prefix))
            i = j
        elif char in "[]{}#":
            raise _prefix_error(prefix, f"{char!r} is reserved in timestamp patterns; quote it")
        else:
            fields.append(_constant(char))
            i += 1
    return lambda when, random_string: "".join(field(when) for field in fields)


def _constant(text: str) -> Callable[[datetime], str]:
    return lambda when: text


def _quoted(pattern: str, start: int, prefix: str) -> tuple[str, int]:
    """The text of a quoted literal at ``start`` (``''`` is one quote) and where it ends."""
    if pattern.startswith("''", start):
        return "'", start + 2
    text: list[str] = []
    i = start + 1
    while i < len(pattern):
        if pattern[i] == "'":
            if not pattern.startswith("''", i):
                return "".join(text), i + 1
            i += 1
        text.append(pattern[i])
        i += 1
    raise _prefix_error(prefix, f"unterminated quote in timestamp pattern {pattern!r}")


def _pattern_field(letter: str, count: int, prefix: str) -> Callable[[datetime], str]:
    if letter in "yu":
        if count == 2:
            return lambda when: f"{when.year % 100:02d}"
        return lambda when: str(when.year).zfill(count)
    if letter in _NUMERIC_FIELDS and not (letter == "M" and count >= 3):
        if count > 2:
            raise _prefix_error(prefix, f"too many pattern letters {letter * count!r}")
        get = _NUMERIC_FIELDS[letter]
        return lambda when: str(get(when)).zfill(count)
    hint = _LETTER_HINTS.get(letter, "not supported")
    if letter == "M":
        hint = "month names are not supported; use MM"
    reason = f"timestamp pattern letter {letter * count!r} ({hint}); supported: y u M d H m s"
    raise _prefix_error(prefix, reason)


def _prefix_error(prefix: str, reason: str) -> ConfigError:
    return ConfigError(f"invalid prefix {prefix!r}: {reason}")


def _object_key(
    prefix: _Prefix,
    stream: str,
    when: datetime,
    object_uuid: str,
    gzip: bool,
    random_string: Callable[[], str],
) -> str:
    stamp = (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}-{when.hour:02d}-{when.minute:02d}-{when.second:02d}"
    )
    suffix = ".gz" if gzip else ""
    name = f"{stream}-{STREAM_VERSION}-{stamp}-{object_uuid}{suffix}"
    return prefix.render(when, random_string) + name


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _uuid4() -> str:
    return str(uuid.uuid4())


def _random_string() -> str:
    return str(uuid.uuid4())[:RANDOM_STRING_LENGTH]


def _check_key_is_local(prefix: str, sample_key: str) -> None:
    """Reject keys S3 would take but a directory tree cannot hold faithfully."""
    segments = sample_key.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        reason = (
            f"the local lake can't store keys with a leading '/', '//', '.' or '..' (e.g. {sample_key!r})"
        )
        raise _prefix_error(prefix, reason)


def _check_writable(root: Path) -> None:
    """Create ``root`` and prove a file can be written in it, or fail in one line."""
    probe = root / f".probe-{_uuid4()}.tmp"
    try:
        if root.exists() and not root.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(root))
        root.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        probe.unlink()
    except OSError as exc:
        msg = f"lake directory '{root}' is not writable: {exc.strerror or exc}"
        raise SinkError(msg) from exc


def _write_object(path: Path, data: bytes) -> None:
    """Write ``path`` atomically: a dot-named temp file beside it, then a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise

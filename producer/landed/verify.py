"""Checking that what a run says it delivered actually landed.

:func:`verify` reads a manifest (see :mod:`producer.delivery.manifest`) and every record under a
destination (a local lake directory or an S3 bucket and prefix, read as
:mod:`producer.landed.objects` reads them) and counts, per event
id, what is missing, duplicated or unexpected, plus the delivery lag of what landed.

It works in bounded memory for any number of events: both sides' ids are partitioned
by a hash of the id into K bucket files in a temporary work directory, then each
bucket is compared on its own with NumPy (ids as pairs of uint64). Lag percentiles
come from a fixed-size reservoir sample (exact up to a million records).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from producer.delivery.manifest import event_id_text, event_id_words, id_text, read_manifest
from producer.errors import ConfigError, ProducerError
from producer.landed.objects import LakeSource, S3Source, StoredObject, UnreadableObjectError, record_lines

__all__ = ["LakeSource", "S3Source", "VerifyReport", "verify"]

logger = logging.getLogger(__name__)

#: Up to this many missing ids are given as examples.
MAX_MISSING_EXAMPLES = 10
#: Lag percentiles are exact up to this many records, sampled uniformly beyond.
LAG_SAMPLE_SIZE = 1 << 20

#: Found ids are written to the bucket files in runs of about this many.
_FLUSH_IDS = 1 << 20
#: Buckets hold about this many manifest ids at most (32 MiB): K grows with the manifest.
_BUCKET_IDS = 1 << 21
_MIN_BUCKET_BITS = 6  # K = 64
_MAX_BUCKET_BITS = 16
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: Firehose's object name: ``<stream>-<version>-YYYY-MM-dd-HH-mm-ss-<uuid>[.gz]``, in UTC.
_OBJECT_NAME = re.compile(rf"-(\d{{4}})-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-{_UUID}(?:\.gz)?$")

_Words = npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    """What a verification found. Counts are of events (records), ids are ``event_id``.

    - ``expected``: distinct ids in the manifest; ``found``: those present at least once;
      ``missing``: those not present at all.
    - ``duplicated``: extra copies of expected ids, beyond as many as the manifest
      lists (a run's own duplicate faults are listed twice, so they are not extra).
    - ``unexpected``: records whose id is not in the manifest.
    - ``malformed``: lines that are not a JSON object (their id still counts if it
      can be read); ``unidentified``: lines with no ``event_id`` at all.
    - ``unreadable_objects``: objects that could not be decompressed (their records
      read before the damage count).
    - ``lag_*_s``: object time (from the Firehose object name, else its modification
      time) minus ``event_ts``, in seconds, over ``lag_records`` records; None if none.
    - ``clock``: the run's clock, from the manifest (None when it does not say). In a
      simulated-clock run object names carry event time, not delivery time, so the
      lag says nothing about delivery: ``lag_applicable`` is False.
    """

    manifest: str
    source: str
    expected: int
    found: int
    missing: int
    duplicated: int
    unexpected: int
    malformed: int
    unidentified: int
    unreadable_objects: int
    objects: int
    records: int
    lag_records: int
    lag_p50_s: float | None
    lag_p95_s: float | None
    lag_p99_s: float | None
    lag_max_s: float | None
    missing_examples: tuple[str, ...] = ()
    clock: str | None = None

    @property
    def ok(self) -> bool:
        """Everything the manifest lists landed at least once."""
        return self.missing == 0

    @property
    def lag_applicable(self) -> bool:
        """Whether the lag measures delivery (False for a simulated-clock run)."""
        return self.clock != "simulated"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with ``ok``."""
        data = asdict(self)
        data["missing_examples"] = list(self.missing_examples)
        data["ok"] = self.ok
        data["lag_applicable"] = self.lag_applicable
        return data


def verify(manifest: Path, source: LakeSource | S3Source, *, work_dir: Path | None = None) -> VerifyReport:
    """Compare the manifest with every record under ``source``.

    ``work_dir`` holds the temporary bucket files (a fresh dot-named directory in it,
    removed at the end); by default the system temporary directory. Bad input
    (no manifest, no lake, no bucket, no credentials) raises
    :class:`~producer.errors.ConfigError`, other failures
    :class:`~producer.errors.ProducerError`, each with one line.
    """
    manifest = Path(manifest)
    objects = source.objects(skip=manifest)
    try:
        size = manifest.stat().st_size
    except OSError as exc:
        msg = f"--manifest '{manifest}': {exc.strerror or exc}"
        raise ConfigError(msg) from exc
    bits = _bucket_bits(size // 16)
    with _work_directory(work_dir) as work:
        expected = _Partition(work, "expected", bits)
        for chunk in read_manifest(manifest):
            expected.add(chunk)
        expected.flush()
        scan = _Scan(_Partition(work, "found", bits))
        for stored in objects:
            scan.read(stored)
        scan.found.flush()
        tally = _Tally()
        for bucket in range(1 << bits):
            tally.compare(expected.load(bucket), scan.found.load(bucket))
    lag = scan.lag
    p50, p95, p99 = lag.percentiles((50.0, 95.0, 99.0))
    report = VerifyReport(
        manifest=str(manifest),
        source=source.describe(),
        expected=tally.expected,
        found=tally.found,
        missing=tally.expected - tally.found,
        duplicated=tally.duplicated,
        unexpected=tally.unexpected,
        malformed=scan.malformed,
        unidentified=scan.unidentified,
        unreadable_objects=scan.unreadable,
        objects=scan.objects,
        records=scan.records,
        lag_records=lag.seen,
        lag_p50_s=p50,
        lag_p95_s=p95,
        lag_p99_s=p99,
        lag_max_s=lag.max,
        missing_examples=tuple(tally.examples),
        clock=_manifest_clock(manifest),
    )
    logger.info(
        "verify %s against %s: %d expected, %d missing",
        manifest,
        report.source,
        report.expected,
        report.missing,
    )
    return report


def _bucket_bits(ids: int) -> int:
    bits = _MIN_BUCKET_BITS
    while (ids >> bits) > _BUCKET_IDS and bits < _MAX_BUCKET_BITS:
        bits += 1
    return bits


@contextlib.contextmanager
def _work_directory(parent: Path | None) -> Iterator[Path]:
    try:
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=".netflix-producer-verify-", dir=parent))
    except OSError as exc:
        msg = f"verify work directory '{parent or tempfile.gettempdir()}': {exc.strerror or exc}"
        raise ConfigError(msg) from exc
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class _Partition:
    """Ids split by a hash into 2**bits append-only bucket files, so one bucket fits in memory.

    The hash mixes both words, so time-ordered ids (UUIDv1/v7) spread as evenly as random ones.
    """

    def __init__(self, directory: Path, name: str, bits: int) -> None:
        self.directory = directory
        self.name = name
        self.bits = bits
        self._pending: list[_Words] = []
        self._pending_ids = 0

    def add(self, words: _Words) -> None:
        self._pending.append(words)
        self._pending_ids += len(words)
        if self._pending_ids >= _FLUSH_IDS:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        words = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending = []
        self._pending_ids = 0
        buckets = self._bucket_of(words)
        order = np.argsort(buckets, kind="stable")
        ordered = words[order]
        ends = np.cumsum(np.bincount(buckets, minlength=1 << self.bits)).tolist()
        start = 0
        try:
            for bucket, end in enumerate(ends):
                if end > start:
                    with self._path(bucket).open("ab") as file:
                        ordered[start:end].tofile(file)
                start = end
        except OSError as exc:
            msg = f"verify work directory '{self.directory}': {exc.strerror or exc}"
            raise ProducerError(msg) from exc

    def load(self, bucket: int) -> _Words:
        path = self._path(bucket)
        if not path.exists():
            return np.empty((0, 2), dtype=np.uint64)
        return np.fromfile(path, dtype=np.uint64).reshape(-1, 2)

    def _bucket_of(self, words: _Words) -> npt.NDArray[np.intp]:
        mixed = (words[:, 0] ^ words[:, 1]) * _GOLDEN  # wraps modulo 2**64, as intended
        return (mixed >> np.uint64(64 - self.bits)).astype(np.intp)

    def _path(self, bucket: int) -> Path:
        return self.directory / f"{self.name}-{bucket:05d}.u64"


def _unique_counts(words: _Words) -> tuple[_Words, npt.NDArray[np.int64]]:
    """Distinct ids sorted by (hi, lo), and how often each occurs."""
    n = len(words)
    if n == 0:
        return words, np.zeros(0, dtype=np.int64)
    ordered = words[np.lexsort((words[:, 1], words[:, 0]))]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:, 0], ordered[:-1, 0], out=new[1:])
    new[1:] |= ordered[1:, 1] != ordered[:-1, 1]
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, n)).astype(np.int64)
    return ordered[starts], counts


def _matches(left: _Words, right: _Words) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Indices (i, j) with ``left[i] == right[j]``; both sides hold distinct ids."""
    both = np.concatenate([left, right])
    side = np.concatenate([np.zeros(len(left), dtype=np.int8), np.ones(len(right), dtype=np.int8)])
    order = np.lexsort((side, both[:, 1], both[:, 0]))
    ordered = both[order]
    # An id on both sides sorts as (left, right) neighbours; distinct ids never repeat on one side.
    same = (ordered[1:, 0] == ordered[:-1, 0]) & (ordered[1:, 1] == ordered[:-1, 1])
    at = np.flatnonzero(same)
    return order[at], order[at + 1] - len(left)


@dataclass(slots=True)
class _Tally:
    expected: int = 0
    found: int = 0
    duplicated: int = 0
    unexpected: int = 0
    examples: list[str] = field(default_factory=list)

    def compare(self, manifest_ids: _Words, landed_ids: _Words) -> None:
        """Add one bucket's counts."""
        expected, listed = _unique_counts(manifest_ids)
        landed, copies = _unique_counts(landed_ids)
        i, j = _matches(expected, landed)
        self.expected += len(expected)
        self.found += len(i)
        extra = copies[j] - listed[i]
        self.duplicated += int(extra[extra > 0].sum())
        self.unexpected += int(copies.sum() - copies[j].sum())
        room = MAX_MISSING_EXAMPLES - len(self.examples)
        if room > 0 and len(i) < len(expected):
            present = np.zeros(len(expected), dtype=bool)
            present[i] = True
            for hi, lo in expected[~present][:room].tolist():
                self.examples.append(id_text(hi, lo))


class _LagSample:
    """Uniform reservoir sample of lags (algorithm R, vectorised), plus the exact maximum."""

    def __init__(self, size: int | None = None, seed: int = 0) -> None:
        self.size = LAG_SAMPLE_SIZE if size is None else size
        self.seen = 0
        self.max: float | None = None
        self._values = np.empty(0, dtype=np.float64)  # allocated when the first lag comes
        self._rng = np.random.default_rng(seed)

    def add(self, lags: npt.NDArray[np.float64]) -> None:
        if not len(lags):
            return
        if not len(self._values):
            self._values = np.empty(self.size, dtype=np.float64)
        top = float(lags.max())
        self.max = top if self.max is None else max(self.max, top)
        fill = min(len(lags), max(self.size - self.seen, 0))
        self._values[self.seen : self.seen + fill] = lags[:fill]
        rest = lags[fill:]
        if len(rest):
            # The k-th value seen (0-based) replaces a random slot with probability size/(k+1).
            positions = np.arange(self.seen + fill, self.seen + len(lags), dtype=np.int64)
            slots = self._rng.integers(0, positions + 1)
            keep = slots < self.size
            self._values[slots[keep]] = rest[keep]
        self.seen += len(lags)

    def percentiles(self, qs: tuple[float, ...]) -> tuple[float | None, ...]:
        if not self.seen:
            return tuple(None for _ in qs)
        sample = self._values[: min(self.seen, self.size)]
        return tuple(float(v) for v in np.percentile(sample, qs))


def _manifest_clock(manifest: Path) -> str | None:
    """The run's clock as the manifest's header gives it (read_manifest checked the header)."""
    try:
        with manifest.open("rb") as file:
            meta = json.loads(file.readline(4096))
    except (OSError, ValueError):
        return None
    clock = meta.get("clock") if isinstance(meta, dict) else None
    return clock if isinstance(clock, str) else None


class _Scan:
    """Reads a destination's records: ids into the found partition, counts and lags."""

    def __init__(self, found: _Partition) -> None:
        self.found = found
        self.lag = _LagSample()
        self.objects = 0
        self.records = 0
        self.malformed = 0
        self.unidentified = 0
        self.unreadable = 0

    def read(self, stored: StoredObject) -> None:
        self.objects += 1
        when = _object_time(stored.key, stored.modified)
        try:
            for lines in record_lines(stored):
                self._lines(lines, when)
        except UnreadableObjectError as exc:
            self.unreadable += 1
            logger.warning("%s", exc)

    def _lines(self, lines: list[bytes], when: float) -> None:
        texts: list[bytes] = []
        stamps: list[float] = []
        records = malformed = unidentified = 0
        for line, event in zip(lines, _parsed(lines), strict=True):
            records += 1
            if event is None:
                malformed += 1
            text = event_id_text(line)
            if text is None:
                unidentified += 1
                continue
            texts.append(text)
            if event is not None:
                ts = event.get("event_ts")
                if type(ts) is not float:
                    ts = _epoch_seconds(ts)
                if ts is not None:
                    stamps.append(ts)
        self.records += records
        self.malformed += malformed
        self.unidentified += unidentified
        if texts:
            self.found.add(event_id_words(texts))
        if stamps:
            self.lag.add(when - np.asarray(stamps, dtype=np.float64))


_decoder = json.JSONDecoder()


def _parsed(lines: list[bytes]) -> Iterator[dict[str, Any] | None]:
    """Each line as a JSON object, or None when it is not one (not JSON, or not an object).

    The same verdicts as ``json.loads`` per line, faster: the chunk is decoded from
    UTF-8 once and the common case (no leading whitespace) skips ``loads``' wrapper.
    """
    try:
        texts = b"\n".join(lines).decode("utf-8").split("\n")
    except UnicodeDecodeError:
        for line in lines:  # some line is not UTF-8: let json judge each one
            yield _parse(line)
        return
    raw_decode = _decoder.raw_decode
    for text in texts:
        try:
            event, end = raw_decode(text)
            if end != len(text) and text[end:].strip(" \t\r"):  # JSON's own whitespace only
                event = None
        except ValueError:
            yield _parse(text)  # e.g. leading whitespace, which raw_decode refuses
            continue
        except RecursionError:
            event = None
        yield event if type(event) is dict else None


def _parse(line: bytes | str) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def _object_time(key: str, modified: float) -> float:
    """When an object was delivered: the time in its Firehose name (UTC), else ``modified``."""
    match = _OBJECT_NAME.search(key.rpartition("/")[2])
    if match:
        try:
            year, month, day, hour, minute, second = map(int, match.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
        except ValueError:  # e.g. month 13: not a Firehose name after all
            pass
    return modified


def _epoch_seconds(value: object) -> float | None:
    """``event_ts`` as epoch seconds: a number, or an ISO 8601 string (naive = UTC)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        ts = float(value)
        return ts if math.isfinite(ts) else None
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    return None

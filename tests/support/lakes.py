"""Small lakes built by hand: records, object keys and the files around them."""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

from producer.delivery.manifest import ManifestWriter
from producer.sinks.lake import DEFAULT_PREFIX, DEFAULT_STREAM, object_key

T0 = 1_790_000_000.0


def record(i: int) -> bytes:
    event = {"event_id": str(uuid.UUID(int=0xFACE << 100 | i)), "event_type": "PAUSE", "event_ts": T0 + i}
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def key(n: int, *, gz: bool = False) -> str:
    return object_key(DEFAULT_PREFIX, stream=DEFAULT_STREAM, ts=T0, uuid=str(uuid.UUID(int=n)), gzip=gz)


def write(root: Path, name: str, data: bytes) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def build_lake(tmp_path: Path) -> tuple[Path, Path]:
    """6 records in 3 data objects, among the files a local pipeline and Spark leave around them.

    The two readers used to disagree on this lake: ``lake summary`` read the GZIP object
    without a ``.gz`` name as garbage lines and failed on the plain object named ``.gz``;
    ``verify`` counted ``_SUCCESS``, the ``.crc`` and Spark's ``_temporary`` output as objects,
    and failed on an object whose last line has no newline.
    """
    records = [record(i) for i in range(6)]
    root = tmp_path / "lake"
    write(root, key(1), b"".join(records[:2]))
    write(root, key(2), gzip.compress(b"".join(records[2:5])))  # GZIP, no .gz in the name
    write(root, key(3, gz=True), records[5].rstrip(b"\n"))  # named .gz, plain, no final newline
    write(root, "processed/_SUCCESS", b"")
    write(root, "processed/event_date=2026-09-21/part-00000.snappy.parquet", b"PAR1\x00\x15\x04PAR1")
    write(root, "processed/event_date=2026-09-21/part-00000.snappy.parquet.crc", b"crc\x00\x8b\xff")
    write(root, "processed/_temporary/0/task/part-00001", record(99))
    write(root, "dq-reports/report.json", b'{"passed": true}\n')
    write(root, "netflix/.stream-in-progress", record(98))
    manifest = tmp_path / "run.manifest"
    with ManifestWriter(manifest) as writer:
        writer.add(records)
    return root, manifest

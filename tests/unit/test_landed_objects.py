"""`lake summary` and `verify` read a lake the same way: the same objects, the same records."""

from __future__ import annotations

import gzip
import json
import re
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from producer.cli.commands import cli
from producer.delivery.manifest import ManifestWriter
from producer.landed.inventory import scan_lake
from producer.landed.objects import is_data_object
from producer.landed.verify import LakeSource, verify
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


@pytest.fixture
def lake(tmp_path: Path) -> tuple[Path, Path]:
    """The lake of :func:`build_lake`, and its manifest."""
    return build_lake(tmp_path)


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


def test_lake_summary_and_verify_count_the_same_objects_and_records(lake: tuple[Path, Path]) -> None:
    root, manifest = lake
    inventory = scan_lake(root)
    report = verify(manifest, LakeSource(root=root))
    assert (inventory.objects, inventory.records, inventory.malformed, inventory.unreadable) == (3, 6, 0, 0)
    assert (report.objects, report.records, report.malformed, report.unreadable_objects) == (3, 6, 0, 0)
    assert report.ok and report.unexpected == 0
    assert sum(inventory.event_types.values()) == 6
    assert inventory.first_ts == T0 and inventory.last_ts == T0 + 5


def test_lake_summary_on_the_command_line(lake: tuple[Path, Path]) -> None:
    root, _ = lake
    result = CliRunner().invoke(
        cli, ["lake", "summary", "--lake-dir", str(root)], env={}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"objects\s*\S?\s*3 ", result.output), result.output
    assert re.search(r"records\s*\S?\s*6\b", result.output), result.output
    assert re.search(r"malformed lines\s*\S?\s*0\b", result.output), result.output


def test_a_damaged_gzip_object_is_unreadable_for_both(lake: tuple[Path, Path]) -> None:
    root, manifest = lake
    whole = gzip.compress(b"".join(record(i) for i in range(100, 200)))
    write(root, key(4), whole[: len(whole) // 2])
    inventory = scan_lake(root)
    report = verify(manifest, LakeSource(root=root))
    assert (inventory.objects, inventory.unreadable) == (report.objects, report.unreadable_objects) == (4, 1)
    assert inventory.records == report.records
    assert inventory.malformed == report.malformed == 0


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("netflix/2026/09/21/14/netflix-events-1-2026-09-21-14-13-20-0f0e", True),
        ("netflix/2026/09/21/14/netflix-events-1-2026-09-21-14-13-20-0f0e.gz", True),
        ("netflix/ingest_year=2026/x", True),
        ("_SUCCESS", False),
        ("processed/_temporary/0/part-1", False),
        ("netflix/.in-progress", False),
        (".hidden/part", False),
        ("summary.json", False),
        ("processed/part-0.snappy.parquet", False),
        ("processed/part-0.parquet.crc", False),
        ("netflix/", False),
        ("", False),
    ],
)
def test_the_one_rule_of_what_is_data(name: str, data: bool) -> None:
    assert is_data_object(name) is data

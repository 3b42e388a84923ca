"""`lake summary` and `verify` read a lake the same way: the same objects, the same records."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from producer.cli.commands import cli
from producer.landed.inventory import scan_lake
from producer.landed.objects import is_data_object
from producer.landed.verify import LakeSource, verify
from tests.support.lakes import T0, build_lake, key, record, write


@pytest.fixture
def lake(tmp_path: Path) -> tuple[Path, Path]:
    """The lake of :func:`build_lake`, and its manifest."""
    return build_lake(tmp_path)


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

"""Reading back what landed in a local lake: objects, records, event types, time range."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from producer.errors import ConfigError

__all__ = ["LakeInventory", "scan_lake"]


@dataclass(slots=True, kw_only=True)
class LakeInventory:
    """What a lake directory holds."""

    root: Path
    objects: int = 0
    bytes: int = 0
    records: int = 0
    malformed: int = 0
    event_types: Counter[str] = field(default_factory=Counter)
    first_ts: float | None = None
    last_ts: float | None = None
    prefixes: Counter[str] = field(default_factory=Counter)
    sample: list[str] = field(default_factory=list)


def _objects(root: Path) -> list[Path]:
    # Dot-files are in-progress temporaries and never part of the lake.
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        # The local pipeline writes Parquet, reports and Spark markers beside the raw zone.
        and p.suffix not in (".json", ".parquet", ".crc")
        and p.name != "_SUCCESS"
    )


def scan_lake(root: Path, *, sample: int = 3) -> LakeInventory:
    """Read every object under ``root`` (plain or GZIP NDJSON)."""
    if not root.is_dir():
        msg = f"--lake-dir '{root}' does not exist or is not a directory"
        raise ConfigError(msg)
    inv = LakeInventory(root=root)
    for path in _objects(root):
        data = path.read_bytes()
        inv.objects += 1
        inv.bytes += len(data)
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        inv.prefixes[str(path.parent.relative_to(root))] += 1
        for line in data.splitlines():
            inv.records += 1
            try:
                event = json.loads(line)
            except ValueError:
                inv.malformed += 1
                continue
            if len(inv.sample) < sample:
                inv.sample.append(line.decode("utf-8", errors="replace"))
            if not isinstance(event, dict):
                inv.malformed += 1
                continue
            inv.event_types[str(event.get("event_type"))] += 1
            ts = event.get("event_ts")
            if isinstance(ts, int | float):
                inv.first_ts = ts if inv.first_ts is None else min(inv.first_ts, ts)
                inv.last_ts = ts if inv.last_ts is None else max(inv.last_ts, ts)
    return inv

"""Reading back what landed: objects, records, event types, time range.

The objects and their lines are read by :mod:`producer.landed.objects`, as
``verify`` reads them, so both commands count the same objects and records.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from producer.landed.objects import LakeSource, UnreadableObjectError, record_lines

__all__ = ["LakeInventory", "scan_lake"]

logger = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class LakeInventory:
    """What a lake directory holds."""

    root: Path
    objects: int = 0
    bytes: int = 0
    records: int = 0
    malformed: int = 0
    #: Objects whose GZIP body is damaged (their lines before the damage are counted).
    unreadable: int = 0
    event_types: Counter[str] = field(default_factory=Counter)
    first_ts: float | None = None
    last_ts: float | None = None
    prefixes: Counter[str] = field(default_factory=Counter)
    sample: list[str] = field(default_factory=list)


def scan_lake(root: Path, *, sample: int = 3) -> LakeInventory:
    """Read every data object under the lake directory ``root`` (plain or GZIP NDJSON)."""
    inv = LakeInventory(root=root)
    for stored in LakeSource(root=root).objects():
        inv.objects += 1
        inv.bytes += stored.size
        inv.prefixes[posixpath.dirname(stored.key) or "."] += 1
        try:
            for lines in record_lines(stored):
                _count(inv, lines, sample)
        except UnreadableObjectError as exc:
            inv.unreadable += 1
            logger.warning("%s", exc)
    return inv


def _count(inv: LakeInventory, lines: list[bytes], sample: int) -> None:
    for line in lines:
        inv.records += 1
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
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

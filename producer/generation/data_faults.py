"""Data faults: the bad records real pipelines meet, injected on purpose and counted.

Each fault has a ``rate`` (the share of events it hits) and an optional window on
``event_ts``. Faults are applied to whole generator rounds, with one random stream
per fault, so the same seed gives the same faulty records however the run is paced
or batched. Extra records (duplicates) and held-back records (out of order) travel
with the original event they follow.

- ``duplicates``: the same record (same ``event_id``) sent again, at once or
  ``delay`` later;
- ``late``: an event sent now whose ``event_ts`` is minutes to days earlier (log-
  uniform between ``min_delay`` and ``max_delay``), as if it had waited on a device;
- ``out_of_order``: an event held back and sent after its session's next event (one
  whose session has no next event within an hour, or within the run, is sent then,
  in order, and not counted);
- ``null_event_ts`` / ``missing_event_ts``: ``"event_ts":null`` / no ``event_ts``;
- ``malformed``: a line that is not valid JSON (truncated, a brace or a quote lost);
- ``schema_drift``: from ``start`` (or for a share of events): fields renamed (e.g.
  ``title_id`` -> ``content_id``), ``event_ts`` as an ISO-8601 string, fields added
  or dropped;
- ``oversize``: a record padded over Firehose's 1,000 KiB limit (dead-lettered by
  the producer, as a real client's would be rejected).
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "FAULT_NAMES",
    "DataFaultInjector",
    "DataFaults",
    "Fault",
    "SchemaDrift",
]

FAULT_NAMES: tuple[str, ...] = (
    "duplicates", "late", "out_of_order", "null_event_ts", "missing_event_ts",
    "malformed", "schema_drift", "oversize",
)  # fmt: skip

_TS = re.compile(rb'"event_ts":(-?[0-9.eE+-]+|null|"[^"]*")')
_SESSION = re.compile(rb'"session_id":"([^"]*)"')


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """A fault's rate and optional window on ``event_ts`` (epoch seconds, end exclusive)."""

    rate: float
    start: float | None = None
    end: float | None = None
    #: duplicates: seconds before the copy is sent; late: shortest delay.
    delay_s: float = 0.0
    #: late: longest delay.
    max_delay_s: float = 0.0
    #: oversize: size of the padded record in bytes.
    size_bytes: int = 1_100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaDrift:
    """What drifts, for events at or after ``start`` (or all), a ``rate`` share of them."""

    rate: float = 1.0
    start: float | None = None
    end: float | None = None
    rename: Mapping[str, str] = field(default_factory=dict)
    event_ts_as_iso: bool = False
    add_fields: Mapping[str, Any] = field(default_factory=dict)
    drop_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DataFaults:
    """Every data fault of a run; ``None`` means off."""

    duplicates: Fault | None = None
    late: Fault | None = None
    out_of_order: Fault | None = None
    null_event_ts: Fault | None = None
    missing_event_ts: Fault | None = None
    malformed: Fault | None = None
    schema_drift: SchemaDrift | None = None
    oversize: Fault | None = None

    @property
    def active(self) -> bool:
        return any(getattr(self, name) is not None for name in FAULT_NAMES)


class DataFaultInjector:
    """Applies :class:`DataFaults` to rounds of records; counts each fault injected."""

    #: Out-of-order records wait at most this long (schedule seconds) for their
    #: session's next event, then go out anyway.
    HOLD_LIMIT_S = 3600.0

    def __init__(self, faults: DataFaults, seed: int) -> None:
        self.faults = faults
        root = np.random.SeedSequence([seed, 0xFA17])
        self._rng = {
            name: np.random.default_rng(s)
            for name, s in zip(FAULT_NAMES, root.spawn(len(FAULT_NAMES)), strict=True)
        }
        self.counts: dict[str, int] = {name: 0 for name in FAULT_NAMES}
        # (release time, record, type): delayed duplicates, in release order.
        self._delayed: deque[tuple[float, bytes, int]] = deque()
        # session id -> (record, type, held since): out-of-order holds.
        self._held: dict[bytes, tuple[bytes, int, float]] = {}

    def _mask(
        self, name: str, fault: Fault | SchemaDrift | None, ts: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        if fault is None or fault.rate <= 0:
            return np.zeros(len(ts), dtype=bool)
        # Always draw one number per event, so every fault's stream advances in step
        # with the events whatever else happens.
        hit = self._rng[name].random(len(ts)) < fault.rate
        if fault.start is not None:
            hit &= ts >= fault.start
        if fault.end is not None:
            hit &= ts < fault.end
        return hit

    def apply(
        self, records: list[bytes], ts: npt.NDArray[np.float64], types: npt.NDArray[np.int8]
    ) -> list[list[tuple[bytes, int]]]:
        """Fault one round: for each original event, the records (and their event types)
        to send at its time: none when it is held back, several with duplicates or a
        released held record."""
        f = self.faults
        n = len(records)
        out = list(records)
        masks = {
            "schema_drift": self._mask("schema_drift", f.schema_drift, ts),
            "late": self._mask("late", f.late, ts),
            "null_event_ts": self._mask("null_event_ts", f.null_event_ts, ts),
            "missing_event_ts": self._mask("missing_event_ts", f.missing_event_ts, ts),
            "malformed": self._mask("malformed", f.malformed, ts),
            "oversize": self._mask("oversize", f.oversize, ts),
            "duplicates": self._mask("duplicates", f.duplicates, ts),
            "out_of_order": self._mask("out_of_order", f.out_of_order, ts),
        }
        # Per-event parameters, drawn for every event (see _mask) so streams stay aligned.
        late_u = self._rng["late"].random(n) if f.late is not None else None
        bad_u = self._rng["malformed"].random(n) if f.malformed is not None else None
        for i in np.flatnonzero(masks["schema_drift"]).tolist():
            assert f.schema_drift is not None
            out[i] = _drift(out[i], f.schema_drift)
        for i in np.flatnonzero(masks["late"]).tolist():
            assert f.late is not None and late_u is not None
            lo, hi = max(f.late.delay_s, 1.0), max(f.late.max_delay_s, f.late.delay_s, 1.0)
            delay = math.exp(math.log(lo) + late_u[i] * (math.log(hi) - math.log(lo)))
            out[i] = _set_ts(out[i], float(ts[i]) - delay)
        for i in np.flatnonzero(masks["null_event_ts"]).tolist():
            out[i] = _TS.sub(b'"event_ts":null', out[i], count=1)
        for i in np.flatnonzero(masks["missing_event_ts"]).tolist():
            out[i] = _drop_field(out[i], "event_ts")
        for i in np.flatnonzero(masks["malformed"]).tolist():
            assert bad_u is not None
            out[i] = _malform(out[i], float(bad_u[i]))
        for i in np.flatnonzero(masks["oversize"]).tolist():
            assert f.oversize is not None
            out[i] = _pad(out[i], f.oversize.size_bytes)
        for name in ("schema_drift", "late", "null_event_ts", "missing_event_ts", "malformed", "oversize"):
            self.counts[name] += int(masks[name].sum())

        dup = masks["duplicates"].tolist()
        hold = (masks["out_of_order"] & (types != 6)).tolist()  # a PLAY_STOP has no next event
        delay = f.duplicates.delay_s if f.duplicates is not None else 0.0
        tl = types.tolist()
        tsl = ts.tolist()
        groups: list[list[tuple[bytes, int]]] = []
        for i in range(n):
            now = tsl[i]
            record = out[i]
            group: list[tuple[bytes, int]] = []
            sid = None
            if self._held or hold[i]:
                m = _SESSION.search(record)
                sid = m.group(1) if m else None
            if hold[i] and sid is not None and sid not in self._held:
                # Held back: goes out right after this session's next event.
                self._held[sid] = (record, tl[i], now)
            else:
                group.append((record, tl[i]))
                if sid is not None and sid in self._held:
                    # Counted here: only a record sent after a newer one is out of order.
                    held, htype, _ = self._held.pop(sid)
                    group.append((held, htype))
                    self.counts["out_of_order"] += 1
            if dup[i]:
                self.counts["duplicates"] += 1
                if delay > 0:
                    self._delayed.append((now + delay, record, tl[i]))
                else:
                    group.append((record, tl[i]))
            while self._delayed and self._delayed[0][0] <= now:
                _, rec, t = self._delayed.popleft()
                group.append((rec, t))
            groups.append(group)
        if self._held and n:
            # Holds whose session went quiet for too long go out anyway.
            last = tsl[-1]
            for sid in [s for s, (_, _, since) in self._held.items() if last - since > self.HOLD_LIMIT_S]:
                held, htype, _ = self._held.pop(sid)
                groups[-1].append((held, htype))
        return groups

    def flush(self) -> tuple[list[bytes], list[int]]:
        """Everything still held (at the end of a run): sent rather than lost."""
        records = [r for r, _, _ in self._held.values()]
        types = [t for _, t, _ in self._held.values()]
        self._held.clear()
        while self._delayed:
            _, rec, t = self._delayed.popleft()
            records.append(rec)
            types.append(t)
        return records, types


def _set_ts(record: bytes, ts: float) -> bytes:
    return _TS.sub(b'"event_ts":%.3f' % ts, record, count=1)


def _drop_field(record: bytes, name: str) -> bytes:
    pattern = re.compile(rb'"' + re.escape(name.encode()) + rb'":("[^"]*"|[^,}]*),?')
    out = pattern.sub(b"", record, count=1)
    return out.replace(b",}", b"}")


def _drift(record: bytes, drift: SchemaDrift) -> bytes:
    out = record
    if drift.event_ts_as_iso:
        m = _TS.search(out)
        if m and m.group(1)[:1] not in (b'"', b"n"):
            iso = datetime.fromtimestamp(float(m.group(1)), tz=UTC).isoformat(timespec="milliseconds")
            out = (
                out[: m.start()]
                + b'"event_ts":"'
                + iso.replace("+00:00", "Z").encode()
                + b'"'
                + out[m.end() :]
            )
    for old, new in drift.rename.items():
        out = out.replace(b'"' + old.encode() + b'":', b'"' + new.encode() + b'":', 1)
    for name in drift.drop_fields:
        out = _drop_field(out, name)
    if drift.add_fields:
        extra = b"".join(
            b',"' + k.encode() + b'":' + json.dumps(v, separators=(",", ":")).encode()
            for k, v in drift.add_fields.items()
        )
        out = out[:-2] + extra + b"}\n"
    return out


def _malform(record: bytes, u: float) -> bytes:
    body = record[:-1]
    kind = int(u * 3)
    if kind == 0:  # truncated mid-record, as a client killed while writing
        cut = max(1, int(len(body) * (0.2 + 0.6 * ((u * 3) % 1))))
        return body[:cut] + b"\n"
    if kind == 1:  # the closing brace lost
        return body[:-1] + b"\n"
    # a quote lost: an unterminated string
    i = body.find(b'"event_type":"')
    return (body[: i + 13] + body[i + 14 :] if i >= 0 else body[:-1]) + b"\n"


def _pad(record: bytes, size: int) -> bytes:
    pad = max(0, size - len(record) - len(b',"padding":""'))
    return record[:-2] + b',"padding":"' + b"x" * pad + b'"}\n'

"""Run statistics: the live counters and the final summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from producer.schema import EVENT_TYPES

__all__ = ["RunStats", "Summary"]


@dataclass(slots=True)
class RunStats:
    """Counters updated by the runner while a run goes; read by the live view."""

    sink: str
    seed: int
    target_rate: float
    clock: str
    generated: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    failed: int = 0
    batches: int = 0
    bytes_sent: int = 0
    event_types: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(len(EVENT_TYPES), dtype=np.int64)
    )
    elapsed_s: float = 0.0
    schedule_s: float = 0.0
    active_sessions: int = 0
    viewers: int = 0
    lag_s: float = 0.0
    sink_seconds: float = 0.0
    errors: int = 0
    #: "ok", "sink-bound" or "cpu-bound": why the run is behind its schedule, if it is.
    pace: str = "ok"


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """What a run did, as confirmed by the sink. ``generated == delivered + dead_lettered + failed``."""

    generated: int
    delivered: int
    dead_lettered: int
    failed: int
    elapsed_s: float
    target_rate: float
    achieved_rate: float
    event_types: dict[str, int]
    sink: str
    seed: int
    clock: str
    start: str
    end: str
    batches: int
    bytes: int
    stopped_by: str
    error: str | None = None
    dead_letter_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready data."""
        return asdict(self)

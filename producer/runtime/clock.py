"""Clocks: the one place the library reads time or sleeps.

Pacing runs on a monotonic clock against absolute deadlines; event timestamps
come from the run's schedule, anchored at an epoch (wall) time. Tests and
library users pass :class:`ManualClock` to run paced code without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "EventClock", "ManualClock", "SystemClock", "utc_iso"]


def utc_iso(epoch: float) -> str:
    """``epoch`` as ISO-8601 UTC with a ``Z`` (how summaries and captures name times)."""
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


class Clock(Protocol):
    """What the runner needs from a clock."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def epoch(self) -> float:
        """Wall-clock time, epoch seconds (UTC)."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``monotonic()`` has reached ``deadline``."""
        ...


class SystemClock:
    """The real clocks of the machine."""

    def monotonic(self) -> float:
        return time.monotonic()

    def epoch(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        # asyncio's timer resolution is ~1 ms; a zero sleep still yields to the loop.
        await asyncio.sleep(max(delay, 0.0))


class ManualClock:
    """A settable clock: ``sleep_until`` jumps straight to the deadline."""

    def __init__(self, *, monotonic: float = 0.0, epoch: float = 1_790_000_000.0) -> None:
        self._mono = monotonic
        self._offset = epoch - monotonic
        self.sleeps = 0

    def monotonic(self) -> float:
        return self._mono

    def epoch(self) -> float:
        return self._mono + self._offset

    def advance(self, seconds: float) -> None:
        """Move time forward (e.g. to simulate a slow sink)."""
        self._mono += seconds

    async def sleep_until(self, deadline: float) -> None:
        self.sleeps += 1
        self._mono = max(self._mono, deadline)
        await asyncio.sleep(0)


class EventClock:
    """The time a sink should stamp objects with: wall time in realtime runs, the
    latest emitted event's timestamp in simulated (backfill) runs."""

    def __init__(self, *, realtime: bool, clock: Clock, start: float) -> None:
        self.realtime = realtime
        self._clock = clock
        self.latest = start

    def __call__(self) -> float:
        return self._clock.epoch() if self.realtime else self.latest

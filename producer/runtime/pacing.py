"""Deadline-based pacing: how many events are due now, never sleeping per event.

The pacer wakes on a fixed tick (``next_tick += tick``, on the monotonic clock,
so it never drifts) and answers with the number of events whose scheduled time
has passed. Late wake-ups therefore cost latency, not rate.
"""

from __future__ import annotations

from producer.runtime.clock import Clock
from producer.runtime.rate import Schedule

__all__ = ["Pacer"]


class Pacer:
    """Paces a :class:`~producer.runtime.rate.Schedule` on a clock.

    ``speed`` is how many schedule seconds pass per clock second: 1 for realtime,
    10 for a 10x backfill, ``None`` for as fast as possible.
    """

    def __init__(
        self,
        schedule: Schedule,
        clock: Clock,
        *,
        speed: float | None = 1.0,
        tick_s: float = 0.01,
        burst: int = 16_384,
    ) -> None:
        self.schedule = schedule
        self.clock = clock
        self.speed = speed
        self.tick_s = tick_s
        self.burst = burst
        self.origin = clock.monotonic()
        self._next_tick = self.origin
        self.ticks = 0

    def schedule_time(self) -> float:
        """Seconds of schedule time elapsed now."""
        if self.speed is None:
            return float("inf")
        return (self.clock.monotonic() - self.origin) * self.speed

    async def wait_due(self, emitted: int) -> int:
        """Wait for the next tick; return how many events are due in total by now."""
        if self.speed is None:
            self.ticks += 1
            return emitted + self.burst
        self._next_tick += self.tick_s
        now = self.clock.monotonic()
        if self._next_tick < now:
            # We fell behind (a slow sink, a busy CPU): skip the missed ticks rather
            # than spinning through them; the due count below catches up anyway.
            missed = int((now - self._next_tick) / self.tick_s) + 1
            self._next_tick += missed * self.tick_s
        await self.clock.sleep_until(self._next_tick)
        self.ticks += 1
        return self.schedule.count_due((self.clock.monotonic() - self.origin) * self.speed)

    def lag_s(self, emitted: int) -> float:
        """How far behind schedule the next event to emit is, in clock seconds (>= 0)."""
        if self.speed is None:
            return 0.0
        t_next = float(self.schedule.offsets(emitted, 1)[0])
        return max(0.0, self.schedule_time() - t_next) / self.speed

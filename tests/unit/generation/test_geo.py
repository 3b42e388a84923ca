from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from producer.generation.geo import WEEKDAY_FACTOR, ZoneClock, local_activity
from producer.runtime.rate import daily

MONDAY = datetime(2026, 3, 2, tzinfo=UTC).timestamp()  # 2026-03-02T00:00:00Z, a Monday
DAY = 86400.0
_UTC = ZoneClock(["Etc/UTC"])


def _utc_curve(epoch: float) -> float:
    """The activity of viewers living on UTC (no daylight saving): local days are UTC days."""
    return float(local_activity(epoch, _UTC)[0])


def _day_volumes(mean_rate: float = 10.0) -> list[float]:
    """Expected events on each day of the week starting on MONDAY, from the daily shape."""
    s = daily(mean_rate, _utc_curve).bind(MONDAY)
    return [s.expected((d + 1) * DAY) - s.expected(d * DAY) for d in range(7)]


def test_a_week_of_the_daily_shape_carries_the_weekday_factors() -> None:
    volumes = _day_volumes()
    # Each day's volume relative to Monday is its factor relative to Monday's
    # (Mon-Thu 0.92, Fri 1.0, Sat 1.15, Sun 1.2), within half a percent.
    for d in range(7):
        assert volumes[d] / volumes[0] == pytest.approx(WEEKDAY_FACTOR[d] / WEEKDAY_FACTOR[0], rel=0.005)
    # The --rate is the mean over the week.
    assert sum(volumes) == pytest.approx(10.0 * 7 * DAY, rel=0.001)


def test_weekend_afternoons_are_flatter_and_the_peak_stays_at_21() -> None:
    s = daily(10.0, _utc_curve).bind(MONDAY)

    def share(day: int, h0: int, h1: int) -> float:
        t0 = day * DAY
        part = s.expected(t0 + h1 * 3600.0) - s.expected(t0 + h0 * 3600.0)
        return part / (s.expected(t0 + DAY) - s.expected(t0))

    def peak_hour(day: int) -> int:
        t0 = day * DAY
        hours = [s.expected(t0 + (h + 1) * 3600.0) - s.expected(t0 + h * 3600.0) for h in range(24)]
        return int(np.argmax(hours))

    tuesday, saturday, sunday = 1, 5, 6
    # 12:00-18:00 holds more of a weekend day than of a weekday.
    assert share(saturday, 12, 18) > share(tuesday, 12, 18) + 0.03
    assert share(sunday, 12, 18) > share(tuesday, 12, 18) + 0.03
    # The evening peak is 20:00-22:00 every day, and the weekend's is less sharp.
    for d in range(7):
        assert peak_hour(d) in (20, 21)
    assert share(sunday, 19, 23) < share(tuesday, 19, 23)


def test_the_curve_is_continuous_across_midnights() -> None:
    # Sunday 23:59:59 and Monday 00:00:00 differ by little, though the days' volumes differ.
    before = _utc_curve(MONDAY + 7 * DAY - 1.0)
    after = _utc_curve(MONDAY + 7 * DAY)
    assert after == pytest.approx(before, rel=0.01)


def _evening_peak(zones: ZoneClock, evening_utc: float) -> list[float]:
    """Per zone, the UTC time of the highest activity in the 14 h from ``evening_utc`` (1-min grid)."""
    grid = evening_utc + np.arange(0.0, 14 * 3600.0, 60.0)
    act = np.stack([local_activity(t, zones) for t in grid])
    return [float(grid[i]) for i in np.argmax(act, axis=0)]


def test_the_evening_peak_keeps_to_local_time_across_a_daylight_saving_change() -> None:
    # US clocks go forward on Sunday 2026-03-08 at 02:00 local (New York: 07:00 UTC).
    zones = ZoneClock(["America/New_York", "America/Los_Angeles", "America/Phoenix"])
    saturday = datetime(2026, 3, 7, 18, tzinfo=UTC).timestamp()
    sunday = saturday + DAY
    before = _evening_peak(zones, saturday)
    after = _evening_peak(zones, sunday)
    # Both evenings peak at 21:30 local (the middle of the 21:00 hour, the weekend's
    # peak), so in UTC the peak comes one hour earlier after the change...
    assert datetime.fromtimestamp(before[0], UTC).strftime("%d %H:%M") == "08 02:30"  # 21:30 EST
    assert datetime.fromtimestamp(after[0], UTC).strftime("%d %H:%M") == "09 01:30"  # 21:30 EDT
    assert after[1] - before[1] == DAY - 3600.0
    # ...but not in Arizona, which keeps standard time all year.
    assert after[2] - before[2] == DAY


def test_zone_offsets_follow_the_tz_database() -> None:
    zones = ZoneClock(["America/New_York", "Australia/Sydney", "Asia/Kolkata", "Europe/London"])
    january = datetime(2026, 1, 15, tzinfo=UTC).timestamp()
    july = datetime(2026, 7, 15, tzinfo=UTC).timestamp()
    assert zones.offsets_h(january).tolist() == [-5.0, 11.0, 5.5, 0.0]
    assert zones.offsets_h(july).tolist() == [-4.0, 10.0, 5.5, 1.0]
    # The change happens at the transition itself: 2026-03-08 07:00 UTC in New York.
    change = datetime(2026, 3, 8, 7, tzinfo=UTC).timestamp()
    assert zones.offsets_h(change - 1.0)[0] == -5.0
    assert zones.offsets_h(change)[0] == -4.0

"""Countries, their UTC offsets, and the daily and weekly viewing curve.

Defaults come from published figures (see docs/data_model.md for the sources):
paid memberships by region (Netflix Q4 2024: EMEA 33.5 %, UCAN 29.7 %, APAC 19.1 %,
LATAM 17.7 %), split inside each region by broadband households (a plausible,
unsourced split), and the hourly share of play starts in local time (peak 21:00,
trough 04:00, peak/average 1.9; weekends flatter in the afternoon) and the volume
by local weekday (Sunday the weekly peak, a weekend day ~1.2x a weekday).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "COUNTRIES",
    "HOURLY_SHARE",
    "WEEKDAY_FACTOR",
    "WEEKEND_HOURLY_SHARE",
    "Country",
    "daily_curve_factor",
    "local_activity",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Country:
    """A country of the population mix. ``utc_offset_h`` is a fixed standard offset."""

    code: str
    name: str
    region: str
    weight: float
    utc_offset_h: float
    cities: tuple[str, ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        code="US",
        name="United States",
        region="UCAN",
        weight=26.6,
        utc_offset_h=-6.0,
        cities=("New York", "Los Angeles", "Chicago", "Houston", "Seattle", "Atlanta"),
    ),
    Country(
        code="CA",
        name="Canada",
        region="UCAN",
        weight=3.1,
        utc_offset_h=-5.0,
        cities=("Toronto", "Montreal", "Vancouver", "Calgary"),
    ),
    Country(
        code="GB",
        name="United Kingdom",
        region="EMEA",
        weight=6.0,
        utc_offset_h=0.0,
        cities=("London", "Manchester", "Birmingham", "Glasgow"),
    ),
    Country(
        code="DE",
        name="Germany",
        region="EMEA",
        weight=5.2,
        utc_offset_h=1.0,
        cities=("Berlin", "Hamburg", "Munich", "Cologne"),
    ),
    Country(
        code="FR",
        name="France",
        region="EMEA",
        weight=4.6,
        utc_offset_h=1.0,
        cities=("Paris", "Lyon", "Marseille", "Toulouse"),
    ),
    Country(
        code="ES",
        name="Spain",
        region="EMEA",
        weight=2.8,
        utc_offset_h=1.0,
        cities=("Madrid", "Barcelona", "Valencia", "Seville"),
    ),
    Country(
        code="IT",
        name="Italy",
        region="EMEA",
        weight=2.8,
        utc_offset_h=1.0,
        cities=("Rome", "Milan", "Naples", "Turin"),
    ),
    Country(
        code="NL",
        name="Netherlands",
        region="EMEA",
        weight=1.6,
        utc_offset_h=1.0,
        cities=("Amsterdam", "Rotterdam", "Utrecht"),
    ),
    Country(
        code="PL",
        name="Poland",
        region="EMEA",
        weight=2.0,
        utc_offset_h=1.0,
        cities=("Warsaw", "Krakow", "Wroclaw"),
    ),
    Country(
        code="SE",
        name="Sweden",
        region="EMEA",
        weight=1.0,
        utc_offset_h=1.0,
        cities=("Stockholm", "Gothenburg", "Malmo"),
    ),
    Country(
        code="TR",
        name="Turkey",
        region="EMEA",
        weight=2.1,
        utc_offset_h=3.0,
        cities=("Istanbul", "Ankara", "Izmir"),
    ),
    Country(
        code="SA",
        name="Saudi Arabia",
        region="EMEA",
        weight=1.4,
        utc_offset_h=3.0,
        cities=("Riyadh", "Jeddah", "Dammam"),
    ),
    Country(
        code="ZA",
        name="South Africa",
        region="EMEA",
        weight=1.2,
        utc_offset_h=2.0,
        cities=("Johannesburg", "Cape Town", "Durban"),
    ),
    Country(
        code="EG",
        name="Egypt",
        region="EMEA",
        weight=0.8,
        utc_offset_h=2.0,
        cities=("Cairo", "Alexandria", "Giza"),
    ),
    Country(
        code="NG",
        name="Nigeria",
        region="EMEA",
        weight=0.6,
        utc_offset_h=1.0,
        cities=("Lagos", "Abuja", "Ibadan"),
    ),
    Country(
        code="AE",
        name="United Arab Emirates",
        region="EMEA",
        weight=1.4,
        utc_offset_h=4.0,
        cities=("Dubai", "Abu Dhabi", "Sharjah"),
    ),
    Country(
        code="BR",
        name="Brazil",
        region="LATAM",
        weight=7.4,
        utc_offset_h=-3.0,
        cities=("Sao Paulo", "Rio de Janeiro", "Belo Horizonte", "Brasilia"),
    ),
    Country(
        code="MX",
        name="Mexico",
        region="LATAM",
        weight=4.9,
        utc_offset_h=-6.0,
        cities=("Mexico City", "Guadalajara", "Monterrey", "Puebla"),
    ),
    Country(
        code="AR",
        name="Argentina",
        region="LATAM",
        weight=2.3,
        utc_offset_h=-3.0,
        cities=("Buenos Aires", "Cordoba", "Rosario"),
    ),
    Country(
        code="CO",
        name="Colombia",
        region="LATAM",
        weight=1.7,
        utc_offset_h=-5.0,
        cities=("Bogota", "Medellin", "Cali"),
    ),
    Country(
        code="CL",
        name="Chile",
        region="LATAM",
        weight=1.4,
        utc_offset_h=-4.0,
        cities=("Santiago", "Valparaiso", "Concepcion"),
    ),
    Country(
        code="IN",
        name="India",
        region="APAC",
        weight=4.0,
        utc_offset_h=5.5,
        cities=("Mumbai", "Delhi", "Bengaluru", "Hyderabad", "Chennai"),
    ),
    Country(
        code="JP",
        name="Japan",
        region="APAC",
        weight=3.5,
        utc_offset_h=9.0,
        cities=("Tokyo", "Osaka", "Nagoya", "Sapporo"),
    ),
    Country(
        code="KR",
        name="South Korea",
        region="APAC",
        weight=2.7,
        utc_offset_h=9.0,
        cities=("Seoul", "Busan", "Incheon"),
    ),
    Country(
        code="AU",
        name="Australia",
        region="APAC",
        weight=3.0,
        utc_offset_h=10.0,
        cities=("Sydney", "Melbourne", "Brisbane", "Perth"),
    ),
    Country(
        code="ID",
        name="Indonesia",
        region="APAC",
        weight=1.6,
        utc_offset_h=7.0,
        cities=("Jakarta", "Surabaya", "Bandung"),
    ),
    Country(
        code="PH",
        name="Philippines",
        region="APAC",
        weight=1.6,
        utc_offset_h=8.0,
        cities=("Manila", "Quezon City", "Cebu"),
    ),
    Country(
        code="TH",
        name="Thailand",
        region="APAC",
        weight=1.1,
        utc_offset_h=7.0,
        cities=("Bangkok", "Chiang Mai", "Phuket"),
    ),
    Country(
        code="TW",
        name="Taiwan",
        region="APAC",
        weight=1.0,
        utc_offset_h=8.0,
        cities=("Taipei", "Kaohsiung", "Taichung"),
    ),
    Country(
        code="NZ",
        name="New Zealand",
        region="APAC",
        weight=0.6,
        utc_offset_h=12.0,
        cities=("Auckland", "Wellington", "Christchurch"),
    ),
)

#: Share of play starts by local hour 00..23 on a weekday (percent; sums to 100).
HOURLY_SHARE: tuple[float, ...] = (
    4.5, 2.7, 1.6, 1.1, 0.9, 1.0, 1.5, 2.1, 2.6, 3.0, 3.3, 3.6,
    4.0, 4.2, 4.3, 4.5, 4.9, 5.6, 6.6, 7.7, 8.1, 8.1, 7.8, 6.3,
)  # fmt: skip
#: The same on Saturdays and Sundays: a flatter afternoon (12:00-18:00 holds 31.5 %
#: of the day against 27.5 % on weekdays), a later morning, the same 21:00 peak.
WEEKEND_HOURLY_SHARE: tuple[float, ...] = (
    4.6, 2.9, 1.9, 1.3, 1.0, 0.9, 1.1, 1.6, 2.3, 3.1, 3.8, 4.3,
    4.7, 5.0, 5.2, 5.3, 5.5, 5.8, 6.2, 6.9, 7.2, 7.4, 6.6, 5.4,
)  # fmt: skip
#: Viewing volume by local weekday, Monday..Sunday (Sunday the weekly peak; a weekend
#: day ~1.2x a weekday). Relative: the curve rescales them to a weekly mean of 1.
WEEKDAY_FACTOR: tuple[float, ...] = (0.92, 0.92, 0.92, 0.92, 1.0, 1.15, 1.2)

# Relative activity at the middle of each hour of the week (Monday 00:00-01:00
# first), with a weekly mean of 1: the day's factor times its hourly curve.
_DAY_CURVE = [np.asarray(c, dtype=np.float64) / (sum(c) / 24.0) for c in (HOURLY_SHARE, WEEKEND_HOURLY_SHARE)]
_FACTOR = np.asarray(WEEKDAY_FACTOR, dtype=np.float64) / np.mean(WEEKDAY_FACTOR)
_WEEK = np.concatenate([_FACTOR[d] * _DAY_CURVE[1 if d >= 5 else 0] for d in range(7)])
# Knots at hour midpoints 0.5 .. 167.5, wrapped, for linear interpolation: the curve is
# continuous across midnights and the week's end.
_KNOT_H = np.concatenate(([-0.5], np.arange(168) + 0.5, [168.5]))
_KNOT_V = np.concatenate(([_WEEK[-1]], _WEEK, [_WEEK[0]]))
# 1970-01-01 (epoch 0) was a Thursday: hours since a Monday 00:00 are epoch hours + 72.
_EPOCH_WEEK_H = 72.0


def local_activity(epoch: float, utc_offsets_h: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Relative viewing activity (weekly mean 1) at ``epoch`` for each UTC offset.

    The hourly curve of the local day (weekday or weekend) times that day's factor.
    """
    week_h = ((epoch / 3600.0) + _EPOCH_WEEK_H + utc_offsets_h) % 168.0
    return np.asarray(np.interp(week_h, _KNOT_H, _KNOT_V), dtype=np.float64)


def daily_curve_factor(
    epoch: float, weights: npt.NDArray[np.float64], utc_offsets_h: npt.NDArray[np.float64]
) -> float:
    """The global rate factor (weekly mean ~1) of a country mix at ``epoch``."""
    w = weights / weights.sum()
    return float((w * local_activity(epoch, utc_offsets_h)).sum())

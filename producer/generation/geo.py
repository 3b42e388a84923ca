"""Countries, their time zones, and the daily and weekly viewing curve.

Defaults come from published figures (see docs/data_model.md for the sources):
paid memberships by region (Netflix Q4 2024: EMEA 33.5 %, UCAN 29.7 %, APAC 19.1 %,
LATAM 17.7 %), split inside each region by broadband households (a plausible,
unsourced split); each country's viewers split over its IANA time zones by
population (daylight saving from the tz database); the hourly share of play starts
in local time (peak 21:00, trough 04:00, peak/average 1.9; weekends flatter in the
afternoon) and the volume by local weekday (Sunday the weekly peak, a weekend day
~1.2x a weekday).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

__all__ = [
    "COUNTRIES",
    "HOURLY_SHARE",
    "WEEKDAY_FACTOR",
    "WEEKEND_HOURLY_SHARE",
    "Country",
    "ZoneClock",
    "daily_curve_factor",
    "local_activity",
    "zone_mix",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Country:
    """A country of the population mix.

    ``zones`` are its IANA time zones with the share of its viewers in each (the
    shares need not sum to exactly 1: they are normalised).
    """

    code: str
    name: str
    region: str
    weight: float
    zones: tuple[tuple[str, float], ...]
    cities: tuple[str, ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        code="US",
        name="United States",
        region="UCAN",
        weight=26.6,
        zones=(
            ("America/New_York", 0.47),
            ("America/Chicago", 0.29),
            ("America/Denver", 0.05),
            ("America/Phoenix", 0.022),
            ("America/Los_Angeles", 0.16),
            ("America/Anchorage", 0.002),
            ("Pacific/Honolulu", 0.004),
        ),
        cities=("New York", "Los Angeles", "Chicago", "Houston", "Seattle", "Atlanta"),
    ),
    Country(
        code="CA",
        name="Canada",
        region="UCAN",
        weight=3.1,
        zones=(
            ("America/Toronto", 0.62),
            ("America/Halifax", 0.05),
            ("America/St_Johns", 0.014),
            ("America/Winnipeg", 0.036),
            ("America/Regina", 0.03),
            ("America/Edmonton", 0.12),
            ("America/Vancouver", 0.13),
        ),
        cities=("Toronto", "Montreal", "Vancouver", "Calgary"),
    ),
    Country(
        code="GB",
        name="United Kingdom",
        region="EMEA",
        weight=6.0,
        zones=(("Europe/London", 1.0),),
        cities=("London", "Manchester", "Birmingham", "Glasgow"),
    ),
    Country(
        code="DE",
        name="Germany",
        region="EMEA",
        weight=5.2,
        zones=(("Europe/Berlin", 1.0),),
        cities=("Berlin", "Hamburg", "Munich", "Cologne"),
    ),
    Country(
        code="FR",
        name="France",
        region="EMEA",
        weight=4.6,
        zones=(("Europe/Paris", 1.0),),
        cities=("Paris", "Lyon", "Marseille", "Toulouse"),
    ),
    Country(
        code="ES",
        name="Spain",
        region="EMEA",
        weight=2.8,
        zones=(("Europe/Madrid", 0.955), ("Atlantic/Canary", 0.045)),
        cities=("Madrid", "Barcelona", "Valencia", "Seville"),
    ),
    Country(
        code="IT",
        name="Italy",
        region="EMEA",
        weight=2.8,
        zones=(("Europe/Rome", 1.0),),
        cities=("Rome", "Milan", "Naples", "Turin"),
    ),
    Country(
        code="NL",
        name="Netherlands",
        region="EMEA",
        weight=1.6,
        zones=(("Europe/Amsterdam", 1.0),),
        cities=("Amsterdam", "Rotterdam", "Utrecht"),
    ),
    Country(
        code="PL",
        name="Poland",
        region="EMEA",
        weight=2.0,
        zones=(("Europe/Warsaw", 1.0),),
        cities=("Warsaw", "Krakow", "Wroclaw"),
    ),
    Country(
        code="SE",
        name="Sweden",
        region="EMEA",
        weight=1.0,
        zones=(("Europe/Stockholm", 1.0),),
        cities=("Stockholm", "Gothenburg", "Malmo"),
    ),
    Country(
        code="TR",
        name="Turkey",
        region="EMEA",
        weight=2.1,
        zones=(("Europe/Istanbul", 1.0),),
        cities=("Istanbul", "Ankara", "Izmir"),
    ),
    Country(
        code="SA",
        name="Saudi Arabia",
        region="EMEA",
        weight=1.4,
        zones=(("Asia/Riyadh", 1.0),),
        cities=("Riyadh", "Jeddah", "Dammam"),
    ),
    Country(
        code="ZA",
        name="South Africa",
        region="EMEA",
        weight=1.2,
        zones=(("Africa/Johannesburg", 1.0),),
        cities=("Johannesburg", "Cape Town", "Durban"),
    ),
    Country(
        code="EG",
        name="Egypt",
        region="EMEA",
        weight=0.8,
        zones=(("Africa/Cairo", 1.0),),
        cities=("Cairo", "Alexandria", "Giza"),
    ),
    Country(
        code="NG",
        name="Nigeria",
        region="EMEA",
        weight=0.6,
        zones=(("Africa/Lagos", 1.0),),
        cities=("Lagos", "Abuja", "Ibadan"),
    ),
    Country(
        code="AE",
        name="United Arab Emirates",
        region="EMEA",
        weight=1.4,
        zones=(("Asia/Dubai", 1.0),),
        cities=("Dubai", "Abu Dhabi", "Sharjah"),
    ),
    Country(
        code="BR",
        name="Brazil",
        region="LATAM",
        weight=7.4,
        zones=(
            ("America/Sao_Paulo", 0.92),
            ("America/Manaus", 0.075),
            ("America/Rio_Branco", 0.005),
        ),
        cities=("Sao Paulo", "Rio de Janeiro", "Belo Horizonte", "Brasilia"),
    ),
    Country(
        code="MX",
        name="Mexico",
        region="LATAM",
        weight=4.9,
        zones=(
            ("America/Mexico_City", 0.84),
            ("America/Tijuana", 0.035),
            ("America/Mazatlan", 0.045),
            ("America/Hermosillo", 0.025),
            ("America/Chihuahua", 0.03),
            ("America/Cancun", 0.015),
        ),
        cities=("Mexico City", "Guadalajara", "Monterrey", "Puebla"),
    ),
    Country(
        code="AR",
        name="Argentina",
        region="LATAM",
        weight=2.3,
        zones=(("America/Argentina/Buenos_Aires", 1.0),),
        cities=("Buenos Aires", "Cordoba", "Rosario"),
    ),
    Country(
        code="CO",
        name="Colombia",
        region="LATAM",
        weight=1.7,
        zones=(("America/Bogota", 1.0),),
        cities=("Bogota", "Medellin", "Cali"),
    ),
    Country(
        code="CL",
        name="Chile",
        region="LATAM",
        weight=1.4,
        zones=(("America/Santiago", 1.0),),
        cities=("Santiago", "Valparaiso", "Concepcion"),
    ),
    Country(
        code="IN",
        name="India",
        region="APAC",
        weight=4.0,
        zones=(("Asia/Kolkata", 1.0),),
        cities=("Mumbai", "Delhi", "Bengaluru", "Hyderabad", "Chennai"),
    ),
    Country(
        code="JP",
        name="Japan",
        region="APAC",
        weight=3.5,
        zones=(("Asia/Tokyo", 1.0),),
        cities=("Tokyo", "Osaka", "Nagoya", "Sapporo"),
    ),
    Country(
        code="KR",
        name="South Korea",
        region="APAC",
        weight=2.7,
        zones=(("Asia/Seoul", 1.0),),
        cities=("Seoul", "Busan", "Incheon"),
    ),
    Country(
        code="AU",
        name="Australia",
        region="APAC",
        weight=3.0,
        zones=(
            ("Australia/Sydney", 0.33),
            ("Australia/Melbourne", 0.26),
            ("Australia/Brisbane", 0.20),
            ("Australia/Perth", 0.11),
            ("Australia/Adelaide", 0.07),
            ("Australia/Hobart", 0.02),
            ("Australia/Darwin", 0.01),
        ),
        cities=("Sydney", "Melbourne", "Brisbane", "Perth"),
    ),
    Country(
        code="ID",
        name="Indonesia",
        region="APAC",
        weight=1.6,
        zones=(
            ("Asia/Jakarta", 0.72),
            ("Asia/Makassar", 0.22),
            ("Asia/Jayapura", 0.06),
        ),
        cities=("Jakarta", "Surabaya", "Bandung"),
    ),
    Country(
        code="PH",
        name="Philippines",
        region="APAC",
        weight=1.6,
        zones=(("Asia/Manila", 1.0),),
        cities=("Manila", "Quezon City", "Cebu"),
    ),
    Country(
        code="TH",
        name="Thailand",
        region="APAC",
        weight=1.1,
        zones=(("Asia/Bangkok", 1.0),),
        cities=("Bangkok", "Chiang Mai", "Phuket"),
    ),
    Country(
        code="TW",
        name="Taiwan",
        region="APAC",
        weight=1.0,
        zones=(("Asia/Taipei", 1.0),),
        cities=("Taipei", "Kaohsiung", "Taichung"),
    ),
    Country(
        code="NZ",
        name="New Zealand",
        region="APAC",
        weight=0.6,
        zones=(("Pacific/Auckland", 1.0),),
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


class ZoneClock:
    """The UTC offsets of a fixed list of IANA zones at any moment, daylight saving included.

    Offsets come from :mod:`zoneinfo` and are cached per quarter hour of UTC time
    (every transition in the tz database since 1970 falls on a quarter hour), so the
    hot path pays one dictionary lookup.
    """

    _BUCKET_S = 900
    _CACHE_MAX = 8192  # ~85 days of quarter hours; cleared when full

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self._zones = [ZoneInfo(n) for n in self.names]
        self._cache: dict[int, FloatArray] = {}

    def offsets_h(self, epoch: float) -> FloatArray:
        """Each zone's UTC offset in hours at ``epoch`` (e.g. -4.0 for New York in summer)."""
        bucket = math.floor(epoch / self._BUCKET_S)
        hit = self._cache.get(bucket)
        if hit is None:
            if len(self._cache) >= self._CACHE_MAX:
                self._cache.clear()
            at = datetime.fromtimestamp(bucket * self._BUCKET_S, UTC)
            hit = np.array([_offset_s(at, z) / 3600.0 for z in self._zones], dtype=np.float64)
            hit.flags.writeable = False
            self._cache[bucket] = hit
        return hit


def _offset_s(at: datetime, zone: ZoneInfo) -> float:
    offset = at.astimezone(zone).utcoffset()
    return 0.0 if offset is None else offset.total_seconds()


def zone_mix(countries: Sequence[Country]) -> tuple[tuple[str, ...], npt.NDArray[np.int64], FloatArray]:
    """Flatten the countries' zones: (zone names, country index, share within the country)."""
    names: list[str] = []
    country: list[int] = []
    share: list[float] = []
    for i, c in enumerate(countries):
        total = sum(s for _, s in c.zones)
        for name, s in c.zones:
            names.append(name)
            country.append(i)
            share.append(s / total)
    return tuple(names), np.asarray(country, dtype=np.int64), np.asarray(share, dtype=np.float64)


def local_activity(epoch: float, zones: ZoneClock) -> FloatArray:
    """Relative viewing activity (weekly mean 1) at ``epoch`` for each zone of ``zones``.

    The activity follows each zone's local clock (its real offset at ``epoch``): the
    hourly curve of the local day (weekday or weekend) times that day's factor.
    """
    week_h = (epoch / 3600.0 + _EPOCH_WEEK_H + zones.offsets_h(epoch)) % 168.0
    return np.asarray(np.interp(week_h, _KNOT_H, _KNOT_V), dtype=np.float64)


def daily_curve_factor(epoch: float, weights: FloatArray, zones: ZoneClock) -> float:
    """The global rate factor (weekly mean ~1) of a mix of zones weighted by ``weights`` at ``epoch``."""
    w = weights / weights.sum()
    return float((w * local_activity(epoch, zones)).sum())

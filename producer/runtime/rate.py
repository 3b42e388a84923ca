"""Rates, rate shapes and the emission schedule.

A :class:`RateShape` says how many events per second are wanted at each moment of
a run. Bound to a start time it becomes a :class:`Schedule`, which gives the exact
timestamp of the k-th event (the inverse of the cumulative rate). The pacer emits
event k when its clock reaches that timestamp, so the achieved rate is exact and
scheduling jitter shows up as latency, never as drift.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from producer.errors import ConfigError

__all__ = [
    "RateShape",
    "Schedule",
    "constant",
    "daily",
    "parse_duration",
    "parse_rate",
    "parse_shape",
    "ramp",
    "steps",
]

_UNIT_SECONDS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hr": 3600.0}
_MULTIPLIER = {"": 1.0, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6}
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmM]?)\s*(?:/\s*([a-z]+))?\s*$")
_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|min|s|m|h|d)")  # longest unit first: 10min
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_rate(text: str, *, option: str = "--rate") -> float:
    """Parse ``500/s``, ``5k/s``, ``30000/min``, ``1.2M/h`` (or a bare number: per second).

    >>> parse_rate("5k/s")
    5000.0
    """
    m = _RATE_RE.match(text)
    if m is None or (m.group(3) is not None and m.group(3) not in _UNIT_SECONDS):
        msg = f"invalid {option} {text!r}: expected events per unit, e.g. 500/s, 5k/s, 30000/min, 1M/h"
        raise ConfigError(msg)
    value = float(m.group(1)) * _MULTIPLIER[m.group(2)]
    per = _UNIT_SECONDS[m.group(3) or "s"]
    rate = value / per
    if not math.isfinite(rate):
        msg = f"invalid {option} {text!r}: not a finite number"
        raise ConfigError(msg)
    return rate


def parse_duration(text: str, *, option: str = "--duration") -> float:
    """Parse ``30s``, ``10m``, ``1h30m``, ``500ms``, ``2d`` or a bare number of seconds."""
    stripped = text.strip()
    try:
        seconds = float(stripped)
    except ValueError:
        pos = 0
        seconds = 0.0
        for m in _DURATION_RE.finditer(stripped):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
            pos = m.end()
        if pos != len(stripped) or not stripped:
            msg = f"invalid {option} {text!r}: expected a duration such as 30s, 10m, 1h30m"
            raise ConfigError(msg) from None
    if not math.isfinite(seconds) or seconds <= 0:
        msg = f"invalid {option} {text!r}: must be greater than zero"
        raise ConfigError(msg)
    return seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class RateShape:
    """A piecewise-linear target rate over the run, in events per second.

    ``knots`` are ``(seconds since start, rate)`` pairs with non-decreasing times; a
    repeated time is a step. After the last knot the rate holds, unless the shape
    is ``periodic`` (the daily curve, with its weekdays), which repeats every
    ``period_s`` of absolute UTC time.
    """

    kind: str
    knots: tuple[tuple[float, float], ...]
    period_s: float | None = None
    #: For periodic shapes: a function of absolute epoch seconds giving the rate.
    absolute: Callable[[float], float] | None = None

    @property
    def peak_rate(self) -> float:
        """The highest rate of the knots: the constant rate, a ramp's or steps' peak, the daily mean."""
        return max(r for _, r in self.knots)

    def bind(self, start_epoch: float) -> Schedule:
        """Anchor the shape at a start time; returns the run's event schedule."""
        return Schedule(self, start_epoch)


def constant(rate: float) -> RateShape:
    """A constant rate."""
    _check_rate(rate, "--rate")
    return RateShape(kind="constant", knots=((0.0, rate),))


def ramp(start_rate: float, end_rate: float, over_s: float) -> RateShape:
    """A linear ramp from ``start_rate`` to ``end_rate`` over ``over_s``, then constant."""
    _check_rate(start_rate, "--shape ramp", allow_zero=True)
    _check_rate(end_rate, "--shape ramp", allow_zero=True)
    if start_rate == 0 and end_rate == 0:
        msg = "invalid --shape ramp: both rates are zero"
        raise ConfigError(msg)
    return RateShape(kind="ramp", knots=((0.0, start_rate), (over_s, end_rate)))


def steps(rates: list[float], every_s: float) -> RateShape:
    """Constant steps, each held ``every_s``; the last one holds to the end."""
    if not rates:
        msg = "invalid --shape steps: no rates given"
        raise ConfigError(msg)
    knots: list[tuple[float, float]] = []
    for i, r in enumerate(rates):
        _check_rate(r, "--shape steps", allow_zero=True)
        knots.append((i * every_s, r))
        knots.append(((i + 1) * every_s, r))
    knots.pop()  # the last step holds
    if all(r == 0 for r in rates):
        msg = "invalid --shape steps: every rate is zero"
        raise ConfigError(msg)
    return RateShape(kind="steps", knots=tuple(knots))


def daily(mean_rate: float, curve: Callable[[float], float]) -> RateShape:
    """The daily traffic curve: ``mean_rate`` times ``curve(epoch)`` (mean 1 over a week).

    The curve has a week: each local day's volume carries its weekday factor
    (:data:`producer.generation.geo.WEEKDAY_FACTOR`), so the shape repeats weekly.
    """
    _check_rate(mean_rate, "--rate")
    return RateShape(
        kind="daily",
        knots=((0.0, mean_rate),),
        period_s=7 * 86400.0,
        absolute=lambda t: mean_rate * curve(t),
    )


def parse_shape(text: str, rate: float | None, curve: Callable[[float], float]) -> RateShape:
    """Parse ``constant``, ``ramp:500/s..5k/s:60s``, ``steps:500/s,1k/s,2k/s:30s`` or ``daily``.

    ``rate`` (from ``--rate``) is the rate of ``constant`` and the mean of ``daily``.
    """
    kind, _, arg = text.strip().partition(":")
    if kind == "constant" and not arg:
        return constant(rate if rate is not None else 500.0)
    if kind == "daily" and not arg:
        return daily(rate if rate is not None else 500.0, curve)
    if kind == "ramp":
        rates, _, over = arg.rpartition(":")
        lo, sep, hi = rates.partition("..")
        if sep and over:
            return ramp(
                parse_rate(lo, option="--shape"),
                parse_rate(hi, option="--shape"),
                parse_duration(over, option="--shape"),
            )
    if kind == "steps":
        rates, _, every = arg.rpartition(":")
        if rates and every:
            parsed = [parse_rate(r, option="--shape") for r in rates.split(",")]
            return steps(parsed, parse_duration(every, option="--shape"))
    msg = (
        f"invalid --shape {text!r}: expected constant, daily, "
        "ramp:<from>..<to>:<duration> or steps:<rate>,<rate>,...:<duration>"
    )
    raise ConfigError(msg)


def _check_rate(rate: float, option: str, *, allow_zero: bool = False) -> None:
    if not math.isfinite(rate) or rate < 0 or (rate == 0 and not allow_zero):
        msg = f"invalid {option}: rate must be greater than zero, got {rate:g}/s"
        raise ConfigError(msg)


class Schedule:
    """The timestamps of events 0, 1, 2, ... of one run (epoch seconds).

    Event k happens when the cumulative target rate since the start reaches k, so
    event 0 is at the start and a constant 500/s puts event k at ``start + k/500``.
    """

    # Periodic shapes are sampled into linear segments this long.
    _SEGMENT_S = 300.0

    def __init__(self, shape: RateShape, start_epoch: float) -> None:
        self.shape = shape
        self.start = start_epoch
        self._t: list[float] = []  # knot times, seconds since start
        self._r: list[float] = []  # rate at each knot
        self._c: list[float] = []  # cumulative events at each knot
        if shape.absolute is None:
            for t, r in shape.knots:
                self._append(t, r)
            self._extend_to: float | None = None
        else:
            self._append(0.0, shape.absolute(start_epoch))
            self._extend_to = 0.0
            self._extend(self._SEGMENT_S * 12)
        self._arrays()

    # -- building -------------------------------------------------------------------

    def _append(self, t: float, r: float) -> None:
        if self._t:
            t0, r0, c0 = self._t[-1], self._r[-1], self._c[-1]
            c = c0 + (r0 + r) / 2.0 * (t - t0)
        else:
            c = 0.0
        self._t.append(t)
        self._r.append(r)
        self._c.append(c)

    def _extend(self, until: float) -> None:
        assert self.shape.absolute is not None
        assert self._extend_to is not None
        while self._extend_to < until:
            self._extend_to += self._SEGMENT_S
            self._append(self._extend_to, self.shape.absolute(self.start + self._extend_to))
        self._arrays()

    def _arrays(self) -> None:
        self._ta = np.asarray(self._t)
        self._ra = np.asarray(self._r)
        self._ca = np.asarray(self._c)

    def _ensure_count(self, k: float) -> None:
        while self._extend_to is not None and self._c[-1] <= k:
            self._extend(self._extend_to + self._SEGMENT_S * 12)

    def _ensure_time(self, t: float) -> None:
        if self._extend_to is not None and self._extend_to <= t:
            self._extend(t + self._SEGMENT_S * 12)

    def hold_from(self, t: float, rate: float) -> None:
        """From ``t`` seconds since the start (or the last knot, if later) the rate is
        ``rate``; before, nothing changes. How a sender that goes as fast as it can steers
        its viewers to the pace it keeps. Not for periodic shapes."""
        if self._extend_to is not None:
            msg = "a periodic shape cannot be steered"
            raise ValueError(msg)
        t = max(t, self._t[-1])
        self._append(t, self.rate_at(t))
        self._append(t, rate)
        self._arrays()

    # -- queries --------------------------------------------------------------------

    def rate_at(self, t: float) -> float:
        """Target rate (events/s) at ``t`` seconds since the start."""
        self._ensure_time(t)
        return float(np.interp(t, self._ta, self._ra))

    def expected(self, t: float) -> float:
        """Cumulative target events from the start to ``t`` seconds since the start."""
        self._ensure_time(t)
        i = int(np.searchsorted(self._ta, t, side="right")) - 1
        i = max(i, 0)
        t0, r0, c0 = self._t[i], self._r[i], self._c[i]
        if i + 1 < len(self._t):
            t1, r1 = self._t[i + 1], self._r[i + 1]
            slope = (r1 - r0) / (t1 - t0) if t1 > t0 else 0.0
        else:
            slope = 0.0
        tau = t - t0
        return c0 + r0 * tau + 0.5 * slope * tau * tau

    def count_due(self, t: float) -> int:
        """How many events are due at ``t`` seconds since the start (times <= t)."""
        if t < 0:
            return 0
        return math.floor(self.expected(t) + 1e-9) + 1

    def count_before(self, t: float) -> int:
        """How many events have a time strictly before ``t`` seconds since the start."""
        if t <= 0:
            return 0
        return math.ceil(self.expected(t) - 1e-9)

    def offsets(self, first: int, n: int) -> npt.NDArray[np.float64]:
        """Seconds since the start of events ``first .. first+n-1`` (vectorised)."""
        k = np.arange(first, first + n, dtype=np.float64)
        if n == 0:
            return k
        self._ensure_count(float(k[-1]))
        # The segment holding k: the last knot whose cumulative count is <= k, skipping
        # zero-length (step) and zero-rate segments by searching on the cumulative.
        i = np.searchsorted(self._ca, k, side="right") - 1
        i = np.clip(i, 0, len(self._ca) - 1)
        t0 = self._ta[i]
        r0 = self._ra[i]
        m = k - self._ca[i]
        nxt = np.minimum(i + 1, len(self._ta) - 1)
        dt = self._ta[nxt] - t0
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(dt > 0, (self._ra[nxt] - r0) / np.where(dt > 0, dt, 1.0), 0.0)
            slope = np.where(nxt == i, 0.0, slope)
            disc = np.sqrt(np.maximum(r0 * r0 + 2.0 * slope * m, 0.0))
            # Stable root of r0*tau + slope*tau^2/2 = m.
            tau = np.where(r0 + disc > 0, 2.0 * m / (r0 + disc), 0.0)
        return np.asarray(t0 + tau, dtype=np.float64)

    def times(self, first: int, n: int) -> npt.NDArray[np.float64]:
        """Epoch timestamps of events ``first .. first+n-1``."""
        return self.start + self.offsets(first, n)

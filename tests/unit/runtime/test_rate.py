from __future__ import annotations

import numpy as np
import pytest

from producer.errors import ConfigError
from producer.runtime.rate import constant, parse_duration, parse_rate, parse_shape, ramp, steps


@pytest.mark.parametrize(
    ("text", "expected"),
    [("500/s", 500.0), ("5k/s", 5000.0), ("1.5k/s", 1500.0), ("30000/min", 500.0),
     ("1.8M/h", 500.0), ("250", 250.0), ("2K / s", 2000.0)],
)  # fmt: skip
def test_parse_rate(text: str, expected: float) -> None:
    assert parse_rate(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "fast", "500/x", "-5/s", "5/s/s", "k/s"])
def test_parse_rate_rejects_garbage_with_the_option_and_value(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--rate") as err:
        parse_rate(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", 30.0), ("10m", 600.0), ("1h", 3600.0), ("1h30m", 5400.0),
     ("500ms", 0.5), ("2d", 172800.0), ("12", 12.0)],
)  # fmt: skip
def test_parse_duration(text: str, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "0s", "-3s", "10 parsecs", "1h30", "m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="--duration"):
        parse_duration(text)


def test_constant_schedule_puts_event_k_at_k_over_rate() -> None:
    s = constant(500).bind(1000.0)
    np.testing.assert_allclose(s.times(0, 4), [1000.0, 1000.002, 1000.004, 1000.006])
    assert s.count_before(3.0) == 1500
    assert s.count_due(0.0) == 1
    assert s.count_due(1.0) == 501


def test_ramp_cumulative_matches_the_integral_of_the_rate() -> None:
    s = ramp(100, 1100, 10).bind(0.0)
    # Integral of a linear ramp 100 -> 1100 over 10 s is 6000 events, then 1100/s.
    assert s.count_before(10.0) == 6000
    assert s.count_before(11.0) == 7100
    t = s.offsets(0, 7100)
    assert np.all(np.diff(t) > 0)
    # Instantaneous rate from spacing agrees with the ramp.
    assert 1 / (t[5001] - t[5000]) == pytest.approx(s.rate_at(t[5000]), rel=1e-2)


def test_steps_with_a_zero_step_emit_nothing_in_it() -> None:
    s = steps([100, 0, 200], 10).bind(0.0)
    t = s.offsets(0, 3000)
    assert not np.any((t > 10.0) & (t < 20.0))
    assert s.count_before(30.0) == 3000


def test_shapes_parse_and_report_bad_input() -> None:
    curve = lambda _t: 1.0  # noqa: E731
    assert parse_shape("ramp:500/s..5k/s:60s", None, curve).knots == ((0.0, 500.0), (60.0, 5000.0))
    assert parse_shape("steps:1k/s,2k/s:30s", None, curve).kind == "steps"
    assert parse_shape("daily", 100.0, curve).kind == "daily"
    for bad in ("ramp:500/s:60s", "zigzag", "steps::30s", "ramp:a..b:1s"):
        with pytest.raises(ConfigError, match="--shape"):
            parse_shape(bad, 100.0, curve)


def test_daily_schedule_follows_the_curve() -> None:
    # A curve that is 2x for the first half of each UTC day and 0 for the second half.
    from producer.runtime.rate import daily

    s = daily(10.0, lambda t: 2.0 if (t % 86400) < 43200 else 0.0).bind(0.0)
    # Sampled every 5 min and interpolated: nearly all events fall in the first half-day.
    t = s.offsets(0, s.count_before(86400.0))
    assert len(t) == pytest.approx(864_000, rel=0.01)
    assert np.mean((t % 86400) < 43500) > 0.99


def test_a_schedule_steered_from_a_time_on_keeps_what_came_before() -> None:
    schedule = constant(100.0).bind(0.0)
    schedule.hold_from(10.0, 400.0)
    assert schedule.expected(10.0) == pytest.approx(1_000.0)
    assert schedule.expected(12.0) == pytest.approx(1_800.0)
    assert schedule.rate_at(5.0) == 100.0 and schedule.rate_at(11.0) == 400.0
    schedule.hold_from(3.0, 50.0)  # never before the last change
    assert schedule.expected(10.0) == pytest.approx(1_000.0) and schedule.rate_at(11.0) == 50.0

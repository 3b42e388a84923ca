"""The live view: what it shows and that it fits an 80-column terminal."""

from __future__ import annotations

import io

import numpy as np
import pytest
from click.testing import CliRunner
from rich.console import Console

from producer.cli import commands as cli_module
from producer.cli.commands import cli, planned_events, realtime_hint
from producer.cli.live import LiveView, sparkline
from producer.config.settings import resolve
from producer.errors import ConfigError
from producer.runtime.stats import RunStats


def busy_stats() -> RunStats:
    """Counters as large as a long run gets, with every optional row shown."""
    s = RunStats(sink="firehose", seed=2_147_483_647, target_rate=1_000_000.0, clock="simulated")
    s.destination = "firehose netflix-events-with-a-rather-long-delivery-stream-name (us-east-1)"
    s.generated, s.delivered, s.dead_lettered, s.failed = 123_456_789, 123_000_000, 4_567_890, 1_234_567
    s.active_sessions, s.viewers = 1_234_567, 2_500_000
    s.batches, s.bytes_sent, s.elapsed_s, s.lag_s = 2_345_678, 987_654_321_000, 98_765.4, 1234.5
    s.calls, s.retried, s.throttled, s.pace = 2_345_678, 1_234_567, 7_654_321, "sink-bound"
    s.latency.add([12.5, 250.0, 31_000.0])
    s.event_lag.add([480.0, 512.0, 1_950.0])
    s.activity = 1_234.5
    s.send_limited, s.send_rate = True, {"accepting_bytes_per_s": 1_048_576.0, "cuts": 12}
    s.event_types = np.array([10, 20, 30, 40, 50, 60, 70], dtype=np.int64)
    return s


@pytest.mark.parametrize("total", [None, 200_000_000])
def test_live_view_fits_80_columns_without_wrapping(total: int | None) -> None:
    view = LiveView(destination="lake ./lake", file=io.StringIO(), total=total)
    view._rate = 987_654.3
    view._history.extend([1e6] * 40)  # a full sparkline
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False, color_system=None)
    table = view.render(busy_stats())
    console.print(table)
    lines = out.getvalue().rstrip("\n").splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines), "\n".join(lines)
    assert len(lines) == table.row_count, "one line per row: nothing wrapped"
    text = out.getvalue()
    # Labels and numbers are never cut short (only the destination may be, with an ellipsis).
    assert "achieved 987,654/s  sink-bound: sink too slow" in text, text
    assert "accepting ~1.0 MB/s: calls paced to it (quota-bound)" in text, text
    labels = (
        "producer",
        "progress" if total else "rate",
        "sessions",
        "batches",
        "latency",
        "types",
    )
    for label in labels:
        assert label in text, text
    # Numbers are never cut short (only the destination may be, with an ellipsis).
    # The population too small for the rate says so, naming the setting to raise.
    for shown in ("123,456,789 generated", "4,567,890 dead-lettered", "1,234,567 failed", "PLAY_STOP",
                  "1,234.5x the reference: too few viewers (raise --accounts)",
                  "p99 1972.54 ms after the event happened"):  # fmt: skip
        assert shown in text, text
    if total:
        assert "62%  of 200,000,000  ETA" in text
    else:
        assert "ETA" not in text


def test_the_sparkline_draws_each_second_of_the_accepted_rate_against_the_target(monkeypatch) -> None:
    # The top is the target, or the largest value when one goes past it.
    assert sparkline([0.0, 250.0, 500.0, 1000.0, 2000.0], top=1000.0) == " ▁▂▄█"
    assert sparkline([0.0, 500.0, 1000.0], top=1000.0) == " ▄█"
    assert sparkline([3.0, 6.0]) == "▄█"  # no target: the largest value is the top
    clock = iter(float(t) for t in range(100))
    monkeypatch.setattr("producer.cli.live.time.monotonic", lambda: next(clock))
    view = LiveView(destination="null", file=io.StringIO(), total=None)
    s = RunStats(sink="null", seed=1, target_rate=100.0, clock="realtime")
    for delivered in (0, 100, 150, 250):  # a second apart: 100/s, 50/s, 100/s
        s.delivered = delivered
        view.update(s)
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(view.render(s))
    assert "accepted  █▄█  per second, last 3 s" in out.getvalue(), out.getvalue()


def test_progress_bar_counts_down_to_the_end() -> None:
    view = LiveView(destination="null", file=io.StringIO(), total=1000)
    view._rate = 100.0
    s = RunStats(sink="null", seed=1, target_rate=100.0, clock="realtime")
    s.generated = 250
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(view.render(s))
    assert " 25%  of 1,000  ETA 0:08" in out.getvalue()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (
            {"count": "1e6"},
            "runs in real time at 500/s: about 33 min; add --start <time> to generate as fast as possible",
        ),
        ({"duration": "3h", "rate": "2k/s"}, "runs in real time at 2,000/s: about 3.0 h"),
        ({"count": "1e6", "duration": "5m"}, "about 5 min"),
    ],
)
def test_a_long_realtime_run_says_how_long_it_takes(flags: dict[str, str], expected: str) -> None:
    hint = realtime_hint(resolve(flags, {}))
    assert hint is not None and expected in hint


@pytest.mark.parametrize(
    "flags",
    [
        {"count": "20000"},  # 40 s at 500/s
        {"count": "1e6", "start": "2026-01-27"},  # simulated: as fast as possible
        {},  # until Ctrl-C: no end to announce
    ],
)
def test_short_simulated_or_open_ended_runs_say_nothing(flags: dict[str, str]) -> None:
    assert realtime_hint(resolve(flags, {})) is None


def test_planned_events_of_finite_runs() -> None:
    assert planned_events(resolve({"count": "1e6"}, {})) == 1_000_000
    assert planned_events(resolve({"duration": "10s", "rate": "50/s"}, {})) == 500
    window = {"start": "2026-01-27", "end": "2026-01-27T01:00:00Z", "rate": "10/s"}
    assert planned_events(resolve(window, {})) == 36_000
    assert planned_events(resolve({}, {})) is None


def test_the_hint_is_printed_at_the_start_even_when_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*args: object, **kwargs: object) -> None:
        raise ConfigError("stopped before running")

    monkeypatch.setattr(cli_module, "run", refuse)
    result = CliRunner().invoke(cli, ["run", "--sink", "null", "--count", "1e6", "--quiet"], env={})
    lines = result.stderr.strip().splitlines()
    assert lines[0] == (
        "netflix-producer: runs in real time at 500/s: about 33 min; "
        "add --start <time> to generate as fast as possible"
    )
    assert "stopped before running" in lines[-1]

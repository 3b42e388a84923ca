"""bench/suite.py: the summary table of docs/performance.md, rendered from results dicts."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

# bench/ is a directory of scripts, not a package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import suite

STARTED = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def results() -> dict[str, dict[str, Any]]:
    """One synthetic results dict per script, with the keys the summary reads."""
    code = {"git_commit": "abc1234", "producer_modified": False}
    pacing_runs = [
        {
            "target_per_s": r,
            "max_abs_window_error_pct": 0.09,
            "lag_ms_p99": 12.3,
            "event_lag_ms_p99": 512.0,
            "cpu_pct_steady": 8.8,
        }
        for r in (500.0, 5000.0, 50000.0)
    ]
    figures = {
        "generate.py": {
            "library": {"events_per_cpu_s": 838_000},
            "speedup_cpu": 15.6,
            "sweep": [{"events_per_cpu_s": n} for n in (612_000, 655_000, 701_000, 760_000, 802_000)],
            "sweep_spread": 1.31,
        },
        "memory.py": {"peak_rss_mb_vmhwm": 250.2, "drift_mb_10_to_100": 2.2},
        "pacing.py": {"runs": pacing_runs},
        "ship.py": {
            "variants": {
                "fast": {"events_per_cpu_s": 389_242},
                "fast, pack 5KB": {"events_per_cpu_s": 451_473},
            },
            "fast_over_botocore_cpu": 3.147,
            "fast_over_aiobotocore_cpu": 2.309,
            "fast_200_over_aiobotocore_cpu": 2.1,
            "ratio_cpu": 0.734,
        },
        "quota.py": {
            "cases": [
                {
                    "case": "quota-bound",
                    "accepted_bytes_per_s": 0.87 * 1024 * 1024,
                    "throttled_share_of_sent": 0.55,
                    "summary": {"dead_lettered": 710},
                },
                {"case": "random-throttling", "accepted_events_per_s": 968.0},
            ]
        },
        "locust_worker.py": {
            "fast": {"records_per_s": 220_469},
            "product": {"records_per_s": 102_672},
            "fast_over_botocore": 2.147,
        },
        "moto_ceiling.py": {
            "calls_per_s": 84.9,
            "records_per_s": 42_451,
            "server_cpu_ms_per_call": 10.4,
            "server_cpu_share_of_wall": 0.88,
        },
    }
    return {script: {"code": code, **fig} for script, fig in figures.items()}


def outcomes(**override: suite.Outcome) -> list[suite.Outcome]:
    done = {
        script: suite.Outcome(script=script, returncode=0, seconds=10.0, figures=fig)
        for script, fig in results().items()
    }
    return list({**done, **override}.values())


def info(quick: bool = False) -> suite.RunInfo:
    return suite.RunInfo(
        started=STARTED,
        finished=STARTED + timedelta(minutes=8),
        command="make bench",
        quick=quick,
        code={"git_commit": "abc1234", "producer_modified": True},
        machine={"nproc": 2, "cpu_model": "AMD EPYC", "ram_gib": 23.5, "kernel": "6.18.44"},
        versions={"Python": "3.11.7", "numpy": "2.4.6"},
    )


def row(markdown: str, label: str) -> list[str]:
    """The cells of the table row whose figure is ``label``."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[1] == label:
            return cells
    raise AssertionError(f"no row {label!r} in:\n{markdown}")


def test_every_figure_is_rendered_with_its_value_target_and_verdict() -> None:
    md = suite.render_summary(outcomes(), info())

    assert "## Summary of the last `make bench`" in md
    assert "2026-11-28 08:00–08:08 UTC" in md
    assert "commit `abc1234`, **with uncommitted changes in `producer/`**" in md
    assert "2 CPUs (`nproc`), AMD EPYC, 23.5 GiB RAM, Linux 6.18.44" in md
    assert "Python 3.11.7, numpy 2.4.6" in md
    assert "| benchmark | figure | value | target | met |" in md
    assert row(md, "realistic events per CPU-s (generation + encoding)") == [
        "`generate.py`",
        "realistic events per CPU-s (generation + encoding)",
        "838,000",
        "≥ 600,000",
        "yes",
    ]
    assert row(md, "speed-up over Faker + `json.dumps`, per CPU-s")[2:] == ["15.6×", "≥ 15×", "yes"]
    assert row(md, "peak RSS (VmHWM), 1M profiles, 10M events")[2:] == ["250 MB", "≤ 300 MB", "yes"]
    assert row(md, "50,000/s: p99 emission lag")[2:] == ["12.3 ms", "≤ 20 ms", "yes"]
    assert row(md, "`--pack 5KB` / unpacked, fast transport, per CPU-s")[2:] == ["1.16×", "", ""]
    assert row(md, "moto server, records/s")[2:] == ["42,451", "", ""]
    assert "10.4 ms of CPU per call" in md
    # Every figure is one row, and nothing is reported as missing.
    assert sum(line.startswith("| `") for line in md.splitlines()) == len(suite.FIGURES)
    assert "not in the results" not in md and "failed" not in md


def test_a_missed_target_reads_no_with_its_shortfall() -> None:
    md = suite.render_summary(outcomes(), info())

    assert row(md, "one worker, `--transport fast`, records/s")[2:] == [
        "220,469",
        "≥ 250,000",
        "**no** (−12 %)",
    ]
    assert row(md, "producer, botocore transport / plain aiobotocore (pre-built batches), per CPU-s")[2:] == [
        "73 %",
        "≥ 80 %",
        "**no** (−8 %)",
    ]
    # An upper bound missed reads as how far above it the value is.
    assert suite.Target(300.0, False, "≤ 300 MB").met(351.0) == "**no** (+17 %)"
    assert suite.Target(0.5, False, "≤ 0.5 %").met(0.5) == "yes"


def test_a_failed_or_missing_benchmark_is_shown_as_such() -> None:
    failed = suite.Outcome(script="ship.py", returncode=1, seconds=3.0, figures=None)
    silent = suite.Outcome(script="memory.py", returncode=0, seconds=3.0, figures=None)
    md = suite.render_summary(outcomes(**{"ship.py": failed, "memory.py": silent}), info())

    fast = row(md, "`--transport fast`, with generation, events per CPU-s")
    assert fast[2:] == ["**failed (exit code 1)**", "≥ 250,000", "—"]
    assert row(md, "peak RSS (VmHWM), 1M profiles, 10M events")[2:] == [
        "**wrote no results**",
        "≤ 300 MB",
        "—",
    ]
    # The others are unaffected.
    assert row(md, "one worker, botocore transport, records/s")[2:] == ["102,672", "≥ 100,000", "yes"]

    without_moto = [o for o in outcomes() if o.script != "moto_ceiling.py"]
    assert row(suite.render_summary(without_moto, info()), "moto server, records/s")[2] == "**not run**"


def test_a_key_missing_from_a_results_file_is_shown_not_raised() -> None:
    broken = suite.Outcome(script="generate.py", returncode=0, seconds=1.0, figures={"library": {}})
    md = suite.render_summary(outcomes(**{"generate.py": broken}), info())

    assert row(md, "realistic events per CPU-s (generation + encoding)")[2] == "**not in the results**"


def test_a_quick_run_says_so() -> None:
    assert "**Quick run**" in suite.render_summary(outcomes(), info(quick=True))
    assert "**Quick run**" not in suite.render_summary(outcomes(), info())


def test_a_quick_run_gives_no_verdict_on_the_targets() -> None:
    full = suite.render_summary(outcomes(), info())
    quick = suite.render_summary(outcomes(), info(quick=True))
    assert "| yes |" in full or "| **no**" in full
    assert "| yes |" not in quick and "**no**" not in quick
    assert "| n/a (quick) |" in quick


def test_replacing_between_markers_leaves_the_rest_of_the_document_byte_identical() -> None:
    head = "# Performance\r\n\nIntro paragraph, hand-written.\n\n"
    tail = "\n\n**Measured** by hand: 838,000 | 15.6×\n## Reproduce\n\tmake bench\n"
    document = f"{head}{suite.START_MARKER}\nRun `make bench` to fill this in.\n{suite.END_MARKER}{tail}"
    section = suite.render_summary(outcomes(), info())

    updated = suite.replace_between_markers(document, section)

    assert updated.startswith(head + suite.START_MARKER + "\n")
    assert updated.endswith("\n" + suite.END_MARKER + tail)
    assert section.strip("\n") in updated
    assert "fill this in" not in updated
    # Writing again gives the same document: nothing accumulates between the markers.
    assert suite.replace_between_markers(updated, section) == updated


def test_a_document_without_both_markers_is_refused() -> None:
    with pytest.raises(suite.MarkersMissing):
        suite.replace_between_markers(f"# Performance\n{suite.START_MARKER}\n", "x")
    with pytest.raises(suite.MarkersMissing):
        suite.replace_between_markers(f"{suite.END_MARKER}\n{suite.START_MARKER}\n", "x")


def test_results_from_before_this_run_are_never_used(tmp_path: Path) -> None:
    path = tmp_path / "generate.json"
    path.write_text(json.dumps({"benchmark": "generate", "date": "2026-11-28T07:59:59Z"}))
    assert suite.fresh_results(path, STARTED) is None

    path.write_text(json.dumps({"benchmark": "generate", "date": "2026-11-28T08:00:00Z"}))
    assert suite.fresh_results(path, STARTED + timedelta(microseconds=500_000)) == {
        "benchmark": "generate",
        "date": "2026-11-28T08:00:00Z",
    }
    assert suite.fresh_results(tmp_path / "missing.json", STARTED) is None


def test_a_commit_landing_during_the_run_is_flagged() -> None:
    later = {**results()["pacing.py"], "code": {"git_commit": "def5678"}}
    moved = suite.Outcome(script="pacing.py", returncode=0, seconds=1.0, figures=later)
    md = suite.render_summary(outcomes(**{"pacing.py": moved}), info())

    assert "**the commit changed during the run**: abc1234, def5678" in md
    assert "changed during the run" not in suite.render_summary(outcomes(), info())

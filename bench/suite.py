"""Every benchmark in bench/, one at a time, and the summary table of docs/performance.md.

Runs generate.py, memory.py, pacing.py, ship.py, quota.py, locust_worker.py and moto_ceiling.py,
each in its own process, then reads the ``bench/results/<name>.json`` each one wrote in
this run and rewrites the part of docs/performance.md between ``<!-- bench:start -->``
and ``<!-- bench:end -->``. A script that fails, or writes no results, is shown as such;
results left by an earlier run are never used.

    .venv/bin/python bench/suite.py                    # ~8 min, writes docs/performance.md
    .venv/bin/python bench/suite.py --quick            # ~1 min, prints the summary only
    .venv/bin/python bench/suite.py --quick --write    # the same, and writes it
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from report import RESULTS_DIR, code_under_test, machine

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DOC = ROOT / "docs" / "performance.md"
START_MARKER = "<!-- bench:start -->"
END_MARKER = "<!-- bench:end -->"
#: In this order, one at a time: the cheap ones first, so a broken tree shows early.
SCRIPTS = (
    "generate.py",
    "memory.py",
    "pacing.py",
    "ship.py",
    "quota.py",
    "locust_worker.py",
    "moto_ceiling.py",
)
VERSIONED = ("numpy", "Faker", "botocore", "aiobotocore", "boto3", "aiohttp", "urllib3", "locust", "moto")


class MarkersMissing(Exception):
    """The document has no ``<!-- bench:start -->`` ... ``<!-- bench:end -->`` pair."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What one benchmark script left behind in this run."""

    script: str
    returncode: int
    seconds: float
    #: The results JSON this run wrote, or None when it wrote none.
    figures: dict[str, Any] | None

    @property
    def problem(self) -> str | None:
        """Why there are no figures to show, or None when there are."""
        if self.returncode != 0:
            return f"failed (exit code {self.returncode})"
        if self.figures is None:
            return "wrote no results"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """When, how and on what the benchmarks ran."""

    started: datetime
    finished: datetime
    command: str
    quick: bool
    code: dict[str, Any]
    machine: dict[str, Any]
    versions: dict[str, str]


@dataclass(frozen=True, slots=True)
class Target:
    """A figure's target: ``value >= bound`` (``at_least``) or ``value <= bound``."""

    bound: float
    at_least: bool
    text: str

    def met(self, value: float) -> str:
        """``yes``, or ``**no**`` with how far the value is from the bound."""
        if (value >= self.bound) if self.at_least else (value <= self.bound):
            return "yes"
        off = (value - self.bound) / self.bound * 100
        digits = 1 if abs(off) < 1 else 0
        return f"**no** ({off:+.{digits}f} %)".replace("-", "−")


@dataclass(frozen=True, slots=True)
class Figure:
    """One row of the summary: where the value is in a script's results and how it reads."""

    script: str
    label: str
    value: Callable[[dict[str, Any]], float]
    show: Callable[[float], str]
    target: Target | None = None


def _count(v: float) -> str:
    return f"{v:,.0f}"


def _times(digits: int) -> Callable[[float], str]:
    return lambda v: f"{v:.{digits}f}×"


def _pct(v: float) -> str:
    return f"{v * 100:.0f} %"


def _case(fig: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(next(c for c in fig["cases"] if c["case"] == name))


def _pacing(rate: float, key: str) -> Callable[[dict[str, Any]], float]:
    def value(fig: dict[str, Any]) -> float:
        return float(next(r[key] for r in fig["runs"] if r["target_per_s"] == rate))

    return value


def _pacing_rows() -> list[Figure]:
    rows = []
    for rate in (500, 5_000, 50_000):
        rows += [
            Figure(
                "pacing.py",
                f"{rate:,}/s: worst 10 s window error",
                _pacing(rate, "max_abs_window_error_pct"),
                lambda v: f"{v:.2f} %",
                Target(0.5, False, "≤ 0.5 %"),
            ),
            Figure(
                "pacing.py",
                f"{rate:,}/s: p99 emission lag",
                _pacing(rate, "lag_ms_p99"),
                lambda v: f"{v:.1f} ms",
                Target(20.0, False, "≤ 20 ms"),
            ),
            Figure(
                "pacing.py",
                f"{rate:,}/s: p99 event lag (sent after it happened)",
                _pacing(rate, "event_lag_ms_p99"),
                lambda v: f"{v:.0f} ms",
                Target(2000.0, False, "≤ 2,000 ms"),
            ),
        ]
    rows.append(
        Figure(
            "pacing.py",
            "50,000/s: CPU, steady",
            _pacing(50_000, "cpu_pct_steady"),
            lambda v: f"{v:.1f} %",
            Target(15.0, False, "≤ 15 %"),
        )
    )
    return rows


#: Every performance target, and the figures that explain them, in the order of the table.
FIGURES: tuple[Figure, ...] = (
    Figure(
        "generate.py",
        "realistic events per CPU-s (generation + encoding)",
        lambda f: f["library"]["events_per_cpu_s"],
        _count,
        Target(600_000, True, "≥ 600,000"),
    ),
    Figure(
        "generate.py",
        "speed-up over Faker + `json.dumps`, per CPU-s",
        lambda f: f["speedup_cpu"],
        _times(1),
        Target(15.0, True, "≥ 15×"),
    ),
    *(
        Figure(
            "generate.py",
            f"{name}: events per CPU-s (generation + encoding, set-up excluded)",
            lambda f, i=i: f["sweep"][i]["events_per_cpu_s"],
            _count,
            Target(600_000, True, "≥ 600,000"),
        )
        for i, name in enumerate(("20/s", "200/s", "2,000/s", "50,000/s", "1M/s"))
    ),
    Figure(
        "generate.py",
        "by rate: slowest to fastest",
        lambda f: f["sweep_spread"],
        _times(2),
        Target(1.5, False, "≤ 1.5×"),
    ),
    Figure(
        "memory.py",
        "peak RSS (VmHWM), 1M profiles, 10M events",
        lambda f: f["peak_rss_mb_vmhwm"],
        lambda v: f"{v:.0f} MB",
        Target(300.0, False, "≤ 300 MB"),
    ),
    Figure(
        "memory.py",
        "RSS growth from 10 % to 100 % of the events",
        lambda f: f["drift_mb_10_to_100"],
        lambda v: f"{v:+.1f} MB",
    ),
    *_pacing_rows(),
    Figure(
        "ship.py",
        "`--transport fast`, with generation, events per CPU-s",
        lambda f: f["variants"]["fast"]["events_per_cpu_s"],
        _count,
        Target(250_000, True, "≥ 250,000"),
    ),
    Figure(
        "ship.py",
        "`--transport fast` / botocore transport, per CPU-s, same run",
        lambda f: f["fast_over_botocore_cpu"],
        _times(2),
        Target(2.0, True, "≥ 2×"),
    ),
    Figure(
        "ship.py",
        "`--transport fast` / plain aiobotocore (pre-built batches), per CPU-s",
        lambda f: f["fast_over_aiobotocore_cpu"],
        _times(2),
        Target(2.0, True, "≥ 2×"),
    ),
    Figure(
        "ship.py",
        "`--transport fast` at a simulated 200/s / plain aiobotocore (pre-built batches), per CPU-s",
        lambda f: f["fast_200_over_aiobotocore_cpu"],
        _times(2),
        Target(2.0, True, "≥ 2×"),
    ),
    Figure(
        "ship.py",
        "producer, botocore transport / plain aiobotocore (pre-built batches), per CPU-s",
        lambda f: f["ratio_cpu"],
        _pct,
        Target(0.8, True, "≥ 80 %"),
    ),
    Figure(
        "ship.py",
        "`--transport fast --pack 5KB`, events per CPU-s",
        lambda f: f["variants"]["fast, pack 5KB"]["events_per_cpu_s"],
        _count,
        Target(600_000, True, "≥ 600,000"),
    ),
    Figure(
        "ship.py",
        "`--pack 5KB` / unpacked, fast transport, per CPU-s",
        lambda f: (
            f["variants"]["fast, pack 5KB"]["events_per_cpu_s"] / f["variants"]["fast"]["events_per_cpu_s"]
        ),
        _times(2),
    ),
    Figure(
        "locust_worker.py",
        "one worker, `--transport fast`, records/s",
        lambda f: f["fast"]["records_per_s"],
        _count,
        Target(250_000, True, "≥ 250,000"),
    ),
    Figure(
        "locust_worker.py",
        "one worker, botocore transport, records/s",
        lambda f: f["product"]["records_per_s"],
        _count,
        Target(100_000, True, "≥ 100,000"),
    ),
    Figure(
        "locust_worker.py",
        "fast / botocore transport",
        lambda f: f["fast_over_botocore"],
        _times(2),
    ),
    Figure(
        "quota.py",
        "1 MiB/s stream at 3x demand: share of the quota accepted",
        lambda f: _case(f, "quota-bound")["accepted_bytes_per_s"] / (1024 * 1024),
        _pct,
        Target(0.95, True, "≥ 95 %"),
    ),
    Figure(
        "quota.py",
        "1 MiB/s stream at 3x demand: records sent that were throttled",
        lambda f: _case(f, "quota-bound")["throttled_share_of_sent"],
        _pct,
        Target(0.10, False, "≤ 10 %"),
    ),
    Figure(
        "quota.py",
        "1 MiB/s stream at 3x demand: events dead-lettered (wanted: none)",
        lambda f: float(_case(f, "quota-bound")["summary"]["dead_lettered"] or 0),
        _count,
    ),
    Figure(
        "quota.py",
        "30 % of records throttled at random, 2,000/s: share of the target accepted",
        lambda f: _case(f, "random-throttling")["accepted_events_per_s"] / 2000.0,
        _pct,
        Target(0.95, True, "≥ 95 %"),
    ),
    Figure(
        "moto_ceiling.py",
        "moto server, PutRecordBatch calls/s (500 records each)",
        lambda f: f["calls_per_s"],
        _count,
    ),
    Figure("moto_ceiling.py", "moto server, records/s", lambda f: f["records_per_s"], _count),
)


def _row(figure: Figure, outcome: Outcome | None, *, quick: bool = False) -> tuple[str, str]:
    """The value and met cells of one figure (no verdict on a quick run: its sizes are not the targets')."""
    target_missing = "—" if figure.target else ""
    if outcome is None:
        return "**not run**", target_missing
    if outcome.problem is not None:
        return f"**{outcome.problem}**", target_missing
    assert outcome.figures is not None
    try:
        value = float(figure.value(outcome.figures))
    except (KeyError, StopIteration, TypeError, ZeroDivisionError):
        return "**not in the results**", target_missing
    if figure.target is None:
        return figure.show(value), ""
    return figure.show(value), "n/a (quick)" if quick else figure.target.met(value)


def _when(info: RunInfo) -> str:
    start, end = info.started.astimezone(UTC), info.finished.astimezone(UTC)
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


def _code(info: RunInfo, outcomes: Sequence[Outcome]) -> str:
    commit = info.code.get("git_commit")
    if commit is None:
        where = info.code.get("producer_path", "?")
        text = f"`producer` {info.code.get('version', '?')} from `{where}`, not a git tree"
    else:
        text = f"commit `{commit}`"
        if info.code.get("producer_modified"):
            text += ", **with uncommitted changes in `producer/`**"
    # Each script notes the commit it imported; another commit can land during a run of minutes.
    seen: set[str] = set()
    for o in outcomes:
        code = (o.figures or {}).get("code") or {}
        if code.get("git_commit"):
            seen.add(str(code["git_commit"]))
    if commit is not None and seen - {commit}:
        text += f" (**the commit changed during the run**: {', '.join(sorted(seen | {commit}))})"
    return text


def _machine(info: RunInfo) -> str:
    m = info.machine
    return (
        f"{m.get('nproc', '?')} CPUs (`nproc`), {m.get('cpu_model', '?')}, "
        f"{m.get('ram_gib', '?')} GiB RAM, Linux {m.get('kernel', '?')}"
    )


def _runs(outcomes: Sequence[Outcome]) -> str:
    parts = []
    for o in outcomes:
        load = ((o.figures or {}).get("machine") or {}).get("load_average_at_start") or [None]
        at_start = f", load {load[0]}" if load[0] is not None else ""
        parts.append(f"`{o.script}` {o.seconds:.0f} s{at_start}")
    return "; ".join(parts)


def render_summary(outcomes: Sequence[Outcome], info: RunInfo) -> str:
    """The markdown of the summary section: facts about the run, then one table of every target."""
    by_script = {o.script: o for o in outcomes}
    lines = [
        "<!-- written by bench/suite.py from bench/results/*.json; edits here are overwritten -->",
        "",
        "## Summary of the last `make bench`",
        "",
    ]
    if info.quick:
        lines += [
            "**Quick run** (`--quick`): every script ran at smoke-check size, so these figures "
            "are not comparable with the targets, and the sizes in the labels do not apply.",
            "",
        ]
    versions = ", ".join(f"{name} {version}" for name, version in info.versions.items())
    lines += [
        f"- Date: {_when(info)}",
        f"- Command: `{info.command}`, each script in its own process, one at a time",
        f"- Code: {_code(info, outcomes)}",
        f"- Machine: {_machine(info)}",
        f"- Versions: {versions}",
        f"- Runs (wall time, 1-minute load average at the start): {_runs(outcomes)}",
        "",
        "| benchmark | figure | value | target | met |",
        "|---|---|---:|---:|---|",
    ]
    for figure in FIGURES:
        value, met = _row(figure, by_script.get(figure.script), quick=info.quick)
        target = figure.target.text if figure.target else ""
        lines.append(f"| `{figure.script}` | {figure.label} | {value} | {target} | {met} |")
    ceiling = by_script.get("moto_ceiling.py")
    moto = (ceiling.figures or {}) if ceiling is not None and ceiling.problem is None else {}
    cost = ""
    if "server_cpu_ms_per_call" in moto and "server_cpu_share_of_wall" in moto:
        cost = (
            f" Its server spent {moto['server_cpu_ms_per_call']:.1f} ms of CPU per call "
            f"({moto['server_cpu_share_of_wall'] * 100:.0f} % of a core), so the server, "
            "not the client, sets that ceiling."
        )
    lines += [
        "",
        "moto has no target: it is the test suite's endpoint, not the benchmarks'." + cost + " The "
        "shipping benchmarks send to `bench/ship.py`'s discard endpoint instead.",
        "",
        "The sections below explain each figure, with the figures of a run checked by hand "
        "(named there), which may be older than this summary.",
    ]
    return "\n".join(lines) + "\n"


def replace_between_markers(document: str, section: str) -> str:
    """``document`` with everything between the markers replaced by ``section``; the rest unchanged."""
    start = document.find(START_MARKER)
    end = document.find(END_MARKER, start + len(START_MARKER)) if start >= 0 else -1
    if start < 0 or end < 0:
        raise MarkersMissing(f"no {START_MARKER} ... {END_MARKER} pair")
    body = section.strip("\n")
    return f"{document[: start + len(START_MARKER)]}\n{body}\n{document[end:]}"


def fresh_results(path: Path, since: datetime) -> dict[str, Any] | None:
    """The results in ``path`` if they were written at or after ``since``; None otherwise."""
    try:
        figures: dict[str, Any] = json.loads(path.read_text())
        written = datetime.fromisoformat(figures["date"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # The results' date has whole seconds.
    return figures if written >= since.replace(microsecond=0) else None


def run_script(script: str, *, quick: bool) -> Outcome:
    """Run one benchmark in its own process, its output going to the terminal."""
    args = [str(BENCH_DIR / script), *(["--quick"] if quick else [])]
    print(f"\n=== bench/{' '.join([script, *args[1:]])}", flush=True)
    since = datetime.now(UTC)
    t0 = time.perf_counter()
    returncode = subprocess.run([sys.executable, *args], cwd=ROOT, check=False).returncode
    seconds = time.perf_counter() - t0
    figures = fresh_results(RESULTS_DIR / f"{Path(script).stem}.json", since)
    return Outcome(script=script, returncode=returncode, seconds=seconds, figures=figures)


def machine_facts() -> dict[str, Any]:
    """nproc, CPU model, RAM and kernel of this machine."""
    ram_gib: float | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) * 1024 / 2**30, 1)
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": machine()["cpu_model"],
        "ram_gib": ram_gib,
        "kernel": platform.release(),
    }


def versions() -> dict[str, str]:
    """Python's version and those of the packages the figures depend on."""
    found = {"Python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every script with --quick (smoke check)")
    parser.add_argument(
        "--write", action="store_true", help="write docs/performance.md after a --quick run too"
    )
    args = parser.parse_args()
    write = args.write or not args.quick
    # Checked before the benchmarks run, so a missing marker does not cost a whole run.
    if write and not all(marker in DOC.read_text() for marker in (START_MARKER, END_MARKER)):
        sys.exit(f"bench/suite.py: {DOC.relative_to(ROOT)} has no {START_MARKER} ... {END_MARKER} markers")

    started = datetime.now(UTC)
    outcomes = [run_script(script, quick=args.quick) for script in SCRIPTS]
    info = RunInfo(
        started=started,
        finished=datetime.now(UTC),
        command="make bench" if not sys.argv[1:] else " ".join(["bench/suite.py", *sys.argv[1:]]),
        quick=args.quick,
        code=code_under_test(),
        machine=machine_facts(),
        versions=versions(),
    )
    section = render_summary(outcomes, info)
    print(f"\n{section}")
    if write:
        with DOC.open(encoding="utf-8", newline="") as fh:
            document = fh.read()
        try:
            updated = replace_between_markers(document, section)
        except MarkersMissing as exc:
            sys.exit(f"bench/suite.py: {DOC.relative_to(ROOT)}: {exc}")
        with DOC.open("w", encoding="utf-8", newline="") as fh:
            fh.write(updated)
        print(f"summary written to {DOC.relative_to(ROOT)}")
    else:
        print("summary not written (--quick without --write)")
    problems = [f"{o.script} {o.problem}" for o in outcomes if o.problem]
    if problems:
        print("; ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

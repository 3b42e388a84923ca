"""What every benchmark prints and keeps: the machine, a table of figures, and the figures as JSON.

Not a benchmark itself; ``bench/generate.py``, ``bench/pacing.py`` and ``bench/memory.py``
import it (running a script puts ``bench/`` on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Taken at import, before the benchmark loads the machine itself.
_LOAD_AT_START = os.getloadavg()


def machine() -> dict[str, Any]:
    """The facts a reader needs to compare figures between machines."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in _LOAD_AT_START],
    }


def code_under_test() -> dict[str, Any]:
    """Which ``producer`` was imported, and its git commit (with a dirty flag) when it has one."""
    import producer

    root = Path(producer.__file__).resolve().parent
    info: dict[str, Any] = {"producer_path": str(root), "version": producer.__version__}

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if commit is not None:
        info["git_commit"] = commit
        info["producer_modified"] = bool(git("status", "--porcelain", "--", "."))
    return info


def rss_bytes(field: str = "VmRSS") -> int:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a small left/right aligned table (first column left, others right)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    print(f"\n{title}")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def verdict(met: bool) -> str:
    """How a target reads in a table: a figure, never an assertion."""
    return "met" if met else "MISSED"


def write_results(name: str, figures: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the figures, the machine, the date and the command."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    doc = {
        "benchmark": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "code": code_under_test(),
        **figures,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nfigures written to {path}")
    return path

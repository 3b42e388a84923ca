"""The command in a real pipeline: a reader that stops reading is a normal end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_a_reader_that_closes_the_pipe_ends_the_run_quietly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETFLIX_PRODUCER_")}
    summary_path = tmp_path / "summary.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "producer", "run", "--sink", "stdout", "--count", "100000",
         "--start", "2026-01-27", "--seed", "5", "--summary-json", str(summary_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader has what it wanted: `| head -1`
    _, err_bytes = proc.communicate(timeout=120)
    err = err_bytes.decode()
    assert json.loads(first)["event_id"]
    assert proc.returncode == 0, err
    assert "error" not in err and "Traceback" not in err, err
    assert "the reader closed the pipe" in err, err
    summary = json.loads(summary_path.read_text())
    assert summary["stopped_by"] == "pipe-closed" and summary["error"] is None
    # Honest accounting: what the pipe took is delivered, the rest is not, nothing vanishes.
    assert summary["delivered"] >= 1
    assert summary["generated"] == summary["delivered"] + summary["dead_lettered"] + summary["failed"]
    assert summary["dead_lettered"] == 0 and not (tmp_path / "dead-letters.ndjson").exists()
    assert summary["generated"] < 100_000, "the run stops once nobody reads"


@pytest.mark.slow
def test_summary_json_to_stdout_in_a_shell_pipeline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETFLIX_PRODUCER_")}
    proc = subprocess.run(
        [sys.executable, "-m", "producer", "run", "--sink", "null", "--count", "2000", "--start",
         "2026-01-27", "--summary-json", "-"],
        capture_output=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["generated"] == 2000

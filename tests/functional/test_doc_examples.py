"""Every `netflix-producer` command of the README and docs/ runs as written.

A reader goes through a page in order, so each page's commands run in order in one
fresh directory (a `lake summary` after the `run` above it). A command that runs in
real time, or for long, must say so on its line (a comment naming "realtime", "real
time", "Ctrl-C", "minutes" or "hours"): the test then bounds it, a realtime run with
``--duration 2s``, a long simulated one with ``--count 20000``. Any other command must
finish by itself well within the deadline. Every page starts from a small ``./lake``, as
a reader who produced events before would. Commands that need AWS are left out, each
page's reason listed below; the delivery tests cover them against the moto server.
The dashboard is a server that runs until stopped: tests/spark/test_dashboard.py starts
it on a free port and reads it in a browser.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.polling import RUN_DEADLINE_S

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent

#: What the text says when a command does not end by itself soon.
LONG_RE = re.compile(r"real ?time|ctrl-c|minutes|hours", re.IGNORECASE)
#: What no machine here can run: real AWS resources, or a shell's variables for them.
AWS_RE = re.compile(
    r"--sink (firehose|kinesis|s3)\b|--s3\b|--scenario throttle-storm|--database\b|\$\(?[A-Z(]"
)
#: A server, until Ctrl-C (see the module's docstring).
SERVER_RE = re.compile(r"netflix-producer dashboard\b")
#: "A file of yours" in the docs: stands for any scenario file.
YOUR_SCENARIO = """\
name: my-bug
description: a case of yours
seed: 1
rate: 500/s
count: 5000
clock:
  start: "2026-01-27T00:00:00Z"
"""


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    command: str
    comment: str


def _examples(page: str) -> list[Example]:
    text = (ROOT / page).read_text(encoding="utf-8")
    found = []
    for block in re.finditer(r"```(?:bash|sh|console)\n(.*?)```", text, re.S):
        first = text[: block.start()].count("\n") + 2
        lines = block.group(1).split("\n")
        i = 0
        while i < len(lines):
            at, line = first + i, lines[i]
            while line.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line.rstrip()[:-1] + " " + lines[i].strip()
            i += 1
            line = line.strip().removeprefix("$ ")
            command, _, comment = line.partition(" # ")
            if "netflix-producer" in command and not line.startswith("#"):
                found.append(Example(page, at, command.strip(), comment.strip()))
    return found


def _bounded(example: Example) -> str:
    """The command as the test runs it: bounded when its line says it runs long."""
    command = example.command
    if not LONG_RE.search(example.comment):
        return command
    if "--start" in command or "--scenario" in command:
        return f"{command} --count 20000"
    command = re.sub(r"--duration \S+", "", command)
    return f"{command} --duration 2s"


def _completion(command: str) -> str:
    """A completion line (eval/source): the script it generates, not its installation."""
    m = re.search(r"(_NETFLIX_PRODUCER_COMPLETE=\w+ netflix-producer)", command)
    return m.group(1) if m else command


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_command_of_the_page_runs_as_written(page: str, tmp_path: Path) -> None:
    examples = _examples(page)
    runnable = [e for e in examples if not AWS_RE.search(e.command) and not SERVER_RE.search(e.command)]
    if not runnable:
        pytest.skip(f"{page}: no command that runs without AWS")
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    for name in ("my-bug.yaml", "my-case.yaml"):
        (tmp_path / name).write_text(YOUR_SCENARIO, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETFLIX_PRODUCER_", "AWS_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    # The pages take a reader who has produced events before: ./lake holds some.
    first = [
        "netflix-producer",
        "run",
        "--start",
        "2026-01-27",
        "--count",
        "2000",
        "--quiet",
        "--lake-dir",
        "lake",
    ]
    subprocess.run(first, cwd=tmp_path, env=env, capture_output=True, timeout=RUN_DEADLINE_S, check=True)
    for example in runnable:
        command = _completion(_bounded(example)).replace("/tmp/", f"{tmp_path}/")
        try:
            proc = subprocess.run(
                ["bash", "-o", "pipefail", "-c", command],
                cwd=tmp_path, env=env, capture_output=True, timeout=RUN_DEADLINE_S, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"{page}:{example.line}: `{example.command}` did not finish within {RUN_DEADLINE_S:.0f} s; "
                "if it runs in real time or for long, its line must say so"
            )
        assert proc.returncode == 0, (
            f"{page}:{example.line}: `{command}` exited {proc.returncode}\n"
            f"{proc.stderr.decode(errors='replace')[-3000:]}"
        )


def test_the_pages_hold_commands_to_check() -> None:
    # The parser finds the README's commands, joins continued lines and reads comments.
    readme = _examples("README.md")
    assert len(readme) >= 20
    backfill = [e for e in readme if "--sink s3" in e.command]
    assert backfill and backfill[0].command.endswith("--gzip"), "a continued line is one command"
    assert all(not e.command.endswith("\\") and "#" not in e.command for e in readme)
    long_ones = [e for e in readme if LONG_RE.search(e.comment)]
    assert long_ones and all(
        "--duration 2s" in _bounded(e) or "--count 20000" in _bounded(e) for e in long_ones
    )

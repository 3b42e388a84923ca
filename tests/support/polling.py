"""Waiting on another process without a fixed sleep.

A test that needs a child to reach some point (a port open, a line written, records
delivered) polls for exactly that, up to a deadline generous enough for a loaded
machine, and fails with what it saw and what the child printed. Children write their
output to files, not pipes, so a test that polls never blocks a child on a full pipe.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

__all__ = ["DEADLINE_S", "RUN_DEADLINE_S", "Child", "wait_until"]

#: How long a test waits for a child to reach a point it polls for.
DEADLINE_S = 120.0
#: How long a test waits for a child to finish a whole run (a count, a duration).
RUN_DEADLINE_S = 300.0

T = TypeVar("T")


class Child:
    """A child process whose stdout and stderr go to files under ``log_dir``.

    ``output()`` reads them back at any time, for assertions and failure messages.
    """

    def __init__(self, args: Sequence[str], *, log_dir: Path, name: str = "child", **popen: object) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.args = list(args)
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=err, **popen)  # type: ignore[call-overload]

    @property
    def pid(self) -> int:
        """The child's process id."""
        return int(self.proc.pid)

    @property
    def returncode(self) -> int | None:
        """The exit code, or None while the child runs."""
        return self.proc.poll()

    def stdout(self) -> str:
        """What the child wrote to stdout so far."""
        return self.stdout_path.read_bytes().decode(errors="replace")

    def stderr(self) -> str:
        """What the child wrote to stderr so far."""
        return self.stderr_path.read_bytes().decode(errors="replace")

    def output(self, tail: int = 4000) -> str:
        """The end of both streams, labelled, for a failure message."""
        state = "running" if self.returncode is None else f"exited {self.returncode}"
        return (
            f"--- {self.name} ({state}): {' '.join(self.args)}\n"
            f"--- stdout:\n{self.stdout()[-tail:]}\n--- stderr:\n{self.stderr()[-tail:]}"
        )

    def wait(self, deadline_s: float = RUN_DEADLINE_S) -> int:
        """Wait for the child to exit; kill it and fail with its output past the deadline."""
        try:
            return int(self.proc.wait(timeout=deadline_s))
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not exit within {deadline_s:.0f} s\n{self.output()}")

    def kill(self) -> None:
        """Kill the child (only this one) if it still runs, and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def wait_until(
    condition: Callable[[], T],
    *,
    what: str,
    deadline_s: float = DEADLINE_S,
    every_s: float = 0.1,
    children: Sequence[Child] = (),
    seen: Callable[[], object] | None = None,
) -> T:
    """Poll ``condition`` until it returns something truthy, and return that.

    Fails the test past ``deadline_s``, or as soon as one of ``children`` exits first
    (the condition can then never come true), with ``what`` was awaited, the last value
    the condition (or ``seen``) gave, and each child's output. An exception raised by
    the condition counts as not yet (a server still starting refuses connections).
    """
    deadline = time.monotonic() + deadline_s
    last: object = None
    while True:
        # Looked at before the condition, so that a child that did its part and then
        # exited is not taken for one that failed.
        exited = [c for c in children if c.returncode is not None]
        try:
            value = condition()
        except Exception as exc:  # the thing polled is not there yet
            value, last = None, f"{type(exc).__name__}: {exc}"  # type: ignore[assignment]
        else:
            last = value
        if value:
            return value
        if seen is not None:
            last = seen()
        if exited or time.monotonic() > deadline:
            why = f"{exited[0].name} exited first" if exited else f"not within {deadline_s:.0f} s"
            logs = "\n".join(c.output() for c in children)
            pytest.fail(f"waiting for {what}: {why}; last seen: {last!r}\n{logs}")
        time.sleep(every_s)


async def turns_until(condition: Callable[[], bool], *, what: str, turns: int = 10_000) -> None:
    """Let the event loop run until ``condition`` holds (no clock involved)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    msg = f"never saw {what} in {turns} turns of the event loop"
    raise AssertionError(msg)

"""The event loop of the commands that produce: one place for it and its signal handling.

``run``, ``replay`` and ``pipeline`` all run their coroutine here. SIGINT (Ctrl-C)
and SIGTERM set the stop event the coroutine was given: the run stops generating,
sends what it holds, closes its sink and still returns its summary. Further
signals set the same event again.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["run_until_interrupted"]

T = TypeVar("T")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_until_interrupted(main: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run ``main(stop)`` in a new event loop; SIGINT and SIGTERM set ``stop``."""

    async def guarded() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, stop.set)
        try:
            return await main(stop)
        finally:
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)

    return asyncio.run(guarded())

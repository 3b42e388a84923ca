"""moto in server mode: a real HTTP AWS endpoint on a free loopback port."""

from __future__ import annotations

import socket
import sys
import urllib.request
from pathlib import Path

from tests.support.polling import Child, wait_until

__all__ = ["free_port", "start_moto_server"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=5) as r:
        return bool(r.status == 200)


def start_moto_server(log_dir: Path, name: str = "moto") -> tuple[Child, str]:
    """Start ``python -m moto.server`` and return it once it answers, with its URL.

    The caller stops it (``Child.kill``); its output is kept under ``log_dir``.
    """
    port = free_port()
    child = Child(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log_dir=log_dir, name=name
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), what=f"{name} to answer on {url}", children=[child])
    except BaseException:
        child.kill()
        raise
    return child, url

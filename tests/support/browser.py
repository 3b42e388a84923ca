"""Pages loaded in a real browser: headless Chromium (Debian's ``chromium``), with the
network disabled, its DOM read back once the page says it has drawn.

Each load is a Chromium process of its own with a profile of its own (tests may run in
parallel). ``--dump-dom`` returns the DOM once the page is idle within a virtual-time
budget; a page not drawn yet is loaded again with a longer budget until a deadline, so a
busy machine is waited for, never a fixed time.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: Where screenshots are kept (outside the working tree; a CI job may collect them).
ARTIFACTS = Path(
    os.environ.get("NETFLIX_PRODUCER_TEST_ARTIFACTS")
    or Path(tempfile.gettempdir()) / "netflix-producer-test-artifacts"
)

#: No network but loopback: every host name resolves nowhere, and any request not to
#: loopback goes to a proxy on a closed port.
_OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=http://127.0.0.1:9")


def chromium() -> str:
    """The Chromium executable; ``make test`` installs it when it is missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        msg = "chromium not found: `make test` installs it (apt-get install chromium)"
        raise AssertionError(msg)
    return found


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", *_OFFLINE, *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip


@dataclass
class Element:
    """An element of interest and what was drawn inside it."""

    attrs: dict[str, str]
    tags: dict[str, int] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)


class _Dom(HTMLParser):
    """The root and body attributes, and every element with an id under the body, with the
    tags and classes of its descendants."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: dict[str, str] = {}
        self.body: dict[str, str] = {}
        self.by_id: dict[str, Element] = {}
        self._open: list[tuple[str, Element | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.root = a
        elif tag == "body":
            self.body = a
        for _, el in self._open:
            if el is not None:
                el.tags[tag] = el.tags.get(tag, 0) + 1
                for c in a.get("class", "").split():
                    el.classes[c] = el.classes.get(c, 0) + 1
        el = Element(a) if "id" in a else None
        if el is not None:
            self.by_id[a["id"]] = el
        if tag not in _VOID:
            self._open.append((tag, el))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                return


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def load(url: str, *, ready: str = "data-rendered", deadline_s: float = 120.0) -> _Dom:
    """The page's DOM once its body carries ``ready`` (or ``data-error``)."""
    budget, end = 10_000, time.monotonic() + deadline_s
    while True:
        proc = _run(
            [f"--virtual-time-budget={budget}", "--dump-dom", url], timeout=max(end - time.monotonic(), 30.0)
        )
        dom = _Dom()
        dom.feed(proc.stdout)
        if ready in dom.body or "data-error" in dom.body or time.monotonic() > end:
            return dom
        budget *= 2


def screenshot(url: str, path: Path, *, width: int = 960, height: int = 2600) -> Path:
    """A PNG of the page at ``path`` (its directory made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [f"--window-size={width},{height}", "--virtual-time-budget=20000", f"--screenshot={path}", url],
        timeout=120,
    )
    return path


@dataclass
class Watched:
    """What :func:`watch` saw: the condition's last value, and what the page logged."""

    value: Any
    errors: list[str]


def watch(url: str, condition: str, *, deadline_s: float = 120.0, shot: Path | None = None) -> Watched:
    """Open ``url`` in Chromium driven over the DevTools protocol, evaluate the JavaScript
    ``condition`` until it is truthy (or the deadline passes), take a screenshot to
    ``shot``, and return its value with every error and warning the page logged."""
    return asyncio.run(_watch(url, condition, deadline_s, shot))


async def _watch(url: str, condition: str, deadline_s: float, shot: Path | None) -> Watched:
    import aiohttp

    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc = subprocess.Popen(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--hide-scrollbars", "--window-size=1280,2400", f"--user-data-dir={profile}", *_OFFLINE,
             "--remote-debugging-port=0", "about:blank"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stderr is not None
            port = None
            for line in proc.stderr:  # Chromium says where DevTools listens, once it does
                m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
                if m:
                    port = int(m.group(1))
                    break
            assert port is not None, "Chromium did not start its DevTools endpoint"
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                    targets = await r.json()
                ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
                async with http.ws_connect(ws_url, max_msg_size=0) as ws:
                    return await _drive(ws, url, condition, deadline_s, shot)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


async def _drive(ws: Any, url: str, condition: str, deadline_s: float, shot: Path | None) -> Watched:
    errors: list[str] = []
    ids = iter(range(1, 1_000_000))

    async def call(method: str, **params: Any) -> dict[str, Any]:
        mine = next(ids)
        await ws.send_json({"id": mine, "method": method, "params": params})
        while True:
            msg = await ws.receive_json()
            if msg.get("id") == mine:
                return dict(msg.get("result") or {})
            event, p = msg.get("method"), msg.get("params") or {}
            if event == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                errors.append(
                    " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                )
            elif event == "Runtime.exceptionThrown":
                errors.append(str(p.get("exceptionDetails", {}).get("text")))
            elif event == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                errors.append(str(p["entry"].get("text")))

    for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
        await call(domain)
    await call("Page.navigate", url=url)
    end = time.monotonic() + deadline_s
    value: Any = None
    while time.monotonic() < end:
        result = await call("Runtime.evaluate", expression=condition, returnByValue=True)
        value = result.get("result", {}).get("value")
        if value:
            break
        await asyncio.sleep(0.25)
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        png = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        shot.write_bytes(base64.b64decode(png["data"]))
    return Watched(value, errors)

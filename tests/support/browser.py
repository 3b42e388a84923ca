"""Pages loaded in a real browser: headless Chromium (Debian's ``chromium``), with the
network disabled, its DOM read back once the page says it has drawn.

Each load is a Chromium process of its own with a profile of its own (tests may run in
parallel). ``--dump-dom`` returns the DOM once the page is idle within a virtual-time
budget; a page not drawn yet is loaded again with a longer budget until a deadline, so a
busy machine is waited for, never a fixed time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Where screenshots are kept (outside the working tree; a CI job may collect them).
ARTIFACTS = Path(
    os.environ.get("NETFLIX_PRODUCER_TEST_ARTIFACTS")
    or Path(tempfile.gettempdir()) / "netflix-producer-test-artifacts"
)

#: No network at all: every host resolves nowhere and any proxied request goes to a closed port.
_OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>")  # fmt: skip


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

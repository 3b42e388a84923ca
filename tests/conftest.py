from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from producer.generation.world import World, WorldConfig
from tests.support.moto_server import start_moto_server
from tests.support.polling import DEADLINE_S

ROOT = Path(__file__).resolve().parents[1]
#: What tools write into the tree on every run, and git ignores: not the tests' doing.
TOOL_CACHES = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv", ".venv-checkov"}


# -- the tests leave the working tree as they found it ---------------------------------


def _git_status(*args: str) -> list[str] | None:
    try:
        proc = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(ROOT), "status", "--porcelain=v1", "-z", *args],
            capture_output=True,
            timeout=DEADLINE_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    fields = iter(proc.stdout.decode(errors="replace").split("\0"))
    entries = []
    for entry in fields:
        if entry:
            entries.append(entry)
            if entry[0] in "RC":
                next(fields, None)  # a rename or copy is followed by its source path
    return entries


def _fingerprint(path: Path) -> tuple[int, int]:
    """(files, newest mtime) of a directory, (size, mtime) of a file: what a write changes."""
    if not path.is_dir():
        try:
            st = path.stat()
        except OSError:
            return (-1, -1)
        return (st.st_size, st.st_mtime_ns)
    files, newest = 0, 0
    for p in path.rglob("*"):
        try:
            newest = max(newest, p.lstat().st_mtime_ns)
        except OSError:
            continue
        files += 1
    return (files, newest)


def working_tree_state() -> dict[str, tuple[str, tuple[int, int]]] | None:
    """Every changed, untracked or ignored path of the checkout (tool caches aside), with
    its fingerprint; None outside a git checkout."""
    changed = _git_status("--untracked-files=all")
    ignored = _git_status("--untracked-files=normal", "--ignored")
    if changed is None or ignored is None:
        return None
    entries = changed + [e for e in ignored if e.startswith("!! ")]
    state: dict[str, tuple[str, tuple[int, int]]] = {}
    for entry in entries:
        code, name = entry[:2], entry[3:]
        if set(Path(name).parts) & TOOL_CACHES or name.rstrip("/").endswith(".egg-info"):
            continue
        state[name] = (code, _fingerprint(ROOT / name))
    return state


@pytest.fixture(scope="session", autouse=True)
def working_tree_untouched() -> Iterator[None]:
    """Fail the session if the tests created or changed files in the checkout.

    Tests write under ``tmp_path``; a run without ``--lake-dir`` or ``--dead-letter``
    in the repo's directory would leave ``lake/`` or ``dead-letters.ndjson`` behind.
    """
    before = working_tree_state()
    yield
    if before is None:
        return  # not a git checkout (an sdist, a copy): nothing to compare with
    after = working_tree_state() or {}
    touched = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    if touched:
        pytest.fail(
            f"the tests created or changed files in the working tree {ROOT} "
            f"(write under tmp_path instead): {', '.join(touched)}",
            pytrace=False,
        )


#: Fixtures that start a process (moto in server mode, a Spark JVM): their tests are slow.
PROCESS_FIXTURES = {"aws", "moto_endpoint", "spark"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that uses a process-starting fixture, marked or not."""
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def small_world() -> World:
    """A world small enough to build instantly, big enough for realistic sessions."""
    return World(WorldConfig(seed=7, accounts=20_000, titles=2_000))


def parse_records(records: Iterable[bytes]) -> list[dict]:
    return [json.loads(r) for r in records]


# -- a real local AWS endpoint: moto in server mode ------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``python -m moto.server`` on a free loopback port for the whole session.

    Only this child is ever stopped. Set ``NETFLIX_PRODUCER_TEST_ENDPOINT`` to use an
    endpoint that is already running instead.
    """
    external = os.environ.get("NETFLIX_PRODUCER_TEST_ENDPOINT")
    if external:
        yield external
        return
    server, url = start_moto_server(tmp_path_factory.mktemp("moto"))
    try:
        yield url
    finally:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto state, dummy credentials and ``AWS_ENDPOINT_URL`` for one test."""
    req = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(req, timeout=10):
        pass
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return moto_endpoint

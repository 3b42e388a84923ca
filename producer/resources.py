"""The files that ship with the producer: the Glue job, the Athena queries, the scenarios.

In a source checkout they are the repository's own ``glue_scripts/``, ``queries/`` and
``scenarios/`` (so an edit there is what runs); in an installed wheel they are the
copies packaged under ``producer/_glue``, ``producer/_queries`` and ``producer/_scenarios``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

__all__ = ["bundled_dir", "glue_script"]

Bundle = Literal["glue", "queries", "scenarios"]

#: Each bundle's folder in the repository, and in the wheel (pyproject's force-include).
_FOLDERS: dict[Bundle, tuple[str, str]] = {
    "glue": ("glue_scripts", "_glue"),
    "queries": ("queries", "_queries"),
    "scenarios": ("scenarios", "_scenarios"),
}


def bundled_dir(bundle: Bundle) -> Path:
    """The folder holding one bundle: the checkout's copy first, else the wheel's."""
    in_repo, in_wheel = _FOLDERS[bundle]
    package = Path(str(files("producer")))
    for candidate in (package.parent / in_repo, package / in_wheel):
        if candidate.is_dir():
            return candidate
    return package.parent / in_repo


def glue_script() -> Path:
    """The Glue job script, ``netflix_raw_to_processed.py``."""
    return bundled_dir("glue") / "netflix_raw_to_processed.py"

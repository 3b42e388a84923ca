from __future__ import annotations

import re
from pathlib import Path

from producer.generation.schema import PROCESSED_FIELDS, RAW_FIELDS, markdown_table

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_data_dictionary_matches_the_schema_module() -> None:
    text = (DOCS / "data_model.md").read_text(encoding="utf-8")
    assert markdown_table(RAW_FIELDS) in text
    assert markdown_table(PROCESSED_FIELDS[len(RAW_FIELDS) :]) in text


def test_readme_lists_every_setting_with_its_env_var_and_default() -> None:
    from producer.config.settings import settings_table

    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert readme.index("make demo") < readme.index("make test") < readme.index("## What it does")
    assert f"<!-- settings:start -->\n{settings_table()}\n<!-- settings:end -->" in readme


def test_the_architecture_page_names_every_module_of_the_tree() -> None:
    root = Path(__file__).resolve().parents[2]
    page = (root / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = root / "producer"
    modules = sorted(
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    )
    missing = [m for m in modules if f"`{m}`" not in page]
    assert not missing, f"docs/architecture.md does not name {missing}"
    # And names no module that is gone.
    named = set(re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.py)`", page))
    gone = sorted(n for n in named if not (package / n).exists() and not (root / n).exists())
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"

from __future__ import annotations

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

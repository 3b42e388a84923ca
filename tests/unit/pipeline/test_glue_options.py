"""The Glue script's options and data-quality rules, with pyspark unimportable.

The options are declared once in the script (``OPTIONS``); Glue's argument list, the
``JobOptions`` checks and the local ``etl`` command's flags all come from there.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest
from click.testing import CliRunner

from producer.cli.commands import cli
from producer.errors import ConfigError
from producer.pipeline import etl
from producer.pipeline.etl import GLUE_SCRIPT, job_options, parse_option


@pytest.fixture
def no_pyspark(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import pyspark`` fails, as on a machine without it (even if a test imported it)."""
    for name in [n for n in sys.modules if n == "pyspark" or n.startswith("pyspark.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyspark", None)  # type: ignore[arg-type]


@pytest.fixture
def script(no_pyspark: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A fresh import of the Glue script, by path, with no pyspark."""
    name = "glue_script_without_spark"
    spec = importlib.util.spec_from_file_location(name, GLUE_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    yield module
    assert sys.modules["pyspark"] is None, "the options or the rules imported pyspark"


def job(script: ModuleType, **options: Any) -> Any:
    return script.JobOptions(
        raw_path="/raw", processed_path="/p", quarantine_path="/q", report_path="/r", **options
    )


def test_the_script_imports_without_pyspark_and_declares_each_option_once(script: ModuleType) -> None:
    names = [o.name for o in script.OPTIONS]
    assert len(set(names)) == len(names)
    assert list(script.OPTIONAL_ARGS) == names
    assert script.REQUIRED_ARGS == (
        "JOB_NAME",
        "raw_path",
        "processed_path",
        "quarantine_path",
        "report_path",
    )
    # The run's options: the paths, every declared option with its default, the job name.
    fields = {f.name: f.default for f in dataclasses.fields(script.JobOptions)}
    assert list(fields) == [*script.REQUIRED_ARGS[1:], *names, "job_name"]
    assert {o.name: fields[o.name] for o in script.OPTIONS} == {o.name: o.default for o in script.OPTIONS}
    assert dataclasses.asdict(job(script))["max_quarantine_ratio"] == 0.05
    with pytest.raises(dataclasses.FrozenInstanceError):
        job(script).min_rows_read = 5  # type: ignore[misc]


def test_glue_argument_defaults_are_the_declared_defaults_as_text(script: ModuleType) -> None:
    assert dict(script.OPTIONAL_ARGS) == {
        "null_event_ts": "quarantine",
        "max_quarantine_ratio": "0.05",
        "min_rows_read": "0",
        "volume_anomaly_factor": "3",
        "volume_baseline_days": "7",
        "volume_min_rows": "1000",
        "fail_on_volume_anomaly": "false",
        "incremental": "",  # unset: the job's bookmark option decides
        "lookback_minutes": "60",
        "metrics_namespace": "NetflixPipeline",
    }
    for option in script.OPTIONS:
        if option.name != "incremental":
            assert option.parse(option.default_text) == option.default, option.name


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"null_event_ts": "drop"}, "--null_event_ts must be quarantine or default_partition (got 'drop')"),
        ({"max_quarantine_ratio": 1.5}, "--max_quarantine_ratio must be within [0, 1] (got 1.5)"),
        ({"max_quarantine_ratio": float("nan")}, "--max_quarantine_ratio must be within [0, 1] (got nan)"),
        ({"volume_anomaly_factor": 0.5}, "--volume_anomaly_factor must be 0 (off) or >= 1 (got 0.5)"),
        ({"volume_baseline_days": 0}, "--volume_baseline_days must be a whole number >= 1 (got 0)"),
        ({"min_rows_read": -1}, "--min_rows_read must be a whole number >= 0 (got -1)"),
        ({"lookback_minutes": -5.0}, "--lookback_minutes must be a number >= 0 (got -5.0)"),
    ],
)
def test_out_of_bounds_options_are_refused_naming_the_argument(
    script: ModuleType, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        job(script, **options)
    assert str(info.value) == message


def test_a_factor_of_zero_turns_the_volume_check_off(script: ModuleType) -> None:
    assert job(script, volume_anomaly_factor=0).volume_anomaly_factor == 0


def test_glue_arguments_that_are_not_numbers_name_the_argument(script: ModuleType) -> None:
    def resolved(argv: list[str], names: list[str]) -> dict[str, str]:
        given = dict(zip(argv[1::2], argv[2::2], strict=True))
        return {name: given["--" + name] for name in names}

    argv = ["script.py", "--JOB_NAME", "j", "--raw_path", "/raw", "--processed_path", "/p",
            "--quarantine_path", "/q", "--report_path", "/r"]  # fmt: skip
    options, _ = script.resolve_job_options([*argv, "--metrics_namespace", "None"], resolved)
    assert (options.metrics_namespace, options.job_name, options.incremental) == ("", "j", False)
    with pytest.raises(ValueError, match="invalid job arguments") as info:
        script.resolve_job_options([*argv, "--volume_min_rows", "1.5"], resolved)
    assert (
        str(info.value) == "invalid job arguments: --volume_min_rows must be a whole number >= 0 (got '1.5')"
    )


def test_data_quality_rules_run_without_spark(script: ModuleType) -> None:
    history = {"2026-01-24": 100, "2026-01-25": 100, "2026-01-26": 100}
    counts = script.RunCounts(rows_read=1000, quarantined_by_reason={"malformed_json": 100}, rows_written=900,
                              rows_per_date={"2026-01-27": 900})  # fmt: skip
    now = datetime(2026, 1, 28, tzinfo=UTC)
    report = script.build_report(
        counts,
        job(script, volume_min_rows=10, fail_on_volume_anomaly=True),
        run_id="r",
        started_at=now,
        finished_at=now,
        history=history,
        modified_after=None,
    )
    assert not report["passed"]
    assert report["options"]["volume_min_rows"] == 10
    assert script.failure_message(report) == (
        "data quality check failed: quarantine ratio 0.1000 > 0.05 (100 of 1,000 rows: malformed_json 100); "
        "volume anomaly beyond x3.0: 2026-01-27 900 rows vs baseline 100"
    )


def test_the_etl_still_says_it_needs_pyspark(no_pyspark: None) -> None:
    with pytest.raises(ConfigError, match=r"the ETL needs pyspark 3\.5\.4"):
        etl.load_glue_job.__wrapped__()  # not the cached result of an earlier test


# -- the local command's flags come from the same declarations ---------------------------------


def test_the_etl_command_takes_the_local_options_with_their_defaults() -> None:
    params = {p.name: p for p in cli.commands["etl"].params}
    local = job_options(local=True)
    assert [o.name for o in local] == [
        "null_event_ts", "max_quarantine_ratio", "volume_anomaly_factor", "fail_on_volume_anomaly", "incremental",
    ]  # fmt: skip
    for option in local:
        param = params[option.name]
        assert param.opts == [option.flag]
        assert param.help == option.help
        if option.kind is bool:
            assert isinstance(param, click.Option) and param.is_flag
        else:
            assert param.default in (option.default, option.default_text)
    assert "metrics_namespace" not in params  # CloudWatch: Glue only
    pipeline = {p.name for p in cli.commands["pipeline"].params}
    assert {"null_event_ts", "max_quarantine_ratio"} <= pipeline


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [("max_quarantine_ratio", "0.1", 0.1), ("volume_anomaly_factor", "0", 0.0),
     ("null_event_ts", "default_partition", "default_partition")],
)  # fmt: skip
def test_flag_values_are_parsed_by_the_declaration(name: str, text: str, value: Any) -> None:
    assert parse_option(name, text) == value


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--max-quarantine-ratio", "abc"],
            "invalid --max-quarantine-ratio 'abc': expected a share within [0, 1], e.g. 0.05",
        ),
        (
            ["--volume-anomaly-factor", "0.5"],
            "invalid --volume-anomaly-factor '0.5': expected 0 (off) or >= 1",
        ),
        (
            ["--null-event-ts", "drop"],
            "invalid --null-event-ts 'drop': expected quarantine or default_partition",
        ),
    ],
)
def test_bad_flag_values_end_with_one_line(tmp_path: Any, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["etl", "--raw", str(tmp_path), *args])
    assert result.exit_code == 1
    assert result.output == f"netflix-producer: error: {message}\n"


def test_the_pipeline_docs_list_every_job_argument_with_its_default() -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "pipeline.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `--(\w+)` \| ([^|]+) \|", text, flags=re.MULTILINE))
    declared = {o.name: f"`{o.default_text}`" for o in job_options()}
    declared["incremental"] = "from `--job-bookmark-option`"  # unset in Glue: the bookmark decides
    assert {name: rows.get(name, "").strip() for name in declared} == declared

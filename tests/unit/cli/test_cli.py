from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import producer
from producer.cli.commands import cli


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)


def test_public_api_is_sorted_and_importable() -> None:
    assert producer.__all__ == sorted(producer.__all__)
    for name in producer.__all__:
        assert hasattr(producer, name), name


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--rate", "fast"], "invalid --rate 'fast'"),
        (["--rate", "-5/s"], "invalid --rate '-5/s'"),
        (["--shape", "zigzag"], "invalid --shape 'zigzag'"),
        (["--duration", "soon"], "invalid --duration 'soon'"),
        (["--count", "many"], "invalid --count 'many'"),
        (["--start", "yesterday"], "invalid --start 'yesterday'"),
        (
            ["--start", "2026-01-02", "--end", "2026-01-01"],
            "invalid --end '2026-01-01': not after --start",
        ),
        (["--end", "2026-01-02"], "--end needs --start"),
        (["--speed", "10x"], "--speed '10x' needs --start"),
        (["--sink", "kafka"], "invalid --sink 'kafka'"),
        (["--sink", "file"], "--sink file needs --out"),
        (["--batch-records", "501"], "PutRecordBatch takes at most 500 records"),
        (["--buffer-size", "200MiB"], "Firehose buffering size is 1 MiB to 128 MiB"),
    ],
)
def test_bad_input_is_one_line_naming_option_and_value(args: list[str], expected: str, tmp_path) -> None:
    result = invoke("run", "--lake-dir", str(tmp_path / "lake"), *args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "lake").exists(), "nothing is written for bad input"


def test_environment_variables_are_read_and_flags_win(tmp_path) -> None:
    result = invoke("run", env={"NETFLIX_PRODUCER_RATE": "nope"})
    assert result.exit_code == 1
    assert "invalid NETFLIX_PRODUCER_RATE 'nope'" in result.output
    out = tmp_path / "s.json"
    result = invoke(
        "run", "--rate", "1k/s", "--count", "50", "--sink", "null", "--summary-json", str(out),
        "--start", "2026-01-01", "--quiet",
        env={"NETFLIX_PRODUCER_RATE": "nope", "NETFLIX_PRODUCER_SEED": "77"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["seed"] == 77 and summary["target_rate"] == 1000.0 and summary["generated"] == 50


def test_unwritable_lake_directory_is_one_line(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = invoke("run", "--lake-dir", str(blocker / "lake"), "--count", "10", "--quiet")
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "not writable" in result.output


def test_stdout_sink_writes_pure_ndjson() -> None:
    result = CliRunner().invoke(
        cli,
        ["run", "--sink", "stdout", "--count", "100", "--start", "2026-01-01", "--seed", "3"],
        env={},
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 100
    assert all(json.loads(line)["event_type"] for line in lines)


def test_world_export_cli(tmp_path) -> None:
    result = invoke(
        "world",
        "export",
        "--out",
        str(tmp_path / "dims"),
        "--format",
        "csv",
        "--accounts",
        "500",
        "--titles",
        "50",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "dims").iterdir()) == [
        "accounts.csv", "playables.csv", "profiles.csv", "titles.csv",
    ]  # fmt: skip
    bad = invoke("world", "export", "--out", str(tmp_path / "x"), "--format", "xml")
    assert bad.exit_code == 1 and "invalid --format 'xml'" in bad.output


@pytest.mark.parametrize(("text", "expected"), [("100k", 100_000), ("1e4", 10_000), ("2_500", 2_500)])
def test_counts_take_suffixes_and_scientific_notation(text: str, expected: int, tmp_path) -> None:
    out = tmp_path / "s.json"
    result = invoke("run", "--count", text, "--sink", "null", "--start", "2026-01-01", "--rate", "1M/s",
                    "--quiet", "--summary-json", str(out), "--accounts", "2000")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["generated"] == expected


def test_replay_takes_the_transport_like_run(tmp_path) -> None:
    capture = tmp_path / "c.ndjson"
    capture.write_text("")
    result = invoke("replay", str(capture), "--sink", "firehose", "--transport", "carrier-pigeon")
    assert result.exit_code != 0
    assert "invalid --transport 'carrier-pigeon': expected botocore or fast" in result.output


def test_file_sink_summary_names_the_output_path(tmp_path) -> None:
    out, summary = tmp_path / "events.ndjson.gz", tmp_path / "s.json"
    result = invoke("run", "--sink", "file", "--out", str(out), "--count", "200", "--start", "2026-01-27",
                    "--quiet", "--summary-json", str(summary))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(summary.read_text())["destination"] == str(out)
    shown = invoke("run", "--sink", "file", "--out", str(out), "--count", "10", "--start", "2026-01-27",
                   env={"COLUMNS": "250"})  # fmt: skip
    assert any("destination" in line and str(out) in line for line in shown.output.splitlines())


def test_summary_json_dash_writes_only_json_to_stdout() -> None:
    result = CliRunner().invoke(
        cli,
        ["run", "--sink", "null", "--count", "300", "--start", "2026-01-27", "--summary-json", "-"],
        env={},
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["generated"] == summary["delivered"] == 300
    assert "netflix-producer summary" in result.stderr, "the table goes to stderr"


def test_summary_json_dash_and_the_stdout_sink_cannot_share_stdout() -> None:
    result = invoke("run", "--sink", "stdout", "--summary-json", "-", "--count", "5", "--start", "2026-01-27")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "--summary-json - and --sink stdout both write to stdout" in lines[0]


def test_stdout_sink_summary_goes_to_stderr() -> None:
    result = CliRunner().invoke(
        cli, ["run", "--sink", "stdout", "--count", "20", "--start", "2026-01-27"], env={}
    )
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 20
    assert "netflix-producer summary" in result.stderr and "generated" in result.stderr


def completions(*words: str) -> list[str]:
    """What the shell would offer after ``netflix-producer <words...>``, through click's machinery."""
    from click.shell_completion import BashComplete

    complete = BashComplete(cli, {}, "netflix-producer", "_NETFLIX_PRODUCER_COMPLETE")
    *args, incomplete = words
    return [item.value for item in complete.get_completions(args, incomplete)]


def test_shell_completion_offers_sinks_scenarios_and_queries() -> None:
    from producer.config.scenario import shipped_scenarios
    from producer.pipeline.query import named_queries

    assert completions("run", "--sink", "") == ["lake", "stdout", "file", "null", "firehose", "kinesis", "s3"]
    assert completions("run", "--sink", "f") == ["file", "firehose"]
    assert completions("run", "--transport", "") == ["botocore", "fast"]
    scenarios = [p.stem for p in shipped_scenarios()]
    assert "late-and-duplicates" in scenarios
    assert completions("run", "--scenario", "") == scenarios
    assert completions("pipeline", "--scenario", "late") == [s for s in scenarios if s.startswith("late")]
    assert completions("scenarios", "show", "") == scenarios
    queries = [q.replace("_", "-") for q in named_queries()]
    assert "top-titles" in queries
    assert completions("query", "") == queries
    assert completions("query", "top") == [q for q in queries if q.startswith("top")]
    assert completions("query", "--format", "") == ["table", "csv", "json"]


def test_shell_completion_script_through_the_environment_variable() -> None:
    result = CliRunner().invoke(
        cli, [], env={"_NETFLIX_PRODUCER_COMPLETE": "bash_source"}, prog_name="netflix-producer"
    )
    assert result.exit_code == 0
    assert "_NETFLIX_PRODUCER_COMPLETE=bash_complete" in result.output
    result = CliRunner().invoke(
        cli, [], prog_name="netflix-producer",
        env={"_NETFLIX_PRODUCER_COMPLETE": "bash_complete", "COMP_WORDS": "netflix-producer run --sink st", "COMP_CWORD": "3"},
    )  # fmt: skip
    assert result.output.split() == ["plain,stdout"]


@pytest.mark.parametrize(
    ("command", "option", "shown"),
    [
        (["run"], "--sink", "[lake|stdout|file|null|firehose|kinesis|s3]"),
        (["run"], "--transport", "[botocore|fast]"),
        (["run"], "--partition-key", "[user_id|session_id|random]"),
        (["run"], "--max-in-flight", "1<=x<=64"),
        (["run"], "--throttle-rate", "0<=x<=1"),
        (["replay"], "--sink", "[lake|stdout|file|null|firehose|kinesis|s3]"),
        (["world", "export"], "--format", "[parquet|csv]"),
        (["etl"], "--null-event-ts", "[quarantine|default_partition]"),
        (["etl"], "--max-quarantine-ratio", "0<=x<=1"),
        (["query"], "--format", "[table|csv|json]"),
        (["pipeline"], "--null-event-ts", "[quarantine|default_partition]"),
    ],
)
def test_help_shows_the_fixed_values(command: list[str], option: str, shown: str) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"], env={"COLUMNS": "250"}, terminal_width=250)
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    assert f"{option} {shown}" in flat or (option in flat and shown in flat), result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["run", "--max-in-flight", "65"],
            "invalid --max-in-flight '65': expected a whole number within 1..64",
        ),
        (["run", "--max-attempts", "0"], "invalid --max-attempts '0'"),
        (["run", "--max-retry-time", "2h"], "invalid --max-retry-time '2h': must be within 1s..1h"),
        (["run", "--max-retry-time", "soon"], "invalid --max-retry-time 'soon': expected a duration"),
        (
            ["run", "--partition-key", "title_id"],
            "invalid --partition-key 'title_id': expected one of user_id",
        ),
        (["run", "--throttle-rate", "1.5"], "invalid --throttle-rate '1.5': expected a share within [0, 1]"),
        (["run", "--call-failure-rate", "often"], "invalid --call-failure-rate 'often'"),
        (["replay", "x.ndjson", "--sink", "kafka"], "invalid --sink 'kafka': expected one of lake"),
        (["query", "--format", "xml"], "invalid --format 'xml': expected one of table, csv, json"),
        (
            ["pipeline", "--null-event-ts", "drop"],
            "invalid --null-event-ts 'drop': expected quarantine or default_partition",
        ),
    ],
)
def test_bad_fixed_values_are_one_line(args: list[str], expected: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("netflix-producer: error: ") and expected in lines[0]


def test_fixed_values_are_case_insensitive_and_reach_the_settings(tmp_path) -> None:
    out = tmp_path / "s.json"
    result = invoke("run", "--sink", "NULL", "--count", "10", "--start", "2026-01-27", "--quiet",
                    "--max-in-flight", "2", "--summary-json", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["sink"] == "null"


def test_pipeline_writes_a_lake_of_its_own_and_says_where(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import producer.pipeline.etl
    from producer.errors import ConfigError

    def no_spark(*args: object, **kwargs: object) -> None:
        raise ConfigError("no Spark here: the ETL needs the pipeline extra")

    monkeypatch.chdir(tmp_path)
    (tmp_path / "lake").mkdir()  # what the README's other examples leave behind
    # Without Spark the pipeline stops at the ETL, after producing: enough to see where.
    monkeypatch.setattr(producer.pipeline.etl, "run_etl", no_spark)
    result = CliRunner().invoke(
        cli, ["pipeline", "--scenario", "late-and-duplicates", "--count", "500"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 1 and "pipeline extra" in result.output
    runs = list((tmp_path / "lake-pipeline" / "late-and-duplicates").iterdir())
    assert len(runs) == 1 and list(runs[0].rglob("netflix-events-*")), "the events went to the run's own lake"
    assert not any((tmp_path / "lake").iterdir()), "./lake is left alone"
    where = str(Path("lake-pipeline") / "late-and-duplicates" / runs[0].name)
    assert f"pipeline lake: {where}" in result.output

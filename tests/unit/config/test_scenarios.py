"""Scenario files: the shipped ones validate, bad ones fail with one clear line, the
resolution order holds, and docs/scenarios.md carries the key reference."""

from __future__ import annotations

import json
import os
import re
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from producer.cli.commands import cli
from producer.config.scenario import (
    _SETTING_OF,
    SCHEMA,
    SHIPPED_DIR,
    Key,
    ScenarioError,
    load_scenario,
    resolve_run,
    scenario_reference,
    shipped_scenarios,
)
from producer.config.settings import SIZE_UNITS, parse_quota, parse_size, resolve
from producer.errors import ConfigError
from producer.runtime.rate import parse_shape

ROOT = Path(__file__).resolve().parents[3]
INVALID = ROOT / "tests" / "fixtures" / "scenarios" / "invalid"

#: The scenarios the project promises to ship.
SHIPPED = (
    "steady-demo", "primetime-ramp", "daily-backfill", "null-event-ts", "schema-drift",
    "late-and-duplicates", "malformed-records", "oversize-records", "throttle-storm", "black-friday-spike",
)  # fmt: skip

#: Each invalid fixture and what its one-line error must say: the key path and the
#: offending value (the file name is checked separately).
INVALID_CASES = {
    "unknown-top-level-key.yaml": "durration: unknown key; did you mean 'duration'?",
    "unknown-nested-key.yaml": "sink.compression: unknown key (got 'snappy')",
    "wrong-type.yaml": "seed: must be a whole number (got 'forty-two')",
    "probability-over-one.yaml": "data_faults.duplicates.rate: must be within [0, 1] (got 1.5)",
    "profiles-sum-over-one.yaml": "population.profiles_per_account: probabilities sum to 1.2, not 1 (got [0.5,",
    "transitions-row-over-one.yaml": "sessions.transitions.SEEK.BUFFER_START: probability must be within [0, 1] (got 1.2)",
    "undefined-state.yaml": "sessions.transitions.PLAY_STPO: undefined state 'PLAY_STPO'; did you mean 'PLAY_STOP'?",
    "undefined-transition-target.yaml": (
        "sessions.transitions.PLAY_STOP.PLAY_RESTART: undefined state 'PLAY_RESTART'; did you mean 'PLAY_START'?"
    ),
    "unreachable-state.yaml": "sessions.transitions.SEEK: state SEEK is unreachable: sessions.seek_rate_per_h is 0",
    "negative-rate.yaml": "rate: '-500/s': expected events per unit",
    "bad-duration.yaml": "duration: '10 minutes': expected a duration",
    "bad-timestamp.yaml": "clock.start: '27/01/2026': expected ISO-8601",
    "unknown-country.yaml": "population.country_weights.UK: unknown country",
    "unknown-device.yaml": "population.device_weights.smartwatch: unknown device; devices are tv, console, web, mobile, tablet (got 'smartwatch')",
    "invalid-yaml.yaml": "line 5: not valid YAML: expected ',' or '}'",
    "data-fault-without-rate.yaml": "data_faults.late.rate: is required",
    "top-level-not-mapping.yaml": "(top level): must be a mapping of keys (got [{'rate': '500/s'}",
    "bad-quota.yaml": "transport_faults.quota: 'fast': expected e.g. 1MiB/s",
    "bad-shape.yaml": "shape: 'ramp:500/s-5k/s': expected constant, daily, ramp:",
    "unknown-sink-type.yaml": "sink.type: 'kafka': expected one of lake",
    "batch-records-over-limit.yaml": "sink.batch_records: '1000': PutRecordBatch takes at most 500 records",
    "clock-end-before-start.yaml": "clock.end: '2026-01-27T00:00:00Z': not after",
    "repeated-key.yaml": "rate: repeated key on line 5 (first on line 3); a key may appear once (got '5k/s' again)",
    "repeated-nested-key.yaml": "sink.type: repeated key on line 6 (first on line 4)",
    "negative-oversize-size.yaml": "data_faults.oversize.size: '-5MiB': a size must not be negative",
    "oversize-size-under-limit.yaml": (
        "data_faults.oversize.size: must be at least 1,024,001 bytes: an oversize record is over "
        "Firehose's 1,000 KiB (1,024,000 bytes) limit, and at most 16 MiB (got '500KiB')"
    ),
    "buffer-size-over-limit.yaml": "sink.buffer_size: '1GiB': Firehose buffering size is 1 MiB to 128 MiB",
    "negative-count.yaml": "count: must not be negative (got -5)",
    "late-max-before-min.yaml": "data_faults.late.max_delay: must not be shorter than data_faults.late.min_delay (1h) (got '5m')",
}

#: A file with several problems, and the line of each, in order.
SEVERAL = ROOT / "tests" / "fixtures" / "scenarios" / "several" / "several-problems.yaml"
SEVERAL_LINES = [
    "rate: repeated key on line 11 (first on line 3); a key may appear once (got '1k/s' again)",
    "count: must not be negative (got -5)",
    "data_faults.duplicates.rate: must be within [0, 1] (got 1.5)",
    "sink.type: 'kafka': expected one of lake, stdout, file, null, firehose, kinesis, s3",
    "sink.batch_records: '1000': PutRecordBatch takes at most 500 records",
]

#: Invalid fixtures the JSON Schema cannot reject, and why: scenarios validate does.
BEYOND_JSON_SCHEMA = {
    "invalid-yaml.yaml": "not YAML: there is no document to check",
    "repeated-key.yaml": "a YAML parser keeps the last value; the document has no repeated key left",
    "repeated-nested-key.yaml": "a YAML parser keeps the last value; the document has no repeated key left",
    "profiles-sum-over-one.yaml": "a sum over the entries of a list",
    "unreachable-state.yaml": "depends on another key (sessions.seek_rate_per_h)",
    "clock-end-before-start.yaml": "compares two keys",
    "late-max-before-min.yaml": "compares two keys",
    "bad-shape.yaml": "the shape grammar (rates and durations inside one string) is parse_shape's",
    "oversize-size-under-limit.yaml": "the bound of a size written with a unit (500KiB)",
    "buffer-size-over-limit.yaml": "the bound of a size written with a unit (1GiB)",
}


@pytest.fixture(autouse=True)
def _no_producer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads NETFLIX_PRODUCER_*; a developer's shell must not change the results."""
    for name in list(os.environ):
        if name.startswith("NETFLIX_PRODUCER_"):
            monkeypatch.delenv(name)


# -- the shipped scenarios -------------------------------------------------------------


def test_every_promised_scenario_is_shipped() -> None:
    assert {p.stem for p in shipped_scenarios()} >= set(SHIPPED)
    assert SHIPPED_DIR == ROOT / "scenarios"


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
def test_shipped_scenario_validates_and_documents_itself(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.name == path.stem
    assert sc.description.strip()
    text = path.read_text(encoding="utf-8")
    # Editors find the schema from the first line; the header says what it is, how to
    # run it and what to expect.
    first, second = text.splitlines()[:2]
    assert first == "# yaml-language-server: $schema=./scenario.schema.json"
    assert second.startswith(f"# {path.stem}: ")
    header = text[: text.index("\nname:")]
    assert all(line.startswith("#") or not line.strip() for line in header.splitlines())
    assert f"netflix-producer run --scenario {path.stem}" in header
    assert "Expect" in header
    # Fixed seeds: the same scenario gives the same events on every run.
    assert sc.settings["seed"].isdigit()


def test_shipped_scenarios_validate_through_the_cli() -> None:
    result = CliRunner().invoke(cli, ["scenarios", "validate", *map(str, shipped_scenarios())])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(shipped_scenarios())
    assert all(line.startswith("ok: ") for line in lines)


def test_scenarios_list_names_each_with_its_description() -> None:
    result = CliRunner().invoke(cli, ["scenarios", "list"])
    assert result.exit_code == 0, result.output
    for name in SHIPPED:
        (line,) = [line for line in result.output.splitlines() if line.split()[0] == name]
        assert line[len(name) :].strip() == load_scenario(SHIPPED_DIR / f"{name}.yaml").description


def test_scenarios_show_prints_the_file() -> None:
    result = CliRunner().invoke(cli, ["scenarios", "show", "throttle-storm"])
    assert result.exit_code == 0
    assert result.output == (SHIPPED_DIR / "throttle-storm.yaml").read_text(encoding="utf-8")


def test_the_load_shapes_are_what_their_names_promise() -> None:
    def knots(name: str) -> tuple[tuple[float, float], ...]:
        sc = load_scenario(SHIPPED_DIR / f"{name}.yaml")
        return parse_shape(sc.settings["shape"], None, lambda _t: 1.0).knots

    ramp = knots("primetime-ramp")
    assert ramp == ((0.0, 200.0), (600.0, 2000.0))
    spike = knots("black-friday-spike")
    rates = [r for _, r in spike]
    assert max(rates) == 10 * min(rates)
    # A step, not a ramp: the rate jumps 10x at one instant.
    assert any(t0 == t1 and r1 == 10 * r0 for (t0, r0), (t1, r1) in zip(spike, spike[1:], strict=False))


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
def test_shipped_scenario_pins_no_region_account_or_endpoint(path: Path) -> None:
    # A shipped scenario must run against the user's stream wherever it is.
    sc = load_scenario(path)
    assert not {"region", "profile", "endpoint_url", "bucket"} & set(sc.settings)
    values = "\n".join(
        line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")
    )
    assert not re.search(r"\b\d{12}\b", values)  # no account id
    assert not re.search(r"\b[a-z]{2}-[a-z]+-\d\b", values)  # no region name


def test_throttle_storm_asks_for_about_three_times_its_quota() -> None:
    sc = load_scenario(SHIPPED_DIR / "throttle-storm.yaml")
    assert sc.settings["sink"] == "firehose"
    assert sc.settings["quota"] == "1MiB/s"
    settings = resolve_run({}, env={}, scenario="throttle-storm")
    assert settings.quota is not None and settings.quota.unit == "bytes"
    demand = settings.target_rate * 310  # bytes per second of ~310-byte events
    assert 2.5 < demand / settings.quota.per_s < 3.5


def test_daily_backfill_is_one_simulated_day_as_fast_as_possible() -> None:
    settings = resolve_run({}, env={}, scenario="daily-backfill")
    assert settings.shape.kind == "daily"
    assert settings.start is not None and settings.end is not None
    assert settings.end - settings.start == 86400
    assert settings.speed is None  # max


# -- invalid scenarios -----------------------------------------------------------------


def test_there_is_a_case_for_every_invalid_fixture() -> None:
    assert sorted(p.name for p in INVALID.glob("*.yaml")) == sorted(INVALID_CASES)
    assert len(INVALID_CASES) >= 12
    assert set(BEYOND_JSON_SCHEMA) <= set(INVALID_CASES)


def test_every_problem_of_a_file_is_reported_one_line_each() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(SEVERAL)
    assert info.value.problems == tuple(f"{SEVERAL}: {line}" for line in SEVERAL_LINES)
    assert str(info.value).splitlines() == list(info.value.problems)


def test_scenarios_validate_prints_every_problem_and_goes_on_to_the_next_file() -> None:
    good = SHIPPED_DIR / "steady-demo.yaml"
    result = CliRunner().invoke(cli, ["scenarios", "validate", str(SEVERAL), str(good)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.splitlines() == [
        *(f"invalid: {SEVERAL}: {line}" for line in SEVERAL_LINES),
        f"ok: {good} (steady-demo)",
    ]


def test_run_with_several_problems_prints_each_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["run", "--scenario", str(SEVERAL), "--lake-dir", str(tmp_path / "lake"), "--start", "2026-01-27",
            "--summary-json", str(tmp_path / "summary.json")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"netflix-producer: error: {SEVERAL}: {line}" for line in SEVERAL_LINES
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_repeated_key_is_refused_at_any_depth_and_a_merge_key_is_not(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("data_faults:\n  late:\n    rate: 0.1\n    rate: 0.2\n")
    with pytest.raises(
        ScenarioError, match=r"data_faults\.late\.rate: repeated key on line 4 \(first on line 3\)"
    ):
        load_scenario(deep)
    merged = tmp_path / "merged.yaml"
    merged.write_text(
        "data_faults:\n  duplicates: &every {rate: 0.1}\n  late:\n    <<: *every\n    min_delay: 1h\n"
    )
    assert load_scenario(merged).data_faults.late is not None


@pytest.mark.parametrize(("name", "expected"), INVALID_CASES.items(), ids=list(INVALID_CASES))
def test_invalid_scenario_is_rejected_with_one_line(name: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_scenario(INVALID / name)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{INVALID / name}: ")
    assert expected in message


@pytest.mark.parametrize(("name", "expected"), INVALID_CASES.items(), ids=list(INVALID_CASES))
def test_scenarios_validate_reports_an_invalid_file_in_one_line(name: str, expected: str) -> None:
    result = CliRunner().invoke(cli, ["scenarios", "validate", str(INVALID / name)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (line,) = result.output.splitlines()
    assert line.startswith("invalid: ")
    assert name in line and expected in line


@pytest.mark.parametrize(("name", "expected"), INVALID_CASES.items(), ids=list(INVALID_CASES))
def test_run_with_an_invalid_scenario_stops_before_writing_anything(
    name: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the dead-letter file's default place
    lake = tmp_path / "lake"
    args = ["run", "--scenario", str(INVALID / name), "--lake-dir", str(lake), "--count", "100",
            "--start", "2026-01-27", "--summary-json", str(tmp_path / "summary.json")]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (line,) = result.output.splitlines()
    assert line.startswith("netflix-producer: error: ")
    assert name in line and expected in line
    assert list(tmp_path.iterdir()) == []


def test_valid_scenario_checks_do_not_reject_what_flags_can_complete(tmp_path: Path) -> None:
    # An s3 sink without a bucket is a valid scenario: --bucket may come with the run.
    path = tmp_path / "s3.yaml"
    path.write_text("rate: 200/s\nsink: {type: s3}\n")
    assert load_scenario(path).settings["sink"] == "s3"
    with pytest.raises(ConfigError, match="--sink s3 needs --bucket"):
        resolve_run({}, env={}, scenario=str(path))
    assert resolve_run({"bucket": "s3://raw/"}, env={}, scenario=str(path)).bucket == "s3://raw/"


def test_an_unknown_scenario_name_suggests_a_shipped_one() -> None:
    result = CliRunner().invoke(cli, ["run", "--scenario", "throttle-strom"])
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert "'throttle-strom': no such file or shipped scenario (did you mean 'throttle-storm'?)" in line


# -- resolution order: flag > environment > scenario > default --------------------------


@pytest.fixture
def rate_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "rate.yaml"
    path.write_text('seed: 42\nrate: 500/s\ncount: 1234\nsink: {type: "null", batch_records: 100}\n')
    return path


def test_scenario_values_beat_defaults(rate_scenario: Path) -> None:
    settings = resolve_run({}, env={}, scenario=str(rate_scenario))
    assert (settings.seed, settings.count, settings.sink, settings.batch_records) == (42, 1234, "null", 100)
    assert settings.target_rate == 500
    assert settings.scenario == "rate"


def test_a_flag_beats_the_scenario(rate_scenario: Path) -> None:
    settings = resolve_run({"rate": "1k/s", "count": "10"}, env={}, scenario=str(rate_scenario))
    assert settings.target_rate == 1000
    assert settings.count == 10
    assert settings.seed == 42


def test_an_environment_variable_beats_the_scenario_and_a_flag_beats_both(rate_scenario: Path) -> None:
    env = {"NETFLIX_PRODUCER_RATE": "2k/s"}
    assert resolve_run({}, env=env, scenario=str(rate_scenario)).target_rate == 2000
    assert resolve_run({"rate": "1k/s"}, env=env, scenario=str(rate_scenario)).target_rate == 1000


def test_flag_and_env_override_a_scenario_through_the_cli(rate_scenario: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    base = ["run", "--scenario", str(rate_scenario), "--start", "2026-01-27", "--count", "2000",
            "--quiet", "--summary-json", str(summary)]  # fmt: skip
    runner = CliRunner()

    result = runner.invoke(cli, base)
    assert result.exit_code == 0, result.output
    assert json.loads(summary.read_text())["target_rate"] == 500
    assert json.loads(summary.read_text())["sink"] == "null"

    result = runner.invoke(cli, [*base, "--rate", "1k/s"], env={"NETFLIX_PRODUCER_RATE": "2k/s"})
    assert result.exit_code == 0, result.output
    assert json.loads(summary.read_text())["target_rate"] == 1000

    result = runner.invoke(cli, base, env={"NETFLIX_PRODUCER_RATE": "2k/s"})
    assert result.exit_code == 0, result.output
    data = json.loads(summary.read_text())
    assert data["target_rate"] == 2000
    assert data["generated"] == 2000  # --count beat the scenario's count


def test_the_scenario_can_come_from_the_environment(rate_scenario: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    env = {"NETFLIX_PRODUCER_SCENARIO": str(rate_scenario)}
    args = ["run", "--start", "2026-01-27", "--count", "500", "--quiet", "--summary-json", str(summary)]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(summary.read_text())["sink"] == "null"


# -- the docs --------------------------------------------------------------------------


def test_docs_embed_the_scenario_reference_exactly() -> None:
    text = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    block = f"<!-- scenario-reference:start -->\n{scenario_reference()}\n<!-- scenario-reference:end -->"
    assert block in text


def _leaves(node: dict[str, Any], prefix: str = "") -> dict[str, Key]:
    leaves: dict[str, Key] = {}
    for name, spec in node.items():
        path = f"{prefix}.{name}" if prefix else name
        leaves |= _leaves(spec, path) if isinstance(spec, dict) else {path: spec}
    return leaves


def _weights_shown(text: str, names: tuple[str, ...]) -> dict[str, float]:
    """'tv 0.58, console 0.07' or 'tv/console 0.8, others 1.5' as {device: weight}."""
    weights: dict[str, float] = {}
    for part in text.split(", "):
        who, value = part.rsplit(" ", 1)
        chosen = [n for n in names if n not in weights] if who == "others" else who.split("/")
        weights |= dict.fromkeys(chosen, float(value))
    return weights


def test_documented_defaults_are_the_defaults_of_what_each_key_configures() -> None:
    """A key's default in the docs and the JSON Schema is the one a run gets without it."""
    from producer.config.settings import SETTINGS
    from producer.generation.schema import DEVICE_TYPES
    from producer.generation.sessions import SessionParams
    from producer.generation.world import WorldConfig

    leaves = _leaves(SCHEMA)
    settings = {s.name: s.default for s in SETTINGS}
    # Setting-backed keys show the setting's default; the seed shows what none means, and
    # the prefix (long, with its timestamp expressions) is documented with the sink.
    for path, setting in _SETTING_OF.items():
        shown = {"seed": "random", "sink.prefix": ""}.get(path, settings[setting] or "")
        assert leaves[path].default == shown, path
    assert settings["seed"] is None
    sessions, world = SessionParams(), WorldConfig()
    expected: dict[str, Any] = {f"sessions.{name}": getattr(sessions, name) for name in (
        k for k in SCHEMA["sessions"] if k not in ("transitions", "pause_rate_per_h"))}  # fmt: skip
    expected |= {f"catalog.{name}": getattr(world, name) for name in SCHEMA["catalog"] if name != "titles"}
    expected["population.profiles_per_account"] = world.profiles_per_account
    for path, value in expected.items():
        shown = yaml.safe_load(leaves[path].default)
        assert shown == (list(value) if isinstance(value, tuple) else value), path
    assert world.accounts == int(settings["accounts"] or 0) and world.titles == int(settings["titles"] or 0)
    assert _weights_shown(leaves["population.device_weights"].default, DEVICE_TYPES) == world.device_weights
    assert (
        _weights_shown(leaves["sessions.pause_rate_per_h"].default, DEVICE_TYPES) == sessions.pause_rate_per_h
    )
    assert yaml.safe_load("{" + leaves["sessions.transitions"].default + "}") == {
        "SEEK": {"BUFFER_START": sessions.seek_buffer_prob},
        "PLAY_STOP": {"PLAY_START": sessions.autoplay_prob},
    }


def test_docs_list_every_shipped_scenario_with_its_command() -> None:
    docs = {name: (ROOT / "docs" / name).read_text(encoding="utf-8") for name in ("scenarios.md",
            "runbook_failures.md", "troubleshooting.md")}  # fmt: skip
    for path in shipped_scenarios():
        assert f"`{path.stem}`" in docs["scenarios.md"], path.stem
    # Every command the runbooks give names a scenario that exists.
    for name, text in docs.items():
        for used in re.findall(r"--scenario ([a-z][\w-]*)(?![\w./-])", text):
            assert (SHIPPED_DIR / f"{used}.yaml").is_file(), (name, used)


# -- the published JSON Schema ---------------------------------------------------------


def _as_json(value: Any) -> Any:
    """A YAML document as JSON sees it (an unquoted timestamp is a date to PyYAML only)."""
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((SHIPPED_DIR / "scenario.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_schema_is_what_the_command_prints() -> None:
    result = CliRunner().invoke(cli, ["scenarios", "schema"])
    assert result.exit_code == 0, result.output
    shipped = (SHIPPED_DIR / "scenario.schema.json").read_text(encoding="utf-8")
    assert result.output == shipped, "regenerate it: make scenario-schema"
    assert json.loads(shipped)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_schema_ships_in_the_wheel_beside_the_scenarios() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include["scenarios"] == "producer/_scenarios"
    assert (ROOT / "scenarios" / "scenario.schema.json").is_file()
    assert "scenario.schema.json" not in {p.name for p in shipped_scenarios()}


def test_the_schema_covers_every_key_of_the_one_schema(schema_validator: Any) -> None:
    def keys(node: dict[str, Any], prefix: str = "") -> set[str]:
        out = set()
        for name, spec in node.items():
            path = f"{prefix}.{name}" if prefix else name
            out |= keys(spec, path) if isinstance(spec, dict) else {path}
        return out

    def exported(node: dict[str, Any], prefix: str = "") -> set[str]:
        out = set()
        for name, spec in node["properties"].items():
            path = f"{prefix}.{name}" if prefix else name
            out |= exported(spec, path) if "properties" in spec and "description" not in spec else {path}
        return out

    assert exported(schema_validator.schema) == keys(SCHEMA)


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
def test_shipped_scenario_is_valid_per_the_json_schema(path: Path, schema_validator: Any) -> None:
    document = _as_json(yaml.safe_load(path.read_text(encoding="utf-8")))
    errors = [e.message for e in schema_validator.iter_errors(document)]
    assert errors == []


@pytest.mark.parametrize("name", sorted(INVALID_CASES))
def test_json_schema_and_validate_agree_on_each_invalid_fixture(name: str, schema_validator: Any) -> None:
    with pytest.raises(ConfigError):
        load_scenario(INVALID / name)
    if name == "invalid-yaml.yaml":
        return
    document = _as_json(yaml.safe_load((INVALID / name).read_text(encoding="utf-8")))
    errors = list(schema_validator.iter_errors(document))
    if name in BEYOND_JSON_SCHEMA:
        # If the schema learns to say it, the fixture moves out of the list.
        assert errors == [], f"{name} is rejected by the JSON Schema now: take it out of BEYOND_JSON_SCHEMA"
    else:
        assert errors, f"the JSON Schema accepts {name}"


def test_json_schema_rejects_several_problems_as_validate_does(schema_validator: Any) -> None:
    document = _as_json(yaml.safe_load(SEVERAL.read_text(encoding="utf-8")))
    paths = {".".join(map(str, e.absolute_path)) for e in schema_validator.iter_errors(document)}
    assert paths >= {"count", "sink.type", "sink.batch_records", "data_faults.duplicates.rate"}


# -- bounds: the scenario schema and the run's settings agree ---------------------------


def _bounded_setting_keys() -> list[tuple[str, Key]]:
    out = []
    for key in _SETTING_OF:
        node: Any = SCHEMA
        for part in key.split("."):
            node = node[part]
        if node.minimum is not None or node.maximum is not None:
            out.append((key, node))
    return out


@pytest.mark.parametrize(
    ("key", "spec"), _bounded_setting_keys(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_a_bound_of_the_schema_is_the_bound_of_the_run(key: str, spec: Key) -> None:
    setting = _SETTING_OF[key]
    unit = {"size": "B", "duration": "s"}.get(spec.kind, "")

    def accepted(value: float) -> bool:
        try:
            resolve({}, {}, scenario={setting: f"{int(value)}{unit}", "start": "2026-01-27"})
        except ConfigError:
            return False
        return True

    if spec.minimum is not None:
        assert accepted(spec.minimum)
        if spec.minimum > 0:
            assert not accepted(spec.minimum - 1)
    if spec.maximum is not None:
        assert accepted(spec.maximum)
        assert not accepted(spec.maximum + 1)


# -- sizes: one set of units for flags and scenario files -------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1048576), ("100B", 100), ("5KB", 5000), ("5kb", 5000), ("5KiB", 5120), ("1.5MiB", 1572864),
     ("5MB", 5_000_000), ("1GB", 10**9), ("1GiB", 1024**3), (" 2 MiB ", 2 * 1024**2)],
)  # fmt: skip
def test_sizes_decimal_and_binary(text: str, size: int) -> None:
    assert parse_size(text, "--pack") == size


@pytest.mark.parametrize("text", ["-5MiB", "5TB", "5 M", "", "inf", "1e999B", "five MiB"])
def test_a_bad_size_is_one_line_naming_the_option_and_value(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_size(text, "--buffer-size")
    assert str(info.value).startswith(f"invalid --buffer-size {text!r}: ")


@pytest.mark.parametrize("unit", sorted(u for u in SIZE_UNITS if u))
def test_quotas_take_the_units_of_sizes(unit: str) -> None:
    assert parse_quota(f"3{unit.upper()}/s").per_s == parse_size(f"3{unit}", "x")


def test_the_size_flags_keep_their_meaning() -> None:
    settings = resolve({"pack": "5KB", "buffer_size": "2MiB", "quota": "1MiB/s"}, {})
    assert settings.pack_bytes == 5000
    assert settings.buffer_bytes == 2 * 1024**2
    assert settings.quota is not None and settings.quota.per_s == 1024**2
    assert resolve({"pack": "5KiB"}, {}).pack_bytes == 5120


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(["--buffer-size", "-5MiB"], "invalid --buffer-size '-5MiB': a size must not be negative"),
     (["--buffer-size", "1GiB"], "invalid --buffer-size '1GiB': Firehose buffering size is 1 MiB to 128 MiB"),
     (["--pack", "2GB"], "invalid --pack '2GB': a packed record is 64 bytes to 1,000 KiB"),
     (["--quota", "-1MiB/s"], "invalid --quota '-1MiB/s': expected e.g. 1MiB/s")],
)  # fmt: skip
def test_a_bad_size_flag_stops_the_run_in_one_line(flags: list[str], expected: str, tmp_path: Path) -> None:
    args = [
        "run",
        "--sink",
        "null",
        "--count",
        "10",
        "--quiet",
        "--dead-letter",
        str(tmp_path / "dl.ndjson"),
        *flags,
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("netflix-producer: error: ") and expected in line
    assert list(tmp_path.iterdir()) == []

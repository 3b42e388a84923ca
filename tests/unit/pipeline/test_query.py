"""The Athena queries on DuckDB, and the etl/query commands' errors (no Spark needed)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("duckdb", reason="the query runner needs duckdb>=1.5.6")

import pyarrow as pa
import pyarrow.parquet as pq

from producer.cli.commands import cli
from producer.errors import ConfigError, ProducerError
from producer.generation.schema import PROCESSED_FIELDS
from producer.pipeline.query import LocalAthena, find_query, named_queries, query_description, run_query

_ARROW = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "timestamp": pa.timestamp("us"),
}


def row(event_id: str, event_type: str, ts: float | None, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": event_id, "session_id": "s1", "user_id": 1, "profile_id": 0, "title_id": 80000001,
        "event_type": event_type, "event_ts": ts, "position_ms": 0, "device_type": "tv", "country": "US",
        "app_version": "8.120.0", "bitrate_kbps": 3000, "seq": 0,
        "event_timestamp": None if ts is None else datetime.fromtimestamp(ts, tz=UTC).replace(tzinfo=None),
    }  # fmt: skip
    base.update(fields)
    return base


def write_partition(root: Path, partition: str, rows: list[dict[str, object]]) -> None:
    schema = pa.schema([(f.name, _ARROW[f.athena_type]) for f in PROCESSED_FIELDS if f.name != "event_date"])
    folder = root / f"event_date={partition}"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "part-00000.snappy.parquet")


@pytest.fixture
def processed(tmp_path: Path) -> Path:
    """A tiny processed table: two dated rows and one in the default partition."""
    root = tmp_path / "processed"
    write_partition(
        root,
        "2026-01-27",
        [
            row("a", "PLAY_START", 1769472000.0, position_ms=0),
            row("b", "PLAY_STOP", 1769472600.0, position_ms=600_000, seq=1),
        ],
    )
    write_partition(root, "__HIVE_DEFAULT_PARTITION__", [row("c", "PAUSE", None, session_id="s2")])
    return root


def test_default_partition_reads_as_null_and_sorts_last(processed: Path) -> None:
    result = run_query(find_query("rows_per_date").read_text(), processed)
    assert result.columns == ("event_date", "rows_per_date")
    assert result.rows == ((date(2026, 1, 27), 2), (None, 1))
    assert not result.translated


def test_duckdb_answers_like_athena_utc_and_integer_division(
    processed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/Sao_Paulo")
    with LocalAthena(processed) as athena:
        assert athena.run("SELECT 7 / 2, -7 / 2, 7.0 / 2").rows == ((3, -3, 3.5),)
        hour = athena.run("SELECT hour(event_timestamp) FROM processed_netflix_events WHERE event_id = 'a'")
        assert hour.rows == ((0,),)  # 2026-01-27T00:00:00Z, whatever the machine's zone
        day = athena.run("SELECT CAST(to_timestamp(1769472000) AS DATE)")
        assert day.rows == ((date(2026, 1, 27),),)


def test_trino_functions_duckdb_lacks_are_translated(processed: Path) -> None:
    with LocalAthena(processed) as athena:
        result = athena.run(
            "SELECT date_format(from_unixtime(1769472000), '%Y-%m-%d %H') AS h, "
            "date_add('day', -7, DATE '2026-01-27') AS week_before"
        )
        assert result.translated
        ((hour, week_before),) = result.rows
        assert hour == "2026-01-27 00"
        # Trino keeps a DATE; sqlglot's DATE + INTERVAL gives DuckDB a TIMESTAMP (docs/pipeline.md).
        assert week_before == datetime(2026, 1, 20, tzinfo=UTC).replace(tzinfo=None)


def test_a_bad_query_is_one_line(processed: Path) -> None:
    with pytest.raises(ProducerError) as info:
        run_query("SELECT no_such_function(event_id) FROM processed_netflix_events", processed)
    assert str(info.value).startswith("query failed: ")
    assert "\n" not in str(info.value)


def test_queries_are_found_by_name_with_dashes_or_underscores() -> None:
    assert find_query("top-titles") == find_query("top_titles") == find_query("top_titles.sql")
    with pytest.raises(ConfigError, match="unknown query 'nope': the queries are avg_watch_time_per_title, "):
        find_query("nope")


def test_every_shipped_query_documents_itself_parses_as_trino_and_runs(processed: Path) -> None:
    import sqlglot

    queries = named_queries()
    assert {"rows_per_date", "event_type_distribution", "top_titles", "avg_watch_time_per_title",
            "completion_rate", "peak_concurrent_viewers_per_hour"} <= set(queries)  # fmt: skip
    with LocalAthena(processed) as athena:
        for name, path in queries.items():
            sql = path.read_text(encoding="utf-8")
            assert sql.startswith("-- ") and len(query_description(path)) > 20, name
            sqlglot.parse_one(sql, read="trino")
            result = athena.run(sql)
            assert not result.translated and result.columns, name


def test_watch_time_completion_and_concurrency_on_a_tiny_table(processed: Path) -> None:
    with LocalAthena(processed) as athena:
        watch = athena.run(find_query("avg_watch_time_per_title").read_text()).rows
        assert watch == ((80000001, 1, 10.0),)  # one session, 600,000 ms from start to stop
        completion = athena.run(find_query("completion_rate").read_text()).rows
        assert completion == ((80000001, 1, 1, 100.0),)  # it stopped at the furthest point seen
        peak = athena.run(find_query("peak_concurrent_viewers_per_hour").read_text()).rows
        assert peak == ((datetime(2026, 1, 27, tzinfo=UTC).replace(tzinfo=None), 1),)


# -- the commands ----------------------------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), env={}, catch_exceptions=False)


def test_query_command_lists_runs_and_formats(processed: Path) -> None:
    listing = invoke("query")
    assert listing.exit_code == 0
    assert "top_titles" in listing.output and "Peak concurrent viewers per UTC hour" in listing.output
    as_json = invoke("query", "rows-per-date", "--processed", str(processed), "--format", "json")
    assert json.loads(as_json.output) == [
        {"event_date": "2026-01-27", "rows_per_date": 2},
        {"event_date": None, "rows_per_date": 1},
    ]
    as_csv = invoke("query", "--sql", "SELECT event_id FROM processed_netflix_events ORDER BY 1",
                    "--processed", str(processed), "--format", "csv")  # fmt: skip
    assert as_csv.output == "event_id\na\nb\nc\n"
    table = invoke("query", "top_titles", "--processed", str(processed))
    assert "80000001" in table.output and "views" in table.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["query", "nope"], "unknown query 'nope': the queries are"),
        (["query", "top_titles", "--sql", "SELECT 1"], "give one of NAME, --sql and --file"),
        (["query", "top_titles", "--format", "xml"], "invalid --format 'xml'"),
        (["query", "top_titles", "--processed", "{tmp}/empty"], "no Parquet files under --processed"),
        (
            ["query", "--file", "{tmp}/missing.sql", "--processed", "{tmp}"],
            "--file '{tmp}/missing.sql' is not",
        ),
        (["etl", "--raw", "{tmp}/missing", "--processed", "{tmp}/p"], "--raw '{tmp}/missing' does not exist"),
        (["etl", "--raw", "{tmp}", "--max-quarantine-ratio", "2"], "invalid --max-quarantine-ratio '2'"),
        (["etl", "--raw", "{tmp}", "--null-event-ts", "drop"], "invalid --null-event-ts 'drop'"),
        (
            ["etl", "--raw", "{tmp}", "--processed", "{tmp}/p"],
            "--processed_path '{tmp}/p' is inside --raw_path",
        ),
        (["pipeline", "--max-quarantine-ratio", "x"], "invalid --max-quarantine-ratio 'x'"),
    ],
)
def test_command_errors_are_one_line_and_exit_1(args: list[str], expected: str, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = invoke(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert expected.replace("{tmp}", str(tmp_path)) in lines[0]
    assert "Traceback" not in result.output


def test_missing_pipeline_packages_name_the_pipeline_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    from producer.pipeline.etl import load_glue_job, local_spark

    # A module set to None in sys.modules fails to import, as if not installed.
    for name in ("pyspark", "pyspark.sql", "duckdb", "sqlglot"):
        monkeypatch.setitem(sys.modules, name, None)
    from producer.pipeline.query import translate

    for attempt in (lambda: load_glue_job.__wrapped__(tmp_path / "job.py"), local_spark,
                    lambda: LocalAthena(tmp_path), lambda: translate("SELECT 1")):  # fmt: skip
        with pytest.raises(ConfigError) as info:
            attempt()
        message = str(info.value)
        assert "pip install 'netflix-producer[pipeline]'" in message
        assert "pip install -e '.[pipeline]'" in message
        assert "==" not in message, "no pinned package of its own: the extra pins it"


# -- the world's dimension tables beside the processed table ---------------------------------


def _lake_with_dims(tmp_path: Path, seed: int) -> tuple[Path, list[int], dict[int, str]]:
    """A lake whose dims are world ``seed``'s and whose events play three of its titles."""
    import asyncio

    from producer.generation.world import World, WorldConfig
    from producer.sinks.lake import LakeSink

    lake = tmp_path / "lake"
    config = WorldConfig(seed=seed, accounts=300, titles=50)
    asyncio.run(LakeSink(root=lake, world=config).aclose())
    playables = World(config).tables()["playables"]
    names = {int(str(t)): str(n) for t, n in zip(playables["title_id"], playables["title_name"], strict=True)}
    ids = list(names)[:3]
    rows = [
        row(
            f"e{i}",
            "PLAY_START",
            1769472000.0 + i,
            title_id=ids[i % 3] if i < 5 else ids[0],
            user_id=10_000_000,
        )
        for i in range(9)
    ]
    write_partition(lake / "processed", "2026-01-27", rows)
    return lake, ids, names


def test_top_titles_over_a_lake_with_dims_shows_the_names(tmp_path: Path) -> None:
    lake, ids, names = _lake_with_dims(tmp_path, seed=42)
    table = invoke("query", "top-titles", "--processed", str(lake / "processed"), "--format", "json")
    assert table.exit_code == 0, table.output
    top = json.loads(table.output)
    assert top[0] == {"title_id": ids[0], "title_name": names[ids[0]], "views": 6}
    assert {r["title_name"] for r in top} == {names[i] for i in ids}
    with LocalAthena(lake / "processed", dims=lake / "dims") as athena:
        assert athena.world_id is not None and len(athena.world_id) == 12
        for query in ("plays_by_genre", "plays_by_plan"):
            result = athena.run(find_query(query).read_text())
            assert sum(r[2] for r in result.rows) == 9, query  # every play found its dims


def test_without_dims_the_names_are_empty_not_an_error(processed: Path) -> None:
    with LocalAthena(processed, dims=processed.parent / "dims") as athena:
        assert athena.world_id is None
        assert athena.run(find_query("top_titles").read_text()).rows == ((80000001, None, 1),)


def test_dims_of_another_world_are_refused_not_joined(tmp_path: Path) -> None:
    lake, _, _ = _lake_with_dims(tmp_path, seed=42)
    other, _, _ = _lake_with_dims(tmp_path / "other", seed=1)
    result = invoke(
        "query", "top-titles", "--processed", str(lake / "processed"), "--dims", str(other / "dims")
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert f"the dims under '{other / 'dims'}'" in lines[0]
    assert "not the world of the events" in lines[0] and "3 of their 3 title ids" in lines[0]

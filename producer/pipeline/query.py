"""The Athena queries, run locally: DuckDB over the processed Parquet.

:class:`LocalAthena` opens an in-memory DuckDB with the session settings that make it
answer like Athena (Trino): UTC time zone, and ``/`` between integers as integer
division. The processed table is a view named as in the Glue Catalog,
``processed_netflix_events``, over ``<processed>/**/*.parquet`` with Hive
partitioning (``event_date=__HIVE_DEFAULT_PARTITION__`` reads as NULL, which needs
DuckDB 1.5.6 or later); the quarantine, when there is one, is
``quarantined_netflix_events``. The world's dimension tables (``dims/`` of the lake,
written by the run) are ``netflix_titles``, ``netflix_playables``, ``netflix_accounts``
and ``netflix_profiles``, as in the Glue Catalog; without dims they are empty, so a
query joining them still runs (with no names). Dims of another world than the events'
are refused: their catalog would not know the events' title ids. A query runs as
written first; if DuckDB does not know a Trino function or form, it is translated with
sqlglot (trino -> duckdb) and run again. duckdb and sqlglot are imported only when a query runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from producer.errors import ConfigError, ProducerError
from producer.resources import bundled_dir
from producer.sinks.dims import DIM_COLUMNS, DIMS_PREFIX, GLUE_TABLES, WORLD_FILE, table_file

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "PROCESSED_TABLE",
    "QUARANTINE_TABLE",
    "QUERIES_DIR",
    "LocalAthena",
    "QueryResult",
    "default_dims_dir",
    "find_query",
    "named_queries",
    "query_description",
    "run_query",
    "translate",
]

#: The shipped Athena queries: the repository's queries/, or the wheel's copy.
QUERIES_DIR: Path = bundled_dir("queries")
PROCESSED_TABLE = "processed_netflix_events"
#: duckdb and sqlglot come with the ``pipeline`` extra.
_PIPELINE_EXTRA = (
    "part of the pipeline extra: pip install 'netflix-producer[pipeline]' "
    "(in a checkout: pip install -e '.[pipeline]')"
)
QUARANTINE_TABLE = "quarantined_netflix_events"
#: Share of the events' distinct title ids the dims' catalog may lack before the dims
#: are taken for another world's (a world's own catalog knows every one of them).
MAX_UNKNOWN_TITLE_SHARE = 0.01
_DUCKDB_TYPES = {"bigint": "BIGINT", "string": "VARCHAR", "double": "DOUBLE"}


def default_dims_dir(processed: Path) -> Path:
    """Where the dimension tables are when not given: ``dims`` next to ``processed`` (the lake's)."""
    return processed.parent / DIMS_PREFIX.rstrip("/")


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryResult:
    """Column names and rows of one query; ``translated`` when sqlglot had to step in."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    translated: bool = False


def named_queries() -> dict[str, Path]:
    """The shipped queries by name (the file stem, e.g. ``top_titles``)."""
    return {p.stem: p for p in sorted(QUERIES_DIR.glob("*.sql"))}


def find_query(name: str) -> Path:
    """A shipped query by name: ``top_titles``, ``top-titles`` and ``top_titles.sql`` all work."""
    queries = named_queries()
    key = name.strip().removesuffix(".sql").replace("-", "_")
    if key in queries:
        return queries[key]
    known = ", ".join(queries) or "none"
    msg = f"unknown query {name!r}: the queries are {known}"
    raise ConfigError(msg)


def query_description(path: Path) -> str:
    """The comment on a query's first line (what it answers, and how it is defined)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            return line.strip().removeprefix("--").strip() if line.lstrip().startswith("--") else ""
    return ""


def translate(sql: str) -> str:
    """Trino SQL rewritten for DuckDB by sqlglot (``from_unixtime`` -> ``TO_TIMESTAMP``...)."""
    try:
        import sqlglot
    except ImportError as exc:
        msg = f"translating Trino SQL needs sqlglot, {_PIPELINE_EXTRA}"
        raise ConfigError(msg) from exc
    try:
        return ";\n".join(sqlglot.transpile(sql, read="trino", write="duckdb"))
    except sqlglot.errors.SqlglotError as exc:
        msg = f"cannot translate the query from Trino SQL: {_first_line(str(exc))}"
        raise ProducerError(msg) from exc


class LocalAthena:
    """An in-memory DuckDB answering Athena SQL over a local processed table."""

    def __init__(self, processed: Path, *, quarantine: Path | None = None, dims: Path | None = None) -> None:
        try:
            import duckdb
        except ImportError as exc:
            msg = f"queries need duckdb 1.5.6 or later, {_PIPELINE_EXTRA}"
            raise ConfigError(msg) from exc
        if not _has_parquet(processed):
            msg = f"no Parquet files under --processed '{processed}': run 'netflix-producer etl' first"
            raise ConfigError(msg)
        self._duckdb = duckdb
        self.connection: duckdb.DuckDBPyConnection = duckdb.connect(":memory:")
        con = self.connection
        # Athena sessions are UTC and Trino divides integers as integers (7 / 2 = 3).
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET integer_division = true")
        con.execute(f"CREATE VIEW {PROCESSED_TABLE} AS SELECT * FROM {_parquet(processed, 'event_date')}")
        if quarantine is not None and _has_parquet(quarantine):
            con.execute(
                f"CREATE VIEW {QUARANTINE_TABLE} AS SELECT * FROM {_parquet(quarantine, 'ingest_date')}"
            )
        #: The world of the dims (``world.json``'s ``world_id``), or None without dims.
        self.world_id: str | None = None
        try:
            self._create_dims(dims, processed)
        except BaseException:
            con.close()
            raise

    def _create_dims(self, dims: Path | None, processed: Path) -> None:
        """One view per dimension table: the dims' Parquet, or empty without them."""
        con = self.connection
        found = dims is not None and (dims / WORLD_FILE).is_file()
        for name, columns in DIM_COLUMNS.items():
            view = GLUE_TABLES[name]
            if found:
                assert dims is not None
                path = str((dims / table_file(name)).resolve()).replace("'", "''")
                con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{path}')")
            else:
                cols = ", ".join(f"CAST(NULL AS {_DUCKDB_TYPES[t]}) AS {c}" for c, t in columns)
                con.execute(f"CREATE VIEW {view} AS SELECT {cols} WHERE false")
        if not found:
            return
        assert dims is not None
        self.world_id = _world_id(dims)
        unknown, total = con.execute(
            f"SELECT COUNT(*) FILTER (WHERE p.title_id IS NULL), COUNT(*) "
            f"FROM (SELECT DISTINCT title_id FROM {PROCESSED_TABLE} WHERE title_id IS NOT NULL) e "
            f"LEFT JOIN {GLUE_TABLES['playables']} p ON p.title_id = e.title_id"
        ).fetchall()[0]
        if total and unknown > MAX_UNKNOWN_TITLE_SHARE * total:
            msg = (
                f"the dims under '{dims}' (world {self.world_id}) are not the world of the events "
                f"under '{processed}': {unknown:,} of their {total:,} title ids are not in its catalog"
            )
            raise ConfigError(msg)

    def run(self, sql: str) -> QueryResult:
        """Run one query: as written, or translated from Trino when DuckDB needs it."""
        duckdb = self._duckdb
        retryable = (duckdb.CatalogException, duckdb.ParserException, duckdb.BinderException)
        try:
            return self._execute(sql, translated=False)
        except retryable as first:
            rewritten = translate(sql)
            if _normalise(rewritten) == _normalise(sql):
                raise _query_error(first) from None
            try:
                return self._execute(rewritten, translated=True)
            except duckdb.Error:
                raise _query_error(first) from None
        except duckdb.Error as exc:
            raise _query_error(exc) from None

    def _execute(self, sql: str, *, translated: bool) -> QueryResult:
        cursor = self.connection.execute(sql)
        columns = tuple(d[0] for d in cursor.description or ())
        return QueryResult(columns=columns, rows=tuple(cursor.fetchall()), translated=translated)

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.connection.close()

    def __enter__(self) -> LocalAthena:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def run_query(
    sql: str, processed: Path, *, quarantine: Path | None = None, dims: Path | None = None
) -> QueryResult:
    """Run one Athena (Trino) query over the processed table at ``processed`` (and ``dims``)."""
    with LocalAthena(processed, quarantine=quarantine, dims=dims) as athena:
        return athena.run(sql)


def _world_id(dims: Path) -> str:
    import json

    world_file = dims / WORLD_FILE
    try:
        return str(json.loads(world_file.read_text(encoding="utf-8"))["world_id"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        msg = f"'{world_file}' is not a world identity (expected a JSON object with world_id)"
        raise ConfigError(msg) from exc


def _has_parquet(directory: Path) -> bool:
    return directory.is_dir() and next(directory.rglob("*.parquet"), None) is not None


def _parquet(directory: Path, partition: str) -> str:
    glob = str(directory.resolve() / "**" / "*.parquet").replace("'", "''")
    return f"read_parquet('{glob}', hive_partitioning = true, hive_types = {{'{partition}': DATE}})"


def _normalise(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().rstrip(";").strip().lower()


def _query_error(exc: Exception) -> ProducerError:
    return ProducerError(f"query failed: {_first_line(str(exc))}")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"

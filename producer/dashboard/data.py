"""What the dashboard shows: the shipped queries of ``queries/`` over a date range, on the
local processed zone (DuckDB) or on Athena (pyathena), the same SQL either way.

A date range narrows every query by rewriting its references to the processed table as
the same table filtered on ``event_date`` (sqlglot, in Trino SQL), so the shipped
queries stay as they are and Athena prunes the partitions.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from producer.errors import ConfigError
from producer.pipeline.query import PROCESSED_TABLE, find_query, query_description

__all__ = [
    "PAGES",
    "AthenaSource",
    "LocalSource",
    "Result",
    "Source",
    "latest_dq_report",
    "page_query",
    "within_dates",
]

#: The dashboard's sections: (query, title), in page order.
PAGES = (
    ("rows_per_date", "Rows per date"),
    ("event_type_distribution", "Event types"),
    ("top_titles", "Top titles"),
    ("country_events", "Countries"),
    ("device_mix", "Devices"),
    ("hourly_activity", "Hourly activity"),
    ("completion_rate", "Completion rate"),
    ("peak_concurrent_viewers_per_hour", "Peak concurrent viewers"),
)


@dataclass(frozen=True, slots=True)
class Result:
    """A query's answer: its column names and rows."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


class Source(Protocol):
    """Where the queries run."""

    name: str

    def query(self, sql: str) -> Result: ...

    def dates(self) -> tuple[dt.date, dt.date] | None: ...


def within_dates(sql: str, first: dt.date, last: dt.date) -> str:
    """``sql`` (Trino) with every reference to the processed table filtered to the dates."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="trino")
    where = f"event_date BETWEEN '{first.isoformat()}' AND '{last.isoformat()}'"

    def narrow(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name == PROCESSED_TABLE and not node.args.get("db"):
            alias = node.alias or PROCESSED_TABLE
            inner = sqlglot.parse_one(f"SELECT * FROM {PROCESSED_TABLE} WHERE {where}", read="trino")
            return exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias)))
        return node

    return tree.transform(narrow, copy=True).sql(dialect="trino")


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


_DATES_SQL = f"SELECT MIN(event_date), MAX(event_date) FROM {PROCESSED_TABLE} WHERE event_date IS NOT NULL"


class LocalSource:
    """The local lake's processed zone (with its quarantine and dims), on DuckDB."""

    def __init__(self, processed: Path) -> None:
        from producer.pipeline.etl import default_quarantine_dir
        from producer.pipeline.query import LocalAthena, default_dims_dir

        self.processed = processed
        self.name = f"local lake {processed}"
        self._athena = LocalAthena(
            processed, quarantine=default_quarantine_dir(processed), dims=default_dims_dir(processed)
        )

    def query(self, sql: str) -> Result:
        r = self._athena.run(sql)
        return Result(r.columns, r.rows)

    def dates(self) -> tuple[dt.date, dt.date] | None:
        lo, hi = self.query(_DATES_SQL).rows[0]
        first, last = _date(lo), _date(hi)
        return (first, last) if first is not None and last is not None else None


class AthenaSource:
    """A Glue database on Athena, through pyathena (the tables of infra/cloudformation)."""

    def __init__(self, *, database: str, workgroup: str, region: str | None = None) -> None:
        try:
            from pyathena import connect
        except ImportError:
            msg = "the dashboard on Athena needs pyathena: pip install 'netflix-producer[dashboard]'"
            raise ConfigError(msg) from None
        self.name = f"Athena {database} (workgroup {workgroup})"
        self._connection = connect(work_group=workgroup, schema_name=database, region_name=region)

    def query(self, sql: str) -> Result:
        cursor = self._connection.cursor()
        cursor.execute(sql)
        columns = tuple(d[0] for d in cursor.description or ())
        return Result(columns, tuple(tuple(row) for row in cursor.fetchall()))

    def dates(self) -> tuple[dt.date, dt.date] | None:
        lo, hi = self.query(_DATES_SQL).rows[0]
        first, last = _date(lo), _date(hi)
        return (first, last) if first is not None and last is not None else None


def page_query(name: str) -> tuple[str, str]:
    """(the shipped query's SQL, its description)."""
    path = find_query(name)
    return path.read_text(encoding="utf-8"), query_description(path)


def latest_dq_report(processed: Path) -> dict[str, Any] | None:
    """The newest data-quality report the ETL wrote beside the processed zone, if any."""
    from producer.pipeline.etl import default_report_dir

    reports = sorted(default_report_dir(processed).glob("dq-report-*.json"))
    if not reports:
        return None
    data: dict[str, Any] = json.loads(reports[-1].read_text(encoding="utf-8"))
    return data

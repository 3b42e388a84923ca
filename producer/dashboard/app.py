"""The pipeline's dashboard: a Streamlit app over the shipped queries.

Started by ``netflix-producer dashboard``, which passes its settings in the environment:
``NETFLIX_PRODUCER_DASHBOARD_PROCESSED`` (the local processed zone), or
``NETFLIX_PRODUCER_DASHBOARD_DATABASE`` and ``..._WORKGROUP`` (and ``..._REGION``) for
Athena. Each section is one query of ``queries/`` over the chosen dates, drawn with the
run report's charts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from producer.dashboard.data import (
    PAGES,
    AthenaSource,
    LocalSource,
    Source,
    latest_dq_report,
    page_query,
    within_dates,
)
from producer.errors import ProducerError
from producer.pipeline.etl import summary_rows
from producer.report.charts import MAX_BARS, chart_axes, plain


@st.cache_resource
def _source(processed: str, database: str, workgroup: str, region: str) -> Source:
    if database:
        return AthenaSource(database=database, workgroup=workgroup or "primary", region=region or None)
    return LocalSource(Path(processed))


@st.cache_data(ttl=60)
def _run(key: tuple[str, ...], sql: str) -> tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]:
    result = _source(*key).query(sql)
    return result.columns, result.rows


def main() -> None:
    st.set_page_config(page_title="netflix-producer dashboard", layout="wide")
    env = os.environ
    key = (
        env.get("NETFLIX_PRODUCER_DASHBOARD_PROCESSED", "lake/processed"),
        env.get("NETFLIX_PRODUCER_DASHBOARD_DATABASE", ""),
        env.get("NETFLIX_PRODUCER_DASHBOARD_WORKGROUP", ""),
        env.get("NETFLIX_PRODUCER_DASHBOARD_REGION", ""),
    )
    st.title("netflix-producer: the pipeline's dashboard")
    try:
        source = _source(*key)
        dates = source.dates()
    except ProducerError as exc:
        st.error(str(exc))
        return
    st.caption(f"{source.name}: the queries of queries/, the same SQL as on Athena")
    if dates is None:
        st.warning("No rows with an event_date yet: run the ETL first.")
        return
    first, last = dates
    chosen = st.sidebar.date_input("event_date", value=(first, last), min_value=first, max_value=last)
    if isinstance(chosen, tuple) and len(chosen) == 2:
        first, last = chosen
    st.sidebar.write(f"{first} to {last}")
    for name, title in PAGES:
        sql, description = page_query(name)
        st.subheader(title)
        st.caption(description)
        try:
            columns, rows = _run(key, within_dates(sql, first, last))
        except ProducerError as exc:
            st.error(str(exc))
            continue
        _chart(columns, rows)
        st.dataframe(_frame(columns, rows[:20]), hide_index=True)
    if not key[1]:
        _quality(Path(key[0]))


def _frame(columns: tuple[str, ...], rows: tuple[tuple[Any, ...], ...]) -> Any:
    import pandas as pd

    return pd.DataFrame([tuple(plain(v) for v in row) for row in rows], columns=list(columns))


def _chart(columns: tuple[str, ...], rows: tuple[tuple[Any, ...], ...]) -> None:
    """A bar chart of the result's measure by its label (as the run report draws it)."""
    axes = chart_axes(columns, rows)
    if axes is None or not rows or len(rows) > MAX_BARS:
        return
    label, value = columns[axes[0]], columns[axes[1]]
    frame = _frame((label, value), tuple((r[axes[0]], r[axes[1]]) for r in rows))
    frame[label] = frame[label].astype(str)
    st.bar_chart(frame, x=label, y=value, horizontal=True, height=max(22 * len(rows), 120))


def _quality(processed: Path) -> None:
    report = latest_dq_report(processed)
    st.subheader("Data quality")
    if report is None:
        st.info("No data-quality report beside the processed zone: run the ETL.")
        return
    st.caption(f"The ETL's latest report: {'passed' if report.get('passed') else 'FAILED'}")
    reasons = report.get("quarantined_by_reason") or {}
    if reasons:
        frame = _frame(("reason", "rows"), tuple(reasons.items()))
        st.bar_chart(frame, x="reason", y="rows", horizontal=True, height=max(30 * len(reasons), 120))
    st.dataframe(_frame(("check", "value"), tuple(summary_rows(report))), hide_index=True)


main()

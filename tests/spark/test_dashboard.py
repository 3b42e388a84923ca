"""The pipeline's dashboard over a real processed zone (the Glue job on local Spark):
its page logic through Streamlit's AppTest, and the server in headless Chromium."""

from __future__ import annotations

import datetime as dt
import socket
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from producer.dashboard.data import PAGES, LocalSource, page_query, within_dates
from producer.pipeline.etl import run_etl
from tests.support import browser
from tests.support.polling import Child, wait_until

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.xdist_group("spark")]

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "producer" / "dashboard" / "app.py"


@pytest.fixture(scope="module")
def processed(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated days into a lake (with its dims), through the Glue job."""
    from click.testing import CliRunner

    from producer.cli.commands import cli

    lake = tmp_path_factory.mktemp("dash") / "lake"
    args = ["run", "--start", "2026-01-27T12:00:00Z", "--end", "2026-01-28T12:00:00Z", "--rate", "0.3/s",
            "--lake-dir", str(lake), "--quiet", "--seed", "8", "--accounts", "5000", "--titles", "1000"]  # fmt: skip
    result = CliRunner().invoke(cli, args, env={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run_etl(lake / "netflix", lake / "processed", spark=spark)
    return lake / "processed"


def test_a_date_range_narrows_every_query(processed: Path) -> None:
    source = LocalSource(processed)
    assert source.dates() == (dt.date(2026, 1, 27), dt.date(2026, 1, 28))
    for name, _ in PAGES:
        sql, _ = page_query(name)
        everything = source.query(sql)
        assert (
            source.query(within_dates(sql, dt.date(2026, 1, 27), dt.date(2026, 1, 28))).rows
            == everything.rows
        )
        assert source.query(within_dates(sql, dt.date(2026, 1, 1), dt.date(2026, 1, 2))).rows in ((), ((0,),))
    one = source.query(
        within_dates(page_query("rows_per_date")[0], dt.date(2026, 1, 28), dt.date(2026, 1, 28))
    )
    assert [str(r[0]) for r in one.rows] == ["2026-01-28"]


def test_the_page_shows_every_query_with_its_chart_and_the_data_quality(
    processed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("NETFLIX_PRODUCER_DASHBOARD_PROCESSED", str(processed))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, at.exception
    assert [h.value for h in at.subheader] == [title for _, title in PAGES] + ["Data quality"]
    assert len(at.dataframe) == len(PAGES) + 1
    rows_per_date = at.dataframe[0].value
    assert list(rows_per_date["event_date"].astype(str)) == ["2026-01-27", "2026-01-28"]
    # One day only: every section follows.
    at.sidebar.date_input[0].set_value((dt.date(2026, 1, 28), dt.date(2026, 1, 28))).run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["event_date"].astype(str)) == ["2026-01-28"]
    assert "passed" in at.caption[-1].value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_dashboard_server_draws_its_charts_in_a_browser(processed: Path, tmp_path: Path) -> None:
    port = free_port()
    server = Child(
        [sys.executable, "-m", "producer", "dashboard", "--processed", str(processed), "--port", str(port)],
        log_dir=tmp_path, name="dashboard",
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"

        def healthy() -> bool:
            with urllib.request.urlopen(f"{url}_stcore/health", timeout=5) as r:
                return bool(r.status == 200)

        wait_until(healthy, what="the dashboard answering", children=[server])
        # Drawn: the script done running, a chart per section with a label and a measure.
        drawn = browser.watch(
            url,
            """(() => {
                const charts = document.querySelectorAll('[data-testid="stVegaLiteChart"]');
                const running = document.querySelector('[data-testid="stStatusWidgetRunningIcon"]');
                const drawn = [...charts].filter((c) => c.querySelector("svg, canvas")).length;
                return !running && drawn >= 7 ? {
                    charts: drawn,
                    headings: [...document.querySelectorAll("h3")].map((h) => h.textContent),
                    exceptions: document.querySelectorAll('[data-testid="stException"]').length,
                } : null;
            })()""",
            shot=browser.ARTIFACTS / "dashboard.png",
        )
        assert drawn.value, server.output()
        assert drawn.value["exceptions"] == 0
        assert [title for _, title in PAGES] + ["Data quality"] == drawn.value["headings"]
        assert not [e for e in drawn.errors if not e.startswith("WARN")], (
            drawn.errors
        )  # Vega's own warnings aside
    finally:
        server.kill()

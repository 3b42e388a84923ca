"""The run report in a real browser: a throttled run against the local quota endpoint,
its report drawn by headless Chromium from a file URL with no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.browser import ARTIFACTS, load, screenshot
from tests.support.polling import RUN_DEADLINE_S

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def aws_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETFLIX_PRODUCER_", "AWS_"))}
    return env | {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                  "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}  # fmt: skip


@pytest.fixture(scope="module")
def throttled_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """A realtime run at about 2x a 200 KiB/s stream quota, with its summary and report."""
    tmp = tmp_path_factory.mktemp("report-run")
    endpoint = subprocess.Popen(
        [sys.executable, "-m", "producer.loadtest.quota_endpoint", "--idle", "60", "--bytes-per-s", "200KiB",
         "--records-per-s", "100000"],
        stdout=subprocess.PIPE, text=True, env=aws_env(),
    )  # fmt: skip
    try:
        assert endpoint.stdout is not None
        url = endpoint.stdout.readline().strip()  # the endpoint prints its URL once it listens
        proc = subprocess.run(
            [sys.executable, "-m", "producer", "run", "--sink", "firehose", "--stream", "report", "--endpoint-url", url,
             "--rate", "1200/s", "--duration", "6s", "--seed", "3", "--quiet", "--summary-json", str(tmp / "run.json"),
             "--report", str(tmp / "run.html"), "--dead-letter", str(tmp / "dead.ndjson")],
            capture_output=True, text=True, env=aws_env(), timeout=RUN_DEADLINE_S, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
    finally:
        endpoint.terminate()
        endpoint.wait(timeout=30)
    return json.loads((tmp / "run.json").read_text()), tmp / "run.html"


def test_a_throttled_runs_report_draws_every_chart_with_its_points_and_no_errors(
    throttled_run: tuple[dict, Path],
) -> None:
    summary, page = throttled_run
    rows = summary["timeline"]["rows"]
    assert summary["generated"] == summary["accepted"] == sum(rows["accepted"]) == 7_200
    assert summary["throttled"] > 0 and sum(rows["quota_bound"]) > 0, "the quota shows in the timeline"
    dom = load(page.as_uri())
    assert dom.body.get("data-rendered") == "true", dom.body
    assert dom.root.get("data-console-errors") == "0", dom.root.get("data-console-last")
    expected = {
        "chart-rate": len(rows["t_s"]),
        "chart-latency": len(rows["t_s"]),
        "chart-trouble": len(rows["t_s"]),
        "chart-mix": len(summary["event_types"]),
    }
    for chart_id, points in expected.items():
        chart = dom.by_id[chart_id]
        assert chart.attrs.get("data-rendered") == "true", chart_id
        assert chart.attrs["data-points"] == chart.attrs["data-expected-points"] == str(points), chart_id
        assert chart.tags.get("svg") == 1 and chart.tags.get("path", 0) > 0, (chart_id, chart.tags)
    # Quota-bound periods are shaded on the rate chart; the types are bars.
    assert dom.by_id["chart-rate"].classes.get("mark-rect", 0) >= 1
    assert dom.by_id["chart-mix"].classes.get("mark-rect", 0) >= 1
    # The stream took longer than the 6 s asked, and the page says why.
    assert summary["elapsed_s"] > 7.0 and summary["timeline"]["planned_end_s"] < 6.0
    assert "Behind the rate asked: took" in page.read_text() and "(quota-bound for" in page.read_text()
    shot = screenshot(page.as_uri(), ARTIFACTS / "report.png")
    assert shot.stat().st_size > 20_000

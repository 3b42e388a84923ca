"""The report page without a browser: its charts, its verdict, its errors (see
tests/functional/test_report_browser.py for the page drawn in Chromium)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from producer.cli.commands import cli
from producer.report.charts import charts, query_section
from producer.report.html import render_report, verdict
from producer.runtime.runner import run
from producer.sinks.null import NullSink
from tests.unit.runtime.test_pacing_and_runner import settings


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("report")
    summary = asyncio.run(
        run(settings(tmp, rate="200/s", start="2026-01-27T00:00:00Z", duration="2h", accounts="20000",
                     titles="2000"), NullSink())
    )  # fmt: skip
    return summary.to_dict()


def test_a_simulated_run_draws_its_event_time_against_the_plan(simulated: dict) -> None:
    drawn = {c.id: c for c in charts(simulated)}
    assert list(drawn) == [
        "chart-rate",
        "chart-event-time",
        "chart-trouble",
        "chart-mix",
    ]  # no calls: no latency
    assert drawn["chart-event-time"].points == 120  # two hours in minutes
    assert drawn["chart-rate"].points == len(simulated["timeline"]["rows"]["t_s"])
    assert drawn["chart-mix"].points == len(simulated["event_types"])


def test_the_page_is_whole_and_needs_no_network(simulated: dict) -> None:
    page = render_report(simulated)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    # Nothing to fetch: no external script, style sheet, image or font (the markup
    # outside the inline scripts; the browser test runs the scripts with no network).
    markup = re.sub(r"(<script[^>]*>).*?</script>", r"\1</script>", page, flags=re.S)
    assert markup.count("<script") == 3
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", markup)
    assert "@import" not in markup and "url(" not in markup
    specs = json.loads(
        re.search(r'<script type="application/json" id="report-charts">(.*?)</script>', page, re.S)[1]
    )
    assert set(specs) == {"chart-rate", "chart-event-time", "chart-trouble", "chart-mix"}
    for chart_id, spec in specs.items():
        assert f'id="{chart_id}" data-expected-points="{len(spec["data"]["values"])}"' in page


def test_the_verdict_says_when_the_run_fell_behind_or_lost_events(simulated: dict) -> None:
    assert verdict(simulated)[0] == "ok"
    behind = json.loads(json.dumps(simulated))
    bins = behind["timeline"]["event_time"]
    bins["events"] = [n // 2 for n in bins["events"]]
    kind, sentence = verdict(behind)
    assert kind == "warn" and sentence.startswith("Behind the rate asked: 50% of the events the shape plans")
    lost = {**simulated, "dead_lettered": 3, "accepted": simulated["generated"] - 3}
    assert verdict(lost) == ("warn", f"{simulated['generated'] - 3:,} of {simulated['generated']:,} events "
                                     "accepted; 3 dead-lettered, 0 failed.")  # fmt: skip
    assert verdict({**simulated, "error": "firehose x accepted nothing for 60 s: Slow down."})[0] == "fail"


def test_report_command_errors_are_one_line_naming_the_file(tmp_path: Path, simulated: dict) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["report", str(tmp_path / "nope.json")])
    assert missing.exit_code != 0
    assert (
        missing.output.strip()
        == f"netflix-producer: error: cannot read {tmp_path / 'nope.json'}: No such file or directory"
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"generated": 1')
    out = runner.invoke(cli, ["report", str(bad)])
    assert out.exit_code != 0 and out.output.startswith(
        f"netflix-producer: error: {bad}: not a summary (not JSON"
    )
    assert len(out.output.strip().splitlines()) == 1
    good = tmp_path / "run.json"
    good.write_text(json.dumps(simulated))
    out = runner.invoke(cli, ["report", str(good)])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "run.html").read_text().startswith("<!doctype html>")
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_run_ended_by_count_within_a_minute_did_what_was_asked(tmp_path: Path) -> None:
    summary = asyncio.run(
        run(settings(tmp_path, rate="500/s", start="2026-01-27T00:00:00Z", count="20000", accounts="20000",
                     titles="2000"), NullSink())
    ).to_dict()  # fmt: skip
    bins = summary["timeline"]["event_time"]
    assert len(bins["events"]) == 1 and bins["planned"][0] == pytest.approx(20_000, rel=0.02)  # 40 s, not 60
    assert verdict(summary)[0] == "ok", verdict(summary)


def test_query_results_are_bar_charts_of_a_measure_by_a_label(simulated: dict) -> None:
    countries = query_section("country_events", "by country", ("country", "events"), (("US", 10), ("BR", 5)))
    assert countries.chart is not None and countries.chart.points == 2
    hours = query_section("hourly_activity", "by hour", ("hour_utc", "plays"), ((0, 5), (1, 6), (2, 9)))
    assert hours.chart is not None and hours.chart.spec["layer"][0]["encoding"]["y"]["field"] == "hour_utc"
    assert query_section("ratios", "two measures", ("a", "b"), ((1.5, 2.5),)).chart is None
    titles = query_section(
        "top_titles", "by plays", ("title_id", "title", "plays"), ((98175436, "A Film", 12),)
    )
    page = render_report(simulated, sections=[titles])
    assert "<td>98175436</td><td>A Film</td><td>12</td>" in page  # an id without separators
    assert 'id="chart-query-top_titles" data-expected-points="1"' in page


def test_a_report_into_a_directory_not_made_yet_is_written_there(tmp_path: Path, simulated: dict) -> None:
    from producer.errors import ConfigError
    from producer.report.html import check_report, write_report

    page = tmp_path / "lake" / "last-run.html"  # make demo: the lake is made by the run
    check_report(page)
    write_report(simulated, page)
    assert page.read_text().startswith("<!doctype html>")
    with pytest.raises(ConfigError, match=r"cannot write the report .*: it is a directory"):
        check_report(tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"is not a writable directory"):
        check_report(tmp_path / "file" / "run.html")

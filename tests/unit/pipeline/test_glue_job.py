"""The Glue script's pure parts: schema, arguments, data-quality rules, reports, metrics.

No Spark session here (importing pyspark starts no JVM); the Spark side is tests/spark.
"""

from __future__ import annotations

import argparse
import ast
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="the Glue script imports pyspark")

from producer.generation.schema import EVENT_TYPES, PROCESSED_FIELDS, RAW_FIELDS
from producer.pipeline.etl import GLUE_SCRIPT, load_glue_job, raw_root

JOB = load_glue_job()


def test_the_script_keeps_the_schema_modules_processed_columns() -> None:
    assert [(f.name, f.athena_type) for f in PROCESSED_FIELDS] == list(JOB.PROCESSED_COLUMNS)
    assert [f.name for f in RAW_FIELDS] == [name for name, _ in JOB.RAW_COLUMNS]
    assert tuple(EVENT_TYPES) == JOB.EVENT_TYPES
    assert (
        JOB.processed_schema().simpleString()
        == "struct<" + ",".join(f"{f.name}:{f.athena_type}" for f in PROCESSED_FIELDS) + ">"
    )


def test_awsglue_is_imported_only_inside_the_glue_entry() -> None:
    assert "awsglue" not in sys.modules  # loading the script did not need it
    tree = ast.parse(GLUE_SCRIPT.read_text(encoding="utf-8"))
    owners: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("awsglue"):
                    owners[inner.module or ""] = node.name
    top_level = [
        n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom) and "awsglue" in ast.unparse(n)
    ]
    assert not top_level
    assert owners == {"awsglue.context": "main", "awsglue.job": "main", "awsglue.utils": "main"}


def fake_get_resolved_options(args: list[str], options: list[str]) -> dict[str, Any]:
    """What awsglue.utils.getResolvedOptions does: required options, unknown ones ignored."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--job-bookmark-option", default="job-bookmark-disable")
    for option in options:
        parser.add_argument("--" + option, required=True)
    return vars(parser.parse_known_args(args[1:])[0])


ARGV = [
    "script.py", "--JOB_NAME", "netflix-raw-to-processed", "--raw_path", "s3://lake/netflix/",
    "--processed_path", "s3://lake/processed/", "--quarantine_path", "s3://lake/quarantine/",
    "--report_path", "s3://lake/reports/", "--enable-metrics", "true", "--TempDir", "s3://lake/tmp/",
]  # fmt: skip


def test_job_arguments_parse_with_defaults_for_the_optional_ones() -> None:
    options, args = JOB.resolve_job_options(ARGV, fake_get_resolved_options)
    assert options.raw_path == "s3://lake/netflix/"
    assert options.processed_path == "s3://lake/processed/"
    assert options.null_event_ts == "quarantine"
    assert options.max_quarantine_ratio == 0.05
    assert options.metrics_namespace == "NetflixPipeline"
    assert options.job_name == args["JOB_NAME"] == "netflix-raw-to-processed"
    assert options.incremental is False  # bookmarks disabled


def test_optional_job_arguments_and_the_bookmark_option() -> None:
    argv = [
        *ARGV, "--null_event_ts", "default_partition", "--max_quarantine_ratio", "0.2",
        "--fail_on_volume_anomaly", "true", "--metrics_namespace", "none",
        "--job-bookmark-option", "job-bookmark-enable",
    ]  # fmt: skip
    options, _ = JOB.resolve_job_options(argv, fake_get_resolved_options)
    assert options.null_event_ts == "default_partition"
    assert options.max_quarantine_ratio == 0.2
    assert options.fail_on_volume_anomaly is True
    assert options.metrics_namespace == ""
    assert options.incremental is True  # bookmarks enabled: only new objects
    options, _ = JOB.resolve_job_options([*argv, "--incremental", "false"], fake_get_resolved_options)
    assert options.incremental is False  # an explicit argument wins


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--null_event_ts", "drop"], "--null_event_ts must be quarantine or default_partition (got 'drop')"),
        (["--max_quarantine_ratio", "1.5"], "--max_quarantine_ratio must be within [0, 1] (got 1.5)"),
        (["--incremental", "maybe"], "--incremental must be true or false (got 'maybe')"),
        (["--volume_anomaly_factor", "0.5"], "--volume_anomaly_factor must be 0 (off) or >= 1 (got 0.5)"),
    ],
)
def test_bad_job_arguments_fail_with_one_line(extra: list[str], message: str) -> None:
    with pytest.raises(ValueError, match="invalid job arguments") as info:
        JOB.resolve_job_options([*ARGV, *extra], fake_get_resolved_options)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("raw", "processed"),
    [("s3://lake/netflix/", "s3://lake/netflix/processed/"), ("/data/lake", "/data/lake/processed")],
)
def test_outputs_inside_the_raw_zone_are_refused(raw: str, processed: str) -> None:
    with pytest.raises(ValueError, match="is inside --raw_path"):
        JOB.JobOptions(raw_path=raw, processed_path=processed, quarantine_path="/q", report_path="/r")


def test_raw_zone_is_the_fixed_part_of_the_firehose_prefix(tmp_path: Path) -> None:
    assert (
        raw_root(tmp_path, "netflix/ingest_year=!{timestamp:yyyy}/!{timestamp:MM/dd/HH}/")
        == tmp_path / "netflix"
    )
    assert raw_root(tmp_path, "raw/events/") == tmp_path / "raw" / "events"
    assert raw_root(tmp_path, "!{timestamp:yyyy}/") == tmp_path


# -- data-quality rules ---------------------------------------------------------------------


def test_volume_is_checked_against_the_median_of_earlier_sizeable_dates() -> None:
    history = {"2026-01-20": 10_000, "2026-01-21": 12_000, "2026-01-22": 11_000, "2026-01-19": 40}
    checks = JOB.volume_checks(
        {"2026-01-23": 36_000, "2026-01-24": 11_500, "2026-01-18": 30},
        history,
        factor=3.0,
        baseline_days=7,
        min_rows=1000,
    )
    assert [(c["date"], c["baseline"], c["anomaly"]) for c in checks] == [
        ("2026-01-23", 11_000, True),  # 3.27x the median of the 20th-22nd
        ("2026-01-24", 11_500, False),  # the 23rd's own spike moves the median only a little
    ]
    assert checks[0]["baseline_dates"] == ["2026-01-20", "2026-01-21", "2026-01-22"]
    # Fewer than 3 sizeable earlier dates, or a date under min_rows: not judged.
    assert JOB.volume_checks({"2026-01-22": 99_000}, {"2026-01-20": 5000, "2026-01-21": 5000},
                             factor=3, baseline_days=7, min_rows=1000) == []  # fmt: skip
    # A drop is an anomaly too; factor 0 reports the ratio without judging.
    drop = JOB.volume_checks({"2026-01-23": 2000}, history, factor=3, baseline_days=7, min_rows=1000)
    assert drop[0]["anomaly"] and drop[0]["ratio"] == pytest.approx(2000 / 11_000, abs=1e-4)
    off = JOB.volume_checks({"2026-01-23": 2000}, history, factor=0, baseline_days=7, min_rows=1000)
    assert not off[0]["anomaly"]


def counts(**kwargs: Any) -> Any:
    base = {
        "files_read": 3,
        "rows_read": 1000,
        "quarantined_by_reason": {"malformed_json": 30, "null_event_ts": 20},
        "rows_written": 900,
        "duplicates_within_input": 50,
        "rows_per_date": {"2026-01-27": 900},
        "new_rows_per_date": {"2026-01-27": 900},
        "null_counts": {"app_version": 90},
    }
    base.update(kwargs)
    return JOB.RunCounts(**base)


def report(run_counts: Any, **options: Any) -> dict[str, Any]:
    opts = JOB.JobOptions(
        raw_path="/raw", processed_path="/p", quarantine_path="/q", report_path="/r", **options
    )
    now = datetime(2026, 1, 28, tzinfo=UTC)
    return JOB.build_report(
        run_counts, opts, run_id="r1", started_at=now, finished_at=now, history={}, modified_after=None
    )


def test_report_counts_every_row_and_evaluates_the_rules() -> None:
    r = report(counts())
    assert (r["rows_read"], r["rows_written"], r["rows_quarantined"], r["duplicates_removed"]) == (
        1000,
        900,
        50,
        50,
    )
    assert r["quarantine_ratio"] == 0.05
    assert r["null_rates"]["app_version"] == 0.1 and r["null_rates"]["event_id"] == 0.0
    assert r["passed"] and [rule["rule"] for rule in r["rules"]] == [
        "accounting", "max_quarantine_ratio", "min_rows_read",
    ]  # fmt: skip
    assert list(r["quarantined_by_reason"]) == ["malformed_json", "null_event_ts"]  # largest first


def test_failed_rules_make_one_line_naming_each() -> None:
    r = report(counts(), max_quarantine_ratio=0.01, min_rows_read=5000)
    assert not r["passed"]
    message = JOB.failure_message(r)
    assert message == (
        "data quality check failed: quarantine ratio 0.0500 > 0.01 (50 of 1,000 rows: malformed_json 30, "
        "null_event_ts 20); 1,000 rows read < minimum 5,000"
    )


def test_broken_accounting_fails_the_run() -> None:
    r = report(counts(rows_written=899))
    assert not r["passed"]
    assert "accounting broken: 1,000 read != 999 written + quarantined + duplicates" in JOB.failure_message(r)


def test_a_volume_anomaly_fails_the_run_only_when_asked() -> None:
    history = {"2026-01-24": 100, "2026-01-25": 100, "2026-01-26": 100}
    opts = dict(
        raw_path="/raw", processed_path="/p", quarantine_path="/q", report_path="/r", volume_min_rows=10
    )
    now = datetime(2026, 1, 28, tzinfo=UTC)
    for fail, passed in ((False, True), (True, False)):
        r = JOB.build_report(
            counts(),
            JOB.JobOptions(**opts, fail_on_volume_anomaly=fail),
            run_id="r",
            started_at=now,
            finished_at=now,
            history=history,
            modified_after=None,
        )
        assert len(r["volume_anomalies"]) == 1 and r["passed"] is passed
    assert "volume anomaly beyond x3.0: 2026-01-27 900 rows vs baseline 100" in JOB.failure_message(r)


# -- reports and metrics ----------------------------------------------------------------------


def test_reports_are_stored_and_read_back_oldest_first(tmp_path: Path) -> None:
    first = report(counts()) | {"run_id": "20260101T000000000000Z", "output_committed": True}
    first["source_max_modified"] = "2026-01-01T06:00:00Z"
    second = first | {"run_id": "20260102T000000000000Z", "rows_per_date": {"2026-01-27": 950}}
    failed = first | {"run_id": "20260103T000000000000Z", "output_committed": False, "rows_per_date": {}}
    for r in (second, failed, first):
        JOB.write_report(str(tmp_path), r)
    (tmp_path / "dq-report-garbage.json").write_text("{not json")
    loaded = JOB.load_reports(str(tmp_path))
    assert [r["run_id"] for r in loaded] == [first["run_id"], second["run_id"], failed["run_id"]]
    assert JOB.committed_history(loaded, "/p") == {"2026-01-27": 950}  # the latest committed run wins
    assert JOB.committed_history(loaded, "/elsewhere") == {}
    options = JOB.JobOptions(raw_path="/raw", processed_path="/p", quarantine_path="/q", report_path="/r")
    assert JOB.previous_watermark(loaded, options) == datetime(2026, 1, 1, 6, tzinfo=UTC)


def test_reports_round_trip_through_s3(aws: str) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="lake")
    r = report(counts()) | {"run_id": "20260101T000000000000Z"}
    where = JOB.write_report("s3://lake/reports", r, s3_client=s3)
    assert where == "s3://lake/reports/dq-report-20260101T000000000000Z.json"
    assert [x["run_id"] for x in JOB.load_reports("s3://lake/reports/", s3_client=s3)] == [r["run_id"]]


class FakeCloudWatch:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def put_metric_data(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


def test_metrics_go_out_in_calls_of_at_most_twenty() -> None:
    reasons = {f"reason_{i:02d}": i + 1 for i in range(20)}
    r = report(counts(quarantined_by_reason=reasons, rows_read=900 + 50 + sum(reasons.values())))
    client = FakeCloudWatch()
    sent = JOB.publish_metrics(r, namespace="NetflixPipeline", job_name="job", client=client)
    assert sent == 7 + 20
    assert [len(c["MetricData"]) for c in client.calls] == [20, 7]
    metrics = [m for c in client.calls for m in c["MetricData"]]
    plain = {m["MetricName"]: m["Value"] for m in metrics if len(m["Dimensions"]) == 1}
    assert plain["RowsRead"] == r["rows_read"] and plain["RowsWritten"] == 900
    assert plain["QuarantineRatio"] == r["quarantine_ratio"]
    by_reason = {m["Dimensions"][1]["Value"]: m["Value"] for m in metrics if len(m["Dimensions"]) == 2}
    assert by_reason == {k: float(v) for k, v in reasons.items()}
    assert all(m["Dimensions"][0] == {"Name": "JobName", "Value": "job"} for m in metrics)

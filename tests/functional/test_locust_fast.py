"""locust with ``--transport fast``: the blocking fast transport under gevent, against moto."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from tests.functional.test_locust import LOCUST, common, env, landed, make_stream


@pytest.mark.parametrize("faults", [(), ("--transport-faults", "throttle_rate=0.3", "--max-attempts", "20")])
def test_fast_transport_headless_run_lands_what_it_reports(
    aws: str, tmp_path: Path, faults: tuple[str, ...]
) -> None:
    make_stream()
    proc = subprocess.run(
        [*LOCUST, "--headless", "-u", "2", "-r", "2", "-t", "3s", "--csv", str(tmp_path / "out"), "--only-summary",
         *common(tmp_path, "--transport", "fast", *faults)],
        env=env(), capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accepted"] == summary["records"] > 0
    assert summary["dead_lettered"] == summary["failed_batches"] == 0
    if faults:
        assert summary["retried"] >= summary["throttled"] > 0
    events = landed()
    assert len(events) == summary["accepted"]
    assert len({e["event_id"] for e in events}) == len(events)
    with (tmp_path / "out_stats.csv").open() as fh:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(fh)}
    row = rows[("Firehose", "PutRecordBatch")]
    assert int(row["Failure Count"]) == 0 and int(row["Request Count"]) > 0


# botocore logs each call it makes at DEBUG; the fast transport's calls do not go through it.
BOTOCORE_CALL = "Making request for OperationModel(name=PutRecordBatch)"


@pytest.mark.parametrize(
    ("environment", "through_botocore"),
    [({}, False), ({"NETFLIX_PRODUCER_TRANSPORT": "botocore"}, True), ({"NETFLIX_PRODUCER_TRANSPORT": "fast"}, False)],
    ids=["default", "env-botocore", "env-fast"],
)  # fmt: skip
def test_the_transport_is_fast_by_default_and_selected_by_the_environment(
    aws: str, tmp_path: Path, environment: dict[str, str], through_botocore: bool
) -> None:
    make_stream()
    # One 500-record batch a second keeps the debug log short.
    proc = subprocess.run(
        [*LOCUST, "--headless", "-u", "1", "-r", "1", "-t", "2s", "--only-summary", "--loglevel", "DEBUG",
         *common(tmp_path, "--events-per-user", "500")],
        env={**env(), **environment}, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accepted"] == summary["records"] == len(landed()) > 0
    assert (BOTOCORE_CALL in proc.stderr.decode()) is through_botocore

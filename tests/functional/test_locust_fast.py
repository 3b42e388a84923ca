"""locust with ``--transport fast``: the blocking fast transport under gevent, against moto."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.locust_runs import LOCUST, common, env, final_stats, landed, make_stream
from tests.support.polling import RUN_DEADLINE_S

pytestmark = pytest.mark.slow  # every test here runs locust processes, against moto


@pytest.mark.parametrize("faults", [(), ("--transport-faults", "throttle_rate=0.3", "--max-attempts", "20")])
def test_fast_transport_headless_run_lands_what_it_reports(
    aws: str, tmp_path: Path, faults: tuple[str, ...]
) -> None:
    make_stream()
    proc = subprocess.run(
        [*LOCUST, "--headless", "-u", "2", "-r", "2", "-t", "3s", "--json-file", str(tmp_path / "stats"), "--only-summary",
         *common(tmp_path, "--transport", "fast", *faults)],
        env=env(), capture_output=True, timeout=RUN_DEADLINE_S, check=False,
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
    row = final_stats(tmp_path / "stats")
    assert row["method"] == "Firehose"
    assert row["num_failures"] == 0 and row["num_requests"] > 0


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
        env={**env(), **environment}, capture_output=True, timeout=RUN_DEADLINE_S, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accepted"] == summary["records"] == len(landed()) > 0
    assert (BOTOCORE_CALL in proc.stderr.decode()) is through_botocore

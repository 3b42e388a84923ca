"""Real locust processes on loopback, with moto in server mode as the endpoint.

The single-process runs ask for ``--transport botocore`` (a boto3 client), so that the
fallback stays covered; ``test_locust_fast.py`` runs them on the default fast transport,
which the master-and-workers run also uses.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCUST = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py")]
BUCKET = "swarm-lake"
ACCOUNTS = 2000
BASE = 10_000_000
BOTOCORE = ("--transport", "botocore")


def make_stream(name: str = "swarm") -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    boto3.client("firehose", region_name="us-east-1").create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": "raw/",
        },
    )


def landed() -> list[dict]:
    s3 = boto3.client("s3", region_name="us-east-1")
    events = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
            events.extend(json.loads(line) for line in body.splitlines())
    return events


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("NETFLIX_PRODUCER_")}


def common(tmp: Path, *extra: str) -> list[str]:
    return ["--host", "firehose://swarm", "--accounts", str(ACCOUNTS), "--seed", "5",
            "--netflix-summary", str(tmp / "summary.json"), "--dead-letter", str(tmp / "dlq.ndjson"), *extra]  # fmt: skip


def test_single_process_headless_run_lands_what_it_reports(aws: str, tmp_path: Path) -> None:
    make_stream()
    proc = subprocess.run(
        [*LOCUST, "--headless", "-u", "2", "-r", "2", "-t", "3s", "--csv", str(tmp_path / "out"), "--only-summary",
         *common(tmp_path, *BOTOCORE)],
        env=env(), capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accepted"] == summary["records"] > 0
    assert summary["dead_lettered"] == summary["failed_batches"] == 0
    events = landed()
    assert len(events) == summary["accepted"]
    assert len({e["event_id"] for e in events}) == len(events)
    with (tmp_path / "out_stats.csv").open() as fh:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(fh)}
    row = rows[("Firehose", "PutRecordBatch")]
    assert int(row["Failure Count"]) == 0 and int(row["Request Count"]) > 0


def test_master_and_two_workers_split_users_and_add_up(aws: str, tmp_path: Path) -> None:
    make_stream()
    master = subprocess.Popen(
        [*LOCUST, "--master", "--headless", "-u", "4", "-r", "4", "-t", "4s", "--expect-workers", "2",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", "0", "--only-summary", *common(tmp_path)],
        env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    # locust does not accept port 0 for the master; find the port it listens on.
    workers: list[subprocess.Popen] = []
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True, check=False).stdout
            for line in out.splitlines():
                if f"pid={master.pid}," in line:
                    port = int(line.split()[3].rsplit(":", 1)[1])
            time.sleep(0.2)
        assert port, "master did not listen"
        for _ in range(2):
            workers.append(subprocess.Popen(
                [*LOCUST, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
                 *common(tmp_path)[4:]],  # worker: same options, minus --host
                env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
        _, err = master.communicate(timeout=120)
        for w in workers:
            w.wait(timeout=60)
    finally:
        for p in [master, *workers]:
            if p.poll() is None:
                p.kill()
    assert master.returncode == 0, err.decode()[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    per_worker = summary["workers"]
    assert sorted(per_worker) == ["0", "1"]
    assert all(w["accepted"] > 0 for w in per_worker.values()), "both workers sent"
    assert summary["accepted"] == sum(w["accepted"] for w in per_worker.values())
    events = landed()
    assert len(events) == summary["accepted"]
    ranges = {(e["user_id"] - BASE) // ACCOUNTS for e in events}
    assert ranges == {0, 1}, "each worker owns its own, disjoint user id range"
    by_range = {r: sum(1 for e in events if (e["user_id"] - BASE) // ACCOUNTS == r) for r in ranges}
    assert sorted(by_range.values()) == sorted(w["accepted"] for w in per_worker.values())


@pytest.mark.parametrize(("attempts", "dead"), [("20", False), ("1", True)])
def test_throttling_shows_as_retries_and_as_failures_only_when_dead_lettered(
    aws: str, tmp_path: Path, attempts: str, dead: bool
) -> None:
    make_stream()
    proc = subprocess.run(
        [*LOCUST, "--headless", "-u", "2", "-r", "2", "-t", "3s", "--csv", str(tmp_path / "out"), "--only-summary",
         *common(tmp_path, "--transport-faults", "throttle_rate=0.3", "--max-attempts", attempts, *BOTOCORE)],
        env=env(), capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["throttled"] > 0
    with (tmp_path / "out_stats.csv").open() as fh:
        row = next(r for r in csv.DictReader(fh) if r["Name"] == "PutRecordBatch")
    if dead:
        assert summary["dead_lettered"] > 0 and summary["retried"] == 0
        assert int(row["Failure Count"]) > 0
        assert proc.returncode == 1  # locust exits 1 when requests failed
    else:
        assert summary["retried"] >= summary["throttled"] > 0
        assert summary["dead_lettered"] == 0 and int(row["Failure Count"]) == 0
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert len(landed()) == summary["accepted"]

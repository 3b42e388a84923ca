"""Runs of locust with the project's locustfile against moto, and what landed there."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[2]  # tests/support/ -> the repository
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


def final_stats(prefix: Path, name: str = "PutRecordBatch") -> dict[str, Any]:
    """locust's own stats for ``name`` at exit, from ``--json-file PREFIX``.

    Not ``--csv``: locust rewrites its CSV once a second while it runs, so a short run
    on a busy machine can exit before the CSV shows its last (or first) requests; the
    JSON file is written once, from the final stats.
    """
    entries = json.loads(prefix.with_name(prefix.name + ".json").read_text())
    found = [e for e in entries if e["name"] == name]
    assert found, f"no {name!r} entry in locust's stats: {entries}"
    return dict(found[0])

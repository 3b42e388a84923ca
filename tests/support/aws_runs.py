"""Runs of the command against an AWS endpoint (moto in server mode), and what landed there."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3

from tests.support.polling import RUN_DEADLINE_S

STREAM = "netflix-events"
BUCKET = "netflix-datalake-test"
PREFIX = "netflix/ingest_year=2026/"
BOTOCORE = ("--transport", "botocore")


def cli(
    *args: str, env_extra: dict[str, str] | None = None, timeout: float = RUN_DEADLINE_S
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETFLIX_PRODUCER_")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "producer", *args], capture_output=True, env=env, timeout=timeout, check=False
    )


def make_firehose(stream: str = STREAM) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    fh = boto3.client("firehose", region_name="us-east-1")
    fh.create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": PREFIX,
            "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
        },
    )


def s3_records(prefix: str = PREFIX) -> list[bytes]:
    s3 = boto3.client("s3", region_name="us-east-1")
    out: list[bytes] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
            if obj["Key"].endswith(".gz"):
                body = gzip.decompress(body)
            out.extend(body.splitlines(keepends=True))
    return out


def run_json(tmp_path: Path, *args: str, env_extra: dict[str, str] | None = None) -> tuple[int, dict, str]:
    summary = tmp_path / "summary.json"
    proc = cli("run", "--quiet", "--summary-json", str(summary), "--dead-letter", str(tmp_path / "dlq.ndjson"),
               *args, env_extra=env_extra)  # fmt: skip
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return proc.returncode, data, proc.stderr.decode()


def s3_object_count(endpoint_url: str, bucket: str = BUCKET) -> int:
    """How many objects ``bucket`` holds at ``endpoint_url`` (moto writes one per Firehose call)."""
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")
    return int(s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0))

"""The firehose, kinesis and s3 sinks against a real HTTP endpoint (moto in server mode).

moto's Firehose writes one S3 object per call, never throttles and leaves prefix
expressions literal: these tests only assert what AWS also guarantees (every accepted
record lands once, newline-terminated), and rehearse faults with the producer's own
fault layer.

The firehose and kinesis runs go through both transports, parametrised: ``fast`` (the
default: the call built and signed directly) and ``botocore`` (the fallback,
aiobotocore). ``--no-check`` variants skip the start-up check (which goes through
botocore) so that the fast transport meets the error itself.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from producer.generation.identity import world_id
from producer.generation.world import World, WorldConfig
from producer.sinks.dims import DIM_TABLES, table_key
from tests.support.aws_runs import (
    BOTOCORE,
    BUCKET,
    PREFIX,
    STREAM,
    cli,
    make_firehose,
    run_json,
    s3_object_count,
    s3_records,
)
from tests.support.moto_server import start_moto_server
from tests.support.polling import Child, wait_until

pytestmark = pytest.mark.slow  # every test here runs the command in a process, against moto

#: Both ways of calling Firehose and Kinesis: the default and the fallback stay covered.
TRANSPORTS = ["botocore", "fast"]
FAST = ("--transport", "fast")
# Without the start-up check the first PutRecordBatch meets the error: the fast transport's own.
NO_CHECK = ("--no-check", "--count", "3000", "--start", "2026-01-27", "--seed", "4")


def test_firehose_happy_path_every_accepted_event_lands_once(aws: str, tmp_path: Path) -> None:
    make_firehose()
    code, summary, err = run_json(tmp_path, "--sink", "firehose", "--stream", STREAM, "--count", "3000",
                                  "--start", "2026-01-27", "--seed", "1", *BOTOCORE)  # fmt: skip
    assert code == 0, err
    assert summary["accepted"] == summary["generated"] == 3000
    assert summary["dead_lettered"] == summary["failed"] == summary["retried"] == 0
    assert summary["calls"] == summary["batches"] == 6
    assert summary["latency_ms"]["p50"] > 0
    assert "firehose netflix-events (ACTIVE" in summary["destination"]
    lines = s3_records()
    assert all(line.endswith(b"\n") for line in lines)
    ids = [json.loads(line)["event_id"] for line in lines]
    assert len(ids) == len(set(ids)) == 3000


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sustained_30_percent_throttling_loses_nothing(aws: str, tmp_path: Path, transport: str) -> None:
    make_firehose()
    manifest = tmp_path / "run.manifest"
    code, summary, err = run_json(tmp_path, "--sink", "firehose", "--count", "5000", "--start", "2026-01-27",
                                  "--throttle-rate", "0.3", "--max-attempts", "20", "--seed", "2",
                                  "--manifest", str(manifest), "--transport", transport)  # fmt: skip
    assert code == 0, err
    assert summary["accepted"] == summary["generated"] == 5000
    assert summary["dead_lettered"] == 0
    assert summary["throttled"] > 1200 and summary["retried"] >= summary["throttled"]
    ids = [json.loads(line)["event_id"] for line in s3_records()]
    assert len(ids) == len(set(ids)) == 5000
    report = tmp_path / "verify.json"
    proc = cli(
        "verify", "--manifest", str(manifest), "--s3", f"s3://{BUCKET}/{PREFIX}", "--json", str(report)
    )
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(report.read_text())
    assert result["expected"] == result["found"] == 5000
    assert result["missing"] == result["duplicated"] == result["unexpected"] == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_whole_call_503_bursts_are_retried(aws: str, tmp_path: Path, transport: str) -> None:
    make_firehose()
    code, summary, err = run_json(tmp_path, "--sink", "firehose", "--count", "5000", "--start", "2026-01-27",
                                  "--call-failure-rate", "0.4", "--max-attempts", "20", "--seed", "3",
                                  "--transport", transport)  # fmt: skip
    assert code == 0, err
    assert summary["accepted"] == 5000
    assert summary["calls"] > summary["batches"]
    assert len(s3_records()) == 5000


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unknown_stream_is_one_line_and_nothing_is_sent(aws: str, tmp_path: Path, transport: str) -> None:
    code, summary, err = run_json(
        tmp_path, "--sink", "firehose", "--stream", "nope", "--count", "100", "--transport", transport
    )
    assert code == 1
    assert err.strip() == "netflix-producer: error: Firehose stream 'nope' not found in us-east-1"
    assert summary["generated"] == 0 and summary["stopped_by"] == "error"


def test_an_error_on_the_last_flush_still_fails_the_run(aws: str, tmp_path: Path) -> None:
    code, summary, err = run_json(tmp_path, "--sink", "firehose", "--stream", "nope", "--count", "100",
                                  "--no-check", "--start", "2026-01-27", *BOTOCORE)  # fmt: skip
    assert code == 1
    assert "Firehose stream 'nope' not found" in err
    assert summary["dead_lettered"] == summary["generated"] == 100
    assert summary["accepted"] == 0


@pytest.mark.parametrize(
    ("transport", "check"),
    [("botocore", ("--count", "10")), ("fast", ("--count", "10")), ("fast", NO_CHECK)],
    ids=["botocore-checked", "fast-checked", "fast-no-check"],
)
def test_no_credentials_is_one_line(aws: str, tmp_path: Path, transport: str, check: tuple[str, ...]) -> None:
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": ""}  # fmt: skip
    dlq = tmp_path / "dlq.ndjson"
    proc = cli(
        "run",
        "--sink",
        "firehose",
        "--quiet",
        "--dead-letter",
        str(dlq),
        *check,
        "--transport",
        transport,
        env_extra=env,
    )
    err = proc.stderr.decode().strip()
    assert proc.returncode == 1
    assert len(err.splitlines()) == 1 and "no AWS credentials found" in err
    assert "testing" not in err
    if "--no-check" in check:
        reasons = {json.loads(line)["reason"] for line in dlq.open()}
        assert "NoCredentials" in reasons and reasons <= {"NoCredentials", "NotSent"}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_endpoint_killed_mid_run_dead_letters_with_reasons_and_exits(
    tmp_path: Path, aws: str, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    # A private moto server we can kill without disturbing the session's.
    moto, url = start_moto_server(tmp_path, name="private-moto")
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        make_firehose()
        summary_path = tmp_path / "summary.json"
        dlq = tmp_path / "dlq.ndjson"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NETFLIX_PRODUCER_")}
        proc = Child(
            [sys.executable, "-m", "producer", "run", "--sink", "firehose", "--rate", "2k/s", "--quiet",
             "--summary-json", str(summary_path), "--dead-letter", str(dlq), "--max-retry-time", "2s", "--max-in-flight", "1", "--transport", transport],
            log_dir=tmp_path, name="netflix-producer run", env=env,
        )  # fmt: skip
        try:
            # moto's Firehose writes one S3 object per accepted call. One call at a time, so
            # a second object means the producer has the answer to the first: accepted.
            wait_until(
                lambda: s3_object_count(url) >= 2, what="two delivered batches in S3", children=[proc, moto]
            )
            moto.kill()  # unreachable from now on: the run stops after --max-retry-time
            code = proc.wait()
        finally:
            proc.kill()
    finally:
        moto.kill()
    err = proc.stderr()
    assert code == 1, proc.output()
    assert len(err.strip().splitlines()) == 1
    assert "cannot reach" in err or "connection" in err
    summary = json.loads(summary_path.read_text())
    assert summary["stopped_by"] == "error"
    assert summary["accepted"] > 0
    assert summary["generated"] == summary["accepted"] + summary["dead_lettered"] + summary["failed"]
    assert summary["failed"] == 0
    reasons = {json.loads(line)["reason"] for line in dlq.read_text().splitlines()}
    assert reasons <= {"EndpointConnectionError", "ConnectionClosedError", "NotSent"}
    assert reasons


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_kinesis_happy_path_and_partial_failures(aws: str, tmp_path: Path, transport: str) -> None:
    k = boto3.client("kinesis", region_name="us-east-1")
    k.create_stream(StreamName="clicks", ShardCount=1)
    code, summary, err = run_json(tmp_path, "--sink", "kinesis", "--stream", "clicks", "--count", "1500",
                                  "--start", "2026-01-27", "--throttle-rate", "0.2", "--max-attempts", "20",
                                  "--partition-key", "session_id",
                                  # moto's Kinesis shard writes are not thread-safe: one call at a time.
                                  "--max-in-flight", "1", "--transport", transport)  # fmt: skip
    assert code == 0, err
    assert summary["accepted"] == summary["generated"] == 1500
    assert summary["throttled"] > 0
    shard = k.describe_stream(StreamName="clicks")["StreamDescription"]["Shards"][0]["ShardId"]
    it = k.get_shard_iterator(StreamName="clicks", ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    got: list[dict] = []
    while it and len(got) < 1500:
        resp = k.get_records(ShardIterator=it, Limit=10_000)
        got.extend(resp["Records"])
        it = resp.get("NextShardIterator") if resp["Records"] else None
    assert len(got) == 1500
    first = json.loads(got[0]["Data"])
    assert got[0]["PartitionKey"] == first["session_id"]
    assert len({json.loads(r["Data"])["event_id"] for r in got}) == 1500
    assert all(r["PartitionKey"] == json.loads(r["Data"])["session_id"] for r in got)


def test_s3_sink_writes_firehose_layout_objects(aws: str, tmp_path: Path) -> None:
    # With the default transport (fast), which only the firehose and kinesis sinks use.
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    code, summary, err = run_json(tmp_path, "--sink", "s3", "--bucket", f"s3://{BUCKET}/raw/", "--count", "20000",
                                  "--start", "2026-01-27T05:00:00Z", "--rate", "50/s", "--gzip",
                                  "--buffer-interval", "60s")  # fmt: skip
    assert code == 0, err
    assert summary["accepted"] == 20_000
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [
        o["Key"]
        for p in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for o in p.get("Contents", [])
    ]
    events = [k for k in keys if not k.startswith("raw/dims/")]
    assert events and all(
        k.startswith("raw/netflix/ingest_year=2026/01/27/0") and k.endswith(".gz") for k in events
    )
    # Beside the raw zone, the run's world: its dimension tables and identity, nothing else.
    assert sorted(set(keys) - set(events)) == sorted(
        ["raw/dims/world.json", *(f"raw/{table_key(t)}" for t in DIM_TABLES)]
    )
    assert len(s3_records("raw/netflix/")) == 20_000
    # Its PutObject calls are counted (all but the last object's, put at close).
    assert len(events) - 1 <= summary["calls"] <= len(keys) and summary["retried"] == 0
    assert summary["latency_ms"]["p50"] is not None


def _bucket_objects(prefix: str) -> dict[str, tuple[bytes, object]]:
    s3 = boto3.client("s3", region_name="us-east-1")
    out: dict[str, tuple[bytes, object]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = (
                s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read(),
                obj["LastModified"],
            )
    return out


@pytest.mark.parametrize("check", [(), ("--no-check",)])
def test_s3_sink_dims_are_the_world_once_and_another_world_is_refused(
    aws: str, tmp_path: Path, check: tuple[str, ...]
) -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    world = ("--seed", "5", "--accounts", "2000", "--titles", "120")
    common = (
        "--sink",
        "s3",
        "--bucket",
        f"s3://{BUCKET}/raw/",
        "--count",
        "500",
        "--start",
        "2026-01-27",
        *check,
    )
    code, _, err = run_json(tmp_path, *common, *world)
    assert code == 0, err
    dims = _bucket_objects("raw/dims/")
    exported = World(WorldConfig(seed=5, accounts=2000, titles=120)).export(tmp_path / "export")
    for path in exported:
        body = dims[f"raw/{table_key(path.stem)}"][0]
        assert pq.read_table(pa.BufferReader(body)).equals(pq.read_table(path)), path.stem
    identity = json.loads(dims["raw/dims/world.json"][0])
    assert identity["world_id"] == world_id(WorldConfig(seed=5, accounts=2000, titles=120))
    assert identity["settings"]["seed"] == 5

    # The same world again: its events land, its dims are left as they were.
    code, _, err = run_json(tmp_path, *common, *world)
    assert code == 0, err
    assert _bucket_objects("raw/dims/") == dims
    assert len(s3_records("raw/netflix/")) == 1000

    # Another world: refused in one line naming the bucket and both worlds, nothing lands.
    code, _, err = run_json(tmp_path, *common, "--seed", "6", "--accounts", "2000", "--titles", "120")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"bucket 's3://{BUCKET}/raw/'" in lines[0] and identity["world_id"] in lines[0]
    assert "seed 6" in lines[0]
    assert _bucket_objects("raw/dims/") == dims
    assert len(s3_records("raw/netflix/")) == 1000


@pytest.mark.parametrize("bad", [["--sink", "s3"], ["--sink", "kinesis", "--partition-key", "title"]])
def test_bad_aws_settings_are_one_line(bad: list[str], tmp_path: Path) -> None:
    proc = cli("run", "--count", "1", *bad)
    assert proc.returncode == 1
    assert len(proc.stderr.decode().strip().splitlines()) == 1


def test_fast_happy_path_lands_the_same_events_as_botocore(aws: str, tmp_path: Path) -> None:
    make_firehose()
    fh = boto3.client("firehose", region_name="us-east-1")
    fh.create_delivery_stream(
        DeliveryStreamName="via-botocore",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": "via-botocore/",
        },
    )
    common = ("--count", "3000", "--start", "2026-01-27", "--seed", "1")
    code, summary, err = run_json(tmp_path, "--sink", "firehose", "--stream", STREAM, *common, *FAST)
    assert code == 0, err
    assert summary["accepted"] == summary["generated"] == 3000
    assert summary["dead_lettered"] == summary["failed"] == summary["retried"] == 0
    assert summary["calls"] == summary["batches"] == 6
    assert "firehose netflix-events (ACTIVE" in summary["destination"]
    lines = s3_records()
    assert all(line.endswith(b"\n") for line in lines)
    ids = [json.loads(line)["event_id"] for line in lines]
    assert len(ids) == len(set(ids)) == 3000
    (tmp_path / "botocore").mkdir()
    code, other, err = run_json(
        tmp_path / "botocore", "--sink", "firehose", "--stream", "via-botocore", *common, *BOTOCORE
    )
    assert code == 0, err
    assert sorted(s3_records("via-botocore/")) == sorted(lines)
    assert {k: other[k] for k in ("accepted", "bytes", "calls")} == {
        k: summary[k] for k in ("accepted", "bytes", "calls")
    }


@pytest.mark.parametrize("kind", ["firehose", "kinesis"])
def test_fast_unknown_stream_unchecked_stops_as_botocore_does(aws: str, tmp_path: Path, kind: str) -> None:
    runs = []
    for transport in ("botocore", "fast"):
        (tmp_path / transport).mkdir()
        code, summary, err = run_json(tmp_path / transport, "--sink", kind, "--stream", "nope", *NO_CHECK,
                                      "--transport", transport)  # fmt: skip
        runs.append((code, err.strip(), {k: summary[k] for k in ("accepted", "dead_lettered", "stopped_by")}))
        reasons = Counter(json.loads(line)["reason"] for line in (tmp_path / transport / "dlq.ndjson").open())
        # The batches that were sent carry the error; those still to send when it came, NotSent.
        assert (
            set(reasons) <= {"ResourceNotFoundException", "NotSent"} and reasons["ResourceNotFoundException"]
        )
        assert sum(reasons.values()) == summary["dead_lettered"] == summary["generated"]
    what = "Firehose" if kind == "firehose" else "Kinesis"
    assert runs[1][:2] == (1, f"netflix-producer: error: {what} stream 'nope' not found in us-east-1")
    assert runs[1][2]["stopped_by"] == "error" and runs[1][2]["accepted"] == 0
    assert runs[1] == runs[0]

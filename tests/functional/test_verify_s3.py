"""`netflix-producer verify` against S3, on a real HTTP endpoint (moto in server mode)."""

from __future__ import annotations

import gzip
import json
import socket
import uuid
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from producer.cli.commands import cli
from producer.delivery.manifest import ManifestWriter
from producer.errors import ConfigError
from producer.landed.verify import S3Source, verify
from producer.sinks.lake import DEFAULT_PREFIX, DEFAULT_STREAM, object_key

pytestmark = pytest.mark.slow  # every test here runs against moto in server mode

BUCKET = "netflix-raw-verify"
PREFIX = "netflix/"
T0 = 1_790_000_000.0


def record(i: int, ts: float) -> bytes:
    event = {"event_id": str(uuid.UUID(int=0xABC << 100 | i)), "event_type": "SEEK", "event_ts": ts}
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def key(ts: float, n: int, gz: bool) -> str:
    return object_key(DEFAULT_PREFIX, stream=DEFAULT_STREAM, ts=ts, uuid=str(uuid.UUID(int=n)), gzip=gz)


@pytest.fixture
def bucket(aws: str, tmp_path: Path) -> tuple[Path, list[bytes]]:
    """600 records in 3 objects under the prefix (one GZIP), their manifest, and noise around them."""
    records = [record(i, T0 + i / 10) for i in range(600)]
    manifest = tmp_path / "run.manifest"
    with ManifestWriter(manifest) as writer:
        writer.add(records)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for n in range(3):
        part = b"".join(records[n * 200 : (n + 1) * 200])
        gz = n == 1
        # Each object is named 100 s after its first record's event_ts.
        s3.put_object(
            Bucket=BUCKET, Key=key(T0 + n * 20 + 100, n, gz), Body=gzip.compress(part) if gz else part
        )
    s3.put_object(Bucket=BUCKET, Key="other/not-ours", Body=record(9999, T0))  # outside the prefix
    s3.put_object(Bucket=BUCKET, Key="netflix/", Body=b"")  # a console "folder"
    s3.put_object(Bucket=BUCKET, Key="netflix/.in-progress", Body=record(9998, T0))
    return manifest, records


def test_everything_under_the_prefix_is_read_plain_and_gzip(bucket: tuple[Path, list[bytes]]) -> None:
    manifest, _ = bucket
    report = verify(manifest, S3Source.from_url(f"s3://{BUCKET}/{PREFIX}"))
    assert report.ok
    assert (report.expected, report.found, report.missing, report.unexpected) == (600, 600, 0, 0)
    assert (report.objects, report.records, report.malformed) == (3, 600, 0)
    assert report.source == f"s3://{BUCKET}/{PREFIX}"
    # Lags from the object names: 100 s down to 80.1 s in each object.
    assert report.lag_max_s == pytest.approx(100.0)
    assert 80.0 < report.lag_p50_s < 100.0  # type: ignore[operator]


def test_missing_duplicated_and_unexpected_through_the_cli(
    bucket: tuple[Path, list[bytes]], tmp_path: Path
) -> None:
    manifest, records = bucket
    s3 = boto3.client("s3", region_name="us-east-1")
    gz_key = key(T0 + 120, 1, True)
    s3.delete_object(Bucket=BUCKET, Key=gz_key)  # 200 events lost
    s3.put_object(Bucket=BUCKET, Key=key(T0 + 500, 7, False), Body=b"".join(records[:5]) + record(7777, T0))
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        ["verify", "--manifest", str(manifest), "--s3", f"s3://{BUCKET}/{PREFIX}", "--json", str(out)],
        env={},
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    assert result.stderr == "verify: 200 of 600 events missing\n"
    data = json.loads(out.read_text())
    assert (data["missing"], data["duplicated"], data["unexpected"], data["objects"]) == (200, 5, 1, 3)
    assert set(data["missing_examples"]) <= {json.loads(r)["event_id"] for r in records[200:400]}


def test_explicit_endpoint_url_and_region(
    bucket: tuple[Path, list[bytes]], aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest, _ = bucket
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = CliRunner().invoke(
        cli,
        ["verify", "--manifest", str(manifest), "--s3", f"s3://{BUCKET}/netflix"],
        env={"NETFLIX_PRODUCER_ENDPOINT_URL": aws, "NETFLIX_PRODUCER_REGION": "eu-west-1"},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "600" in result.stdout


def test_listing_follows_every_page(bucket: tuple[Path, list[bytes]]) -> None:
    manifest, _ = bucket
    client = boto3.client("s3", region_name="us-east-1")
    pages: list[int] = []

    def small_pages(params: dict, **_: object) -> None:
        params["MaxKeys"] = 1

    def count(parsed: dict, **_: object) -> None:
        pages.append(parsed.get("KeyCount", 0))

    client.meta.events.register("provide-client-params.s3.ListObjectsV2", small_pages)
    client.meta.events.register("after-call.s3.ListObjectsV2", count)
    report = verify(manifest, S3Source(bucket=BUCKET, prefix=PREFIX, client=client))
    assert report.ok and report.objects == 3
    assert len(pages) >= 4  # the folder marker, the dot-file and 3 objects, one per page


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--s3", "s3://no-such-bucket/x"], {}, "bucket 'no-such-bucket' not found"),
        (["--s3", f"s3://{BUCKET}/", "--profile", "ghost"], {}, "--profile 'ghost': no such AWS profile"),
        (
            ["--s3", f"s3://{BUCKET}/", "--endpoint-url", "not a url"],
            {},
            "--endpoint-url 'not a url': ",
        ),
        (
            ["--s3", f"s3://{BUCKET}/"],
            {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_EC2_METADATA_DISABLED": "true"},
            "no AWS credentials",
        ),
        (
            ["--s3", f"s3://{BUCKET}/", "--endpoint-url", "http://127.0.0.1:{port}"],
            {"AWS_MAX_ATTEMPTS": "1"},
            "cannot reach S3 for s3://netflix-raw-verify/",
        ),
    ],
)
def test_aws_errors_are_one_line(
    args: list[str],
    env: dict[str, str],
    expected: str,
    bucket: tuple[Path, list[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest, _ = bucket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    for name, value in env.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name)
    result = CliRunner().invoke(
        cli,
        ["verify", "--manifest", str(manifest), *(a.format(port=port) for a in args)],
        env={},
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("netflix-producer: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.output


def test_bad_s3_url_is_a_config_error() -> None:
    for url in ("s3://", "bucket/prefix", "s3:///prefix"):
        with pytest.raises(ConfigError, match="expected s3://bucket/prefix"):
            S3Source.from_url(url)
    assert S3Source.from_url("s3://b").prefix == ""
    assert S3Source.from_url("s3://b/a/b/").prefix == "a/b/"

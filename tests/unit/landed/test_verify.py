"""The delivery manifest and `netflix-producer verify` against a local lake."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from producer.cli.commands import cli
from producer.delivery import manifest as manifest_module
from producer.delivery.manifest import ManifestWriter, event_id_text, read_manifest
from producer.errors import ConfigError, ProducerError
from producer.landed import verify as verify_module
from producer.landed.verify import LakeSource, VerifyReport, verify
from producer.sinks.lake import DEFAULT_PREFIX, DEFAULT_STREAM, object_key

T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z


def event_id(i: int) -> str:
    return str(uuid.UUID(int=(0x5EED << 112) | (i * 0x9E3779B97F4A7C15 % (1 << 100))))


def record(i: int, ts: float | None = None, **extra: object) -> bytes:
    event = {"event_id": event_id(i), "event_type": "PLAY_START", "event_ts": T0 + i if ts is None else ts}
    event.update(extra)
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def write_manifest(path: Path, records: list[bytes]) -> Path:
    with ManifestWriter(path) as writer:
        for start in range(0, len(records), 500):
            writer.add(records[start : start + 500])
    return path


def put_object(root: Path, records: list[bytes], *, ts: float = T0, gz: bool = False, n: int = 0) -> Path:
    key = object_key(DEFAULT_PREFIX, stream=DEFAULT_STREAM, ts=ts, uuid=str(uuid.UUID(int=n + 1)), gzip=gz)
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(records)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["verify", *args], env=env or {}, catch_exceptions=False)


@pytest.fixture
def landed(tmp_path: Path) -> tuple[Path, Path, list[bytes]]:
    """A manifest of 1,000 records and a lake holding all of them in 4 objects, one gzipped."""
    records = [record(i) for i in range(1000)]
    manifest = write_manifest(tmp_path / "run.manifest", records)
    lake = tmp_path / "lake"
    for n in range(4):
        put_object(lake, records[n * 250 : (n + 1) * 250], ts=T0 + n * 300, gz=n == 3, n=n)
    return manifest, lake, records


# -- the manifest ----------------------------------------------------------------------


def test_manifest_is_a_header_then_16_bytes_per_id_in_order(tmp_path: Path) -> None:
    records = [record(i) for i in range(1200)]
    path = tmp_path / "m"
    writer = ManifestWriter(path)
    writer.add(records[:700])
    writer.add(records[700:])
    assert not path.exists() and Path(f"{path}.tmp").exists(), "written aside, renamed at close"
    writer.close()
    writer.close()  # idempotent
    assert not Path(f"{path}.tmp").exists()
    data = path.read_bytes()
    header = b'{"format":"netflix-producer-manifest","version":1}\n'
    assert data.startswith(header)
    assert data[len(header) :] == b"".join(uuid.UUID(event_id(i)).bytes for i in range(1200))
    assert writer.written == 1200 and writer.unidentified == 0

    chunks = list(read_manifest(path, chunk_ids=500))
    assert [len(c) for c in chunks] == [500, 500, 200]
    words = np.concatenate(chunks)
    assert words.dtype == np.uint64 and words.shape == (1200, 2)
    assert [uuid.UUID(int=(int(hi) << 64) | int(lo)) for hi, lo in words[:3].tolist()] == [
        uuid.UUID(event_id(i)) for i in range(3)
    ]


def test_manifest_reads_ids_wherever_they_are_and_hashes_non_uuids(tmp_path: Path) -> None:
    canonical = event_id(1)
    records = [
        f'{{"event_id":"{canonical}","x":1}}\n'.encode(),
        f'{{"seq":3, "event_id" : "{canonical.upper()}"}}\n'.encode(),  # regex path, same UUID
        b'{"event_id":"order-42","event_ts":1}\n',  # not a UUID: hashed
        b'{"event_id":"zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"}\n',  # fast path shape, not hex
        b'{"event_ts":1790000000.0}\n',  # no id: skipped, counted
        b"not json at all\n",
    ]
    with ManifestWriter(tmp_path / "m") as writer:
        writer.add(records)
    assert writer.written == 4 and writer.unidentified == 2
    body = (tmp_path / "m").read_bytes().split(b"\n", 1)[1]
    assert body == (
        uuid.UUID(canonical).bytes * 2
        + hashlib.blake2b(b"order-42", digest_size=16).digest()
        + hashlib.blake2b(b"zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", digest_size=16).digest()
    )


def test_event_id_fast_path_is_not_fooled_by_a_short_id() -> None:
    head = b'{"event_id":"abc","note":"'
    short = head + b"x" * (49 - len(head)) + b'"}'
    assert short[49:50] == b'"'
    assert event_id_text(short) == b"abc"
    assert event_id_text(record(5)) == event_id(5).encode()


@pytest.mark.parametrize(
    "content",
    [b"", b"hello\n", b'{"format":"something-else","version":1}\n', b"\x1f\x8b\x08\x00binary"],
)
def test_not_a_manifest_is_one_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"^--manifest '.*bad': not a netflix-producer manifest$"):
        list(read_manifest(path))


def test_truncated_manifest_is_rejected(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "m", [record(i) for i in range(3)])
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ConfigError, match="not a netflix-producer manifest"):
        list(read_manifest(path))


def test_manifest_in_an_unwritable_place_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"--manifest '.*' is not writable"):
        ManifestWriter(tmp_path / "file" / "m")


# -- verify against a lake -------------------------------------------------------------


def test_everything_landed_is_ok(landed: tuple[Path, Path, list[bytes]]) -> None:
    manifest, lake, _ = landed
    report = verify(manifest, LakeSource(root=lake))
    assert report.ok
    assert (report.expected, report.found, report.missing) == (1000, 1000, 0)
    assert (report.duplicated, report.unexpected, report.malformed, report.unidentified) == (0, 0, 0, 0)
    assert (report.objects, report.records) == (4, 1000)
    assert report.missing_examples == ()


def test_dropped_records_are_missing_exactly(tmp_path: Path, landed: tuple[Path, Path, list[bytes]]) -> None:
    manifest, _, records = landed
    lake = tmp_path / "lossy"
    dropped = {3, 250, 251, 777, 999}
    kept = [r for i, r in enumerate(records) if i not in dropped]
    put_object(lake, kept[:500], n=0)
    put_object(lake, kept[500:], gz=True, n=1)
    report = verify(manifest, LakeSource(root=lake))
    assert not report.ok
    assert (report.expected, report.found, report.missing) == (1000, 995, 5)
    assert sorted(report.missing_examples) == sorted(event_id(i) for i in dropped)
    assert report.records == 995


def test_duplicates_and_foreign_ids_are_counted(
    tmp_path: Path, landed: tuple[Path, Path, list[bytes]]
) -> None:
    manifest, lake, records = landed
    # Firehose retries deliver some records twice; another producer writes into the prefix.
    put_object(lake, records[10:20] + records[10:13], ts=T0 + 3600, n=10)
    foreign = [record(5000 + i) for i in range(7)]
    put_object(lake, foreign + foreign[:1], ts=T0 + 3600, n=11)
    report = verify(manifest, LakeSource(root=lake))
    assert report.ok
    assert report.duplicated == 13  # 10 + 3 extra copies
    assert report.unexpected == 8  # records, not ids: 7 ids, one twice
    assert report.records == 1000 + 13 + 8
    assert report.records == report.found + report.duplicated + report.unexpected


def test_a_runs_own_duplicates_are_not_extra_copies(tmp_path: Path) -> None:
    # A duplicate fault sends the same event twice, and the manifest lists it twice.
    records = [record(i) for i in range(10)]
    manifest = write_manifest(tmp_path / "m", [*records, records[0]])
    put_object(tmp_path / "lake", [*records, records[0], records[1]])
    report = verify(manifest, LakeSource(root=tmp_path / "lake"))
    assert (report.expected, report.found, report.duplicated) == (10, 10, 1)


def test_malformed_and_id_less_lines(tmp_path: Path, landed: tuple[Path, Path, list[bytes]]) -> None:
    manifest, lake, _ = landed
    put_object(
        lake,
        [
            b'{"event_id":"' + event_id(1).encode() + b'","event_ts":17',  # truncated: malformed, id found
            b"\n",
            b"[1,2,3]\n",  # JSON, but not an event object
            b'{"event_type":"PAUSE"}\n',  # no id
            b'{"event_id":"' + event_id(2).encode() + b'"} trailing\n',  # malformed, id found
            b' {"event_id":"' + event_id(4).encode() + b'"}\t\r\n',  # JSON whitespace is fine
            b"\n",  # blank lines are not records
            record(5).rstrip(b"\n"),  # the last record without its newline still counts
        ],
        n=20,
    )
    not_utf8 = b'{"event_id":"' + event_id(3).encode() + b'","x":"\xff"}\n'
    put_object(lake, [not_utf8, b"[]\n", b"{}\n"], n=21)  # a chunk json must judge line by line
    report = verify(manifest, LakeSource(root=lake))
    assert report.ok
    assert (report.malformed, report.unidentified) == (5, 4)
    assert report.duplicated == 5  # every copy of events 1 to 5 did land
    assert report.records == 1009


def test_unreadable_gzip_object_is_counted_and_its_events_missing(
    tmp_path: Path, landed: tuple[Path, Path, list[bytes]]
) -> None:
    manifest, lake, _ = landed
    gz = next(lake.rglob("*.gz"))
    gz.write_bytes(gz.read_bytes()[:40])  # cut short
    report = verify(manifest, LakeSource(root=lake))
    assert report.unreadable_objects == 1
    assert report.objects == 4
    assert report.missing == 250 - (report.records - 750)
    assert report.missing > 0


def test_plain_body_under_a_gz_name_still_reads(tmp_path: Path) -> None:
    records = [record(i) for i in range(5)]
    manifest = write_manifest(tmp_path / "m", records)
    path = put_object(tmp_path / "lake", records, gz=True)
    path.write_bytes(b"".join(records))
    assert verify(manifest, LakeSource(root=tmp_path / "lake")).ok


def test_dot_files_json_files_and_the_manifest_itself_are_skipped(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    records = [record(i) for i in range(5)]
    manifest = write_manifest(lake / "run.manifest", records)
    put_object(lake, records)
    (lake / "netflix" / ".partial.tmp").write_bytes(record(9000))
    (lake / "summary.json").write_text('{"event_id":"x"}\n')
    report = verify(manifest, LakeSource(root=lake))
    assert (report.objects, report.records, report.unexpected, report.malformed) == (1, 5, 0, 0)


def test_lag_is_object_name_time_minus_event_ts(tmp_path: Path) -> None:
    # 100 records with lags 1..100 s into an object named after T0 + 1000.
    records = [record(i, ts=T0 + 1000 - (i + 1)) for i in range(100)]
    manifest = write_manifest(tmp_path / "m", records)
    put_object(tmp_path / "lake", records, ts=T0 + 1000)
    report = verify(manifest, LakeSource(root=tmp_path / "lake"))
    expected = np.percentile(np.arange(1.0, 101.0), [50, 95, 99])
    assert report.lag_records == 100
    assert (report.lag_p50_s, report.lag_p95_s, report.lag_p99_s) == pytest.approx(tuple(expected))
    assert report.lag_max_s == pytest.approx(100.0)


def test_lag_falls_back_to_modification_time_and_reads_iso_timestamps(tmp_path: Path) -> None:
    records = [
        record(0, ts=T0 - 30),
        record(1, ts="2026-09-21T14:12:20Z"),  # T0 - 60
        record(2, ts="2026-09-21T14:11:20"),  # naive: UTC, T0 - 120
        record(3, ts=None),  # null timestamp: no lag
        record(4, ts="yesterday"),  # unparseable: no lag
    ]
    records[3] = record(3).replace(f"{T0 + 3}".encode(), b"null")
    manifest = write_manifest(tmp_path / "m", records)
    path = tmp_path / "lake" / "events.ndjson"
    path.parent.mkdir()
    path.write_bytes(b"".join(records))
    os.utime(path, (T0, T0))
    report = verify(manifest, LakeSource(root=tmp_path / "lake"))
    assert report.ok
    assert report.lag_records == 3
    assert report.lag_max_s == pytest.approx(120.0)
    assert report.lag_p50_s == pytest.approx(60.0)


def test_no_lag_without_timestamps(tmp_path: Path) -> None:
    records = [b'{"event_id":"' + event_id(i).encode() + b'"}\n' for i in range(3)]
    manifest = write_manifest(tmp_path / "m", records)
    put_object(tmp_path / "lake", records)
    report = verify(manifest, LakeSource(root=tmp_path / "lake"))
    assert report.lag_records == 0
    assert report.lag_p50_s is None and report.lag_max_s is None


def test_report_is_frozen_and_serialises(landed: tuple[Path, Path, list[bytes]]) -> None:
    manifest, lake, _ = landed
    report = verify(manifest, LakeSource(root=lake))
    with pytest.raises(AttributeError):
        report.missing = 3  # type: ignore[misc]
    data = report.to_dict()
    assert data["ok"] is True and data["expected"] == 1000
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {*VerifyReport.__dataclass_fields__, "ok", "lag_applicable"}


def test_verify_errors_are_one_line(tmp_path: Path, landed: tuple[Path, Path, list[bytes]]) -> None:
    manifest, lake, _ = landed
    with pytest.raises(ConfigError, match=r"--lake-dir '.*nowhere' does not exist"):
        verify(manifest, LakeSource(root=tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"--manifest '.*absent'"):
        verify(tmp_path / "absent", LakeSource(root=lake))
    (tmp_path / "plain.txt").write_text("hello\n")
    with pytest.raises(ConfigError, match="not a netflix-producer manifest"):
        verify(tmp_path / "plain.txt", LakeSource(root=lake))


def test_work_dir_is_used_and_cleaned(tmp_path: Path, landed: tuple[Path, Path, list[bytes]]) -> None:
    manifest, lake, _ = landed
    work = tmp_path / "work"
    seen: list[list[str]] = []
    original = verify_module._Tally.compare

    def spy(self, manifest_ids, landed_ids):  # type: ignore[no-untyped-def]
        if not seen:
            seen.append(sorted(p.name for p in next(work.iterdir()).iterdir()))
        return original(self, manifest_ids, landed_ids)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(verify_module._Tally, "compare", spy)
        assert verify(manifest, LakeSource(root=lake), work_dir=work).ok
    # 1,000 ids over 64 buckets: nearly all buckets used on each side.
    assert sum(name.startswith("expected-") for name in seen[0]) > 50
    assert sum(name.startswith("found-") for name in seen[0]) > 50
    assert list(work.iterdir()) == []


@pytest.mark.slow  # a million ids
def test_a_million_ids_in_bounded_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n, lost = 1_000_000, 1000
    raw = np.frombuffer(np.random.default_rng(1).bytes(16 * n), dtype=np.uint8).reshape(n, 16)
    manifest = tmp_path / "m"
    manifest.write_bytes(manifest_module.HEADER + raw.tobytes())
    # The lake: minimal records ({"event_id":"<uuid>"}) of every id but the last 1,000, in 8 objects.
    hex_digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    lines = np.full((n, 52), ord("-"), dtype=np.uint8)
    lines[:, :13] = np.frombuffer(b'{"event_id":"', dtype=np.uint8)
    digit_cols = np.array([13 + c for c in range(36) if c not in (8, 13, 18, 23)])
    lines[:, digit_cols[0::2]] = hex_digits[raw >> 4]
    lines[:, digit_cols[1::2]] = hex_digits[raw & 15]
    lines[:, 49:] = np.frombuffer(b'"}\n', dtype=np.uint8)
    assert json.loads(lines[0].tobytes())["event_id"] == str(uuid.UUID(bytes=raw[0].tobytes()))
    lake = tmp_path / "lake"
    for k, part in enumerate(np.array_split(lines[: n - lost], 8)):
        put_object(lake, [part.tobytes()], n=k)
    del lines
    monkeypatch.setattr(manifest_module, "CHUNK_IDS", 1 << 16)
    monkeypatch.setattr(verify_module, "_FLUSH_IDS", 1 << 16)
    loaded: list[int] = []
    written: list[int] = []
    load, flush = verify_module._Partition.load, verify_module._Partition.flush

    def spy_load(self, bucket):  # type: ignore[no-untyped-def]
        words = load(self, bucket)
        loaded.append(len(words))
        return words

    def spy_flush(self):  # type: ignore[no-untyped-def]
        written.append(self._pending_ids)
        flush(self)

    monkeypatch.setattr(verify_module._Partition, "load", spy_load)
    monkeypatch.setattr(verify_module._Partition, "flush", spy_flush)
    report = verify(manifest, LakeSource(root=lake), work_dir=tmp_path / "work")

    assert (report.expected, report.found, report.missing) == (n, n - lost, lost)
    assert (report.records, report.duplicated, report.unexpected) == (n - lost, 0, 0)
    lost_ids = {raw[i].tobytes() for i in range(n - lost, n)}
    assert len(report.missing_examples) == 10
    assert {uuid.UUID(e).bytes for e in report.missing_examples} <= lost_ids
    # Never all the ids at once (16 MB a side): K = 64 buckets of about n/64 each, loaded
    # one at a time, and the ids reach the bucket files in runs of at most ~64k.
    assert len(loaded) == 2 * 64
    assert max(loaded) < 2 * n / 64 and sum(loaded) == 2 * n - lost
    assert max(written) < (1 << 16) * 2 and sum(written) == 2 * n - lost


def test_lag_percentiles_come_from_a_bounded_uniform_sample() -> None:
    sample = verify_module._LagSample(size=2000, seed=3)
    values = np.random.default_rng(4).permutation(np.arange(100_000, dtype=np.float64))
    for chunk in np.array_split(values, 37):
        sample.add(chunk)
    p50, p95, p99 = sample.percentiles((50.0, 95.0, 99.0))
    assert sample.seen == 100_000 and sample.max == 99_999.0
    assert len(sample._values) == 2000
    assert p50 == pytest.approx(50_000, abs=3_000)
    assert p95 == pytest.approx(95_000, abs=2_000)
    assert p99 == pytest.approx(99_000, abs=1_000)


# -- the command -----------------------------------------------------------------------


def test_cli_exit_0_when_all_landed(landed: tuple[Path, Path, list[bytes]], tmp_path: Path) -> None:
    manifest, lake, _ = landed
    out = tmp_path / "report.json"
    result = invoke("--manifest", str(manifest), "--lake-dir", str(lake), "--json", str(out))
    assert result.exit_code == 0, result.output
    assert "expected events" in result.stdout and "1,000" in result.stdout
    assert result.stderr == ""
    assert json.loads(out.read_text())["ok"] is True


def test_cli_exit_1_and_one_line_when_events_are_missing(
    tmp_path: Path, landed: tuple[Path, Path, list[bytes]]
) -> None:
    manifest, lake, _ = landed
    next(lake.rglob("*.gz")).unlink()
    out = tmp_path / "report.json"
    result = invoke("--manifest", str(manifest), "--lake-dir", str(lake), "--json", str(out))
    assert result.exit_code == 1
    assert result.stderr == "verify: 250 of 1000 events missing\n"
    data = json.loads(out.read_text())
    assert data["ok"] is False and data["missing"] == 250 and len(data["missing_examples"]) == 10


def test_cli_reads_environment_and_flags_win(tmp_path: Path, landed: tuple[Path, Path, list[bytes]]) -> None:
    manifest, lake, _ = landed
    env = {"NETFLIX_PRODUCER_MANIFEST": str(manifest), "NETFLIX_PRODUCER_LAKE_DIR": str(lake)}
    assert invoke(env=env).exit_code == 0
    empty = tmp_path / "empty-lake"
    empty.mkdir()
    result = invoke("--lake-dir", str(empty), env=env)
    assert result.exit_code == 1
    assert result.stderr == "verify: 1000 of 1000 events missing\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "verify needs --manifest PATH"),
        (["--manifest", "{m}"], "verify needs --lake-dir DIR or --s3 s3://bucket/prefix"),
        (
            ["--manifest", "{m}", "--lake-dir", "{lake}", "--s3", "s3://b/p"],
            "give one of --lake-dir and --s3",
        ),
        (["--manifest", "{m}", "--s3", "http://b/p"], "--s3 'http://b/p': expected s3://bucket/prefix"),
        (["--manifest", "{tmp}/nope", "--lake-dir", "{lake}"], "--manifest '{tmp}/nope': No such file"),
        (["--manifest", "{lake}", "--lake-dir", "{lake}"], "--manifest '{lake}': "),
        (["--manifest", "{m}", "--lake-dir", "{tmp}/nolake"], "--lake-dir '{tmp}/nolake' does not exist"),
        (["--manifest", "{junk}", "--lake-dir", "{lake}"], "not a netflix-producer manifest"),
    ],
)
def test_cli_errors_are_one_line(
    args: list[str], expected: str, tmp_path: Path, landed: tuple[Path, Path, list[bytes]]
) -> None:
    manifest, lake, _ = landed
    (tmp_path / "junk").write_bytes(b"\x00" * 64)
    values = {"m": manifest, "lake": lake, "tmp": tmp_path, "junk": tmp_path / "junk"}
    result = invoke(*(a.format(**values) for a in args))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("netflix-producer: error: ")
    assert expected.format(**values) in lines[0]


def test_run_manifest_then_verify_the_lake(tmp_path: Path) -> None:
    """The real pipeline: a simulated run writes the lake and the manifest; verify agrees."""
    manifest, lake = tmp_path / "run.manifest", tmp_path / "lake"
    result = CliRunner().invoke(
        cli,
        ["run", "--count", "4000", "--rate", "100/s", "--start", "2026-01-27T10:00:00Z", "--gzip",
         "--buffer-interval", "10s", "--lake-dir", str(lake), "--manifest", str(manifest), "--quiet"],
        env={},
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = verify(manifest, LakeSource(root=lake))
    assert report.ok and report.expected == 4000 and report.records == 4000
    assert report.duplicated == 0 and report.unexpected == 0
    # Simulated time: an object is named after its oldest record's (simulated) arrival, so
    # later records in it have negative lags, down to minus the buffer interval (and 1 s
    # more, the name being truncated to the second).
    assert report.lag_records == 4000
    assert report.lag_max_s is not None and -11.0 <= report.lag_max_s <= 60.0
    assert report.lag_p50_s is not None and -11.0 <= report.lag_p50_s <= report.lag_max_s

    # ... which is no delivery lag: the manifest says the clock was simulated, and the
    # report says the lag does not apply instead of showing a negative one.
    assert report.clock == "simulated" and not report.lag_applicable
    assert report.to_dict()["lag_applicable"] is False
    shown = invoke("--manifest", str(manifest), "--lake-dir", str(lake))
    assert shown.exit_code == 0, shown.output
    assert "not applicable (simulated clock)" in shown.output
    assert "lag p50" not in shown.output

    (tmp_path / "lost").mkdir()
    objects = sorted(lake.rglob("*.gz"))
    assert len(objects) >= 3
    for p in objects[1:]:
        (tmp_path / "lost" / p.name).write_bytes(p.read_bytes())
    partial = verify(manifest, LakeSource(root=tmp_path / "lost"))
    assert 0 < partial.missing < 4000
    assert partial.found + partial.missing == 4000


def test_writer_errors_are_producer_errors(tmp_path: Path) -> None:
    writer = ManifestWriter(tmp_path / "m")
    writer.close()
    with pytest.raises(ProducerError, match="add after close"):
        writer.add([record(1)])


def test_a_realtime_run_reports_its_lag(tmp_path: Path) -> None:
    records = [record(i, ts=T0 - 5.0) for i in range(10)]
    manifest = tmp_path / "m"
    with ManifestWriter(manifest, clock="realtime") as writer:
        writer.add(records)
    put_object(tmp_path / "lake", records, ts=T0)
    report = verify(manifest, LakeSource(root=tmp_path / "lake"))
    assert report.clock == "realtime" and report.lag_applicable
    assert report.lag_max_s == pytest.approx(5.0)
    shown = invoke("--manifest", str(manifest), "--lake-dir", str(tmp_path / "lake"))
    assert "lag p50" in shown.output and "5.000 s" in shown.output
    # A manifest from before the clock was recorded still reads, with the lag shown.
    old = verify(write_manifest(tmp_path / "old", records), LakeSource(root=tmp_path / "lake"))
    assert old.clock is None and old.lag_applicable and old.ok

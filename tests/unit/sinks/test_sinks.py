"""The sinks: memory, null, stdout, file and the local lake (Firehose's S3 delivery)."""

from __future__ import annotations

import asyncio
import errno
import gzip
import io
import os
import re
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

import producer.sinks
from producer.errors import ConfigError, OutputClosedError, SinkError
from producer.sinks import (
    BatchResult,
    FileSink,
    LakeSink,
    MemorySink,
    NullSink,
    Sink,
    StdoutSink,
    evaluate_prefix,
    object_key,
)
from producer.sinks.lake import DEFAULT_PREFIX

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
KEY_RE = re.compile(
    r"^netflix/ingest_year=\d{4}/\d{2}/\d{2}/\d{2}/"
    rf"netflix-events-1-\d{{4}}-\d{{2}}-\d{{2}}-\d{{2}}-\d{{2}}-\d{{2}}-{UUID_RE}$"
)


def epoch(text: str) -> float:
    """Epoch seconds of an ISO time, read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


#: 2024-03-05T07:08:09.5Z: every field differs, so a swapped field shows.
TS = epoch("2024-03-05T07:08:09.500000")


class FakeClock:
    """An epoch clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def counter_uuids() -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"00000000-0000-4000-8000-{n:012d}"


def record(i: int, size: int = 30) -> bytes:
    """One newline-terminated NDJSON record of exactly ``size`` bytes."""
    head = f'{{"i":{i},"pad":"'
    tail = '"}\n'
    return (head + "x" * (size - len(head) - len(tail)) + tail).encode()


def drive(sink: Sink, *batches: Sequence[bytes], close: bool = True) -> list[BatchResult]:
    async def main() -> list[BatchResult]:
        results = [await sink.send_batch(batch) for batch in batches]
        if close:
            await sink.aclose()
        return results

    return asyncio.run(main())


def lake_objects(root: Path) -> dict[str, bytes]:
    """What a reader listing the lake sees: every non-dot file, by relative key."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def dot_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if p.is_file()]


def make_lake(root: Path, clock: FakeClock | None = None, **kwargs: object) -> LakeSink:
    uuids = counter_uuids()
    return LakeSink(
        root=root,
        clock=clock or FakeClock(TS),
        uuid_factory=lambda: next(uuids),
        **kwargs,  # type: ignore[arg-type]
    )


# --- the package surface ---------------------------------------------------------


def test_package_all_is_sorted_and_importable() -> None:
    assert producer.sinks.__all__ == sorted(producer.sinks.__all__)
    for name in producer.sinks.__all__:
        assert hasattr(producer.sinks, name), name


@pytest.mark.parametrize(
    "make",
    [
        MemorySink,
        NullSink,
        lambda tmp: StdoutSink(io.BytesIO()),
        lambda tmp: FileSink(tmp / "out.ndjson"),
        lambda tmp: LakeSink(root=tmp / "lake"),
    ],
    ids=["memory", "null", "stdout", "file", "lake"],
)
def test_every_sink_follows_the_protocol(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sink = make(tmp_path) if make not in (MemorySink, NullSink) else make()
    assert isinstance(sink, Sink)
    [result] = drive(sink, [record(1), record(2)])
    assert result == BatchResult(delivered=2)
    with pytest.raises(SinkError):
        drive(sink, [record(3)], close=False)


# --- memory and null -------------------------------------------------------------


def test_memory_sink_keeps_records_and_batch_sizes_in_order() -> None:
    sink = MemorySink()
    drive(sink, [record(1), record(2)], [], [record(3)])
    assert sink.records == [record(1), record(2), record(3)]
    assert sink.batches == [2, 0, 1]
    assert sink.closed


def test_null_sink_counts_records_and_bytes() -> None:
    sink = NullSink()
    drive(sink, [record(1, 40), record(2, 50)], [record(3, 60)])
    assert (sink.records, sink.bytes, sink.batches) == (3, 150, 2)


# --- stdout ----------------------------------------------------------------------


class RecordingStream(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushed_at: list[int] = []

    def flush(self) -> None:
        self.flushed_at.append(len(self.getvalue()))


def test_stdout_sink_writes_and_flushes_each_batch() -> None:
    stream = RecordingStream()
    sink = StdoutSink(stream)
    drive(sink, [record(1), record(2)], [record(3)])
    assert stream.getvalue() == record(1) + record(2) + record(3)
    # One flush right after each batch (the reader sees it at once), one at close.
    assert stream.flushed_at == [60, 90, 90]
    assert not stream.closed


def test_stdout_sink_closed_pipe_is_a_one_line_sink_error() -> None:
    class ClosedPipe(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    sink = StdoutSink(ClosedPipe())
    with pytest.raises(SinkError) as info:
        drive(sink, [record(1)])
    assert str(info.value) == "stdout: pipe closed by the reader"
    assert isinstance(info.value, OutputClosedError), "a reader leaving is a normal end, not a failure"
    # Closing after the reader left does not raise a second time.
    drive(sink)


# --- file ------------------------------------------------------------------------


def test_file_sink_appears_only_at_close(tmp_path: Path) -> None:
    out = tmp_path / "out" / "events.ndjson"
    sink = FileSink(out)
    drive(sink, [record(1), record(2)], close=False)
    assert not out.exists()
    drive(sink, [record(3)])
    assert out.read_bytes() == record(1) + record(2) + record(3)
    assert dot_files(tmp_path) == []
    assert (sink.records_written, sink.bytes_written) == (3, 90)


@pytest.mark.parametrize(
    ("name", "flag", "compressed"),
    [
        ("events.ndjson.gz", None, True),
        ("events.ndjson", None, False),
        ("events.ndjson", True, True),
        ("events.ndjson.gz", False, False),
    ],
)
def test_file_sink_gzip_by_suffix_or_flag(
    tmp_path: Path, name: str, flag: bool | None, compressed: bool
) -> None:
    records = [record(i) for i in range(100)]
    out = tmp_path / name
    drive(FileSink(out, gzip=flag), records[:60], records[60:])
    data = out.read_bytes()
    assert data.startswith(b"\x1f\x8b") is compressed
    assert (gzip.decompress(data) if compressed else data) == b"".join(records)


def test_file_sink_unwritable_directory_is_a_one_line_sink_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(SinkError) as info:
        FileSink(blocker / "events.ndjson")
    message = str(info.value)
    assert "\n" not in message
    assert str(blocker / "events.ndjson") in message
    assert "Not a directory" in message or "File exists" in message


def test_file_sink_disk_full_loses_every_record_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "events.ndjson"
    sink = FileSink(out)
    drive(sink, [record(1), record(2), record(3)], close=False)
    monkeypatch.setattr(os, "write", disk_full_after_half(os.write))
    with pytest.raises(SinkError) as info:
        drive(sink, [record(4), record(5)], close=False)
    assert info.value.lost == 5  # type: ignore[attr-defined]
    assert "No space left on device" in str(info.value)
    assert str(out) in str(info.value)
    drive(sink)  # closing a failed sink neither raises nor creates the file
    assert not out.exists()
    assert dot_files(tmp_path) == []


def disk_full_after_half(real_write):  # type: ignore[no-untyped-def]
    """An ``os.write`` that writes half its data, then fails as a full disk does."""

    def write(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write


# --- prefixes and keys -----------------------------------------------------------


def test_default_prefix_partitions_by_year_then_month_day_hour() -> None:
    assert evaluate_prefix(DEFAULT_PREFIX, TS) == "netflix/ingest_year=2024/03/05/07/"


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("raw/", "raw/2024/03/05/07/"),
        ("", "2024/03/05/07/"),
        # Appended as is: Firehose adds no slash of its own.
        ("raw", "raw2024/03/05/07/"),
        ("r/!{firehose:random-string}/", "r/RANDOMSTRIN/2024/03/05/07/"),
    ],
)
def test_prefix_without_timestamp_expression_gets_yyyy_mm_dd_hh(prefix: str, expected: str) -> None:
    assert evaluate_prefix(prefix, TS, random_string=lambda: "RANDOMSTRIN") == expected


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("dt=!{timestamp:yyyy-MM-dd}/", "dt=2024-03-05/"),
        ("dt=!{timestamp:yyyy'-'MM'-'dd}/h=!{timestamp:HH}/", "dt=2024-03-05/h=07/"),
        ("!{timestamp:yyyy_MM_dd_HH_mm_ss}/", "2024_03_05_07_08_09/"),
        ("!{timestamp:M/d/H/m/s}/", "3/5/7/8/9/"),
        ("!{timestamp:yy}/!{timestamp:uuuu}/", "24/2024/"),
        ("!{timestamp:'year='yyyy'/it''s'}/", "year=2024/it's/"),
        ("!{timestamp:HH''mm}/", "07'08/"),
    ],
)
def test_timestamp_expressions_follow_java_patterns(prefix: str, expected: str) -> None:
    assert evaluate_prefix(prefix, TS) == expected


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("tokyo")
def test_timestamps_are_utc_whatever_the_local_zone() -> None:
    assert time.localtime(TS).tm_hour == 16  # the machine really is in Tokyo here
    assert evaluate_prefix("!{timestamp:HH}/", TS) == "07/"
    key = object_key("", stream="s", ts=TS, uuid="u")
    assert key == "2024/03/05/07/s-1-2024-03-05-07-08-09-u"


def test_random_string_is_eleven_characters_per_evaluation() -> None:
    first = evaluate_prefix("!{firehose:random-string}/!{timestamp:yyyy}/", TS)
    second = evaluate_prefix("!{firehose:random-string}/!{timestamp:yyyy}/", TS)
    assert re.fullmatch(r"[0-9a-f-]{11}/2024/", first)
    assert first != second


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [
        ("err/!{firehose:error-output-type}/", "only valid in an error output prefix"),
        ("x/!{firehose:shard-id}/", "unknown expression"),
        ("x/!{date:yyyy}/", "unknown namespace 'date'"),
        ("x/!{timestamp:yyyy/", "never closed"),
        ("x/!{timestamp}/", "not of the form"),
        ("x/!{timestamp:}/", "not of the form"),
        ("x/!{timestamp:!{timestamp:yyyy}}/", "can't be nested"),
        ("x/!{timestamp:YYYY}/", "week-based year"),
        ("x/!{timestamp:MMM}/", "month names"),
        ("x/!{timestamp:HHH}/", "too many pattern letters"),
        ("x/!{timestamp:'yyyy}/", "unterminated quote"),
        ("x/!{partitionKeyFromQuery:customer_id}/", "dynamic partitioning"),
        ("x" * 1025, "longer than 1024"),
    ],
)
def test_invalid_prefix_is_a_config_error_naming_it(prefix: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        evaluate_prefix(prefix, TS)
    assert f"invalid prefix {prefix!r}" in str(info.value)
    assert reason in str(info.value)


def test_object_key_format() -> None:
    key = object_key(DEFAULT_PREFIX, stream="netflix-events", ts=TS, uuid="a" * 8 + "-" + "0" * 27)
    assert key == (
        "netflix/ingest_year=2024/03/05/07/"
        "netflix-events-1-2024-03-05-07-08-09-aaaaaaaa-000000000000000000000000000"
    )
    gz = object_key("raw/", stream="s", ts=TS, uuid="u", gzip=True)
    assert gz == "raw/2024/03/05/07/s-1-2024-03-05-07-08-09-u.gz"


# --- the lake --------------------------------------------------------------------


def test_lake_keys_match_firehose_names(tmp_path: Path) -> None:
    sink = LakeSink(root=tmp_path)
    drive(sink, [record(1)])
    [key] = sink.keys
    assert KEY_RE.match(key), key
    assert list(lake_objects(tmp_path)) == [key]


def test_lake_flushes_by_size_and_concatenates_without_delimiter(tmp_path: Path) -> None:
    sink = make_lake(tmp_path, buffer_bytes=120)
    records = [record(i) for i in range(10)]  # 30 bytes each: reaching 120 takes 4
    drive(sink, records[:3], close=False)
    assert lake_objects(tmp_path) == {}  # 90 bytes: under the hint
    # One batch can straddle objects: cut as soon as the hint is reached.
    drive(sink, records[3:], close=False)
    objects = lake_objects(tmp_path)
    assert [len(o) for o in objects.values()] == [120, 120]
    assert list(objects) == sink.keys
    drive(sink)  # the last 2 records go out at close
    objects = lake_objects(tmp_path)
    assert list(objects) == sink.keys
    assert [len(o) for o in objects.values()] == [120, 120, 60]
    assert b"".join(objects.values()) == b"".join(records)
    assert (sink.objects_written, sink.bytes_written, sink.records_written) == (3, 300, 10)


def test_lake_flushes_by_interval_on_the_injected_clock(tmp_path: Path) -> None:
    start = epoch("2024-03-05T07:00:00")
    clock = FakeClock(start)
    sink = make_lake(tmp_path, clock, buffer_interval_s=60.0, prefix="raw/")
    drive(sink, [record(1)], close=False)
    clock.now = start + 59.9
    drive(sink, [record(2)], close=False)
    assert sink.keys == []
    clock.now = start + 60.0
    drive(sink, [record(3)], close=False)
    # The expired buffer is one object; the new batch starts the next one.
    assert sink.keys == [
        "raw/2024/03/05/07/netflix-events-1-2024-03-05-07-00-00-00000000-0000-4000-8000-000000000001"
    ]
    assert lake_objects(tmp_path)[sink.keys[0]] == record(1) + record(2)
    clock.now = start + 61.0
    drive(sink)
    assert sink.keys[1].endswith("-2024-03-05-07-01-00-00000000-0000-4000-8000-000000000002")
    assert lake_objects(tmp_path)[sink.keys[1]] == record(3)


def test_lake_empty_batch_ticks_the_interval(tmp_path: Path) -> None:
    clock = FakeClock(TS)
    sink = make_lake(tmp_path, clock, buffer_interval_s=300.0)
    drive(sink, [record(1)], close=False)
    clock.now += 300
    drive(sink, [], close=False)
    assert list(lake_objects(tmp_path).values()) == [record(1)]


def test_lake_zero_interval_writes_every_batch(tmp_path: Path) -> None:
    sink = make_lake(tmp_path, buffer_interval_s=0.0)
    drive(sink, [record(1)], [record(2), record(3)], close=False)
    assert list(lake_objects(tmp_path).values()) == [record(1), record(2) + record(3)]


def test_lake_object_is_named_after_its_oldest_record(tmp_path: Path) -> None:
    clock = FakeClock(epoch("2024-03-05T07:59:59"))
    sink = make_lake(tmp_path, clock)
    drive(sink, [record(1)], close=False)
    clock.now = epoch("2024-03-05T08:00:30")
    drive(sink, [record(2)])
    [key] = sink.keys
    assert key.startswith("netflix/ingest_year=2024/03/05/07/netflix-events-1-2024-03-05-07-59-59-")


def test_lake_gzip_round_trip(tmp_path: Path) -> None:
    records = [record(i, 200) for i in range(50)]
    sink = make_lake(tmp_path, gzip=True)
    drive(sink, records[:20], records[20:])
    [(key, data)] = lake_objects(tmp_path).items()
    assert key.endswith(".gz")
    assert KEY_RE.match(key.removesuffix(".gz"))
    assert gzip.decompress(data) == b"".join(records)
    assert sink.bytes_written == len(data) < len(b"".join(records))


def test_lake_objects_appear_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = make_lake(tmp_path)
    seen_mid_write: list[dict[str, bytes]] = []
    real_write = os.write

    def watching_write(fd: int, data: bytes) -> int:
        seen_mid_write.append(lake_objects(tmp_path))
        assert dot_files(tmp_path), "the object is written under a dot-name first"
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", watching_write)
    drive(sink, [record(1), record(2)])
    assert seen_mid_write == [{}]
    assert list(lake_objects(tmp_path).values()) == [record(1) + record(2)]
    assert dot_files(tmp_path) == []


def test_lake_unwritable_root_fails_at_construction_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    for root in (blocker, blocker / "lake"):
        with pytest.raises(SinkError) as info:
            LakeSink(root=root)
        assert str(info.value) == f"lake directory '{root}' is not writable: Not a directory"


def test_lake_unwritable_object_directory_loses_the_buffer(tmp_path: Path) -> None:
    sink = make_lake(tmp_path, prefix="raw/")
    drive(sink, [record(1), record(2)], close=False)
    (tmp_path / "raw").write_text("")  # the object's directory can no longer be made
    with pytest.raises(SinkError) as info:
        drive(sink)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot write lake object '{tmp_path}/raw/2024/")
    assert info.value.lost == 2  # type: ignore[attr-defined]
    assert sink.objects_written == 0


def test_lake_disk_full_reports_lost_records_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = make_lake(tmp_path, buffer_bytes=100)
    drive(sink, [record(1), record(2)], close=False)
    monkeypatch.setattr(os, "write", disk_full_after_half(os.write))
    with pytest.raises(SinkError) as info:
        # The 4th record fills the buffer; the 5th and 6th are never taken in.
        drive(sink, [record(3), record(4), record(5), record(6)], close=False)
    assert info.value.lost == 6  # type: ignore[attr-defined]
    assert "No space left on device" in str(info.value)
    assert lake_objects(tmp_path) == {}
    assert dot_files(tmp_path) == []
    monkeypatch.undo()
    drive(sink)  # nothing left buffered: the lost records are not written later
    assert lake_objects(tmp_path) == {}


def test_lake_expired_buffer_failing_loses_the_new_batch_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(TS)
    sink = make_lake(tmp_path, clock, buffer_interval_s=10.0)
    drive(sink, [record(1)], close=False)
    clock.now += 10
    monkeypatch.setattr(os, "write", disk_full_after_half(os.write))
    with pytest.raises(SinkError) as info:
        drive(sink, [record(2), record(3)], close=False)
    # The buffered record and the whole batch, which was not accepted.
    assert info.value.lost == 3  # type: ignore[attr-defined]


def test_lake_uses_injected_factories_only_for_objects(tmp_path: Path) -> None:
    sink = LakeSink(
        root=tmp_path,
        prefix="r/!{firehose:random-string}/",
        clock=FakeClock(TS),
        uuid_factory=iter(["first-uuid"]).__next__,
        random_string=iter(["abcdefghijk"]).__next__,
    )
    drive(sink, [record(1)])
    assert sink.keys == ["r/abcdefghijk/2024/03/05/07/netflix-events-1-2024-03-05-07-08-09-first-uuid"]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"stream": "bad stream"}, "invalid stream name 'bad stream'"),
        ({"stream": "x" * 65}, "invalid stream name"),
        ({"prefix": "/abs/"}, "invalid prefix '/abs/'"),
        ({"prefix": "a/../b/"}, "invalid prefix 'a/../b/'"),
        ({"prefix": "a//b/"}, "invalid prefix 'a//b/'"),
        ({"prefix": "a/!{firehose:error-output-type}/"}, "error output prefix"),
        ({"buffer_bytes": 0}, "invalid lake buffer size"),
        ({"buffer_interval_s": -1.0}, "invalid lake buffer interval"),
    ],
)
def test_lake_rejects_bad_settings_before_writing(
    tmp_path: Path, kwargs: dict[str, object], reason: str
) -> None:
    root = tmp_path / "lake"
    with pytest.raises(ConfigError) as info:
        LakeSink(root=root, **kwargs)  # type: ignore[arg-type]
    assert reason in str(info.value)
    assert not root.exists()

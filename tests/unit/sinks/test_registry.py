from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from producer import resolve
from producer.config.settings import SINKS
from producer.delivery.batching import MAX_BATCH_BYTES, MAX_RECORD_BYTES
from producer.runtime.clock import ManualClock
from producer.runtime.runner import run
from producer.sinks import registry
from producer.sinks.memory import MemorySink
from producer.sinks.registry import REGISTRY, SinkSpec, batcher_for, open_sink, spec_of


def test_the_settings_accept_exactly_the_registered_sinks() -> None:
    assert SINKS == tuple(REGISTRY) == ("lake", "stdout", "file", "null", "firehose", "kinesis", "s3")


def test_every_registered_sink_builds_from_its_settings(tmp_path: Path) -> None:
    needs = {"file": {"out": str(tmp_path / "e.ndjson")}, "s3": {"bucket": "s3://datalake/raw/"}}
    for name in REGISTRY:
        settings = resolve({"sink": name, "lake_dir": str(tmp_path), **needs.get(name, {})}, env={})
        sink = open_sink(settings, lambda: 0.0)
        assert sink.name == name


def test_batch_limits_come_from_the_sink() -> None:
    kinesis = batcher_for(resolve({"sink": "kinesis"}, env={}))
    firehose = batcher_for(resolve({"sink": "firehose"}, env={}))
    lake = batcher_for(resolve({}, env={}))
    assert kinesis.max_bytes == 5 * 1024 * 1024 and kinesis.max_record_bytes == 1024 * 1024 - 256
    assert firehose.max_bytes == lake.max_bytes == MAX_BATCH_BYTES
    assert firehose.max_record_bytes == lake.max_record_bytes == MAX_RECORD_BYTES
    # Packing applies to the stream sinks only.
    assert batcher_for(resolve({"sink": "firehose", "pack": "5KB"}, env={})).pack_bytes == 5000
    assert batcher_for(resolve({"pack": "5KB"}, env={})).pack_bytes is None


def test_stream_sinks_run_calls_concurrently_and_local_ones_in_order() -> None:
    assert {name for name, spec in REGISTRY.items() if spec.concurrent} == {"firehose", "kinesis"}
    assert not spec_of("memory").concurrent  # a library sink: a local sink's defaults


def _summary(name: str, monkeypatch: pytest.MonkeyPatch, spec: SinkSpec) -> tuple[MemorySink, int]:
    monkeypatch.setitem(REGISTRY, name, spec)
    sink = MemorySink()
    sink.name = name
    flags = {
        "sink": name,
        "count": "3000",
        "seed": "3",
        "start": "2026-01-27",
        "accounts": "2000",
        "titles": "300",
    }
    summary = asyncio.run(run(resolve(flags, env={}), sink, clock=ManualClock()))
    assert summary.generated == summary.delivered == 3000
    return sink, summary.billed_bytes


def test_a_new_sink_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    def build(settings, clock):  # type: ignore[no-untyped-def]
        built.append(settings.sink)
        return MemorySink()

    spec = SinkSpec(name="queue", build=build, billing_unit=1024)
    monkeypatch.setitem(REGISTRY, "queue", spec)
    settings = resolve({"sink": "queue"}, env={})
    assert open_sink(settings, lambda: 0.0).name == "memory" and built == ["queue"]
    sink, billed = _summary("queue", monkeypatch, spec)
    # Billed per record, rounded up to the sink's own unit.
    assert billed == sum(-(-len(r) // 1024) for r in sink.records) * 1024


def test_kinesis_is_billed_in_25_kb_payload_units() -> None:
    assert registry.REGISTRY["kinesis"].billing_unit == 25 * 1024
    assert registry.REGISTRY["firehose"].billing_unit == 5120

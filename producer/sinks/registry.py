"""The sink registry: what each sink is, declared once.

Every sink declares here how it is built from settings, its batch limits, whether
its calls run concurrently, how its records are billed, and what its throttling looks
like when rehearsed. The rest of the code asks the registry instead of switching on
sink names. Adding a sink is its module, one :class:`SinkSpec` in :data:`REGISTRY`,
and its settings (docs/architecture.md walks through it).

Building a sink imports its module only then, so reading the registry (the CLI's
choices, the settings' validation) costs no AWS SDK import.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

from producer.delivery.batching import MAX_BATCH_BYTES, MAX_RECORD_BYTES, MAX_RECORDS_PER_BATCH, Batcher

if TYPE_CHECKING:
    from producer.config.settings import Settings
    from producer.delivery.retry import DeliverySink, SyncDelivery, SyncTransport
    from producer.sinks.aws.clients import AwsOptions
    from producer.sinks.aws.firehose import FirehoseTransport
    from producer.sinks.aws.kinesis import KinesisTransport
    from producer.sinks.base import EpochClock, Sink

__all__ = [
    "FIREHOSE_LIMITS",
    "KINESIS_LIMITS",
    "REGISTRY",
    "BatchLimits",
    "SinkSpec",
    "batcher_for",
    "open_sink",
    "sink_names",
    "spec_of",
    "stream_delivery",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchLimits:
    """One API call's limits: records and bytes per call, bytes per record."""

    max_records: int
    max_bytes: int
    max_record_bytes: int
    #: Bytes a record's own metadata takes in ``max_record_bytes`` (Kinesis: the partition key).
    key_bytes: int = 0


#: PutRecordBatch: 500 records, 4 MiB, 1,000 KiB per record (before base64).
FIREHOSE_LIMITS = BatchLimits(
    max_records=MAX_RECORDS_PER_BATCH, max_bytes=MAX_BATCH_BYTES, max_record_bytes=MAX_RECORD_BYTES
)
#: PutRecords: 500 records, 5 MiB, 1 MiB per record counting its partition key (at most 256 bytes).
KINESIS_LIMITS = BatchLimits(
    max_records=500, max_bytes=5 * 1024 * 1024, max_record_bytes=1024 * 1024, key_bytes=256
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SinkSpec:
    """Everything the run needs to know about one sink."""

    name: str
    build: Callable[[Settings, EpochClock], Sink]
    #: The limits of one call; local sinks take Firehose's, so a batch means the same everywhere.
    limits: BatchLimits = FIREHOSE_LIMITS
    #: Calls overlap (``--max-in-flight``); a local sink keeps its buffers in order with one at a time.
    concurrent: bool = False
    #: Several events may share one record (``--pack``).
    packs: bool = False
    #: Ingestion is billed per record rounded up to this many bytes. Firehose's 5 KB by
    #: default: what the records would cost through Firehose.
    billing_unit: int = 5120
    #: The error code and message a rehearsed throttle answers with (``--throttle-rate``, ``--quota``).
    throttle: tuple[str, str] = ("ServiceUnavailableException", "Slow down.")
    #: Where the events go, for the live view (empty: the sink's name says it).
    destination: Callable[[Settings], str] = lambda s: ""


def _aws_options(settings: Settings) -> AwsOptions:
    from producer.sinks.aws.clients import AwsOptions

    return AwsOptions(
        region=settings.region,
        profile=settings.profile,
        endpoint_url=settings.endpoint_url,
        max_pool_connections=max(10, settings.max_in_flight),
    )


def _layout(settings: Settings, clock: EpochClock) -> dict[str, Any]:
    """What the lake and the S3 sink share: Firehose's object layout and buffering, and the
    world whose dimension tables go beside the raw zone."""
    return {
        "world": settings.world_config() if settings.write_dims else None,
        "stream": settings.stream,
        "prefix": settings.prefix,
        "buffer_bytes": settings.buffer_bytes,
        "buffer_interval_s": settings.buffer_interval_s,
        "gzip": settings.gzip,
        "clock": clock,
    }


def _lake(settings: Settings, clock: EpochClock) -> Sink:
    from producer.sinks.lake import LakeSink

    return LakeSink(root=settings.lake_dir, **_layout(settings, clock))


def _s3(settings: Settings, clock: EpochClock) -> Sink:
    from producer.delivery.retry import RetryPolicy
    from producer.sinks.aws.s3 import S3Sink

    assert settings.bucket is not None
    return S3Sink(
        bucket=settings.bucket,
        options=_aws_options(settings),
        policy=RetryPolicy(max_attempts=settings.max_attempts),
        **_layout(settings, clock),
    )


def _stream(settings: Settings, clock: EpochClock) -> Sink:
    return stream_delivery(settings, settings.sink, seed=settings.seed)


@overload
def stream_delivery(
    settings: Settings, kind: str, *, seed: int, blocking: Literal[False] = False
) -> DeliverySink: ...
@overload
def stream_delivery(
    settings: Settings, kind: str, *, seed: int, blocking: Literal[True]
) -> tuple[SyncDelivery, SyncTransport]: ...
def stream_delivery(
    settings: Settings, kind: str, *, seed: int, blocking: bool = False
) -> DeliverySink | tuple[SyncDelivery, SyncTransport]:
    """Delivery to a Firehose or Kinesis stream (``kind``): the transport chosen by
    ``settings.transport``, the rehearsed transport faults around it, retries around both.

    Async, the firehose and kinesis sinks; ``blocking``, the locust users (with the
    transport, whose counters they read). ``seed`` seeds the partition keys, the faults
    and the retries' jitter.
    """
    from producer.delivery.retry import DeliverySink, RetryPolicy, SyncDelivery, Transport
    from producer.delivery.transport_faults import (
        FaultPlan,
        FaultySyncTransport,
        FaultyTransport,
        TransportFaults,
    )

    faults = TransportFaults(
        throttle_rate=settings.throttle_rate,
        call_failure_rate=settings.call_failure_rate,
        quota=settings.quota,
    )
    # The code and message a rehearsed throttle answers with, as the stream would.
    code, message = spec_of("kinesis" if kind == "kinesis" else "firehose").throttle
    policy = RetryPolicy(max_attempts=settings.max_attempts, max_retry_time_s=settings.max_retry_time_s)
    limits = spec_of(kind).limits
    # A call merges resends with new records: room is kept for every record's partition key.
    max_records, max_bytes = limits.max_records, limits.max_bytes - limits.max_records * limits.key_bytes
    if blocking:
        sync_transport = _sync_transport(settings, kind, seed)
        if faults.active:
            plan = FaultPlan(faults, throttle_code=code, throttle_message=message, seed=seed)
            sync_transport = FaultySyncTransport(sync_transport, plan)
        delivery = SyncDelivery(
            sync_transport,
            policy=policy,
            rng=random.Random(seed),
            max_records=max_records,
            max_bytes=max_bytes,
        )
        return delivery, sync_transport
    real = _async_transport(settings, kind, seed)
    transport: Transport = real
    if faults.active:
        transport = FaultyTransport(real, faults, throttle_code=code, throttle_message=message, seed=seed)
    return DeliverySink(
        transport, policy=policy, opener=real.describe, max_in_flight=settings.max_in_flight,
        max_records=max_records, max_bytes=max_bytes,
    )  # fmt: skip


def _async_transport(settings: Settings, kind: str, seed: int) -> FirehoseTransport | KinesisTransport:
    from producer.sinks.aws.fast import FastFirehoseTransport, FastKinesisTransport
    from producer.sinks.aws.firehose import FirehoseTransport
    from producer.sinks.aws.kinesis import KinesisTransport

    aws = _aws_options(settings)
    fast = settings.transport == "fast"
    if kind == "kinesis":
        kinesis = FastKinesisTransport if fast else KinesisTransport
        return kinesis(stream=settings.stream, partition_key=settings.partition_key, options=aws, seed=seed)
    return (FastFirehoseTransport if fast else FirehoseTransport)(stream=settings.stream, options=aws)


def _sync_transport(settings: Settings, kind: str, seed: int) -> SyncTransport:
    """boto3's ``put_record_batch``/``put_records`` ("botocore"), or the same call built,
    signed and sent directly over urllib3 ("fast")."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
    config = Config(
        retries={"total_max_attempts": 1}, max_pool_connections=50, connect_timeout=5, read_timeout=30
    )
    fast = settings.transport == "fast"
    if kind == "kinesis":
        from producer.sinks.aws.kinesis import KinesisSyncTransport

        client = session.client("kinesis", endpoint_url=settings.endpoint_url, config=config)
        if fast:
            from producer.sinks.aws.fast import FastKinesisSyncTransport

            return FastKinesisSyncTransport(
                stream=settings.stream, client=client, credentials=session.get_credentials(),
                partition_key=settings.partition_key, seed=seed,
            )  # fmt: skip
        return KinesisSyncTransport(
            stream=settings.stream, client=client, partition_key=settings.partition_key, seed=seed
        )
    from producer.sinks.aws.firehose import FirehoseSyncTransport

    client = session.client("firehose", endpoint_url=settings.endpoint_url, config=config)
    if fast:
        from producer.sinks.aws.fast import FastFirehoseSyncTransport

        return FastFirehoseSyncTransport(
            stream=settings.stream, client=client, credentials=session.get_credentials()
        )
    return FirehoseSyncTransport(stream=settings.stream, client=client)


def _stdout(settings: Settings, clock: EpochClock) -> Sink:
    from producer.sinks.stdout import StdoutSink

    return StdoutSink()


def _file(settings: Settings, clock: EpochClock) -> Sink:
    from producer.sinks.file import FileSink

    assert settings.out is not None
    return FileSink(settings.out, gzip=settings.gzip or None)


def _null(settings: Settings, clock: EpochClock) -> Sink:
    from producer.sinks.null import NullSink

    return NullSink()


#: Every sink a run can name, in the order ``--help`` lists them.
REGISTRY: dict[str, SinkSpec] = {
    spec.name: spec
    for spec in (
        SinkSpec(
            name="lake",
            build=_lake,
            destination=lambda s: f"lake {s.lake_dir}",
        ),
        SinkSpec(name="stdout", build=_stdout),
        SinkSpec(name="file", build=_file, destination=lambda s: f"file {s.out}"),
        SinkSpec(name="null", build=_null),
        SinkSpec(
            name="firehose",
            build=_stream,
            concurrent=True,
            packs=True,
        ),
        SinkSpec(
            name="kinesis",
            build=_stream,
            limits=KINESIS_LIMITS,
            concurrent=True,
            packs=True,
            # A PUT payload unit is 25 KB.
            billing_unit=25 * 1024,
            throttle=("ProvisionedThroughputExceededException", "Rate exceeded for shard (rehearsed)."),
        ),
        SinkSpec(name="s3", build=_s3),
    )
}


def sink_names() -> tuple[str, ...]:
    """The names a run accepts for ``--sink``."""
    return tuple(REGISTRY)


def spec_of(name: str) -> SinkSpec:
    """The spec of a sink by name (``memory`` and other library sinks: a local sink's defaults)."""
    return REGISTRY.get(name) or SinkSpec(name=name, build=_null)


def batcher_for(settings: Settings) -> Batcher:
    """A batcher with the sink's API limits."""
    spec = spec_of(settings.sink)
    limits = spec.limits
    return Batcher(
        max_records=settings.batch_records,
        max_bytes=limits.max_bytes,
        max_record_bytes=limits.max_record_bytes - limits.key_bytes,
        linger_s=settings.linger_s,
        hard_max_bytes=limits.max_bytes,
        hard_max_record_bytes=limits.max_record_bytes,
        # Packing pays off (and keeps per-event accounting) only for stream sinks.
        pack_bytes=settings.pack_bytes if spec.packs else None,
    )


def open_sink(settings: Settings, clock: EpochClock) -> Sink:
    """The sink named by ``settings.sink``, configured from ``settings``.

    ``settings.transport`` picks how the firehose and kinesis sinks call AWS (fast, the
    default, or botocore); the other sinks ignore it.
    """
    return spec_of(settings.sink).build(settings, clock)

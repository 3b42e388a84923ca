"""Building the sink (and its batcher) a run asks for, from resolved settings."""

from __future__ import annotations

from producer.config.settings import Settings
from producer.delivery.batching import MAX_BATCH_BYTES, MAX_RECORD_BYTES, Batcher
from producer.delivery.retry import DeliverySink, RetryPolicy, Transport
from producer.delivery.transport_faults import FaultyTransport, TransportFaults
from producer.sinks.aws.clients import AwsOptions
from producer.sinks.aws.fast import FastFirehoseTransport, FastKinesisTransport
from producer.sinks.aws.firehose import FirehoseTransport
from producer.sinks.aws.kinesis import MAX_KINESIS_BATCH_BYTES, MAX_KINESIS_RECORD_BYTES, KinesisTransport
from producer.sinks.aws.s3 import S3Sink
from producer.sinks.base import EpochClock, Sink
from producer.sinks.file import FileSink
from producer.sinks.lake import LakeSink
from producer.sinks.null import NullSink
from producer.sinks.stdout import StdoutSink

__all__ = ["batcher_for", "open_sink"]


def batcher_for(settings: Settings) -> Batcher:
    """A batcher with the sink's API limits (Firehose's unless the sink is Kinesis)."""
    if settings.sink == "kinesis":
        # PutRecords counts the partition key (at most 256 bytes) in the 1 MiB record limit.
        return Batcher(
            max_records=settings.batch_records,
            max_bytes=MAX_KINESIS_BATCH_BYTES,
            max_record_bytes=MAX_KINESIS_RECORD_BYTES - 256,
            linger_s=settings.linger_s,
            hard_max_bytes=MAX_KINESIS_BATCH_BYTES,
            hard_max_record_bytes=MAX_KINESIS_RECORD_BYTES,
            pack_bytes=settings.pack_bytes,
        )
    return Batcher(
        max_records=settings.batch_records,
        max_bytes=MAX_BATCH_BYTES,
        max_record_bytes=MAX_RECORD_BYTES,
        linger_s=settings.linger_s,
        # Packing pays off (and keeps per-event accounting) only for stream sinks.
        pack_bytes=settings.pack_bytes if settings.sink == "firehose" else None,
    )


def open_sink(settings: Settings, clock: EpochClock) -> Sink:
    """The sink named by ``settings.sink``, configured from ``settings``.

    ``settings.transport`` picks how the firehose and kinesis sinks call AWS (fast, the
    default, or botocore); the other sinks ignore it.
    """
    aws = AwsOptions(
        region=settings.region,
        profile=settings.profile,
        endpoint_url=settings.endpoint_url,
        max_pool_connections=max(10, settings.max_in_flight),
    )
    policy = RetryPolicy(max_attempts=settings.max_attempts)
    if settings.sink == "lake":
        return LakeSink(
            root=settings.lake_dir,
            stream=settings.stream,
            prefix=settings.prefix,
            buffer_bytes=settings.buffer_bytes,
            buffer_interval_s=settings.buffer_interval_s,
            gzip=settings.gzip,
            clock=clock,
        )
    if settings.sink == "s3":
        assert settings.bucket is not None
        return S3Sink(
            bucket=settings.bucket,
            options=aws,
            policy=policy,
            stream=settings.stream,
            prefix=settings.prefix,
            buffer_bytes=settings.buffer_bytes,
            buffer_interval_s=settings.buffer_interval_s,
            gzip=settings.gzip,
            clock=clock,
        )
    if settings.sink in ("firehose", "kinesis"):
        transport: Transport
        fast = settings.transport == "fast"
        if settings.sink == "firehose":
            firehose = FastFirehoseTransport if fast else FirehoseTransport
            real: FirehoseTransport | KinesisTransport = firehose(stream=settings.stream, options=aws)
            throttle = ("ServiceUnavailableException", "Slow down.")
        else:
            kinesis = FastKinesisTransport if fast else KinesisTransport
            real = kinesis(
                stream=settings.stream, partition_key=settings.partition_key, options=aws, seed=settings.seed
            )
            throttle = ("ProvisionedThroughputExceededException", "Rate exceeded for shard (rehearsed).")
        transport = real
        faults = TransportFaults(
            throttle_rate=settings.throttle_rate,
            call_failure_rate=settings.call_failure_rate,
            quota=settings.quota,
        )
        if faults.active:
            transport = FaultyTransport(
                real, faults, throttle_code=throttle[0], throttle_message=throttle[1], seed=settings.seed
            )
        return DeliverySink(transport, policy=policy, opener=real.describe)
    if settings.sink == "stdout":
        return StdoutSink()
    if settings.sink == "file":
        assert settings.out is not None
        return FileSink(settings.out, gzip=settings.gzip or None)
    return NullSink()

"""netflix-producer: synthetic Netflix-style playback clickstream for Firehose pipelines."""

from producer.config.settings import Settings, resolve
from producer.delivery.batching import MAX_BATCH_BYTES, MAX_RECORD_BYTES, MAX_RECORDS_PER_BATCH, Batcher
from producer.errors import ConfigError, ProducerError, SinkError
from producer.generation.encode import encode_block
from producer.generation.schema import EVENT_TYPES, PROCESSED_FIELDS, RAW_FIELDS, EventType
from producer.generation.sessions import EventBlock, SessionGenerator, SessionParams
from producer.generation.world import World, WorldConfig
from producer.runtime.clock import Clock, ManualClock, SystemClock
from producer.runtime.rate import RateShape, Schedule, constant, daily, parse_rate, ramp, steps
from producer.runtime.runner import run
from producer.runtime.stats import RunStats, Summary

__version__ = "0.1.0"

__all__ = [
    "Batcher",
    "Clock",
    "ConfigError",
    "EVENT_TYPES",
    "EventBlock",
    "EventType",
    "MAX_BATCH_BYTES",
    "MAX_RECORDS_PER_BATCH",
    "MAX_RECORD_BYTES",
    "ManualClock",
    "PROCESSED_FIELDS",
    "ProducerError",
    "RAW_FIELDS",
    "RateShape",
    "RunStats",
    "Schedule",
    "SessionGenerator",
    "SessionParams",
    "Settings",
    "SinkError",
    "Summary",
    "SystemClock",
    "World",
    "WorldConfig",
    "__version__",
    "constant",
    "daily",
    "encode_block",
    "parse_rate",
    "ramp",
    "resolve",
    "run",
    "steps",
]

"""netflix-producer: synthetic Netflix-style playback clickstream for Firehose pipelines."""

from producer.batching import MAX_BATCH_BYTES, MAX_RECORD_BYTES, MAX_RECORDS_PER_BATCH, Batcher
from producer.clock import Clock, ManualClock, SystemClock
from producer.config import Settings, resolve
from producer.encode import encode_block
from producer.errors import ConfigError, ProducerError, SinkError
from producer.rate import RateShape, Schedule, constant, daily, parse_rate, ramp, steps
from producer.schema import EVENT_TYPES, PROCESSED_FIELDS, RAW_FIELDS, EventType
from producer.sessions import EventBlock, SessionGenerator, SessionParams
from producer.stats import RunStats, Summary
from producer.world import World, WorldConfig

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
    "steps",
]

"""Sinks: where encoded records go, each behind the same tiny async protocol."""

from producer.sinks.base import BatchResult, EpochClock, RecordFailure, Sink
from producer.sinks.file import FileSink
from producer.sinks.lake import LakeSink, evaluate_prefix, object_key
from producer.sinks.memory import MemorySink
from producer.sinks.null import NullSink
from producer.sinks.stdout import StdoutSink

__all__ = [
    "BatchResult",
    "EpochClock",
    "FileSink",
    "LakeSink",
    "MemorySink",
    "NullSink",
    "RecordFailure",
    "Sink",
    "StdoutSink",
    "evaluate_prefix",
    "object_key",
]

"""Building the sink a run asks for, from resolved settings."""

from __future__ import annotations

from producer.config import Settings
from producer.sinks.base import EpochClock, Sink
from producer.sinks.file import FileSink
from producer.sinks.lake import LakeSink
from producer.sinks.null import NullSink
from producer.sinks.stdout import StdoutSink

__all__ = ["open_sink"]


def open_sink(settings: Settings, clock: EpochClock) -> Sink:
    """The sink named by ``settings.sink``, configured from ``settings``."""
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
    if settings.sink == "stdout":
        return StdoutSink()
    if settings.sink == "file":
        assert settings.out is not None
        return FileSink(settings.out, gzip=settings.gzip or None)
    return NullSink()

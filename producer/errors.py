"""The one exception tree of the library.

Every error a user can cause or meet derives from :class:`ProducerError`; the CLI
catches only that base class and prints its message on one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from producer.sinks.base import BatchResult

__all__ = [
    "ConfigError",
    "DataQualityError",
    "OutputClosedError",
    "ProducerError",
    "SinkError",
    "TransportError",
]


class ProducerError(Exception):
    """Base class of every error raised by netflix-producer."""


class ConfigError(ProducerError):
    """A setting, flag, environment variable or scenario value is invalid.

    The message names the setting and the offending value.
    """


class SinkError(ProducerError):
    """A sink cannot accept records (unwritable directory, full disk, closed pipe...).

    ``lost`` counts records the sink had already accepted (in earlier calls or in
    this one) that it could not write: the runner moves them from delivered to failed.
    A delivery sink that gives up on a batch (a non-retryable error, an endpoint gone)
    sets ``result``: what it confirmed of that batch, with the rest as failures for
    the dead-letter file. Either way the run stops.
    """

    def __init__(self, message: str, *, lost: int = 0, result: BatchResult | None = None) -> None:
        super().__init__(message)
        self.lost = lost
        self.result = result


class OutputClosedError(SinkError):
    """The reader of the output went away (``... --sink stdout | head``).

    A normal end of the run, not a failure: the run stops, exits 0, and counts the
    records the reader never got as not delivered (``failed``), without dead letters.
    """


class TransportError(ProducerError):
    """One call to a remote API failed as a whole. ``retryable`` says whether trying again can help.

    Raised by the transports (the AWS error translation builds it) and caught by the
    delivery retry loop, which retries it or stops the run with :class:`SinkError`.
    """

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


class DataQualityError(ProducerError):
    """The ETL ran, and a configured data-quality rule failed (see the run's report).

    ``report`` is the run's data-quality report (a JSON-able dict).
    """

    def __init__(self, message: str, *, report: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.report = report

"""One local Spark session for the whole test session (JVM start and JIT warm-up are the cost)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spark: runs on a real local Spark session (Java 17)")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The session the ETL runs on: the library's own builder, with a C1-only JIT (tests only)."""
    from producer.pipeline.etl import local_spark

    session = local_spark(java_options="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC", app_name="netflix-tests")
    try:
        yield session
    finally:
        session.stop()

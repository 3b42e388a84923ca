from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from producer.world import World, WorldConfig


@pytest.fixture(scope="session")
def small_world() -> World:
    """A world small enough to build instantly, big enough for realistic sessions."""
    return World(WorldConfig(seed=7, accounts=20_000, titles=2_000))


def parse_records(records: Iterable[bytes]) -> list[dict]:
    return [json.loads(r) for r in records]

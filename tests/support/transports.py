"""Transports for tests: what a call answers, without a network."""

from __future__ import annotations

from collections.abc import Sequence

#: Firehose's answer to a throttled record.
SLOW = ("ServiceUnavailableException", "Slow down.")


class KeepingTransport:
    """Accepts every record and keeps it."""

    name = "keeping"

    def __init__(self) -> None:
        self.records: list[bytes] = []

    async def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        self.records.extend(records)
        return []

    async def aclose(self) -> None:
        pass

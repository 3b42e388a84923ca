"""The event schema: the single source of truth for field names, types and meanings.

The raw event is what a player sends (one JSON object per line). The processed
table is what the Glue job writes: the raw fields plus ``event_timestamp`` and
``event_date``. ``docs/data_model.md`` is checked against this module by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "DEVICE_TYPES",
    "EVENT_TYPES",
    "PROCESSED_FIELDS",
    "RAW_FIELDS",
    "EventType",
    "Field",
    "markdown_table",
]


class EventType(IntEnum):
    """Player event types, in a stable order (the integer codes are internal)."""

    PLAY_START = 0
    PAUSE = 1
    RESUME = 2
    SEEK = 3
    BUFFER_START = 4
    BUFFER_END = 5
    PLAY_STOP = 6


EVENT_TYPES: tuple[str, ...] = tuple(e.name for e in EventType)

#: Device families, in the order of the internal integer codes.
DEVICE_TYPES: tuple[str, ...] = ("tv", "console", "web", "mobile", "tablet")


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """One column of the raw or processed schema."""

    name: str
    json_type: str
    athena_type: str
    nullable: bool
    description: str


RAW_FIELDS: tuple[Field, ...] = (
    Field(
        name="event_id",
        json_type="string",
        athena_type="string",
        nullable=False,
        description="Unique id of the event (UUID, seeded): the deduplication key.",
    ),
    Field(
        name="session_id",
        json_type="string",
        athena_type="string",
        nullable=False,
        description="Id of the playback session (one title, PLAY_START to PLAY_STOP).",
    ),
    Field(
        name="user_id",
        json_type="integer",
        athena_type="bigint",
        nullable=False,
        description="Account id.",
    ),
    Field(
        name="profile_id",
        json_type="integer",
        athena_type="int",
        nullable=False,
        description="Profile within the account (0-4).",
    ),
    Field(
        name="title_id",
        json_type="integer",
        athena_type="bigint",
        nullable=False,
        description="Playable title: a film or one episode of a series (see the catalog).",
    ),
    Field(
        name="event_type",
        json_type="string",
        athena_type="string",
        nullable=False,
        description="One of " + ", ".join(EVENT_TYPES) + ".",
    ),
    Field(
        name="event_ts",
        json_type="number",
        athena_type="double",
        nullable=False,
        description="When the event happened, epoch seconds (UTC), millisecond precision.",
    ),
    Field(
        name="position_ms",
        json_type="integer",
        athena_type="bigint",
        nullable=False,
        description="Playhead position in the title, milliseconds; after the seek for SEEK.",
    ),
    Field(
        name="device_type",
        json_type="string",
        athena_type="string",
        nullable=False,
        description="One of " + ", ".join(DEVICE_TYPES) + ".",
    ),
    Field(
        name="country",
        json_type="string",
        athena_type="string",
        nullable=False,
        description="ISO 3166-1 alpha-2 country of the account.",
    ),
    Field(
        name="app_version",
        json_type="string",
        athena_type="string",
        nullable=False,
        description="Player application version.",
    ),
    Field(
        name="bitrate_kbps",
        json_type="integer",
        athena_type="int",
        nullable=False,
        description="Video bitrate being played, kbit/s (a rung of the encoding ladder).",
    ),
    Field(
        name="seq",
        json_type="integer",
        athena_type="int",
        nullable=False,
        description="Sequence number of the event within its session, from 0.",
    ),
)

PROCESSED_FIELDS: tuple[Field, ...] = (
    *RAW_FIELDS,
    Field(
        name="event_timestamp",
        json_type="-",
        athena_type="timestamp",
        nullable=True,
        description="event_ts as a UTC timestamp.",
    ),
    Field(
        name="event_date",
        json_type="-",
        athena_type="date",
        nullable=True,
        description="UTC date of event_ts: the partition key.",
    ),
)


def markdown_table(fields: tuple[Field, ...]) -> str:
    """The data dictionary of ``fields`` as a Markdown table (docs/data_model.md embeds it)."""
    lines = [
        "| column | JSON type | Athena type | nullable | description |",
        "|---|---|---|---|---|",
    ]
    for f in fields:
        nullable = "yes" if f.nullable else "no"
        lines.append(f"| `{f.name}` | {f.json_type} | {f.athena_type} | {nullable} | {f.description} |")
    return "\n".join(lines)

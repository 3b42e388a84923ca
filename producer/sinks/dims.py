"""The dimension tables a lake or a bucket holds beside its raw zone, and whose they are.

A run into the lake (or with the S3 sink) writes its world's dimension tables once,
under ``dims/`` next to the raw zone: one folder per table (so each is one Glue table)
and ``dims/world.json``, the world's identity (its id, seed and every world setting)::

    dims/world.json
    dims/titles/titles.parquet
    dims/playables/playables.parquet
    dims/accounts/accounts.parquet
    dims/profiles/profiles.parquet

The tables are exactly ``netflix-producer world export --format parquet`` of the same
world. ``world.json`` is written last, so a lake that has it has all four tables.

One lake holds one world: the raw events do not say which world they come from, so
events of two worlds in one lake could never be joined onto the right names. A run of
the same world finds ``world.json`` and writes nothing; a run of another world is
refused (:func:`check_world`) with one line naming the lake and both worlds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from producer.errors import ConfigError
from producer.generation.identity import WORLD_FORMAT, world_id, world_settings

if TYPE_CHECKING:
    from producer.generation.world import World, WorldConfig

__all__ = [
    "DIMS_PREFIX",
    "DIM_COLUMNS",
    "DIM_TABLES",
    "GLUE_TABLES",
    "WORLD_FILE",
    "WORLD_KEY",
    "check_world",
    "dims_objects",
    "lake_world_seed",
    "table_file",
    "table_key",
    "world_document",
]

#: Where the dimension tables live, relative to the lake directory or the bucket's root prefix.
DIMS_PREFIX = "dims/"
#: The world's identity, beside the tables (its name within ``dims/``, and its key).
WORLD_FILE = "world.json"
WORLD_KEY = DIMS_PREFIX + WORLD_FILE
DIM_TABLES: tuple[str, ...] = ("titles", "playables", "accounts", "profiles")
#: Each table's columns and their Athena types, in order (a test checks the Parquet and
#: the Glue tables against them).
DIM_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "titles": (
        ("title_index", "bigint"), ("title_name", "string"), ("kind", "string"),
        ("show_index", "bigint"), ("season_number", "bigint"), ("genre", "string"),
        ("release_year", "bigint"), ("episodes", "bigint"), ("popularity_weight", "double"),
    ),
    "playables": (
        ("title_id", "bigint"), ("title_index", "bigint"), ("title_name", "string"),
        ("kind", "string"), ("episode_number", "bigint"), ("duration_ms", "bigint"),
    ),
    "accounts": (
        ("user_id", "bigint"), ("name", "string"), ("email", "string"), ("country", "string"),
        ("city", "string"), ("plan", "string"), ("profiles", "bigint"),
    ),
    "profiles": (
        ("user_id", "bigint"), ("profile_id", "bigint"), ("country", "string"),
        ("preferred_device", "string"), ("app_version", "string"),
    ),
}  # fmt: skip
#: The tables' names in the Glue Catalog and in the local queries.
GLUE_TABLES: dict[str, str] = {name: f"netflix_{name}" for name in DIM_TABLES}


def table_file(table: str) -> str:
    """Where one dimension table is within ``dims/``: ``<table>/<table>.parquet``."""
    return f"{table}/{table}.parquet"


def table_key(table: str) -> str:
    """The key of one dimension table: ``dims/<table>/<table>.parquet``."""
    return DIMS_PREFIX + table_file(table)


def world_document(world: World) -> dict[str, Any]:
    """What ``dims/world.json`` says: the world's id, its settings, its id ranges and tables."""
    cat, pop = world.catalog, world.population
    return {
        "world_id": world.world_id,
        "format": WORLD_FORMAT,
        "settings": world_settings(world.config),
        "title_ids": [int(cat.playable_id[0]), int(cat.playable_id[-1])],
        "user_ids": [int(pop.account_user_id[0]), int(pop.account_user_id[-1])],
        "tables": {name: table_key(name) for name in DIM_TABLES},
    }


def dims_objects(world: World) -> list[tuple[str, bytes]]:
    """The dimension tables as Snappy Parquet objects, then ``world.json`` (last, the marker)."""
    from producer.generation.dim_tables import parquet_bytes

    objects = [(table_key(name), parquet_bytes(table)) for name, table in world.tables().items()]
    document = json.dumps(world_document(world), indent=2) + "\n"
    objects.append((WORLD_KEY, document.encode("utf-8")))
    return objects


def check_world(existing: bytes, config: WorldConfig, *, where: str) -> None:
    """Refuse a run whose world is not the one ``existing`` (a ``world.json``) describes.

    ``where`` names the lake or bucket in the one-line :class:`ConfigError`.
    """
    try:
        document = json.loads(existing)
        theirs = str(document["world_id"])
        their_settings = dict(document.get("settings", {}))
    except (ValueError, KeyError, TypeError, AttributeError):
        msg = f"{where}: {WORLD_KEY} is not a world identity (expected a JSON object with world_id)"
        raise ConfigError(msg) from None
    ours = world_id(config)
    if theirs == ours:
        return
    msg = (
        f"{where} holds the dimension tables of world {theirs} ({_describe(their_settings)}), "
        f"this run's world is {ours} ({_describe(world_settings(config))}): "
        "one lake holds one world; use another lake, or that world's seed and settings"
    )
    raise ConfigError(msg)


def lake_world_seed(lake_dir: Path) -> int | None:
    """The seed of the world whose dims the lake at ``lake_dir`` holds, or None (none, unreadable)."""
    try:
        seed = json.loads((lake_dir / WORLD_KEY).read_bytes())["settings"]["seed"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _describe(settings: dict[str, Any]) -> str:
    parts = [f"seed {settings.get('seed', '?')}"]
    for key in ("accounts", "titles"):
        value = settings.get(key)
        parts.append(f"{value:,} {key}" if isinstance(value, int) else f"{key} ?")
    return ", ".join(parts)

"""A world's identity: the settings that make it, and a short id derived from them.

Two runs with the same seed and world settings build the same catalog and population,
so their events join onto the same dimension tables; any other world's do not. The
identity says which world a lake's dimension tables belong to (``dims/world.json``),
and the world id also places the catalog's ids (:func:`title_id_base`), so that names
of one world joined onto events of another mostly find nothing instead of the wrong
title.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from producer.generation.world import WorldConfig

__all__ = [
    "TITLE_ID_MAX",
    "TITLE_ID_MIN",
    "WORLD_FORMAT",
    "title_id_base",
    "world_id",
    "world_settings",
]

#: Bumped when the same settings would build a different world (a change to how worlds
#: are generated), so that the world id changes with it.
WORLD_FORMAT = 1
#: Event title ids look like Netflix's: 8-digit numbers, 80,000,000 to 99,999,999.
TITLE_ID_MIN = 80_000_000
TITLE_ID_MAX = 99_999_999
_ID_LENGTH = 12


def world_settings(config: WorldConfig) -> dict[str, Any]:
    """Every setting of ``config`` as plain JSON values (mappings as objects, tuples as lists)."""
    return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def world_id(config: WorldConfig) -> str:
    """A short stable id of the world ``config`` builds: 12 hex digits of a SHA-256.

    Derived from every setting (seed, accounts, titles, mixes...) and
    :data:`WORLD_FORMAT`, never from the machine or the time: the same settings give
    the same id everywhere.
    """
    return _digest(config).hex()[:_ID_LENGTH]


def title_id_base(config: WorldConfig, n_playables: int) -> int:
    """The first playable (event ``title_id``) of the world: a world-derived offset.

    The ``n_playables`` ids stay 8-digit (within :data:`TITLE_ID_MIN` ..
    :data:`TITLE_ID_MAX`) whenever they fit; two worlds' ranges overlap only when
    their offsets fall within one catalog of each other (under 1 % of world pairs at
    the default 16,000 titles).
    """
    span = TITLE_ID_MAX + 1 - TITLE_ID_MIN - n_playables
    if span <= 0:  # a catalog too big for 8 digits: ids run on past them
        return TITLE_ID_MIN
    return TITLE_ID_MIN + int.from_bytes(_digest(config)[8:16], "big") % (span + 1)


def _digest(config: WorldConfig) -> bytes:
    settings = world_settings(config)
    # Top-level keys sorted (a new setting lands in one place); a mapping's own order is
    # kept, since the country order is part of the world.
    material = {"format": WORLD_FORMAT, **{k: settings[k] for k in sorted(settings)}}
    text = json.dumps(material, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).digest()


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)

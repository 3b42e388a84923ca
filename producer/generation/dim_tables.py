"""The world's dimension tables in Arrow: titles, playables, accounts and profiles.

Built column by column from the world's NumPy columns and small Faker pools combined by
index (dictionary columns where few values repeat), so the default world's 250k accounts
and 570k profiles take well under a second. Imported only where tables are written (the
lake's and the S3 sink's ``dims/``, ``world export``): a run that writes none never
imports PyArrow.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from faker import Faker

from producer.generation.schema import DEVICE_TYPES
from producer.generation.world import FILM_GENRES, PLANS, SERIES_GENRES

if TYPE_CHECKING:
    from producer.generation.world import World

__all__ = ["LOW_CARDINALITY", "dim_tables", "parquet_bytes", "write_parquet"]

#: The columns of few distinct values, dictionary-encoded in Parquet; names, e-mails and
#: ids are nearly unique, and a dictionary of them costs time and saves nothing.
LOW_CARDINALITY = ("kind", "genre", "country", "city", "plan", "preferred_device", "app_version")


def dim_tables(world: World) -> dict[str, pa.Table]:
    """The dimension tables, by name: titles, playables, accounts, profiles."""
    return {
        "titles": _titles(world),
        "playables": _playables(world),
        "accounts": _accounts(world),
        "profiles": _profiles(world),
    }


def write_parquet(table: pa.Table, where: Any) -> None:
    """``table`` as Snappy Parquet into ``where`` (a path or a binary file)."""
    dictionary = [c for c in table.column_names if c in LOW_CARDINALITY]
    # No Arrow schema in the file: its readers see strings, not dictionaries.
    pq.write_table(table, where, compression="snappy", use_dictionary=dictionary, store_schema=False)


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as one Snappy Parquet object."""
    buffer = io.BytesIO()
    write_parquet(table, buffer)
    return buffer.getvalue()


def _ints(values: Any) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64))


def _strings(values: Sequence[str]) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def _coded(values: Sequence[str], indices: Any) -> pa.DictionaryArray:
    """``values[indices]`` as a dictionary column: no string is copied per row."""
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(indices, dtype=np.int32)), _strings(values))


def _titles(world: World) -> pa.Table:
    cat = world.catalog
    genre = np.where(cat.is_film, cat.genre_index, len(FILM_GENRES) + cat.genre_index % len(SERIES_GENRES))
    return pa.table(
        {
            "title_index": _ints(np.arange(cat.n_titles)),
            "title_name": _strings(cat.names()),
            "kind": _coded(["season", "film"], cat.is_film),
            "show_index": _ints(cat.show_index),
            "season_number": _ints(cat.season_number),
            "genre": _coded([*FILM_GENRES, *SERIES_GENRES], genre),
            "release_year": _ints(cat.release_year),
            "episodes": _ints(cat.episode_count),
            "popularity_weight": pa.array(np.asarray(cat.title_weight, dtype=np.float64)),
        }
    )


def _playables(world: World) -> pa.Table:
    cat = world.catalog
    film = cat.playable_is_film
    names = _strings(cat.names()).take(_ints(cat.playable_title))
    episode = pc.binary_join_element_wise(
        names, pc.cast(_ints(cat.episode_number), pa.string()), ": Episode "
    )
    return pa.table(
        {
            "title_id": _ints(cat.playable_id),
            "title_index": _ints(cat.playable_title),
            "title_name": pc.if_else(pa.array(film), names, episode),
            "kind": _coded(["episode", "film"], film),
            "episode_number": _ints(np.where(film, 0, cat.episode_number)),
            "duration_ms": _ints(cat.duration_ms),
        }
    )


def _accounts(world: World) -> pa.Table:
    pop = world.population
    fake = Faker("en_US")
    fake.seed_instance(pop._seed)
    firsts = [fake.first_name() for _ in range(500)]
    lasts = [fake.last_name() for _ in range(500)]
    rng = np.random.default_rng(pop._seed)
    fi = _ints(rng.integers(0, len(firsts), pop.n_accounts))
    li = _ints(rng.integers(0, len(lasts), pop.n_accounts))
    ci = rng.integers(0, 1 << 30, pop.n_accounts)
    uid = _ints(pop.account_user_id)
    first, last = _strings(firsts).take(fi), _strings(lasts).take(li)
    lower_first = _strings([f.lower() for f in firsts]).take(fi)
    lower_last = _strings([s.lower() for s in lasts]).take(li)
    local_part = pc.binary_join_element_wise(lower_first, lower_last, pc.cast(uid, pa.string()), ".")
    # Every country's cities in one list: a country's k-th city is at its offset + k.
    cities = [city for country in pop.countries for city in country.cities]
    n_cities = np.array([len(c.cities) for c in pop.countries], dtype=np.int64)
    offset = np.concatenate(([0], np.cumsum(n_cities)[:-1]))
    country = pop.account_country.astype(np.int64)
    city = offset[country] + ci % n_cities[country]
    return pa.table(
        {
            "user_id": uid,
            "name": pc.binary_join_element_wise(first, last, " "),
            "email": pc.binary_join_element_wise(local_part, "example.com", "@"),
            "country": _coded(pop.country_codes, country),
            "city": _coded(cities, city),
            "plan": _coded(PLANS, pop.account_plan),
            "profiles": _ints(pop.account_profiles),
        }
    )


def _profiles(world: World) -> pa.Table:
    pop = world.population
    return pa.table(
        {
            "user_id": _ints(pop.account_user_id[pop.profile_account]),
            "profile_id": _ints(pop.profile_index),
            "country": _coded(pop.country_codes, pop.profile_country),
            "preferred_device": _coded(DEVICE_TYPES, pop.profile_device),
            "app_version": _coded(pop.app_versions, pop.profile_app),
        }
    )

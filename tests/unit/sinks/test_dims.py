"""The lake's dimension tables: written once per world beside the raw zone, never mixed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from producer.errors import ConfigError
from producer.generation.identity import TITLE_ID_MAX, TITLE_ID_MIN, world_id
from producer.generation.world import World, WorldConfig
from producer.sinks.dims import DIM_TABLES, WORLD_KEY, table_key
from producer.sinks.lake import LakeSink

SMALL = WorldConfig(seed=42, accounts=1_500, titles=200)


def _write(lake: Path, world: WorldConfig) -> LakeSink:
    sink = LakeSink(root=lake, world=world)
    asyncio.run(sink.send_batch([b'{"event_id":"e1"}\n']))
    asyncio.run(sink.aclose())
    return sink


def test_lake_dims_are_the_world_export_of_the_same_world(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _write(lake, SMALL)
    exported = World(SMALL).export(tmp_path / "export")
    assert {p.stem for p in exported} == set(DIM_TABLES)
    for path in exported:
        in_lake = pq.read_table(lake / table_key(path.stem))
        assert in_lake.equals(pq.read_table(path)), path.stem
    # The events still land where Firehose puts them, beside dims/.
    assert sorted(p.name for p in lake.iterdir()) == ["dims", "netflix"]


def test_world_json_carries_the_identity(tmp_path: Path) -> None:
    _write(tmp_path, SMALL)
    doc = json.loads((tmp_path / WORLD_KEY).read_text())
    assert doc["world_id"] == world_id(SMALL) == World(SMALL).world_id
    assert len(doc["world_id"]) == 12
    assert doc["settings"]["seed"] == 42
    assert doc["settings"]["accounts"] == 1_500
    assert doc["settings"]["titles"] == 200
    playables = pq.read_table(tmp_path / table_key("playables")).column("title_id").to_pylist()
    assert doc["title_ids"] == [min(playables), max(playables)]
    assert doc["tables"] == {t: table_key(t) for t in DIM_TABLES}


def test_a_second_run_of_the_same_world_rewrites_nothing(tmp_path: Path) -> None:
    _write(tmp_path, SMALL)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "dims").rglob("*") if p.is_file()}
    assert len(before) == len(DIM_TABLES) + 1
    same = WorldConfig(seed=42, accounts=1_500, titles=200)
    _write(tmp_path, same)
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "dims").rglob("*") if p.is_file()}
    assert after == before
    assert len(list((tmp_path / "netflix").rglob("netflix-events-*"))) == 2


@pytest.mark.parametrize(
    "other",
    [
        WorldConfig(seed=1, accounts=1_500, titles=200),
        WorldConfig(seed=42, accounts=1_501, titles=200),
        WorldConfig(seed=42, accounts=1_500, titles=200, film_share=0.5),
    ],
)
def test_another_world_into_the_same_lake_is_refused_in_one_line(tmp_path: Path, other: WorldConfig) -> None:
    _write(tmp_path, SMALL)
    with pytest.raises(ConfigError) as caught:
        LakeSink(root=tmp_path, world=other)
    message = str(caught.value)
    assert "\n" not in message
    assert f"lake '{tmp_path}'" in message
    assert world_id(SMALL) in message and world_id(other) in message
    assert f"seed {other.seed}" in message
    # Nothing of the refused world was written.
    assert json.loads((tmp_path / WORLD_KEY).read_text())["world_id"] == world_id(SMALL)


def test_a_lake_without_a_world_writes_no_dims(tmp_path: Path) -> None:
    _write(tmp_path, None)  # type: ignore[arg-type]
    assert not (tmp_path / "dims").exists()


def test_a_broken_world_json_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "dims").mkdir()
    (tmp_path / WORLD_KEY).write_text("not json")
    with pytest.raises(ConfigError, match=r"dims/world\.json is not a world identity"):
        LakeSink(root=tmp_path, world=SMALL)


def test_title_ids_depend_on_the_world_and_stay_eight_digits() -> None:
    ids = {}
    for seed in (1, 2, 42):
        cat = World(WorldConfig(seed=seed, accounts=100, titles=16_000)).catalog
        assert TITLE_ID_MIN <= int(cat.playable_id.min())
        assert int(cat.playable_id.max()) <= TITLE_ID_MAX
        ids[seed] = set(cat.playable_id.tolist())
    # Each world's ids are its own: another world's names mostly find no title.
    assert len(ids[1] & ids[42]) < len(ids[42]) // 2
    assert len(ids[2] & ids[42]) < len(ids[42]) // 2
    # Same world, same ids.
    again = World(WorldConfig(seed=42, accounts=100, titles=16_000)).catalog.playable_id
    assert set(again.tolist()) == ids[42]


def test_world_id_is_stable_and_follows_every_setting() -> None:
    assert world_id(WorldConfig(seed=7)) == world_id(WorldConfig(seed=7))
    base = world_id(WorldConfig(seed=7))
    assert world_id(WorldConfig(seed=8)) != base
    assert world_id(WorldConfig(seed=7, user_id_base=20_000_000)) != base
    assert world_id(WorldConfig(seed=7, popularity="zipf")) != base


def test_without_a_seed_a_run_into_a_lake_continues_its_world(tmp_path: Path) -> None:
    from producer.config.settings import resolve

    _write(tmp_path, WorldConfig(seed=1234, accounts=1_500, titles=200))
    lake = str(tmp_path)
    assert resolve({"lake_dir": lake}).seed == 1234
    assert resolve({"lake_dir": lake, "seed": "7"}).seed == 7  # an explicit seed wins (and is refused)
    assert resolve({"lake_dir": str(tmp_path / "fresh"), "seed": "7"}).seed == 7

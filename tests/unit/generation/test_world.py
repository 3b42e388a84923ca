from __future__ import annotations

import csv

import numpy as np
import pyarrow.parquet as pq
import pytest

from producer.errors import ConfigError
from producer.generation.schema import DEVICE_TYPES
from producer.generation.world import DEFAULT_DEVICE_WEIGHTS, World, WorldConfig


def test_same_seed_same_world_different_seed_different_world() -> None:
    a = World(WorldConfig(seed=1, accounts=5_000, titles=500))
    b = World(WorldConfig(seed=1, accounts=5_000, titles=500))
    c = World(WorldConfig(seed=2, accounts=5_000, titles=500))
    assert np.array_equal(a.catalog.duration_ms, b.catalog.duration_ms)
    assert np.array_equal(a.population.profile_device, b.population.profile_device)
    assert a.catalog.names() == b.catalog.names()
    assert not np.array_equal(a.catalog.title_weight, c.catalog.title_weight)


def test_catalog_durations_are_realistic() -> None:
    cat = World(WorldConfig(seed=3, accounts=1_000, titles=16_000)).catalog
    film_min = cat.duration_ms[cat.playable_is_film] / 60_000
    ep_min = cat.duration_ms[~cat.playable_is_film] / 60_000
    assert 100 <= np.median(film_min) <= 108  # engagement reports: median 103-104 min
    assert 80 <= np.percentile(film_min, 10) <= 92
    assert 125 <= np.percentile(film_min, 90) <= 140
    assert ep_min.min() >= 22 and ep_min.max() <= 60
    assert set(np.unique(cat.episode_count[~cat.is_film])) <= set(range(6, 11))


@pytest.mark.slow  # statistical: shares measured on a big sample
def test_default_popularity_reproduces_netflix_concentration() -> None:
    cat = World(WorldConfig(seed=4, accounts=1_000, titles=16_000)).catalog
    w = np.sort(cat.title_weight)[::-1]
    n = len(w)
    top1 = w[: n // 100].sum()
    top10 = w[: n // 10].sum()
    bottom50 = w[n // 2 :].sum()
    # Engagement reports: top 1 % ~24 %, top 10 % ~68 %, bottom half ~3 % of viewing.
    assert 0.18 <= top1 <= 0.34
    assert 0.58 <= top10 <= 0.76
    assert bottom50 <= 0.07


@pytest.mark.slow  # statistical: shares measured on a big sample
def test_zipf_exponent_is_recovered_from_sampled_plays() -> None:
    world = World(WorldConfig(seed=5, accounts=1_000, titles=4_000, popularity="zipf", zipf_exponent=1.0))
    cat = world.catalog
    rng = np.random.default_rng(0)
    titles = cat.playable_title[cat.sample_playables(rng, 2_000_000)]
    counts = np.bincount(titles, minlength=cat.n_titles)
    film_counts = np.sort(counts[cat.is_film])[::-1][:200]
    ranks = np.arange(1, len(film_counts) + 1)
    slope = np.polyfit(np.log(ranks), np.log(film_counts), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.12)


@pytest.mark.slow  # statistical: shares measured on a big sample
def test_population_profiles_devices_and_countries() -> None:
    pop = World(WorldConfig(seed=6, accounts=200_000, titles=100)).population
    per_account = np.bincount(pop.account_profiles, minlength=6)[1:] / pop.n_accounts
    np.testing.assert_allclose(per_account, [0.35, 0.30, 0.16, 0.11, 0.08], atol=0.01)
    assert pop.account_profiles.max() <= 5
    device_share = np.bincount(pop.profile_device, minlength=len(DEVICE_TYPES)) / pop.n_profiles
    expected = [DEFAULT_DEVICE_WEIGHTS[d] for d in DEVICE_TYPES]
    np.testing.assert_allclose(device_share, expected, atol=0.01)
    country_share = np.bincount(pop.account_country, minlength=len(pop.countries)) / pop.n_accounts
    np.testing.assert_allclose(country_share, pop.country_weight, atol=0.01)
    # Profiles are grouped by country, so a country's profiles are one index range.
    assert np.all(np.diff(pop.profile_country) >= 0)


def test_profiles_live_in_their_countrys_zones_by_population_weight() -> None:
    pop = World(WorldConfig(seed=8, accounts=100_000, titles=100)).population
    # Every profile's zone is one of its country's, and a household shares one zone.
    assert np.array_equal(pop.zone_country[pop.profile_zone], pop.profile_country)
    assert np.array_equal(pop.profile_zone, pop.account_zone[pop.profile_account])
    # Within a country, accounts spread over its zones by the zones' shares.
    for code in ("US", "CA", "BR", "MX", "AU", "ID", "ES"):
        c = pop.country_codes.index(code)
        zones = np.flatnonzero(pop.zone_country == c)
        mine = pop.account_zone[pop.account_country == c]
        share = np.array([np.mean(mine == z) for z in zones])
        expected = pop.zone_weight[zones] / pop.zone_weight[zones].sum()
        tolerance = 4 * np.sqrt(expected * (1 - expected) / len(mine)) + 1e-3
        assert np.all(np.abs(share - expected) <= tolerance), (code, share, expected)
    us = [pop.zone_names[z] for z in np.flatnonzero(pop.zone_country == pop.country_codes.index("US"))]
    assert {"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"} <= set(us)
    # The same seed draws the same zones.
    again = World(WorldConfig(seed=8, accounts=100_000, titles=100)).population
    assert np.array_equal(again.profile_zone, pop.profile_zone)


def test_viewers_are_drawn_from_the_zones_where_it_is_evening() -> None:
    from producer.generation.geo import local_activity

    pop = World(WorldConfig(seed=9, accounts=50_000, titles=100, country_weights={"US": 1.0})).population
    rng = np.random.default_rng(0)
    # 2026-07-15 03:00 UTC: 23:00 in New York (EDT), 20:00 in Los Angeles (PDT).
    at = 1_784_084_400.0
    profiles = pop.sample_profiles(rng, 200_000, local_activity(at, pop.zones))
    drawn = np.bincount(pop.profile_zone[profiles], minlength=len(pop.zone_names)) / len(profiles)
    expected = pop.zone_weight * local_activity(at, pop.zones)
    np.testing.assert_allclose(drawn, expected / expected.sum(), atol=0.005)


def test_a_million_profiles_build_quickly_and_small() -> None:
    world = World(WorldConfig(seed=1, accounts=435_000, titles=16_000))
    assert world.population.n_profiles > 950_000
    pop = world.population
    nbytes = sum(getattr(pop, a).nbytes for a in vars(pop) if isinstance(getattr(pop, a), np.ndarray))
    assert nbytes < 40 * 1024 * 1024


def test_bad_world_config_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"population\.accounts"):
        WorldConfig(accounts=0)
    with pytest.raises(ConfigError, match=r"catalog\.popularity"):
        WorldConfig(popularity="pareto")
    with pytest.raises(ConfigError, match="unknown country 'XX'"):
        World(WorldConfig(accounts=10, titles=10, country_weights={"XX": 1.0}))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_world_export_writes_dimension_tables(tmp_path, fmt: str) -> None:
    world = World(WorldConfig(seed=9, accounts=2_000, titles=300))
    paths = world.export(tmp_path, fmt)
    assert sorted(p.name for p in paths) == sorted(
        f"{t}.{fmt}" for t in ("titles", "playables", "accounts", "profiles")
    )
    if fmt == "parquet":
        playables = pq.read_table(tmp_path / "playables.parquet").to_pydict()
        accounts = pq.read_table(tmp_path / "accounts.parquet").to_pydict()
    else:
        with (tmp_path / "playables.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        playables = {
            "title_id": [int(r["title_id"]) for r in rows],
            "title_name": [r["title_name"] for r in rows],
        }
        with (tmp_path / "accounts.csv").open() as fh:
            arows = list(csv.DictReader(fh))
        accounts = {"email": [r["email"] for r in arows]}
    assert playables["title_id"] == world.catalog.playable_id.tolist()
    assert all(name for name in playables["title_name"])
    assert len(accounts["email"]) == 2_000
    assert len(set(accounts["email"])) == 2_000
    assert not list(tmp_path.glob(".*"))


def test_default_popularity_matches_the_engagement_reports_by_views_and_by_hours() -> None:
    from tests.support.popularity import BANDS, concentration

    # Counted as the reports count (films and seasons; views = hours / runtime; the
    # whole catalog), from the model's expected hours per title.
    for seed in (1, 2, 3, 42):
        c = concentration(World(WorldConfig(seed=seed, accounts=10)).catalog)
        (v1, v10), (h1, h10) = BANDS["views"], BANDS["hours"]
        assert v1[0] <= c.views_top1 <= v1[1], (seed, c)
        assert v10[0] <= c.views_top10 <= v10[1], (seed, c)
        assert h1[0] <= c.hours_top1 <= h1[1], (seed, c)
        assert h10[0] <= c.hours_top10 <= h10[1], (seed, c)

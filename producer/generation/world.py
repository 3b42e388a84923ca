"""The seeded world: a title catalog and a population of accounts and profiles.

Everything is held as NumPy columns, so a world of a million profiles costs a few
tens of megabytes and builds in well under a second. Human-facing attributes
(title names, account names, e-mails, cities) come from Faker, drawn once per
world into small pools and combined by index; they are only materialised when
exported (``netflix-producer world export``), never per event.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from faker import Faker

from producer.errors import ConfigError
from producer.generation.geo import COUNTRIES, Country, ZoneClock, zone_mix
from producer.generation.identity import title_id_base, world_id
from producer.generation.schema import DEVICE_TYPES

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "DEFAULT_DEVICE_WEIGHTS",
    "Population",
    "TitleCatalog",
    "World",
    "WorldConfig",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_STD_NORMAL = NormalDist()

#: Share of viewing by device family (Netflix Labs Day 2018: TV 65 % incl. consoles).
DEFAULT_DEVICE_WEIGHTS: Mapping[str, float] = {
    "tv": 0.58,
    "console": 0.07,
    "web": 0.15,
    "mobile": 0.13,
    "tablet": 0.07,
}
#: Profiles per account 1..5 (Citi Research on GlobalWebIndex 2015; mean 2.3).
DEFAULT_PROFILES_PER_ACCOUNT: tuple[float, ...] = (0.35, 0.30, 0.16, 0.11, 0.08)
#: Player app versions and their install shares (plausible, unsourced).
DEFAULT_APP_VERSIONS: Mapping[str, float] = {
    "8.120.0": 0.38,
    "8.119.2": 0.27,
    "8.118.1": 0.15,
    "8.110.0": 0.10,
    "7.98.4": 0.07,
    "6.12.3": 0.03,
}
PLANS: tuple[str, ...] = ("standard_with_ads", "standard", "premium")
PLAN_WEIGHTS: tuple[float, ...] = (0.45, 0.35, 0.20)
FILM_GENRES: tuple[str, ...] = (
    "Drama", "Comedy", "Action", "Thriller", "Documentary",
    "Romance", "Horror", "Animation", "Sci-Fi", "Crime",
)  # fmt: skip
SERIES_GENRES: tuple[str, ...] = (
    "Drama", "Crime", "Comedy", "Reality", "Kids", "Anime", "Docuseries", "Sci-Fi",
)  # fmt: skip
# Series genres whose episodes are comedy-length (~25 min); the rest are drama-length.
_SHORT_FORM_GENRES = frozenset({"Comedy", "Kids", "Anime"})
_TITLE_NOUNS: tuple[str, ...] = (
    "Harbor", "Silence", "Empire", "Storm", "Signal", "Orchard", "Frontier", "Echo",
    "Kingdom", "Tide", "Paradox", "Horizon", "Cipher", "Lantern", "Mirage", "Current",
    "Requiem", "Summit", "Vault", "Drift", "Ember", "Garden", "Verdict", "Protocol",
    "Shadow", "Circuit", "Crown", "Canyon", "Fever", "Ledger", "Outpost", "Relay",
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class WorldConfig:
    """How big the world is and how it is mixed. Frozen; every default is sourced or labelled."""

    seed: int = 42
    accounts: int = 250_000
    #: user_id of the first account; a swarm gives each worker its own range.
    user_id_base: int = 10_000_000
    profiles_per_account: tuple[float, ...] = DEFAULT_PROFILES_PER_ACCOUNT
    country_weights: Mapping[str, float] | None = None
    device_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_DEVICE_WEIGHTS))
    app_versions: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_APP_VERSIONS))
    #: Films plus series seasons (engagement reports list 15.6k-18.2k per half-year).
    titles: int = 16_000
    #: Films as a share of titles by count (54-59 % in the engagement reports).
    film_share: float = 0.55
    #: Share of plays that are series episodes (derived: 73 % of hours -> ~85 % of plays).
    series_play_share: float = 0.85
    #: "lognormal" (default: title weights at the quantiles of a lognormal, one for
    #: seasons and one for films; sigmas 1.45 and 1.8 put the top 1 %/10 % shares at
    #: ~23 %/63.5 % of views and ~25.5 %/68 % of hours, see docs/data_model.md) or
    #: "zipf" (rank^-exponent).
    popularity: str = "lognormal"
    popularity_sigma: float = 1.45
    film_popularity_sigma: float = 1.8
    zipf_exponent: float = 0.85

    def __post_init__(self) -> None:
        if self.accounts < 1:
            msg = f"invalid population.accounts: {self.accounts} (must be at least 1)"
            raise ConfigError(msg)
        if self.titles < 2:
            msg = f"invalid catalog.titles: {self.titles} (must be at least 2)"
            raise ConfigError(msg)
        if self.popularity not in ("lognormal", "zipf"):
            msg = f"invalid catalog.popularity: {self.popularity!r} (expected lognormal or zipf)"
            raise ConfigError(msg)
        for name, value in (
            ("film_share", self.film_share),
            ("series_play_share", self.series_play_share),
        ):
            if not 0.0 <= value <= 1.0:
                msg = f"invalid catalog.{name}: {value} (must be within [0, 1])"
                raise ConfigError(msg)
        unknown = set(self.device_weights) - set(DEVICE_TYPES)
        if unknown:
            msg = f"invalid population.device_weights: unknown device {sorted(unknown)[0]!r}"
            raise ConfigError(msg)


def _normalise(weights: npt.ArrayLike, what: str) -> FloatArray:
    w = np.asarray(weights, dtype=np.float64)
    if w.size == 0 or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        msg = f"invalid {what}: weights must be non-negative and not all zero"
        raise ConfigError(msg)
    return np.asarray(w / w.sum(), dtype=np.float64)


class TitleCatalog:
    """Films and series seasons (the *titles*), and their playable items (films and episodes).

    Title-level columns are indexed by title; playable columns (what a session plays,
    whose id is the event's ``title_id``) are indexed by playable.
    """

    def __init__(self, config: WorldConfig, rng: np.random.Generator) -> None:
        n = config.titles
        n_films = max(1, min(n - 1, round(n * config.film_share)))
        n_seasons = n - n_films
        self.n_titles = n
        self._names: list[str] | None = None
        self.is_film = np.zeros(n, dtype=bool)
        # Interleave films and seasons randomly so ids say nothing about the kind.
        self.is_film[rng.permutation(n)[:n_films]] = True

        # Popularity weight per title.
        if config.popularity == "lognormal":
            # The lognormal's quantiles, dealt to titles at random: the law itself, without
            # the draw noise of a sample, whose top 1 % share swings by points from seed to
            # seed (the head of a lognormal is a few hundred titles).
            # Films spread wider than seasons: a film's views come from fewer hours, so
            # one law for both would make the head by hours too heavy.
            weight = np.empty(n)
            for kind, sigma in (
                (~self.is_film, config.popularity_sigma),
                (self.is_film, config.film_popularity_sigma),
            ):
                k = int(np.count_nonzero(kind))
                z = np.array([_STD_NORMAL.inv_cdf((i + 0.5) / k) for i in range(k)])
                weight[kind] = np.exp(sigma * z[rng.permutation(k)])
        else:
            ranks = rng.permutation(n) + 1.0
            weight = np.asarray(ranks**-config.zipf_exponent, dtype=np.float64)
        # Rescale so films and series get their share of plays.
        film_w = np.where(self.is_film, weight, 0.0)
        series_w = np.where(self.is_film, 0.0, weight)
        share = config.series_play_share if n_seasons else 0.0
        self.title_weight: FloatArray = np.asarray(film_w / film_w.sum() * (1.0 - share), dtype=np.float64)
        if n_seasons:
            self.title_weight += series_w / series_w.sum() * share
        self.title_cdf = np.cumsum(self.title_weight)
        self.title_cdf[-1] = 1.0

        # Genres and release years.
        film_genre = rng.integers(0, len(FILM_GENRES), n)
        series_genre = rng.integers(0, len(SERIES_GENRES), n)
        self.genre_index = np.where(self.is_film, film_genre, series_genre)
        self.release_year = np.clip(2026 - np.floor(rng.exponential(7.0, n)), 1950, 2026).astype(np.int16)

        # Seasons belong to shows of 1..5 seasons; season numbers run within the show.
        self.season_number = np.zeros(n, dtype=np.int16)
        self.show_index = np.full(n, -1, dtype=np.int32)
        season_titles = np.flatnonzero(~self.is_film)
        show = 0
        i = 0
        seasons_per_show = rng.geometric(0.55, len(season_titles) + 1)
        while i < len(season_titles):
            k = int(min(seasons_per_show[show], 5, len(season_titles) - i))
            chunk = season_titles[i : i + k]
            self.show_index[chunk] = show
            self.season_number[chunk] = np.arange(1, k + 1)
            # A show has one genre and one first-release year.
            self.genre_index[chunk] = self.genre_index[chunk[0]]
            self.release_year[chunk] = np.minimum(2026, self.release_year[chunk[0]] + np.arange(k)).astype(
                np.int16
            )
            show += 1
            i += k
        self.n_shows = show

        # Playables: one per film, 6..10 episodes per season.
        episodes = np.where(self.is_film, 1, rng.integers(6, 11, n))
        self.first_playable = np.concatenate(([0], np.cumsum(episodes)[:-1])).astype(np.int64)
        self.episode_count = episodes.astype(np.int64)
        total = int(episodes.sum())
        self.n_playables = total
        self.playable_title = np.repeat(np.arange(n), episodes).astype(np.int32)
        self.episode_number = (np.arange(total) - np.repeat(self.first_playable, episodes) + 1).astype(
            np.int16
        )
        # Event title ids look like Netflix's: 8-digit numbers, from a base the world's
        # identity picks, so another world's names do not join onto these events.
        self.playable_id = (title_id_base(config, total) + np.arange(total)).astype(np.int64)

        # Durations: films lognormal (median 104 min, p10 86, p90 132); episodes
        # drama 40-60 min, comedy/kids 22-30 min.
        film_min = np.clip(rng.lognormal(math.log(104.0), 0.17, total), 60.0, 240.0)
        short = np.array([SERIES_GENRES[g] in _SHORT_FORM_GENRES for g in range(len(SERIES_GENRES))])
        is_short = short[np.minimum(self.genre_index, len(SERIES_GENRES) - 1)][self.playable_title]
        ep_min = np.where(is_short, rng.uniform(22.0, 30.0, total), rng.uniform(40.0, 60.0, total))
        pl_film = self.is_film[self.playable_title]
        self.playable_is_film = pl_film
        self.duration_ms = (np.where(pl_film, film_min, ep_min) * 60_000.0).round().astype(np.int64)
        # The next episode of the same season (autoplay), or -1.
        last_in_season = self.episode_number == np.repeat(episodes, episodes).astype(np.int16)
        self.next_playable = np.where(last_in_season, -1, np.arange(total) + 1).astype(np.int64)

        self._seed = int(rng.integers(0, 2**31))

    def sample_playables(self, rng: np.random.Generator, n: int) -> IntArray:
        """Draw ``n`` playables to start: a title by popularity, then an episode.

        Within a season, later episodes draw fewer first plays (geometric decay 0.9).
        """
        titles = np.searchsorted(self.title_cdf, rng.random(n), side="right")
        titles = np.minimum(titles, self.n_titles - 1)
        k = self.episode_count[titles]
        q = 0.9
        u = rng.random(n)
        # Truncated geometric over 0..k-1 by inversion.
        ep = np.floor(np.log1p(-u * (1.0 - q**k)) / math.log(q)).astype(np.int64)
        ep = np.minimum(ep, k - 1)
        return np.asarray(self.first_playable[titles] + ep, dtype=np.int64)

    def names(self) -> list[str]:
        """Title names, one per title (films and seasons), drawn once from Faker."""
        if self._names is None:
            self._names = self._draw_names()
        return self._names

    def _draw_names(self) -> list[str]:
        fake = Faker("en_US")
        fake.seed_instance(self._seed)
        rng = np.random.default_rng(self._seed)
        pools = {
            "city": [fake.city() for _ in range(300)],
            "first": [fake.first_name() for _ in range(300)],
            "last": [fake.last_name() for _ in range(300)],
            "color": [fake.color_name() for _ in range(100)],
        }
        patterns = (
            "The {noun} of {city}",
            "{first}'s {noun}",
            "{color} {noun}",
            "{city} Nights",
            "The {last} Files",
            "Beyond the {noun}",
            "{noun} & {noun2}",
            "The Last {noun}",
        )
        show_names: dict[int, str] = {}
        out: list[str] = []
        pick = rng.integers(0, 10_000, size=(self.n_titles, 7))
        for i in range(self.n_titles):
            p = pick[i]
            show = int(self.show_index[i])
            if show >= 0 and show in show_names:
                base = show_names[show]
            else:
                base = patterns[p[0] % len(patterns)].format(
                    noun=_TITLE_NOUNS[p[1] % len(_TITLE_NOUNS)],
                    noun2=_TITLE_NOUNS[p[2] % len(_TITLE_NOUNS)],
                    city=pools["city"][p[3] % 300],
                    first=pools["first"][p[4] % 300],
                    last=pools["last"][p[5] % 300],
                    color=pools["color"][p[6] % 100].title(),
                )
                if show >= 0:
                    show_names[show] = base
            out.append(base if show < 0 else f"{base}: Season {int(self.season_number[i])}")
        return out


class Population:
    """Accounts and their profiles, as columns; profiles are grouped by country."""

    def __init__(self, config: WorldConfig, rng: np.random.Generator) -> None:
        weights = config.country_weights
        if weights is None:
            countries: tuple[Country, ...] = COUNTRIES
            cw = [c.weight for c in COUNTRIES]
        else:
            by_code = {c.code: c for c in COUNTRIES}
            unknown = [code for code in weights if code not in by_code]
            if unknown:
                known = ", ".join(sorted(by_code))
                msg = f"invalid population.country_weights: unknown country {unknown[0]!r} (known: {known})"
                raise ConfigError(msg)
            countries = tuple(by_code[code] for code in weights)
            cw = list(weights.values())
        self.countries = countries
        self.country_weight = _normalise(cw, "population.country_weights")
        self.country_codes = tuple(c.code for c in countries)
        # The countries' time zones, flattened: zone z belongs to country zone_country[z]
        # and weighs that country's weight times the zone's share of its viewers.
        zone_names, zone_country, zone_share = zone_mix(countries)
        self.zone_names = zone_names
        self.zone_country = zone_country
        self.zone_weight = np.asarray(self.country_weight[zone_country] * zone_share, dtype=np.float64)
        #: The zones' real UTC offsets at any moment (daylight saving included).
        self.zones = ZoneClock(zone_names)

        n = config.accounts
        self.n_accounts = n
        # Accounts sorted by country: each country owns a contiguous block of accounts
        # and therefore of profiles.
        country_of_account = np.sort(rng.choice(len(countries), size=n, p=self.country_weight)).astype(
            np.int16
        )
        self.account_country = country_of_account
        ppa = _normalise(config.profiles_per_account, "population.profiles_per_account")
        if len(ppa) > 5:
            msg = "invalid population.profiles_per_account: at most 5 profiles per account"
            raise ConfigError(msg)
        n_profiles = rng.choice(np.arange(1, len(ppa) + 1), size=n, p=ppa).astype(np.int8)
        self.account_profiles = n_profiles
        self.account_plan = rng.choice(len(PLANS), size=n, p=PLAN_WEIGHTS).astype(np.int8)
        #: user_id of each account (what events carry).
        self.account_user_id = (config.user_id_base + np.arange(n)).astype(np.int64)

        total = int(n_profiles.sum())
        self.n_profiles = total
        self.profile_account = np.repeat(np.arange(n, dtype=np.int32), n_profiles)
        starts = np.concatenate(([0], np.cumsum(n_profiles)[:-1]))
        self.profile_index = (np.arange(total) - np.repeat(starts, n_profiles)).astype(np.int8)
        self.profile_country = country_of_account[self.profile_account]
        dw = _normalise([config.device_weights.get(d, 0.0) for d in DEVICE_TYPES], "device_weights")
        self.device_weight = dw
        self.profile_device = rng.choice(len(DEVICE_TYPES), size=total, p=dw).astype(np.int8)
        av = _normalise(list(config.app_versions.values()), "population.app_versions")
        self.app_versions = tuple(config.app_versions)
        self.profile_app = rng.choice(len(av), size=total, p=av).astype(np.int8)
        # Profiles of country c are profile_start[c] .. profile_start[c+1]-1.
        counts = np.bincount(self.profile_country, minlength=len(countries))
        self.profile_start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self._seed = int(rng.integers(0, 2**31))

        # A household lives in one zone of its country, drawn by the zones' shares: one
        # uniform per account against the cumulative shares, offset by the country index
        # so one search places every account (drawn last: the draws above are unchanged).
        within = np.empty(len(zone_names), dtype=np.float64)
        for c in range(len(countries)):
            z = zone_country == c
            cum = np.cumsum(zone_share[z])
            cum[-1] = 1.0
            within[z] = cum
        edges = zone_country + within
        u = rng.random(n)
        self.account_zone = np.searchsorted(edges, country_of_account + u, side="right").astype(np.int16)
        self.profile_zone = self.account_zone[self.profile_account]
        # Profiles of zone z are zone_profiles[zone_start[z] .. zone_start[z+1]-1].
        self.zone_profiles = np.argsort(self.profile_zone, kind="stable").astype(np.int32)
        zcounts = np.bincount(self.profile_zone, minlength=len(zone_names))
        self.zone_start = np.concatenate(([0], np.cumsum(zcounts))).astype(np.int64)

    def sample_profiles(self, rng: np.random.Generator, n: int, activity: FloatArray) -> IntArray:
        """Draw ``n`` profiles to start viewing: a zone by weight x local activity, then a profile.

        ``activity`` has one value per zone (:func:`~producer.generation.geo.local_activity`
        of :attr:`zones`).
        """
        counts = np.diff(self.zone_start)
        p = self.zone_weight * activity * (counts > 0)
        cdf = np.cumsum(p / p.sum())
        cdf[-1] = 1.0
        z = np.searchsorted(cdf, rng.random(n), side="right")
        lo = self.zone_start[z]
        hi = self.zone_start[z + 1]
        pick = lo + np.floor(rng.random(n) * (hi - lo)).astype(np.int64)
        return np.asarray(self.zone_profiles[pick], dtype=np.int64)


class World:
    """A catalog and a population, both derived from one seed."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        root = np.random.SeedSequence(self.config.seed)
        cat_seed, pop_seed = root.spawn(2)
        self.catalog = TitleCatalog(self.config, np.random.default_rng(cat_seed))
        self.population = Population(self.config, np.random.default_rng(pop_seed))
        #: Short stable id of this world (:func:`~producer.generation.identity.world_id`).
        self.world_id = world_id(self.config)

    # -- export ----------------------------------------------------------------------

    def export(self, out: Path, fmt: str = "parquet") -> list[Path]:
        """Write the dimension tables (titles, playables, accounts, profiles) to ``out``."""
        if fmt not in ("parquet", "csv"):
            msg = f"invalid --format {fmt!r}: expected parquet or csv"
            raise ConfigError(msg)
        from producer.generation.dim_tables import write_parquet

        tables = self.tables()
        out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for name, table in tables.items():
            path = out / f"{name}.{fmt}"
            tmp = out / f".{name}.{fmt}.tmp"
            if fmt == "parquet":
                write_parquet(table, tmp)
            else:
                with tmp.open("w", newline="", encoding="utf-8") as fh:
                    writer = csv.writer(fh)
                    writer.writerow(table.column_names)
                    writer.writerows(zip(*table.to_pydict().values(), strict=True))
            tmp.replace(path)
            written.append(path)
        return written

    def tables(self) -> dict[str, pa.Table]:
        """The dimension tables, by name: titles, playables, accounts, profiles (Arrow)."""
        from producer.generation.dim_tables import dim_tables

        return dim_tables(self)

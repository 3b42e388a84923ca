"""Title popularity measured as Netflix's engagement reports measure it.

The reports rank *titles* (films and seasons) two ways: by hours viewed, and by
*views* (a title's hours divided by its runtime, a season's runtime being all its
episodes). Both are computed here from the model's expectations, not from a sample:
a title's expected hours are its popularity weight (its chance of starting a
sitting) times the expected hours of a sitting that starts on it, which follow
:class:`~producer.generation.sessions.SessionParams` (resume points, completion,
quick abandons, autoplay of the next episode up to the cap). Pauses that time out
and seeks move a play's end by little and are left out.

    python -m tests.support.popularity      # the default world's figures
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from producer.generation.sessions import SessionParams
from producer.generation.world import TitleCatalog

FloatArray = npt.NDArray[np.float64]

#: The engagement reports' shares of the top 1 % / 10 % of titles (computed, 2023-2025).
REFERENCE = {"views": ((0.215, 0.237), (0.63, 0.65)), "hours": ((0.236, 0.267), (0.681, 0.711))}
#: The bands the default world must fall in.
BANDS = {"views": ((0.21, 0.25), (0.62, 0.67)), "hours": ((0.23, 0.27), (0.66, 0.71))}


@dataclass(frozen=True, slots=True, kw_only=True)
class Concentration:
    """Shares of the whole catalog's views and hours held by its top 1 % and top 10 % of titles."""

    views_top1: float
    views_top10: float
    hours_top1: float
    hours_top10: float

    def in_bands(self) -> bool:
        """Whether all four shares fall in :data:`BANDS`."""
        return all(
            lo <= v <= hi
            for v, (lo, hi) in zip(
                (self.views_top1, self.views_top10, self.hours_top1, self.hours_top10),
                (*BANDS["views"], *BANDS["hours"]),
                strict=True,
            )
        )


def _watched(remaining: FloatArray, completion: float, p: SessionParams) -> FloatArray:
    """Expected time watched of a play with ``remaining`` ms left (the sessions' draw, in expectation)."""
    m = p.quick_abandon_mean_s * 1000.0
    quick = m * (1.0 - np.exp(-0.9 * remaining / m))  # E[min(Exp(m), 0.9 R)]
    partial = remaining * (0.05 + 0.9) / 2.0  # R x U(0.05, 0.9)
    return np.asarray(
        completion * remaining
        + (1.0 - completion) * (p.quick_abandon_share * quick + (1.0 - p.quick_abandon_share) * partial),
        dtype=np.float64,
    )


def expected_title_hours(catalog: TitleCatalog, params: SessionParams | None = None) -> FloatArray:
    """Expected viewing per title, up to a common factor (hours per sitting started x weight)."""
    p = params or SessionParams()
    n = catalog.n_titles
    kmax = int(catalog.episode_count.max())
    # Playable durations as a (title, episode) matrix, 0 past a title's last episode.
    k = catalog.episode_count
    j = np.arange(kmax)
    exists = j[None, :] < k[:, None]
    idx = np.where(exists, catalog.first_playable[:, None] + j[None, :], 0)
    dur = np.where(exists, catalog.duration_ms[idx].astype(np.float64), 0.0)
    completion = np.where(catalog.is_film, p.completion_film, p.completion_episode)[:, None]
    # A sitting's first play may start from a resume point (uniform 5-80 % in).
    mean_start = (0.05 + 0.8) / 2.0
    first = (1.0 - p.resume_share) * _watched(dur, completion, p) + p.resume_share * _watched(
        dur * (1.0 - mean_start), completion, p
    )
    fresh = _watched(dur, completion, p)
    go_on = completion * p.autoplay_prob  # finished, and the next one autoplays
    # chain[:, e] = expected ms from playing episode e from 0 as the d-th of the sitting,
    # built from the cap down: past the cap nothing more plays.
    chain = np.zeros_like(dur)
    for _depth in range(p.max_episodes_per_sitting, 1, -1):
        nxt = np.concatenate([chain[:, 1:], np.zeros((n, 1))], axis=1)
        chain = np.where(exists, fresh + go_on * nxt, 0.0)
    nxt = np.concatenate([chain[:, 1:], np.zeros((n, 1))], axis=1)
    sitting = np.where(exists, first + go_on * nxt, 0.0)
    # The first episode of a sitting: truncated geometric, later episodes x0.9 each.
    q = 0.9
    pe = np.where(exists, q ** j[None, :], 0.0)
    pe /= pe.sum(axis=1, keepdims=True)
    per_sitting = (pe * sitting).sum(axis=1)
    return np.asarray(catalog.title_weight * per_sitting / 3_600_000.0, dtype=np.float64)


def title_runtime_h(catalog: TitleCatalog) -> FloatArray:
    """Each title's runtime in hours: a film's, or all of a season's episodes."""
    sums = np.bincount(catalog.playable_title, weights=catalog.duration_ms, minlength=catalog.n_titles)
    return np.asarray(sums / 3_600_000.0, dtype=np.float64)


def _top(values: FloatArray, fraction: float) -> float:
    v = np.sort(values)[::-1]
    return float(v[: max(1, round(len(v) * fraction))].sum() / v.sum())


def concentration(catalog: TitleCatalog, params: SessionParams | None = None) -> Concentration:
    """The top 1 % / 10 % shares of the whole catalog by views and by hours."""
    hours = expected_title_hours(catalog, params)
    views = hours / title_runtime_h(catalog)
    return Concentration(
        views_top1=_top(views, 0.01),
        views_top10=_top(views, 0.10),
        hours_top1=_top(hours, 0.01),
        hours_top10=_top(hours, 0.10),
    )


if __name__ == "__main__":
    from producer.generation.world import World, WorldConfig

    for seed in (1, 2, 3, 42):
        c = concentration(World(WorldConfig(seed=seed, accounts=10)).catalog)
        print(
            f"seed {seed}: views top 1 % {c.views_top1:.1%} top 10 % {c.views_top10:.1%}; "
            f"hours top 1 % {c.hours_top1:.1%} top 10 % {c.hours_top10:.1%}; in bands: {c.in_bands()}"
        )

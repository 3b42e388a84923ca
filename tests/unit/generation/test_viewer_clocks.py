"""Every event on its viewer's own clock, and the rate a target the viewers are steered to."""

from __future__ import annotations

import re

import numpy as np
import pytest

from producer.generation.schema import EventType
from producer.generation.sessions import EventBlock, SessionGenerator, SessionParams
from producer.generation.world import World, WorldConfig
from producer.runtime.rate import constant, ramp

START = 1_769_472_000.0  # 2026-01-27T00:00:00Z


def blocks_until(gen: SessionGenerator, end: float) -> list[EventBlock]:
    out = []
    while not out or out[-1].event_ts[-1] < end:
        out.append(gen.next_block())
    return out


def columns(blocks: list[EventBlock]) -> dict[str, np.ndarray]:
    return {
        "ts": np.concatenate([b.event_ts for b in blocks]),
        "type": np.concatenate([b.event_type for b in blocks]),
        "pos": np.concatenate([b.position_ms for b in blocks]),
        "seq": np.concatenate([b.seq for b in blocks]),
        "session": np.unique(
            np.concatenate([np.array(b.head, dtype=object) for b in blocks]), return_inverse=True
        )[1],
    }


@pytest.fixture(scope="module")
def two_hours() -> dict[str, np.ndarray]:
    world = World(WorldConfig(seed=11))
    gen = SessionGenerator(world, constant(200.0).bind(START), seed=11)
    return columns(blocks_until(gen, START + 7200.0))


@pytest.mark.slow  # 1.4M events
def test_the_playhead_moves_by_exactly_the_time_played(two_hours: dict[str, np.ndarray]) -> None:
    c = two_hours
    order = np.lexsort((c["seq"], c["session"]))
    s, t, ty, pos, seq = (c[k][order] for k in ("session", "ts", "type", "pos", "seq"))
    same = s[1:] == s[:-1]
    assert np.all(seq[1:][same] == seq[:-1][same] + 1)  # no gaps, no repeats
    # No event after PLAY_STOP in a session.
    assert not np.any(same & (ty[:-1] == EventType.PLAY_STOP.value))
    # After PLAY_START, RESUME, BUFFER_END or a SEEK the viewer plays until the next
    # event (a SEEK reports where it landed): the playhead moved by the time played.
    playing = np.isin(ty[:-1], [EventType.PLAY_START.value, EventType.RESUME.value,
                                EventType.BUFFER_END.value, EventType.SEEK.value])  # fmt: skip
    pairs = same & playing & (ty[1:] != EventType.SEEK.value)
    played = np.rint((t[1:] - t[:-1]) * 1000.0)
    assert pairs.sum() > 400_000
    assert np.array_equal((pos[1:] - pos[:-1])[pairs], played[pairs])
    # Paused or buffering, it does not move.
    still = same & np.isin(ty[:-1], [EventType.PAUSE.value, EventType.BUFFER_START.value])
    still &= ty[1:] != EventType.SEEK.value
    assert np.all(pos[1:][still] == pos[:-1][still])


@pytest.mark.slow
def test_the_events_follow_the_rate_per_hour_and_per_minute(two_hours: dict[str, np.ndarray]) -> None:
    ts = two_hours["ts"]
    assert np.all(np.diff(ts) >= 0)
    hours = np.bincount(((ts - START) // 3600).astype(np.int64))[:2]
    assert np.all(np.abs(hours / (200.0 * 3600) - 1) < 0.01), hours
    minutes = np.bincount(((ts - START) // 60).astype(np.int64))[:120]
    err = np.abs(minutes / (200.0 * 60) - 1)
    assert np.percentile(err, 95) < 0.03, np.sort(err)[-5:]
    # Not a schedule: the gaps between consecutive events vary.
    assert np.std(np.diff(ts[:10_000])) > 0.001


@pytest.mark.slow
def test_past_the_population_viewers_become_more_active_and_the_rate_holds() -> None:
    world = World(WorldConfig(seed=5, accounts=20_000, titles=2_000))
    gen = SessionGenerator(world, constant(20_000.0).bind(START), seed=5)
    c = columns(blocks_until(gen, START + 30.0))
    assert gen.activity > 5.0
    per_10s = np.bincount(((c["ts"] - START) // 10).astype(np.int64))[:3]
    assert np.all(np.abs(per_10s / 200_000.0 - 1) < 0.03), per_10s


@pytest.mark.slow
def test_a_ramp_grows_the_audience_without_flooding_play_starts() -> None:
    world = World(WorldConfig(seed=2))
    gen = SessionGenerator(world, ramp(100.0, 2_000.0, 300.0).bind(START), seed=2)
    c = columns(blocks_until(gen, START + 540.0))
    starts = c["type"] == EventType.PLAY_START.value
    inside = c["ts"] < START + 300.0
    assert np.mean(starts[inside]) <= 0.45
    assert np.sum(inside) == pytest.approx(0.5 * (100 + 2_000) * 300, rel=0.03)
    # Two minutes after the ramp the mix is a steady run's: the audience still short of
    # its size is made up slowly (the viewers more active meanwhile), not by a flood of
    # newcomers pressing play.
    steady = SessionGenerator(World(WorldConfig(seed=2)), constant(2_000.0).bind(START), seed=3)
    s = columns(blocks_until(steady, START + 120.0))
    steady_share = np.mean(s["type"] == EventType.PLAY_START.value)
    after = (c["ts"] >= START + 420.0) & (c["ts"] < START + 540.0)
    assert np.mean(starts[after]) == pytest.approx(steady_share, rel=0.25), steady_share


HEAD_RE = re.compile(rb'"user_id":(\d+),"profile_id":(\d+),"title_id":(\d+),')


def _autoplays(stop_prob: float) -> tuple[list[tuple[int, float]], float]:
    """Over 4 h at 50/s, every autoplay seen in the events: (the autoplays before it since
    the viewer last paused or sought, the gap from PLAY_STOP to the next PLAY_START); and
    the viewers' highest activity (their waits are shorter by that factor)."""
    world = World(WorldConfig(seed=5, accounts=100_000, titles=2_000))
    # By count only, and without seeks: more viewers who leave the controls alone.
    params = SessionParams(still_watching_stop_prob=stop_prob, still_watching_s=1e9, seek_rate_per_h=0.0)
    gen = SessionGenerator(world, constant(50.0).bind(START), seed=5, params=params)
    blocks, busiest = [], 1.0
    while not blocks or blocks[-1].event_ts[-1] < START + 4 * 3600.0:
        blocks.append(gen.next_block())
        busiest = max(busiest, gen.activity)  # more active viewers count down faster
    heads, session = np.unique(
        np.concatenate([np.array(b.head, dtype=object) for b in blocks]), return_inverse=True
    )
    ts = np.concatenate([b.event_ts for b in blocks])
    ty = np.concatenate([b.event_type for b in blocks])
    meta = np.array([[int(g) for g in HEAD_RE.search(h).groups()] for h in heads])  # type: ignore[union-attr]
    n = len(heads)
    start, stop = np.full(n, np.nan), np.full(n, np.nan)
    start[session[ty == EventType.PLAY_START.value]] = ts[ty == EventType.PLAY_START.value]
    stop[session[ty == EventType.PLAY_STOP.value]] = ts[ty == EventType.PLAY_STOP.value]
    touched = np.zeros(n, dtype=bool)
    touched[session[np.isin(ty, [EventType.PAUSE.value, EventType.SEEK.value])]] = True
    base, following = world.catalog.playable_id[0], world.catalog.next_playable
    # Sessions by start; an autoplay links a session to the one before it: the same
    # viewer, the next episode, within the countdown (and an answer) of its PLAY_STOP.
    # A profile in two sittings at once (two devices) is left out: its chains interleave.
    lo, hi = np.nan_to_num(start, nan=-np.inf), np.nan_to_num(stop, nan=np.inf)
    viewer = meta[:, 0] * 8 + meta[:, 1]
    order = np.lexsort((lo, viewer))
    overlaps = (viewer[order][1:] == viewer[order][:-1]) & (lo[order][1:] < hi[order][:-1])
    twice = set(viewer[order][1:][overlaps].tolist())
    # Sessions in flight at the start (no PLAY_START) come first, their count unknown
    # (None) until the viewer next pauses or seeks.
    waiting: dict[tuple[int, int, int], tuple[float, int | None]] = {}
    out = []
    for i in np.argsort(np.nan_to_num(start, nan=-np.inf), kind="stable"):
        user, profile, title = (int(v) for v in meta[i])
        if user * 8 + profile in twice:
            continue
        unattended: int | None = None if np.isnan(start[i]) else 0  # else the viewer pressed play
        before = waiting.pop((user, profile, title), None)
        if before is not None and 0 < start[i] - before[0] <= 40:
            count = before[1]
            if count is not None:
                out.append((count, float(start[i] - before[0])))
                # Past the prompt, only viewers who answered it (a use of the controls) go on.
                unattended = 0 if count >= SessionParams().still_watching_episodes else count + 1
            else:
                unattended = None
        if touched[i]:
            unattended = 0
        nxt = following[title - base]
        if nxt >= 0 and not np.isnan(stop[i]):
            waiting[(user, profile, int(base + nxt))] = (float(stop[i]), unattended)
    return out, busiest


@pytest.mark.slow  # 2 x 720k events
def test_are_you_still_watching_after_three_autoplays_without_a_pause_or_seek() -> None:
    # A gap over the 15 s countdown is the prompt's answer (2-20 s), or now and then a
    # new sitting that happens to play the next episode.
    answered, busiest = _autoplays(stop_prob=0.0)  # every viewer answers the prompt
    asked = np.array([gap for unattended, gap in answered if unattended >= 3])
    plain = np.array([gap for unattended, gap in answered if unattended < 3])
    assert len(asked) > 100 and len(plain) > 1_000
    assert asked.min() >= (5.0 + 2.0) / busiest - 0.001  # the countdown, then the answer
    assert np.mean(asked > 15.001) > 0.3
    assert np.mean(plain > 15.001) < 0.02
    ended, _ = _autoplays(stop_prob=1.0)  # every sitting ends at the prompt
    assert sum(1 for unattended, _ in ended if unattended == 2) > 100
    assert not [gap for unattended, gap in ended if unattended >= 3 and gap <= 15.001]

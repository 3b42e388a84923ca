from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
import pytest

from producer.generation.encode import encode_block
from producer.generation.geo import HOURLY_SHARE
from producer.generation.schema import DEVICE_TYPES, EVENT_TYPES, RAW_FIELDS
from producer.generation.sessions import BITRATE_LADDER_KBPS, SessionGenerator, SessionParams
from producer.generation.world import World
from producer.runtime.rate import constant

START = 1_790_000_000.0


def generate(world: World, n: int, *, seed: int = 1, rate: float = 200.0, warm: bool = True) -> list[bytes]:
    gen = SessionGenerator(
        world, constant(rate).bind(START), seed=seed, params=SessionParams(warm_start=warm)
    )
    out: list[bytes] = []
    while len(out) < n:
        out.extend(encode_block(gen.next_block()))
    return out[:n]


def test_same_seed_gives_byte_identical_ndjson(small_world: World) -> None:
    a = generate(small_world, 20_000, seed=11)
    b = generate(small_world, 20_000, seed=11)
    c = generate(small_world, 20_000, seed=12)
    assert a == b
    assert a != c
    assert len({r for r in a} & {r for r in c}) == 0


def test_records_follow_the_schema(small_world: World) -> None:
    records = generate(small_world, 5_000)
    names = [f.name for f in RAW_FIELDS]
    ids = set()
    for r in records:
        assert r.endswith(b"\n") and r.count(b"\n") == 1
        e = json.loads(r)
        assert list(e) == names
        assert e["event_type"] in EVENT_TYPES
        assert e["device_type"] in DEVICE_TYPES
        assert e["bitrate_kbps"] in BITRATE_LADDER_KBPS
        assert 0 <= e["profile_id"] <= 4
        ids.add(e["event_id"])
    assert len(ids) == len(records)


def _by_session(records: list[bytes]) -> dict[str, list[dict]]:
    sessions: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        e = json.loads(r)
        sessions[e["session_id"]].append(e)
    return sessions


PLAYING_AFTER = {"PLAY_START", "RESUME", "BUFFER_END"}


def _check_session_invariants(events: list[dict], duration_ms: int, *, cold: bool) -> None:
    types = [e["event_type"] for e in events]
    if cold:
        assert types[0] == "PLAY_START"
        assert events[0]["seq"] == 0
    assert "PLAY_START" not in types[1:]
    if "PLAY_STOP" in types:
        assert types.index("PLAY_STOP") == len(types) - 1, "nothing follows PLAY_STOP"
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    ts = [e["event_ts"] for e in events]
    assert ts == sorted(ts), "time is monotone within a session"
    key = {k: events[0][k] for k in ("user_id", "profile_id", "title_id", "device_type", "country")}
    for e in events:
        assert {k: e[k] for k in key} == key
        assert 0 <= e["position_ms"] <= duration_ms
    # States: paused and buffering freeze the playhead; playing advances it with time.
    for prev, cur in zip(events, events[1:], strict=False):
        elapsed_ms = (cur["event_ts"] - prev["event_ts"]) * 1000
        moved = cur["position_ms"] - prev["position_ms"]
        if prev["event_type"] in ("PAUSE", "BUFFER_START"):
            assert cur["event_type"] in ("RESUME", "BUFFER_END", "PLAY_STOP")
            if cur["event_type"] != "SEEK":
                assert moved == 0
        if (
            prev["event_type"] in PLAYING_AFTER
            and cur["event_type"] in ("PAUSE", "BUFFER_START")
            and cur["position_ms"] < duration_ms
        ):
            assert moved == pytest.approx(elapsed_ms, abs=2.0)
        if prev["event_type"] in PLAYING_AFTER and cur["event_type"] == "PLAY_STOP":
            assert -2.0 <= moved <= elapsed_ms + 2.0
        if prev["event_type"] == "BUFFER_START":
            assert cur["event_type"] in ("BUFFER_END",)


@pytest.mark.slow  # statistical: a big sample of sessions
@pytest.mark.parametrize("warm", [False, True])
def test_session_invariants_over_100k_events(small_world: World, warm: bool) -> None:
    records = generate(small_world, 120_000, rate=20.0, warm=warm)
    cat = small_world.catalog
    durations = dict(zip(cat.playable_id.tolist(), cat.duration_ms.tolist(), strict=True))
    sessions = _by_session(records)
    stopped = 0
    for events in sessions.values():
        _check_session_invariants(events, durations[events[0]["title_id"]], cold=not warm)
        stopped += events[-1]["event_type"] == "PLAY_STOP"
    assert stopped > 0.5 * len(sessions)
    if warm:
        # Sessions without a PLAY_START in the stream are only those in flight at the start.
        first_ts = [ev[0]["event_ts"] for ev in sessions.values() if ev[0]["event_type"] != "PLAY_START"]
        started_ts = [ev[0]["event_ts"] for ev in sessions.values() if ev[0]["event_type"] == "PLAY_START"]
        assert first_ts and started_ts
        assert np.median(first_ts) < np.median(started_ts)


def test_series_continue_into_the_next_episode(small_world: World) -> None:
    records = generate(small_world, 60_000, rate=20.0)
    cat = small_world.catalog
    nxt = dict(zip(cat.playable_id.tolist(), cat.next_playable.tolist(), strict=True))
    pid = cat.playable_id
    by_viewer: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        e = json.loads(r)
        if e["event_type"] in ("PLAY_START", "PLAY_STOP"):
            by_viewer[(e["user_id"], e["profile_id"], e["device_type"])].append(e)
    gaps = []
    for events in by_viewer.values():
        for a, b in zip(events, events[1:], strict=False):
            if a["event_type"] == "PLAY_STOP" and b["event_type"] == "PLAY_START":
                n = nxt[a["title_id"]]
                if n >= 0 and b["title_id"] == int(pid[n]) and b["position_ms"] == 0:
                    assert b["session_id"] != a["session_id"]
                    gaps.append(b["event_ts"] - a["event_ts"])
    assert len(gaps) > 50
    # The autoplay countdown is 5-15 s; events go out within seconds of their viewer's timing.
    assert 5 <= np.median(gaps) <= 20


@pytest.mark.slow  # statistical: a big sample of sessions
def test_event_mix_and_quality_of_experience_are_plausible(small_world: World) -> None:
    records = generate(small_world, 150_000, rate=100.0)
    types = Counter(json.loads(r)["event_type"] for r in records)
    total = sum(types.values())
    assert 0.15 < types["PLAY_START"] / total < 0.45
    assert abs(types["PLAY_START"] - types["PLAY_STOP"]) / total < 0.1
    assert abs(types["PAUSE"] - types["RESUME"]) / total < 0.02
    assert types["SEEK"] > 0 and types["BUFFER_START"] > 0


@pytest.mark.slow  # statistical: a big sample of sessions
def test_daily_curve_and_mixes_over_a_simulated_day(small_world: World) -> None:
    """Over one simulated day at a constant global rate, plays start in local evenings
    and the device and country mixes follow the population's weights."""
    day = 1_790_035_200.0  # 2026-09-22T00:00:00Z, a UTC midnight
    gen = SessionGenerator(small_world, constant(3.0).bind(day), seed=3)
    pop = small_world.population
    # Each profile's zone, by (user_id, profile_id): local time is that zone's clock.
    zone_of = {
        (int(u), int(i)): int(z)
        for u, i, z in zip(
            pop.account_user_id[pop.profile_account], pop.profile_index, pop.profile_zone, strict=True
        )
    }
    local_hours: list[int] = []
    devices: Counter[str] = Counter()
    countries: Counter[str] = Counter()
    while True:
        block = gen.next_block()
        if block.event_ts[0] >= day + 86400:
            break
        for r in encode_block(block):
            e = json.loads(r)
            if e["event_type"] != "PLAY_START":
                continue
            offset = pop.zones.offsets_h(e["event_ts"])[zone_of[(e["user_id"], e["profile_id"])]]
            local_hours.append(int(((e["event_ts"] / 3600) + offset) % 24))
            devices[e["device_type"]] += 1
            countries[e["country"]] += 1
    hist = np.bincount(local_hours, minlength=24)
    assert int(np.argmax(hist)) in range(19, 24)
    assert int(np.argmin(hist)) in range(2, 7)
    # The shape follows the hourly curve (correlation over the 24 hours).
    assert np.corrcoef(hist, HOURLY_SHARE)[0, 1] > 0.9
    n = sum(devices.values())
    share = {d: devices[d] / n for d in DEVICE_TYPES}
    dw = pop.device_weight
    for i, d in enumerate(DEVICE_TYPES):
        assert share[d] == pytest.approx(dw[i], abs=0.03)
    m = sum(countries.values())
    us = pop.country_codes.index("US")
    assert countries["US"] / m == pytest.approx(pop.country_weight[us], abs=0.04)


def test_event_ts_columns_format_exactly_as_percent_3f() -> None:
    from producer.generation.encode import format_event_ts

    rng = np.random.default_rng(3)
    # Whole milliseconds across the ten-digit range, its edges, and outside it (fallback).
    ms = np.concatenate(
        [rng.integers(10**12, 10**13, 50_000), [10**12, 10**13 - 1, 1_788_436_800_000, 10**12 - 1, 10**13, 0]]
    )
    ts = ms / 1000.0
    assert format_event_ts(ts) == [b"%.3f" % t for t in ts.tolist()]
    assert format_event_ts(ts[:0]) == []
    # Not whole milliseconds (a hand-built block): still exactly %.3f, halves included.
    odd = np.array([1_700_553_753.5845, 1_788_436_800.0005, 1_788_436_800.0015, 1_788_436_800.25])
    assert format_event_ts(odd) == [b"%.3f" % t for t in odd.tolist()]


def test_ids_are_rfc_4122_version_4_text_of_the_keyed_hash() -> None:
    import uuid

    from producer.generation.ids import _LOW_KEY, _splitmix, uuid_bytes

    counters = np.arange(5_000, 9_000, dtype=np.int64)
    key = 0xDEADBEEF12345678
    texts = uuid_bytes(key, counters)
    with np.errstate(over="ignore"):
        hi = _splitmix(counters.astype(np.uint64) ^ np.uint64(key))
        lo = _splitmix(hi ^ _splitmix(np.full(1, np.uint64(key) ^ _LOW_KEY, dtype=np.uint64)))
    for text, h, lw in zip(texts, hi.tolist(), lo.tolist(), strict=True):
        u = uuid.UUID(text.decode())
        assert str(u).encode() == text and u.version == 4 and u.variant == uuid.RFC_4122
        expected = (h & 0xFFFFFFFFFFFF0FFF | 0x4000) << 64 | (lw & 0x3FFFFFFFFFFFFFFF | 1 << 63)
        assert u.int == expected
    assert len(set(texts)) == len(texts)

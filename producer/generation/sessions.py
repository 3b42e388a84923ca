"""Viewer sessions: a vectorised state machine over a pool of concurrent viewers.

Each *slot* of the pool is one viewer in a sitting: a profile on a device playing a
title, in a state (browsing, playing, paused, buffering), with a playhead and the
time its next event is due. Every event happens on its viewer's own clock: the
generator plays the viewers forward one window of event time at a time, each
emitting at its own due times, and hands the window's events on in time order.
Between two events with playing in between, the playhead moves by exactly the
time played (in whole milliseconds); pauses, stalls, seeks and autoplay last what
the model draws.

The rate shape is a target the population is steered to: before each window the
generator sizes the pool (newcomers join over the window, the excess leaves as
sittings end) so the window holds the events the shape asks for, making up any
shortfall of the run so far. A window holds about the same number of events at
any rate, so the cost per event does not depend on the rate.

All per-event work is NumPy over a pass of a window; Python only touches a session
when it starts (to build its constant JSON fragment).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from producer.generation.geo import local_activity
from producer.generation.ids import uuid_bytes, uuid_text
from producer.generation.schema import DEVICE_TYPES, EventType
from producer.generation.world import World
from producer.runtime.rate import Schedule

__all__ = [
    "BITRATE_LADDER_KBPS",
    "EventBlock",
    "SessionGenerator",
    "SessionParams",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Netflix's fixed H.264 ladder (Tech Blog 2015) plus the 4K top rung (7 GB/h).
BITRATE_LADDER_KBPS: tuple[int, ...] = (
    235,
    375,
    560,
    750,
    1050,
    1750,
    2350,
    3000,
    4300,
    5800,
    15600,
)
_LADDER = np.asarray(BITRATE_LADDER_KBPS, dtype=np.int64)

# Slot states.
_IDLE, _BROWSING, _PLAYING, _PAUSED, _BUFFERING = 0, 1, 2, 3, 4

_START = EventType.PLAY_START.value
_PAUSE = EventType.PAUSE.value
_RESUME = EventType.RESUME.value
_SEEK = EventType.SEEK.value
_BSTART = EventType.BUFFER_START.value
_BEND = EventType.BUFFER_END.value
_STOP = EventType.PLAY_STOP.value

_HOUR_MS = 3_600_000.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionParams:
    """Behaviour of a playback session. Defaults: docs/data_model.md lists their sources."""

    #: Pauses per viewing hour, by device (plausible, unsourced: TV 0.8, handhelds 1.5).
    pause_rate_per_h: dict[str, float] = field(
        default_factory=lambda: {
            "tv": 0.8,
            "console": 0.8,
            "web": 1.5,
            "mobile": 1.5,
            "tablet": 1.5,
        }
    )
    pause_median_s: float = 90.0
    pause_sigma: float = 1.3
    #: A pause longer than this ends the session (PLAY_STOP instead of RESUME).
    pause_timeout_s: float = 1800.0
    seek_rate_per_h: float = 0.6
    #: Share of seeks that are +/-10 s taps; the rest are scrubs (lognormal, median 120 s).
    seek_tap_share: float = 0.5
    seek_scrub_median_s: float = 120.0
    seek_forward_share: float = 0.65
    #: Probability that a seek is followed by a short stall (BUFFER_START/END).
    seek_buffer_prob: float = 0.3
    #: Two network classes (Conviva-calibrated mixture: rebuffer ratio ~0.35 %).
    poor_network_share: float = 0.2
    rebuffer_rate_per_h_good: float = 0.2
    rebuffer_rate_per_h_poor: float = 6.0
    stall_mean_s_good: float = 3.0
    stall_mean_s_poor: float = 10.0
    #: Probability of watching to the end: episodes 0.6, films 0.45.
    completion_episode: float = 0.6
    completion_film: float = 0.45
    #: Among plays not watched to the end, the share abandoned within minutes.
    quick_abandon_share: float = 0.35
    quick_abandon_mean_s: float = 100.0
    #: Share of plays starting from a resume point rather than 0.
    resume_share: float = 0.3
    #: After a finished episode, probability the next one autoplays; cap per sitting.
    autoplay_prob: float = 0.9
    max_episodes_per_sitting: int = 8
    #: Browsing before a sitting's first PLAY_START, and the autoplay countdown.
    browse_s: tuple[float, float] = (20.0, 90.0)
    autoplay_gap_s: tuple[float, float] = (5.0, 15.0)
    #: "Are you still watching?": before an autoplay that follows this many autoplayed
    #: episodes, or this long, without a pause or a seek, the player asks; the sitting ends
    #: there with ``still_watching_stop_prob``, else the viewer answers within
    #: ``still_watching_answer_s`` (and that counts as using the controls).
    still_watching_episodes: int = 3
    still_watching_s: float = 5400.0
    still_watching_stop_prob: float = 0.5
    still_watching_answer_s: tuple[float, float] = (2.0, 20.0)
    #: Start the run with sittings already in progress (steady state from the first
    #: second). Those sessions' earlier events, PLAY_START included, predate the run.
    warm_start: bool = True


def _heads(
    sids: npt.NDArray[np.uint8], users: npt.ArrayLike, profiles: npt.ArrayLike, titles: npt.ArrayLike
) -> npt.NDArray[np.bytes_]:
    """Each session's ``"session_id":...,"user_id":...,"profile_id":...,"title_id":...,``
    fragment, built as one array of ASCII codes (no per-session Python work)."""
    n = len(sids)
    fields = [np.asarray(users, dtype=np.int64), np.asarray(profiles, dtype=np.int64),
              np.asarray(titles, dtype=np.int64)]  # fmt: skip
    widths = [_digits(f) for f in fields]
    parts: list[npt.NDArray[np.uint8] | bytes] = [b'"session_id":"', sids, b'","user_id":']
    for name, values, width in zip((b',"profile_id":', b',"title_id":', b","), fields, widths, strict=True):
        if width is None:  # ids of several lengths in this batch: format them one by one
            text = b'"session_id":"%s","user_id":%d,"profile_id":%d,"title_id":%d,'
            rows = zip(sids.view("S36").ravel().tolist(), *(f.tolist() for f in fields), strict=True)
            return np.array([text % row for row in rows], dtype=np.bytes_)
        powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
        parts.append(((values[:, None] // powers) % 10 + 48).astype(np.uint8))
        parts.append(name)
    total = sum(p.shape[1] if isinstance(p, np.ndarray) else len(p) for p in parts)
    out = np.empty((n, total), dtype=np.uint8)
    col = 0
    for p in parts:
        if isinstance(p, np.ndarray):
            out[:, col : col + p.shape[1]] = p
            col += p.shape[1]
        else:
            out[:, col : col + len(p)] = np.frombuffer(p, dtype=np.uint8)
            col += len(p)
    return out.view(f"S{total}").ravel()


def _digits(values: IntArray) -> int | None:
    """The number of decimal digits every value has, or None if they differ (or are negative)."""
    if not len(values):
        return 1
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or len(str(lo)) != len(str(hi)):
        return None
    return len(str(hi))


@dataclass(frozen=True, slots=True)
class _Part:
    """One pass of a window: an event per viewer, in slot order."""

    ts: FloatArray
    ev: IntArray
    pos: FloatArray
    rung: IntArray
    seq: npt.NDArray[np.int32]
    head: npt.NDArray[np.bytes_]
    tail: npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventBlock:
    """One round of events, in emission order, as columns."""

    first: int
    event_ts: FloatArray
    event_type: npt.NDArray[np.int8]
    position_ms: IntArray
    bitrate_kbps: IntArray
    seq: IntArray
    #: UUID text, ASCII bytes.
    event_id: list[bytes]
    #: Per event, the session's constant JSON fields before ``event_type``:
    #: ``"session_id":...,"user_id":...,"profile_id":...,"title_id":...,``
    head: list[bytes]
    #: Per event, the fields after ``position_ms``, constant for a session but the
    #: bitrate: ``"device_type":...,"country":...,"app_version":...,"bitrate_kbps":...,``
    tail: list[bytes]

    def __len__(self) -> int:
        return len(self.event_ts)

    def cut(self, n: int) -> EventBlock:
        """The first ``n`` events of this block."""
        return EventBlock(
            first=self.first,
            event_ts=self.event_ts[:n],
            event_type=self.event_type[:n],
            position_ms=self.position_ms[:n],
            bitrate_kbps=self.bitrate_kbps[:n],
            seq=self.seq[:n],
            event_id=self.event_id[:n],
            head=self.head[:n],
            tail=self.tail[:n],
        )


class SessionGenerator:
    """Generates the events of a run, round by round, deterministically from a seed.

    The output depends only on (world, params, seed, schedule): never on how the
    consumer slices it, on wall-clock timing, or on the sink.
    """

    #: A window of event time holds about this many events (bounded in time below and
    #: above), so the cost per event does not depend on the rate.
    WINDOW_EVENTS = 16_384
    #: Below 16,384 / MAX_WINDOW_S events a second (55/s) the windows are shorter than
    #: WINDOW_EVENTS: the viewers are steered at least this often, so an hour of a slow
    #: run holds its rate within 1 %.
    MIN_WINDOW_S = 0.005
    MAX_WINDOW_S = 300.0
    #: The shortfall (or surplus) of events against the shape is made up over this long.
    CORRECTION_S = 900.0
    #: Newcomers are at most this share of a window's events: a steep ramp is met by
    #: more active viewers while the audience grows.
    MAX_ARRIVAL_SHARE = 0.3
    #: Once the shape stops rising, newcomers are at most this share of a window's
    #: events: an audience still short of its size after a steep ramp is made up
    #: slowly, by more active viewers meanwhile, and the mix is back to steady at once.
    SETTLE_SHARE = 0.06
    #: Activity is at most 2^(this/4) (a million): beyond, the rate falls short.
    MAX_ACTIVITY_STEP = 80

    def __init__(
        self,
        world: World,
        schedule: Schedule,
        *,
        seed: int,
        params: SessionParams | None = None,
        max_concurrent: int | None = None,
        window_events: int | None = None,
        max_window_s: float | None = None,
        lead_s: float = 0.0,
    ) -> None:
        self.world = world
        self.schedule = schedule
        self.params = params or SessionParams()
        ss = np.random.SeedSequence([seed, 0x5E55])
        self._rng = np.random.default_rng(ss)
        keys = ss.generate_state(2, dtype=np.uint64)
        self._event_key = int(keys[0])
        self._session_key = int(keys[1])
        pop = world.population
        self.max_concurrent = max(1, max_concurrent or int(pop.n_profiles * 0.8))
        #: Events per window, about: bigger windows cost less per event but make the
        #: first block of a run (and its memory) bigger.
        self.window_events = max(1, window_events or self.WINDOW_EVENTS)
        #: The longest window, in seconds of event time: how long the viewers go unsteered.
        self.max_window_s = max_window_s or self.MAX_WINDOW_S
        p = self.params
        self._pause_rate = np.array([p.pause_rate_per_h.get(d, 1.0) for d in DEVICE_TYPES]) / _HOUR_MS
        # Device ceilings into the ladder (index): TV/console/web 5800, tablet 3000,
        # mobile 1050 (cellular share) or 3000; premium TVs reach the 4K rung.
        self._ceiling = np.array([9, 9, 9, 5, 7], dtype=np.int64)
        # Wide enough for the largest ids of this world (checked, never truncated).
        cat = world.catalog
        width = (
            len(b'"session_id":"","user_id":,"profile_id":9,"title_id":,')
            + 36
            + len(str(int(pop.account_user_id.max())))
            + len(str(int(cat.playable_id.max())))
        )
        self._head_dtype = np.dtype(f"S{width}")
        # Every (device, country, app version, bitrate) JSON fragment, rendered once.
        self._n_countries = len(pop.country_codes)
        self._n_apps = len(pop.app_versions)
        self._tails = np.array(
            [
                f'"device_type":"{d}","country":"{c}","app_version":"{a}","bitrate_kbps":{b},'.encode()
                for d in DEVICE_TYPES
                for c in pop.country_codes
                for a in pop.app_versions
                for b in BITRATE_LADDER_KBPS
            ],
            dtype=object,
        )
        # A viewer's event rate, learnt as the run goes; the prior comes from short
        # calibrations so the first minutes are already in balance.
        self._probes: dict[int, float] = {}
        self.mean_gap_s = 1.0 / self._probe(0)
        #: Events generated so far (the next event's index).
        self.next_event = 0
        #: Each viewer's events per second, learnt as the run goes.
        self.per_viewer_rate = 1.0 / self.mean_gap_s
        #: How many times more active than the reference viewers are (1 unless the
        #: rate needs more concurrent viewers than the population has).
        self.activity = 1.0
        #: How far ahead of the shape the events run, in seconds: a realtime run sends
        #: each event a little after it happened, never before.
        self.lead_s = lead_s
        self._t = schedule.start - lead_s
        self._sessions_started = 0
        self._excess = 0
        self._arrived = 0
        self._windows = 0
        self._cap = 0
        self._alloc(0)
        self._started = False

    # -- pool storage ---------------------------------------------------------------

    def _alloc(self, capacity: int) -> None:
        old = self._cap
        if capacity <= old and old:
            return

        def grow(a: npt.NDArray[Any] | None, dtype: npt.DTypeLike, fill: object) -> npt.NDArray[Any]:
            new: npt.NDArray[Any] = np.full(capacity, fill, dtype=dtype)
            if a is not None and old:
                new[:old] = a[:old]
            return new

        g = getattr
        self.due = grow(g(self, "due", None), np.float64, np.inf)
        self.last_ts = grow(g(self, "last_ts", None), np.float64, 0.0)
        self.state = grow(g(self, "state", None), np.int8, _IDLE)
        self.next_ev = grow(g(self, "next_ev", None), np.int8, _START)
        self.pos = grow(g(self, "pos", None), np.float64, 0.0)
        self.stop_pos = grow(g(self, "stop_pos", None), np.float64, 0.0)
        self.dur = grow(g(self, "dur", None), np.float64, 1.0)
        # Narrow types where they are safe: memory grows with the pool, not the rate.
        self.profile = grow(g(self, "profile", None), np.int32, 0)
        self.playable = grow(g(self, "playable", None), np.int32, 0)
        self.device = grow(g(self, "device", None), np.int8, 0)
        self.rung = grow(g(self, "rung", None), np.int8, 0)
        self.poor = grow(g(self, "poor", None), bool, False)
        self.seq = grow(g(self, "seq", None), np.int32, 0)
        self.episodes = grow(g(self, "episodes", None), np.int16, 0)
        # Autoplays since the viewer last used the controls (pressed play, paused, sought), and when.
        self.unattended = grow(g(self, "unattended", None), np.int16, 0)
        self.control_ts = grow(g(self, "control_ts", None), np.float64, 0.0)
        self.stall_s = grow(g(self, "stall_s", None), np.float32, 0.0)
        self.seek_stall = grow(g(self, "seek_stall", None), bool, False)
        # A session's constant JSON fragment, fixed-width bytes (NumPy drops the NUL padding).
        self.head = grow(g(self, "head", None), self._head_dtype, b"")
        self.tail = grow(g(self, "tail", None), np.int16, 0)
        self._cap = capacity

    @property
    def active_slots(self) -> int:
        """Viewers in the pool (browsing or in a session)."""
        return int(np.count_nonzero(self.state != _IDLE))

    @property
    def active_sessions(self) -> int:
        """Sessions between PLAY_START and PLAY_STOP right now."""
        return int(np.count_nonzero(self.state >= _PLAYING))

    # -- starting sittings and sessions --------------------------------------------

    def _start_sittings(
        self, slots: IntArray, due: FloatArray, at: float, *, mid_session: bool = False
    ) -> None:
        """Give each slot a new viewer (profile by local-time activity) and a title.

        ``mid_session``: viewers caught in the middle of a session (the warm start), who
        are more likely in a long one: each drawn session is kept with probability its
        length over the longest, and drawn again otherwise (length-biased sampling), so
        the pool starts in its steady state rather than with a burst of short sessions
        ending at once.
        """
        pop = self.world.population
        cat = self.world.catalog
        rng = self._rng
        activity = local_activity(at, pop.zones)
        profiles = pop.sample_profiles(rng, len(slots), activity)
        self.profile[slots] = profiles
        device = pop.profile_device[profiles].astype(np.int64)
        self.device[slots] = device
        self.episodes[slots] = 0
        self.unattended[slots] = 0
        self.control_ts[slots] = due
        self.poor[slots] = rng.random(len(slots)) < self.params.poor_network_share
        playables = cat.sample_playables(rng, len(slots))
        plan = self._plan(playables, resume=True)
        if mid_session:
            longest = float(cat.duration_ms.max())
            redraw = np.flatnonzero(rng.random(len(slots)) * longest >= plan[2] - plan[1])
            while len(redraw):
                playables[redraw] = cat.sample_playables(rng, len(redraw))
                again = self._plan(playables[redraw], resume=True)
                for column, value in zip(plan, again, strict=True):
                    column[redraw] = value
                redraw = redraw[rng.random(len(redraw)) * longest >= plan[2][redraw] - plan[1][redraw]]
        self._start_sessions(slots, playables, due, plan=plan)

    def _plan(self, playables: IntArray, *, resume: bool) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Each play's (duration, start, stop) in ms: from a resume point or 0, and how far
        the viewer means to watch (to the end, a quick abandon, or part-way)."""
        n = len(playables)
        p = self.params
        rng = self._rng
        cat = self.world.catalog
        dur = cat.duration_ms[playables].astype(np.float64)
        start = np.zeros(n)
        if resume:
            from_point = rng.random(n) < p.resume_share
            start = np.where(from_point, dur * rng.uniform(0.05, 0.8, n), 0.0).round()
        is_film = cat.playable_is_film[playables]
        completes = rng.random(n) < np.where(is_film, p.completion_film, p.completion_episode)
        quick = rng.random(n) < p.quick_abandon_share
        remaining = dur - start
        watch = np.where(
            completes,
            remaining,
            np.where(
                quick,
                np.minimum(rng.exponential(p.quick_abandon_mean_s * 1000.0, n), remaining * 0.9),
                remaining * rng.uniform(0.05, 0.9, n),
            ),
        )
        return dur, start, np.minimum(start + np.maximum(watch, 1000.0), dur).round()

    def _start_sessions(
        self,
        slots: IntArray,
        playables: IntArray,
        due: FloatArray,
        *,
        plan: tuple[FloatArray, FloatArray, FloatArray] | None = None,
    ) -> None:
        """Start a playback session (PLAY_START due at ``due``) in each slot, from its
        :meth:`_plan` (by default one from 0: the next episode)."""
        n = len(slots)
        if n == 0:
            return
        rng = self._rng
        cat = self.world.catalog
        pop = self.world.population
        dur, start, stop = plan if plan is not None else self._plan(playables, resume=False)
        self.playable[slots] = playables
        self.dur[slots] = dur
        self.pos[slots] = start
        self.stop_pos[slots] = stop
        self.state[slots] = _BROWSING
        self.next_ev[slots] = _START
        self.due[slots] = due
        self.last_ts[slots] = due
        self.seq[slots] = 0
        self.episodes[slots] += 1
        # Bitrate rung: device ceiling (4K TVs on premium plans), then what the network sustains.
        device = self.device[slots].astype(np.int64)
        ceiling = self._ceiling[device]
        premium_tv = (device == 0) & (pop.account_plan[pop.profile_account[self.profile[slots]]] == 2)
        ceiling = np.where(premium_tv, len(_LADDER) - 1, ceiling)
        drop = rng.geometric(0.55, n) - 1 + np.where(self.poor[slots], 2, 0)
        self.rung[slots] = np.maximum(ceiling - drop, 0)

        serial = np.arange(self._sessions_started, self._sessions_started + n, dtype=np.int64)
        self._sessions_started += n
        profiles = self.profile[slots]
        self.head[slots] = _heads(
            uuid_text(self._session_key, serial),
            pop.account_user_id[pop.profile_account[profiles]],
            pop.profile_index[profiles],
            cat.playable_id[playables],
        )
        country = pop.profile_country[profiles].astype(np.int64)
        app = pop.profile_app[profiles].astype(np.int64)
        self.tail[slots] = (device * self._n_countries + country) * self._n_apps + app

    def _warm(self, slots: IntArray, at: float) -> None:
        """Put fresh sittings mid-flight at ``at``: playing (or paused), PLAY_START already past."""
        n = len(slots)
        rng = self._rng
        self._start_sittings(slots, np.full(n, at), at, mid_session=True)
        span = self.stop_pos[slots] - self.pos[slots]
        self.pos[slots] = (self.pos[slots] + span * rng.random(n)).round()
        self.seq[slots] = 1 + rng.geometric(0.5, n)
        self.last_ts[slots] = at
        paused = rng.random(n) < 0.04
        self.state[slots] = np.where(paused, _PAUSED, _PLAYING).astype(np.int8)
        self._schedule_playing(slots[~paused], np.full(int((~paused).sum()), at))
        self._schedule_pause_end(slots[paused], np.full(int(paused.sum()), at))

    # -- scheduling the next event ---------------------------------------------------

    def _schedule_playing(self, slots: IntArray, ts: FloatArray) -> None:
        """While playing: the next of pause, seek, rebuffer, or the stop point."""
        n = len(slots)
        if n == 0:
            return
        p = self.params
        rng = self._rng
        lam_pause = self._pause_rate[self.device[slots]]
        lam_seek = np.full(n, p.seek_rate_per_h / _HOUR_MS)
        lam_buf = (
            np.where(self.poor[slots], p.rebuffer_rate_per_h_poor, p.rebuffer_rate_per_h_good) / _HOUR_MS
        )
        lam = (lam_pause + lam_seek + lam_buf) * self.activity
        dwell = rng.exponential(1.0, n) / lam
        remaining = np.maximum(self.stop_pos[slots] - self.pos[slots], 0.0)
        stop = dwell >= remaining
        u = rng.random(n) * (lam / self.activity)
        kind = np.where(u < lam_pause, _PAUSE, np.where(u < lam_pause + lam_seek, _SEEK, _BSTART))
        self.next_ev[slots] = np.where(stop, _STOP, kind).astype(np.int8)
        dwell = np.where(stop, remaining, dwell)
        self.due[slots] = ts + dwell / 1000.0
        # A connection stall's length is drawn now (lognormal with the class mean).
        mean = np.where(self.poor[slots], p.stall_mean_s_poor, p.stall_mean_s_good)
        sigma = 0.8
        self.stall_s[slots] = (
            mean * np.exp(sigma * rng.standard_normal(n) - sigma * sigma / 2) / self.activity
        )
        self.seek_stall[slots] = False

    def _schedule_pause_end(self, slots: IntArray, ts: FloatArray) -> None:
        n = len(slots)
        if n == 0:
            return
        p = self.params
        length = p.pause_median_s * np.exp(p.pause_sigma * self._rng.standard_normal(n)) / self.activity
        timeout = length > p.pause_timeout_s
        self.next_ev[slots] = np.where(timeout, _STOP, _RESUME).astype(np.int8)
        self.due[slots] = ts + np.minimum(length, p.pause_timeout_s)

    # -- windows of event time ------------------------------------------------------

    def _natural_rate(self, activity: float) -> float:
        """A viewer's events per second in steady state at ``activity``, measured once per
        grid step (2^(1/4) apart) on a small private pool and interpolated between."""
        k = math.log2(activity) * 4.0
        lo = math.floor(k)
        r0 = self._probe(lo)
        if k == lo:
            return r0
        r1 = self._probe(lo + 1)
        return math.exp(math.log(r0) + (k - lo) * (math.log(r1) - math.log(r0)))

    def _activity_for(self, rate: float) -> float:
        """The activity at which a viewer's steady-state event rate is ``rate`` (at least 1)."""
        if rate <= self._probe(0):
            return 1.0
        # Galloping, then bisecting: a dozen probes at most.
        lo, hi = 0, 1
        while self._probe(hi) < rate:
            lo, hi = hi, hi * 2
            if hi > self.MAX_ACTIVITY_STEP:
                return float(2.0 ** (self.MAX_ACTIVITY_STEP / 4.0))
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self._probe(mid) < rate else (lo, mid)
        k = lo
        r0, r1 = math.log(self._probe(k)), math.log(self._probe(k + 1))
        return float(2.0 ** ((k + (math.log(rate) - r0) / max(r1 - r0, 1e-12)) / 4.0))

    def _probe(self, step: int) -> float:
        """Events per viewer-second at activity ``2^(step/4)``, on 1,000 private viewers."""
        cached = self._probes.get(step)
        if cached is not None:
            return cached
        activity = 2.0 ** (step / 4.0)
        probe = object.__new__(SessionGenerator)
        probe.world = self.world
        probe.params = self.params
        probe._rng = np.random.default_rng(12345 + step)
        probe._event_key = probe._session_key = 0
        probe.max_concurrent = 1_000
        probe._pause_rate = self._pause_rate
        probe._ceiling = self._ceiling
        probe._tails = self._tails
        probe._head_dtype = self._head_dtype
        probe._n_countries = self._n_countries
        probe._n_apps = self._n_apps
        probe._sessions_started = 0
        probe._excess = 0
        probe.activity = activity
        probe._cap = 0
        probe._alloc(1_000)
        probe._warm(np.arange(1_000, dtype=np.int64), 0.0)
        # Skip the first hour (of reference time), which favours the warm start's short gaps.
        span = 600.0 / activity
        t = 0.0
        for _ in range(6):
            probe._window(t, t + span)
            t += span
        events = 0
        for _ in range(12):
            events += probe._window(t, t + span)
            t += span
        rate = float(max(events, 1) / (1_000 * 12 * span))
        self._probes[step] = rate
        return float(rate)

    def _window(self, t0: float, t1: float, parts: list[_Part] | None = None) -> int:
        """Play every viewer's events due in ``[t0, t1)`` on their own clocks.

        Each viewer emits at its own due times, as many events as fall in the window;
        with ``parts`` the events are kept (in generation order, per pass), else only
        counted. The passes after the first touch only the viewers of the pass before:
        only their due times changed.
        """
        slots = np.flatnonzero(self.due < t1)
        count = 0
        while len(slots):
            # Whole milliseconds, the precision of ``event_ts`` on the wire: the value a
            # consumer parses is the value the generator used.
            ts = np.rint(self.due[slots] * 1000.0) / 1000.0
            part = self._advance(slots, ts, keep=parts is not None)
            if parts is not None and part is not None:
                parts.append(part)
            count += len(slots)
            slots = slots[self.due[slots] < t1]
        return count

    def _control(self, t0: float, t1: float) -> None:
        """Steer the pool so the events of ``[t0, t1)`` follow the rate shape.

        The shape says how many events the window should hold, plus the share of the
        run's shortfall (or surplus) so far to make up over ``CORRECTION_S``. At the
        viewers' measured event rate that is a number of viewers: newcomers join over
        the window (their PLAY_START when they press play), and the excess leaves as
        sittings end. Past the population's cap, viewers become more active instead
        (more pauses, seeks and stalls per hour; a playhead still moves with the clock).
        """
        schedule = self.schedule
        w = t1 - t0
        o0 = t0 - schedule.start + self.lead_s
        o1 = t1 - schedule.start + self.lead_s
        wanted = schedule.expected(o1) - schedule.expected(o0)
        behind = schedule.expected(o0) - self.next_event
        # Slowly: every newcomer brings a PLAY_START at once, so a quick correction
        # would swing the rate from window to window.
        demand = max(wanted / w + behind / max(self.CORRECTION_S, 4.0 * w), 0.0)
        cap = self.max_concurrent
        # The measured rate against the calibrated one at the current activity.
        bias = self.per_viewer_rate / self._natural_rate(self.activity)
        # Viewers needed at reference behaviour, and how many can join this window.
        goal = min(cap, max(1, math.ceil(demand / (self._natural_rate(1.0) * bias))))
        active = goal if not self._started else self.active_slots
        rising = schedule.rate_at(o1) > schedule.rate_at(o0) * (1.0 + 1e-9)
        most = max(1, math.ceil((self.MAX_ARRIVAL_SHARE if rising else self.SETTLE_SHARE) * wanted))
        need = min(goal - active, most) if goal > active else 0
        activity = 1.0
        if goal == cap or need == most:
            # The pool cannot give the rate at reference behaviour (the population's cap,
            # or an audience growing faster than newcomers may arrive): the viewers
            # there are become more active. Newcomers bring their PLAY_STARTs besides.
            pool = active + need / 2.0
            activity = self._activity_for(max(demand * w - need, 0.0) / (w * pool * bias))
        if abs(activity / self.activity - 1.0) > 0.01 or (activity == 1.0 and self.activity != 1.0):
            self._rescale(t0, self.activity / activity)
            self.activity = activity
            self.per_viewer_rate = self._natural_rate(activity) * bias
        if not self._started:
            self._started = True
            self._fill(goal, t0)
            return
        if need:
            free = np.flatnonzero(self.state == _IDLE)
            if len(free) < need:
                old = self._cap
                self._alloc(max(old * 2, old + need))
                free = np.flatnonzero(self.state == _IDLE)
            slots = free[:need].astype(np.int64)
            # Sittings arrive over the window as a Poisson process: uniform given their count.
            due = np.sort(t0 + self._rng.random(need) * w)
            self._start_sittings(slots, due, t0)
        self._excess = max(active - goal, 0)
        self._arrived = need

    def _rescale(self, at: float, factor: float) -> None:
        """Stretch the pending wait of every playing viewer's next pause, seek or stall by
        ``factor`` (their activity changed). The wait is exponential, so this is the
        same as drawing it anew; a wait that now reaches the stop point becomes the stop.
        """
        slots = np.flatnonzero((self.state == _PLAYING) & (self.next_ev != _STOP) & (self.due > at))
        if not len(slots):
            return
        due = at + (self.due[slots] - at) * factor
        stop_at = self.last_ts[slots] + (self.stop_pos[slots] - self.pos[slots]) / 1000.0
        over = due >= stop_at
        self.next_ev[slots[over]] = _STOP
        self.due[slots] = np.where(over, stop_at, due)

    def _fill(self, n: int, at: float) -> None:
        """The first pool: ``n`` sittings, mid-flight (warm start) or pressing play from ``at``."""
        self._alloc(max(n, 16))
        slots = np.arange(n, dtype=np.int64)
        if self.params.warm_start:
            # Start the pool mid-flight a while before the run and let it play on
            # silently, so the first events already have the steady-state mix.
            # In chunks, so a pool of a million viewers never builds all its
            # fragments at once.
            # Two mean gaps between a viewer's events (at the run's activity) settle it.
            span = 2.0 / self._natural_rate(self.activity)
            before = at - span
            for chunk in np.array_split(slots, max(1, len(slots) // 65_536)):
                self._warm(chunk, before)
            t = before
            while t < at:
                t1 = min(at, t + span / 16.0)
                self._window(t, t1)
                t = t1
        else:
            due = at + self._rng.random(n) * min(self.mean_gap_s, 120.0)
            self._start_sittings(slots, due, at)

    @property
    def window_start(self) -> float:
        """The event time (epoch seconds) the next window of events starts at."""
        return self._t

    def prepare(self) -> None:
        """Fill the pool and let it settle (the costly part of the first window), now.

        A realtime run calls this before anchoring its schedule to the wall clock, then
        :meth:`rebase`, so the set-up time does not make every event late.
        """
        if not self._started:
            t0 = self._t
            self._control(t0, t0 + self._window_s(t0))

    def rebase(self, schedule: Schedule) -> None:
        """Move the run (and every viewer's timeline) to ``schedule``'s start."""
        delta = schedule.start - self.schedule.start
        self.due += delta
        self.last_ts += delta
        self._t += delta
        self.schedule = schedule

    def _window_s(self, t0: float) -> float:
        rate_at = self.schedule.rate_at
        offset = t0 - self.schedule.start
        rate = rate_at(offset)
        if rate > 0:
            # A rising rate: size the window by where it gets to.
            rate = max(rate, rate_at(offset + min(self.max_window_s, self.window_events / rate)))
        if rate <= 0:
            return self.max_window_s
        return min(self.max_window_s, max(self.MIN_WINDOW_S, self.window_events / rate))

    def next_block(self) -> EventBlock:
        """Generate the events of the next window of event time, in time order."""
        parts: list[_Part] = []
        while not parts:
            t0 = self._t
            t1 = t0 + self._window_s(t0)
            self._control(t0, t1)
            active = self.active_slots
            n = self._window(t0, t1, parts)
            self._t = t1
            # The viewers' event rate, as measured (it moves with the activity and the mix).
            if n and active:
                # Newcomers' PLAY_STARTs are the pool growing, not its steady rate.
                seen = max(n - self._arrived, 1) / (0.5 * (active + self.active_slots) * (t1 - t0))
                # A running mean over the first windows (the calibration's prior is a
                # reference pool, not this world), a slow moving one after.
                self._windows += 1
                weight = max(min(0.05, n / 200_000.0), 1.0 / (self._windows + 1))
                self.per_viewer_rate += weight * (seen - self.per_viewer_rate)
        ts = np.concatenate([p.ts for p in parts])
        # Time order; a viewer's events in the order they happened (stable, by pass).
        order = np.argsort(ts, kind="stable")
        n = len(ts)
        k0 = self.next_event
        self.next_event = k0 + n
        ks = np.arange(k0, k0 + n, dtype=np.int64)
        rung = np.concatenate([p.rung for p in parts])[order]
        tail = np.concatenate([p.tail for p in parts])[order]
        return EventBlock(
            first=k0,
            event_ts=ts[order],
            event_type=np.concatenate([p.ev for p in parts])[order].astype(np.int8),
            position_ms=np.concatenate([p.pos for p in parts])[order].astype(np.int64),
            bitrate_kbps=_LADDER[rung],
            seq=np.concatenate([p.seq for p in parts])[order].astype(np.int64),
            event_id=uuid_bytes(self._event_key, ks),
            head=np.concatenate([p.head for p in parts])[order].tolist(),
            tail=self._tails[tail.astype(np.int64) * len(_LADDER) + rung].tolist(),
        )

    def _advance(self, idx: IntArray, ts: FloatArray, *, keep: bool) -> _Part | None:
        """Emit one event for each slot of ``idx`` at ``ts`` and schedule its next one."""
        p = self.params
        rng = self._rng
        n = len(idx)
        ev = self.next_ev[idx].astype(np.int64)
        state = self.state[idx]
        playing = state == _PLAYING
        # The playhead moved by exactly the time played, in whole milliseconds.
        elapsed_ms = np.rint((ts - self.last_ts[idx]) * 1000.0)
        dur = self.dur[idx]
        pos = np.where(playing, self.pos[idx] + elapsed_ms, self.pos[idx])
        pos = np.minimum(pos, dur)
        is_stop = ev == _STOP

        # Seeks move the playhead (and the intended stop point with it), within the title.
        is_seek = ev == _SEEK
        if is_seek.any():
            s = np.flatnonzero(is_seek)
            m = len(s)
            tap = rng.random(m) < p.seek_tap_share
            dist = np.where(tap, 10_000.0, p.seek_scrub_median_s * 1000.0 * np.exp(rng.standard_normal(m)))
            sign = np.where(rng.random(m) < p.seek_forward_share, 1.0, -1.0)
            new = np.clip(pos[s] + sign * dist, 0.0, dur[s] - 1000.0).round()
            shift = new - pos[s]
            sl = idx[s]
            # A viewer who means to watch to the end still does after a seek.
            to_end = self.stop_pos[sl] >= dur[s]
            shifted = np.clip(self.stop_pos[sl] + shift, new + 1000.0, dur[s])
            self.stop_pos[sl] = np.where(to_end, dur[s], shifted)
            pos[s] = new

        part = None
        if keep:
            part = _Part(
                ts=ts,
                ev=ev,
                pos=pos,
                rung=self.rung[idx].astype(np.int64),
                seq=self.seq[idx].copy(),
                head=self.head[idx],
                tail=self.tail[idx].copy(),
            )
        self.pos[idx] = pos
        self.last_ts[idx] = ts
        self.seq[idx] += 1

        # Next event, by what just happened.
        quick = 1.0 / self.activity
        to_play = (ev == _START) | (ev == _RESUME) | (ev == _BEND)
        seek_buf = is_seek & (rng.random(n) < p.seek_buffer_prob)
        to_play |= is_seek & ~seek_buf
        sl = idx[to_play]
        self.state[sl] = _PLAYING
        self._schedule_playing(sl, ts[to_play])

        sl = idx[seek_buf]
        k = len(sl)
        self.next_ev[sl] = _BSTART
        self.due[sl] = ts[seek_buf] + rng.uniform(0.05, 0.25, k) * quick
        self.stall_s[sl] = rng.uniform(0.3, 1.5, k) * quick
        self.seek_stall[sl] = True

        m = ev == _BSTART
        sl = idx[m]
        self.state[sl] = _BUFFERING
        self.next_ev[sl] = _BEND
        self.due[sl] = ts[m] + self.stall_s[sl]

        # A connection stall may push the player down a rung.
        m = (ev == _BEND) & ~self.seek_stall[idx]
        sl = idx[m]
        down = rng.random(len(sl)) < 0.5
        self.rung[sl] = np.maximum(self.rung[sl] - down, 0)

        m = ev == _PAUSE
        sl = idx[m]
        self.state[sl] = _PAUSED
        used = idx[m | is_seek]
        self.unattended[used] = 0
        self.control_ts[used] = ts[m | is_seek]
        self._schedule_pause_end(sl, ts[m])

        if is_stop.any():
            self._end_sessions(idx[is_stop], ts[is_stop], pos[is_stop])
        return part

    def _end_sessions(self, slots: IntArray, ts: FloatArray, pos: FloatArray) -> None:
        """After PLAY_STOP: autoplay the next episode, start a new sitting, or retire the slot."""
        p = self.params
        rng = self._rng
        cat = self.world.catalog
        n = len(slots)
        nxt = cat.next_playable[self.playable[slots]]
        finished = pos >= self.dur[slots] - 1.0
        autoplay = (
            finished
            & (nxt >= 0)
            & (rng.random(n) < p.autoplay_prob)
            & (self.episodes[slots] < p.max_episodes_per_sitting)
        )
        if autoplay.any():
            a = np.flatnonzero(autoplay)
            sl = slots[a]
            gap = rng.uniform(*p.autoplay_gap_s, len(a))
            # "Are you still watching?" after a while without touching the controls: the
            # sitting ends there, or the viewer answers (a use of the controls).
            asked = (self.unattended[sl] >= p.still_watching_episodes) | (
                ts[a] - self.control_ts[sl] >= p.still_watching_s
            )
            stays = ~asked | (rng.random(len(a)) >= p.still_watching_stop_prob)
            answered = asked & stays
            answer_s = rng.uniform(*p.still_watching_answer_s, len(a))
            gap = (gap + np.where(answered, answer_s, 0.0)) / self.activity
            autoplay[a[~stays]] = False
            a, gap, answered = a[stays], gap[stays], answered[stays]
            sl = slots[a]
            self.unattended[sl] = np.where(answered, 0, self.unattended[sl] + 1)
            self.control_ts[sl] = np.where(answered, ts[a] + gap, self.control_ts[sl])
            self._start_sessions(sl, nxt[a], ts[a] + gap)
        rest = slots[~autoplay]
        rest_ts = ts[~autoplay]
        retire = min(self._excess, len(rest))
        if retire:
            gone = rest[len(rest) - retire :]
            self.state[gone] = _IDLE
            self.due[gone] = np.inf
            self._excess -= retire
            rest = rest[: len(rest) - retire]
            rest_ts = rest_ts[: len(rest_ts) - retire]
        if len(rest):
            self.episodes[rest] = 0
            due = rest_ts + rng.uniform(*p.browse_s, len(rest)) / self.activity
            self._start_sittings(rest, due, float(rest_ts[0]))

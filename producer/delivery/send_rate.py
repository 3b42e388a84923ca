"""A client-side send rate that finds a stream's quota.

Off until the stream first throttles, so an unthrottled run pays nothing for it. From
then on every call waits its turn under two limits, bytes and records per second, that
follow a CUBIC curve (RFC 9438, and the AWS SDKs' *adaptive* retry mode): on a
throttling signal both drop to ``beta`` times what the stream accepted over the last
second, then grow back, fast at first, flat around the old ceiling, and faster again
past it, until the stream throttles again. A call holds at most ``call_s`` worth of the
limit, so one call cannot overshoot the quota by much. The first cut waits for half a
second of sending: what a stream accepts in its first calls, from the burst an idle
stream holds, says little of its rate.

Throttling that does not follow the rate (a hot partition, a short internal failure:
the same share of records refused however slowly one sends) must not drive the rate
down: after a cut, if the share throttled among the calls sent below the old ceiling
has not fallen, the cut is undone and that share is taken as the stream's background;
only throttling above it counts as a signal from then on. The background decays to the
lowest share seen since.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SendRate"]

logger = logging.getLogger(__name__)


class SendRate:
    """The send rate of one stream."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        beta: float = 0.8,
        recovery_s: float = 3.0,
        window_s: float = 1.0,
        burst_s: float = 0.05,
        call_s: float = 0.1,
        margin: float = 0.05,
        evidence: int = 400,
        min_records: int = 50,
    ) -> None:
        self.clock = clock
        self.beta = beta
        #: Seconds the curve takes to climb back to the ceiling after a cut.
        self.recovery_s = recovery_s
        self._c = (1.0 - beta) / recovery_s**3
        self.window_s = window_s
        self.burst_s = burst_s
        self.call_s = call_s
        self.margin = margin
        #: Records sent after a cut by which it is judged (did the throttled share fall?);
        #: a clear answer may come after a quarter of them.
        self.evidence = evidence
        #: Records in the last window below which throttling never cuts the rate.
        self.min_records = min_records
        #: False until the first throttling signal: no limit, no bookkeeping but the window.
        self.active = False
        #: The ceilings of the curve (what the stream accepted when it last throttled).
        self.ceiling_bytes = math.inf
        self.ceiling_records = math.inf
        self.cuts = 0
        #: Share of records throttled whatever the rate.
        self.background = 0.0
        self._cut_at = -math.inf
        self._share_at_cut = 0.0
        self._judged = True
        # Per call, in send order: (sent_at, records, bytes, accepted records, accepted bytes, throttled).
        self._window: deque[tuple[float, int, int, int, int, int]] = deque()
        self._since_cut = [0, 0]  # records and throttled records sent after the last cut
        self._calls_since_cut = 0
        self._turn = -math.inf
        self._first_sent: float | None = None

    # -- limits -----------------------------------------------------------------------

    def factor(self, now: float) -> float:
        """Where the curve is, as a share of the ceiling."""
        t = now - self._cut_at
        return 1.0 + self._c * (t - self.recovery_s) ** 3

    def limits(self, now: float | None = None) -> tuple[float, float]:
        """(bytes/s, records/s) a call may be sent at now (infinite while inactive)."""
        if not self.active:
            return math.inf, math.inf
        now = self.clock() if now is None else now
        f = self.factor(now)
        sent_records, sent_bytes = self._sent_rate(now)
        # Never more than twice what is being sent: a quiet spell does not bank a burst.
        return (
            max(1.0, min(f * self.ceiling_bytes, 2.0 * max(sent_bytes, self.ceiling_bytes * self.beta))),
            max(
                1.0, min(f * self.ceiling_records, 2.0 * max(sent_records, self.ceiling_records * self.beta))
            ),
        )

    def call_budget(self) -> tuple[int, int] | None:
        """(bytes, records) one call may hold now, or None while inactive."""
        if not self.active:
            return None
        per_s_bytes, per_s_records = self.limits()
        return int(per_s_bytes * self.call_s), max(1, int(per_s_records * self.call_s))

    def reserve(self, nbytes: int, nrecords: int) -> float:
        """Seconds to wait before a call of this size may go; its turn is taken."""
        if not self.active:
            return 0.0
        now = self.clock()
        per_s_bytes, per_s_records = self.limits(now)
        # Virtual scheduling (GCRA): each call moves the next turn on by what it costs.
        send_at = max(now, self._turn - self.burst_s)
        self._turn = max(self._turn, send_at) + max(nbytes / per_s_bytes, nrecords / per_s_records)
        return send_at - now

    # -- feedback ----------------------------------------------------------------------

    def accepting(self, now: float | None = None) -> tuple[float, float]:
        """(bytes/s, records/s) the stream accepted over the last window."""
        now = self.clock() if now is None else now
        self._trim(now)
        # Over the whole window, even in the first second: one call says nothing of a rate.
        span = self.window_s
        return (sum(w[4] for w in self._window) / span, sum(w[3] for w in self._window) / span)

    def record(
        self, sent_at: float, records: int, nbytes: int, accepted: int, accepted_bytes: int, throttled: int
    ) -> None:
        """A call sent at ``sent_at`` came back: of its ``records`` (``nbytes``), ``accepted``
        were accepted (``accepted_bytes``) and ``throttled`` throttled."""
        now = self.clock()
        if self._first_sent is None:
            self._first_sent = sent_at
        self._window.append((sent_at, records, nbytes, accepted, accepted_bytes, throttled))
        self._trim(now)
        if not self.active and not throttled:
            return
        if sent_at >= self._cut_at:
            self._since_cut[0] += records
            self._since_cut[1] += throttled
            self._calls_since_cut += 1
        if not self._judged and self._since_cut[0] >= self.evidence // 4 and self._calls_since_cut >= 3:
            self._judge(now)
        if window_records := sum(w[1] for w in self._window):
            window_share = sum(w[5] for w in self._window) / window_records
            if window_records >= self.evidence // 4:
                self.background = min(self.background, window_share)
        if not throttled or sent_at < self._cut_at or not self._judged:
            return
        # Only calls sent since the last cut speak for the rate of now.
        n = t = 0
        for w in self._window:
            if w[0] >= self._cut_at:
                n += w[1]
                t += w[5]
        share, b = t / max(n, 1), self.background
        # Above the background by more than chance would put it, given the records seen
        # (and enough of them: a few records a second say nothing of a quota).
        # Not before a whole window of sending either: what a stream accepts in its first
        # tenth of a second says nothing of its rate.
        seasoned = self._first_sent is not None and now - self._first_sent >= 0.5 * self.window_s
        if (
            seasoned
            and n >= self.min_records
            and share > b + self.margin + 2.0 * math.sqrt(b * (1.0 - b) / n)
        ):
            self._cut(now, share)

    def _cut(self, now: float, share: float) -> None:
        accepted_bytes, accepted_records = self.accepting(now)
        if not accepted_records:
            # Nothing accepted: an outage, not a quota; the records' backoff handles it.
            return
        # What the stream accepts now, but after a burst (a stream idle before holds one)
        # the ceiling comes down by steps rather than all at once.
        if self.active:
            accepted_bytes = max(accepted_bytes, self.beta * self.ceiling_bytes)
            accepted_records = max(accepted_records, self.beta * self.ceiling_records)
        self.ceiling_bytes = accepted_bytes
        self.ceiling_records = accepted_records
        self.active = True
        self.cuts += 1
        self._cut_at = now
        self._share_at_cut = share
        self._since_cut = [0, 0]
        self._calls_since_cut = 0
        self._judged = False
        logger.debug(
            "send rate cut to %.0f B/s, %.0f records/s (%.0f %% throttled)",
            self.beta * self.ceiling_bytes, self.beta * self.ceiling_records, 100 * share,
        )  # fmt: skip

    def _judge(self, now: float) -> None:
        """Calls sent since the cut are back: did sending slower lower the share throttled?

        A sequential test: throttled as often (0.9 to 1.4 times a share at the cut of over
        twice the margin) while sending no faster than the stream accepted, and the cut is
        undone (a ceiling set too high by a burst leaves the share as high or higher); far less often
        (at most 0.6 of it), or still in between after ``evidence`` records, and it stands.
        """
        records, throttled = self._since_cut
        share = throttled / max(records, 1)
        sent_per_s = records / max(now - self._cut_at, 1e-3)
        steady = 0.9 * self._share_at_cut <= share <= 1.4 * self._share_at_cut
        if steady and self._share_at_cut > 2 * self.margin and sent_per_s <= self.ceiling_records:
            self._judged = True
            self.background = share
            self.active = False
            self.ceiling_bytes = self.ceiling_records = math.inf
            self._cut_at = -math.inf
            logger.debug("send rate cut undone: %.0f %% throttled whatever the rate", 100 * share)
        elif share <= 0.6 * self._share_at_cut or records >= self.evidence:
            self._judged = True

    def _sent_rate(self, now: float) -> tuple[float, float]:
        self._trim(now)
        span = self.window_s
        return sum(w[1] for w in self._window) / span, sum(w[2] for w in self._window) / span

    def _trim(self, now: float) -> None:
        window = self._window
        while window and window[0][0] < now - self.window_s:
            window.popleft()

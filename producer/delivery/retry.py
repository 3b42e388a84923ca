"""Delivery with retries: the seam between the producer and a remote API.

A :class:`Transport` makes one call (one PutRecordBatch, one PutRecords) and says
which records failed. :class:`DeliverySink` turns a transport into a
:class:`~producer.sinks.base.Sink` with the semantics AWS asks of producers, the way
the Kinesis Producer Library does it:

- every batch handed in goes into one outbox; calls take records from it, records to
  resend first (once their backoff is over), then new ones, so a record that failed
  goes out again in a later call beside other records, and no call waits for it;
- a client-side :class:`~producer.delivery.send_rate.SendRate` paces the calls once the
  stream throttles, so a producer with more to send than the stream takes sends about
  what it accepts;
- throttled records are resent for up to ``max_retry_time_s`` since their first send;
  other retryable failures (per record, or a whole call: a 5xx, a timeout) for up to
  ``max_attempts`` sends; each resend after capped exponential backoff with full jitter.
  A record that runs out comes back as a failure with its last error, for the
  dead-letter file;
- non-retryable errors (stream not found, access denied, bad request, no
  credentials) stop the run with one line; so do an endpoint that stays unreachable
  through every attempt and a stream that accepts nothing for the whole retry time.

Order: a resent record lands after records first sent later than it (Firehose promises
no order; for Kinesis, records of one partition key can land out of order after a
retry, as with the SDKs' own retries).

The transports (``sinks/aws/``) only translate: they never retry, and the SDK's own
retries are switched off, so every attempt is counted.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from producer.delivery.batching import MAX_BATCH_BYTES, MAX_RECORDS_PER_BATCH
from producer.delivery.send_rate import SendRate
from producer.errors import SinkError, TransportError
from producer.sinks.base import THROTTLING_CODES, BatchResult, RecordFailure

__all__ = [
    "THROTTLING_CODES",
    "DeliverySink",
    "Outbox",
    "RetryPolicy",
    "SyncDelivery",
    "SyncTransport",
    "Transport",
    "TransportError",
]

logger = logging.getLogger(__name__)


class Transport(Protocol):
    """Makes one call with ``records``; returns the failed ones as (index, code, message)."""

    name: str

    async def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        """Send the records in one call; raise :class:`TransportError` if the call failed."""
        ...

    async def aclose(self) -> None:
        """Release the client."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How long a record is retried, and the backoff between its sends.

    Backoff: capped exponential with full jitter (AWS Architecture Blog, 2015).
    """

    max_attempts: int = 8
    #: Throttled records are retried this long after their first send, however many sends.
    max_retry_time_s: float = 60.0
    base_s: float = 0.1
    cap_s: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt`` (2, 3, ...)."""
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2 ** (attempt - 2)))


_PENDING, _ACCEPTED, _FAILED = 0, 1, 2


class _Ticket:
    """One batch handed in: its records' states, and what it cost, until all are settled."""

    __slots__ = ("calls", "done", "error", "failures", "latencies", "left", "records", "retried",
                 "state", "throttled", "waiter")  # fmt: skip

    def __init__(self, records: Sequence[bytes]) -> None:
        self.records = records
        self.left = len(records)
        self.state = bytearray(len(records))
        self.failures: dict[int, tuple[str, str, int]] = {}  # index: code, message, attempts
        self.retried = self.throttled = self.calls = 0
        self.latencies: list[float] = []
        self.done = False
        self.error: SinkError | None = None
        #: Set by the driver: what wakes whoever waits for the batch.
        self.waiter: Callable[[], None] | None = None

    def result(self) -> BatchResult:
        failures = tuple(
            RecordFailure(index=i, code=code, message=message, attempts=attempts)
            for i, (code, message, attempts) in sorted(self.failures.items())
        )
        return BatchResult(
            delivered=len(self.records) - len(failures),
            failures=failures,
            retried=self.retried,
            throttled=self.throttled,
            calls=self.calls,
            latencies_ms=tuple(self.latencies),
        )


class _Resend:
    """A record that failed, waiting to go out again."""

    __slots__ = ("attempts", "code", "first_at", "index", "message", "ready_at", "ticket")

    def __init__(self, ticket: _Ticket, index: int, first_at: float) -> None:
        self.ticket = ticket
        self.index = index
        self.first_at = first_at
        self.attempts = 1
        self.ready_at = first_at
        self.code = self.message = ""


class _Call:
    """The records of one call: resends first, then runs of new records (ticket, start, end)."""

    __slots__ = ("nbytes", "records", "resends", "runs", "sent_at")

    def __init__(self) -> None:
        self.resends: list[_Resend] = []
        self.runs: list[tuple[_Ticket, int, int]] = []
        self.records: list[bytes] = []
        self.nbytes = 0
        self.sent_at = 0.0

    def owner(self) -> _Ticket:
        """The batch the call is counted against (its first record's)."""
        return self.resends[0].ticket if self.resends else self.runs[0][0]


class Outbox:
    """The records waiting to be sent, and what each call's answer does to them, without I/O.

    Driven by :class:`DeliverySink` (asyncio) and :class:`SyncDelivery` (threads, gevent,
    locust) alike, so both behave the same.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        rng: random.Random,
        *,
        what: str,
        clock: Callable[[], float] = time.monotonic,
        rate: SendRate | None = None,
        max_records: int = MAX_RECORDS_PER_BATCH,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self.policy = policy
        self._rng = rng
        self.what = what
        self.clock = clock
        self.rate = rate if rate is not None else SendRate(clock=clock)
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._new: deque[list[object]] = deque()  # [ticket, next index]
        self._resends: list[_Resend] = []  # in the order they failed
        self._tickets: set[_Ticket] = set()
        #: Records handed in and not settled yet (waiting, in a call, or to be resent).
        self.backlog = 0
        self.in_flight = 0
        # Records that failed in one call and have been sent as often go out again together.
        self._delays: dict[int, float] = {}
        self.fatal: SinkError | None = None
        self.last_accepted_at = clock()

    def add(self, records: Sequence[bytes]) -> _Ticket:
        ticket = _Ticket(records)
        if self.fatal is not None:
            self._fail_all([ticket])
            return ticket
        if records:
            self._new.append([ticket, 0])
            self._tickets.add(ticket)
            self.backlog += len(records)
        else:
            ticket.done = True
        return ticket

    def wait_s(self) -> float | None:
        """Seconds until a call can be taken (0: now), or None when nothing waits."""
        if self.fatal is not None:
            return None
        if self._new:
            return 0.0
        if not self._resends:
            return None
        return max(0.0, min(r.ready_at for r in self._resends) - self.clock())

    def take(self) -> _Call | None:
        """The next call's records, within the API's limits and the send rate's budget."""
        if self.fatal is not None:
            return None
        call = _Call()
        budget = self.rate.call_budget()
        max_records, max_bytes = self.max_records, self.max_bytes
        if budget is not None:
            max_bytes, max_records = min(max_bytes, budget[0]), min(max_records, budget[1])
        if not self._resends and budget is None and self._new:
            # The common case: a batch cut to the limits already, nothing to resend.
            ticket, start = self._new[0]
            assert isinstance(ticket, _Ticket) and isinstance(start, int)
            if start == 0 and len(ticket.records) <= max_records:
                nbytes = sum(map(len, ticket.records))
                if nbytes <= max_bytes:
                    self._new.popleft()
                    call.runs.append((ticket, 0, len(ticket.records)))
                    call.records = list(ticket.records)
                    call.nbytes = nbytes
                    return call
        now = self.clock()
        if self._resends:
            keep: list[_Resend] = []
            for r in self._resends:
                size = len(r.ticket.records[r.index])
                fits = len(call.records) < max_records and (
                    call.nbytes + size <= max_bytes or not call.records
                )
                if r.ready_at <= now and fits:
                    call.resends.append(r)
                    call.records.append(r.ticket.records[r.index])
                    call.nbytes += size
                else:
                    keep.append(r)
            self._resends = keep
        while self._new and len(call.records) < max_records:
            head = self._new[0]
            ticket, start = head
            assert isinstance(ticket, _Ticket) and isinstance(start, int)
            end = start
            records = ticket.records
            room = max_records - len(call.records)
            while end < len(records) and end - start < room:
                size = len(records[end])
                if call.nbytes + size > max_bytes and call.records:
                    break
                call.records.append(records[end])
                call.nbytes += size
                end += 1
            if end > start:
                call.runs.append((ticket, start, end))
            if end < len(records):
                head[1] = end
                break
            self._new.popleft()
        return call if call.records else None

    def started(self, call: _Call) -> None:
        call.sent_at = self.clock()
        self.in_flight += 1

    def _items(self, call: _Call) -> list[tuple[_Ticket, int, _Resend | None]]:
        items: list[tuple[_Ticket, int, _Resend | None]] = [(r.ticket, r.index, r) for r in call.resends]
        for ticket, start, end in call.runs:
            items.extend((ticket, i, None) for i in range(start, end))
        return items

    def _delay(self, attempts: int) -> float:
        delay = self._delays.get(attempts)
        if delay is None:
            delay = self._delays[attempts] = self.policy.delay(attempts + 1, self._rng)
        return delay

    def answered(self, call: _Call, failed: list[tuple[int, str, str]], latency_ms: float) -> None:
        """The call returned; ``failed`` lists its records that failed (index in the call)."""
        self._answered(call, failed, latency_ms)
        self.settle_if_stopped()

    def failed(self, call: _Call, exc: TransportError, latency_ms: float) -> None:
        """The whole call failed."""
        self._failed(call, exc, latency_ms)
        self.settle_if_stopped()

    def _answered(self, call: _Call, failed: list[tuple[int, str, str]], latency_ms: float) -> None:
        self.in_flight -= 1
        self._delays.clear()
        now = self.clock()
        owner = call.owner()
        owner.calls += 1
        owner.latencies.append(latency_ms)
        throttled = sum(1 for _, code, _ in failed if code in THROTTLING_CODES)
        failed_bytes = sum(len(call.records[j]) for j, _, _ in failed) if failed else 0
        n = len(call.records)
        self.rate.record(call.sent_at, n, call.nbytes, n - len(failed), call.nbytes - failed_bytes, throttled)
        if len(failed) < len(call.records):
            self.last_accepted_at = now
        if not failed and not call.resends:
            for ticket, start, end in call.runs:
                ticket.state[start:end] = b"\x01" * (end - start)
                self._settled(ticket, end - start)
            return
        bad = {j: (code, message) for j, code, message in failed}
        partly = now - self.last_accepted_at < 1.0
        for j, (ticket, index, resend) in enumerate(self._items(call)):
            if ticket.done:
                continue
            if resend is not None:
                ticket.retried += 1
            if j in bad:
                code, message = bad[j]
                self._retry_or_fail(ticket, index, resend, code, message, call.sent_at, now, partly)
            else:
                ticket.state[index] = _ACCEPTED
                self._settled(ticket, 1)

    def _failed(self, call: _Call, exc: TransportError, latency_ms: float) -> None:
        self.in_flight -= 1
        self._delays.clear()
        now = self.clock()
        owner = call.owner()
        owner.calls += 1
        owner.latencies.append(latency_ms)
        throttling = exc.code in THROTTLING_CODES
        self.rate.record(
            call.sent_at, len(call.records), call.nbytes, 0, 0, len(call.records) if throttling else 0
        )
        if not exc.retryable:
            for ticket, index, resend in self._items(call):
                if not ticket.done:
                    self._give_up(ticket, index, exc.code, exc.message, resend.attempts + 1 if resend else 1)
            self._stop(SinkError(exc.message))
            return
        logger.debug("call failed: %s", exc)
        for ticket, index, resend in self._items(call):
            if ticket.done:
                continue
            if resend is not None:
                ticket.retried += 1
            self._retry_or_fail(ticket, index, resend, exc.code, exc.message, call.sent_at, now)

    def _retry_or_fail(
        self, ticket: _Ticket, index: int, resend: _Resend | None, code: str, message: str, sent_at: float,
        now: float, partly: bool = False,
    ) -> None:  # fmt: skip
        """Queue a failed record to be resent, or give it up. ``partly``: the stream accepted
        records within the last second (it takes records, it does not refuse them all)."""
        if resend is None:
            resend = _Resend(ticket, index, sent_at)
        else:
            resend.attempts += 1
        resend.code, resend.message = code, message
        if self.fatal is not None:
            self._give_up(ticket, index, code, message, resend.attempts)
            return
        policy = self.policy
        throttled = code in THROTTLING_CODES
        if throttled:
            ticket.throttled += 1
        if throttled or code in _UNREACHABLE:
            # Retried for a time, not a count: a stream at its quota or an endpoint
            # restarting takes records again once it can.
            waited = now - resend.first_at
            if waited < policy.max_retry_time_s:
                # The send rate paces the resends of records throttled by a stream that takes
                # others: a short backoff is enough.
                cap = _PARTLY_CAP_S if partly else policy.cap_s
                resend.ready_at = now + min(self._delay(resend.attempts), cap)
                self._resends.append(resend)
                return
            if code in _UNREACHABLE:
                self._give_up(ticket, index, code, message, resend.attempts)
                self._stop(SinkError(message))
                return
            if now - self.last_accepted_at >= policy.max_retry_time_s:
                self._give_up(ticket, index, code, message, resend.attempts)
                self._stop(SinkError(f"{self.what} accepted nothing for {waited:.0f} s: {message}"))
                return
            message = f"{message} (throttled for {waited:.0f} s over {resend.attempts} sends)"
        elif resend.attempts < policy.max_attempts:
            resend.ready_at = now + self._delay(resend.attempts)
            self._resends.append(resend)
            return
        self._give_up(ticket, index, code, message, resend.attempts)
        self._settled(ticket, 1)

    @staticmethod
    def _give_up(ticket: _Ticket, index: int, code: str, message: str, attempts: int) -> None:
        ticket.failures[index] = (code, message, attempts)
        ticket.state[index] = _FAILED

    def _settled(self, ticket: _Ticket, n: int) -> None:
        ticket.left -= n
        self.backlog -= n
        if ticket.left <= 0 and not ticket.done:
            ticket.done = True
            self._tickets.discard(ticket)
            if ticket.waiter is not None:
                ticket.waiter()

    def _stop(self, error: SinkError) -> None:
        """Stop for good: nothing more is sent; batches settle once the calls in flight are back."""
        if self.fatal is None:
            self.fatal = error
        for r in self._resends:
            if not r.ticket.done:
                self._give_up(r.ticket, r.index, r.code, r.message, r.attempts)
        self._new.clear()
        self._resends.clear()

    def settle_if_stopped(self) -> None:
        if self.fatal is not None and self.in_flight == 0:
            self._fail_all(list(self._tickets))

    def _fail_all(self, tickets: list[_Ticket]) -> None:
        """Settle the batches of a stopped outbox: what was never sent is NotSent."""
        assert self.fatal is not None
        message = str(self.fatal)
        for ticket in tickets:
            unsent = ("NotSent", f"run stopped before sending: {message}", 0)
            for i, state in enumerate(ticket.state):
                if state == _PENDING:
                    ticket.failures[i] = unsent
            ticket.error = SinkError(message, result=ticket.result())
            self.backlog -= ticket.left
            ticket.left = 0
            ticket.done = True
            self._tickets.discard(ticket)
            if ticket.waiter is not None:
                ticket.waiter()


class DeliverySink:
    """A sink that delivers through a :class:`Transport`: one outbox, paced calls, resends."""

    def __init__(
        self,
        transport: Transport,
        *,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        opener: Callable[[], Awaitable[str]] | None = None,
        max_in_flight: int = 4,
        rate: SendRate | None = None,
        max_records: int = MAX_RECORDS_PER_BATCH,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self.transport = transport
        self.name = transport.name
        self.policy = policy or RetryPolicy()
        self.outbox = Outbox(
            self.policy, rng or random.Random(), what=getattr(transport, "what", self.name), clock=clock,
            rate=rate, max_records=max_records, max_bytes=max_bytes,
        )  # fmt: skip
        self._sleep = sleep or asyncio.sleep
        self._opener = opener
        self.max_in_flight = max_in_flight
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self.closed = False

    @property
    def rate(self) -> SendRate:
        return self.outbox.rate

    @property
    def backlog(self) -> int:
        """Records handed in and not settled yet: what the dispatcher's backpressure counts."""
        return self.outbox.backlog

    @property
    def calls_in_flight(self) -> int:
        """Calls sent and not answered yet."""
        return len(self._calls)

    async def open(self) -> str:
        """Check the destination before the run (e.g. DescribeDeliveryStream); describe it."""
        if self._opener is None:
            return self.name
        return await self._opener()

    async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        """Hand a batch to the outbox; return what was confirmed once all of it is settled."""
        if self.closed:
            msg = f"{self.name}: send_batch after the sink was closed"
            raise SinkError(msg)
        ticket = self.outbox.add(records)
        if not ticket.done:
            settled = asyncio.get_running_loop().create_future()

            def wake() -> None:
                if not settled.done():
                    settled.set_result(None)

            ticket.waiter = wake
            if self._pump is None or self._pump.done():
                self._pump = asyncio.create_task(self._run())
            self._wake.set()
            await settled
        if ticket.error is not None:
            raise ticket.error
        return ticket.result()

    async def _run(self) -> None:
        """Take calls from the outbox while it holds records: at most ``max_in_flight`` at once."""
        outbox = self.outbox
        while True:
            wait = outbox.wait_s()
            if wait is None:
                if outbox.fatal is not None or not self._calls:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if wait > 0 or len(self._calls) >= self.max_in_flight:
                self._wake.clear()
                await self._wait(wait if wait > 0 else None)
                continue
            call = outbox.take()
            if call is None:
                self._wake.clear()
                await self._wait(0.01)
                continue
            turn = outbox.rate.reserve(call.nbytes, len(call.records))
            if turn > 0:
                await self._sleep(turn)
            outbox.started(call)
            task = asyncio.create_task(self._call(call))
            self._calls.add(task)

    async def _wait(self, timeout: float | None) -> None:
        """Until a call comes back or a batch comes in, or ``timeout`` seconds pass."""
        if timeout is None:
            await self._wake.wait()
            return
        waker = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._sleep(timeout))
        await asyncio.wait((waker, sleeper), return_when=asyncio.FIRST_COMPLETED)
        waker.cancel()
        sleeper.cancel()

    async def _call(self, call: _Call) -> None:
        started = time.perf_counter()
        try:
            failed = await self.transport.put(call.records)
        except TransportError as exc:
            self.outbox.failed(call, exc, (time.perf_counter() - started) * 1000.0)
        except BaseException as exc:
            self.outbox.failed(call, TransportError(type(exc).__name__, str(exc), retryable=False), 0.0)
            raise
        else:
            self.outbox.answered(call, failed, (time.perf_counter() - started) * 1000.0)
        finally:
            self._calls.discard(asyncio.current_task())
            self._wake.set()

    async def aclose(self) -> None:
        """Close the transport."""
        if not self.closed:
            self.closed = True
            if self._pump is not None and not self._pump.done():
                self._pump.cancel()
            await self.transport.aclose()


class SyncTransport(Protocol):
    """A blocking :class:`Transport` (boto3), for threads and gevent."""

    name: str

    def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        """Send the records in one call; raise :class:`TransportError` if the call failed."""
        ...


class SyncDelivery:
    """The same delivery as :class:`DeliverySink`, blocking (for locust users: greenlets, not threads).

    Each caller makes one call at a time. Callers in several greenlets (the users of one
    locust worker) share the outbox and its send rate: any of them sends what is next,
    resends included, and each returns once its own batch is settled.
    """

    def __init__(
        self,
        transport: SyncTransport,
        *,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rate: SendRate | None = None,
        max_records: int = MAX_RECORDS_PER_BATCH,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self.transport = transport
        self.policy = policy or RetryPolicy()
        self.outbox = Outbox(
            self.policy, rng or random.Random(), what=getattr(transport, "what", transport.name), clock=clock,
            rate=rate, max_records=max_records, max_bytes=max_bytes,
        )  # fmt: skip
        self._sleep = sleep

    def send_batch(self, records: Sequence[bytes]) -> BatchResult:
        """Deliver one batch, resending failed records; return what was confirmed."""
        outbox = self.outbox
        ticket = outbox.add(records)
        while not ticket.done:
            wait = outbox.wait_s()
            if wait is None:
                # The batch's last records are in a call another user of this delivery made.
                self._sleep(_SHARED_POLL_S)
                continue
            if wait > 0:
                self._sleep(min(wait, _SHARED_POLL_S) if outbox.in_flight else wait)
                continue
            call = outbox.take()
            if call is None:
                self._sleep(_SHARED_POLL_S)
                continue
            turn = outbox.rate.reserve(call.nbytes, len(call.records))
            if turn > 0:
                self._sleep(turn)
            outbox.started(call)
            started = time.perf_counter()
            try:
                failed = self.transport.put(call.records)
            except TransportError as exc:
                outbox.failed(call, exc, (time.perf_counter() - started) * 1000.0)
            else:
                outbox.answered(call, failed, (time.perf_counter() - started) * 1000.0)
        if ticket.error is not None:
            raise ticket.error
        return ticket.result()


#: How often a blocking caller looks again while its records are in another caller's call.
_SHARED_POLL_S = 0.005

#: Longest backoff of a record throttled in a call that had others accepted.
_PARTLY_CAP_S = 0.25

#: Transport error codes that mean the endpoint cannot be reached at all.
_UNREACHABLE = frozenset({"EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"})

"""The locust side of a swarm: users, command-line options and request events.

Only ``locustfile.py`` imports this module (locust monkey-patches the process when it
is imported), so importing :mod:`producer` never imports locust. See the locustfile
and docs/load-testing.md for how a swarm is run.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

from locust import LoadTestShape, User, constant, constant_throughput, events, task
from locust.exception import StopUser

from producer.config.scenario import resolve_run
from producer.config.settings import Settings
from producer.delivery.deadletter import DeadLetterFile
from producer.errors import ProducerError, SinkError
from producer.loadtest.swarm import SwarmCounters, WorkerShare, swarm_batcher
from producer.runtime.rate import Schedule
from producer.runtime.rate import constant as constant_rate
from producer.sinks.registry import stream_delivery

__all__ = ["COUNTERS", "FirehoseUser", "KinesisUser", "ScenarioShape", "StreamUser"]

COUNTERS = SwarmCounters()
_LAST_REPORT: dict[str, int] = {}
_STATE: dict[str, Any] = {}
_LOCK = threading.Lock()


def _options(parser: Any) -> None:
    group = parser.add_argument_group("netflix-producer")
    group.add_argument(
        "--scenario",
        env_var="NETFLIX_PRODUCER_SCENARIO",
        default="",
        help="Scenario name or file (seed, population, faults...)",
    )
    group.add_argument(
        "--stream-name",
        env_var="NETFLIX_PRODUCER_STREAM",
        default="",
        help="Stream name (default: from --host firehose://NAME or kinesis://NAME)",
    )
    group.add_argument(
        "--stream-kind",
        env_var="NETFLIX_PRODUCER_STREAM_KIND",
        default="",
        choices=["", "firehose", "kinesis"],
        help="firehose (default) or kinesis",
    )
    group.add_argument(
        "--records-per-batch",
        type=int,
        env_var="NETFLIX_PRODUCER_BATCH_RECORDS",
        default=500,
        help="Records per PutRecordBatch/PutRecords call (at most 500)",
    )
    group.add_argument(
        "--events-per-user",
        type=float,
        env_var="NETFLIX_PRODUCER_EVENTS_PER_USER",
        default=0.0,
        help="Events per second per user (0: as fast as possible)",
    )
    group.add_argument(
        "--endpoint-url",
        env_var="NETFLIX_PRODUCER_ENDPOINT_URL",
        default="",
        help="AWS endpoint (a local moto server...); AWS_ENDPOINT_URL also works",
    )
    group.add_argument(
        "--transport",
        env_var="NETFLIX_PRODUCER_TRANSPORT",
        default="",
        choices=["", "botocore", "fast"],
        help="fast (the default: the call built, signed and sent over urllib3) or botocore (a boto3 client)",
    )
    group.add_argument("--region", env_var="NETFLIX_PRODUCER_REGION", default="", help="AWS region")
    group.add_argument(
        "--transport-faults",
        env_var="NETFLIX_PRODUCER_TRANSPORT_FAULTS",
        default="",
        help="Rehearsal: throttle_rate=0.3,call_failure_rate=0.05,quota=1MiB/s",
    )
    group.add_argument(
        "--max-attempts",
        type=int,
        env_var="NETFLIX_PRODUCER_MAX_ATTEMPTS",
        default=8,
        help="Sends of a record failing otherwise than throttled or unreachable before it is dead-lettered",
    )
    group.add_argument(
        "--max-retry-time",
        env_var="NETFLIX_PRODUCER_MAX_RETRY_TIME",
        default="60s",
        help="How long a throttled or unreachable record is resent before it is dead-lettered",
    )
    group.add_argument(
        "--seed",
        type=int,
        env_var="NETFLIX_PRODUCER_SEED",
        default=None,
        help="Swarm seed (each worker derives its own)",
    )
    group.add_argument(
        "--accounts",
        type=int,
        env_var="NETFLIX_PRODUCER_ACCOUNTS",
        default=100_000,
        help="Accounts per worker (each worker owns its own user id range)",
    )
    group.add_argument(
        "--dead-letter",
        env_var="NETFLIX_PRODUCER_DEAD_LETTER",
        default="dead-letters.ndjson",
        help="Dead-letter file of each process",
    )
    group.add_argument(
        "--netflix-summary",
        env_var="NETFLIX_PRODUCER_SUMMARY_JSON",
        default="",
        help="Write the swarm's record counts here as JSON at the end",
    )


def _settings(options: Any, host: str | None) -> tuple[Settings, str]:
    scheme, _, name = (host or "").partition("://")
    kind = options.stream_kind or (scheme if scheme in ("firehose", "kinesis") else "firehose")
    flags: dict[str, Any] = {
        "stream": options.stream_name or name or None,
        "region": options.region or None,
        "endpoint_url": options.endpoint_url or None,
        "max_attempts": options.max_attempts,
        "max_retry_time": options.max_retry_time,
        "seed": options.seed,
        "accounts": options.accounts,
        "rate": f"{max(options.events_per_user, 1.0):g}/s",
        "dead_letter": options.dead_letter,
        "transport": options.transport or None,  # else the scenario's, else fast
    }
    for item in filter(None, (options.transport_faults or "").split(",")):
        key, _, value = item.partition("=")
        if key.strip() not in ("throttle_rate", "call_failure_rate", "quota"):
            msg = f"invalid --transport-faults {item!r}: use throttle_rate=, call_failure_rate=, quota="
            raise ProducerError(msg)
        flags[key.strip()] = value.strip()
    settings = resolve_run(
        {k: v for k, v in flags.items() if v is not None}, scenario=options.scenario or None
    )
    return settings, kind


def _state(environment: Any) -> dict[str, Any]:
    """This process's share of the swarm, built once (the first user pays for it)."""
    with _LOCK:
        if not _STATE:
            options = environment.parsed_options
            settings, kind = _settings(options, environment.host)
            index = max(getattr(environment.runner, "worker_index", 0), 0)
            users = max(getattr(environment.runner, "target_user_count", 1) or 1, 1)
            nominal = (options.events_per_user or 1000.0) * users
            # Unpaced users send as fast as they can, and under a ScenarioShape the number
            # of users follows the shape: either way the viewers follow the pace kept.
            shaped = _shaped(environment)
            follow = time.time if options.events_per_user <= 0 or shaped else None
            if shaped:
                settings = dataclasses.replace(settings, shape=constant_rate(nominal))
            share = WorkerShare(settings, index, nominal_rate=nominal, follow=follow)
            delivery, _ = stream_delivery(settings, kind, seed=share.seed, blocking=True)
            batcher = swarm_batcher(kind, options.records_per_batch)
            _STATE.update(
                kind=kind, share=share, delivery=delivery, batcher=batcher, index=index,
                dead=DeadLetterFile(Path(options.dead_letter)),
                request_type="Kinesis" if kind == "kinesis" else "Firehose",
                name="PutRecords" if kind == "kinesis" else "PutRecordBatch",
            )  # fmt: skip
        return _STATE


class StreamUser(User):
    """A viewer population shipping its events in batches; see FirehoseUser, KinesisUser."""

    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        if options.events_per_user > 0:
            # constant_throughput paces tasks (one task is one batch). It is written to be a
            # class attribute, so bind it to this user, whose pacing state it keeps.
            pacing = constant_throughput(options.events_per_user / max(options.records_per_batch, 1))
            self.wait_time = types.MethodType(pacing, self)  # type: ignore[method-assign]
        try:
            self.state = _state(self.environment)
        except ProducerError as exc:
            self.environment.events.request.fire(
                request_type="netflix-producer", name="setup", response_time=0, response_length=0,
                exception=exc, context={},
            )  # fmt: skip
            raise StopUser from exc

    @task
    def put_batch(self) -> None:
        st = self.state
        with _LOCK:
            records = st["share"].take(self.environment.parsed_options.records_per_batch)
            batches = st["batcher"].extend(records, time.monotonic())
            tail = st["batcher"].drain()
            oversize = st["dead"].write_oversize(st["batcher"])
        COUNTERS.dead_lettered += oversize
        COUNTERS.records += oversize
        for batch in [*batches, *([tail] if tail else [])]:
            self._send(batch)

    def _send(self, batch: list[bytes]) -> None:
        st = self.state
        started = time.perf_counter()
        fatal: SinkError | None = None
        try:
            result = st["delivery"].send_batch(batch)
        except SinkError as exc:
            fatal = exc
            result = exc.result
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        exception: Exception | None = fatal
        if result is not None:
            COUNTERS.add(len(batch), result)
            for f in result.failures:
                st["dead"].write(batch[f.index], code=f.code, message=f.message)
            if result.failures and exception is None:
                first = result.failures[0]
                failed = f"{len(result.failures)} of {len(batch)} records dead-lettered"
                exception = RuntimeError(f"{failed}: {first.code}: {first.message}")
        self.environment.events.request.fire(
            request_type=st["request_type"], name=st["name"], response_time=elapsed_ms,
            response_length=sum(map(len, batch)), exception=exception, context={},
        )  # fmt: skip
        if fatal is not None:
            raise StopUser from fatal


class FirehoseUser(StreamUser):
    """PutRecordBatch to a Kinesis Data Firehose delivery stream (the default)."""


class KinesisUser(StreamUser):
    """PutRecords to a Kinesis Data Stream (select with --stream-kind kinesis or kinesis://NAME)."""


def _shaped(environment: Any) -> bool:
    shape = getattr(environment, "shape_class", None)
    return isinstance(shape, ScenarioShape)


class ScenarioShape(LoadTestShape):
    """Users that follow a scenario's rate shape (``--scenario``): at each second of the
    test, as many users as the shape's rate needs at ``--events-per-user`` each (to the
    nearest, at least one); the test ends after the scenario's ``duration``, or at the end of a ramp or
    steps shape held for a minute when it gives none.

    Opt-in, because a shape class takes over ``-u``, ``-r`` and ``-t``: run
    ``locustfile_shaped.py``, which defines one. The workers' viewers then follow the
    pace their users keep (as unpaced users' do), so their ``event_ts`` stay near the
    wall clock while the swarm grows and shrinks; such a swarm is not reproducible byte
    for byte.
    """

    abstract = True
    #: How long a ramp or steps shape is held after its last knot when the scenario
    #: gives no duration.
    HOLD_S = 60.0

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._plan: tuple[Schedule, float, float | None] | None = None

    def plan(self) -> tuple[Schedule, float, float | None]:
        """(the shape's schedule from the test's start, events per user, duration or None)."""
        if self._plan is None:
            assert self.runner is not None
            options: Any = self.runner.environment.parsed_options
            settings = resolve_run(
                {k: v for k, v in {"seed": options.seed}.items() if v is not None},
                scenario=options.scenario or None,
            )
            duration = settings.duration_s
            if duration is None and settings.shape.kind in ("ramp", "steps"):
                duration = settings.shape.knots[-1][0] + self.HOLD_S
            # Anchored now: a daily shape's rate is that of the wall clock's hour and weekday.
            self._plan = (settings.shape.bind(time.time()), float(options.events_per_user), duration)
        return self._plan

    def tick(self) -> tuple[int, float] | None:
        schedule, per_user, duration = self.plan()
        shape: Any = self  # locust's LoadTestShape is untyped
        t = shape.get_run_time()
        if duration is not None and t >= duration:
            return None
        users = max(round(schedule.rate_at(t) / per_user), 1)
        return users, float(max(abs(users - shape.get_current_user_count()), 1))


def _check_shape(environment: Any) -> None:
    """A ScenarioShape needs a scenario and a rate per user: say so in one line and exit 2."""
    options = environment.parsed_options
    if not _shaped(environment) or options is None:
        return
    problem = None
    if not options.scenario:
        problem = "give --scenario (a shipped name or a file): its rate shape is what the users follow"
    elif options.events_per_user <= 0:
        problem = "give --events-per-user: the users a rate needs are the rate divided by it"
    else:
        try:
            environment.shape_class.plan()
        except ProducerError as exc:
            problem = str(exc)
    if problem is not None:
        sys.stderr.write(f"netflix-producer: {type(environment.shape_class).__name__}: {problem}\n")
        sys.exit(2)


def _on_init(environment: Any, **_: Any) -> None:
    if hasattr(environment.runner, "get_worker_index"):
        _STATE["master_runner"] = environment.runner  # to name workers by index in their reports
    if not environment.stop_timeout:
        # Let a batch in flight finish when the test stops: a user killed mid-call may have
        # delivered records it never counted. (--stop-timeout overrides this.)
        environment.stop_timeout = 30.0
    options = environment.parsed_options
    if options is not None and not getattr(options, "user_classes", None):
        scheme = (options.host or "").partition("://")[0]
        kind = options.stream_kind or (scheme if scheme in ("firehose", "kinesis") else "firehose")
        wanted = KinesisUser if kind == "kinesis" else FirehoseUser
        environment.user_classes = [wanted]
        environment.available_user_classes = {wanted.__name__: wanted}
    if environment.web_ui is not None:

        def _counts() -> Any:
            return environment.web_ui.app.response_class(
                json.dumps(COUNTERS.to_dict(), indent=2), mimetype="application/json"
            )

        environment.web_ui.app.add_url_rule("/netflix-producer", "_counts", _counts)
    if type(environment.runner).__name__ != "WorkerRunner":
        _check_shape(environment)


def _report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["netflix_producer"] = COUNTERS.take_delta(_LAST_REPORT)


def _collect(client_id: str, data: dict[str, Any], **_: Any) -> None:
    runner = _STATE.get("master_runner")
    index = runner.get_worker_index(client_id) if runner is not None else client_id
    COUNTERS.merge(str(index), data.get("netflix_producer", {}))


def _summary(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if runner is not None and type(runner).__name__ == "WorkerRunner":
        return
    if not COUNTERS.by_worker:
        COUNTERS.by_worker["0"] = COUNTERS.totals()
    totals = COUNTERS.to_dict()
    print(
        "netflix-producer: records {records:,}  accepted {accepted:,}  retried {retried:,}  "
        "throttled {throttled:,}  dead-lettered {dead_lettered:,}  calls {calls:,}".format(**totals)
    )
    path = environment.parsed_options.netflix_summary if environment.parsed_options else ""
    if path:
        Path(path).write_text(json.dumps(totals, indent=2) + "\n", encoding="utf-8")
    dead = _STATE.get("dead")
    if dead is not None:
        dead.close()


# Registered when the locustfile imports this module, before locust parses its command line
# (through Any: locust's add_listener is untyped).
_hooks: Any = events
_hooks.init_command_line_parser.add_listener(_options)
_hooks.init.add_listener(_on_init)
_hooks.report_to_master.add_listener(_report)
_hooks.worker_report.add_listener(_collect)
_hooks.quitting.add_listener(_summary)

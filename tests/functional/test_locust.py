"""Real locust processes on loopback, with moto in server mode as the endpoint.

The single-process runs go through both transports: the default fast one and
``--transport botocore`` (a boto3 client), so that the fallback stays covered; the
master-and-workers run uses the default.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.locust_runs import (
    ACCOUNTS,
    BASE,
    BOTOCORE,
    LOCUST,
    ROOT,
    common,
    env,
    final_stats,
    landed,
    make_stream,
)
from tests.support.polling import RUN_DEADLINE_S, Child, wait_until

pytestmark = pytest.mark.slow  # every test here runs locust processes, against moto


TRANSPORTS = {"fast": ("--transport", "fast"), "botocore": BOTOCORE}


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_single_process_headless_run_lands_what_it_reports(aws: str, tmp_path: Path, transport: str) -> None:
    make_stream()
    proc = subprocess.run(
        [*LOCUST, "--headless", "-u", "2", "-r", "2", "-t", "3s", "--json-file", str(tmp_path / "stats"), "--only-summary",
         *common(tmp_path, *TRANSPORTS[transport])],
        env=env(), capture_output=True, timeout=RUN_DEADLINE_S, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accepted"] == summary["records"] > 0
    assert summary["dead_lettered"] == summary["failed_batches"] == 0
    events = landed()
    assert len(events) == summary["accepted"]
    assert len({e["event_id"] for e in events}) == len(events)
    row = final_stats(tmp_path / "stats")
    assert row["method"] == "Firehose"
    assert row["num_failures"] == 0 and row["num_requests"] > 0


def listening_port(pid: int) -> int | None:
    """The TCP port process ``pid`` listens on, from ``ss``; None while it listens on none."""
    out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        if f"pid={pid}," in line:
            return int(line.split()[3].rsplit(":", 1)[1])
    return None


def test_master_and_two_workers_split_users_and_add_up(aws: str, tmp_path: Path) -> None:
    make_stream()
    master = Child(
        [*LOCUST, "--master", "--headless", "-u", "4", "-r", "4", "-t", "30s", "--expect-workers", "2",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", "0", "--only-summary", *common(tmp_path)],
        log_dir=tmp_path, name="locust-master", env=env(),
    )  # fmt: skip
    # locust does not accept port 0 for the master; find the port it listens on.
    workers: list[Child] = []
    try:
        port = wait_until(
            lambda: listening_port(master.pid), what="the locust master to listen", children=[master]
        )
        for i in range(2):
            workers.append(Child(
                [*LOCUST, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port),
                 *common(tmp_path)[4:]],  # worker: same options, minus --host
                log_dir=tmp_path, name=f"locust-worker-{i}", env=env(),
            ))  # fmt: skip
        # Each worker builds its world before its first batch, which takes a while on a
        # busy machine. The swarm must stop by its own -t (a signal makes the master quit
        # before the workers' last reports arrive), so -t leaves room for that, and the
        # test checks that both workers were sending before the master ended the run.
        wait_until(
            lambda: {(e["user_id"] - BASE) // ACCOUNTS for e in landed()} == {0, 1},
            what="events from both workers in the bucket, before -t ends the run",
            children=[master, *workers],
        )
        code = master.wait()
        for w in workers:
            w.wait()
    finally:
        for p in [master, *workers]:
            p.kill()
    assert code == 0, "\n".join(p.output(2000) for p in [master, *workers])
    summary = json.loads((tmp_path / "summary.json").read_text())
    per_worker = summary["workers"]
    assert sorted(per_worker) == ["0", "1"]
    assert all(w["accepted"] > 0 for w in per_worker.values()), "both workers sent"
    assert summary["accepted"] == sum(w["accepted"] for w in per_worker.values())
    events = landed()
    assert len(events) == summary["accepted"]
    ranges = {(e["user_id"] - BASE) // ACCOUNTS for e in events}
    assert ranges == {0, 1}, "each worker owns its own, disjoint user id range"
    by_range = {r: sum(1 for e in events if (e["user_id"] - BASE) // ACCOUNTS == r) for r in ranges}
    assert sorted(by_range.values()) == sorted(w["accepted"] for w in per_worker.values())


@pytest.mark.parametrize(
    ("transport", "retry_time", "dead"),
    [("botocore", "60s", False), ("botocore", "1s", True), ("fast", "60s", False)],
)
def test_throttling_shows_as_retries_and_as_failures_only_when_dead_lettered(
    aws: str, tmp_path: Path, transport: str, retry_time: str, dead: bool
) -> None:
    make_stream()
    # Throttled records are resent for --max-retry-time: a second, and at 30 % throttled
    # some records of every batch run out of it.
    proc = subprocess.run(
        [*LOCUST, "--headless", "-u", "2", "-r", "2", "-t", "3s", "--json-file", str(tmp_path / "stats"), "--only-summary",
         *common(tmp_path, "--transport-faults", "throttle_rate=0.3", "--max-retry-time", retry_time,
                 *TRANSPORTS[transport])],
        env=env(), capture_output=True, timeout=RUN_DEADLINE_S, check=False,
    )  # fmt: skip
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["throttled"] > 0
    row = final_stats(tmp_path / "stats")
    assert row["method"] == "Firehose" and row["num_requests"] > 0
    events = landed()
    if dead:
        assert summary["dead_lettered"] > 0 and summary["retried"] > 0
        assert row["num_failures"] > 0
        assert proc.returncode == 1  # locust exits 1 when requests failed
    else:
        assert summary["retried"] >= summary["throttled"] > 0
        assert summary["accepted"] == summary["records"] > 0
        assert summary["dead_lettered"] == summary["failed_batches"] == 0 and row["num_failures"] == 0
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        assert len({e["event_id"] for e in events}) == len(events)
    assert len(events) == summary["accepted"]


# botocore logs each call it makes at DEBUG; the fast transport's calls do not go through it.
BOTOCORE_CALL = "Making request for OperationModel(name=PutRecordBatch)"


@pytest.mark.parametrize(
    ("environment", "through_botocore"),
    [({}, False), ({"NETFLIX_PRODUCER_TRANSPORT": "botocore"}, True), ({"NETFLIX_PRODUCER_TRANSPORT": "fast"}, False)],
    ids=["default", "env-botocore", "env-fast"],
)  # fmt: skip
def test_the_transport_is_fast_by_default_and_selected_by_the_environment(
    aws: str, tmp_path: Path, environment: dict[str, str], through_botocore: bool
) -> None:
    make_stream()
    # One 500-record batch a second keeps the debug log short.
    proc = subprocess.run(
        [*LOCUST, "--headless", "-u", "1", "-r", "1", "-t", "2s", "--only-summary", "--loglevel", "DEBUG",
         *common(tmp_path, "--events-per-user", "500")],
        env={**env(), **environment}, capture_output=True, timeout=RUN_DEADLINE_S, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accepted"] == summary["records"] == len(landed()) > 0
    assert (BOTOCORE_CALL in proc.stderr.decode()) is through_botocore


def test_a_scenario_shape_drives_the_users_and_their_events_follow_the_clock(
    aws: str, tmp_path: Path
) -> None:
    make_stream()
    scenario = tmp_path / "swarm-ramp.yaml"
    scenario.write_text("name: swarm-ramp\nshape: ramp:20/s..100/s:6s\nduration: 9s\n")
    shaped = [*LOCUST[:-1], str(ROOT / "locustfile_shaped.py")]
    started = time.time()
    # No -u, -r or -t: the shape gives the users and ends the test.
    proc = subprocess.run(
        [*shaped, "--headless", "--scenario", str(scenario), "--events-per-user", "20", "--records-per-batch", "10",
         *common(tmp_path)],
        env=env(), capture_output=True, text=True, timeout=RUN_DEADLINE_S, check=False,
    )  # fmt: skip
    ended = time.time()
    assert proc.returncode == 0, proc.stderr[-2000:]
    users = [int(n) for n in re.findall(r"Shape test updating to (\d+) users", proc.stderr)]
    assert users[0] == 1 and max(users) == 5, users  # 20/s .. 100/s at 20 events/s per user
    assert users == sorted(users), "a rising rate only ever adds users"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accepted"] == summary["records"] > 0
    events = landed()
    assert len(events) == summary["accepted"] == len({e["event_id"] for e in events})
    # The viewers follow the pace the users keep: their events happen during the test.
    stamps = sorted(e["event_ts"] for e in events)
    assert started - 2.0 <= stamps[0] and stamps[-1] <= ended + 2.0, (started, stamps[0], stamps[-1], ended)


def test_a_scenario_shape_without_a_rate_per_user_says_so(tmp_path: Path) -> None:
    shaped = [*LOCUST[:-1], str(ROOT / "locustfile_shaped.py")]
    proc = subprocess.run(
        [*shaped, "--headless", "--scenario", "primetime-ramp", "--host", "firehose://swarm"],
        env=env(), capture_output=True, text=True, timeout=RUN_DEADLINE_S, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "netflix-producer: ScenarioFollower: give --events-per-user: the users a rate needs are the rate divided by it"
    )
    assert "Traceback" not in proc.stderr

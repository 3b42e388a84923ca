"""Delivery against a stream at its quota: a local endpoint that enforces one, as AWS does.

The endpoint (``producer.loadtest.quota_endpoint``, in its own process) speaks
Firehose's JSON protocol and keeps a record only while the stream's token buckets (bytes
and records per second, one second of burst) can pay for it; it answers the rest "Slow
down." and keeps no copy, and it counts what it kept by event id. A realtime
``netflix-producer run --sink firehose`` (its own process) sends to it. Three cases:

* quota-bound: a 1 MiB/s, 1,000 records/s stream asked for about 3x its bytes (10k
  events/s of ~320 B, packed into 5 KB records so that bytes, not records, bind);
* kinesis-quota-bound: the same through ``--sink kinesis`` to a stream of two shards
  (1 MiB/s and 1,000 records/s each; records spread over them by user id) at 20k/s;
* random throttling: 30 % of records refused at random with spare capacity, at 2k/s.

For each: what the stream accepted per second against the quota or the target, the
share of records sent that were throttled, the dead letters, and whether every event
landed once (the endpoint's distinct event ids = the summary's accepted events).

    .venv/bin/python bench/quota.py            # 60 s per case
    .venv/bin/python bench/quota.py --quick    # 5 s per case
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from report import print_table, verdict, write_results

MIB = 1024 * 1024
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
#: Targets of the delivery work (docs/performance.md): measured here, never asserted.
TARGET_QUOTA_SHARE = 0.95
TARGET_THROTTLED_SHARE = 0.10
TARGET_RATE_SHARE = 0.95

SUMMARY_KEYS = ("generated", "accepted", "dead_lettered", "failed", "records", "retried", "throttled",
                "calls", "target_rate", "achieved_rate")  # fmt: skip
CASES = {
    "quota-bound": {
        "endpoint": ["--bytes-per-s", "1MiB", "--records-per-s", "1000"],
        "run": ["--rate", "10k/s", "--pack", "5KB"],
        "quota_bytes": 1024 * 1024,
    },
    "kinesis-quota-bound": {
        # Two shards of 1 MiB/s and 1,000 records/s each, asked for about 3x their bytes.
        "endpoint": ["--bytes-per-s", "1MiB", "--records-per-s", "1000", "--shards", "2"],
        "run": ["--sink", "kinesis", "--rate", "20k/s", "--pack", "5KB"],
        "quota_bytes": 2 * 1024 * 1024,
    },
    "random-throttling": {
        "endpoint": [
            "--bytes-per-s",
            "1GiB",
            "--records-per-s",
            "1e9",
            "--throttle-share",
            "0.3",
            "--seed",
            "3",
        ],
        "run": ["--rate", "2k/s"],
    },
}


def endpoint_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/__stats", timeout=30) as answer:
        return dict(json.loads(answer.read()))


def one_case(name: str, seconds: float, tmp: Path) -> dict[str, Any]:
    case = CASES[name]
    endpoint = subprocess.Popen(
        [sys.executable, "-m", "producer.loadtest.quota_endpoint", "--idle", "60", *case["endpoint"]],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert endpoint.stdout is not None
        url = endpoint.stdout.readline().strip()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NETFLIX_PRODUCER_"))}
        summary_path, dead = tmp / f"{name}.json", tmp / f"{name}-dead.ndjson"
        proc = subprocess.run(
            [sys.executable, "-m", "producer", "run", "--sink", "firehose", "--stream", "bench",
             "--endpoint-url", url, "--duration", f"{seconds:g}s", "--seed", "1", "--quiet",
             "--summary-json", str(summary_path), "--dead-letter", str(dead), *case["run"]],
            env={**env, **DUMMY_AWS_ENV}, capture_output=True, text=True, check=False,
        )  # fmt: skip
        got = endpoint_stats(url)
    finally:
        endpoint.terminate()
        endpoint.wait(30)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    span = max((got["last_call"] or 0) - (got["first_call"] or 0), 1e-9)
    return {
        "case": name,
        "exit_code": proc.returncode,
        "stderr_tail": proc.stderr[-500:],
        "seconds": seconds,
        "endpoint": got,
        "summary": {k: summary.get(k) for k in SUMMARY_KEYS},
        "accepted_bytes_per_s": got["accepted_bytes"] / span,
        "accepted_events_per_s": got["events"] / span,
        "throttled_share_of_sent": got["throttled"] / max(got["records"], 1),
        "landed_once": got["duplicates"] == 0 and len_ids(got) == summary.get("accepted"),
    }  # fmt: skip


def len_ids(got: dict[str, Any]) -> int:
    return int(got["events"]) - int(got["duplicates"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="run length per case (default 60)")
    parser.add_argument("--quick", action="store_true", help="5 s per case (smoke check)")
    args = parser.parse_args()
    seconds = min(args.seconds, 5.0) if args.quick else args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        results = [one_case(name, seconds, Path(tmp)) for name in CASES]
    rows = []
    for r in results:
        s = r["summary"]
        quota = CASES[r["case"]].get("quota_bytes")
        if quota:
            share = r["accepted_bytes_per_s"] / float(quota)
            figure, ok = f"{share:.0%} of {float(quota) / MIB:g} MiB/s", share >= TARGET_QUOTA_SHARE
        else:
            share = r["accepted_events_per_s"] / 2000.0
            figure, ok = f"{share:.0%} of 2,000/s", share >= TARGET_RATE_SHARE
        throttled = r["throttled_share_of_sent"]
        rows.append((
            r["case"], figure, verdict(ok), f"{throttled:.0%}",
            verdict(throttled <= TARGET_THROTTLED_SHARE) if quota else "",
            f"{s['dead_lettered'] or 0:,}", verdict(not s["dead_lettered"]),
            "yes" if r["landed_once"] else "NO", r["exit_code"],
        ))  # fmt: skip
    print_table(
        f"delivery against a quota-enforcing endpoint, {seconds:g} s per case",
        (
            "case",
            "accepted",
            "",
            "sent, throttled",
            "",
            "dead-lettered",
            "",
            "every event landed once",
            "exit",
        ),
        rows,
    )
    write_results("quota", {"quick": args.quick, "seconds": seconds, "cases": results})


if __name__ == "__main__":
    main()

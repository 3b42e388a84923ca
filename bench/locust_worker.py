"""Records/s of one locust worker process: realistic events vs pre-built batches.

Starts bench/ship.py's discard endpoint (a Firehose JSON endpoint that counts and
drops records), then runs, one after the other, each for ``--seconds``:

- the product with ``--transport botocore``: ``locustfile.py`` (FirehoseUser: a fresh
  batch of realistic events per task, the library's retry/accounting path, boto3);
- the product with ``--transport fast``, the default (the same user; PutRecordBatch
  built, signed with botocore's SigV4 and sent over urllib3 instead of through boto3);
- the baseline: ``bench/plain_locustfile.py`` (a plain boto3 user re-sending one
  pre-built 500-record batch).

Each is one headless locust process (``-u 4``). Records/s = locust's requests/s x 500;
CPU is the locust process's own. Targets: >= 100k records/s per worker process with
the boto3 transport; >= 250k records/s with the fast transport .
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import machine, write_results  # type: ignore[import-not-found]
from ship import DUMMY_AWS_ENV, serve  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[1]


def one(
    locustfile: Path, url: str, seconds: int, users: int, workdir: Path, extra: list[str]
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETFLIX_PRODUCER_", "AWS_"))}
    env.update(DUMMY_AWS_ENV, AWS_ENDPOINT_URL=url, BENCH_ENDPOINT=url, AWS_DEFAULT_REGION="us-east-1")
    prefix = workdir / locustfile.stem
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users),
         "-r", str(users), "-t", f"{seconds}s", "--csv", str(prefix), "--only-summary",
         "--stop-timeout", "10",
         *extra],
        env=env, cwd=workdir, capture_output=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with Path(f"{prefix}_stats.csv").open() as fh:
        row = next(r for r in csv.DictReader(fh) if r["Name"] == "PutRecordBatch")
    rps = float(row["Requests/s"])
    return {
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "requests_per_s": round(rps, 1),
        "records_per_s": round(rps * 500),
        "median_ms": float(row["Median Response Time"]),
        "process_cpu_s": round(cpu, 2),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 5 if args.quick else args.seconds
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    server = ctx.Process(target=serve, args=(send,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{recv.recv()}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            flags = ["--host", "firehose://bench", "--accounts", "100000", "--seed", "1",
                     "--dead-letter", str(work / "dlq.ndjson")]  # fmt: skip
            product = one(
                ROOT / "locustfile.py", url, seconds, args.users, work, [*flags, "--transport", "botocore"]
            )
            fast = one(
                ROOT / "locustfile.py", url, seconds, args.users, work, [*flags, "--transport", "fast"]
            )
            plain = one(ROOT / "bench" / "plain_locustfile.py", url, seconds, args.users, work, [])
    finally:
        server.kill()
    print(f"one locust process, {args.users} users, {seconds} s, against a local discard endpoint")
    print(f"{'user':<44} {'records/s':>10} {'failures':>9} {'median ms':>10}")
    for name, fig in (("FirehoseUser, --transport botocore", product),
                      ("FirehoseUser, --transport fast", fast),
                      ("plain boto3 user (one pre-built batch)", plain)):  # fmt: skip
        print(f"{name:<44} {fig['records_per_s']:>10,} {fig['failures']:>9} {fig['median_ms']:>10}")
    ratio = product["records_per_s"] / max(plain["records_per_s"], 1)
    fast_ratio = fast["records_per_s"] / max(product["records_per_s"], 1)
    met = "met" if product["records_per_s"] >= 100_000 else "MISSED"
    fast_met = "met" if fast["records_per_s"] >= 250_000 else "MISSED"
    print(f"ratio product/plain {ratio:.2f}; target >= 100,000 records/s per worker: {met}")
    print(
        f"ratio fast/botocore {fast_ratio:.2f}; target >= 250,000 records/s with --transport fast: {fast_met}"
    )
    figures = {"machine": machine(), "product": product, "fast": fast, "plain": plain,
               "ratio": round(ratio, 3), "fast_over_botocore": round(fast_ratio, 3),
               "seconds": seconds, "users": args.users,
               "targets": {"botocore_records_per_s": 100_000, "fast_records_per_s": 250_000,
                           "fast_met": fast["records_per_s"] >= 250_000}}  # fmt: skip
    write_results("locust_worker", figures)


if __name__ == "__main__":
    main()

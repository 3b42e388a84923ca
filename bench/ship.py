"""Shipping to Firehose over loopback: the producer (generation included) against plain aiobotocore.

A minimal endpoint in its own process (so it never shares the GIL with a client)
speaks Firehose's JSON 1.1 protocol on 127.0.0.1: ``DescribeDeliveryStream`` answers
an ACTIVE stream with an ExtendedS3 destination, ``PutRecordBatch`` base64-decodes
and counts every record, discards it, and answers ``FailedPutCount: 0`` with one
``RecordId`` per record. It is not moto: moto stores every call and tops out far
below what one client can send.

Then, one client process at a time (each a fresh process; CPU is that process's
``time.process_time``, the endpoint excluded):

(a) producer: ``runner.run`` with ``--sink firehose`` through ``sinks.factory.open_sink``,
    as the CLI builds it: generation, encoding, batching (500 records), 4 calls in
    flight, retries; a simulated clock at 1M/s, as fast as possible;
    then, side by side in every repeat, the same run with ``--transport fast`` (the call
    built, signed with botocore's SigV4 and sent over aiohttp), and with ``--pack 5KB``
    on either transport (several newline-terminated events per record; the endpoint
    counts events by newline, and the figures of these rows are events, not records);
(b) plain aiobotocore: the same events generated first with the library into 500-record
    ``Records`` lists, then only the sending is timed, 4 calls in flight, the SDK
    configured as the producer configures it (no SDK retries);
(c) the producer again with the rehearsal layer at ``--throttle-rate 0.3``: 30 % of
    the records of every call come back throttled and are resent with backoff. A batch
    keeps its call slot while it backs off, so at 4 in flight the wall rate is bound by
    the backoff, not the CPU: the CPU figure comes from a run at 64 in flight, next to
    an unthrottled run at 64 in flight; a short run at 4 in flight shows the wall rate.

Figures are records/s of wall time and records per CPU-second of the client. "From
the first call" excludes the set-up (world, pool warm-up, DescribeDeliveryStream);
"whole run" includes it. (a) and (b) alternate ``--repeats`` times; medians are shown.
Runs are 1M events: the fastest client then still runs for about two seconds, and the
generator's settling after its warm start (its first ~600k events cost up to 30 %
more at this rate) weighs less.

    .venv/bin/python bench/ship.py                     # 1M records, 3 repeats, ~3 min
    .venv/bin/python bench/ship.py --quick             # 50k records, 1 repeat
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import gc
import hashlib
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from report import print_table, verdict, write_results

TARGET_RATIO = 0.80
#: Issue 8: the fast transport, generation included, per CPU-second of the client...
TARGET_FAST_PER_CPU_S = 250_000
#: ...and against plain aiobotocore with pre-built batches, in the same run.
TARGET_FAST_OVER_AIOBOTOCORE = 2.0
#: Issue 8: packed 5 KB records, events per CPU-second.
TARGET_PACKED_PER_CPU_S = 600_000
#: The producer's other configurations, run side by side with (a): name -> (transport, pack).
HIGH_RATE = "1M/s"
#: name: (transport, pack, simulated rate). The README's backfill runs at 200/s: the
#: viewers' windows of event time are then 82 s, not 16 ms as at 1M/s.
VARIANTS: dict[str, tuple[str, str, str]] = {
    "fast": ("fast", "", "1M/s"),
    "botocore, pack 5KB": ("botocore", "5KB", "1M/s"),
    "fast, pack 5KB": ("fast", "5KB", "1M/s"),
    "fast, 200/s": ("fast", "", "200/s"),
}
#: aiobotocore, pre-built 500-record batches, 4 in flight, loopback (docs/performance.md).
REFERENCE_AIOBOTOCORE_PER_CPU_S = 120_000
STREAM = "bench"
REGION = "us-east-1"
START = "2026-01-01"
#: Dummy credentials for the client processes; the endpoint never checks signatures.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIABENCHMARKDUMMY00",
    "AWS_SECRET_ACCESS_KEY": "benchmark/dummy/secret/key/not/a/real/one00",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def use_dummy_credentials() -> None:
    """Point this (client) process's AWS SDK at the dummy credentials and nothing else."""
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(DUMMY_AWS_ENV)


# -- the endpoint ------------------------------------------------------------------------


class EndpointCounters:
    """What the endpoint received; served as JSON at ``GET /__stats``."""

    def __init__(self) -> None:
        self.calls = 0
        self.records = 0
        self.bytes = 0
        self.records_without_newline = 0
        self.events = 0
        self.describes = 0
        self.errors = 0
        # Real RecordIds are 56 opaque characters; these are fixed but distinct per position.
        self._ids = [
            b'{"RecordId":"' + hashlib.sha256(str(i).encode()).hexdigest()[:56].encode() + b'"}'
            for i in range(500)
        ]

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "calls": self.calls,
                "records": self.records,
                "bytes": self.bytes,
                "records_without_newline": self.records_without_newline,
                "events": self.events,
                "describes": self.describes,
                "errors": self.errors,
                "cpu_s": time.process_time(),
            }
        ).encode()

    def put_record_batch(self, body: bytes) -> tuple[int, bytes]:
        records = json.loads(body)["Records"]
        n = len(records)
        size = 0
        for r in records:
            data = base64.b64decode(r["Data"], validate=True)
            size += len(data)
            # A packed record holds several newline-terminated events.
            self.events += data.count(b"\n")
            if not data.endswith(b"\n"):
                self.records_without_newline += 1
        self.calls += 1
        self.records += n
        self.bytes += size
        ids = self._ids * (n // 500 + 1)
        return 200, (
            b'{"FailedPutCount":0,"Encrypted":false,"RequestResponses":[' + b",".join(ids[:n]) + b"]}"
        )

    def describe_delivery_stream(self, body: bytes) -> tuple[int, bytes]:
        self.describes += 1
        name = json.loads(body)["DeliveryStreamName"]
        account = "123456789012"
        desc = {
            "DeliveryStreamDescription": {
                "DeliveryStreamName": name,
                "DeliveryStreamARN": f"arn:aws:firehose:{REGION}:{account}:deliverystream/{name}",
                "DeliveryStreamStatus": "ACTIVE",
                "DeliveryStreamType": "DirectPut",
                "VersionId": "1",
                "CreateTimestamp": 1_767_225_600.0,
                "Destinations": [
                    {
                        "DestinationId": "destinationId-000000000001",
                        "ExtendedS3DestinationDescription": {
                            "RoleARN": f"arn:aws:iam::{account}:role/firehose-bench",
                            "BucketARN": "arn:aws:s3:::bench-bucket",
                            "Prefix": "netflix/",
                            "ErrorOutputPrefix": "errors/",
                            "BufferingHints": {"SizeInMBs": 5, "IntervalInSeconds": 300},
                            "CompressionFormat": "UNCOMPRESSED",
                            "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
                        },
                    }
                ],
                "HasMoreDestinations": False,
            }
        }
        return 200, json.dumps(desc).encode()

    def handle(self, target: str, body: bytes) -> tuple[int, bytes]:
        op = target.rpartition(".")[2]
        try:
            if op == "PutRecordBatch":
                return self.put_record_batch(body)
            if op == "DescribeDeliveryStream":
                return self.describe_delivery_stream(body)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            self.errors += 1
            return 400, json.dumps({"__type": "InvalidArgumentException", "message": str(exc)}).encode()
        self.errors += 1
        return 400, json.dumps({"__type": "UnknownOperationException", "message": target}).encode()


class FirehoseHttp(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all a botocore client sends."""

    def __init__(self, counters: EndpointCounters) -> None:
        self.counters = counters
        self.buf = bytearray()
        self.head: tuple[str, dict[str, str]] | None = None
        self.need = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.head is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    key, _, value = line.partition(":")
                    headers[key.strip().lower()] = value.strip()
                del self.buf[: end + 4]
                self.head = (lines[0], headers)
                self.need = int(headers.get("content-length", "0"))
            if len(self.buf) < self.need:
                return
            body = bytes(self.buf[: self.need])
            del self.buf[: self.need]
            request_line, headers = self.head
            self.head = None
            self.respond(request_line, headers, body)

    def respond(self, request_line: str, headers: dict[str, str], body: bytes) -> None:
        assert self.transport is not None
        if request_line.startswith("GET /__stats"):
            status, payload, ctype = 200, self.counters.as_json(), "application/json"
        else:
            status, payload = self.counters.handle(headers.get("x-amz-target", ""), body)
            ctype = "application/x-amz-json-1.1"
        reason = "OK" if status == 200 else "Bad Request"
        self.transport.write(
            (
                f"HTTP/1.1 {status} {reason}\r\nx-amzn-RequestId: bench-{self.counters.calls}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n\r\n"
            ).encode()
            + payload
        )


def serve(ready: Connection) -> None:
    """The endpoint process: bind a free port on 127.0.0.1, report it, serve until killed."""

    async def main() -> None:
        counters = EndpointCounters()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: FirehoseHttp(counters), "127.0.0.1", 0)
        ready.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def endpoint_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/__stats", timeout=10) as resp:
        return dict(json.loads(resp.read()))


# -- the clients (each in its own process) -----------------------------------------------


def _settings_flags(
    url: str,
    count: int,
    *,
    throttle_rate: float,
    in_flight: int,
    dead_letter: Path,
    transport: str = "botocore",
    pack: str = "",
    rate: str = "1M/s",
) -> dict[str, str]:
    flags = {
        "sink": "firehose",
        "stream": STREAM,
        "endpoint_url": url,
        "region": REGION,
        "rate": rate,
        "count": str(count),
        "start": START,
        "seed": "1",
        "throttle_rate": f"{throttle_rate:g}",
        "max_in_flight": str(in_flight),
        "dead_letter": str(dead_letter),
        "transport": transport,
    }
    if pack:
        flags["pack"] = pack
    return flags


def client_producer(
    url: str,
    count: int,
    throttle_rate: float,
    in_flight: int,
    transport: str,
    pack: str,
    rate: str,
    out: Connection,
) -> None:
    """(a), (a-fast), (a-packed) and (c): the producer end to end, as ``netflix-producer run
    --sink firehose [--transport fast] [--pack 5KB]`` runs it."""
    use_dummy_credentials()
    from producer.config.settings import resolve
    from producer.runtime.runner import EventClock, run
    from producer.sinks.base import BatchResult, Sink
    from producer.sinks.registry import open_sink

    first_call: list[float] = []

    class FirstCallMark:
        """The factory's sink, unchanged, noting wall and CPU time when the first batch leaves."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.name = inner.name

        async def open(self) -> str:
            return str(await self.inner.open())

        async def send_batch(self, records: Sequence[bytes]) -> BatchResult:
            if not first_call:
                first_call.extend((time.perf_counter(), time.process_time()))
            result: BatchResult = await self.inner.send_batch(records)
            return result

        async def aclose(self) -> None:
            await self.inner.aclose()

    with tempfile.TemporaryDirectory() as tmp:
        dead_letter = Path(tmp) / "dead-letters.ndjson"
        settings = resolve(
            _settings_flags(
                url,
                count,
                throttle_rate=throttle_rate,
                in_flight=in_flight,
                dead_letter=dead_letter,
                transport=transport,
                pack=pack,
                rate=rate,
            ),
            env={},
        )

        def factory(clock: EventClock) -> Sink:
            return FirstCallMark(open_sink(settings, clock))

        w0, c0 = time.perf_counter(), time.process_time()
        summary = asyncio.run(run(settings, factory))
        w1, c1 = time.perf_counter(), time.process_time()
    fw, fc = first_call or (w1, c1)
    out.send(
        {
            "records": summary.delivered,
            "generated": summary.generated,
            "dead_lettered": summary.dead_lettered,
            "failed": summary.failed,
            "bytes": summary.bytes,
            "calls": summary.calls,
            "retried": summary.retried,
            "throttled": summary.throttled,
            "error": summary.error,
            "destination": summary.destination,
            "latency_ms": summary.latency_ms,
            "whole_wall_s": w1 - w0,
            "whole_cpu_s": c1 - c0,
            "setup_wall_s": fw - w0,
            "setup_cpu_s": fc - c0,
            "wall_s": w1 - fw,
            "cpu_s": c1 - fc,
        }
    )


def client_plain(url: str, count: int, in_flight: int, out: Connection) -> None:
    """(b): the same events, generated first; then only aiobotocore's sending is timed."""
    use_dummy_credentials()
    from producer.config.settings import resolve
    from producer.generation.encode import encode_block
    from producer.generation.sessions import SessionGenerator
    from producer.generation.world import World, WorldConfig

    # The world and schedule a producer run with these settings would use.
    settings = resolve(
        _settings_flags(url, count, throttle_rate=0.0, in_flight=in_flight, dead_letter=Path(os.devnull)),
        env={},
    )
    assert settings.start is not None
    world = World(WorldConfig(seed=settings.seed, accounts=settings.accounts, titles=settings.titles))
    g0 = time.process_time()
    gen = SessionGenerator(world, settings.shape.bind(settings.start), seed=settings.seed)
    gen.prepare()
    p1 = time.process_time()
    records: list[bytes] = []
    while len(records) < count:
        records.extend(encode_block(gen.next_block()))
    del records[count:]
    g1 = time.process_time()
    batches = [[{"Data": r} for r in records[i : i + 500]] for i in range(0, count, 500)]
    nbytes = sum(map(len, records))
    del gen, world
    # Half a million long-lived dicts would otherwise be walked by every full collection.
    gc.collect()
    gc.freeze()

    async def main() -> tuple[float, float, int]:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import AioSession

        config = AioConfig(
            retries={"total_max_attempts": 1},
            max_pool_connections=max(10, in_flight),
            connect_timeout=5,
            read_timeout=30,
        )
        async with AioSession().create_client(
            "firehose", region_name=REGION, endpoint_url=url, config=config
        ) as client:
            await client.describe_delivery_stream(DeliveryStreamName=STREAM)
            todo = iter(batches)
            sent = 0

            async def worker() -> None:
                nonlocal sent
                for batch in todo:
                    resp = await client.put_record_batch(DeliveryStreamName=STREAM, Records=batch)
                    if resp["FailedPutCount"] != 0 or len(resp["RequestResponses"]) != len(batch):
                        msg = f"unexpected response: {resp['FailedPutCount']} failed"
                        raise RuntimeError(msg)
                    sent += len(batch)

            w0, c0 = time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker() for _ in range(in_flight)))
            return time.perf_counter() - w0, time.process_time() - c0, sent

    wall, cpu, sent = asyncio.run(main())
    out.send(
        {
            "records": sent,
            "bytes": nbytes,
            "calls": len(batches),
            "wall_s": wall,
            "cpu_s": cpu,
            "pool_warmup_cpu_s": p1 - g0,
            "generation_cpu_s": g1 - p1,
            "generation_events_per_cpu_s": round(count / (g1 - p1)),
        }
    )


def in_process(target: Any, *args: Any) -> dict[str, Any]:
    """Run one client in a fresh process and return what it sends back."""
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, send))
    proc.start()
    send.close()
    try:
        result: dict[str, Any] = receive.recv()
    except EOFError:
        proc.join()
        msg = f"{target.__name__} exited with code {proc.exitcode} before reporting"
        raise SystemExit(msg) from None
    proc.join()
    return result


def measured(url: str, target: Any, *args: Any) -> dict[str, Any]:
    """One client run, with the endpoint's view of it (records received, its CPU)."""
    before = endpoint_stats(url)
    fig = in_process(target, url, *args)
    after = endpoint_stats(url)
    seen = {
        k: after[k] - before[k]
        for k in ("calls", "records", "events", "bytes", "records_without_newline", "errors")
    }
    fig["endpoint"] = {**seen, "cpu_s": round(after["cpu_s"] - before["cpu_s"], 3)}
    fig["records_per_s"] = round(fig["records"] / fig["wall_s"])
    fig["records_per_cpu_s"] = round(fig["records"] / fig["cpu_s"])
    # Events as the endpoint counted them (newlines): equal to records unless packed.
    fig["events_per_s"] = round(fig["endpoint"]["events"] / fig["wall_s"])
    fig["events_per_cpu_s"] = round(fig["endpoint"]["events"] / fig["cpu_s"])
    fig["cpu_ms_per_call_of_500"] = round(fig["cpu_s"] / fig["records"] * 500 * 1000, 2)
    fig["endpoint_cpu_share_of_wall"] = round(
        fig["endpoint"]["cpu_s"] / (fig.get("whole_wall_s") or fig["wall_s"]), 3
    )
    if "whole_wall_s" in fig:
        fig["whole_records_per_s"] = round(fig["records"] / fig["whole_wall_s"])
        fig["whole_records_per_cpu_s"] = round(fig["records"] / fig["whole_cpu_s"])
    for key in ("wall_s", "cpu_s", "whole_wall_s", "whole_cpu_s", "setup_wall_s", "setup_cpu_s"):
        if key in fig:
            fig[key] = round(fig[key], 3)
    return fig


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records", type=int, default=1_000_000, help="events per run of each client (default 1M)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of (a) and (b) (default 3)")
    parser.add_argument("--in-flight", type=int, default=4, help="calls in flight (default 4)")
    parser.add_argument(
        "--throttled-records",
        type=int,
        default=100_000,
        help="records of the throttled run (c) (default 100k)",
    )
    parser.add_argument(
        "--throttled-in-flight",
        type=int,
        default=64,
        help="calls in flight for (c) (default 64: backoff holds a call slot, see the docs)",
    )
    parser.add_argument(
        "--throttled-records-at-4", type=int, default=5_000, help="records of (c) at --in-flight (default 5k)"
    )
    parser.add_argument("--quick", action="store_true", help="50k records, 1 repeat, small (c) (smoke check)")
    args = parser.parse_args()
    if args.quick:
        args.records = min(args.records, 50_000)
        args.repeats = 1
        args.throttled_records = min(args.throttled_records, 10_000)
        args.throttled_records_at_4 = min(args.throttled_records_at_4, 1_000)

    ctx = mp.get_context("spawn")
    ready_recv, ready_send = ctx.Pipe(duplex=False)
    server = ctx.Process(target=serve, args=(ready_send,), daemon=True)
    server.start()
    try:
        port = ready_recv.recv()
        url = f"http://127.0.0.1:{port}"
        produced: list[dict[str, Any]] = []
        plain: list[dict[str, Any]] = []
        variants: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
        for i in range(args.repeats):
            produced.append(
                measured(url, client_producer, args.records, 0.0, args.in_flight, "botocore", "", "1M/s")
            )
            for name, (transport, pack, rate) in VARIANTS.items():
                variants[name].append(
                    measured(url, client_producer, args.records, 0.0, args.in_flight, transport, pack, rate)
                )
            plain.append(measured(url, client_plain, args.records, args.in_flight))
            a, b = produced[-1], plain[-1]
            print(
                f"repeat {i + 1}: (a) producer {a['records_per_s']:,} rec/s, "
                f"{a['records_per_cpu_s']:,} per CPU-s (whole run {a['whole_records_per_cpu_s']:,}); "
                f"(b) aiobotocore {b['records_per_s']:,} rec/s, {b['records_per_cpu_s']:,} per CPU-s"
            )
            for name in VARIANTS:
                v = variants[name][-1]
                print(
                    f"          {name}: {v['events_per_s']:,} events/s, "
                    f"{v['events_per_cpu_s']:,} per CPU-s ({v['endpoint']['records']:,} records)"
                )
        # The same run without throttling: what many calls in flight cost on their own.
        control = measured(
            url,
            client_producer,
            args.throttled_records,
            0.0,
            args.throttled_in_flight,
            "botocore",
            "",
            HIGH_RATE,
        )
        throttled = measured(
            url,
            client_producer,
            args.throttled_records,
            0.3,
            args.throttled_in_flight,
            "botocore",
            "",
            HIGH_RATE,
        )
        throttled_at_4 = measured(
            url, client_producer, args.throttled_records_at_4, 0.3, args.in_flight, "botocore", "", HIGH_RATE
        )
    finally:
        server.kill()
        server.join()

    for r in [
        *produced,
        *plain,
        control,
        throttled,
        throttled_at_4,
        *(x for v in variants.values() for x in v),
    ]:
        # Delivered is counted per event; the endpoint counts events by newline.
        seen = r["endpoint"]["events"]
        if seen != r["records"] or r["endpoint"]["records_without_newline"] or r["endpoint"]["errors"]:
            print(f"WARNING: the endpoint saw {seen:,} events, the client counted {r['records']:,} delivered")
    a_cpu = median_of(produced, "records_per_cpu_s")
    a_wall = median_of(produced, "records_per_s")
    a_whole_cpu = median_of(produced, "whole_records_per_cpu_s")
    a_whole_wall = median_of(produced, "whole_records_per_s")
    b_cpu = median_of(plain, "records_per_cpu_s")
    b_wall = median_of(plain, "records_per_s")
    gen_rate = median_of(plain, "generation_events_per_cpu_s")
    ratio_cpu = a_cpu / b_cpu
    ratio_wall = a_wall / b_wall
    # Per record: the producer's CPU minus plain sending minus generation + encoding.
    overhead_us = (1 / a_cpu - 1 / b_cpu - 1 / gen_rate) * 1e6
    c, c4 = throttled, throttled_at_4
    v_cpu = {name: median_of(runs, "events_per_cpu_s") for name, runs in variants.items()}
    v_wall = {name: median_of(runs, "events_per_s") for name, runs in variants.items()}
    v_records = {name: median_of(runs, "records") for name, runs in variants.items()}
    v_sent = {
        name: statistics.median(r["endpoint"]["records"] for r in runs) for name, runs in variants.items()
    }
    fast_cpu, fast_wall = v_cpu["fast"], v_wall["fast"]
    packed_cpu = v_cpu["fast, pack 5KB"]
    fast_over_botocore = fast_cpu / a_cpu
    fast_over_plain = fast_cpu / b_cpu
    packed_over_botocore = v_cpu["botocore, pack 5KB"] / a_cpu
    packed_fast_over_botocore = packed_cpu / v_cpu["botocore, pack 5KB"]
    met_fast = fast_cpu >= TARGET_FAST_PER_CPU_S and fast_over_plain >= TARGET_FAST_OVER_AIOBOTOCORE
    met_packed = packed_cpu >= TARGET_PACKED_PER_CPU_S

    print(
        f"\n{args.records:,} records of {plain[0]['bytes'] / args.records:.0f} B per run, 500 per call, "
        f"{args.in_flight} in flight; endpoint CPU during (a): "
        f"{statistics.median(r['endpoint_cpu_share_of_wall'] for r in produced):.0%} of a core"
    )
    rows = [
        ("(a) producer, from the first call", f"{a_wall:,.0f}", f"{a_cpu:,.0f}", f"{1e6 / a_cpu:.2f}", ""),
        ("(a) producer, whole run incl. set-up", f"{a_whole_wall:,.0f}", f"{a_whole_cpu:,.0f}", "", ""),
        ("(b) aiobotocore, pre-built batches", f"{b_wall:,.0f}", f"{b_cpu:,.0f}", f"{1e6 / b_cpu:.2f}", ""),
        ("    generation + encoding alone (in b)", "", f"{gen_rate:,.0f}", f"{1e6 / gen_rate:.2f}", ""),
        ("    producer's own overhead (a - b - gen)", "", "", f"{overhead_us:.2f}", ""),
        (
            f"    producer, no throttling, {args.throttled_in_flight} in flight",
            f"{control['records_per_s']:,}",
            f"{control['records_per_cpu_s']:,}",
            f"{1e6 / control['records_per_cpu_s']:.2f}",
            "",
        ),
        (
            f"(c) producer, throttle 0.3, {args.throttled_in_flight} in flight",
            f"{c['records_per_s']:,}",
            f"{c['records_per_cpu_s']:,}",
            f"{1e6 / c['records_per_cpu_s']:.2f}",
            "",
        ),
        (
            f"(c) producer, throttle 0.3, {args.in_flight} in flight",
            f"{c4['records_per_s']:,}",
            f"{c4['records_per_cpu_s']:,}",
            "",
            "",
        ),
        (
            f"ratio a / b per CPU-s (target >= {TARGET_RATIO:.0%})",
            f"{ratio_wall:.0%}",
            f"{ratio_cpu:.0%}",
            "",
            verdict(ratio_cpu >= TARGET_RATIO),
        ),
        *(
            (
                f"(a) producer, {name} (events; {v_sent[name] / v_records[name]:.3f} records/event)",
                f"{v_wall[name]:,.0f}",
                f"{v_cpu[name]:,.0f}",
                f"{1e6 / v_cpu[name]:.2f}",
                "",
            )
            for name in VARIANTS
        ),
        (
            f"fast / botocore transport (target >= {TARGET_FAST_PER_CPU_S:,} per CPU-s)",
            f"{fast_wall / a_wall:.2f}x",
            f"{fast_over_botocore:.2f}x",
            "",
            verdict(fast_cpu >= TARGET_FAST_PER_CPU_S),
        ),
        (
            f"fast / (b) aiobotocore (target >= {TARGET_FAST_OVER_AIOBOTOCORE:g}x)",
            f"{fast_wall / b_wall:.2f}x",
            f"{fast_over_plain:.2f}x",
            "",
            verdict(fast_over_plain >= TARGET_FAST_OVER_AIOBOTOCORE),
        ),
        (
            "packed 5KB / unpacked, botocore transport",
            f"{v_wall['botocore, pack 5KB'] / a_wall:.2f}x",
            f"{packed_over_botocore:.2f}x",
            "",
            "",
        ),
        (
            "packed 5KB: fast / botocore transport",
            f"{v_wall['fast, pack 5KB'] / v_wall['botocore, pack 5KB']:.2f}x",
            f"{packed_fast_over_botocore:.2f}x",
            "",
            "",
        ),
        (
            f"packed 5KB, fast (target >= {TARGET_PACKED_PER_CPU_S:,} events per CPU-s)",
            "",
            f"{packed_cpu:,.0f}",
            "",
            verdict(met_packed),
        ),
    ]
    print_table(
        "shipping to a loopback Firehose endpoint, one client process (medians)",
        ("client", "rec/s wall", "rec per CPU-s", "CPU us/rec", ""),
        rows,
    )
    print(
        f"\n(c) {c['throttled']:,} records throttled, {c['retried']:,} resent, {c['calls']:,} calls for "
        f"{c['records']:,} delivered ({c['dead_lettered']} dead-lettered after 8 attempts); "
        f"latency p50/p99 {c['latency_ms'].get('p50')}/{c['latency_ms'].get('p99')} ms"
    )
    print(
        f"(b) against the reference ~{REFERENCE_AIOBOTOCORE_PER_CPU_S:,} per CPU-s for aiobotocore on this "
        f"machine: {b_cpu / REFERENCE_AIOBOTOCORE_PER_CPU_S:.0%}"
    )
    write_results(
        "ship",
        {
            "quick": args.quick,
            "records": args.records,
            "repeats": args.repeats,
            "in_flight": args.in_flight,
            "producer": {
                "records_per_s": a_wall,
                "records_per_cpu_s": a_cpu,
                "whole_run_records_per_s": a_whole_wall,
                "whole_run_records_per_cpu_s": a_whole_cpu,
                "runs": produced,
            },
            "aiobotocore_prebuilt": {
                "records_per_s": b_wall,
                "records_per_cpu_s": b_cpu,
                "generation_events_per_cpu_s": gen_rate,
                "runs": plain,
            },
            "variants": {
                name: {
                    "transport": VARIANTS[name][0],
                    "pack": VARIANTS[name][1],
                    "rate": VARIANTS[name][2],
                    "events_per_s": v_wall[name],
                    "events_per_cpu_s": v_cpu[name],
                    "runs": runs,
                }
                for name, runs in variants.items()
            },
            "fast_over_botocore_cpu": round(fast_over_botocore, 3),
            "fast_over_botocore_wall": round(fast_wall / a_wall, 3),
            "fast_over_aiobotocore_cpu": round(fast_over_plain, 3),
            "fast_200_over_aiobotocore_cpu": round(v_cpu["fast, 200/s"] / b_cpu, 3),
            "packed_over_unpacked_botocore_cpu": round(packed_over_botocore, 3),
            "packed_fast_over_botocore_cpu": round(packed_fast_over_botocore, 3),
            "producer_overhead_us_per_record": round(overhead_us, 2),
            "ratio_cpu": round(ratio_cpu, 3),
            "ratio_wall": round(ratio_wall, 3),
            "unthrottled_at_throttled_in_flight": {"in_flight": args.throttled_in_flight, **control},
            "throttled": {"throttle_rate": 0.3, "in_flight": args.throttled_in_flight, **c},
            "throttled_at_default_in_flight": {"throttle_rate": 0.3, "in_flight": args.in_flight, **c4},
            "targets": {
                "ratio_cpu": TARGET_RATIO,
                "met": ratio_cpu >= TARGET_RATIO,
                "reference_aiobotocore_per_cpu_s": REFERENCE_AIOBOTOCORE_PER_CPU_S,
                "fast_events_per_cpu_s": TARGET_FAST_PER_CPU_S,
                "fast_over_aiobotocore": TARGET_FAST_OVER_AIOBOTOCORE,
                "fast_met": met_fast,
                "packed_events_per_cpu_s": TARGET_PACKED_PER_CPU_S,
                "packed_met": met_packed,
            },
        },
    )


if __name__ == "__main__":
    main()

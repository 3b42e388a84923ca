"""Baseline for bench/locust_worker.py: a plain boto3 locust user sending pre-built batches.

The obvious way to load-test Firehose with locust: 500 records built once, sent again
and again with PutRecordBatch, one request event per call. Not part of the product.
"""

from __future__ import annotations

import os
import time
from typing import Any

import boto3
from botocore.config import Config
from locust import User, constant, task

from producer.generation.encode import encode_block
from producer.generation.sessions import SessionGenerator
from producer.generation.world import World, WorldConfig
from producer.runtime.rate import constant as constant_rate

_BATCH: list[dict[str, bytes]] = []


def _batch() -> list[dict[str, bytes]]:
    if not _BATCH:
        gen = SessionGenerator(
            World(WorldConfig(seed=1, accounts=20_000)), constant_rate(1e5).bind(1.79e9), seed=1
        )
        records: list[bytes] = []
        while len(records) < 500:
            records.extend(encode_block(gen.next_block()))
        _BATCH.extend({"Data": r} for r in records[:500])
    return _BATCH


class PlainFirehoseUser(User):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.client_ = boto3.client(
            "firehose",
            endpoint_url=os.environ["BENCH_ENDPOINT"],
            region_name="us-east-1",
            config=Config(retries={"total_max_attempts": 1}, max_pool_connections=50),
        )
        self.batch = _batch()

    @task
    def put(self) -> None:
        started = time.perf_counter()
        exc: Any = None
        try:
            resp = self.client_.put_record_batch(DeliveryStreamName="bench", Records=self.batch)
            if resp["FailedPutCount"]:
                exc = RuntimeError(f"{resp['FailedPutCount']} records failed")
        except Exception as e:
            exc = e
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.environment.events.request.fire(
            request_type="Firehose", name="PutRecordBatch", response_time=elapsed_ms,
            response_length=0, exception=exc, context={},
        )  # fmt: skip

"""Blocking delivery shared by the users of a locust worker (greenlets)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import gevent

from producer.delivery.retry import RetryPolicy, SyncDelivery
from tests.support.transports import SLOW


class EveryOtherFirstTry:
    """Throttles the even records the first time it sees them; yields to other greenlets."""

    name = "firehose"

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.kept: list[bytes] = []
        self.calls: list[list[bytes]] = []

    def put(self, records: Sequence[bytes]) -> list[tuple[int, str, str]]:
        self.calls.append(list(records))
        gevent.sleep(0.001)  # the call is on the wire: the other users run
        failed = []
        for i, r in enumerate(records):
            if r not in self.seen and int(r.split(b":")[1]) % 2 == 0:
                failed.append((i, *SLOW))
            else:
                self.kept.append(r)
            self.seen.add(r)
        return failed


def test_users_sharing_a_delivery_each_get_their_own_batch_settled() -> None:
    transport = EveryOtherFirstTry()
    delivery = SyncDelivery(transport, policy=RetryPolicy(base_s=0.01), rng=random.Random(1))
    batches = [[b"user%d:%d\n" % (u, i) for i in range(50)] for u in range(4)]
    users = [gevent.spawn(delivery.send_batch, batch) for batch in batches]
    gevent.joinall(users, raise_error=True)
    results = [u.value for u in users]
    assert [r.delivered for r in results] == [50] * 4 and not any(r.failures for r in results)
    assert sum(r.throttled for r in results) == sum(r.retried for r in results) == 100
    assert sorted(transport.kept) == sorted(r for b in batches for r in b)  # each record once
    # Resends of one user's batch may ride in another user's call.
    assert sum(r.calls for r in results) == len(transport.calls) < 4 * 3

from __future__ import annotations

import uuid

import numpy as np

from producer.generation.ids import uuid_bytes
from producer.generation.sessions import SessionGenerator
from producer.generation.world import World
from producer.runtime.rate import constant

# The bits a version-4 UUID fixes: the version nibble and the two variant bits.
_FIXED = (0xF << 76) | (0x3 << 62)


def _bits(text: bytes) -> int:
    return uuid.UUID(text.decode()).int


def test_every_free_bit_of_an_id_depends_on_the_key() -> None:
    keys = np.random.default_rng(3).integers(0, 2**63, size=256).tolist()
    for counter in (0, 1, 2**40):
        ids = [_bits(uuid_bytes(int(k), np.array([counter], dtype=np.int64))[0]) for k in keys]
        varies = 0
        for a in ids:
            varies |= a ^ ids[0]
        assert varies == ((1 << 128) - 1) & ~_FIXED, (
            f"counter {counter}: bits {~varies & ~_FIXED:#034x} never change"
        )


def test_ids_are_valid_v4_and_unique() -> None:
    ids = uuid_bytes(12345, np.arange(200_000, dtype=np.int64))
    assert len(set(ids)) == len(ids)
    for text in ids[:1000]:
        u = uuid.UUID(text.decode())
        assert u.version == 4 and u.variant == uuid.RFC_4122


def test_the_first_event_id_of_a_run_differs_in_every_group_across_seeds(small_world: World) -> None:
    firsts = []
    for seed in range(8):
        gen = SessionGenerator(small_world, constant(200.0).bind(1_790_000_000.0), seed=seed)
        firsts.append(gen.next_block().event_id[0].decode())
    for group in range(5):
        assert len({f.split("-")[group] for f in firsts}) == len(firsts), firsts

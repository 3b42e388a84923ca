"""Seeded, counter-based UUIDs, generated a whole array at a time.

``event_id`` and ``session_id`` must be unique, reproducible from the seed, and
cheap: a keyed SplitMix64 of a counter gives 128 bits per id with no per-id Python
work, formatted as RFC 4122 version-4 text.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["uuid_bytes", "uuid_strings", "uuid_text"]

# Each byte value as its two hex digits, read as one uint16 (machine byte order).
_HEX2 = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype=np.uint16)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_LOW_KEY = np.uint64(0xD1B54A32D192ED03)
# The 8-4-4-4-12 groups: (first text column, first hex digit, digits).
_GROUPS = ((0, 0, 8), (9, 8, 4), (14, 12, 4), (19, 16, 4), (24, 20, 12))


def _splitmix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return np.asarray(z ^ (z >> np.uint64(31)), dtype=np.uint64)


def uuid_bytes(key: int, counters: npt.NDArray[np.int64]) -> list[bytes]:
    """UUID v4 text (ASCII bytes) for each counter, keyed by ``key`` (a hash of seed and stream)."""
    if len(counters) == 0:
        return []
    out: list[bytes] = uuid_text(key, counters).view("S36").ravel().tolist()
    return out


def uuid_text(key: int, counters: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """The UUID text of :func:`uuid_bytes` as an ``(n, 36)`` array of ASCII codes."""
    n = len(counters)
    k = np.uint64(key & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        hi = _splitmix(counters.astype(np.uint64) ^ k)
        # The low word mixes in a second key derived from ``key``: keyed with ``key``
        # itself, counter 0 gave hi == splitmix(key) and a low word of splitmix(0) for
        # every seed.
        k2 = _splitmix(np.full(1, k ^ _LOW_KEY, dtype=np.uint64))
        lo = _splitmix(hi ^ k2)
    # Version 4 in bits 12-15 of the time_hi field; RFC 4122 variant in the clock_seq.
    hi = (hi & np.uint64(0xFFFFFFFFFFFF0FFF)) | np.uint64(0x4000)
    lo = (lo & np.uint64(0x3FFFFFFFFFFFFFFF)) | np.uint64(0x8000000000000000)
    words = np.empty((n, 2), dtype=">u8")
    words[:, 0] = hi
    words[:, 1] = lo
    digits = _HEX2[words.view(np.uint8).reshape(n, 16)].view(np.uint8)  # (n, 32)
    text = np.empty((n, 36), dtype=np.uint8)
    text[:, [8, 13, 18, 23]] = ord("-")
    for col, first, width in _GROUPS:
        text[:, col : col + width] = digits[:, first : first + width]
    return text


def uuid_strings(key: int, counters: npt.NDArray[np.int64]) -> list[str]:
    """Like :func:`uuid_bytes`, as ``str``."""
    return [b.decode("ascii") for b in uuid_bytes(key, counters)]

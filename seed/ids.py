"""Deterministic, random-looking UUIDs computed from (seed, table, row index).

Any worker can compute the id of any row without having generated it, so a child row
references its parent by index alone. The ids look like `gen_random_uuid()` (version 4,
scattered over the key space), so B-tree inserts and lookups behave as with real ids,
not as with sequential keys. Unique within a table: the first 48 bits are a bijection of
the row index (odd multipliers and xor-shifts are invertible modulo 2**48).
"""

from __future__ import annotations

import hashlib

import numpy as np

MASK48 = np.uint64((1 << 48) - 1)
MAX_ROWS = 1 << 48


def _salt(seed: int, table: str) -> np.uint64:
    digest = hashlib.blake2b(f"{seed}:{table}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def _mix48(x: np.ndarray) -> np.ndarray:
    """A bijection on 48-bit integers with good avalanche (splitmix-style rounds)."""
    x = x & MASK48
    x ^= x >> np.uint64(24)
    x = (x * np.uint64(0xD6E8FEB86659FD93 & ((1 << 48) - 1) | 1)) & MASK48
    x ^= x >> np.uint64(21)
    x = (x * np.uint64(0xA3B195354A39B70D & ((1 << 48) - 1) | 1)) & MASK48
    x ^= x >> np.uint64(24)
    return x


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: 64 well-mixed bits from an index (filler, not unique)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uuid_bytes(seed: int, table: str, index: np.ndarray) -> np.ndarray:
    """(n, 16) uint8 array: the UUIDs of rows `index` of `table`."""
    index = np.asarray(index, dtype=np.uint64)
    salt = _salt(seed, table)
    with np.errstate(over="ignore"):
        unique = _mix48(index + (salt & MASK48))
        filler = _mix64(index ^ salt)
    out = np.empty((index.size, 16), dtype=np.uint8)
    out[:, 0:6] = unique.astype(">u8").view(np.uint8).reshape(-1, 8)[:, 2:8]
    out[:, 6:16] = filler.astype(">u8").view(np.uint8).reshape(-1, 8)[:, [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]]
    out[:, 6] = (out[:, 6] & 0x0F) | 0x40  # version 4
    out[:, 8] = (out[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    return out


def unit_floats(seed: int, stream: str, index) -> np.ndarray:
    """Uniform [0, 1) floats that depend only on (seed, stream, index): per-row choices
    any worker can recompute (e.g. which user owns project i)."""
    index = np.asarray(index, dtype=np.uint64)
    with np.errstate(over="ignore"):
        bits = _mix64(index ^ _salt(seed, stream))
    return (bits >> np.uint64(11)).astype(np.float64) / float(1 << 53)

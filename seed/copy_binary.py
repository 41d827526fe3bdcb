"""PostgreSQL binary COPY encoding of whole columns at once.

psycopg's `write_row` encodes field by field from Python objects: at small scale it held
the seeder to 0.48x the server's plain-COPY limit (`make bench-seed`), most of it spent
making `uuid.UUID` and `datetime` objects only to encode them again. Here a chunk is
encoded column by column: fixed-width types (uuid, timestamptz, integers, bool, float,
vector) as one numpy block for all rows, variable-width ones (text, jsonb, bytea, uuid[])
as one bytes object per value, and the rows are joined once. The format is the one
documented under COPY, "Binary Format": a header, per row an int16 field count, per field
an int32 length (-1 for NULL) and the type's binary send format, then an int16 -1.

A column is given as
  - a numpy array: uuid (n, 16) uint8, timestamptz datetime64[us] (UTC), integers, bool,
    floats, vector (n, dim) float32;
  - Masked(array, null): the same with NULL where `null` is True;
  - a list of Python values (None is NULL): str for text and varchar, dict or JSON text
    for jsonb, bytes for bytea, lists of 16-byte ids for uuid[].
"""

from __future__ import annotations

import json
import struct
import uuid
from dataclasses import dataclass
from itertools import chain

import numpy as np

from bench.core.errors import BenchError

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
NULL = struct.pack(">i", -1)
PG_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")
UUID_OID = 2950
JSONB_VERSION = b"\x01"

# type name -> (numpy dtype of one value, big-endian); vector is sized by its array
FIXED = {"uuid": None, "timestamptz": ">i8", "timestamp": ">i8", "int2": ">i2", "int4": ">i4",
         "int8": ">i8", "bool": "u1", "float4": ">f4", "float8": ">f8", "vector": None}
VARIABLE = {"text", "varchar", "bpchar", "jsonb", "bytea", "_uuid"}
SUPPORTED = set(FIXED) | VARIABLE


@dataclass(frozen=True)
class Masked:
    """A fixed-width column holding NULLs: `values` for every row, NULL where `null`."""
    values: np.ndarray
    null: np.ndarray


def encode(columns: dict[str, object], types: dict[str, str]) -> tuple[list[str], bytes]:
    """The COPY payload of the columns (all of one length), and the column order it uses:
    fixed-width columns first, so that their fields form one numpy block per row."""
    n = row_count(columns)
    unknown = {types[name] for name in columns} - SUPPORTED
    if unknown:
        raise ValueError(f"no binary encoder for type(s) {', '.join(sorted(unknown))}")
    fixed = [name for name, values in columns.items() if types[name] in FIXED and isinstance(values, np.ndarray)]
    others = [name for name in columns if name not in fixed]
    block = np.empty((n, 2 + sum(4 + _width(types[c], columns[c]) for c in fixed)), dtype=np.uint8)
    block[:, 0:2] = np.frombuffer(struct.pack(">h", len(columns)), dtype=np.uint8)
    at = 2
    for name in fixed:
        at = _put_field(block, at, types[name], columns[name], name)
    streams = [stream for name in others for stream in _pieces(types[name], columns[name], name, n)]
    if not streams:
        return fixed + others, HEADER + block.tobytes() + TRAILER
    rows = block.view(f"V{block.shape[1]}").ravel().tolist()
    body = b"".join(chain.from_iterable(zip(rows, *streams)))
    return fixed + others, HEADER + body + TRAILER


def row_count(columns: dict[str, object]) -> int:
    lengths = {len(v.values) if isinstance(v, Masked) else len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    return lengths.pop()


def _width(kind: str, values: np.ndarray) -> int:
    if kind == "uuid":
        return 16
    if kind == "vector":
        return 4 + 4 * values.shape[1]
    return np.dtype(FIXED[kind]).itemsize


def _put_field(block: np.ndarray, at: int, kind: str, values: np.ndarray, name: str) -> int:
    """Write one column's length prefix and values into block[:, at:]; return the next offset."""
    width = _width(kind, values)
    block[:, at:at + 4] = np.frombuffer(struct.pack(">i", width), dtype=np.uint8)
    block[:, at + 4:at + 4 + width] = _fixed_bytes(kind, values, name).reshape(len(block), width)
    return at + 4 + width


def _fixed_bytes(kind: str, values: np.ndarray, name: str) -> np.ndarray:
    """(n, width) uint8: the binary send format of each value."""
    n = len(values)
    if kind == "uuid":
        if values.dtype != np.uint8 or values.shape[1:] != (16,):
            raise ValueError(f"{name}: uuid columns are (n, 16) uint8 arrays, got {values.dtype} {values.shape}")
        return values
    if kind == "vector":
        out = np.empty((n, 4 + 4 * values.shape[1]), dtype=np.uint8)
        out[:, 0:4] = np.frombuffer(struct.pack(">hh", values.shape[1], 0), dtype=np.uint8)
        out[:, 4:] = values.astype(">f4").view(np.uint8).reshape(n, -1)
        return out
    if kind in ("timestamptz", "timestamp"):
        if values.dtype != np.dtype("datetime64[us]"):
            raise ValueError(f"{name}: timestamp columns are datetime64[us] arrays, got {values.dtype}")
        return (values - PG_EPOCH).astype(">i8").view(np.uint8)
    dtype = np.dtype(FIXED[kind])
    if dtype.kind == "i" and len(values) and (values.min() < np.iinfo(dtype).min or values.max() > np.iinfo(dtype).max):
        raise BenchError(f"{name}: a value does not fit the column's type {kind}")
    return values.astype(dtype).view(np.uint8)


def _pieces(kind: str, values, name: str, n: int) -> list[list]:
    """Streams of per-row bytes for a column that is not one fixed block (prefix included)."""
    if isinstance(values, Masked):
        block = np.empty((n, 4 + _width(kind, values.values)), dtype=np.uint8)
        _put_field(block, 0, kind, values.values, name)
        out = block.view(f"V{block.shape[1]}").ravel().tolist()
        for i in np.flatnonzero(values.null):
            out[i] = NULL
        return [out]
    if kind in FIXED:
        raise ValueError(f"{name}: give {kind} columns as numpy arrays (Masked for NULLs), not {type(values).__name__}")
    payloads = [None if v is None else _payload(kind, v) for v in values]
    lengths = np.fromiter((-1 if p is None else len(p) for p in payloads), dtype=np.int64, count=n)
    prefixes = lengths.astype(">i4").view("V4").tolist()
    return [prefixes, [b"" if p is None else p for p in payloads]]


def _payload(kind: str, value) -> bytes:
    if kind == "jsonb":
        return JSONB_VERSION + (value if isinstance(value, str) else json.dumps(value)).encode()
    if kind == "bytea":
        return bytes(value)
    if kind == "_uuid":
        return _uuid_array(value)
    return value.encode()


def _uuid_array(ids: list) -> bytes:
    """A one-dimensional uuid[] (or an empty one) in array_send's format."""
    if not ids:
        return struct.pack(">iii", 0, 0, UUID_OID)
    head = struct.pack(">iiiii", 1, 0, UUID_OID, len(ids), 1)
    return head + b"".join(b"\x00\x00\x00\x10" + (u.bytes if isinstance(u, uuid.UUID) else bytes(u)) for u in ids)

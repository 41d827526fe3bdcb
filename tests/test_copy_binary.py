"""seed.copy_binary: every type the seeder writes, NULLs included, read back from a real
server exactly as given; values that do not fit their column are refused."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from bench.core.errors import BenchError
from seed import copy_binary
from seed.copy_binary import Masked

UTC = dt.timezone.utc
IDS = [uuid.UUID(int=0), uuid.UUID("b3a6c8d2-4f1e-4c2a-9d3b-7e5f6a1b2c3d"), uuid.UUID(int=(1 << 128) - 1)]
TIMES = [dt.datetime(2000, 1, 1, tzinfo=UTC), dt.datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
         dt.datetime(2026, 11, 30, 8, 15, 0, 123_456, tzinfo=UTC)]

TABLE = """CREATE TEMP TABLE t (
    id uuid, maybe_id uuid, at timestamptz, maybe_at timestamptz, small int2, n int4, big int8,
    flag bool, ratio float4, score float8, embedding vector(3), name text, code varchar(8),
    doc jsonb, blob bytea, refs uuid[])"""
TYPES = {"id": "uuid", "maybe_id": "uuid", "at": "timestamptz", "maybe_at": "timestamptz", "small": "int2",
         "n": "int4", "big": "int8", "flag": "bool", "ratio": "float4", "score": "float8", "embedding": "vector",
         "name": "text", "code": "varchar", "doc": "jsonb", "blob": "bytea", "refs": "_uuid"}


def id_array(ids: list[uuid.UUID]) -> np.ndarray:
    return np.frombuffer(b"".join(u.bytes for u in ids), dtype=np.uint8).reshape(-1, 16)


def time_array(times: list[dt.datetime]) -> np.ndarray:
    return np.array([t.astimezone(UTC).replace(tzinfo=None) for t in times], dtype="datetime64[us]")


def load(conn, columns: dict) -> list[tuple]:
    names, payload = copy_binary.encode(columns, {n: TYPES[n] for n in columns})
    with conn.cursor().copy(f"COPY t ({', '.join(names)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(payload)
    return conn.execute(f"SELECT {', '.join(columns)} FROM t").fetchall()


@pytest.fixture
def conn(db_dsn):
    with psycopg.connect(db_dsn) as conn:
        register_vector(conn)
        conn.execute(TABLE)
        yield conn


def test_every_type_reads_back_as_written_nulls_included(conn):
    vectors = np.array([[1.0, -0.5, 0.25], [0.0, 1e-7, -3.5], [0.1, 0.2, 0.3]], dtype=np.float32)
    columns = {
        "id": id_array(IDS),
        "maybe_id": Masked(id_array(IDS), np.array([False, True, False])),
        "at": time_array(TIMES),
        "maybe_at": Masked(time_array(TIMES), np.array([True, False, False])),
        "small": np.array([-32768, 0, 32767]),
        "n": np.array([-(1 << 31), 7, (1 << 31) - 1]),
        "big": np.array([-(1 << 63), 0, (1 << 63) - 1]),
        "flag": np.array([True, False, True]),
        "ratio": np.array([0.5, -1.25, 3.0]),
        "score": np.array([1 / 3, -2.5e300, 0.0]),
        "embedding": vectors,
        "name": ["plain", None, "ünïcode, \"quotes\", and a\ttab"],
        "code": ["a", "", None],
        "doc": [{"ip": "10.0.0.1"}, '{"pages": 3}', None],
        "blob": [b"\x00\xff\x00", None, b""],
        "refs": [[], None, [IDS[1].bytes, id_array(IDS)[2]]],
    }
    rows = load(conn, columns)
    assert [r[0] for r in rows] == IDS
    assert [r[1] for r in rows] == [IDS[0], None, IDS[2]]
    assert [r[2] for r in rows] == TIMES
    assert [r[3] for r in rows] == [None, TIMES[1], TIMES[2]]
    assert [r[4:7] for r in rows] == [(-32768, -(1 << 31), -(1 << 63)), (0, 7, 0), (32767, (1 << 31) - 1, (1 << 63) - 1)]
    assert [r[7] for r in rows] == [True, False, True]
    assert [r[8] for r in rows] == [0.5, -1.25, 3.0]
    assert [r[9] for r in rows] == [1 / 3, -2.5e300, 0.0]
    assert np.array_equal(np.stack([r[10].to_numpy() for r in rows]), vectors)
    assert [r[11] for r in rows] == columns["name"]
    assert [r[12] for r in rows] == ["a", "", None]
    assert [r[13] for r in rows] == [{"ip": "10.0.0.1"}, {"pages": 3}, None]
    assert [r[14] for r in rows] == [b"\x00\xff\x00", None, b""]
    assert [r[15] for r in rows] == [[], None, [IDS[1], IDS[2]]]


def test_no_rows_is_a_valid_payload(conn):
    assert load(conn, {"id": id_array([]), "name": []}) == []


def test_fixed_width_columns_come_first_in_the_copy_column_list():
    names, _payload = copy_binary.encode({"name": ["x"], "id": id_array(IDS[:1]), "at": time_array(TIMES[:1])},
                                         {"name": "text", "id": "uuid", "at": "timestamptz"})
    assert names == ["id", "at", "name"]


def test_a_value_too_big_for_its_column_is_refused_not_wrapped():
    with pytest.raises(BenchError, match="does not fit"):
        copy_binary.encode({"n": np.array([1, 1 << 31])}, {"n": "int4"})


def test_columns_of_different_lengths_or_unknown_types_are_programming_errors():
    with pytest.raises(ValueError, match="different lengths"):
        copy_binary.encode({"id": id_array(IDS), "name": ["a"]}, {"id": "uuid", "name": "text"})
    with pytest.raises(ValueError, match="money"):
        copy_binary.encode({"cash": ["1"]}, {"cash": "money"})
    with pytest.raises(ValueError, match="numpy arrays"):
        copy_binary.encode({"at": TIMES}, {"at": "timestamptz"})

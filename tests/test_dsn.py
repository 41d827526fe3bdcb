"""DSN masking: a password never survives into anything we print."""

import pytest

from bench import dsn


@pytest.mark.parametrize(
    "raw, secret",
    [
        ("postgresql://alice:s3cr3t@db.example.com:5432/app", "s3cr3t"),
        ("postgres://alice:p%40ss@host/app?sslmode=require", "p%40ss"),
        ("host=db user=alice password=s3cr3t dbname=app", "s3cr3t"),
        ("host=db user=alice password='with space' dbname=app", "with space"),
        ("postgresql://alice@host/app?password=s3cr3t&sslmode=require", "s3cr3t"),
    ],
)
def test_mask_removes_password(raw, secret):
    masked = dsn.mask(raw)
    assert secret not in masked
    assert dsn.MASK in masked


def test_mask_keeps_dsn_without_password():
    raw = "postgresql://postgres@/bench?host=/tmp/x&port=5432"
    assert dsn.mask(raw) == raw


def test_redact_scrubs_decoded_password_from_free_text():
    raw = "postgresql://alice:p%40ss@host/app"
    text = "server said: password p@ss rejected for postgresql://alice:p%40ss@host/app"
    cleaned = dsn.redact(text, raw)
    assert "p@ss" not in cleaned and "p%40ss" not in cleaned


def test_describe_has_no_password():
    label = dsn.describe("postgresql://alice:s3cr3t@db.example.com:6543/app")
    assert label == "alice@db.example.com:6543/app"


def test_asyncpg_kwargs_from_both_dsn_forms():
    url = dsn.asyncpg_kwargs("postgresql://alice:pw@db.example.com:6543/app?sslmode=require")
    kv = dsn.asyncpg_kwargs("host=db.example.com port=6543 user=alice password=pw dbname=app sslmode=require")
    assert url == kv == {"host": "db.example.com", "port": 6543, "user": "alice", "password": "pw",
                         "database": "app", "ssl": "require"}
    socket = dsn.asyncpg_kwargs("postgresql://postgres@/bench?host=/tmp/pg&port=5432")
    assert socket["host"] == "/tmp/pg" and socket["port"] == 5432

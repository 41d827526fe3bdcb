"""`bench run maintenance` on a real tiny dataset: the materialized view's refresh is timed
where the view exists, rolled back, and the review's refusals are told apart from faults."""

from __future__ import annotations

import psycopg
import pytest

from bench import cli
from bench.judge import results
from bench.maintenance import refresh


def _filenode(dsn: str, variant: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT relfilenode FROM pg_class WHERE oid = %s::regclass",
                            (f"{variant}.{refresh.VIEW}",)).fetchone()[0]


def test_refresh_is_timed_where_the_view_is_and_rolled_back(tiny_dsn, tmp_path, capsys):
    files = {v: _filenode(tiny_dsn, v) for v in ("review", "hardened")}
    with pytest.raises(SystemExit) as done:
        cli.main(["--dsn", tiny_dsn, "run", "maintenance", "--repeats", "3", "--out", str(tmp_path)])
    assert done.value.code == 0, capsys.readouterr().err
    section = results.load(next(tmp_path.iterdir()))["maintenance"]
    by = {(r["variant"], r["mode"]): r for r in section["refreshes"]}
    assert set(by) == {(v, m) for v in ("review", "hardened") for m in refresh.MODES}  # baseline has no view
    for key in (("hardened", "concurrently"), ("hardened", "plain"), ("review", "plain")):
        r = by[key]
        assert r["ok"] and r["count"] == 3 and len(r["times_ms"]) == 3 and r["median_ms"] > 0, r
        assert r["mean_ms"]["low"] <= r["mean_ms"]["estimate"] <= r["mean_ms"]["high"]
        assert r["duty"]["60"] == pytest.approx(r["mean_ms"]["estimate"] / 1000 / 60)
    refused = by[("review", "concurrently")]
    assert not refused["ok"] and refused["known"] == refresh.NO_UNIQUE_INDEX and "concurrently" in refused["error"]
    assert refresh.faults(section) == []
    assert {v: _filenode(tiny_dsn, v) for v in files} == files  # a plain refresh's new file was rolled back
    assert "stale" in section["staleness"]


def test_a_refresh_failing_for_another_reason_is_a_fault(tiny_dsn, tmp_path, capsys):
    with psycopg.connect(tiny_dsn, autocommit=True) as conn:  # the review's cast fails on a non-numeric rating
        conn.execute("SET search_path = review, public")  # its audit trigger finds audit_log through it
        conn.execute("UPDATE review.capabilities SET metrics = '{\"rating\": \"n/a\"}' "
                     "WHERE id = (SELECT id FROM review.capabilities WHERE status = 'published' "
                     "AND deleted_at IS NULL LIMIT 1)")
    with pytest.raises(SystemExit) as done:
        cli.main(["--dsn", tiny_dsn, "run", "maintenance", "--repeats", "2", "--only", "review",
                  "--out", str(tmp_path)])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert "review: REFRESH plain failed" in err and "invalid input syntax" in err and "Traceback" not in err

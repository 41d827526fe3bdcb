"""The seeder: determinism, exact counts, integrity of the generated data, the same
logical rows in every variant, resume after a kill -9, and one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from bench.core.errors import BenchError
from seed import benchmark, checks, loader
from seed.config import GENERATOR_VERSION, make_config, scales
from seed.plan import Plan
from seed.tables import TABLES
from tests.conftest import TEST_KEY, seed_tiny

VARIANTS = ("baseline", "review", "hardened")


@pytest.fixture
def second_db(pg_server, template_db):
    import uuid

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield pg_server.dsn(name)
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def all_checksums(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn:
        return {v: checks.checksums(conn, v) for v in VARIANTS}


def test_same_seed_same_bytes_whatever_the_workers(shared_tiny_dsn, db_dsn):
    seed_tiny(db_dsn, workers=2)  # the shared database was seeded with one worker
    first, second = all_checksums(shared_tiny_dsn), all_checksums(db_dsn)
    assert first == second
    assert len(first["hardened"]) >= 12  # every table compared, the junction table included


def test_another_seed_gives_other_rows(shared_tiny_dsn, db_dsn):
    seed_tiny(db_dsn, only=["baseline"], seed=2)
    with psycopg.connect(shared_tiny_dsn) as a, psycopg.connect(db_dsn) as b:
        for table in ("users", "projects", "documents"):
            assert checks.table_checksum(a, "baseline", table) != checks.table_checksum(b, "baseline", table)


def test_exact_counts(shared_tiny_dsn):
    tiny = scales()["tiny"]
    plan = Plan(1, tiny)
    with psycopg.connect(shared_tiny_dsn) as conn:
        for variant in VARIANTS:
            for table in ("organizations", "users", "projects", "documents", "capabilities", "user_activity_log"):
                assert conn.execute(f"SELECT count(*) FROM {variant}.{table}").fetchone()[0] == tiny[table]
            members = conn.execute(f"SELECT count(*) FROM {variant}.project_members").fetchone()[0]
            assert members == plan.total("project_members") > tiny["projects"]  # several per project
        assert conn.execute("SELECT count(*) FROM bench_meta.query_vectors").fetchone()[0] == tiny["query_vectors"]


def test_generated_data_has_integrity_in_every_variant(shared_tiny_dsn):
    with psycopg.connect(shared_tiny_dsn) as conn:
        for variant in VARIANTS:
            problems = {k: v for k, v in checks.orphans(conn, variant).items() if v}
            assert problems == {}, variant


def test_variants_hold_the_same_logical_rows(shared_tiny_dsn):
    common = {
        "projects": ["id", "organization_id", "owner_id", "name", "status", "created_at"],
        "documents": ["id", "knowledge_base_id", "title", "content", "document_type", "language", "embedding_vector"],
        "capabilities": ["id", "organization_id", "name", "category", "status", "approval_status", "metrics"],
        "user_activity_log": ["id", "user_id", "action", "timestamp"],
        "mcp_integrations": ["id", "organization_id", "name", "url"],
    }
    with psycopg.connect(shared_tiny_dsn) as conn:
        for table, columns in common.items():
            sums = {checks.table_checksum(conn, v, table, columns) for v in VARIANTS}
            assert len(sums) == 1, table
        # dashboards' soft array reference and hardened's junction table say the same thing
        array_pairs = conn.execute(
            "SELECT count(*) FROM baseline.dashboards d, unnest(d.data_sources) s(id)").fetchone()[0]
        junction = conn.execute(
            "SELECT count(*) FROM baseline.dashboards d JOIN hardened.dashboard_data_sources j ON j.dashboard_id = d.id "
            "WHERE j.dataset_id = ANY(d.data_sources)").fetchone()[0]
        assert array_pairs == junction > 0


def test_data_has_realistic_shape(shared_tiny_dsn):
    with psycopg.connect(shared_tiny_dsn) as conn:
        sizes = [r[0] for r in conn.execute(
            "SELECT count(*) FROM baseline.projects GROUP BY organization_id ORDER BY 1 DESC").fetchall()]
        assert sizes[0] >= 4 * sizes[-1]  # a few big tenants, small ones too
        archived = conn.execute(
            "SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL), count(*) FILTER (WHERE status = 'archived') "
            "FROM hardened.capabilities").fetchone()
        assert archived[0] == archived[1] > 0  # soft-deleted rows exist, marked alike
        recent = conn.execute(
            "SELECT avg(((s.config->>'anchor')::date - \"timestamp\" < interval '30 days')::int) "
            "FROM baseline.user_activity_log, bench_meta.seed_run s").fetchone()[0]
        assert 0.1 < recent < 0.35  # "last 30 days" selects a real slice, not all or nothing
        norms = conn.execute("SELECT min(vector_norm(embedding_vector)), max(vector_norm(embedding_vector)) "
                             "FROM baseline.documents").fetchone()
        assert norms[0] == pytest.approx(1, abs=1e-3) and norms[1] == pytest.approx(1, abs=1e-3)


def test_hardened_gets_only_ciphertext(shared_tiny_dsn):
    from bench.core import crypto as secrets

    with psycopg.connect(shared_tiny_dsn) as conn:
        rid, blob = conn.execute("SELECT id, authentication_ciphertext FROM hardened.mcp_integrations LIMIT 1").fetchone()
        plain = conn.execute("SELECT authentication::text FROM baseline.mcp_integrations WHERE id = %s", (rid,)).fetchone()[0]
    import base64
    import json

    decrypted = secrets.decrypt(bytes(blob), rid.bytes, secret=base64.b64decode(TEST_KEY))
    assert json.loads(decrypted) == json.loads(plain)
    assert b"sk_live_" not in bytes(blob)


@pytest.mark.parametrize("args, says", [
    (["--scale", "huge"], "'huge' is not one of"),
    (["--rows", "documents"], "--rows takes table=N"),
    (["--rows", "widgets=5"], "unknown table 'widgets'"),
    (["--rows", "documents=-5"], "count must be a whole number"),
    (["--rows", "project_members=5"], "derived"),
    (["--rows", "organizations=0"], "at least 1"),
    (["--anchor", "yesterday"], "--anchor must be a date"),
    (["--workers", "0"], "0 is not in the range x>=1"),
])
def test_bad_arguments_are_one_line(run_bench, db_dsn, args, says):
    done = run_bench("--dsn", db_dsn, "seed", *args)
    assert done.returncode == 2, done.stderr  # a usage mistake
    assert done.stderr.strip().count("\n") == 0 and says in done.stderr
    assert "Traceback" not in done.stderr


def test_disk_estimate_grows_with_scale_and_refuses_what_cannot_fit(tmp_path):
    need = {s: loader.estimate_bytes(make_config(s), Plan(1, make_config(s).counts), 3) for s in ("tiny", "small")}
    assert need["small"] > 20 * need["tiny"]
    loader.check_disk(tmp_path, need["tiny"], "tiny")  # a few MB fit anywhere
    with pytest.raises(BenchError, match="needs about .* GB"):
        loader.check_disk(tmp_path, 10**18, "full")


def _seed_cli(dsn: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bench", "--dsn", dsn, "seed", "--scale", "tiny", "--only", "baseline",
            "--rows", "documents=30000", "--anchor", "2026-11-01", "--workers", "1", *extra]


@pytest.mark.e2e  # whole CLI seeds of 30,000 documents
def test_resume_after_kill_9_gives_exact_rows(db_dsn, second_db):
    env = {**os.environ, "BENCH_ENCRYPTION_KEY": TEST_KEY}
    victim = subprocess.Popen(_seed_cli(db_dsn), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with psycopg.connect(db_dsn, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # kill it in the middle of the documents table
                done = conn.execute("SELECT count(*) FROM bench_meta.seed_progress WHERE table_name = 'documents'"
                                    ).fetchone()[0] if conn.execute("SELECT to_regclass('bench_meta.seed_progress')"
                                                                    ).fetchone()[0] else 0
                if done >= 2:
                    break
                time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
    with psycopg.connect(db_dsn) as conn:
        loaded = conn.execute("SELECT count(*) FROM baseline.documents").fetchone()[0]
    assert 0 < loaded < 30000  # really interrupted mid-table

    again = subprocess.run(_seed_cli(db_dsn), env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "--resume" in again.stderr

    resumed = subprocess.run(_seed_cli(db_dsn, "--resume"), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    clean = subprocess.run(_seed_cli(second_db), env=env, capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    with psycopg.connect(db_dsn) as a, psycopg.connect(second_db) as b:
        assert a.execute("SELECT count(*), count(DISTINCT id) FROM baseline.documents").fetchone() == (30000, 30000)
        assert checks.checksums(a, "baseline") == checks.checksums(b, "baseline")


def _query_vectors_digest(conn) -> str:
    return conn.execute("SELECT md5(string_agg(embedding::text, ',' ORDER BY id)) FROM bench_meta.query_vectors"
                        ).fetchone()[0]


def test_a_reseed_replaces_the_held_out_queries(shared_tiny_dsn, db_dsn):
    """Queries left by an earlier seed of the same database would not match its documents."""
    from bench.core import schema as schemas

    seed_tiny(db_dsn, only=["baseline"], difficulty=0.5)
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        easier = _query_vectors_digest(conn)
        schemas.drop(conn, schemas.select(["baseline"])[0], force=True)
    seed_tiny(db_dsn, only=["baseline"])  # the default difficulty, as the shared database
    with psycopg.connect(db_dsn) as conn, psycopg.connect(shared_tiny_dsn) as shared:
        assert _query_vectors_digest(conn) == _query_vectors_digest(shared) != easier


def test_data_of_another_generator_version_is_refused(db_dsn):
    seed_tiny(db_dsn, only=["baseline"])
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("UPDATE bench_meta.seed_run SET config = config - 'generator'")  # as seeded before versions
    with pytest.raises(BenchError, match=f"seed generator 1, this harness writes generator {GENERATOR_VERSION}"):
        seed_tiny(db_dsn, only=["baseline"])


def test_a_finished_seed_keeps_the_sizes_it_measured_when_run_again(db_dsn):
    """Rolled-back writes of a run bloat indexes; the storage claim is about the rows as loaded."""
    from rich.console import Console

    from bench.core import schema as schemas
    from seed.config import make_config
    from seed.run import seed_database

    first = seed_tiny(db_dsn, only=["baseline"])
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        for _ in range(20):  # what a run's write scenarios leave behind
            with conn.transaction(force_rollback=True):
                conn.execute("UPDATE baseline.projects SET name = name || ' (edited)'")
        again = seed_database(conn, db_dsn, schemas.select(["baseline"]), make_config("tiny", anchor="2026-11-01"),
                              workers=1, resume=True, console=Console(quiet=True), data_path=None)
        assert again.rows_loaded == 0
        assert again.storage["baseline"] == first.storage["baseline"]
        live = {r["relation"]: r["index_bytes"] for r in loader.measure_storage(conn, "baseline")}
        assert live["projects"] > {r["relation"]: r["index_bytes"] for r in first.storage["baseline"]}["projects"]


def test_post_data_built_before_the_data_is_refused_not_left_empty(db_dsn):
    from bench.core import schema as schemas

    with psycopg.connect(db_dsn, autocommit=True) as conn:
        baseline = schemas.select(["baseline"])[0]
        schemas.apply(conn, baseline)
        schemas.index(conn, baseline)  # the user ran `bench schema index` first
    with pytest.raises(BenchError, match=r"baseline: post-data was built before any data .* --only baseline --force"):
        seed_tiny(db_dsn, only=["baseline"])
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        schemas.drop(conn, baseline, force=True)
    seed_tiny(db_dsn, only=["baseline"])  # the advice works
    with psycopg.connect(db_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM baseline.projects").fetchone()[0] == scales()["tiny"]["projects"]


def test_1536_dimensions_load_as_written(db_dsn):
    """OpenAI-sized embeddings: the vector column, the HNSW index and the held-out queries."""
    seed_tiny(db_dsn, only=["hardened"], dim=1536, rows=("documents=300",))
    with psycopg.connect(db_dsn) as conn:
        dims = conn.execute("SELECT DISTINCT vector_dims(embedding_vector) FROM hardened.documents").fetchall()
        norms = conn.execute("SELECT min(vector_norm(embedding_vector)), max(vector_norm(embedding_vector)) "
                             "FROM hardened.documents").fetchone()
        queries = conn.execute("SELECT DISTINCT vector_dims(embedding) FROM bench_meta.query_vectors").fetchall()
        assert conn.execute("SELECT count(*) FROM hardened.documents").fetchone()[0] == 300
        hnsw = conn.execute("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                            "JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = 'hardened.documents'::regclass "
                            "AND a.amname = 'hnsw' AND i.indisvalid").fetchone()[0]
    assert hnsw == 1
    assert dims == [(1536,)] and queries == [(1536,)]
    assert 0.999 < norms[0] <= norms[1] < 1.001  # L2-normalised, as generated


@pytest.mark.e2e  # the whole `bench seed --benchmark` in a scratch database
def test_the_seeder_benchmark_prints_every_table_and_leaves_no_scratch_database(run_bench, db_dsn):
    done = run_bench("--dsn", db_dsn, "seed", "--benchmark", "--scale", "tiny")
    assert done.returncode == 0, done.stderr
    lines = [[c.strip() for c in line.strip("│ ").split("│")] for line in done.stdout.splitlines() if "│" in line]
    rows = {cells[0]: cells[1:] for cells in lines if len(cells) == 7}
    growth = {cells[0]: cells[1:] for cells in lines if len(cells) == 4}
    plan = Plan(1, scales()["tiny"])
    with psycopg.connect(db_dsn) as conn:
        baseline_tables = {t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'baseline'")}
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                            ("%" + benchmark.SCRATCH_SUFFIX,)).fetchone()[0]
    assert left == 0 and not baseline_tables  # measured in a scratch database, dropped afterwards
    measured = {name: values for name, values in rows.items() if name in TABLES}
    assert set(measured) == {t for t in TABLES if t != "dashboard_data_sources"}  # baseline has no junction table
    for name, (count, _mb, seeder, _mbs, limit, ratio) in measured.items():
        assert int(count.replace(",", "")) == plan.total(name), name
        assert float(seeder.replace(",", "")) > 0 and float(limit.replace(",", "")) > 0 and float(ratio) > 0
    assert int(rows["all"][0].replace(",", "")) == sum(plan.total(t) for t in measured)
    assert "server-side INSERT ... SELECT generate_series" in done.stdout
    assert set(growth) == set(scales())  # extrapolated load time and disk for every scale, full included
    assert all(load.endswith(" min") and disk[-3:] in ("KiB", "MiB", "GiB", "TiB") for _docs, load, disk in growth.values())

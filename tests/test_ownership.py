"""Issue 14: pointed at someone's database, the harness never takes over or drops what it
did not create. A user's objects with colliding names are refused before any change, and
their objects that depend on a variant are never dropped unannounced. Real CLI, real
server; every test checks the user's data afterwards."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from bench.core import ownership
from bench.core.errors import BenchError
from bench.vector import dataset as vector_dataset
from seed import benchmark as seed_benchmark
from seed import calibration
from seed.config import make_config

pytestmark = pytest.mark.faults  # issue 14's fault-injection suite: `pytest -m faults`

FOREIGN = "exists and was not created by the harness"


def one_line_error(done) -> str:
    """The CLI refused with exit 1 and one `bench: error:` line, no traceback."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), done.stderr
    return lines[0]


def schemas_present(conn, *names: str) -> set[str]:
    return {n for (n,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (list(names),))}


# ---- colliding names are refused before any change ---------------------------------------
def test_a_users_companion_schema_is_refused_by_apply_and_seed(run_bench, db_dsn, db):
    db.execute("CREATE SCHEMA hardened_private; CREATE TABLE hardened_private.precious (note text)")
    db.execute("INSERT INTO hardened_private.precious VALUES ('mine')")
    for args in (("schema", "apply"), ("seed", "--scale", "tiny"), ("seed", "--scale", "tiny", "--only", "hardened")):
        line = one_line_error(run_bench("--dsn", db_dsn, *args))
        assert f'schema "hardened_private" {FOREIGN}' in line
        assert db.execute("SELECT note FROM hardened_private.precious").fetchall() == [("mine",)]
        # refused before any variant was created, not after baseline and review
        assert not schemas_present(db, "baseline", "review", "hardened")
    assert db.execute("SELECT obj_description('hardened_private'::regnamespace)").fetchone()[0] is None


def test_a_users_bench_meta_is_refused(run_bench, db_dsn, db):
    db.execute("CREATE SCHEMA bench_meta; CREATE TABLE bench_meta.notes (n int)")
    db.execute("INSERT INTO bench_meta.notes VALUES (7)")
    line = one_line_error(run_bench("--dsn", db_dsn, "schema", "apply", "--only", "baseline"))
    assert f'schema "bench_meta" {FOREIGN}' in line
    assert db.execute("SELECT n FROM bench_meta.notes").fetchall() == [(7,)]
    assert not schemas_present(db, "baseline")


def test_a_variant_schema_recreated_by_the_user_is_never_dropped(run_bench, db_dsn, db):
    assert run_bench("--dsn", db_dsn, "schema", "apply", "--only", "baseline").returncode == 0
    db.execute("DROP SCHEMA baseline CASCADE; CREATE SCHEMA baseline")  # the record is stale now
    db.execute("CREATE TABLE baseline.mine (n int); INSERT INTO baseline.mine VALUES (5)")
    line = one_line_error(run_bench("--dsn", db_dsn, "schema", "drop", "--force", "--only", "baseline"))
    assert f'schema "baseline" {FOREIGN}' in line
    assert db.execute("SELECT n FROM baseline.mine").fetchall() == [(5,)]


def test_a_users_calibration_table_is_refused(db):
    db.execute("CREATE TABLE public.bench_calibration (id int); INSERT INTO public.bench_calibration VALUES (42)")
    with pytest.raises(BenchError, match=f'table "public.bench_calibration" {FOREIGN}'):
        calibration.measure(db, make_config("tiny", anchor="2026-11-01"), n_queries=10)
    assert db.execute("SELECT id FROM public.bench_calibration").fetchall() == [(42,)]


# ---- bench_vector --------------------------------------------------------------------------
def test_a_users_bench_vector_survives_dropping_every_variant(run_bench, tiny_dsn):
    with psycopg.connect(tiny_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA bench_vector; CREATE TABLE bench_vector.mine (n int)")
        conn.execute("INSERT INTO bench_vector.mine VALUES (1)")
        key = vector_dataset.dataset_key(vector_dataset.dataset_config(conn))
        with pytest.raises(BenchError, match=f'schema "bench_vector" {FOREIGN}'):
            vector_dataset.ensure_scratch(conn, "baseline", key, 384)
    done = run_bench("--dsn", tiny_dsn, "schema", "drop", "--force")
    assert done.returncode == 0, done.stderr
    assert "bench_vector: not created by the harness; left alone" in done.stdout
    with psycopg.connect(tiny_dsn) as conn:
        assert conn.execute("SELECT n FROM bench_vector.mine").fetchall() == [(1,)]
        # the harness's own cross-schema dependencies (hardened -> hardened_private) dropped fine
        assert not schemas_present(conn, "baseline", "review", "hardened", "hardened_private")


def test_the_harness_drops_its_own_bench_vector_with_the_last_variant(run_bench, tiny_dsn):
    with psycopg.connect(tiny_dsn, autocommit=True) as conn:
        key = vector_dataset.dataset_key(vector_dataset.dataset_config(conn))
        assert vector_dataset.ensure_scratch(conn, "baseline", key, 384).built
    done = run_bench("--dsn", tiny_dsn, "schema", "drop", "--force")
    assert done.returncode == 0, done.stderr
    assert "bench_vector: dropped" in done.stdout
    with psycopg.connect(tiny_dsn) as conn:
        assert not schemas_present(conn, "bench_vector", "hardened_private")


# ---- a database seeded by the previous harness version keeps working ---------------------
def test_schemas_of_an_earlier_harness_version_are_adopted(run_bench, tiny_dsn):
    with psycopg.connect(tiny_dsn, autocommit=True) as conn:
        key = vector_dataset.dataset_key(vector_dataset.dataset_config(conn))
        vector_dataset.ensure_scratch(conn, "baseline", key, 384)
        _forget_ownership(conn)  # as the version before bench_meta.owned left it
        assert not vector_dataset.ensure_scratch(conn, "baseline", key, 384).built  # reused, not refused
    done = run_bench("--dsn", tiny_dsn, "schema", "apply")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("already applied") == 3
    with psycopg.connect(tiny_dsn) as conn:
        adopted = set(conn.execute("SELECT name FROM bench_meta.owned WHERE how = 'adopted'").fetchall())
    assert adopted == {(n,) for n in ("bench_meta", "baseline", "review", "hardened", "hardened_private",
                                      "bench_vector")}  # bench_vector: the old scratch copy, by its shape
    done = run_bench("--dsn", tiny_dsn, "schema", "drop", "--force")
    assert done.returncode == 0, done.stderr
    assert "bench_vector: dropped" in done.stdout
    with psycopg.connect(tiny_dsn) as conn:
        assert not schemas_present(conn, "baseline", "review", "hardened", "hardened_private", "bench_vector")


def _forget_ownership(conn) -> None:
    conn.execute("DROP TABLE bench_meta.owned")
    for name in ("bench_meta", "baseline", "review", "hardened", "hardened_private", "bench_vector"):
        conn.execute(f"COMMENT ON SCHEMA {name} IS NULL")


# ---- objects of the user's that depend on a variant ----------------------------------------
USER_OBJECTS = """
CREATE VIEW public.doc_titles AS SELECT id, title FROM baseline.documents;
CREATE TABLE public.notes (org uuid REFERENCES baseline.organizations (id), note text);
INSERT INTO public.notes SELECT id, 'keep me' FROM baseline.organizations LIMIT 1;
"""


def test_dropping_a_variant_refuses_the_users_dependent_objects(run_bench, tiny_dsn):
    with psycopg.connect(tiny_dsn, autocommit=True) as conn:
        conn.execute(USER_OBJECTS)
        titles = conn.execute("SELECT count(*) FROM public.doc_titles").fetchone()[0]
    line = one_line_error(run_bench("--dsn", tiny_dsn, "schema", "drop", "--force"))
    assert "view public.doc_titles" in line and "notes_org_fkey on public.notes" in line
    assert "--force-dependents" in line
    with psycopg.connect(tiny_dsn) as conn:  # refused before any variant was dropped
        assert conn.execute("SELECT count(*) FROM public.doc_titles").fetchone()[0] == titles > 0
        assert schemas_present(conn, "baseline", "review", "hardened", "hardened_private") == {
            "baseline", "review", "hardened", "hardened_private"}


def test_force_dependents_drops_them_and_says_so(run_bench, tiny_dsn):
    with psycopg.connect(tiny_dsn, autocommit=True) as conn:
        conn.execute(USER_OBJECTS)
    done = run_bench("--dsn", tiny_dsn, "schema", "drop", "--force", "--force-dependents", "--only", "baseline")
    assert done.returncode == 0, done.stderr
    assert "also dropped (--force-dependents): view public.doc_titles" in done.stdout
    assert "also dropped (--force-dependents): table constraint notes_org_fkey on public.notes" in done.stdout
    with psycopg.connect(tiny_dsn) as conn:
        assert conn.execute("SELECT to_regclass('public.doc_titles')").fetchone()[0] is None
        # the cascade took the constraint only: the user's table and row stay
        assert conn.execute("SELECT note FROM public.notes").fetchall() == [("keep me",)]
        assert schemas_present(conn, "baseline", "review") == {"review"}


def test_dependents_name_objects_outside_the_dropped_schemas_only(tiny_dsn):
    with psycopg.connect(tiny_dsn, autocommit=True) as db:
        assert ownership.dependents(db, ["hardened", "hardened_private"]) == []  # its own links
        assert any(d.startswith("trigger set_updated_at on hardened.")
                   for d in ownership.dependents(db, ["hardened_private"]))
        db.execute("CREATE FUNCTION public.org_name(o hardened.organizations) RETURNS text LANGUAGE sql "
                   "AS 'SELECT o.name'")
        db.execute("CREATE TABLE public.keep (o hardened.organizations, n int)")
        assert ownership.dependents(db, ["hardened", "hardened_private"]) == [
            "function public.org_name(hardened.organizations)", "table column public.keep.o"]


# ---- scratch databases -------------------------------------------------------------------
@pytest.fixture
def foreign_database(pg_server, db_dsn):
    """Create the user's database `<test db><suffix>` holding one row; dropped afterwards."""
    made = []

    def make(suffix: str) -> str:
        name = conninfo_to_dict(db_dsn)["dbname"] + suffix
        with psycopg.connect(pg_server.admin_dsn, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        with psycopg.connect(pg_server.dsn(name), autocommit=True) as conn:
            conn.execute("CREATE TABLE precious (n int); INSERT INTO precious VALUES (99)")
        return name

    yield make
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as admin:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rows(pg_server, name: str) -> list:
    with psycopg.connect(pg_server.dsn(name)) as conn:
        return conn.execute("SELECT n FROM precious").fetchall()


def test_seed_benchmark_refuses_a_users_scratch_database(run_bench, db_dsn, pg_server, foreign_database):
    name = foreign_database(seed_benchmark.SCRATCH_SUFFIX)
    line = one_line_error(run_bench("--dsn", db_dsn, "seed", "--benchmark", "--scale", "tiny"))
    assert f'database "{name}" {FOREIGN}' in line
    assert _rows(pg_server, name) == [(99,)]


def test_overhead_refuses_a_users_scratch_database(run_bench, db_dsn, pg_server, foreign_database):
    from bench.latency import overhead

    name = foreign_database(overhead.SCRATCH_SUFFIX)
    line = one_line_error(run_bench("--dsn", db_dsn, "run", "overhead", "--seconds", "1", "--clients", "1"))
    assert f'database "{name}" {FOREIGN}' in line
    assert _rows(pg_server, name) == [(99,)]


def test_a_leftover_scratch_database_of_the_harness_is_replaced(pg_server, foreign_database):
    theirs = foreign_database("_theirs")
    ours = theirs.replace("_theirs", "_ours")
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as admin:
        ownership.create_scratch_database(admin, ours)
        ownership.create_scratch_database(admin, ours)  # an interrupted run's leftover: replaced
        ownership.drop_scratch_database(admin, ours)
        ownership.drop_scratch_database(admin, theirs)  # not marked: left alone
        left = {n for (n,) in admin.execute("SELECT datname FROM pg_database WHERE datname IN (%s, %s)",
                                            (ours, theirs))}
    assert left == {theirs}
    assert _rows(pg_server, theirs) == [(99,)]

"""The phase mechanism of `bench schema` on a toy variant folder: re-applying is a no-op,
changed SQL is refused, dropping needs --force and never touches foreign schemas."""

from __future__ import annotations

import pytest

from bench.core import ownership, schema
from bench.core.errors import BenchError


@pytest.fixture
def toy_root(tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "variant.toml").write_text('order = 1\nrequest_role = "service_role"\nrls = false\n')
    (folder / "pre.sql").write_text("CREATE TABLE items (id int PRIMARY KEY, v vector({{dim}}));")
    (folder / "post.sql").write_text("CREATE INDEX items_v ON items USING hnsw (v vector_l2_ops);")
    return tmp_path


def test_apply_index_drop_cycle(db, toy_root):
    (toy,) = schema.select(["toy"], root=toy_root)
    assert schema.apply(db, toy, dim=3) is True
    assert db.execute("SELECT to_regclass('toy.items')").fetchone()[0] == "toy.items"
    empty = schema.size_bytes(db, toy)
    assert empty > 0  # an empty table with a primary key still has its index's metapage
    db.execute("INSERT INTO toy.items SELECT g, '[1,2,3]' FROM generate_series(1, 5000) g")
    assert schema.size_bytes(db, toy) > empty + 5000 * 16  # heap and index grew with the rows
    db.execute("TRUNCATE toy.items")
    assert schema.apply(db, toy, dim=3) is False  # re-applying is safe
    with pytest.raises(BenchError, match="dim 3, not 8"):
        schema.apply(db, toy, dim=8)
    assert schema.index(db, toy) is True
    assert schema.index(db, toy) is False
    assert db.execute("SELECT to_regclass('toy.items_v')").fetchone()[0] == "toy.items_v"
    with pytest.raises(BenchError, match="--force"):
        schema.drop(db, toy, force=False)
    assert schema.drop(db, toy, force=True) is True
    assert db.execute("SELECT to_regnamespace('toy')").fetchone()[0] is None


def test_changed_sql_is_refused(db, toy_root):
    (toy,) = schema.select(["toy"], root=toy_root)
    schema.apply(db, toy, dim=3)
    (toy_root / "toy" / "pre.sql").write_text("CREATE TABLE items (id bigint PRIMARY KEY);")
    with pytest.raises(BenchError, match="changed since it was applied"):
        schema.apply(db, toy, dim=3)


def test_foreign_schema_is_never_touched(db, toy_root):
    db.execute("CREATE SCHEMA toy")
    db.execute("CREATE TABLE toy.precious (id int)")
    (toy,) = schema.select(["toy"], root=toy_root)
    with pytest.raises(BenchError, match="not created by the harness"):
        schema.apply(db, toy, dim=3)
    assert schema.drop(db, toy, force=True) is False
    assert db.execute("SELECT to_regclass('toy.precious')").fetchone()[0] == "toy.precious"


def test_post_before_pre_and_sql_errors_are_named(db, toy_root):
    (toy,) = schema.select(["toy"], root=toy_root)
    with pytest.raises(BenchError, match="no tables yet"):
        schema.index(db, toy)
    (toy_root / "toy" / "pre.sql").write_text("CREATE TABLE ok (id int);\nCREATE TABLE broken (id nosuchtype);")
    with pytest.raises(BenchError, match=r"toy/pre.sql line 2: type \"nosuchtype\" does not exist"):
        schema.apply(db, toy, dim=3)
    # the failed phase left nothing behind: one transaction per file
    assert db.execute("SELECT to_regnamespace('toy')").fetchone()[0] is None


def test_unknown_variant_and_order(toy_root):
    with pytest.raises(BenchError, match="unknown variant nope"):
        schema.select(["nope"], root=toy_root)
    assert [v.name for v in schema.variants()] == ["baseline", "review", "hardened"]


def test_a_variant_can_extend_another(db, toy_root):
    child = toy_root / "child"
    child.mkdir()
    (child / "variant.toml").write_text('order = 2\nrequest_role = "service_role"\nextends = "toy"\n')
    (child / "pre.sql").write_text("CREATE TABLE extra (id int);\nCOMMENT ON SCHEMA {{schema}} IS 'child of toy';")
    (child / "post.sql").write_text("CREATE INDEX extra_id ON extra (id);")
    (variant,) = schema.select(["child"], root=toy_root)
    schema.apply(db, variant, dim=3)
    schema.index(db, variant)
    tables = {r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'child'").fetchall()}
    assert tables == {"items", "extra"}  # the parent's tables, then the child's
    assert db.execute("SELECT to_regclass('child.items_v')").fetchone()[0] == "child.items_v"
    assert db.execute("SELECT obj_description('child'::regnamespace)").fetchone()[0] == "child of toy"
    assert db.execute("SELECT to_regnamespace('toy')").fetchone()[0] is None  # the parent itself is untouched


def test_dropping_the_last_variant_drops_the_vector_scratch(db, db_dsn, run_bench):
    def vector_leftovers():
        return db.execute("SELECT to_regnamespace('bench_vector'), to_regclass('bench_meta.vector_truth')").fetchone()

    env = {"BENCH_DSN": db_dsn}
    assert run_bench("schema", "apply", "--only", "baseline", "--only", "review", env=env).returncode == 0
    ownership.create_schema(db, "bench_vector")  # what `bench run vector` leaves behind
    db.execute("CREATE TABLE bench_vector.documents (id int)")
    db.execute("CREATE TABLE bench_meta.vector_truth (dataset text)")

    partial = run_bench("schema", "drop", "--only", "review", "--force", env=env)
    assert partial.returncode == 0, partial.stderr
    assert vector_leftovers() == ("bench_vector", "bench_meta.vector_truth")  # baseline still uses it

    last = run_bench("schema", "drop", "--only", "baseline", "--force", env=env)
    assert last.returncode == 0, last.stderr
    assert "bench_vector: dropped" in last.stdout
    assert vector_leftovers() == (None, None)

"""Schema variants: discovery, and the two phases pg_dump also has.

A variant is a folder `schema/<name>/` with `variant.toml` (description, order,
request_role, rls, optionally `extends` and `companion_schemas`), `pre.sql` (tables:
before the data) and `post.sql` (indexes, constraints, triggers, policies, views: after
the data). With `extends = "other"` the other variant's file of the phase runs first
(review extends baseline). `schema/_shared/pre.sql` holds what all variants share
(Supabase-style roles and `auth.uid()`), applied once per database.

Each phase runs in one transaction with `search_path = <variant>, public`, `{{dim}}`
replaced by the embedding dimension and `{{schema}}` by the variant's name. What ran is
recorded in `bench_meta.applied` with its hash: re-applying is a no-op, applying changed
SQL over old is refused. Schemas the harness creates (the variant's, its companions) are
recorded in `bench_meta.owned` (bench/core/ownership.py): a colliding schema it did not create
is refused before any change, and `drop` removes only recorded schemas, never objects of
other schemas that depend on them unless told to (`force_dependents`).
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.core import ownership
from bench.core.config import PROJECT_ROOT
from bench.core.errors import BenchError

SCHEMA_DIR = PROJECT_ROOT / "schema"
SHARED = "_shared"
PHASES = ("pre", "post")
DEFAULT_DIM = 384
MAX_DIM = 16000  # pgvector's limit for the vector type

META_DDL = """
CREATE TABLE IF NOT EXISTS bench_meta.applied (
    variant    text NOT NULL,
    phase      text NOT NULL,
    sha256     text NOT NULL,
    dim        integer NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (variant, phase)
);
"""


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    order: int
    request_role: str  # the role requests run as: `authenticated` (RLS) or the app's role
    rls: bool
    folder: Path
    companions: tuple[str, ...] = ()  # schemas the variant's SQL creates besides its own
    extends: str | None = None  # a variant whose files run first (review extends baseline)

    def sql_parts(self, phase: str, dim: int) -> list[tuple[str, str]]:
        """(file label, SQL) of the phase: the extended variant's file first, then this
        folder's, with {{dim}} and {{schema}} (this variant's name) filled in."""
        folders = ([self.folder.parent / self.extends] if self.extends else []) + [self.folder]
        return [(f"schema/{f.name}/{phase}.sql",
                 (f / f"{phase}.sql").read_text().replace("{{dim}}", str(dim)).replace("{{schema}}", self.name))
                for f in folders]

    def sql(self, phase: str, dim: int) -> str:
        return "\n".join(text for _label, text in self.sql_parts(phase, dim))


def variants(root: Path = SCHEMA_DIR) -> list[Variant]:
    """Every variant folder, in their declared order (baseline first)."""
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        meta_file = folder / "variant.toml"
        if not meta_file.exists():
            continue
        with meta_file.open("rb") as f:
            meta = tomllib.load(f)
        found.append(Variant(name=folder.name, description=meta.get("description", ""), order=meta.get("order", 99),
                             request_role=meta["request_role"], rls=bool(meta.get("rls", False)), folder=folder,
                             companions=tuple(meta.get("companion_schemas", ())), extends=meta.get("extends")))
    return sorted(found, key=lambda v: (v.order, v.name))


def reference(root: Path = SCHEMA_DIR) -> str:
    """The variant every claim is compared against: the one whose variant.toml says
    `reference = true` (schema/baseline, the schema the review judged)."""
    marked = []
    for folder in sorted(p for p in root.iterdir() if (p / "variant.toml").exists()):
        with (folder / "variant.toml").open("rb") as f:
            if tomllib.load(f).get("reference"):
                marked.append(folder.name)
    if len(marked) != 1:
        raise BenchError(f"exactly one variant must say `reference = true` in its variant.toml; found {marked or 'none'}")
    return marked[0]


REFERENCE = reference()


def select(only: list[str] | None, root: Path = SCHEMA_DIR) -> list[Variant]:
    """The variants named by --only (all when empty); unknown names are a usage error."""
    from bench.core.errors import UsageError

    every = variants(root)
    if not only:
        return every
    by_name = {v.name: v for v in every}
    unknown = [name for name in only if name not in by_name]
    if unknown:
        raise UsageError(f"unknown variant {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[name] for name in only]


def check_dim(dim: int) -> int:
    if not 1 <= dim <= MAX_DIM:
        raise BenchError(f"--dim must be between 1 and {MAX_DIM}, got {dim}")
    return dim


def applied(conn: psycopg.Connection) -> dict[tuple[str, str], dict]:
    """What has been applied: {(variant, phase): {sha256, dim, applied_at}}."""
    if not conn.execute("SELECT to_regclass('bench_meta.applied')").fetchone()[0]:
        return {}
    rows = conn.execute("SELECT variant, phase, sha256, dim, applied_at FROM bench_meta.applied").fetchall()
    return {(v, p): {"sha256": s, "dim": d, "applied_at": t} for v, p, s, d, t in rows}


def apply(conn: psycopg.Connection, variant: Variant, *, dim: int = DEFAULT_DIM) -> bool:
    """Pre-data phase: create the variant's schema and tables. False if already applied."""
    check_dim(dim)
    refuse_foreign(conn, [variant])  # before any change, not when post.sql runs
    done = applied(conn).get((variant.name, "pre"))
    _ensure_meta(conn)
    _run_shared(conn, variant.folder.parent / SHARED / "pre.sql", dim)
    if done:
        _check_same(variant, "pre", done, dim)
        return False
    _run_file(conn, variant, "pre", dim, create_schema=True)
    return True


def refuse_foreign(conn: psycopg.Connection, chosen: list[Variant]) -> None:
    """Raise if a schema the variants would create exists and is not the harness's.
    Callers applying several variants call it first, so a refusal changes nothing."""
    for variant in chosen:
        if not applied(conn).get((variant.name, "pre")) and ownership.schema_exists(conn, variant.name):
            raise ownership.foreign("schema", variant.name)
        _refuse_foreign_companions(conn, variant)


def index(conn: psycopg.Connection, variant: Variant) -> bool:
    """Post-data phase: indexes, constraints, triggers, policies. False if already done."""
    state = applied(conn)
    pre = state.get((variant.name, "pre"))
    if not pre:
        raise BenchError(f"variant {variant.name!r} has no tables yet; run `bench schema apply` first")
    done = state.get((variant.name, "post"))
    if done:
        _check_same(variant, "post", done, pre["dim"])
        return False
    _refuse_foreign_companions(conn, variant)
    _ensure_meta(conn)
    _run_file(conn, variant, "post", pre["dim"])
    return True


def drop(conn: psycopg.Connection, variant: Variant, *, force: bool, force_dependents: bool = False) -> bool:
    """Drop a variant's schema and companions; only with force, only what the harness
    created, and objects of other schemas depending on them only with force_dependents."""
    if not force:
        raise BenchError(f"dropping {variant.name!r} deletes its data; add --force to confirm")
    if not applied(conn).get((variant.name, "pre")):
        return False
    names = owned_schemas(conn, variant)
    ownership.refuse_dependents(f'"{variant.name}"', ownership.dependents(conn, names), force_dependents)
    with conn.transaction():
        for name in names:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')  # dependents outside were checked above
            ownership.forget_schema(conn, name)
        for table in ("applied", "seed_progress", "storage"):  # what the harness recorded about it
            if conn.execute("SELECT to_regclass(%s)", (f"bench_meta.{table}",)).fetchone()[0]:
                conn.execute(f"DELETE FROM bench_meta.{table} WHERE variant = %s", (variant.name,))
    return True


def owned_schemas(conn: psycopg.Connection, variant: Variant) -> list[str]:
    """The variant's schemas that exist and are the harness's; a variant's own schema
    recreated by someone else since it was applied is refused."""
    if ownership.schema_exists(conn, variant.name):
        _ensure_meta(conn)  # adopts what an earlier harness version made
    ownership.refuse_foreign_schema(conn, variant.name)
    return [n for n in (variant.name, *variant.companions) if ownership.owns_schema(conn, n)]


def drop_dependents(conn: psycopg.Connection, variant: Variant) -> list[str]:
    """Objects outside the harness's schemas that dropping the variant would remove."""
    if not applied(conn).get((variant.name, "pre")):
        return []
    return ownership.dependents(conn, owned_schemas(conn, variant))


def dimension(conn: psycopg.Connection, variant: Variant) -> int | None:
    """The embedding dimension the variant was created with, or None if not applied."""
    pre = applied(conn).get((variant.name, "pre"))
    return pre["dim"] if pre else None


def size_bytes(conn: psycopg.Connection, variant: Variant) -> int:
    """Bytes on disk of the variant's schema now: heap, TOAST and indexes of every table,
    partition and materialized view (0 when it does not exist)."""
    return conn.execute(
        """SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'm')""",
        (variant.name,)).fetchone()[0]


def _run_shared(conn: psycopg.Connection, path: Path, dim: int) -> None:
    if not path.exists():
        return
    done = applied(conn).get((SHARED, "pre"))
    if done and done["sha256"] == _sha(path.read_text()):
        return
    # The shared file is idempotent (roles and auth functions), so a new version re-runs.
    with conn.transaction():
        _execute(conn, f"schema/{SHARED}/pre.sql", path.read_text())
        _record(conn, SHARED, "pre", path.read_text(), dim)


def _run_file(conn, variant: Variant, phase: str, dim: int, *, create_schema: bool = False) -> None:
    with conn.transaction():
        if create_schema:
            ownership.create_schema(conn, variant.name)
        new_companions = [c for c in variant.companions if not ownership.schema_exists(conn, c)]
        conn.execute(f'SET LOCAL search_path = "{variant.name}", public')
        for label, sql in variant.sql_parts(phase, dim):
            _execute(conn, label, sql)
        for companion in new_companions:  # absent before this file ran: its SQL made them
            if ownership.schema_exists(conn, companion):
                ownership.record_schema(conn, companion)
        _record(conn, variant.name, phase, variant.sql(phase, dim), dim)


def _refuse_foreign_companions(conn, variant: Variant) -> None:
    """The variant's SQL creates its companions with IF NOT EXISTS: one of the same name
    that the harness did not create would be adopted, then dropped with the variant."""
    if ownership.schema_exists(conn, ownership.META) and any(ownership.schema_exists(conn, c)
                                                             for c in variant.companions):
        _ensure_meta(conn)  # adopts companions an earlier harness version made
    for companion in variant.companions:
        ownership.refuse_foreign_schema(conn, companion)


def _ensure_meta(conn) -> None:
    """bench_meta and its tables, adopting the schemas an earlier harness version created
    (bench_meta.applied names them) if they were never recorded."""
    ownership.ensure_meta(conn)
    state = applied(conn)
    for variant in variants():
        names = [variant.name] * bool(state.get((variant.name, "pre")))
        names += list(variant.companions) * bool(state.get((variant.name, "post")))
        for name in names:
            ownership.adopt(conn, name)
    conn.execute(META_DDL)


def _execute(conn, label: str, sql: str) -> None:
    try:
        conn.execute(sql)
    except psycopg.Error as exc:
        where = label
        position = getattr(exc.diag, "statement_position", None)
        if position:
            where += f" line {sql[: int(position)].count(chr(10)) + 1}"
        message = (exc.diag.message_primary or str(exc)).strip()
        raise BenchError(f"{where}: {message}") from None


def _record(conn, variant: str, phase: str, sql: str, dim: int) -> None:
    conn.execute(
        """INSERT INTO bench_meta.applied (variant, phase, sha256, dim) VALUES (%s, %s, %s, %s)
           ON CONFLICT (variant, phase) DO UPDATE SET sha256 = EXCLUDED.sha256, dim = EXCLUDED.dim,
                                                      applied_at = now()""",
        (variant, phase, _sha(sql), dim),
    )


def _check_same(variant: Variant, phase: str, done: dict, dim: int) -> None:
    if done["dim"] != dim:
        raise BenchError(
            f"variant {variant.name!r} was created with dim {done['dim']}, not {dim}; "
            f"`bench schema drop --only {variant.name} --force` first"
        )
    if done["sha256"] != _sha(variant.sql(phase, dim)):
        raise BenchError(
            f"schema/{variant.name}/{phase}.sql changed since it was applied; "
            f"`bench schema drop --only {variant.name} --force` and apply again"
        )


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()

"""`bench schema`: create, index, drop and inspect the schema variants."""

from __future__ import annotations

import time

import click
from rich.table import Table

from bench.core import schema as schemas
from bench.core.errors import UsageError
from bench.core.options import only_option
from bench.judge.text import human_bytes
from bench.session import Session


@click.group("schema")
def schema_group() -> None:
    """Create the schema variants (pre-data: tables; post-data: indexes, policies, ...)."""


@schema_group.command("apply")
@only_option
@click.option("--dim", type=click.IntRange(1, schemas.MAX_DIM), default=schemas.DEFAULT_DIM, show_default=True,
              help="Embedding dimension of documents.embedding_vector.")
@click.pass_obj
def schema_apply(session: Session, only: tuple[str, ...], dim: int) -> None:
    """Pre-data phase: create each variant's schema and tables (safe to re-run)."""
    chosen = schemas.select(list(only))
    with session.connection() as (conn, _dsn):
        schemas.refuse_foreign(conn, chosen)  # every check before the first CREATE
        for variant in chosen:
            created = schemas.apply(conn, variant, dim=dim)
            session.out.print(f"{variant.name}: {'tables created' if created else 'already applied'} (dim {dim})")


@schema_group.command("index")
@only_option
@click.pass_obj
def schema_index(session: Session, only: tuple[str, ...]) -> None:
    """Post-data phase: indexes, constraints, triggers, policies, views (after seeding)."""
    chosen = schemas.select(list(only))
    with session.connection() as (conn, _dsn):
        for variant in chosen:
            began = time.perf_counter()
            built = schemas.index(conn, variant)
            took = f" in {time.perf_counter() - began:.1f} s" if built else ""
            session.out.print(f"{variant.name}: {'post-data built' if built else 'already indexed'}{took}")


@schema_group.command("drop")
@only_option
@click.option("--force", is_flag=True, help="Confirm: the variant's schema and data are deleted.")
@click.option("--force-dependents", is_flag=True,
              help="Also drop objects of other schemas that depend on the variants (named in the output).")
@click.pass_obj
def schema_drop(session: Session, only: tuple[str, ...], force: bool, force_dependents: bool) -> None:
    """Drop variants the harness created (never other schemas); needs --force."""
    from bench.core import ownership

    if not force:
        raise UsageError("dropping deletes the variants' data; add --force to confirm")
    chosen = schemas.select(list(only))
    with session.connection() as (conn, _dsn):
        # Every check before the first drop: a refusal leaves everything as it was.
        found = {v.name: schemas.drop_dependents(conn, v) for v in chosen}
        found["bench_vector"] = _vector_scratch_dependents(conn, chosen)
        found = {name: objects for name, objects in found.items() if objects}
        ownership.refuse_dependents(" and ".join(f'"{name}"' for name in found),
                                    sorted({o for objects in found.values() for o in objects}), force_dependents)
        for variant in chosen:
            dropped = schemas.drop(conn, variant, force=force, force_dependents=force_dependents)
            session.out.print(f"{variant.name}: {'dropped' if dropped else 'not present'}")
            _print_dropped_dependents(session, found.get(variant.name, []) if dropped else [])
        _drop_vector_scratch_after_last_variant(session, conn, force_dependents, found.get("bench_vector", []))


def _print_dropped_dependents(session: Session, objects: list[str]) -> None:
    for name in objects:
        session.out.print(f"  also dropped (--force-dependents): {name}")


def _remaining_variants(conn, leaving: list) -> list[str]:
    gone = {v.name for v in leaving}
    return [v for v, phase in schemas.applied(conn) if phase == "pre" and v not in gone | {schemas.SHARED}]


def _vector_scratch_dependents(conn, chosen: list) -> list[str]:
    """What dropping the vector scratch schema would take along, if it goes with `chosen`."""
    from bench.vector import dataset as vector_dataset

    return [] if _remaining_variants(conn, chosen) else vector_dataset.scratch_dependents(conn)


def _drop_vector_scratch_after_last_variant(session: Session, conn, force_dependents: bool = False,
                                            dependents: list[str] | None = None) -> None:
    """The vector scratch copy is derived from the variants' documents: it goes with the
    last one, if the harness made it (a bench_vector schema of someone else stays)."""
    from bench.core import ownership
    from bench.vector import dataset as vector_dataset

    if _remaining_variants(conn, []):
        return
    if vector_dataset.drop_scratch(conn, force_dependents=force_dependents):
        session.out.print(f"{vector_dataset.SCHEMA}: dropped (the vector benchmark's scratch copy and ground truth)")
        _print_dropped_dependents(session, dependents or [])
    elif ownership.schema_exists(conn, vector_dataset.SCHEMA):
        session.out.print(f"{vector_dataset.SCHEMA}: not created by the harness; left alone")


@schema_group.command("status")
@click.pass_obj
def schema_status(session: Session) -> None:
    """Which variants exist and which phases have been applied."""
    with session.connection() as (conn, _dsn):
        state = schemas.applied(conn)
        sizes = {v.name: schemas.size_bytes(conn, v) for v in schemas.variants()}
    table = Table("variant", "tables (pre)", "indexes (post)", "dim", "size", "description")
    for variant in schemas.variants():
        pre, post = state.get((variant.name, "pre")), state.get((variant.name, "post"))
        table.add_row(variant.name, _when(pre), _when(post), str(pre["dim"]) if pre else "",
                      human_bytes(sizes[variant.name]) if pre else "", variant.description)
    session.out.print(table)


def _when(record: dict | None) -> str:
    return record["applied_at"].strftime("%Y-%m-%d %H:%M") if record else "-"

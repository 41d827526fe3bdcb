"""`bench db`: the embedded PostgreSQL server (start, stop, status, url)."""

from __future__ import annotations

import click
from rich.table import Table

from bench.core import dsn as dsns
from bench.judge.text import human_bytes
from bench.session import Session

EXIT_NOT_RUNNING = 3  # as `pg_ctl status`


@click.group("db")
def db_group() -> None:
    """Manage the embedded PostgreSQL server (start, stop, status, url)."""


@db_group.command("start")
@click.pass_obj
def db_start(session: Session) -> None:
    """Start the embedded server (initialising it on first use); it runs until `bench db stop`."""
    server = session.embedded("start")
    result = server.start()
    if result.already_running:
        session.out.print(f"already running on port {result.port} ({server.pgdata})")
    else:
        kind = "cold start (initdb)" if result.initialized else "warm start"
        session.out.print(f"started {server.version()} on port {result.port} in {result.seconds:.2f} s, {kind}")
    session.out.print(f"url: {dsns.mask(server.dsn())}")


@db_group.command("stop")
@click.pass_obj
def db_stop(session: Session) -> None:
    """Stop the embedded server."""
    server = session.embedded("stop")
    server.stop()
    session.out.print(f"stopped ({server.pgdata})")


@db_group.command("status")
@click.pass_obj
def db_status(session: Session) -> int:
    """Say whether the server runs, its version, data dir and size (exit 3 if stopped)."""
    if not session.settings.embedded:
        info = session.check()
        session.out.print(f"external server {dsns.describe(session.settings.dsn)}: PostgreSQL {info['server']}, "
                          f"pgvector {info['pgvector']}")
        return 0
    server = session.embedded("status")
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    info = server.postmaster()
    table.add_row("running", f"yes (pid {info['pid']}, port {info['port']})" if info else "no")
    table.add_row("version", server.version())
    table.add_row("data dir", str(server.pgdata))
    table.add_row("size", human_bytes(server.size_bytes()) if server.pgdata.exists() else "not initialised")
    session.out.print(table)
    if info:
        session.out.print(f"url: {dsns.mask(server.dsn())}", soft_wrap=True)
    return 0 if info else EXIT_NOT_RUNNING


@db_group.command("url")
@click.pass_obj
def db_url(session: Session) -> None:
    """Print the DSN of the server under test (password masked)."""
    dsn = session.embedded("url").dsn() if session.settings.embedded else session.settings.dsn
    session.out.print(dsns.mask(dsn), soft_wrap=True)

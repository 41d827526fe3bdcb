"""`bench run storage` as a Benchmark: bytes per relation as the seeder recorded them
(`bench run latency` measures it too, as it always has: the storage claim's verdict)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from bench.judge.text import human_bytes

if TYPE_CHECKING:
    from bench.session import Run, Session


class Storage:
    name = "storage"
    summary = "Bytes on disk of the same rows in each variant (heap, TOAST, indexes): the storage verdict."
    partial_unit = None
    in_all = True

    def click_options(self, command):
        return command

    def options(self, values: dict) -> None:
        return None

    def measure(self, run: Run, options: None) -> dict:
        from bench.storage import section as storage

        return storage.section(run.conn, [v.name for v in run.variants])

    def show(self, section: dict, session: Session) -> None:
        if not section["totals"]:
            return
        table = Table(title="Storage per variant (after post-data and VACUUM)")
        for column in ("variant", "heap + TOAST", "indexes", "total"):
            table.add_column(column, justify="left" if column == "variant" else "right")
        for variant, t in section["totals"].items():
            table.add_row(variant, human_bytes(t["heap_bytes"]), human_bytes(t["index_bytes"]),
                          human_bytes(t["total_bytes"]))
        session.out.print(table)

    def problems(self, section: dict, file: Path) -> list[str]:
        return []

    def merge_kept(self, kept: dict, new: dict) -> dict:
        from bench.storage import section as storage

        return storage.merge_kept(kept, new)


STORAGE = Storage()

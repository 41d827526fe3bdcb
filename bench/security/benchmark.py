"""`bench run security` as a Benchmark: every attack on every variant, as API users."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from bench.session import Run, Session


class Security:
    name = "security"
    summary = "Run every attack against each variant as API users (rolled back); judge the security claim."
    partial_unit = "variants"
    in_all = True

    def click_options(self, command):
        return command

    def options(self, values: dict) -> None:
        return None

    def measure(self, run: Run, options: None) -> dict:
        from bench.security import section as security

        return security.section(run.conn, run.variants, note=run.session.note, save=run.save)

    def show(self, section: dict, session: Session) -> None:
        variants = list(dict.fromkeys(f["variant"] for f in section["findings"]))
        table = Table(title="Security findings: attacks that succeed (as API users, rolled back)")
        table.add_column("attack")
        for v in variants:
            table.add_column(v)
        for attack in dict.fromkeys(f["attack"] for f in section["findings"]):
            cells = {f["variant"]: f for f in section["findings"] if f["attack"] == attack}
            table.add_row(attack, *[_finding_cell(cells.get(v)) for v in variants])
        session.out.print(table)

    def problems(self, section: dict, file: Path) -> list[str]:
        return []


def _finding_cell(finding: dict | None) -> str:
    if not finding or not finding["applicable"]:
        return "n/a"
    return "[red]SUCCEEDS[/red]" if finding["succeeded"] else "[green]fails[/green]"


SECURITY = Security()

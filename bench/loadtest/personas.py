"""Who the simulated users are: four personas, each a Locust user class with its own mix
of scenarios from the catalog (scenarios/catalog/, never a copy of their SQL).

A persona names the scenarios it favours and their relative weights, and which seeded
users may play it (`role`: any member, or organisation owners/admins). A scenario that
no persona names still runs: every persona gets it at the scenario's own `weight`, so a
new file in scenarios/catalog/ shows up in the load test without editing this module.
`Persona.weight` is the share of simulated users that play it (Locust's user weight).
The write bill (scenarios/catalog: WRITE_BILL) is left out: the load keeps its mix, and
those writes are priced by the latency runner, one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from scenarios import Scenario, all_scenarios
from scenarios.catalog import WRITE_BILL

ADMIN_ROLES = ("owner", "admin")


@dataclass(frozen=True)
class Persona:
    name: str
    weight: int  # share of simulated users
    mix: Mapping[str, float]  # scenario name -> task weight
    description: str
    roles: tuple[str, ...] = ()  # organisation roles that may play it (empty: anyone)

    def tasks(self, catalog: Mapping[str, Scenario]) -> dict[str, float]:
        """Scenario -> weight: the persona's own mix plus every scenario no persona names."""
        named = {n for p in PERSONAS for n in p.mix}
        out = {name: weight for name, weight in self.mix.items() if name in catalog}
        out.update({name: s.weight for name, s in catalog.items() if name not in named and name not in WRITE_BILL})
        return out


PERSONAS = (
    Persona("viewer", 5, {"my_projects": 3, "projects_by_status": 3, "documents_by_kb": 2, "marketplace_browse": 2,
                          "my_recent_activity": 1, "capability_stats": 1},
            "A member who reads: their projects, documents and the marketplace"),
    Persona("editor", 2, {"editable_dashboards": 3, "update_project": 2, "insert_capability": 1,
                          "archive_capability": 1, "my_projects": 1, "documents_by_kb": 1},
            "A member who edits projects and dashboards and publishes capabilities"),
    Persona("searcher", 3, {"similar_documents": 4, "capability_search": 3, "documents_by_kb": 1,
                            "marketplace_browse": 1},
            "A member who searches: vector similarity and full text"),
    Persona("admin", 1, {"monthly_activity": 3, "audit_lookup": 2, "capability_stats": 1, "projects_by_status": 1,
                         "archive_capability": 1},
            "An organisation owner or admin: analytics and the audit trail", roles=ADMIN_ROLES),
)
BY_NAME = {p.name: p for p in PERSONAS}


def coverage(catalog: Mapping[str, Scenario] | None = None) -> dict[str, list[str]]:
    """Scenario -> personas that run it (every scenario of the load mix must have one)."""
    catalog = catalog if catalog is not None else all_scenarios()
    return {name: [p.name for p in PERSONAS if name in p.tasks(catalog)] for name in in_load(catalog)}


def in_load(catalog: Mapping[str, Scenario]) -> dict[str, Scenario]:
    """The scenarios the load test sends: the catalog without the write bill."""
    return {name: s for name, s in catalog.items() if name not in WRITE_BILL}

"""A scenario is declared once and run by both the asyncpg latency runner and Locust.

    Scenario(name, kind, description, queries={variant or "*" or "rls": Query(sql, args)},
             params=function(population, rng) -> dict, as_user=True, weight=1.0,
             expected_failures={variant: why})

SQL uses asyncpg's `$1, $2` placeholders; `Query.args` names, in order, the keys of the
params dict that fill them. `queries` maps a variant name to its SQL, with two
fallbacks: "rls" (every variant whose requests run under RLS) and "*" (all others).
A baseline query writes the tenant filter itself (an app without RLS must); an RLS
variant's query is what a Supabase client sends, and its policies do the filtering.
`params` must draw only from the population it is given and the RNG, so that every
variant receives the same parameter sequence in a round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

KINDS = ("read", "write", "vector", "mixed")


@dataclass(frozen=True)
class Query:
    sql: str
    args: tuple[str, ...] = ()
    settings: tuple[tuple[str, str], ...] = ()  # (GUC, value) set for this request only

    def values(self, params: Mapping) -> list:
        return [params[name] for name in self.args]

    def psycopg_sql(self) -> str:
        """The same SQL with psycopg's named placeholders (for Locust users)."""
        return re.sub(r"\$(\d+)", lambda m: f"%({self.args[int(m[1]) - 1]})s", self.sql.replace("%", "%%"))


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str
    description: str
    queries: Mapping[str, Query]
    params: Callable
    as_user: bool = True
    weight: float = 1.0
    # variant -> why its requests are known to fail: a measured defect of that schema,
    # reported as a finding rather than failing the run (and flagged if it stops failing)
    expected_failures: Mapping[str, str] = field(default_factory=dict)

    def query_for(self, variant) -> Query | None:
        """The variant's query, or None when the scenario does not apply to it."""
        if variant.name in self.queries:
            return self.queries[variant.name]
        if variant.rls and "rls" in self.queries:
            return self.queries["rls"]
        return self.queries.get("*")

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} not in {KINDS}")
        for key, query in self.queries.items():
            used = {int(n) for n in re.findall(r"\$(\d+)", query.sql)}
            if used != set(range(1, len(query.args) + 1)):
                raise ValueError(f"{self.name}/{key}: placeholders {sorted(used)} do not match args {query.args}")

"""The query workload: `all_scenarios()` finds every scenario in scenarios/catalog/ (one module
each, exposing SCENARIO); see scenarios/base.py for what a scenario declares."""

from __future__ import annotations

import importlib
import pkgutil

from scenarios.base import Query, Scenario


def all_scenarios() -> dict[str, Scenario]:
    package = importlib.import_module("scenarios.catalog")

    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        scenario = getattr(module, "SCENARIO", None)
        if scenario is None:
            raise ValueError(f"scenarios/catalog/{info.name}.py defines no SCENARIO")
        scenario.validate()
        if scenario.name in found:
            raise ValueError(f"two scenarios are named {scenario.name!r}")
        found[scenario.name] = scenario
    return found


def select(names: list[str] | tuple[str, ...]) -> list[Scenario]:
    """The scenarios named by --scenario (all when empty); an unknown name is a UsageError."""
    from bench.core.errors import UsageError

    catalog = all_scenarios()
    unknown = [n for n in names if n not in catalog]
    if unknown:
        raise UsageError(f"unknown scenario {', '.join(unknown)}; known: {', '.join(catalog)}")
    return [catalog[n] for n in names] if names else list(catalog.values())


__all__ = ["Query", "Scenario", "all_scenarios", "select"]

"""The tables report.html shows under the vector and load charts: which lists of each
section (docs/results.md), under which titles, one level of nesting flattened into
"a.b" columns. Raw data (histograms, plans, per-round series, per-scenario counts) stays
in results.json.
"""

from __future__ import annotations

import json

TABLES = {  # section -> (title, key of a list of records, or of {variant: record})
    "vector": (("Comparisons at matched recall", "comparisons"),
               ("Cheapest setting per recall target", "matched"),
               ("Index configurations (build time, size)", "indexes"),
               ("Filtered search", "filtered"),
               ("Filtered search as a user under RLS", "rls"),
               ("Recall and latency per setting", "sweeps")),
    "load": (("Capacity at the SLO", "capacity"),
             ("Steps", "steps")),
}
RAW_KEYS = {"hdr", "explain", "plan", "error_samples", "round_medians_ms", "round_means_ms", "sql", "ddl",
            "scenarios", "samples", "throughput"}
CELL_CHARS = 120  # a list or nested object in a cell, as JSON cut to this length


def tables(name: str, section: dict) -> list[tuple[str, list[dict]]]:
    """(title, flat records) of each non-empty table of a section."""
    out = []
    for title, key in TABLES.get(name, ()):
        rows = [flatten(r) for r in records(section.get(key))]
        if rows:
            out.append((title, rows))
    return out


def records(value) -> list[dict]:
    """A list of records as is; {variant: record} (the load capacity) as records naming it."""
    if isinstance(value, dict):
        return [{"variant": name, **record} for name, record in value.items()]
    return list(value or [])


def flatten(record: dict, prefix: str = "") -> dict:
    """One level of nesting as "a.b" columns; deeper lists and objects as compact JSON."""
    out = {}
    for key, value in record.items():
        if key in RAW_KEYS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not prefix:
            out.update(flatten(value, name + "."))
        elif isinstance(value, (dict, list)):
            out[name] = json.dumps(value, default=str)[:CELL_CHARS]
        else:
            out[name] = value
    return out

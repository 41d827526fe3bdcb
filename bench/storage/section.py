"""The storage claim: bytes on disk of the same logical rows in each variant, as the
seeder measured them after post-data and VACUUM (bench_meta.storage)."""

from __future__ import annotations

import psycopg

from bench.core.schema import REFERENCE
from bench.judge import verdicts
from bench.session import MERGED
from seed import loader


def section(conn: psycopg.Connection, variants: list[str]) -> dict:
    if not conn.execute("SELECT to_regclass('bench_meta.storage')").fetchone()[0]:
        return {"tables": [], "totals": {}, "verdicts": []}
    tables = [{"variant": v, **record} for v in sorted(variants) for record in loader.recorded_storage(conn, v)]
    totals = {}
    for t in tables:
        entry = totals.setdefault(t["variant"], {"heap_bytes": 0, "index_bytes": 0, "total_bytes": 0})
        for key in entry:
            entry[key] += t[key]
    return {"tables": tables, "totals": totals, "verdicts": storage_verdicts(totals)}


def merge_kept(kept: dict, new: dict) -> dict:
    """`new`'s tables with those of the variants only `kept` holds (an earlier `--only` run
    of the same dataset: exact byte counts, so nothing is lost by measuring apart)."""
    mine = set(new.get("totals", {}))
    tables = [t for t in kept.get("tables", []) if t["variant"] not in mine] + new.get("tables", [])
    totals = {**{v: t for v, t in kept.get("totals", {}).items() if v not in mine}, **new.get("totals", {})}
    return {**new, "tables": tables, "totals": totals, "verdicts": storage_verdicts(totals),
            MERGED: {"variants": sorted(set(totals) - mine)}}


def storage_verdicts(totals: dict) -> list[dict]:
    base = totals.get(REFERENCE)
    out = []
    for variant, total in totals.items():
        if variant == REFERENCE:
            continue
        if not base:
            out.append(verdicts.verdict_record("storage", variant, verdicts.NOT_MEASURED, {}, "baseline not seeded"))
            continue
        reduction = 1 - total["total_bytes"] / base["total_bytes"]
        figure = {"estimate": reduction, "variant_bytes": total["total_bytes"], "baseline_bytes": base["total_bytes"]}
        out.append(verdicts.verdict_record("storage", variant, verdicts.storage_verdict(reduction), figure,
                                           "exact byte counts of the same rows (heap, TOAST, indexes)"))
    return out

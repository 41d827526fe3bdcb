"""Reading a results.json for reports and `bench compare`: load and check it (one-line
BenchError for a file the renderers cannot read), pick out cells, order variants, and
format figures the same way in charts, HTML, Markdown and compare.

Reports only read results: results are data, never edited by analysis (docs/results.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.core.errors import BenchError
from bench.core.schema import REFERENCE
from bench.judge import results as results_file
from bench.judge import stats, verdicts


# ---- loading ------------------------------------------------------------------------
def load(path: Path | str) -> tuple[dict, Path]:
    """The results of a run (a results.json or the run dir holding one) and its file."""
    path = Path(path)
    file = path / results_file.FILE_NAME if path.is_dir() else path
    data = results_file.load(path)  # missing, not JSON, no or wrong schema_version: one line
    check(data, file)
    return data, file


def check(data: dict, file: Path) -> None:
    """The shapes the renderers rely on; anything else is a malformed file (one line)."""
    def bad(where: str, what: str) -> BenchError:
        return BenchError(f"{file} is malformed: {where} {what}")

    for key in ("variants", "verdicts"):
        if key in data and not isinstance(data[key], list):
            raise bad(key, "is not a list")
    for i, v in enumerate(data.get("verdicts") or []):
        if not isinstance(v, dict) or not {"claim", "variant", "verdict"} <= v.keys():
            raise bad(f"verdicts[{i}]", "lacks claim, variant or verdict")
    for key in ("environment", "dataset", "latency", "storage", "security", "vector", "load"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise bad(key, "is not an object")
    latency = data.get("latency")
    if latency:
        if not isinstance(latency.get("results"), list):
            raise bad("latency.results", "is missing or not a list")
        for i, cell in enumerate(latency["results"]):
            if not isinstance(cell, dict) or not {"scenario", "variant"} <= cell.keys():
                raise bad(f"latency.results[{i}]", "lacks scenario or variant")
            if cell.get("applicable", True) and not isinstance(cell.get("latency"), dict):
                raise bad(f"latency.results[{i}].latency", "is missing")
    storage = data.get("storage")
    if storage and not isinstance(storage.get("tables", []), list):
        raise bad("storage.tables", "is not a list")
    security = data.get("security")
    if security and not isinstance(security.get("findings", []), list):
        raise bad("security.findings", "is not a list")


# ---- picking ------------------------------------------------------------------------
def variant_order(data: dict) -> list[str]:
    """Variants in the order the run lists them, then any others its sections mention."""
    names = [v["name"] for v in data.get("variants") or [] if isinstance(v, dict) and "name" in v]
    seen = [c["variant"] for c in latency_cells(data)]
    seen += [t.get("variant") for t in (data.get("storage") or {}).get("tables", [])]
    seen += [f.get("variant") for f in (data.get("security") or {}).get("findings", [])]
    seen += [v["variant"] for v in data.get("verdicts") or []]
    return list(dict.fromkeys(n for n in names + seen if n))


def latency_cells(data: dict) -> list[dict]:
    return list((data.get("latency") or {}).get("results") or [])


def scenarios(data: dict) -> list[dict]:
    """The latency section's scenarios (name, kind, description), in the run's order."""
    latency = data.get("latency") or {}
    described = {s["name"]: s for s in latency.get("scenarios") or [] if isinstance(s, dict) and "name" in s}
    names = list(dict.fromkeys(list(described) + [c["scenario"] for c in latency_cells(data)]))
    return [described.get(n, {"name": n, "kind": ""}) for n in names]


def cell(data: dict, scenario: str, variant: str) -> dict | None:
    for c in latency_cells(data):
        if c["scenario"] == scenario and c["variant"] == variant:
            return c
    return None


def measured(c: dict | None) -> bool:
    """A cell with at least one successful request."""
    return bool(c and c.get("applicable", True) and (c.get("latency") or {}).get("count"))


def comparison(data: dict, scenario: str, variant: str) -> dict | None:
    for c in (data.get("latency") or {}).get("comparisons") or []:
        if c.get("scenario") == scenario and c.get("variant") == variant:
            return c
    return None


def median_interval(c: dict) -> stats.Interval | None:
    """Median latency of a cell as the mean of its round medians, with the 95% bootstrap
    interval over rounds (rounds are the unit of replication, see bench.judge.stats)."""
    rounds = c.get("round_medians_ms") or []
    if not rounds:
        return None
    return stats.bootstrap_mean(rounds)


CLAIM_SECTION = {"avg_latency": "latency", "query_speedup": "latency", "storage": "storage",
                 "security": "security", "vector_speedup": "vector", "concurrency": "load", "simultaneous_users": "load",
                 "linear_scaling": "throughput", "vector_at_scale": "capacity", "tenant_at_scale": "capacity"}
# The command that measures a section, where it is not `bench run SECTION`.
SECTION_COMMAND = {"capacity": "bench capacity"}
SECTION_TITLES = {"latency": "latency", "security": "security", "vector": "vector search", "load": "load"}


def interruptions(data: dict) -> list[dict]:
    """Sections cut short by a signal or a fault: [{"section", "reason", "kept"}], where
    kept says how much was measured ("1 of 6 rounds"). A load run stopped by Ctrl+C says
    so in its runs' status rather than with an `interrupted` mark."""
    marks = results_file.interrupted_sections(data)
    out = [{"section": name, "reason": mark.get("reason") or "unknown", "kept": kept_text(mark)}
           for name, mark in marks.items()]
    runs = (data.get("load") or {}).get("runs") or []
    if "load" not in marks and any(isinstance(r, dict) and r.get("status") == "interrupted" for r in runs):
        done = sum(1 for r in runs if isinstance(r, dict) and r.get("status") != "interrupted")
        out.append({"section": "load", "reason": "interrupted", "kept": f"{done} of {len(runs)} variants complete"})
    return out


def kept_text(mark: dict) -> str:
    """"1 of 6 rounds" from {"rounds_completed": 1, "rounds_planned": 6} (any unit)."""
    parts = [f"{mark[key]} of {mark.get(key[:-len('completed')] + 'planned', '?')} {key[:-len('_completed')]}"
             for key in mark if key.endswith("_completed")]
    return ", ".join(parts) or "how much is unknown"


def interruption_text(item: dict) -> str:
    title = SECTION_TITLES.get(item["section"], item["section"])
    return f"{title} stopped ({item['reason']}) after {item['kept']}; its figures rest on those only"


def rounds_measured(data: dict) -> int | None:
    """Latency rounds behind the figures: the completed ones of an interrupted run."""
    latency = data.get("latency") or {}
    mark = latency.get("interrupted")
    if isinstance(mark, dict) and "rounds_completed" in mark:
        return mark["rounds_completed"]
    return (latency.get("config") or {}).get("rounds")


def claims() -> list[tuple[str, dict]]:
    """The review's claims in targets.toml order."""
    return [(k, v) for k, v in verdicts.targets().items() if isinstance(v, dict) and "claim" in v]


def run_label(data: dict) -> str:
    ds = data.get("dataset") or {}
    parts = [f"scale {ds['scale']}" if ds.get("scale") else "scale unknown"]
    parts += [f"{k} {ds[k]}" for k in ("seed", "dim") if ds.get(k) is not None]
    return ", ".join(parts)


# ---- metrics (one registry for tables, charts and compare) ------------------------------
@dataclass(frozen=True)
class Metric:
    key: str  # in a cell's "latency" summary
    label: str
    unit: str
    higher_is_better: bool
    rounds: tuple[str, ...]  # per-round series that replicate it, first present wins (compare's significance)
    description: str


METRICS = (
    Metric("p50_ms", "p50", "ms", False, ("round_medians_ms",), "median latency per request"),
    Metric("p95_ms", "p95", "ms", False, ("round_p95_ms", "round_medians_ms"), "95th percentile latency"),
    Metric("p99_ms", "p99", "ms", False, ("round_p99_ms", "round_medians_ms"), "99th percentile latency"),
    Metric("throughput_rps", "req/s", "req/s", True, ("round_means_ms",), "requests per second (closed loop)"),
)


def scenario_table(data: dict, claim: str) -> tuple[list[dict], list[tuple[str, list[dict | None]]]]:
    """An aggregate claim's verdicts that carry per-scenario records (in variant order), and
    per scenario each one's record (None: not in that variant's set)."""
    order = variant_order(data)
    records = sorted((v for v in data.get("verdicts") or [] if v["claim"] == claim and v.get("scenarios")),
                     key=lambda v: order.index(v["variant"]) if v["variant"] in order else len(order))
    names = list(dict.fromkeys(r["scenario"] for v in records for r in v["scenarios"]))
    return records, [(n, [next((r for r in v["scenarios"] if r["scenario"] == n), None) for v in records])
                     for n in names]


def verdict_rows(data: dict) -> list[dict]:
    """One row per claim and variant, in targets order; claims without a verdict get one
    row 'not measured' (the run did not include that benchmark)."""
    order = variant_order(data)
    given = data.get("verdicts") or []
    stopped = {i["section"] for i in interruptions(data)}
    rows = []
    for claim_id, claim in claims():
        mine = sorted((v for v in given if v["claim"] == claim_id),
                      key=lambda v: (v["variant"] == REFERENCE, order.index(v["variant"])
                                     if v["variant"] in order else len(order)))
        if not mine:
            section = CLAIM_SECTION.get(claim_id)
            cut = section in stopped
            mine = [{"claim": claim_id, "claim_text": claim["claim"], "metric": claim.get("metric", ""),
                     "variant": "–", "verdict": verdicts.NOT_MEASURED, "figure": {},
                     "note": "interrupted before it was judged" if cut
                     else f"not run in this run ({SECTION_COMMAND.get(section, f'bench run {section}')})"}]
        rows += [{**v, "claim_text": v.get("claim_text") or claim["claim"]} for v in mine]
    known = {c for c, _ in claims()}
    rows += [v for v in given if v["claim"] not in known]  # claims added later to results
    return rows

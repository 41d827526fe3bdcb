"""The calibration section (`bench calibrate --run-dir`): real embeddings against synthetic
ones at the same size, as tables for report.html and lines for summary.md."""

from __future__ import annotations

from bench.judge import text as txt
from bench.report.md import escape as md_escape

GEOMETRY = (("cosine to the 1st nearest", lambda g: g["nn_cosine"][0]),
            ("cosine to the 10th nearest", lambda g: g["nn_cosine"][9]),
            ("relative contrast", lambda g: g["relative_contrast"]),
            ("hubness (skew of 10-occurrence)", lambda g: g["hubness"]),
            ("mean cosine, query to any document", lambda g: g["mean_cosine"]))


def tables(section: dict) -> list[tuple[str, list[dict], str]]:
    """(title, rows, note) for the page, the verdict first."""
    n, kinds = section["documents"], section["kinds"]
    out = []
    if section.get("agreement"):
        out.append((f"The vector verdict on real and synthetic data, {n:,} documents", verdict_rows(section),
                    section.get("rests_on", "")))
    out.append((f"recall@10 by index setting, {n:,} documents, {section['queries']} queries",
                recall_rows(kinds), goal_note(kinds)))
    out.append(("Geometry of the neighbourhoods", geometry_rows(kinds), ""))
    return out


def verdict_rows(section: dict) -> list[dict]:
    return [{"variant": r["variant"], "real": _word(r, "real"), "synthetic kind": r["synthetic"],
             "synthetic": _word(r, "synthetic"), "same word": "yes" if r["agree"] else "NO"}
            for r in section["agreement"]]


def _word(row: dict, side: str) -> str:
    verdict = {"claim": "vector_speedup", "verdict": row[f"{side}_verdict"], "figure": row[f"{side}_figure"]}
    return f"{verdict['verdict']} {txt.figure_text(verdict, short=True)}"


def recall_rows(kinds: list[dict]) -> list[dict]:
    real = kinds[0]
    rows = []
    for i, point in enumerate(real["points"]):
        row = {"index, setting": f"{point['index']} {point['setting']}"}
        for kind in kinds:
            row[kind["name"]] = round(kind["points"][i]["recall"], 3)
        for kind in kinds[1:]:
            # records written before builds were repeated carry no recall_gaps
            gap = (kind["recall_gaps"][i] if "recall_gaps" in kind
                   else {"gap": kind["points"][i]["recall"] - point["recall"], "half_width": None})
            row[f"Δ {kind['name']}"] = gap_text(gap)
        rows.append(row)
    return rows


def gap_text(gap: dict) -> str:
    """A recall gap (bench/vector/calibrate.py recall_gap), ± its interval over the builds."""
    half = gap["half_width"]
    return f"{gap['gap']:+.3f}" + (f" ±{half:.3f}" if half is not None else "")


def builds_note(builds: int) -> str:
    return (f"each Δ ± a 95% interval over {builds} builds of each index" if builds > 1
            else "one build of each index: the gaps have no interval, a rebuild moves them")


def goal_note(kinds: list[dict]) -> str:
    words = "; ".join(f"{k['name']}: {k.get('goal', 'met' if k.get('meets_goal') else 'missed')}" for k in kinds[1:])
    over = builds_note(kinds[0].get("builds", 1))
    return f"goal: every synthetic recall within ±0.05 of the real one ({over}). {words}"


def geometry_rows(kinds: list[dict]) -> list[dict]:
    return [{"measure": label, **{k["name"]: round(pick(k["geometry"]), 3) for k in kinds}} for label, pick in GEOMETRY]


def lines(data: dict) -> list[str]:
    """summary.md: whether the vector verdict holds on real embeddings, in one line per variant."""
    section = data.get("calibration")
    if not section or not section.get("agreement"):
        return []
    rows = [r for r in section["agreement"] if r["synthetic"] == section["kinds"][1]["name"]]
    items = [f"{r['variant']} {'same word' if r['agree'] else 'DIFFERENT word'} ({_word(r, 'real')} real, "
             f"{_word(r, 'synthetic')} synthetic)" for r in rows]
    return ["", f"**Real vs synthetic embeddings** (`bench calibrate`, {section['documents']:,} documents): "
                + md_escape("; ".join(items)) + ". " + md_escape(section.get("rests_on", ""))]

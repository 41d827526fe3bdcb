"""The capacity sweep's charts (`bench capacity`): each scenario's latency against rows, and
the largest tenant's project scenarios against its projects, log-log, with the fitted
growth, its 95% prediction band to the target, and the 100 ms line; and its tables.
Draws from results.json's `capacity` section only (the fits are computed by the sweep)."""

from __future__ import annotations

import math

from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bench.report import data as d
from bench.report import style
from bench.report.registry import chart

COLUMNS = 4
LIMIT_MS = 100.0


def latency_series(data: dict, kind: str = "latency") -> list[dict]:
    analysis = (data.get("capacity") or {}).get("analysis") or {}
    return [s for s in analysis.get("series") or [] if s.get("kind") == kind]


def _scenarios(data: dict, kind: str = "latency") -> list[str]:
    return list(dict.fromkeys(s["scenario"] for s in latency_series(data, kind)))


def _rows(data: dict, kind: str = "latency") -> int:
    return max(1, math.ceil(len(_scenarios(data, kind)) / COLUMNS))


@chart("capacity_latency", "Latency against rows, projected to full",
       "Each scenario's median latency (mean of the round medians) at every size measured (dots), the growth "
       "model chosen by leave-one-out error and fitted on every size (line; dashed where it is a projection "
       "beyond the largest size measured), its 95% prediction band, and the 100 ms line. Both axes logarithmic; "
       "x is the number of documents (the other tables grow with it).",
       order=85, needs="capacity", height=lambda data: 1.3 + 2.3 * _rows(data),
       applies=lambda data: bool(latency_series(data)))
def capacity_latency(fig, data):
    analysis = data["capacity"]["analysis"]
    _grid(fig, data, "latency", "documents (log scale)", f"Latency vs rows, to {analysis['target']['label']}")


@chart("capacity_tenant", "The largest tenant's project scenarios against its projects, projected to 1M",
       "Each project scenario's median latency with every request made by the organization with the most "
       "projects at that size (dots), the growth fitted against that tenant's projects (line; dashed beyond the "
       "largest tenant measured), its 95% prediction band, and the 100 ms line. The review's target is 1M "
       "projects per organization; a projection decides only within 10x of the largest tenant measured.",
       order=86, needs="capacity", height=lambda data: 1.3 + 2.3 * _rows(data, "tenant_latency"),
       applies=lambda data: bool(latency_series(data, "tenant_latency")))
def capacity_tenant(fig, data):
    _grid(fig, data, "tenant_latency", "projects of the largest tenant (log scale)",
          "Largest tenant: latency vs its projects")


def _grid(fig, data: dict, kind: str, xlabel: str, title: str) -> None:
    series = latency_series(data, kind)
    scenarios = _scenarios(data, kind)
    order = d.variant_order(data)
    variants = [v for v in order if any(s["variant"] == v for s in series)]
    variants += [v for v in dict.fromkeys(s["variant"] for s in series) if v not in variants]
    axes = fig.subplots(_rows(data, kind), COLUMNS, squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(scenarios):
            ax.set_axis_off()
            continue
        mine = [s for s in series if s["scenario"] == scenarios[index]]
        for s in mine:
            _draw_series(ax, s, style.variant_colour(s["variant"], order))
        _decorate(ax, scenarios[index], mine, index)
    handles = [Line2D([], [], marker="o", color=style.variant_colour(v, order), label=v) for v in variants]
    handles += [Line2D([], [], color="#57606a", linestyle="--", label="projection"),
                Patch(facecolor="#57606a", alpha=0.15, label="95% band"),
                Line2D([], [], color="#cf222e", linestyle=":", label=f"{LIMIT_MS:g} ms")]
    style.legend(fig, handles)
    fig.supxlabel(xlabel, fontsize=9)
    style.title(fig, title)


def _draw_series(ax, s: dict, colour: str) -> None:
    points = [(m["x"], m["value"]) for m in s.get("measured", []) if m.get("value") and not m.get("failed")]
    if points:
        ax.plot(*zip(*points), "o", color=colour, markersize=3.5)
    curve = s.get("curve")
    if not curve:
        return
    largest = max(x for x, _ in points) if points else curve["x"][0]
    inside = [i for i, x in enumerate(curve["x"]) if x <= largest * 1.0001]
    beyond = [i for i, x in enumerate(curve["x"]) if x >= largest * 0.9999 or i == inside[-1]] if inside else []
    for idx, dash in ((inside, "-"), (beyond, "--")):
        if idx:
            ax.plot([curve["x"][i] for i in idx], [curve["estimate"][i] for i in idx], dash, color=colour,
                    linewidth=1.2)
    low = [max(v, 1e-3) for v in curve["low"]]
    ax.fill_between(curve["x"], low, curve["high"], color=colour, alpha=0.12, linewidth=0)


def _decorate(ax, scenario: str, mine: list[dict], index: int) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    measured = [m["value"] for s in mine for m in s.get("measured", []) if m.get("value")]
    projected = [s["curve"]["estimate"][-1] for s in mine if s.get("curve")]
    if measured:  # the band may reach far below what was measured: keep the points readable
        ax.set_ylim(min(measured) / 5, max(measured + projected + [LIMIT_MS]) * 5)
    ax.axhline(LIMIT_MS, color="#cf222e", linestyle=":", linewidth=1)
    ax.set_title(scenario, fontsize=9)
    style.plain_log_ticks(ax.yaxis)
    if index % COLUMNS == 0:
        ax.set_ylabel("latency (ms)")
    unfit = [s["variant"] for s in mine if not s.get("fit")]
    if unfit:
        ax.text(0.02, 0.02, "no fit: " + ", ".join(unfit), transform=ax.transAxes, fontsize=7, color="#9a6700")


# ---- tables (report.html and summary.md) ---------------------------------------------------
def _pct(value) -> str:
    return "" if value is None else f"{value:+.0%}"


def _interval(estimate: float, low: float, high: float, unit: str) -> str:
    if unit == "bytes":
        from bench.judge.text import human_bytes

        return f"{human_bytes(int(estimate))} [{human_bytes(int(low))}, {human_bytes(int(high))}]"
    digits = 0 if estimate >= 100 else 1 if estimate >= 10 else 2
    return f"{estimate:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}] {unit}"


def _load(load: dict | None) -> str:
    if not load or not load.get("before_latency"):
        return "not recorded"
    return f"{load['before_latency'][0]:.1f} -> {(load.get('after_latency') or ['?'])[0]}"


def size_rows(section: dict) -> list[dict]:
    from bench.judge.text import human_bytes

    rows = []
    for s in section.get("sizes") or []:
        seed = s.get("seed") or {}
        post = seed.get("post_data_seconds") or {}
        tenant = s.get("largest_tenant") or {}
        rows.append({"size": s["label"], "documents": f"{s['counts']['documents']:,}", "status": s.get("status"),
                     "seeding s": f"{seed.get('total_seconds', 0):.0f}",
                     "post-data s": ", ".join(f"{v} {t:.0f}" for v, t in post.items()),
                     "database": human_bytes(s.get("database_bytes")),
                     "largest tenant": f"{tenant.get('projects', 0):,} projects, {tenant.get('users', 0):,} users",
                     "wall s": f"{s.get('wall_seconds') or 0:.0f}", "started": s.get("started_at", ""),
                     "load average (1 min) around latency": _load(s.get("load_average"))})
    return rows


def _name(s: dict) -> str:
    if s["kind"] in ("latency", "tenant_latency", "recall_miss"):
        return s["scenario"]
    if s["kind"] == "seconds":
        return s["what"]
    if s.get("what") == "index":
        return f"{s['relation']}: {s['index']}"
    return f"{s['relation']} (its indexes)" if s.get("what") == "indexes of a table" else s["relation"]


def validation_rows(analysis: dict, kind: str) -> list[dict]:
    rows = []
    for s in analysis.get("series") or []:
        if s["kind"] != kind:
            continue
        v = s.get("validation") or {}
        row = {"series": _name(s), "variant": s["variant"]}
        if "error" in v:
            row.update(model=v["model"], predicted=_interval(v["predicted"], v["low"], v["high"], s["unit"]),
                       measured=_interval(v["measured"], v["measured"], v["measured"], s["unit"]).split(" [")[0],
                       error=_pct(v["error"]), covered="yes" if v["covered"] else "no")
        else:
            row.update(model="", predicted=f"not validated: {v.get('why_not') or s.get('why_not', '')}",
                       measured="", error="", covered="")
        rows.append(row)
    return rows


def projection_rows(analysis: dict, kind: str) -> list[dict]:
    rows = []
    goal = {"latency": 0.25, "bytes": 0.10}.get(kind)
    for s in analysis.get("series") or []:
        if s["kind"] != kind:
            continue
        p, v = s.get("projection"), s.get("validation") or {}
        row = {"series": _name(s), "variant": s["variant"]}
        if not p:
            row.update(model="", projection=f"not projected: {s.get('why_not', '')}", fitted_on="", check="")
        else:
            check = ("held-out error " + _pct(v["error"]) if "error" in v else "not validated")
            if goal is not None and "error" in v and abs(v["error"]) > goal:
                check += f" (over {goal:.0%}: treat with caution)"
            row.update(model=s["fit"]["model"], projection="projection: " + _interval(p["estimate"], p["low"],
                                                                                       p["high"], s["unit"]),
                       fitted_on=", ".join(p["fitted_on"]), check=check)
        rows.append(row)
    return rows


def summary_lines(analysis: dict) -> list[str]:
    validation = analysis.get("validation") or {}
    out = []
    for kind, k in (validation.get("kinds") or {}).items():
        if not k.get("series"):
            continue
        goal = (f"; goal <= {k['goal']:.0%}: {'met' if k['meets_goal'] else 'missed'}" if k.get("goal") is not None
                else "")
        out.append(f"{kind}: median |error| at {validation['held_out']} (fitted on "
                   f"{', '.join(validation['fitted_on'])}) {k['median_abs_error']:.1%} over {k['series']} series"
                   f"{goal}; the 95% intervals covered the measurement in {k['interval_coverage']:.0%}")
    return out


def _tenant_note(analysis: dict) -> str:
    tenant = (analysis.get("target") or {}).get("largest_tenant")
    if not tenant:
        return ""
    return (f" At {analysis['target']['label']} the seeder's largest organization holds {tenant['projects']:,} projects "
            "(Zipf tenants): the review's 1M projects per organization is beyond the dataset, so the project "
            "scenarios are measured for the largest tenant at each size and fitted against its projects.")


def recall_rows(analysis: dict) -> list[dict]:
    """The vector scenario's recall@10 at its own setting per size, and projected (1 - the
    miss-rate projection: its bounds swap)."""
    rows = []
    for s in analysis.get("series") or []:
        if s["kind"] != "recall_miss":
            continue
        sizes = (analysis.get("recall_measured") or {}).get(f"{s['scenario']}/{s['variant']}") or []
        row = {"scenario": s["scenario"], "variant": s["variant"],
               "measured": ", ".join(f"{m['size']} {m['recall']:.3f} ({m['found']}/{m['neighbours']})" for m in sizes)}
        p = s.get("projection")
        row["projection"] = (f"{1 - p['estimate']:.3f} [{max(0.0, 1 - p['high']):.3f}, {1 - p['low']:.3f}] at "
                             f"{int(p['x']):,} documents" if p else f"not projected: {s.get('why_not', '')}")
        rows.append(row)
    return rows


def sizing_rows(table: dict) -> list[dict]:
    """The sizing table: one row per variant (estimate, and the upper bound to budget for)."""
    from bench.judge.text import human_bytes

    def both(value: dict | None, show) -> str:
        return "not projected" if not value else f"{show(value['estimate'])} (≤ {show(value['high'])})"

    def hours(h: float) -> str:
        return f"{h:,.1f} h" if h >= 1 else f"{h * 60:,.0f} min"

    target = table["target"]
    rows = []
    for r in table.get("rows") or []:
        cores = r.get("cores") or {}
        rows.append({
            "variant": r["variant"], "disk": both(r["disk_bytes"], human_bytes),
            "vector index RAM": both(r["vector_index_bytes"], human_bytes),
            "HNSW maintenance_work_mem": human_bytes(r["hnsw_build_memory_bytes"])
            if r.get("hnsw_build_memory_bytes") else "no HNSW index",
            "build here": both(r["build_hours"], hours),
            f"build, {target['cores']} cores": both(r.get("build_hours_at_cores"), hours),
            "server cores": (f"{cores['cores']:,} ({cores['cpu_ms_per_request']:.2f} ms × {cores['growth']['factor']:.1f})"
                             if "cores" in cores else cores.get("why_not") or table.get("cores_why_not", ""))})
    return rows


def sizing_users(table: dict) -> str:
    """"10,000 users thinking 17.5 s: 568 requests/s" (the rate every variant's cores serve)."""
    target = table["target"]
    rate = next((r["cores"]["requests_per_s"] for r in table.get("rows") or [] if "cores" in (r.get("cores") or {})),
                None)
    return (f"{target['users']:,} users thinking {target.get('think_s', 0):g} s"
            + (f": {rate:,.0f} requests/s" if rate else ""))


def sizing_note(table: dict) -> str:
    return ("Assumptions: " + "; ".join(table.get("assumptions") or []) + ".") if table.get("rows") else ""


def tables(section: dict) -> list[tuple[str, list[dict], str]]:
    """(title, rows, note) of the capacity section, in reading order."""
    analysis = section.get("analysis") or {}
    config = section.get("config") or {}
    lat = config.get("latency") or {}
    out = [("Sizes measured", size_rows(section),
            (f"latency per size: {lat.get('rounds')} rounds in {lat.get('runs')} run(s) x {lat.get('requests')} "
            f"requests, {lat.get('concurrency')} connections; statistic: {config.get('latency_statistic')}. "
            f"recall@10 of the vector scenario from {config.get('recall_queries', 0)} queries per variant and size."
            + _tenant_note(analysis)))]
    if analysis.get("why_not"):
        return out + [("Fits", [], f"no fits: {analysis['why_not']}")]
    held = (analysis.get("validation") or {}).get("held_out")
    note = "; ".join(summary_lines(analysis)) + f". Criterion: {analysis.get('criterion')}."
    out += [(f"Held-out validation: latency at {held}, predicted from the smaller sizes",
             validation_rows(analysis, "latency"), note),
            (f"Projections to {analysis['target']['label']} ({analysis['target']['documents']:,} documents): latency",
             projection_rows(analysis, "latency"), f"Interval: {analysis.get('interval')}."),
            (f"Held-out validation: bytes per table and index at {held}", validation_rows(analysis, "bytes"), ""),
            (f"Projections to {analysis['target']['label']}: bytes per table and index (x: the table's rows there)",
             projection_rows(analysis, "bytes"), ""),
            ("Post-data (index build) seconds", projection_rows(analysis, "seconds"), ""),
            (f"Largest tenant: project scenarios against the tenant's projects, projected to "
             f"{_tenant_target(analysis):,} projects", projection_rows(analysis, "tenant_latency"),
             "Every request made by (and about) the organization with the most projects at that size."),
            ("Vector recall@10 at the scenario's own search setting", recall_rows(analysis),
             "Against exact search of the same query as the same user; the projection fits the miss rate "
             "(1 - recall, continuity-corrected) like any other growing cost. The verdict never reads the projection "
             "as surer than the largest size's own 95% Clopper-Pearson bound (found/neighbours).")]
    table = analysis.get("sizing") or {}
    if table.get("rows"):
        target = table["target"]
        out.append((f"Sizing: {target['documents']:,} documents, {sizing_users(table)} (bench sizing for another "
                    "target)", sizing_rows(table), sizing_note(table)))
    elif table.get("why_not"):
        out.append(("Sizing", [], f"no sizing: {table['why_not']}"))
    return out


def _tenant_target(analysis: dict) -> int:
    xs = [s["projection"]["x"] for s in analysis.get("series") or []
          if s["kind"] == "tenant_latency" and s.get("projection")]
    return int(xs[0]) if xs else 0

"""`bench compare` beyond the latency cells: verdict flips, vector search, the step load,
the throughput sweep, the view's refresh, storage, security findings and seeding, each figure
with the noise it was measured with and, where the data allows it, the smallest change it could detect.

Every row is an `Item` with a status:
  regression / improvement  a change beyond the threshold that the data decides: a test
                            (Welch on the logs of per-round values, Benjamini-Hochberg
                            within the section, as the latency cells), an exact count (bytes of the
                            same rows, an attack that now succeeds), or a load capacity's
                            SLO crossings apart beyond the spread between runs;
  unchanged                 within the threshold, and the data could have shown it;
  undecidable               the test could not have shown a threshold-sized change;
  changed                   beyond the threshold, but one measurement with no noise
                            estimate (an index build, a recall), or a noise estimate
                            from one run's repeats that a rerun's drift goes beyond (a
                            load step's p95, a refresh's timings): said, never gated;
  noted                     within the threshold, one measurement with no noise estimate.
Only regressions (and verdicts that got worse) fail the release gate.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from bench.judge import text as txt
from bench.loadtest import steps as stepping
from bench.report import data as d
from bench.report.compare import IMPROVEMENT, REGRESSION, UNCHANGED, UNDECIDABLE, Figure, decide, welch

CHANGED, NOTED = "changed", "noted"
WORSE, BETTER, SAME, GONE, NEW = "worse", "better", "same", "gone", "new"
MARKS = {REGRESSION: "🔴", IMPROVEMENT: "🟢", UNDECIDABLE: "❔", CHANGED: "⚠️", WORSE: "🔴", BETTER: "🟢", GONE: "⚠️",
         NEW: "🆕"}
VERDICT_RANK = {"confirmed": 2, "inconclusive": 1, "refuted": 0}  # "not measurable" is not ranked

NO_NOISE = "one measurement per run: no noise estimate"


@dataclass
class Item:
    """One compared figure of a section."""
    section: str
    what: str
    unit: str
    old: float | None
    new: float | None
    status: str
    higher_is_better: bool = False
    noise: str = ""  # how the figure was measured, and what its noise is (or that there is none)
    detectable: float | None = None  # smallest worsening (fraction) the data could detect
    p: float | None = None

    @property
    def change(self) -> float | None:
        if self.old is None or self.new is None or not self.old:
            return None
        return self.new / self.old - 1

    def record(self) -> dict:
        return {**asdict(self), "change": self.change}


@dataclass
class Flip:
    """A claim's verdict on one variant in both runs."""
    claim: str
    variant: str
    old: str | None
    new: str | None
    old_figure: str = ""
    new_figure: str = ""

    @property
    def direction(self) -> str:
        if self.old == self.new:
            return SAME
        if self.new is None:
            return GONE
        if self.old is None:
            return NEW
        a, b = VERDICT_RANK.get(self.old), VERDICT_RANK.get(self.new)
        if a is None or b is None:  # to or from "not measurable": changed, neither better nor worse
            return GONE if b is None else NEW
        return WORSE if b < a else BETTER

    def record(self) -> dict:
        return {**asdict(self), "direction": self.direction}


# ---- verdicts --------------------------------------------------------------------------------------
def verdict_flips(old: dict, new: dict) -> list[Flip]:
    """Every (claim, variant) judged in either run; worse first, then better, then the rest."""
    def by_key(results):
        return {(v["claim"], v["variant"]): v for v in results.get("verdicts") or []}
    a, b = by_key(old), by_key(new)
    flips = []
    for key in dict.fromkeys([*a, *b]):
        va, vb = a.get(key), b.get(key)
        flips.append(Flip(key[0], key[1], va and va.get("verdict"), vb and vb.get("verdict"),
                          _figure(va), _figure(vb)))
    order = {WORSE: 0, GONE: 1, BETTER: 2, NEW: 3, SAME: 4}
    return sorted(flips, key=lambda f: order[f.direction])


def _figure(verdict: dict | None) -> str:
    if not verdict:
        return ""
    try:
        return txt.figure_text(verdict, short=True)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return ""


# ---- tested figures (Welch on logs, Benjamini-Hochberg within a section) --------------------------
def _tested(items_series: list[tuple[Item, list | None, list | None]], threshold: float) -> list[Item]:
    """Decide items from their per-round values with the latency cells' decision (compare.decide),
    each tested by Welch on its own rounds: a section's items are different metrics, so there is
    no spread of like figures to borrow (compare.moderated)."""
    figures = []
    for item, before, after in items_series:
        metric = d.Metric(item.what, item.what, item.unit, item.higher_is_better, (), item.what)
        figure = Figure(metric, item.old, item.new)
        figure.test = welch(before, after) if before and after else None
        figures.append(figure)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's precision warnings for near-identical rounds
        decide(figures, threshold)
    out = []
    for (item, _, _), figure in zip(items_series, figures):
        item.status, item.detectable = figure.status, figure.detectable
        item.p = figure.test.p if figure.test else None
        if figure.test is None:
            item.noise += "; fewer than 2 rounds on a side: no test"
        out.append(item)
    return out


def _single(item: Item, threshold: float, exact: bool = False) -> Item:
    """A figure measured once per run. Exact figures (counts, bytes of the same rows) are
    decided by the threshold alone; others are only said to have changed."""
    change = item.change
    if change is None:
        item.status = NOTED
        return item
    worse = -change if item.higher_is_better else change
    if exact:
        item.status = REGRESSION if worse > threshold else IMPROVEMENT if -worse > threshold else UNCHANGED
    else:
        item.status = CHANGED if abs(worse) > threshold else NOTED
    return item


# ---- work per request ---------------------------------------------------------------------------------
# Shared buffers a request touches (pg_stat_statements over every call of a cell) count work, not time:
# a dropped index shows there however noisy the machine. Re-runs of the same commit moved it by up to
# 18% and 27 buffers per call (tiny scale, 2026-12-02: vector scans and rolled-back writes vary), so a
# change is flagged only beyond both floors (and the threshold).
WORK_FLOOR, WORK_MIN_BUFFERS = 0.5, 32


def work_items(old: dict, new: dict, threshold: float) -> list[Item]:
    cells_b = {(c["scenario"], c["variant"]): c for c in d.latency_cells(new)}
    out = []
    for cell in d.latency_cells(old):
        other = cells_b.get((cell["scenario"], cell["variant"]))
        if other is None or cell.get("kind") == "write":  # writes are rolled back: their dead rows add work
            continue
        a, b = _buffers(cell), _buffers(other)
        if a is None or b is None:
            continue
        item = Item("work", f"{cell['scenario']} on {cell['variant']}: buffers per request", "buffers", a, b, "",
                    False, f"shared buffers hit + read per call (pg_stat_statements, every call of the run): a "
                           f"count, not a timing; flagged beyond +{max(threshold, WORK_FLOOR):.0%} and "
                           f"+{WORK_MIN_BUFFERS} buffers (same-commit re-runs moved it up to 18% / 27 buffers)")
        change = item.change
        floor = max(threshold, WORK_FLOOR)
        if change is not None and change > floor and b - a >= WORK_MIN_BUFFERS:
            item.status = REGRESSION
        elif change is not None and -change > floor / (1 + floor) and a - b >= WORK_MIN_BUFFERS:
            item.status = IMPROVEMENT
        else:
            item.status = UNCHANGED
        out.append(item)
    return out


def _buffers(cell: dict) -> float | None:
    stats = cell.get("pg_stat_statements")
    if not isinstance(stats, dict) or not stats.get("calls"):
        return None
    return round((stats.get("shared_blks_hit") or 0) + (stats.get("shared_blks_read") or 0)) / stats["calls"]


# ---- vector -----------------------------------------------------------------------------------------
def build_groups(section: dict) -> dict[str, list[str]]:
    """Each configuration's builds by name: build 1 under its own name, later builds of a
    replicated one as NAME_bK (docs/results.md, vector `builds`)."""
    builds = section.get("builds") or {}
    count = int(builds.get("per_index") or 1)
    replicated = set(builds.get("replicated") or [])
    names = {m.get("config") for m in section.get("matched") or []}
    replicas = {f"{base}_b{k}" for base in replicated for k in range(2, count + 1)}
    return {name: [name] + ([f"{name}_b{k}" for k in range(2, count + 1)] if name in replicated else [])
            for name in sorted(names - replicas)}


def vector_items(old: dict, new: dict, threshold: float) -> list[Item]:
    """p50 at matched recall per configuration and target: tested over the index builds
    (each build's p50 one replicate: builds are where run-to-run noise lives, and the
    rounds of one build do not cover it); a configuration with one build a side is only
    said to have changed. Recall, build time and size: one value per build, said."""
    a, b = old.get("vector") or {}, new.get("vector") or {}
    if not a or not b:
        return []
    matched_a = {(m.get("target"), m.get("config")): m for m in a.get("matched") or []}
    matched_b = {(m.get("target"), m.get("config")): m for m in b.get("matched") or []}
    groups_a, groups_b = build_groups(a), build_groups(b)
    tested: list[tuple[Item, list | None, list | None]] = []
    out: list[Item] = []
    seen: dict[tuple, Item] = {}  # one test per (config, settings old, settings new): targets may share it
    for (target, config), m in matched_a.items():
        if config not in groups_a or config not in groups_b or (target, config) not in matched_b:
            continue
        what = f"{config} at recall {target}"
        olds = [matched_a.get((target, name)) for name in groups_a[config]]
        news = [matched_b.get((target, name)) for name in groups_b[config]]
        if m.get("reached") and not matched_b[(target, config)].get("reached"):
            out.append(Item("vector", f"{what}: reaches the target", "", 1, 0, REGRESSION, True,
                            f"{m.get('setting')} reached it before; no swept setting reaches it now"))
            continue
        if not all(x and x.get("reached") for x in olds + news):
            continue
        pair = (config, tuple(x.get("setting") for x in olds), tuple(x.get("setting") for x in news))
        if pair in seen:
            seen[pair].what = seen[pair].what.replace(": p50", f", {target}: p50")
            continue
        p50_a, p50_b = [x["p50_ms"] for x in olds], [x["p50_ms"] for x in news]
        settings = f"{', '.join(pair[1])} → {', '.join(pair[2])}"
        item = Item("vector", f"{what}: p50", "ms", float(np.mean(p50_a)), float(np.mean(p50_b)), "", False)
        seen[pair] = item
        if len(p50_a) >= 2 and len(p50_b) >= 2:
            item.noise = (f"mean p50 at the matched setting over {len(p50_a)} → {len(p50_b)} index builds "
                          f"({settings}); Welch on the logs of the builds' p50s: covers build-to-build noise, "
                          "not a drift of the machine shared by every build of a run")
            tested.append((item, p50_a, p50_b))
        else:
            item.noise = (f"p50 at the matched setting ({settings}) of one index build on a side: {NO_NOISE} "
                          "(build-to-build noise is not covered by its rounds; bench run vector --builds 2 tests it)")
            out.append(_single(item, threshold))
    sweeps_b = {(s.get("config"), s.get("setting")): s for s in b.get("sweeps") or []}
    for s in a.get("sweeps") or []:
        key = (s.get("config"), s.get("setting"))
        other = sweeps_b.get(key)
        if other is None or s.get("recall") is None or other.get("recall") is None:
            continue
        queries = s.get("queries")
        out.append(_single(Item("vector", f"{key[0]} {key[1]}: recall@{a.get('options', {}).get('k', 10)}", "",
                                s["recall"], other["recall"], "", True,
                                f"{queries} queries on one index build: {NO_NOISE}"), threshold))
    builds_b = {i.get("config"): i for i in b.get("indexes") or []}
    for index in a.get("indexes") or []:
        other = builds_b.get(index.get("config"))
        if other is None:
            continue
        out.append(_single(Item("vector", f"{index.get('config')}: build time", "s", index.get("build_s"),
                                other.get("build_s"), "", False, f"one build: {NO_NOISE}"), threshold))
        out.append(_single(Item("vector", f"{index.get('config')}: index size", "bytes", index.get("size_bytes"),
                                other.get("size_bytes"), "", False,
                                f"one build: {NO_NOISE} (HNSW levels and IVFFlat centres are random)"),
                           threshold))
    return _tested(tested, threshold) + out


# ---- load -------------------------------------------------------------------------------------------
def load_items(old: dict, new: dict, threshold: float) -> list[Item]:
    a, b = old.get("load") or {}, new.get("load") or {}
    if not a or not b:
        return []
    out = []
    claim = stepping.concurrency_claim()
    cap_b = b.get("capacity") or {}
    for variant, ca in (a.get("capacity") or {}).items():
        cb = cap_b.get(variant)
        if isinstance(ca, dict) and isinstance(cb, dict):
            out.append(_capacity_item(variant, ca, cb, claim, threshold))
    steps_b = {(s.get("variant"), s.get("users")): s for s in b.get("steps") or []}
    for s in a.get("steps") or []:
        other = steps_b.get((s.get("variant"), s.get("users")))
        if other is None or s.get("p95_ms") is None or other.get("p95_ms") is None:
            continue
        ia, ib = s.get("p95_interval") or {}, other.get("p95_interval") or {}
        item = Item("load", f"{s.get('variant')} at {s.get('users')} users: p95", "ms", s["p95_ms"], other["p95_ms"],
                    "", False, f"p95 95% interval [{_ms(ia.get('low_ms'))}, {_ms(ia.get('high_ms'))}] → "
                               f"[{_ms(ib.get('low_ms'))}, {_ms(ib.get('high_ms'))}] (order statistics of the "
                               f"step's {s.get('requests')} → {other.get('requests')} requests)")
        change = item.change
        apart = (ia.get("high_ms") is not None and ib.get("low_ms") is not None and ib["low_ms"] > ia["high_ms"]) \
            or (ib.get("high_ms") is not None and ia.get("low_ms") is not None and ia["low_ms"] > ib["high_ms"])
        if change is None:
            item.status = NOTED
        elif apart and abs(change) > threshold:
            item.status = CHANGED
            item.noise += ONE_RUN
        else:
            item.status = UNDECIDABLE if abs(change) > threshold else UNCHANGED
        out.append(item)
    return out


def _capacity_item(variant: str, ca: dict, cb: dict, claim: stepping.ConcurrencyClaim, threshold: float) -> Item:
    """A variant's capacity in two runs, compared where each run's p95 crosses the SLO: the
    grid steps alone flipped between reruns of one commit (review held 200 users, then 100,
    with crossings of 208 and 190), so a step that held and is now breached decides nothing
    by itself. Gated only when the change's interval, widened for the spread between runs,
    lies beyond the threshold (stepping.crossing_change)."""
    a, b = _crossing_or_below(ca), _crossing_or_below(cb)
    change = stepping.crossing_change({"slo_crossing": a}, {"slo_crossing": b}, claim) if a and b else None
    grid = f"{txt.capacity_text(ca)} → {txt.capacity_text(cb)}"
    if change is None:
        return Item("load", f"{variant}: capacity", "users", ca.get("users"), cb.get("users"),
                    NOTED if ca.get("users") == cb.get("users") else CHANGED, True,
                    f"{grid}; a side held no step, so there is no SLO crossing to compare: not gated")
    moved = change["estimate"] - 1
    if change["high"] is not None and change["high"] < 1 and moved < -threshold:
        status = REGRESSION
    elif change["low"] > 1 and moved > threshold:
        status = IMPROVEMENT
    elif change["high"] is not None and change["low"] >= 1 - threshold and change["high"] <= 1 + threshold:
        status = UNCHANGED
    else:
        status = UNDECIDABLE
    high = "∞" if change["high"] is None else f"{change['high'] - 1:+.0%}"
    noise = (f"SLO crossed at ~{_users(a)} → ~{_users(b)} users ({grid}); change interval "
             f"[{change['low'] - 1:+.0%}, {high}]: each run's crossing interval, widened x/{change['widen']:.2f} for "
             "the spread between runs (targets.toml [concurrency] between_run_log_sd)")
    return Item("load", f"{variant}: capacity (SLO crossing)", "users", a["estimate"], b["estimate"], status, True,
                noise, detectable=change["detectable"])


def _crossing_or_below(cap: dict) -> dict | None:
    """The run's SLO crossing; a variant that held no step but breached its lowest one
    reliably crosses below it."""
    if cap.get("slo_crossing"):
        return cap["slo_crossing"]
    if not cap.get("users") and cap.get("breach_reliable") and cap.get("first_breach"):
        return {"estimate": float(cap["first_breach"]), "low": 0.0, "high": float(cap["first_breach"])}
    return None


def _users(crossing: dict) -> str:
    high = "∞" if crossing.get("high") is None else f"{crossing['high']:,.0f}"
    return f"{crossing['estimate']:,.0f} [{crossing['low']:,.0f}, {high}]"


# Why a load step's p95 and a refresh's timings are said, not gated: their intervals cover the
# requests or repeats of one run, and reruns of the same commit went beyond them (2026-12-03, three
# make bench runs: a step's p95 6.2 -> 12.3 ms at 20 users with intervals apart, a refresh +16%).
ONE_RUN = "; beyond its interval, but that covers one run only (reruns of one commit moved more): said, not gated"


def _ms(value) -> str:
    return "∞" if value is None else txt.fmt_ms(value)


# ---- view maintenance -------------------------------------------------------------------------------
def maintenance_items(old: dict, new: dict, threshold: float) -> list[Item]:
    """Each refresh of the materialized view (variant, mode): its repeats tested as rounds,
    a change beyond them said, not gated (ONE_RUN); a refresh that worked and is now refused
    (or the reverse) is decided by that alone."""
    a, b = old.get("maintenance") or {}, new.get("maintenance") or {}
    if not a or not b:
        return []
    refreshes_b = {(r.get("variant"), r.get("mode")): r for r in b.get("refreshes") or []}
    tested, out = [], []
    for r in a.get("refreshes") or []:
        other = refreshes_b.get((r.get("variant"), r.get("mode")))
        if other is None:
            continue
        what = f"{r.get('variant')}: refresh {r.get('view')} {r.get('mode')}"
        if r.get("ok") != other.get("ok"):
            out.append(Item("maintenance", f"{what} works", "", int(bool(r.get("ok"))), int(bool(other.get("ok"))),
                            IMPROVEMENT if other.get("ok") else REGRESSION, True,
                            other.get("error") or r.get("error") or ""))
        elif r.get("ok"):
            item = Item("maintenance", f"{what}: median", "ms", r.get("median_ms"), other.get("median_ms"), "", False,
                        f"Welch on the logs of {r.get('count')} → {other.get('count')} timed refreshes "
                        "(rolled back, after a warm-up)")
            tested.append((item, r.get("times_ms"), other.get("times_ms")))
    decided = _tested(tested, threshold)
    for item in decided:
        if item.status in (REGRESSION, IMPROVEMENT):
            item.status = CHANGED
            item.noise += ONE_RUN
    return decided + out


# ---- throughput -------------------------------------------------------------------------------------
def throughput_items(old: dict, new: dict, threshold: float) -> list[Item]:
    """Throughput per variant and connection level of the closed-loop sweep, its windows
    tested as rounds (bench run throughput)."""
    a, b = old.get("throughput") or {}, new.get("throughput") or {}
    if not a or not b:
        return []

    def windows(section):
        out: dict[tuple, list[float]] = {}
        for w in section.get("windows") or []:
            if w.get("x_rps"):
                out.setdefault((w.get("variant"), w.get("n")), []).append(w["x_rps"])
        return out
    wa, wb = windows(a), windows(b)
    tested = []
    for key, before in wa.items():
        after = wb.get(key)
        if not after:
            continue
        item = Item("throughput", f"{key[0]} at {key[1]} connections: throughput", "req/s",
                    float(np.mean(before)), float(np.mean(after)), "", True,
                    f"Welch on the logs of {len(before)} → {len(after)} windows (closed loop, no think time)")
        # tested as seconds per request: the test's series are times (compare.Figure), whichever way is better
        tested.append((item, [1 / x for x in before], [1 / x for x in after]))
    return _tested(tested, threshold)


# ---- storage ----------------------------------------------------------------------------------------
def storage_items(old: dict, new: dict, threshold: float) -> list[Item]:
    a, b = old.get("storage") or {}, new.get("storage") or {}
    if not a or not b:
        return []
    noise = "exact bytes of the same rows: no sampling noise, the threshold alone decides"
    out = []
    tables_b = {(t.get("variant"), t.get("relation")): t for t in b.get("tables") or []}
    tables_a = {(t.get("variant"), t.get("relation")): t for t in a.get("tables") or []}
    for key in dict.fromkeys([*tables_a, *tables_b]):
        ta, tb = tables_a.get(key), tables_b.get(key)
        for part in ("heap_bytes", "index_bytes"):
            va, vb = (ta or {}).get(part), (tb or {}).get(part)
            if va is None and vb is None:
                continue
            label = f"{key[0]} {key[1]}: {part.replace('_bytes', '')}"
            if va is None or vb is None:
                out.append(Item("storage", label, "bytes", va, vb, NEW if va is None else GONE, False, noise))
            elif va or vb:
                out.append(_single(Item("storage", label, "bytes", va, vb, "", False, noise), threshold, exact=True))
    totals_b = b.get("totals") or {}
    for variant, ta in (a.get("totals") or {}).items():
        tb = totals_b.get(variant)
        if isinstance(ta, dict) and isinstance(tb, dict):
            out.append(_single(Item("storage", f"{variant}: total", "bytes", ta.get("total_bytes"),
                                    tb.get("total_bytes"), "", False, noise), threshold, exact=True))
    return out


# ---- security ---------------------------------------------------------------------------------------
def security_items(old: dict, new: dict) -> list[Item]:
    a, b = old.get("security") or {}, new.get("security") or {}
    if not a or not b:
        return []
    def by_key(section):
        return {(f.get("variant"), f.get("attack")): f for f in section.get("findings") or []
                if f.get("applicable", True)}
    fa, fb = by_key(a), by_key(b)
    noise = "an attack either succeeds or not (deterministic requests, rolled back)"
    out = []
    for key in dict.fromkeys([*fa, *fb]):
        x, y = fa.get(key), fb.get(key)
        was, now = bool(x and x.get("succeeded")), bool(y and y.get("succeeded"))
        if x is None or y is None:
            out.append(Item("security", f"{key[0]}: {key[1]}", "", None if x is None else int(was),
                            None if y is None else int(now), NEW if x is None else GONE, False,
                            "attack run in one run only"))
        elif was != now:
            out.append(Item("security", f"{key[0]}: {key[1]} succeeds", "", int(was), int(now),
                            REGRESSION if now else IMPROVEMENT, False, (y if now else x).get("evidence") or noise))
    return out


# ---- seeding ----------------------------------------------------------------------------------------
def seeding_items(old: dict, new: dict, threshold: float) -> tuple[list[Item], str]:
    """Seeding throughput, when both runs record it: `bench all` does when it loads rows (a
    seed kept from an earlier run, or a run of `bench run`, has no rate)."""
    a, b = (old.get("seed") or {}), (new.get("seed") or {})
    rate_a, rate_b = a.get("rows_per_s"), b.get("rows_per_s")
    if rate_a is None or rate_b is None:
        return [], "not recorded in both runs: `bench all` records it when it loads the rows itself"
    return [_single(Item("seeding", "rows/s", "rows/s", rate_a, rate_b, "", True, f"one seed per run: {NO_NOISE}"),
                    threshold)], ""


# ---- text -------------------------------------------------------------------------------------------
def value_text(item: Item, value) -> str:
    if value is None:
        return "–"
    if item.unit == "bytes":
        return txt.human_bytes(value)
    if item.unit == "ms":
        return txt.fmt_ms(value)
    if item.unit == "s":
        return f"{value:.2f} s"
    if item.unit == "buffers":
        return f"{value:,.1f}"
    if item.section == "security":
        return "succeeds" if value else "fails"
    if item.unit == "":
        return f"{value:.3f}" if isinstance(value, float) else str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def item_row(item: Item) -> str:
    change = txt.fmt_change(item.change) if item.change is not None and item.section != "security" else ""
    mde = "–" if item.detectable is None or not math.isfinite(item.detectable) else \
        "1,000%+" if item.detectable > 10 else f"{item.detectable:,.0%}"
    status = f"{MARKS.get(item.status, '')} {item.status}".strip()
    return (f"| {item.what} | {value_text(item, item.old)} → {value_text(item, item.new)} | {change} | {status} | "
            f"{mde} | {item.noise} |")

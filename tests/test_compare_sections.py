"""`bench compare` of every section (bench/report/sections.py, bench/report/gate.py) on the
real tiny run (tests/fixtures/tiny_run) and on copies of it with one known change injected:
a run equals itself and passes the gate; a verdict that got worse is said first and fails
the gate; more bytes of the same rows, an attack that now succeeds and a target recall no
longer reached are regressions; a recall or a build measured once is "changed", never
gated, and says it has no noise estimate; the Markdown folds each section into <details>;
the JSON holds the same decisions."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli.report import compare_cmd
from bench.report import gate
from bench.report import sections as s
from tests.report_support import write

TINY = Path(__file__).parent / "fixtures" / "tiny_run" / "results.json"


@pytest.fixture(scope="module")
def tiny() -> dict:
    return json.loads(TINY.read_text())


@pytest.fixture(scope="module")
def itself():
    return gate.review(TINY, TINY)


def changed(results: dict, edit) -> dict:
    out = copy.deepcopy(results)
    edit(out)
    return out


def test_a_run_compared_with_itself_passes_the_gate(itself):
    assert not itself.failed and itself.gate_failures() == []
    assert all(f.direction == s.SAME for f in itself.flips) and len(itself.flips) == 13
    for name in ("vector", "load", "storage"):
        assert itself.items[name], name  # every section is compared
        assert {i.status for i in itself.items[name]} <= {s.UNCHANGED, s.NOTED, s.UNDECIDABLE}, name
    assert "no attack changed its outcome (75 compared)" == itself.notes["security"]
    assert itself.notes["seeding"].startswith("not recorded")
    text = gate.markdown(itself)
    assert text.startswith(gate.MARKER) and "✅ **gate passes**" in text
    assert text.count("<details>") == text.count("</details>") >= 5


def test_a_verdict_that_got_worse_fails_the_gate_and_comes_first(tiny, tmp_path):
    def refute(results):
        (v,) = [v for v in results["verdicts"] if v["claim"] == "security" and v["variant"] == "hardened"]
        v["verdict"] = "refuted"
    r = gate.review(TINY, write(tmp_path / "worse", changed(tiny, refute)))
    assert [(f.claim, f.variant, f.old, f.new) for f in r.worse_verdicts()] == [
        ("security", "hardened", "confirmed", "refuted")]
    assert r.flips[0].direction == s.WORSE  # worse flips are listed first
    text = gate.markdown(r)
    assert "❌ **gate fails: 1 regression**" in text
    assert "🔴 security on hardened confirmed → refuted" in text.split("<details>")[0]  # in the headline
    assert r.gate_failures() == [{"section": "verdicts", "what": "security on hardened: confirmed → refuted"}]
    better = gate.review(write(tmp_path / "worse2", changed(tiny, refute)), TINY)
    assert not better.failed and [f.direction for f in better.flips][:1] == [s.BETTER]


def test_more_bytes_of_the_same_rows_is_a_storage_regression(tiny, tmp_path):
    def grow(results):
        (t,) = [t for t in results["storage"]["tables"] if t["variant"] == "hardened" and t["relation"] == "documents"]
        t["index_bytes"] = int(t["index_bytes"] * 1.5)
    r = gate.review(TINY, write(tmp_path / "grown", changed(tiny, grow)))
    flagged = [i for i in r.items["storage"] if i.status == s.REGRESSION]
    assert [i.what for i in flagged] == ["hardened documents: index"]
    assert flagged[0].change == pytest.approx(0.5, abs=0.001) and "exact bytes" in flagged[0].noise
    assert r.failed and "**Storage**: 1 regression: hardened documents: index" in gate.markdown(r)


def test_an_attack_that_now_succeeds_is_a_security_regression(tiny, tmp_path):
    def breach(results):
        finding = next(f for f in results["security"]["findings"]
                       if f["variant"] == "hardened" and f["attack"] == "cross_tenant_read.projects")
        finding.update(succeeded=True, evidence="owner of org A read 3 of 3 rows of org B")
    r = gate.review(TINY, write(tmp_path / "breached", changed(tiny, breach)))
    (item,) = r.items["security"]
    assert (item.what, item.status, item.old, item.new) == (
        "hardened: cross_tenant_read.projects succeeds", s.REGRESSION, 0, 1)
    assert item.noise == "owner of org A read 3 of 3 rows of org B" and r.failed
    fixed = gate.review(write(tmp_path / "breached2", changed(tiny, breach)), TINY)
    assert [i.status for i in fixed.items["security"]] == [s.IMPROVEMENT] and not fixed.failed


def test_a_recall_measured_once_is_changed_not_gated(tiny, tmp_path):
    def lower(results):
        sweep = next(x for x in results["vector"]["sweeps"] if x["config"] == "hnsw_m16_efc64")
        sweep["recall"] *= 0.5
    r = gate.review(TINY, write(tmp_path / "recall", changed(tiny, lower)))
    (item,) = [i for i in r.items["vector"] if "recall@" in i.what and i.status != s.NOTED]
    assert item.status == s.CHANGED and "no noise estimate" in item.noise
    assert not r.failed  # one index build per run: said, never gated
    assert "⚠️ changed" in gate.markdown(r)


def test_a_target_recall_no_longer_reached_is_a_regression(tiny, tmp_path):
    def unreachable(results):
        m = next(x for x in results["vector"]["matched"] if x["reached"] and x["config"] == "hnsw_m16_efc64")
        m.update(reached=False, setting=None, p50_ms=None)
    r = gate.review(TINY, write(tmp_path / "unreached", changed(tiny, unreachable)))
    flagged = [i for i in r.items["vector"] if i.status == s.REGRESSION]
    assert len(flagged) == 1 and flagged[0].what.startswith("hnsw_m16_efc64 at recall") and r.failed


def with_builds(results: dict, spread: tuple[float, ...], factor: float = 1.0) -> dict:
    """A copy whose hnsw_m16_efc64 has one build per entry of `spread` (its p50 times that,
    times `factor`), as `bench run vector --builds N` records them: build 1 under the
    configuration's name, build k as NAME_bK."""
    out = copy.deepcopy(results)
    vector = out["vector"]
    rows = [(m, m["p50_ms"]) for m in vector["matched"] if m["config"] == "hnsw_m16_efc64"]
    for m, p50 in rows:
        m["p50_ms"] = p50 * spread[0] * factor
        vector["matched"] += [{**m, "config": f"hnsw_m16_efc64_b{k}", "p50_ms": p50 * scale * factor}
                              for k, scale in enumerate(spread[1:], start=2)]
    vector["builds"] = {"per_index": len(spread), "replicated": ["hnsw_m16_efc64"]}
    return out


def p50_item(result, config="hnsw_m16_efc64"):
    (item,) = [i for i in result.items["vector"] if i.what.startswith(f"{config} at recall 0.95") and ": p50" in i.what]
    return item


def test_vector_latency_at_matched_recall_is_tested_over_the_index_builds(tiny, tmp_path):
    """Builds are the replicates (2 a side, as make bench runs): two runs whose builds
    spread +-10% are not told apart by a 30% drift of every build (a slower machine; it
    is undecidable, not a regression), and a 3x slowdown of every build is a regression.
    The rounds of one build, which do not cover a rebuild, are not the test."""
    before = write(tmp_path / "before", with_builds(tiny, (0.9, 1.1)))
    same = gate.review(before, write(tmp_path / "same", with_builds(tiny, (1.1, 0.9))))
    item = p50_item(same)
    assert item.p is not None and "over 2 → 2 index builds" in item.noise and "Welch" in item.noise
    assert item.status == s.UNDECIDABLE and item.detectable > 0.1 and not same.failed
    drift = gate.review(before, write(tmp_path / "drift", with_builds(tiny, (1.1, 0.9), factor=1.3)))
    assert p50_item(drift).status == s.UNDECIDABLE and not drift.failed
    tight = write(tmp_path / "tight", with_builds(tiny, (0.95, 1.05)))
    slower = gate.review(tight, write(tmp_path / "slower", with_builds(tiny, (1.05, 0.95), factor=3.0)))
    assert p50_item(slower).status == s.REGRESSION and slower.failed
    assert p50_item(slower).change == pytest.approx(2.0, abs=0.01)


def test_vector_latency_of_one_build_a_side_is_said_not_gated(tiny, tmp_path):
    def slower(results):
        for m in results["vector"]["matched"]:
            if m["config"] == "hnsw_m16_efc64" and m.get("p50_ms"):
                m["p50_ms"] *= 3
    r = gate.review(TINY, write(tmp_path / "slower", changed(tiny, slower)))
    item = p50_item(r)
    assert item.status == s.CHANGED and item.p is None and "one index build on a side" in item.noise
    assert not r.failed


def test_the_json_holds_the_same_decisions(tiny, tmp_path):
    def grow(results):
        results["storage"]["totals"]["review"]["total_bytes"] *= 2
    new = write(tmp_path / "grown", changed(tiny, grow))
    result = CliRunner().invoke(compare_cmd, [str(TINY), str(new), "--json", str(tmp_path / "out" / "c.json"),
                                              "--markdown", str(tmp_path / "c.md"), "--fail-on-regression"])
    assert result.exit_code == 1, result.output
    data = json.loads((tmp_path / "out" / "c.json").read_text())
    assert data["gate"]["failed"] is True
    assert [f["what"] for f in data["gate"]["failures"]] == ["review: total"]
    assert {"verdicts", "latency", "vector", "load", "storage", "security", "seeding"} <= data.keys()
    assert data["latency"]["tested"] == 160 and len(data["verdicts"]) == 13
    assert (tmp_path / "c.md").read_text() == result.output


def test_more_buffers_per_request_is_a_work_regression(tiny, itself, tmp_path):
    """A dropped index shows in the buffers a request touches however noisy the timings:
    flagged beyond +50% and +32 buffers per call; smaller moves (as between re-runs of one
    commit) and write scenarios (rolled back, their dead rows add work) are not."""
    def edit(results):
        cells = {(c["scenario"], c["variant"]): c for c in results["latency"]["results"]}
        for key, factor in ((("documents_by_kb", "hardened"), 10), (("my_projects", "hardened"), 1.3),
                            (("archive_capability", "hardened"), 10)):
            cells[key]["pg_stat_statements"]["shared_blks_hit"] *= factor
    r = gate.review(TINY, write(tmp_path / "work", changed(tiny, edit)))
    flagged = [i for i in r.items["work"] if i.status == s.REGRESSION]
    assert [i.what for i in flagged] == ["documents_by_kb on hardened: buffers per request"]
    assert "a count, not a timing" in flagged[0].noise and r.failed
    assert not any(i.what.startswith("archive_capability") for i in r.items["work"])  # a write scenario
    assert len(itself.items["work"]) >= 25 and {i.status for i in itself.items["work"]} == {s.UNCHANGED}


def test_repeated_runs_of_one_commit_pool_their_rounds(tiny):
    """scripts/pr-compare.sh pools each side's A B A B invocations: rounds concatenated, the
    second invocation's runs numbered after the first's, the HDR histograms added (the same
    run twice: the same percentiles, twice the requests); everything else is the last run's."""
    from bench.report.merge import merge

    first = copy.deepcopy(tiny)
    first["latency"]["results"] = first["latency"]["results"][:6]  # 6 cells: adding HDR histograms is slow
    second = {**copy.deepcopy(first), "run_id": "second"}
    merged = merge([first, second])
    assert merged["run_id"] == f"{tiny['run_id']}+second" and merged["merged"]["single_from"] == "second"
    assert merged["latency"]["config"]["rounds"] == 10 and merged["latency"]["config"]["runs"] == 6
    assert len(merged["latency"]["results"]) == 6
    for before, after in zip(first["latency"]["results"], merged["latency"]["results"]):
        if not before.get("round_medians_ms"):
            continue
        assert after["round_medians_ms"] == before["round_medians_ms"] * 2
        assert after["round_runs"] == before["round_runs"] + [r + 3 for r in before["round_runs"]]
        assert len(after["round_hdr"]) == 2 * len(before["round_hdr"])
        assert after["latency"]["count"] == 2 * before["latency"]["count"]
        assert after["latency"]["p50_ms"] == before["latency"]["p50_ms"]
    assert merge([first]) is first


def test_seeding_throughput_is_compared_when_both_runs_record_it_and_never_gated(tiny, tmp_path):
    def seeded(rate):
        def edit(results):
            results["seed"] = {"scale": "tiny", "rows_loaded": 60_000, "load_seconds": 60_000 / rate,
                               "rows_per_s": rate, "kept_from_earlier": False}
        return edit
    old = write(tmp_path / "old", changed(tiny, seeded(40_000.0)))
    half = gate.review(old, write(tmp_path / "half", changed(tiny, seeded(20_000.0))))
    (item,) = half.items["seeding"]
    assert item.change == pytest.approx(-0.5) and item.status == s.CHANGED  # one seed per run: said, not gated
    assert not half.failed
    same = gate.review(old, write(tmp_path / "same", changed(tiny, seeded(40_000.0))))
    assert [i.status for i in same.items["seeding"]] == [s.NOTED]
    kept = gate.review(old, write(tmp_path / "kept", changed(tiny, lambda r: r.update(
        seed={"scale": "tiny", "rows_loaded": 0, "rows_per_s": None, "kept_from_earlier": True}))))
    assert kept.items["seeding"] == [] and kept.notes["seeding"].startswith("not recorded")


def _refreshes(scale: float, concurrent_ok: bool = True) -> dict:
    rng = np.random.default_rng(7)
    times = [float(t) for t in 8.7 * scale * np.exp(rng.normal(0, 0.03, 7))]
    timed = {"ok": True, "count": 7, "times_ms": times, "median_ms": float(np.median(times))}
    refused = {"ok": False, "error": "cannot refresh materialized view concurrently", "known": "no unique index"}
    return {"config": {"repeats": 7}, "staleness": "", "verdicts": [], "refreshes": [
        {"variant": "hardened", "view": "mv_capability_stats", "mode": "plain", "rows": 50, **timed},
        {"variant": "hardened", "view": "mv_capability_stats", "mode": "concurrently", "rows": 50,
         **(timed if concurrent_ok else refused)}]}


def test_a_refused_view_refresh_is_a_regression_a_slower_one_is_said_and_the_same_one_is_unchanged(tiny, tmp_path):
    """A refresh's repeats ran in one run: a rerun of the same commit drifted beyond them
    (+16%), so a slower refresh is said (changed), not gated; a refused one is gated."""
    old = write(tmp_path / "old", changed(tiny, lambda r: r.update(maintenance=_refreshes(1.0))))
    same = gate.review(old, write(tmp_path / "same", changed(tiny, lambda r: r.update(maintenance=_refreshes(1.0)))))
    assert [i.status for i in same.items["maintenance"]] == [s.UNCHANGED, s.UNCHANGED]
    slower = gate.review(old, write(tmp_path / "slow", changed(tiny, lambda r: r.update(
        maintenance=_refreshes(1.3)))))
    assert [i.status for i in slower.items["maintenance"]] == [s.CHANGED, s.CHANGED] and not slower.failed
    assert all("covers one run only" in i.noise for i in slower.items["maintenance"])
    refused = gate.review(old, write(tmp_path / "refused", changed(tiny, lambda r: r.update(
        maintenance=_refreshes(1.0, concurrent_ok=False)))))
    statuses = {i.what: i.status for i in refused.items["maintenance"]}
    assert statuses == {"hardened: refresh mv_capability_stats plain: median": s.UNCHANGED,
                        "hardened: refresh mv_capability_stats concurrently works": s.REGRESSION}
    assert "View maintenance" in gate.markdown(refused)


def _sweep(scale: float) -> dict:
    rng = np.random.default_rng(11)
    windows = [{"variant": v, "n": n, "x_rps": float(base * n ** 0.8 * scale * np.exp(rng.normal(0, 0.03)))}
               for v, base in (("baseline", 40.0), ("hardened", 160.0)) for n in (1, 2, 4, 8) for _ in range(3)]
    return {"config": {}, "levels": [], "models": [], "windows": windows, "verdicts": []}


def test_lower_throughput_in_the_sweep_is_a_regression_per_variant_and_level(tiny, tmp_path):
    old = write(tmp_path / "old", changed(tiny, lambda r: r.update(throughput=_sweep(1.0))))
    same = gate.review(old, write(tmp_path / "same", changed(tiny, lambda r: r.update(throughput=_sweep(1.0)))))
    # 3 windows of 3% noise detect about 10%: a figure may be undecidable, never a change
    assert len(same.items["throughput"]) == 8 and {i.status for i in same.items["throughput"]} <= {
        s.UNCHANGED, s.UNDECIDABLE}
    slower = gate.review(old, write(tmp_path / "slow", changed(tiny, lambda r: r.update(throughput=_sweep(0.7)))))
    assert {i.status for i in slower.items["throughput"]} == {s.REGRESSION}
    assert all(i.change == pytest.approx(-0.3) for i in slower.items["throughput"])


def test_sections_in_neither_run_stay_out_of_the_headline(itself):
    lines = gate.headline(itself)
    assert not any(line.startswith(("- **Throughput**", "- **View maintenance**")) for line in lines), lines
    assert any(line.startswith("- **Storage**") for line in lines)


def test_a_load_step_p95_beyond_its_interval_is_said_and_a_capacity_drop_is_gated(tiny, tmp_path):
    """A step's p95 interval covers the requests of one window; reruns of one commit moved a
    step's p95 beyond it (6.2 -> 12.3 ms at 20 users), so the step is said (changed), not
    gated. The capacity is: a step that held before and is now breached reliably."""
    def bounded(results):  # the fixture's steps had too few requests for an upper bound
        for step in results["load"]["steps"]:
            step["p95_interval"]["high_ms"] = step["p95_interval"]["high_ms"] or step["p95_ms"] * 1.1

    def slower_steps(results):
        for step in results["load"]["steps"]:
            interval = step["p95_interval"]
            step["p95_ms"] *= 3
            interval.update(low_ms=interval["low_ms"] * 3, high_ms=interval["high_ms"] * 3)
    old = write(tmp_path / "old", changed(tiny, bounded))
    r = gate.review(old, write(tmp_path / "slower", changed(changed(tiny, bounded), slower_steps)))
    steps_ = [i for i in r.items["load"] if ": p95" in i.what]
    assert steps_ and {i.status for i in steps_} == {s.CHANGED} and not r.failed
    assert all("covers one run only" in i.noise for i in steps_)

    def held(users, crossing):
        def edit(results):
            for cap in results["load"]["capacity"].values():
                cap.update(users=users, first_breach=None if users == 4 else 4, breach_reliable=users != 4,
                           undecided=[], at_least=users == 4, slo_crossing=crossing)
        return edit
    before, after = {"estimate": 4.0, "low": 4.0, "high": None}, {"estimate": 1.0, "low": 0.9, "high": 1.1}
    dropped = gate.review(write(tmp_path / "held", changed(tiny, held(4, before))),
                          write(tmp_path / "dropped", changed(tiny, held(2, after))))
    capacity = [i for i in dropped.items["load"] if ": capacity" in i.what]
    assert capacity and {i.status for i in capacity} == {s.REGRESSION} and dropped.failed


def test_a_capacity_is_compared_at_the_slo_crossing_not_at_the_grid_step(tiny, tmp_path):
    """Real figures of two make bench runs of one commit (2026-12-03): review held 200 users
    and then 100 (breached at 200), its p95 crossing the SLO at 208 and 190 users. The grid
    flip is not a regression; a halving is undecidable at the spread between runs, and says
    what it could detect; a drop to a fifth is a regression."""
    def capacity(users, breach, crossing):
        def edit(results):
            for cap in results["load"]["capacity"].values():
                cap.update(users=users, first_breach=breach, breach_reliable=True, undecided=[], at_least=False,
                           slo_crossing=dict(zip(("estimate", "low", "high"), crossing)))
        return edit
    old = write(tmp_path / "old", changed(tiny, capacity(200, 500, (208.1, 200.3, 217.5))))

    def compared(name, users, breach, crossing):
        review = gate.review(old, write(tmp_path / name, changed(tiny, capacity(users, breach, crossing))))
        items = [i for i in review.items["load"] if ": capacity" in i.what]
        assert items
        return review, items
    flip, items = compared("flip", 100, 200, (190.0, 182.0, 197.0))
    assert {i.status for i in items} == {s.UNDECIDABLE} and not flip.failed
    assert all(i.change == pytest.approx(190 / 208.1 - 1) and "190 [182, 197]" in i.noise for i in items)
    halved, items = compared("halved", 50, 200, (104.0, 100.0, 110.0))
    assert {i.status for i in items} == {s.UNDECIDABLE} and not halved.failed
    assert all(0.5 < i.detectable < 0.8 for i in items)  # x/2.75 each way: only a larger drop is decided
    fifth, items = compared("fifth", 20, 50, (42.0, 38.0, 45.0))
    assert {i.status for i in items} == {s.REGRESSION} and fifth.failed

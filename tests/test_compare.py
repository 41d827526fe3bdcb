"""`bench compare` on the golden results of a real `small` run (5 rounds of 60 requests)
and on synthetic rounds: identical runs flag nothing; a 30% slowdown is flagged or said
to be undecidable, never passed as "no change"; Holm keeps false flags at 5% on the
golden run's own noise; the MDE is the change detected with 80% power; a speed-up is not
a regression; runs that measured something else are refused (exit 2) unless forced. The
same checks on real tiny runs are in test_report.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats as st

from bench import cli
from bench.cli.report import compare_cmd
from bench.core.errors import BenchError, UsageError
from bench.report import compare
from bench.report.compare import (
    IMPROVEMENT,
    POWER,
    REGRESSION,
    UNDECIDABLE,
    LogTest,
    common_shift,
    detectable_log_ratio,
    holm,
    judge,
    shift_text,
    welch,
)
from bench.report.compare import markdown as compare_markdown
from tests.report_support import GOLDEN, scale_cell, write


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


def row(markdown: str, scenario: str, variant: str) -> str:
    (line,) = [x for x in markdown.splitlines() if x.startswith(f"| {scenario} | {variant} |")]
    return line


def test_identical_runs_flag_nothing(golden, tmp_path):
    comparison = judge(GOLDEN, write(tmp_path / "copy", golden))
    assert comparison.regressions() == []
    assert not comparison.figures(REGRESSION) and not comparison.figures(IMPROVEMENT)
    markdown = compare_markdown(comparison)
    assert "**0 regressions · 0 improvements · " in markdown
    assert "| my_projects | hardened |" in markdown and "MDE" in markdown


STEADY = ("insert_capability", "hardened")  # its 5 round medians lie within 12% of each other
NOISY = ("archive_capability", "hardened")  # one round took twice as long as the others


def test_a_30_percent_slowdown_of_every_cell_is_never_passed_as_unchanged(golden, tmp_path):
    """The issue's failure: 16 of 41 cells of a uniformly 30% slower run were 'within noise'."""
    comparison = judge(GOLDEN, write(tmp_path / "slower", scale_cell(golden, None, None, 1.3)))
    figures = comparison.figures()
    assert len(figures) == 4 * 40  # every measured cell (update_project on review fails every request)
    assert {f.status for f in figures} <= {REGRESSION, UNDECIDABLE}
    for figure in comparison.figures(UNDECIDABLE):  # undecidable only where 30% was beyond its reach
        assert figure.test is None or figure.detectable > 0.3 * (1 / 1.3 if figure.metric.higher_is_better else 1)
    for figure in comparison.figures(REGRESSION):
        assert figure.tested_change == pytest.approx(-0.3 / 1.3 if figure.metric.higher_is_better else 0.3, abs=1e-3)
    flagged = {(c.scenario, c.variant) for c in comparison.changes if c.regressions}
    assert STEADY in flagged and NOISY not in flagged
    markdown = compare_markdown(comparison)
    regressions, undecidable = len(comparison.figures(REGRESSION)), len(comparison.figures(UNDECIDABLE))
    assert f"**{regressions} regressions · 0 improvements · {undecidable} undecidable · 0 unchanged**" in markdown
    assert "within noise" not in markdown


def with_probe(results: dict, cpu_ms: float) -> dict:
    machine = {**results["environment"]["machine"], "speed_probe": {"cpu_ms": cpu_ms, "memory_ms": 20.0, "repeats": 5}}
    return {**results, "environment": {**results["environment"], "machine": machine}}


def test_a_shift_shared_by_every_figure_is_named_with_the_figures_worse_than_it(golden, tmp_path):
    """Consecutive runs of one commit moved every figure by -17% or +23% (the machine's
    state): said as one shift, and what is worse beyond it is named; the speed probe says
    whose it was."""
    drifted = scale_cell(scale_cell(golden, None, None, 1.25), *STEADY, 1.5)
    comparison = judge(GOLDEN, write(tmp_path / "drifted", drifted))
    shift = common_shift(comparison)
    assert shift.change == pytest.approx(0.25, abs=1e-3) and shift.same_way > 0.9 * shift.tested
    assert [(x.scenario, x.variant, f.metric.key) for x, f, _ in shift.beyond] == [(*STEADY, "p50_ms"),
                                                                                 (*STEADY, "throughput_rps")]
    text = shift_text(shift, comparison.threshold)
    assert text.startswith("**Every figure moved together**: median +25% (") and "No speed probe" in text
    assert "insert_capability on hardened (p50 +50%)" in text
    for probe, says in ((31.25, "the machine's speed changed between the runs"),
                        (25.5, "it may still be the machine's")):
        pair = judge(write(tmp_path / "old", with_probe(golden, 25.0)),
                     write(tmp_path / f"new{probe}", with_probe(drifted, probe)))
        assert says in shift_text(common_shift(pair), pair.threshold)
    assert common_shift(judge(GOLDEN, write(tmp_path / "same", golden))) is None
    other_python = {**golden, "environment": {**golden["environment"],
                                              "machine": {**golden["environment"]["machine"], "python": "3.99.0"}}}
    notes = compare_markdown(judge(GOLDEN, write(tmp_path / "python", other_python)))
    assert f"Python: {golden['environment']['machine']['python']} → 3.99.0" in notes  # the probe's loop depends on it
    one_cell = judge(GOLDEN, write(tmp_path / "one", scale_cell(golden, *STEADY, 1.5)))
    assert common_shift(one_cell) is None and "moved together" not in compare_markdown(one_cell)


def test_a_30_percent_slowdown_of_one_cell_is_flagged(golden, tmp_path):
    slower = write(tmp_path / "slower", scale_cell(golden, *STEADY, 1.3))
    markdown, regressions = compare(GOLDEN, slower)
    assert [(r["scenario"], r["variant"]) for r in regressions] == [STEADY]
    assert regressions[0]["what"] == ["p50 +30%", "req/s -23%"]
    assert regressions[0]["figures"]["p95_ms"]["status"] == UNDECIDABLE  # the golden run has no per-round p95
    assert "🔴 **regression**" in row(markdown, *STEADY) and "❔ untested: p95, p99" in row(markdown, *STEADY)
    gate = CliRunner().invoke(compare_cmd, [str(GOLDEN), str(slower), "--fail-on-regression"])
    assert gate.exit_code == 1 and "🔴 **regression**" in gate.output
    assert CliRunner().invoke(compare_cmd, [str(GOLDEN), str(slower)]).exit_code == 0  # reports, does not gate


def test_the_threshold_decides_how_large_a_slowdown_counts(golden, tmp_path):
    slower = write(tmp_path / "slower", scale_cell(golden, *STEADY, 1.25))
    assert compare(GOLDEN, slower, threshold=0.30)[1] == []
    assert len(compare(GOLDEN, slower, threshold=0.20)[1]) == 1
    lenient = CliRunner().invoke(compare_cmd, [str(GOLDEN), str(slower), "--threshold", "0.3", "--fail-on-regression"])
    assert lenient.exit_code == 0, lenient.output


def test_a_slowdown_the_rounds_cannot_resolve_is_undecidable_not_unchanged(golden, tmp_path):
    """Rounds that disagree by 2x cannot show a 30% shift: said so, with what they could show."""
    markdown, regressions = compare(GOLDEN, write(tmp_path / "slower", scale_cell(golden, *NOISY, 1.3)))
    assert regressions == []
    line = row(markdown, *NOISY)
    detectable = float(line.split("p50 +30% (could detect ≥ ")[1].split("%")[0])
    assert detectable > 30 and "❔ undecidable" in line


def test_a_speedup_is_not_a_regression(golden, tmp_path):
    faster = write(tmp_path / "faster", scale_cell(golden, "monthly_activity", "baseline", 0.6))
    markdown, regressions = compare(GOLDEN, faster)
    assert regressions == [] and "🟢 improvement: p50 -40%" in row(markdown, "monthly_activity", "baseline")
    _, backwards = compare(faster, GOLDEN)  # and the other way round it is one
    assert [(r["scenario"], r["variant"]) for r in backwards] == [("monthly_activity", "baseline")]


def test_new_failures_are_a_regression(golden, tmp_path):
    broken = json.loads(json.dumps(golden))
    (cell,) = [c for c in broken["latency"]["results"] if c["scenario"] == "my_projects" and c["variant"] == "review"]
    cell["errors"] = 7
    _, regressions = compare(GOLDEN, write(tmp_path / "broken", broken))
    assert regressions and regressions[0]["what"][0] == "7 failed requests (none before)"


DIFFERENT = [("dataset", "scale", "tiny", "scale small vs tiny"), ("dataset", "seed", 2, "seed 1 vs 2"),
             ("dataset", "dim", 1536, "dim 384 vs 1536"), ("dataset", "generator", 3, "generator version unknown vs 3"),
             ("dataset", "difficulty", 1.5, "difficulty 0.5 vs 1.5"), ("config", "mode", "open", "mode closed vs open"),
             ("config", "concurrency", 8, "concurrency 4 vs 8")]


@pytest.mark.parametrize("section, key, value, said", DIFFERENT, ids=[d[1] for d in DIFFERENT])
def test_runs_that_measured_something_else_are_refused_unless_forced(golden, tmp_path, capsys, section, key, value,
                                                                     said):
    other = json.loads(json.dumps(golden))
    (other["dataset"] if section == "dataset" else other["latency"]["config"])[key] = value
    path = write(tmp_path / "other", other)
    with pytest.raises(UsageError) as error:
        compare(GOLDEN, path)
    assert said in str(error.value) and "--force" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(SystemExit) as done:
        cli.main(["compare", str(GOLDEN), str(path)])
    assert done.value.code == 2
    printed = capsys.readouterr().err.strip()
    assert printed.startswith("bench: error: runs differ in") and said in printed and "\n" not in printed
    forced = CliRunner().invoke(compare_cmd, [str(GOLDEN), str(path), "--force"])
    assert forced.exit_code == 0, forced.output
    assert f"compared despite different {said}" in forced.output


def test_other_row_counts_are_refused(golden, tmp_path):
    other = json.loads(json.dumps(golden))
    other["dataset"]["counts"]["documents"] = 5000
    with pytest.raises(UsageError, match=r"row counts \(documents 100000 vs 5000\)"):
        compare(GOLDEN, write(tmp_path / "other", other))


def test_another_schema_version_is_refused(golden, tmp_path):
    """Not a usage mistake: a file of another format cannot be read at all (exit 1, no --force)."""
    other = dict(golden, schema_version=2)
    with pytest.raises(BenchError, match="schema_version 2"):
        compare(GOLDEN, write(tmp_path / "v2", other))


def test_environment_changes_are_noted(golden, tmp_path):
    other = json.loads(json.dumps(golden))
    other["environment"]["server"]["server"] = "17.2"
    other["latency"]["config"]["rounds"] = 9
    markdown, _ = compare(GOLDEN, write(tmp_path / "other", other))
    assert "PostgreSQL: 18.6 → 17.2" in markdown and "rounds 5 → 9" in markdown


# ---- the statistics ---------------------------------------------------------------------------------
def test_welch():
    assert welch([1.0], [2.0]) is None  # one round: no spread, no test, never flagged
    same = welch([1.0, 1.2, 0.9], [1.0, 1.2, 0.9])
    assert same.ratio == pytest.approx(1.0) and same.p == pytest.approx(1.0)
    shifted = welch([1.0, 1.02, 0.98, 1.01], [1.3, 1.33, 1.27, 1.31])
    assert shifted.ratio == pytest.approx(1.3, rel=1e-3) and shifted.p < 1e-5
    assert welch([1.0, 2.0], [1.3, 2.6]).p > 0.5  # rounds 2x apart: a 30% shift is within their spread
    assert welch([2.0, 2.0], [2.6, 2.6]).p == 0.0  # no spread: the difference is exact


def test_holm_rejects_step_down():
    assert holm([0.01, 0.02, 0.04]).tolist() == [True, True, True]  # Bonferroni (0.0167 each) keeps only the first
    assert holm([0.01, 0.04, 0.03, 0.005]).tolist() == [True, False, False, True]
    assert holm([0.2, 0.5]).tolist() == [False, False]


@pytest.mark.parametrize("sd, rounds, alpha", [(0.1, 5, 0.05 / 80), (0.3, 5, 0.05), (0.05, 10, 0.05 / 160)])
def test_the_mde_is_the_change_welch_detects_with_80_percent_power(sd, rounds, alpha):
    """Fresh simulated pairs of runs, each `rounds` rounds with log-spread `sd`, shifted by the
    MDE: Welch's test flags the slowdown in 80% of them (the noncentral t with the observed
    df would give 67% for the first case)."""
    mde = detectable_log_ratio(LogTest(0.0, 1.0, (sd, sd), (rounds, rounds)), alpha)
    rng = np.random.default_rng(12345)
    draws = 20_000
    old = rng.normal(0, sd, (draws, rounds))
    new = rng.normal(mde, sd, (draws, rounds))
    result = st.ttest_ind(new, old, axis=1, equal_var=False)
    detected = np.mean((result.pvalue <= alpha) & (result.statistic > 0))
    assert detected == pytest.approx(POWER, abs=0.015)  # binomial sd 0.003 for each of the two simulations


def test_holm_keeps_false_flags_at_5_percent_on_the_golden_runs_noise(golden):
    """1,000 synthetic re-runs of the golden run (its tested figures, each with its own log
    spread, no change): at most 5% of the pairs flag any regression (Holm's promise), where
    uncorrected 5% tests flag most of them."""
    tested = [f for f in judge(GOLDEN, GOLDEN).figures() if f.test is not None]
    assert len(tested) == 80
    spreads = np.array([f.test.spread[0] for f in tested])[:, None]
    throughput = np.array([f.metric.higher_is_better for f in tested])
    rng = np.random.default_rng(2026)
    pairs, rounds = 1000, 5
    old = rng.normal(0, 1, (pairs, len(tested), rounds)) * spreads
    new = rng.normal(0, 1, (pairs, len(tested), rounds)) * spreads
    result = st.ttest_ind(new, old, axis=2, equal_var=False)
    log_ratio = new.mean(axis=2) - old.mean(axis=2)
    worse = np.where(throughput, 1 - np.exp(-log_ratio), np.exp(log_ratio) - 1)  # as Figure.worsening
    beyond = (worse > 0.10) | (-worse > 0.10)  # a regression or an improvement: either is a false flag
    corrected = sum(bool(np.any(holm(p) & b)) for p, b in zip(result.pvalue, beyond))
    uncorrected = int(np.sum(np.any((result.pvalue <= 0.05) & beyond, axis=1)))
    assert corrected <= st.binom.ppf(0.999, pairs, 0.05), corrected
    assert uncorrected > pairs / 2, uncorrected  # the check can fail: without Holm it would

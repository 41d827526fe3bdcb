"""`bench report` and `bench compare` on results of real tiny runs (measured on a copy of
the session's seeded tiny dataset on a throwaway PostgreSQL), and on the golden results
of a real `small` run: every chart is a valid PNG of its declared size, the page embeds
them and nothing else, summary.md holds the verdicts, bad files get one-line errors;
compare decides every figure of a re-run and never passes an injected 30% slowdown as
unchanged. The vector and load sections are rendered from a real run in
test_report_fixture.py."""

from __future__ import annotations

import base64
import html
import json
import re

import pytest
from click.testing import CliRunner

from bench import cli
from bench.cli.report import compare_cmd, report_cmd
from bench.core import crypto as secrets
from bench.core.errors import BenchError
from bench.judge import results
from bench.report import compare, registry, render
from bench.report import data as report_data
from bench.report.compare import IMPROVEMENT, REGRESSION, UNCHANGED, UNDECIDABLE, judge
from bench.report.compare import markdown as compare_markdown
from scenarios import all_scenarios
from tests.conftest import TEST_KEY, clone, drop
from tests.report_support import GOLDEN, golden_run, png_size, scale_cell, write

ROUNDS = "5"  # 5 rounds of 6 requests: ~4 s a run, as many rounds as `make bench` takes


class TinyRuns:
    """Real tiny runs on one seeded database, made on demand (run dirs, oldest first)."""

    def __init__(self, dsn: str, out):
        self.dsn, self.out = dsn, out

    def latency(self):
        with pytest.raises(SystemExit) as done:
            cli.main(["--dsn", self.dsn, "run", "latency", "--rounds", ROUNDS, "--requests", "6", "--warmup", "2",
                      "--out", str(self.out)])
        assert done.value.code == 0
        return max(self.out.iterdir())  # run ids sort by time

    def security(self, run_dir):
        with pytest.raises(SystemExit) as done:
            cli.main(["--dsn", self.dsn, "run", "security", "--run-dir", str(run_dir)])
        assert done.value.code == 0


@pytest.fixture(scope="module")
def runner(pg_server, tiny_template, tmp_path_factory):
    """A copy of the session's seeded tiny dataset (cloned in about a second, not seeded again)."""
    name = clone(pg_server, tiny_template)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(secrets.KEY_ENV, TEST_KEY)  # the key the template was seeded with
        secrets.key.cache_clear()
        try:
            yield TinyRuns(pg_server.dsn(name), tmp_path_factory.mktemp("runs"))
        finally:
            secrets.key.cache_clear()
    drop(pg_server, name)


@pytest.fixture(scope="module")
def tiny_runs(runner):
    """Two real tiny runs back to back: the first with latency, storage and security
    sections, the second a latency re-run of the same data."""
    first = runner.latency()
    second = runner.latency()
    runner.security(first)
    return first, second


@pytest.fixture(scope="module")
def rendered(tiny_runs):
    first, _ = tiny_runs
    return first, render(first)


# ---- rendering a real run ------------------------------------------------------------------
def test_every_chart_is_a_png_of_its_declared_size(rendered):
    run_dir, paths = rendered
    data, _ = report_data.load(run_dir)
    expected = {c.name: c for c in registry.charts() if c.wanted(data)}
    assert set(expected) >= {"verdicts", "latency_by_scenario", "percentile_spectra", "storage", "security"}
    assert not {"vector_pareto", "load_curves"} & set(expected)  # the run has no such sections: nothing drawn
    charts = {p.stem: p for n, p in paths.items() if n.startswith("charts/")}
    assert set(charts) == set(expected)
    for name, path in charts.items():
        assert path.parent == run_dir / "charts"
        assert png_size(path.read_bytes()) == expected[name].pixels(data), name


def test_html_embeds_every_chart_and_nothing_external(rendered):
    run_dir, paths = rendered
    page = paths["report.html"].read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    chart_files = sorted(p for n, p in paths.items() if n.startswith("charts/"))
    assert len(images) == len(chart_files)
    embedded = sorted(base64.b64decode(src.split(",", 1)[1]) for src in images)
    assert embedded == sorted(p.read_bytes() for p in chart_files)  # the very files, as data URIs
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert_self_contained(page)
    data, _ = report_data.load(run_dir)
    assert page.index('id="verdicts"') < page.index("<img")  # verdicts before any chart
    for verdict in data["verdicts"]:
        assert html.escape(verdict["claim_text"]) in page
    assert "<details" in page and "&quot;Node Type&quot;" in page  # plans (EXPLAIN JSON), folded away
    assert data["run_id"] in page and "PostgreSQL" in page


def assert_self_contained(page: str) -> None:
    assert not re.search(r'\b(?:src|href|action|poster|data)\s*=\s*"(?!data:|#)', page, re.I), "external reference"
    assert not re.search(r"url\(\s*['\"]?(?!data:)", page, re.I)
    assert not re.search(r"<(?:link|script|iframe|object|embed)\b|@import", page, re.I)


def test_summary_is_a_markdown_verdict_table(rendered):
    run_dir, paths = rendered
    summary = paths["summary.md"].read_text()
    data, _ = report_data.load(run_dir)
    assert "| claim | variant | verdict | measured (95% interval) |" in summary
    for verdict in data["verdicts"]:
        assert f"| {verdict['variant']} |" in summary
    assert "40-60% faster vector search" in summary and "not measured" in summary  # no vector run: said so
    assert "| similar_documents |" in summary and "Attacks that succeed" in summary
    # a PR comment, not a report: one row per scenario, and a bounded rest (verdicts, read/write balance, key figures)
    scenario_rows = [line for line in summary.splitlines() if any(line.startswith(f"| {name} |")
                                                                  for name in all_scenarios())]
    assert len(summary.splitlines()) - len(scenario_rows) < 50


def test_report_command_prints_the_paths_and_rerenders_alike(tmp_path):
    run_dir = golden_run(tmp_path / "run")
    before = (run_dir / "results.json").read_bytes()
    result = CliRunner().invoke(report_cmd, [str(run_dir)])
    assert result.exit_code == 0, result.output
    printed = dict(line.split(": ", 1) for line in result.output.splitlines())
    assert printed["report.html"] == str(run_dir / "report.html")
    assert printed["summary.md"] == str(run_dir / "summary.md")
    assert all((run_dir / name).is_file() for name in printed)
    first = (run_dir / "summary.md").read_text()
    assert render(run_dir)["summary.md"].read_text() == first  # re-renderable later, from results.json alone
    assert (run_dir / "results.json").read_bytes() == before  # never edited by the report


def test_a_run_renders_what_it_has(tmp_path):
    data = json.loads(GOLDEN.read_text())
    for section in ("latency", "storage"):
        data.pop(section)
    run_dir = write(tmp_path / "security_only", data).parent
    paths = render(run_dir)
    assert sorted(p.stem for n, p in paths.items() if n.startswith("charts/")) == ["security", "verdicts"]
    page = paths["report.html"].read_text()
    assert 'id="latency"' not in page and 'id="security"' in page


# ---- bad input: one line ---------------------------------------------------------------------
@pytest.mark.parametrize("content, message", [
    (None, "no results file"),
    ('{"schema_version": 1, "latency": {"resu', "is not valid JSON"),
    ("[1, 2]", "not a results file"),
    ('{"schema_version": 1, "latency": {"results": "oops"}}', "latency.results is missing or not a list"),
    ('{"schema_version": 1, "verdicts": [{"claim": "storage"}]}', "verdicts[0] lacks claim"),
    ('{"schema_version": 1, "latency": {"results": [{"scenario": "a", "variant": "b"}]}}', "latency is missing"),
])
def test_bad_results_get_a_one_line_error(tmp_path, content, message):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    if content is not None:
        (run_dir / "results.json").write_text(content)
    for call in (lambda: render(run_dir), lambda: compare(run_dir, GOLDEN)):
        with pytest.raises(BenchError) as error:
            call()
        assert message in str(error.value) and "\n" not in str(error.value)
    result = CliRunner().invoke(report_cmd, [str(run_dir)])
    assert result.exit_code != 0 and isinstance(result.exception, BenchError)
    assert not (run_dir / "report.html").exists()


# ---- compare on real runs ---------------------------------------------------------------------
# Live runs only check what holds whatever the machine's noise: a run equals itself, every cell
# is compared and decided, an injected slowdown is never passed as unchanged. The statistical
# promises (false flags at 5%, the MDE's power) are checked on stored data in test_compare.py.
def test_compare_a_run_with_itself_flags_nothing(tiny_runs):
    first, _ = tiny_runs
    markdown, regressions = compare(first, first / "results.json")
    assert regressions == []
    assert "**0 regressions · 0 improvements · " in markdown and "regression**:" not in markdown


def test_compare_a_rerun_decides_every_figure(tiny_runs):
    """Two real runs back to back: every measured cell is compared and each figure gets a
    decision and, when tested, the smallest change it could detect. Whether a re-run on a
    shared machine shows a real slowdown is not for a test to assume."""
    first, second = tiny_runs
    comparison = judge(first, second)
    measured = [c for c in comparison.changes if c.figures]
    assert len(measured) >= 30  # every measured scenario x variant
    figures = comparison.figures()
    assert {f.status for f in figures} <= {REGRESSION, IMPROVEMENT, UNDECIDABLE, UNCHANGED}
    assert all(f.detectable is not None and f.detectable >= 0 for f in figures if f.test is not None)
    assert all(f.missing for f in figures if f.test is None)
    counts = [len(comparison.figures(s)) for s in (REGRESSION, IMPROVEMENT, UNDECIDABLE, UNCHANGED)]
    counts[0] += sum(len(c.failures) for c in comparison.changes)  # new failed requests count as regressions
    assert ("**{} regressions · {} improvements · {} undecidable · {} unchanged**".format(*counts)
            in compare_markdown(comparison))


def test_compare_never_passes_an_injected_30_percent_slowdown_as_unchanged(tiny_runs, tmp_path):
    first, _ = tiny_runs
    slower = write(tmp_path / "slower", scale_cell(results.load(first), None, None, 1.3))
    comparison = judge(first, slower)
    assert comparison.figures() and {f.status for f in comparison.figures()} <= {REGRESSION, UNDECIDABLE}
    for figure in comparison.figures(REGRESSION):
        assert figure.change == pytest.approx(-0.3 / 1.3 if figure.metric.higher_is_better else 0.3, abs=0.01)
    regressions = comparison.regressions()
    gate = CliRunner().invoke(compare_cmd, [str(first), str(slower), "--fail-on-regression"])
    assert gate.exit_code == (1 if regressions else 0), gate.output
    lenient = CliRunner().invoke(compare_cmd, [str(first), str(slower), "--threshold", "0.5", "--fail-on-regression"])
    assert lenient.exit_code == 0, lenient.output  # 30% is no regression beyond 50%

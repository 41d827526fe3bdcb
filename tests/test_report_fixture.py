"""The report of a real run with every section: tests/fixtures/tiny_run/results.json, made
by the harness itself (scripts/make_report_fixture.py: seed tiny, then latency, storage,
security, vector and load into one run directory). Every chart of the sections present
renders at its declared size, report.html and summary.md show the vector and load figures,
and the fixture still has the layout the code writes and the charts read."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import pytest

from bench.judge import results
from bench.judge import text as txt
from bench.loadtest import locust
from bench.report import registry, render
from bench.report.summary import md_escape
from tests.report_support import png_size

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_run" / "results.json"
REMAKE = "out of date: run `.venv/bin/python scripts/make_report_fixture.py` and commit tests/fixtures/tiny_run"
SECTIONS = ("latency", "storage", "security", "vector", "load")
# What bench/report/charts_vector.py and charts_load.py read, per record.
VECTOR_READS = {"pareto": {"config", "setting", "recall", "clients", "throughput_rps", "front"},
                "indexes": {"name", "variant"},
                "comparisons": {"target", "config", "comparable"}}
COMPARED_READS = {"improvement", "improvement_bound", "verdict"}  # a comparable comparison
UNCOMPARED_READS = {"reason"}
LOAD_READS = {"steps", "capacity", "slo"}
LOAD_STEP_READS = {"variant", "users", "p95_ms", "rps", "judgement"}
CAPACITY_READS = {"users", "at_least", "first_breach"}


@pytest.fixture(scope="module")
def fixture_data() -> dict:
    return results.load(FIXTURE)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The report of a copy of the fixture (rendering never writes into tests/)."""
    run_dir = tmp_path_factory.mktemp("tiny_run")
    shutil.copy(FIXTURE, run_dir / "results.json")
    return results.load(run_dir), render(run_dir)


# ---- the fixture matches the code ------------------------------------------------------------
def test_fixture_is_a_whole_run_of_this_schema_version():
    import json

    raw = json.loads(FIXTURE.read_text())
    assert raw["schema_version"] == results.SCHEMA_VERSION, f"schema_version {raw['schema_version']}: {REMAKE}"
    missing = [s for s in SECTIONS if not raw.get(s)]
    assert not missing, f"no {', '.join(missing)} section: {REMAKE}"
    assert raw["dataset"]["scale"] == "tiny"


def missing_keys(records: list[dict], wanted: set[str]) -> set[str]:
    return set().union(*(wanted - r.keys() for r in records)) if records else wanted


def test_vector_section_holds_what_the_charts_read(fixture_data):
    section = fixture_data["vector"]
    for key, wanted in VECTOR_READS.items():
        assert section.get(key), f"vector.{key} is empty: {REMAKE}"
        lacking = missing_keys(section[key], wanted)
        assert not lacking, f"vector.{key} lacks {', '.join(sorted(lacking))}: {REMAKE}"
    compared = [c for c in section["comparisons"] if c["comparable"]]
    uncompared = [c for c in section["comparisons"] if not c["comparable"]]
    assert not (compared and missing_keys(compared, COMPARED_READS)), REMAKE
    assert not (uncompared and missing_keys(uncompared, UNCOMPARED_READS)), REMAKE


def test_load_section_holds_what_the_charts_read_as_build_section_writes_it(fixture_data):
    """The keys the load chart reads, in the fixture and in what build_section writes today
    (run again on the fixture's own runs): a renamed or dropped key fails here until the
    fixture is remade; keys added later do not matter."""
    section = fixture_data["load"]
    runs = [{**r, "steps": [s for s in section["steps"] if s["variant"] == r["variant"]]} for r in section["runs"]]
    for made, what in ((section, "the fixture"), (locust.build_section(runs, section["config"]), "build_section")):
        lacking = LOAD_READS - made.keys()
        assert not lacking, f"{what}'s load section lacks {', '.join(sorted(lacking))}: {REMAKE}"
        lacking = missing_keys(list(made["capacity"].values()), CAPACITY_READS)
        assert not lacking, f"{what}'s load capacity lacks {', '.join(sorted(lacking))}: {REMAKE}"
        assert "p95_ms" in made["slo"], REMAKE
    assert not missing_keys(section["steps"], LOAD_STEP_READS), REMAKE
    assert all("held" in s["judgement"] for s in section["steps"]), REMAKE


# ---- the report of it ------------------------------------------------------------------------
def test_every_chart_of_the_sections_present_renders_at_its_declared_size(rendered):
    data, paths = rendered
    present = {c.name: c for c in registry.charts() if c.needs is None or data.get(c.needs)}
    assert {"vector_pareto", "vector_matched", "load_curves"} <= set(present)
    drawn = {p.stem: p for name, p in paths.items() if name.startswith("charts/")}
    assert set(drawn) == set(present)  # each applies: the fixture has what every chart draws
    for name, chart in present.items():
        assert png_size(drawn[name].read_bytes()) == chart.pixels(data), name


def verdicts_of(data: dict, claim: str) -> list[dict]:
    found = [v for v in data["verdicts"] if v["claim"] == claim]
    assert found, f"no {claim} verdict in the fixture: {REMAKE}"
    return found


def test_report_html_shows_the_vector_and_load_figures(rendered):
    data, paths = rendered
    page = paths["report.html"].read_text()
    assert 'id="vector"' in page and 'id="load"' in page
    for claim in ("vector_speedup", "concurrency"):
        for v in verdicts_of(data, claim):
            assert html.escape(txt.figure_text(v)) in page, (claim, v["variant"])
    assert "<h3>Comparisons at matched recall</h3>" in page and "<h3>Capacity at the SLO</h3>" in page
    for variant, capacity in data["load"]["capacity"].items():  # a row per variant: its name, then its users
        assert f'<tr><td>{html.escape(variant)}</td><td class="num">{capacity["users"]:,}</td>' in page, variant
    for chart in ("vector_pareto", "vector_matched", "load_curves"):
        assert f'id="chart-{chart}"' in page


def test_summary_shows_the_vector_and_load_verdicts(rendered):
    data, paths = rendered
    summary = paths["summary.md"].read_text()
    for claim in ("vector_speedup", "concurrency"):
        for v in verdicts_of(data, claim):
            row = f"| {md_escape(v['variant'])} | "
            assert f"{md_escape(v['verdict'])} | {md_escape(txt.figure_text(v))} |" in summary, (claim, v["variant"])
            assert row in summary
    # bench all measures every claim but four: linear_scaling (bench run throughput only), 10K users
    # (a load with a realistic think time, which bench all's step load does not use), and the two
    # scale targets, 10M documents and 1M projects per organization (bench capacity)
    verdict_table = summary.split("**Every scenario counts**")[0]
    unmeasured = [line for line in verdict_table.splitlines() if "not measured" in line]
    assert len(unmeasured) == 4, unmeasured
    assert any("Linear performance with user growth" in line for line in unmeasured)
    assert any("10K+ simultaneous users" in line for line in unmeasured)
    assert any("1M+ projects per organization" in line for line in unmeasured)
    html = paths["report.html"].read_text()
    assert "not run in this run (bench capacity)" in html and "bench run capacity" not in html

"""`bench run load` for real: a real server at tiny scale, real Locust processes (a local
master and 2 workers), bounded in time. Every test that starts processes checks that
none is left behind (and ends any it finds, by pid, before failing)."""

from __future__ import annotations

import csv
import os
import signal
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from bench import cli
from bench import session as sessions
from bench.core import config, cpus
from bench.core import schema as schemas
from bench.judge import results, verdicts
from bench.loadtest import locust, personas, steps, tenancy
from bench.loadtest import options as load_options
from bench.loadtest.benchmark import LOAD, LoadOptions
from scenarios import all_scenarios
from seed import checks
from tests.conftest import clone, drop

RUN = ["--workers", "2", "--steps", "12,24", "--start-users", "12", "--step-seconds", "3", "--warmup-seconds", "2",
       "--think", "0.05-0.15", "--pool-size", "4"]  # 2 steps x 5 s = a 10-second run per variant
RUN_BOUND_S = 3 * (10 + locust.STARTUP_SECONDS)  # the harness's own bound: the plan plus startup per variant


@pytest.fixture(scope="module")
def load_dsn(pg_server, tiny_template):
    """A copy of the tiny dataset of this module's own: the load writes (inserts, updates, archives)."""
    name = clone(pg_server, tiny_template)
    yield pg_server.dsn(name)
    drop(pg_server, name)


def measure_load(dsn: str, options: LoadOptions, out_dir: str) -> tuple[int, Path, dict]:
    """`bench run load --only hardened` as the CLI runs it; (exit code, run dir, section)."""
    session = sessions.Session.start(config.resolve(dsn=dsn))
    section, run = sessions.measure(session, LOAD, options, ["hardened"], out_dir)
    return (1 if LOAD.problems(section, run.file) else 0), run.directory, section


def bench_load(dsn: str, *args: str) -> int:
    with pytest.raises(SystemExit) as done:
        cli.main(["--dsn", dsn, "run", "load", *args])
    return done.value.code


@pytest.fixture(scope="module")
def tiny_run(load_dsn, tmp_path_factory):
    """One headless run over every variant, shared by the assertions below."""
    out = tmp_path_factory.mktemp("load")
    data_before = _data_checksums(load_dsn)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    began = time.monotonic()
    code = bench_load(load_dsn, *RUN, "--out", str(out))
    elapsed = time.monotonic() - began
    left = [p.pid for p in psutil.Process().children(recursive=True) if p.pid not in before]
    (run_dir,) = out.iterdir()
    return {"code": code, "elapsed": elapsed, "dir": run_dir, "data": results.load(run_dir), "left": left,
            "data_unchanged": _data_checksums(load_dsn) == data_before}


def _data_checksums(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn:
        return {v.name: checks.checksums(conn, v.name) for v in schemas.variants()}


@pytest.mark.timeout(400)
def test_writes_leave_the_seeded_data_as_it_was(tiny_run):
    """The next run (and `bench compare` between runs) measures the same data."""
    with (tiny_run["dir"] / "locust" / "hardened_stats.csv").open() as f:
        rows = {r["Name"]: r for r in csv.DictReader(f) if r["Type"] == "hardened"}
    writes = [n for n, s in personas.in_load(all_scenarios()).items() if s.kind == "write"]
    assert writes and all(int(rows[n]["Request Count"]) > int(rows[n]["Failure Count"]) for n in writes)
    assert tiny_run["data_unchanged"]


@pytest.mark.timeout(400)
def test_the_run_stops_by_itself_within_its_bound_and_leaves_no_process(tiny_run):
    assert tiny_run["code"] == 0
    assert tiny_run["elapsed"] < RUN_BOUND_S
    assert tiny_run["left"] == []
    load = tiny_run["data"]["load"]
    for run in load["runs"]:
        assert run["status"] == "completed", (run["variant"], run["status"], run["events"])
        mine = [s for s in load["steps"] if s["variant"] == run["variant"]]
        assert [s["users"] for s in mine] == [12, 24]
        assert all(p["exit_code"] == 0 for p in run["processes"]), run["processes"]
        assert [p["role"] for p in run["processes"]] == ["master", "worker-1", "worker-2"]
        for s in mine:
            assert s["users_running"] == s["users"] and s["requests"] > 0 and s["rps"] > 0
            assert s["p95_ms"] is not None and s["pool"]["size_per_process"] == 4 and s["pool"]["processes"] == 2
            # the step's p95 and its interval come from every request of its window (HDR, both workers)
            assert s["requests"] == sum(sc[k] for sc in s["scenarios"] for k in ("ok", "error", "known", "leak"))
            interval = s["p95_interval"]
            assert s["requests"] >= 72 and interval["low_ms"] <= s["p95_ms"] <= interval["high_ms"], interval
            assert s["client"]["processes"] == 3 and s["client"]["cpu_max_percent"] is not None  # 2 workers + master
    # --dsn: an external server's processes are not ours to pin
    layout = load["config"]["cpu_layout"]
    assert not layout["pinned"] and "external server" in layout["reason"] and layout["load_cpus"] is None


@pytest.mark.timeout(400)
def test_every_scenario_has_locust_stats_on_every_variant(tiny_run):
    folder = tiny_run["dir"] / "locust"
    catalog = personas.in_load(all_scenarios())  # the write bill is priced by the latency runner only
    for variant in schemas.variants():
        with (folder / f"{variant.name}_stats.csv").open() as f:
            rows = {r["Name"]: r for r in csv.DictReader(f) if r["Type"] == variant.name}
        wanted = {name for name, s in catalog.items() if s.query_for(variant)}
        assert set(rows) == wanted, (variant.name, wanted ^ set(rows))
        for name in wanted:
            assert int(rows[name]["Request Count"]) > 0, (variant.name, name)
        assert (folder / f"{variant.name}_stats_history.csv").exists()
        assert (folder / f"{variant.name}.steps.json").exists()
    for s in tiny_run["data"]["load"]["steps"]:
        assert s["failure_ratio"] == 0.0, (s["variant"], s["users"], s["samples"])


@pytest.mark.timeout(400)
def test_no_cross_tenant_rows_on_hardened_and_review_findings_are_reported(tiny_run):
    load = tiny_run["data"]["load"]
    findings = {(f["variant"], f["scenario"]): f for f in load["security"]["cross_tenant"]}
    hardened = [f for (v, _s), f in findings.items() if v == "hardened"]
    assert sum(f["rows_checked"] for f in hardened) > 0  # the check ran on real rows
    assert sum(f["cross_tenant_requests"] for f in hardened) == 0
    assert load["security"]["cross_tenant_requests"]["hardened"] == 0
    for (variant, scenario), f in findings.items():  # every leak is reported, with its explanation if known
        if f["cross_tenant_requests"]:
            assert f["known"] == tenancy.KNOWN_LEAKS[(scenario, variant)]
    review_leaks = sum(f["cross_tenant_requests"] for (v, _s), f in findings.items() if v == "review")
    if review_leaks:  # findings also appear as Locust failures, not only in results.json
        text = (tiny_run["dir"] / "locust" / "review_failures.csv").read_text()
        assert "CrossTenantRows" in text
    assert any(f["checked"] for f in findings.values()) and any(f["unchecked"] for f in findings.values())


@pytest.mark.timeout(400)
def test_verdicts_and_the_report_contract(tiny_run):
    data = tiny_run["data"]
    load = data["load"]
    concurrency = {v["variant"]: v for v in data["verdicts"] if v["claim"] == "concurrency"}
    assert set(concurrency) == {"review", "hardened"}
    capacity = load["capacity"]
    for variant, v in concurrency.items():
        if all(c["at_least"] for c in capacity.values()):  # every variant held both steps: no upper bound
            assert v["verdict"] == verdicts.INCONCLUSIVE and "untested upper bound" in v["note"]
            assert all(c["users"] == 24 for c in capacity.values())
        else:  # a busy machine (another test run beside it) made a step breach: the verdict follows the capacities
            expected = steps.concurrency_verdict(variant, capacity[variant], capacity["baseline"],
                                                 steps.concurrency_claim(), [])
            assert v["verdict"] == expected["verdict"] and v["note"].startswith(expected["note"])
    assert load["config"]["pool_size_per_process"] == 4 and load["config"]["workers"] == 2
    assert "password" not in str(load["config"]).lower()


def test_the_tenant_check_catches_a_row_of_another_organisation(load_dsn):
    checker = tenancy.TenantChecker(load_dsn)
    try:
        with psycopg.connect(load_dsn) as conn:
            (org_a, doc_a), (org_b, doc_b) = conn.execute(
                "SELECT DISTINCT ON (organization_id) organization_id, id FROM hardened.documents "
                "ORDER BY organization_id, id LIMIT 2").fetchall()
            public = conn.execute("SELECT id, organization_id FROM hardened.capabilities WHERE status = 'published' "
                                  "AND approval_status = 'approved' AND deleted_at IS NULL LIMIT 1").fetchone()
        mine = checker.check("hardened", "documents_by_kb", ["id", "title"], [(doc_a, "t")], org_a)
        assert mine.checked and mine.rows == 1 and not mine.foreign
        theirs = checker.check("hardened", "similar_documents", ["id", "title"], [(doc_a, "t"), (doc_b, "u")], org_a)
        assert theirs.foreign == [doc_b]
        other_org = org_b if public[1] == org_a else org_a
        market = checker.check("hardened", "marketplace_browse", ["id"], [(public[0],)], other_org)
        assert not market.foreign  # the marketplace is public by design
        assert not checker.check("hardened", "capability_stats", ["category"], [("x",)], org_a).checked
    finally:
        checker.close()


@pytest.mark.timeout(300)
def test_a_killed_worker_is_reported_not_hidden(load_dsn, tmp_path, no_leftovers):
    killed = []

    def observer(event, launch, done):
        if event == "step" and not killed:  # after the first finished step, SIGKILL worker 1
            worker = launch.workers[0]
            os.kill(worker.pid, signal.SIGKILL)
            killed.append(worker.pid)

    values = load_options.resolve({"bench_steps": "8,16,24", "bench_start_users": "1",
                                   "bench_step_seconds": "3", "bench_warmup_seconds": "1",
                                   "bench_think": "0.05-0.1", "bench_pool_size": "3"})
    code, run_dir, section = measure_load(load_dsn, LoadOptions(values, workers=2, observer=observer), str(tmp_path))
    assert killed and code == 1
    (run,) = section["runs"]
    assert run["status"] == "worker lost"
    assert any(e["event"] == "worker exited" and e["exit_code"] == -signal.SIGKILL for e in run["events"])
    assert any(e["event"] == "worker lost" for e in run["events"])  # the master noticed too
    measured = section["steps"]
    assert 1 <= len(measured) < 3 and measured[0]["users"] == 8  # the ramp ended; step 1 kept
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    stored = results.load(run_dir)["load"]
    assert stored["capacity"]["hardened"]["status"] == "worker lost"


@pytest.mark.timeout(120)
def test_a_run_that_overruns_its_budget_is_stopped_and_reported(load_dsn, tmp_path, monkeypatch, no_leftovers):
    monkeypatch.setattr(locust, "time_budget", lambda values: 6.0)
    values = load_options.resolve({"bench_steps": "5,10,15,20", "bench_step_seconds": "10",
                                   "bench_warmup_seconds": "1", "bench_pool_size": "2"})
    began = time.monotonic()
    code, _run_dir, section = measure_load(load_dsn, LoadOptions(values), str(tmp_path))
    assert time.monotonic() - began < 6.0 + locust.STOP_SECONDS + 15
    assert code == 1
    (run,) = section["runs"]
    assert run["status"] == "timed out" and any(e["event"] == "timed out" for e in run["events"])


def affinities(pids) -> set[tuple[int, ...]]:
    """The CPU sets of the processes still there when read (a backend or a Locust process
    can exit between being listed and being read)."""
    found = set()
    for pid in pids:
        try:
            found.add(tuple(psutil.Process(pid).cpu_affinity()))
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.mark.timeout(200)
def test_the_server_and_the_load_generator_run_pinned_apart_and_the_server_gets_its_cpus_back(
        pg_server, load_dsn, tmp_path, no_leftovers):
    if pg_server.embedded is None:
        pytest.skip("an external server (BENCH_DSN): its processes are not ours to pin")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: nothing to split (the run records it as not pinned)")
    settings = config.Settings(dsn=None, data_dir=pg_server.embedded.home, port=pg_server.embedded.port)
    session = sessions.Session(settings, *sessions.consoles(), _dsn=load_dsn)  # the embedded test server
    postmaster = psutil.Process(session.postmaster_pid())
    original = sorted(postmaster.cpu_affinity())
    server_cpus, load_cpus = cpus.split(original)
    seen = []

    def observer(event, launch, done):  # read the real affinities while the load runs
        if event == "step":  # after the last step Locust's processes quit: read only the living
            seen.append({"postmaster": postmaster.cpu_affinity(),
                         "backends": affinities(c.pid for c in postmaster.children()),
                         "locust": affinities(p.pid for p in launch.processes if p.popen.poll() is None),
                         "locust_alive": sum(p.popen.poll() is None for p in launch.processes)})

    values = load_options.resolve({"bench_steps": "4,8", "bench_start_users": "1",
                                   "bench_step_seconds": "3", "bench_warmup_seconds": "1",
                                   "bench_think": "0.05-0.1", "bench_pool_size": "3"})
    section, _run = sessions.measure(session, LOAD, LoadOptions(values, workers=1, observer=observer), ["hardened"],
                                     str(tmp_path))
    layout = section["config"]["cpu_layout"]
    assert layout["pinned"] and (layout["server_cpus"], layout["load_cpus"]) == (server_cpus, load_cpus)
    assert len(seen) == 2, seen
    assert seen[0]["locust_alive"] == 2, seen  # the master and its worker, mid-run
    for s in seen:
        assert s["postmaster"] == server_cpus and s["backends"] == {tuple(server_cpus)}
        assert s["locust"] in ({tuple(load_cpus)}, set()), seen
    assert seen[0]["locust"] == {tuple(load_cpus)}
    assert sorted(postmaster.cpu_affinity()) == original
    assert affinities(c.pid for c in postmaster.children()) == {tuple(original)}
    for step in section["steps"]:
        assert step["client"]["cpus"] == load_cpus and step["client"]["cpus_share_percent"] is not None and step["client"]["cpus_busy_percent"] is not None


@pytest.mark.timeout(200)
def test_a_step_window_stays_open_until_it_has_enough_requests_to_bound_p95(load_dsn, tmp_path, no_leftovers):
    """At 2 users a 1-second window has about 2 requests; it stays open until it has
    step_requests or step_max_seconds pass, then step_extend_seconds more because fewer
    than 72 requests leave its p95 undecided. At 40 users the requests come in the first
    seconds and the window closes once they decide the step."""
    values = load_options.resolve({"bench_steps": "2,40", "bench_start_users": "1",
                                   "bench_step_seconds": "1", "bench_warmup_seconds": "1",
                                   "bench_step_requests": "30", "bench_step_max_seconds": "5",
                                   "bench_step_extend_seconds": "3",
                                   "bench_think": "0.5-1.5", "bench_pool_size": "3"})
    code, _run_dir, section = measure_load(load_dsn, LoadOptions(values), str(tmp_path))
    assert code == 0, section["runs"]
    few, many = section["steps"]
    assert few["users"] == 2 and few["requests"] < 30 and 8 <= few["seconds"] < 10  # closed at max + extension
    # kept open from the first check past 5 s (the shape ticks once a second; a tick within
    # TICK_SLACK_SECONDS of a deadline meets it) to the end of the extension
    assert few["judgement"]["state"] == steps.UNDECIDED
    assert 3 - 1.1 <= few["extended_s"] <= few["seconds"] - (5 - steps.TICK_SLACK_SECONDS)
    assert many["users"] == 40 and many["requests"] >= 30 and many["seconds"] < 5  # closed once decided
    assert few["live_p95_interval"]["high_ms"] is None  # what kept it open: too few requests to bound p95
    assert many["judgement"]["state"] != steps.UNDECIDED
    assert not steps.straddles(many["live_p95_interval"], steps.slo())  # what closed it
    assert section["config"]["step_requests"] == 30 and section["config"]["step_max_seconds"] == 5
    assert section["config"]["step_extend_seconds"] == 3

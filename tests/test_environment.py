"""What a run records about the machine it ran on, and what the report says about it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.core import environment, speed
from bench.report import html

TINY_RUN = Path(__file__).parent / "fixtures" / "tiny_run" / "results.json"


def test_the_machine_record_carries_the_load_average_at_the_start():
    machine = environment.machine()
    assert machine["load_average"] == [round(x, 2) for x in machine["load_average"]]
    assert len(machine["load_average"]) == 3 and all(x >= 0 for x in machine["load_average"])
    assert machine["cpu_count"] == os.cpu_count()


def test_the_machine_record_times_the_speed_probe():
    probe = environment.machine()["speed_probe"]
    assert probe["repeats"] == speed.REPEATS and probe["cpu_ms"] > 0 and probe["memory_ms"] > 0
    slower = {**probe, "cpu_ms": probe["cpu_ms"] * 1.25}
    assert speed.change(probe, slower) == pytest.approx({"cpu_ms": 0.25, "memory_ms": 0.0})
    assert speed.change(None, probe) is None and speed.change(probe, {}) is None  # a run from before the probe


def test_the_report_header_says_when_the_machine_was_busy():
    data = json.loads(TINY_RUN.read_text())
    machine = data["environment"]["machine"]
    quiet = html.header({**data, "environment": {**data["environment"],
                                                 "machine": {**machine, "cpu_count": 2, "load_average": [0.4, 0.3, 0.2]}}},
                        [])
    busy = html.header({**data, "environment": {**data["environment"],
                                                "machine": {**machine, "cpu_count": 2, "load_average": [9.6, 8.8, 7.5]}}},
                       [])
    assert "machine busy" not in quiet
    assert "machine busy: at the start: load average 9.6 on 2 CPUs" in busy
    assert "machine busy" not in html.header(data, [])  # runs recorded before the field: nothing claimed
    sampled = html.header({**data, "environment": {**data["environment"], "machine": {
        **machine, "cpu_count": 2, "load_average": [2.0, 1.5, 1.0], "cpu_busy_percent": 81.5}}}, [])
    assert "machine busy: at the start: 81.5% of 2 CPUs in use (load average 2)" in sampled


def run_on(machine: dict, **other_percent: float) -> dict:
    """A run's results with this machine at the start and other work per benchmark section."""
    sections = {name: {"other_work": {"seconds": 60.0, "cpus": 2, "other_cpu_percent": share}}
                for name, share in other_percent.items()}
    return {"environment": {"machine": machine}, **sections}


def test_compare_notes_a_run_that_began_on_a_busy_machine():
    from bench.report.compare import busy_note

    quiet, busy = {"cpu_count": 2, "load_average": [0.3, 0.2, 0.1]}, {"cpu_count": 2, "load_average": [7.5, 6, 5]}
    assert busy_note(run_on(quiet), run_on(quiet)) is None
    assert busy_note({}, run_on(quiet)) is None  # runs recorded before the field: nothing claimed
    assert busy_note(run_on(quiet), run_on(busy)).startswith(
        "machine busy: not busy (load average 0.3 on 2 CPUs at the start) → at the start: load average 7.5 on 2 "
        "CPUs (a busy machine")
    assert busy_note({}, run_on(busy)).startswith("machine busy: unknown → at the start: load average 7.5")
    sampled = {"cpu_count": 2, "load_average": [2.05, 1.5, 1.0], "cpu_busy_percent": 3.5}
    assert busy_note(run_on(sampled), run_on(sampled)) is None  # the sample, not the lagging load average, decides
    assert busy_note(run_on(sampled), run_on({**sampled, "cpu_busy_percent": 97.0})).endswith(
        "→ at the start: 97% of 2 CPUs in use (load average 2.05) (a busy machine is a slower machine: compare runs "
        "made on a quiet one)")


def test_other_work_during_a_benchmark_makes_the_run_busy_though_its_start_was_quiet():
    """As on 2026-12-04: a make bench begun beside a make test sampled 3.5% at its start."""
    from bench.core import contention
    from bench.report.compare import busy_note

    began_quiet = {"cpu_count": 2, "load_average": [1.93, 1.2, 0.8], "cpu_busy_percent": 3.5}
    shared = run_on(began_quiet, latency=46.0, vector=2.0)
    assert contention.busy_notes(shared) == ["during latency: other work used 46% of the 2 CPUs"]
    assert contention.busy_notes(run_on(began_quiet, latency=contention.OTHER_BUSY_PERCENT - 0.1)) == []
    # a measurement of a few clock ticks is not judged (storage read 68.6% over 0.0 s, 2026-12-04)
    instant = run_on(began_quiet, storage=68.6)
    instant["storage"]["other_work"]["seconds"] = 0.0
    assert contention.busy_notes(instant) == [] and contention.judged_sections(instant) == {}
    assert "machine busy: during latency: other work used 46%" in html.header(shared, [])
    assert busy_note(run_on(began_quiet, latency=1.0), shared).startswith(
        "machine busy: not busy (3.5% of 2 CPUs in use (load average 1.93) at the start) → during latency")


def test_the_busy_flag_reads_the_cpu_sample_not_the_load_average_that_remembers_the_seeding():
    """Three idle-machine make bench runs (2026-12-03) began their measurement with a load
    average of 1.66, 2.05 and 2.02 on 2 CPUs, left by their own seeding: all were called busy."""
    after_seeding = {"cpu_count": 2, "load_average": [2.05, 1.55, 1.04]}
    assert environment.started_busy(after_seeding)  # without the sample (older runs): as before
    assert not environment.started_busy({**after_seeding, "cpu_busy_percent": 4.0})
    assert environment.started_busy({**after_seeding, "cpu_busy_percent": 50.0})
    assert environment.started_busy({"cpu_count": 2, "load_average": [0.1, 0.1, 0.1], "cpu_busy_percent": 88.0})
    machine = environment.machine()
    assert 0 <= machine["cpu_busy_percent"] <= 100

"""The review's scale targets judged from a sweep's projections (pure: synthetic sections of
known growth). Each verdict can go each way: a cheap vector search with high recall is
confirmed, a steep one refuted, a recall that decays below 0.95 refuted; a tenant whose
project scenario grows linearly with its projects is refuted at 1M."""

from __future__ import annotations

import numpy as np

from bench.capacity import analysis, sizes, targets
from bench.judge import verdicts
from scenarios.population import Population

LABELS = ("tiny", "10K", "30K", "small", "300K", "medium")  # medium: 10M is 10x beyond, as far as may decide


def _size(label: str, vector_ms, recall, tenant_ms) -> dict:
    size = sizes.size_of(label)
    n, tenant = size.documents, size.documents // 5  # the largest tenant grows with the data (200K at medium)
    latency = [{"scenario": "similar_documents", "variant": "hardened", "kind": "vector", "applicable": True,
                "errors": 0, "median_ms": vector_ms(n)}]
    neighbours = 200
    found = round(recall(n) * neighbours)
    return {"label": label, "counts": size.counts, "status": "complete", "latency": latency,
            "storage": [], "indexes": [], "seed": {"post_data_seconds": {}},
            "recall": [{"scenario": "similar_documents", "variant": "hardened", "queries": 20,
                        "neighbours": neighbours, "found": found, "recall": found / neighbours}],
            "tenant": {"organization": "o", "projects": tenant, "skipped": {},
                       "cells": [{"scenario": "my_projects", "variant": "hardened", "applicable": True, "errors": 0,
                                  "median_ms": tenant_ms(tenant)}]}}


def _judge(vector_ms, recall, tenant_ms, labels=LABELS) -> dict[str, dict]:
    section = {"config": {"seed": 1}, "sizes": [_size(label, vector_ms, recall, tenant_ms) for label in labels]}
    result = analysis.analyse(section)
    return {v["claim"]: v for v in targets.scale_verdicts(result, result["variants"])}


def test_a_cheap_vector_search_with_high_recall_and_a_flat_tenant_are_confirmed_as_projections():
    judged = _judge(lambda n: 1.0 + 0.05 * np.log(n), lambda n: 0.995, lambda p: 2.0)
    vector, tenant = judged["vector_at_scale"], judged["tenant_at_scale"]
    assert vector["verdict"] == verdicts.CONFIRMED, vector
    assert vector["figure"]["projected"] and vector["figure"]["at_documents"] == 10_000_000
    assert vector["figure"]["fitted_on"] == list(LABELS)
    assert vector["figure"]["recall_low"] >= 0.95
    assert tenant["verdict"] == verdicts.CONFIRMED, tenant
    assert tenant["figure"]["at_projects"] == 1_000_000 and "extrapolates" in tenant["note"]


def test_a_search_that_grows_linearly_is_refuted_at_10m():
    judged = _judge(lambda n: 0.5 + n * 2e-4, lambda n: 0.99, lambda p: 2.0)  # 2 s at 10M
    assert judged["vector_at_scale"]["verdict"] == verdicts.REFUTED


def test_a_recall_that_decays_below_target_is_refuted_even_when_fast():
    judged = _judge(lambda n: 1.0, lambda n: 1 - 0.004 * np.log10(n) ** 2, lambda p: 2.0)  # 0.80 at 10M
    vector = judged["vector_at_scale"]
    assert vector["verdict"] == verdicts.REFUTED, vector
    assert vector["figure"]["recall_high"] < 0.95


def test_a_project_scenario_linear_in_the_tenant_is_refuted_at_1m_projects():
    judged = _judge(lambda n: 1.0, lambda n: 0.99, lambda p: 0.5 + p * 1e-3)  # 1 s at 1M projects
    tenant = judged["tenant_at_scale"]
    assert tenant["verdict"] == verdicts.REFUTED, tenant
    assert tenant["figure"]["scenarios"][0]["meets"] == targets.MISSES


def test_a_projection_too_far_beyond_the_data_decides_nothing_unless_the_data_already_misses():
    small_only = LABELS[:4]  # up to 100K documents: 10M is 100x beyond
    cheap = _judge(lambda n: 1.0, lambda n: 0.99, lambda p: 2.0, small_only)
    assert cheap["vector_at_scale"]["verdict"] == verdicts.INCONCLUSIVE
    assert "100× beyond the largest size measured (small)" in cheap["vector_at_scale"]["note"]
    assert cheap["tenant_at_scale"]["verdict"] == verdicts.INCONCLUSIVE
    slow = _judge(lambda n: 150.0 + n * 1e-4, lambda n: 0.99, lambda p: 2.0, small_only)
    assert slow["vector_at_scale"]["verdict"] == verdicts.REFUTED


def test_the_vector_target_is_the_sweeps_projection_target():
    assert verdicts.targets()["vector_at_scale"]["documents"] == sizes.target().documents


def test_a_tenants_population_draws_only_from_that_tenant():
    pop = Population(anchor=None, users=[("u1", "a", "member"), ("u2", "b", "member")],
                     users_by_org={"a": ["u1"], "b": ["u2"]},
                     memberships=[("u1", "a", "p1", "owner"), ("u2", "b", "p2", "owner")],
                     owned_projects=[("p1", "u1", "a"), ("p2", "u2", "b")], kb_filters=[], categories=[],
                     search_terms=[], draft_capabilities=[], audited_records=[("p2", "b")], query_vectors=[],
                     templates=[("t1", None), ("t2", "b")])
    mine = pop.of_organization("a")
    assert mine.users == [("u1", "a", "member")] and mine.users_by_org == {"a": ["u1"]}
    assert mine.memberships == [("u1", "a", "p1", "owner")] and mine.owned_projects == [("p1", "u1", "a")]
    assert mine.audited_records == [] and mine.templates == [("t1", None)]


def test_costs_do_not_shrink_a_largest_size_already_over_the_ceiling_misses():
    series = {"measured": [{"size": "small", "x": 1e5, "value": 20.0}, {"size": "medium", "x": 1e6, "value": 150.0}],
              "projection": {"x": 1e7, "estimate": 90.0, "low": 10.0, "high": 400.0}}
    assert targets.judged(series, 100.0, 10.0) == (targets.MISSES, None)
    series["measured"][-1]["value"] = 50.0
    assert targets.judged(series, 100.0, 10.0) == (targets.UNSURE, None)

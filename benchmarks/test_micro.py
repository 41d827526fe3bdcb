"""Micro-benchmarks of the harness's hot paths, on fixed inputs (seeded, so every run times
the same work): binary COPY encoding (seed/copy_binary.py), embedding generation
(seed/embeddings.py), HDR recording (bench/judge/stats.py), report rendering (summary.md
and `bench compare`'s Markdown of the tiny fixture run).

    make bench-micro     # saves .benchmarks/, compares with the last saved run

Each benchmark also checks its result, so a fast wrong answer cannot pass for a speed-up.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.judge import stats
from seed import copy_binary
from seed.embeddings import FITTED, FittedModel, TopicModel

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tiny_run" / "results.json"
ROWS, DIM = 2_000, 384


@pytest.fixture(scope="module")
def columns():
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 256, (ROWS, 16), dtype=np.uint8)
    created = np.datetime64("2026-01-01T00:00:00", "us") + rng.integers(0, 10**12, ROWS).astype("timedelta64[us]")
    vectors = rng.standard_normal((ROWS, DIM), dtype=np.float32)
    titles = [f"document {i}" for i in range(ROWS)]
    meta = [{"n": i} for i in range(ROWS)]
    return ({"id": ids, "created_at": created, "embedding": vectors, "title": titles, "metadata": meta},
            {"id": "uuid", "created_at": "timestamptz", "embedding": "vector", "title": "text", "metadata": "jsonb"})


def test_copy_binary_encode(benchmark, columns):
    values, types = columns
    order, payload = benchmark(copy_binary.encode, values, types)
    assert payload.startswith(copy_binary.HEADER) and payload.endswith(copy_binary.TRAILER)
    assert set(order) == set(values) and len(payload) > ROWS * DIM * 4


@pytest.mark.parametrize("generator", ["fitted_default", "topic"])
def test_embedding_generation(benchmark, generator):
    """The default generator (the fitted profile: neighbourhood centres and low-rank noise
    on top) beside the topic model it replaced."""
    if generator == "topic":
        model = TopicModel(seed=1, dim=DIM, topics=16)
    else:
        model = FittedModel.for_documents(1, DIM, 16 * FITTED.docs_per_topic, FITTED)
    topics = np.arange(ROWS) % 16

    def sample():
        return model.sample(topics, np.random.default_rng(3))

    vectors = benchmark(sample)
    assert vectors.shape == (ROWS, DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


def test_hdr_recording(benchmark):
    latencies = np.random.default_rng(5).lognormal(7.5, 0.6, 20_000).astype(np.int64)  # microseconds

    def record_all():
        histogram = stats.new_histogram()
        for value in latencies:
            stats.record(histogram, value)
        return histogram

    histogram = benchmark(record_all)
    assert histogram.get_total_count() == len(latencies)


@pytest.fixture(scope="module")
def tiny_run() -> dict:
    return json.loads(FIXTURE.read_text())


def test_summary_rendering(benchmark, tiny_run):
    from bench.report import summary

    text = benchmark(summary.markdown, tiny_run)
    assert text.startswith("#") or "|" in text


def test_compare_rendering(benchmark):
    from bench.report import gate

    def render():
        return gate.markdown(gate.review(FIXTURE, FIXTURE))

    text = benchmark.pedantic(render, rounds=3, iterations=1)
    assert gate.MARKER in text and "gate passes" in text

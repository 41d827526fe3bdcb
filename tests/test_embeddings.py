"""The default generator keeps ANN recall where real sentence embeddings put it (within
the fit goal of their recall at 88,000 documents), its vectors do not depend on the machine, and the fitted profile's
parts do what they say."""

import numpy as np
import psycopg
import pytest

from seed import calibration
from seed.config import GENERATOR_VERSION, make_config
from seed.embeddings import TopicModel


def test_recall_helpers_on_a_hand_checked_case():
    vectors = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0]], dtype=np.float32)
    truth = calibration.exact_top_k(vectors, np.array([[1, 0]], dtype=np.float32), k=2)
    assert truth.tolist() == [[0, 1]]
    assert calibration.recall([{0, 3}], truth) == 0.5


def test_vectors_are_bitwise_the_same_whatever_the_callers_blas_threads():
    """Workers, the main process and other machines run BLAS with other thread counts;
    the last bits of a product depend on them unless the generator fixes its own."""
    from threadpoolctl import threadpool_limits

    model = TopicModel(seed=1, dim=384, topics=20)
    topics = np.repeat(np.arange(20), 250)
    drawn = []
    for threads in (1, 4):
        with threadpool_limits(limits=threads, user_api="blas"):
            drawn.append(model.sample(topics, np.random.default_rng(0)))
    assert np.array_equal(drawn[0], drawn[1])


def test_vectors_are_unit_and_topical():
    model = TopicModel(seed=1, dim=64, topics=8, difficulty=1.5)
    rng = np.random.default_rng(0)
    topics = np.repeat(np.arange(8), 50)
    x = model.sample(topics, rng)
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    sims = x @ x.T
    same = sims[topics[:, None] == topics[None, :]].mean()
    other = sims[topics[:, None] != topics[None, :]].mean()
    assert same > other + 0.2  # clustered, not uniform noise


# e2e: recall at ef_search=40 depends on how many rows the graph holds, so the check runs at
# the size real embeddings were measured at (88,000 documents); three builds of each index
# at 500 queries take about two minutes. One build at 200 queries read HNSW 0.02 higher
# than bench calibrate's three at 500 (docs/decisions.md, revision 4).
@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_default_generator_stays_within_the_fit_goal_of_real_embeddings(db_dsn):
    from bench.vector.calibrate import GOAL_RECALL

    config = make_config("small", [f"documents={calibration.REAL_DOCUMENTS}"], anchor="2026-11-01")
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        measured = calibration.measure(conn, config, n_queries=500, builds=3)
    gaps = {name: float(np.mean(recalls)) - calibration.REAL_RECALL[name] for name, recalls in measured.items()}
    assert all(abs(gap) <= GOAL_RECALL for gap in gaps.values()), (gaps, measured)


def test_a_seed_records_its_generator_and_its_own_default_difficulty():
    """The vector source is recorded only when it is not the default; the generator
    version tells the fitted default from earlier data, and each generator keeps the
    difficulty it was calibrated at unless one is given."""
    default = make_config("tiny", anchor="2026-11-01").as_dict()
    assert "embeddings" not in default and default["generator"] == GENERATOR_VERSION and default["difficulty"] == 1.2
    topic = make_config("tiny", anchor="2026-11-01", embeddings="synthetic:topic").as_dict()
    assert topic["embeddings"] == "synthetic:topic" and topic["generator"] == f"{GENERATOR_VERSION}:synthetic:topic"
    assert topic["difficulty"] == 1.5
    assert make_config("tiny", anchor="2026-11-01", difficulty=0.5).difficulty == 0.5
    with pytest.raises(Exception, match="384 dimensions"):
        make_config("tiny", dim=64, embeddings="real:all-MiniLM-L6-v2")


def test_fitted_profile_is_the_same_in_any_chunk():
    """A neighbourhood's centre comes from its own seed, so documents generated in other
    chunks or workers share it; every vector is a unit vector."""
    from seed.embeddings import FITTED, FittedModel

    model = FittedModel.for_documents(1, 64, 20_000, FITTED)
    topics, groups = np.array([3, 1, 3, 0]), np.array([2, 0, 2, 1])
    once = model._centres(topics, groups)
    again = model._centres(topics[::-1], groups[::-1])[::-1]
    assert np.array_equal(once, again) and np.array_equal(once[0], once[2])
    x = model.sample(np.repeat(np.arange(4), 25), np.random.default_rng(0))
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)


def test_fitted_centres_kept_between_chunks_are_the_ones_drawn_afresh(monkeypatch):
    """The centre cache changes no vector: a model that met the neighbourhoods in earlier
    chunks, and one whose bounded cache was cleared midway, draw what a fresh one draws."""
    from seed import embeddings
    from seed.embeddings import FITTED, FittedModel

    rng = np.random.default_rng(5)
    topics, groups = rng.integers(0, 8, 3000), rng.integers(0, 40, 3000)
    fresh = FittedModel.for_documents(1, 64, 20_000, FITTED)._centres(topics, groups)
    warm = FittedModel.for_documents(1, 64, 20_000, FITTED)
    for chunk in np.array_split(np.arange(3000), 6):
        warm._centres(topics[chunk], groups[chunk])
    assert len(warm._centre_cache) == len(set(zip(topics.tolist(), groups.tolist())))
    assert np.array_equal(warm._centres(topics, groups), fresh)
    monkeypatch.setattr(embeddings, "CENTRE_CACHE_BYTES", 4 * 64 * 50)  # 50 centres, then cleared
    small = FittedModel.for_documents(1, 64, 20_000, FITTED)
    assert np.array_equal(small._centres(topics, groups), fresh) and len(small._centre_cache) <= 50


def test_fitted_local_noise_lies_in_its_topic_subspace():
    """With local_share 1 a document's noise around its neighbourhood's centre spans only
    its topic's local_rank directions; the shared mix keeps the noise's expected norm at 1;
    the subspaces come from the model's seed, not from the chunk's draws."""
    from dataclasses import replace

    from seed.embeddings import FITTED, FittedModel

    rank = 8
    only_local = FittedModel.for_documents(1, 64, 20_000, replace(FITTED, local_rank=rank, local_share=1.0))
    noise = only_local._noise(np.zeros(200, dtype=np.int64), np.random.default_rng(0))
    assert np.linalg.matrix_rank(noise, tol=1e-4) == rank
    mixed = FittedModel.for_documents(1, 64, 20_000, replace(FITTED, local_rank=rank, local_share=0.8))
    noise = mixed._noise(np.zeros(20_000, dtype=np.int64), np.random.default_rng(1))
    assert np.mean(np.sum(noise ** 2, axis=1)) == pytest.approx(1.0, rel=0.02)
    assert np.linalg.matrix_rank(noise[:200], tol=1e-4) == 64
    again = FittedModel.for_documents(1, 64, 20_000, replace(FITTED, local_rank=rank, local_share=0.8))
    assert np.array_equal(mixed.local_bases, again.local_bases)


@pytest.mark.parametrize("earlier", ["synthetic:fitted", "synthetic:fitted-2"])
def test_a_seed_of_the_opt_in_fitted_profile_is_refused_in_one_line(earlier):
    """The opt-in revisions before the fitted profile became the default: a database
    recorded with them is never taken for the default's vectors."""
    from bench.core.errors import BenchError
    from seed.embeddings import FITTED, FittedModel, TopicModel
    from seed.vectors import embedding_model

    with pytest.raises(BenchError, match="before it became the default generator: seed again"):
        embedding_model(make_config("tiny", anchor="2026-11-01", embeddings=earlier))
    default = embedding_model(make_config("tiny", anchor="2026-11-01"))
    assert isinstance(default, FittedModel) and default.profile == FITTED
    topic = embedding_model(make_config("tiny", anchor="2026-11-01", embeddings="synthetic:topic"))
    assert type(topic) is TopicModel and topic.difficulty == 1.5


def test_neighbourhoods_fill_in_and_centres_draw_closer_as_the_corpus_grows_within_the_fitted_sizes():
    """Real nearest neighbours get closer and IVFFlat gets easier as a corpus grows
    (docs/decisions.md, revisions 3 and 4): the fitted neighbourhood size grows from about
    2.2 documents at 19,500 to 8 at 88,000, the centres' noise falls from 2.0 to the seed's
    difficulty, and both are held outside the sizes they were fitted between."""
    from seed.embeddings import FITTED, FittedModel

    ns = (5_000, 19_500, 50_000, 88_000, 100_000, 10_000_000)
    sizes = {n: FITTED.group_size_for(n) for n in ns}
    assert sizes[19_500] == pytest.approx(2.22, abs=0.01) and sizes[88_000] == 8
    assert sizes[5_000] == sizes[19_500] < sizes[50_000] < sizes[88_000] == sizes[100_000] == sizes[10_000_000]
    noise = {n: FITTED.difficulty_for(n) for n in ns}
    assert noise[19_500] == pytest.approx(2.0, abs=0.01) and noise[88_000] == FITTED.difficulty == 1.2
    assert noise[5_000] == noise[19_500] > noise[50_000] > noise[88_000] == noise[100_000] == noise[10_000_000]
    small, large = (FittedModel.for_documents(1, 16, n, FITTED) for n in (20_000, 80_000))
    assert small.topics == large.topics == 8  # docs_per_topic 10,000, at least 8 topics
    assert large.groups / small.groups < 4 * 0.7  # 4x the documents, far fewer than 4x the neighbourhoods
    assert small.difficulty == FITTED.difficulty_for(20_000) > large.difficulty == FITTED.difficulty_for(80_000)

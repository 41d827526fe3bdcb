"""Synthetic embeddings that make ANN indexes behave as on real sentence embeddings.

Uniform random vectors are the hardest case for an ANN index (no structure), tight
clusters the easiest (recall 1.0 at probes=1): both make a vector comparison meaningless.
Real text embeddings sit between: topics, topics grouped into broader themes, and
variation inside a topic along a few directions (a low intrinsic dimension). So:

    theme centroids  ->  topic centroids  (unit vectors, varying distances)
    document = normalise(topic + SPREAD * (basis_topic @ s / sqrt(RANK) + difficulty * z))

with `s` Gaussian in a RANK-dimensional subspace of the topic and `z` isotropic noise.
`difficulty` (recorded with the dataset) is the weight of the isotropic part: 0 gives
documents on low-dimensional sheets (easy for any index), large values approach uniform
noise (hard for every index). Each knowledge base draws its documents from 1-3 topics;
held-out queries come from the same process, so they resemble documents without being
any of them.

That TopicModel was the default generator up to version 3 (`--generator topic` now).
Checked against real embeddings (issue 20) its neighbourhoods were flat, so the default is
FittedModel below (generator version 4; its fourth revision since version 6): the same
topics, plus small tight neighbourhoods that fill in as the corpus grows, low-rank local
noise and a shared direction, its Profile fitted to real all-MiniLM-L6-v2 embeddings.
Both keep the seeder issue's band at the small scale (IVFFlat lists=100 probes=1
recall@10 around 0.3-0.7, HNSW m 16 ef_search 40 around 0.85-0.97; tests/test_embeddings.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from seed.ids import unit_floats

TOPIC_DIFFICULTY = 1.5  # the topic model's calibration (generator versions 1-3's default)
RANK = 16
SPREAD = 1.0
CENTRE_CACHE_BYTES = 128 * 2**20  # neighbourhood centres kept between chunks (100K documents: 38 MiB)
DOCS_PER_TOPIC = 5000  # topics larger than an IVFFlat list, as real topics are
TOPICS_PER_KB = 3


def n_topics(n_documents: int) -> int:
    return int(np.clip(n_documents // DOCS_PER_TOPIC, 8, 4096))


@dataclass
class TopicModel:
    seed: int
    dim: int
    topics: int
    difficulty: float = TOPIC_DIFFICULTY

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 11, self.dim])
        themes = _unit(rng.standard_normal((max(4, self.topics // 16), self.dim)))
        theme_of = rng.integers(0, len(themes), self.topics)
        self.centroids = _unit(themes[theme_of] + 0.9 * _unit(rng.standard_normal((self.topics, self.dim))))
        self.bases = (rng.standard_normal((self.topics, self.dim, RANK)) / np.sqrt(self.dim)).astype(np.float32)

    def kb_topics(self, kb: np.ndarray) -> np.ndarray:
        """(n, TOPICS_PER_KB) topic ids of knowledge bases (a KB uses the first 1-3)."""
        cols = [np.floor(unit_floats(self.seed, f"kb_topic_{j}", kb) * self.topics).astype(np.int64)
                for j in range(TOPICS_PER_KB)]
        return np.stack(cols, axis=1)

    def topic_for(self, kb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        used = 1 + np.floor(unit_floats(self.seed, "kb_topic_count", kb) * TOPICS_PER_KB).astype(np.int64)
        which = np.floor(rng.random(len(kb)) * used).astype(np.int64)
        return self.kb_topics(kb)[np.arange(len(kb)), which]

    def sample(self, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """float32 (n, dim) unit vectors drawn around the given topics."""
        n = len(topics)
        s = rng.standard_normal((n, RANK), dtype=np.float32) / np.float32(np.sqrt(RANK))
        z = rng.standard_normal((n, self.dim), dtype=np.float32) / np.float32(np.sqrt(self.dim))
        spread = np.zeros((n, self.dim), dtype=np.float32)
        # One BLAS thread. The last bits of a product depend on how many threads split it
        # (2,209 of 5,000 vectors differed between 1 and 2), so with the default thread
        # count the vectors would depend on the machine's cores and on the caller. Idle
        # BLAS threads also spin, taking the cores the server needs for loading.
        with threadpool_limits(limits=1, user_api="blas"):
            for topic in np.unique(topics):  # grouped: gathering (n, dim, RANK) bases would cost GBs
                rows = topics == topic
                spread[rows] = s[rows] @ self.bases[topic].T
        vectors = self.centroids[topics].astype(np.float32) + SPREAD * (spread + self.difficulty * z)
        return _unit(vectors).astype(np.float32)

    # What the seeder calls (seed/tables.py); other sources of vectors (the fitted profile,
    # real embeddings in seed/real_embeddings.py) answer the same two calls.
    def document_vectors(self, rows: np.ndarray, kb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Vectors of documents `rows` (owned by knowledge bases `kb`), drawn from `rng`."""
        return self.sample(self.topic_for(kb, rng), rng)

    def query_vectors(self, kb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Held-out queries, one per knowledge base in `kb`, drawn from `rng`."""
        return self.sample(self.topic_for(kb, rng), rng)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---- the profile fitted to real embeddings: the default since generator version 4 ----------
# Real sentence embeddings (docs/decisions.md, "Synthetic embeddings checked against real
# ones") have tight small neighbourhoods (near-paraphrases, sibling functions) inside many
# small topics, and a direction every vector shares. The default generator above has
# neither: its neighbourhoods are flat. A Profile adds them, all optional; every field
# at its default gives the default generator's geometry (not its exact vectors: the
# draws differ).
@dataclass(frozen=True)
class Profile:
    docs_per_topic: int = DOCS_PER_TOPIC  # documents per topic (topics = documents // this, at least 8)
    difficulty: float = TOPIC_DIFFICULTY  # isotropic noise of a neighbourhood's centre around its topic
    difficulty_growth: float = 0.0  # < 0: that noise falls as the corpus grows (difficulty_for)
    group_size: float = 0.0  # mean documents per neighbourhood (at grown_between[1] documents); 0: none
    group_growth: float = 0.0  # > 0: neighbourhoods fill in as the corpus grows (group_size_for)
    grown_between: tuple[int, int] = (19_500, 88_000)  # the sizes the growth was fitted between
    tightness: float = 0.0  # isotropic noise of a document around its neighbourhood's centre
    tightness_spread: float = 0.0  # sigma of a log-normal factor on it per document (near-duplicates to loners)
    group_skew: float = 1.0  # > 1: neighbourhood sizes skewed (a few large, many small)
    topic_skew: float = 1.0  # > 1: topic sizes skewed
    shared: float = 0.0  # weight of one direction common to every vector (anisotropy)
    local_rank: int = 0  # > 0: part of a document's noise lies in a subspace of its topic of this many dimensions
    local_share: float = 0.0  # that part's share of the noise's variance (real embeddings' low intrinsic dimension)

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)

    def group_size_for(self, n_documents: int) -> float:
        """Mean documents per neighbourhood in a dataset of n documents. Real neighbourhoods
        fill in as a corpus grows (the nearest neighbour's cosine rose from 0.665 at 19,500
        docstrings to 0.760 at 88,000), so the size grows as n ** group_growth; outside the
        sizes it was fitted between it is held (no real data says how it goes on)."""
        return self.group_size * self._growth(n_documents, self.group_growth)

    def difficulty_for(self, n_documents: int) -> float:
        """The centres' noise in a dataset of n documents: `difficulty` from the larger
        fitted size on, times (n / that size) ** difficulty_growth below it, held below the
        smaller. Real IVFFlat recall at a few probes rises as the docstring corpus grows
        (0.784 at 19,500 documents, 0.829-0.837 at 88,000, probes=4) while HNSW's hardly
        moves; centres scattered wider at the small size reproduce that."""
        return self.difficulty * self._growth(n_documents, self.difficulty_growth)

    def _growth(self, n_documents: int, exponent: float) -> float:
        low, high = self.grown_between
        return (min(max(n_documents, low), high) / high) ** exponent


# Fitted against real embeddings of the docstring corpus (500 held-out queries) at 19,500
# and 88,000 documents, 3-5 builds of each index: docs/decisions.md "Synthetic embeddings
# checked against real ones". Revision 1 had isotropic noise; revision 2 (generator
# version 4) added the low-rank local noise and met the goal at 19,500 documents only
# (HNSW ef_search=10 0.13 too low at 88,000). Revision 3 (version 5): fewer, larger
# topics, neighbourhoods that fill in as the corpus grows, local rank 16; its largest gaps
# were HNSW ef_search=10 -0.05 at 88,000 and IVFFlat probes=4 +0.05 at 19,500. Revision 4:
# local rank 12 (lifts HNSW), centres scattered wider below 88,000 documents
# (difficulty_growth: IVFFlat harder at 19,500), neighbourhoods smaller there
# (group_growth 0.85) and looser (tightness 1.7) to keep the 1st-neighbour cosine.
# It is the default generator (seed/config.py GENERATOR_VERSION 6): a change here changes
# every default seed's vectors, so it bumps GENERATOR_VERSION.
FITTED = Profile(docs_per_topic=10000, difficulty=1.2, difficulty_growth=-0.339, group_size=8, group_growth=0.85,
                 tightness=1.7, tightness_spread=2.0, group_skew=2.0, shared=0.35, local_rank=12, local_share=0.8)
DEFAULT_DIFFICULTY = FITTED.difficulty  # a seed's `difficulty` is its generator's; --difficulty overrides it


@dataclass
class FittedModel(TopicModel):
    profile: Profile = FITTED
    n_documents: int = 0

    @classmethod
    def for_documents(cls, seed: int, dim: int, n_documents: int, profile: Profile) -> "FittedModel":
        topics = int(np.clip(n_documents // max(1, profile.docs_per_topic), 8, 1 << 20))
        return cls(seed, dim, topics, profile.difficulty_for(n_documents), profile, n_documents)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._centre_cache: dict[tuple[int, int], np.ndarray] = {}
        rng = np.random.default_rng([self.seed, 13, self.dim])
        self.common = _unit(rng.standard_normal((1, self.dim)))[0].astype(np.float32)
        per_topic = max(1, self.n_documents) / self.topics
        group_size = self.profile.group_size_for(self.n_documents)
        self.groups = max(1, int(round(per_topic / group_size))) if group_size else 0
        if self.profile.local_rank:  # unit columns: each local direction carries 1/rank of the variance
            bases = np.random.default_rng([self.seed, 31, self.dim, self.profile.local_rank]).standard_normal(
                (self.topics, self.dim, self.profile.local_rank))
            self.local_bases = (bases / np.linalg.norm(bases, axis=1, keepdims=True)).astype(np.float32)

    def kb_topics(self, kb: np.ndarray) -> np.ndarray:
        cols = [np.floor(unit_floats(self.seed, f"kb_topic_{j}", kb) ** self.profile.topic_skew * self.topics)
                .astype(np.int64) for j in range(TOPICS_PER_KB)]
        return np.stack(cols, axis=1)

    def sample(self, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not self.groups:
            vectors = super().sample(topics, rng)
        else:
            n = len(topics)
            group = np.minimum(np.floor(rng.random(n) ** self.profile.group_skew * self.groups), self.groups - 1)
            z = self._noise(topics, rng)
            tight = np.float32(self.profile.tightness) * np.ones(n, dtype=np.float32)
            if self.profile.tightness_spread:
                tight *= np.exp(self.profile.tightness_spread * rng.standard_normal(n)).astype(np.float32)
            vectors = self._centres(topics, group.astype(np.int64)) + tight[:, None] * z
        if self.profile.shared:
            vectors = _unit(vectors) + np.float32(self.profile.shared) * self.common
        return _unit(vectors).astype(np.float32)

    def _noise(self, topics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A document's noise around its neighbourhood's centre, of unit expected norm:
        isotropic, or with `local_share` of its variance in its topic's `local_rank`-dim
        subspace. Real embeddings vary along few directions locally; isotropic noise in
        all 384 makes graph search (HNSW) harder than on real data."""
        n, p = len(topics), self.profile
        z = rng.standard_normal((n, self.dim), dtype=np.float32) / np.float32(np.sqrt(self.dim))
        if not p.local_rank or not p.local_share:
            return z
        u = rng.standard_normal((n, p.local_rank), dtype=np.float32) / np.float32(np.sqrt(p.local_rank))
        local = np.empty_like(z)
        with threadpool_limits(limits=1, user_api="blas"):  # bitwise the same on any core count (above)
            for topic in np.unique(topics):
                rows = topics == topic
                local[rows] = u[rows] @ self.local_bases[topic].T
        return np.float32(np.sqrt(1 - p.local_share)) * z + np.float32(np.sqrt(p.local_share)) * local

    def _centres(self, topics: np.ndarray, group: np.ndarray) -> np.ndarray:
        """Each (topic, neighbourhood) centre, drawn from its own seed: the same in any chunk.
        Kept between chunks up to CENTRE_CACHE_BYTES (drawing one costs a generator of its
        own; a chunk meets most of a small dataset's neighbourhoods again)."""
        pairs, inverse = np.unique(np.stack([topics, group], axis=1), axis=0, return_inverse=True)
        centres = np.empty((len(pairs), self.dim), dtype=np.float32)
        with threadpool_limits(limits=1, user_api="blas"):
            for j, key in enumerate(map(tuple, pairs.tolist())):
                centre = self._centre_cache.get(key)
                if centre is None:
                    centre = self._centre(*key)
                    if len(self._centre_cache) >= CENTRE_CACHE_BYTES // (4 * self.dim):
                        self._centre_cache.clear()  # bounded: at the full scale there are millions
                    self._centre_cache[key] = centre
                centres[j] = centre
        return centres[inverse.reshape(-1)]

    def _centre(self, topic: int, g: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 29, self.dim, topic, g])
        s = rng.standard_normal(RANK) / np.sqrt(RANK)
        z = rng.standard_normal(self.dim) / np.sqrt(self.dim)
        c = self.centroids[topic] + SPREAD * (self.bases[topic].astype(np.float64) @ s + self.difficulty * z)
        return (c / np.linalg.norm(c)).astype(np.float32)

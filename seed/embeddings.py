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
noise (hard for every index). The default
is calibrated so that at the small scale IVFFlat lists=100 probes=1 reaches recall@10
around 0.3-0.7 and HNSW (m 16, ef_search 40) around 0.85-0.97, as the seeder issue asks.
Each knowledge base draws its documents from 1-3 topics; held-out queries come from
the same process, so they resemble documents without being any of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from seed.ids import unit_floats

DEFAULT_DIFFICULTY = 1.5
RANK = 16
SPREAD = 1.0
DOCS_PER_TOPIC = 5000  # topics larger than an IVFFlat list, as real topics are
TOPICS_PER_KB = 3


def n_topics(n_documents: int) -> int:
    return int(np.clip(n_documents // DOCS_PER_TOPIC, 8, 4096))


@dataclass
class TopicModel:
    seed: int
    dim: int
    topics: int
    difficulty: float = DEFAULT_DIFFICULTY

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


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)

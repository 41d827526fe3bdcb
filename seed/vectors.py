"""Which vectors a seed's documents and held-out queries get, from its config's
`embeddings` (seed/config.py):

- `synthetic` (the default): seed/embeddings.py's FittedModel with the profile fitted to
  real embeddings (FITTED), its `difficulty` the seed's (the centres' noise from 88,000
  documents on, scaled up below by the profile's difficulty_growth);
- `synthetic:topic`: seed/embeddings.py's TopicModel, the default of generator versions
  1-3 (the same vectors as version 3's default seeds);
- `real:all-MiniLM-L6-v2`: real embeddings of the real corpus (seed/real_embeddings.py),
  document i getting the i-th document text of the corpus, query j the j-th held-out text.

Real vectors are read from the store named by BENCH_EMBEDDINGS_DIR (`bench seed` sets it
for its worker processes) and must all be there before loading starts: workers never
embed (`bench seed` embeds what is missing first, in the main process).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.core.errors import BenchError
from seed.config import DEFAULT_EMBEDDINGS, TOPIC_EMBEDDINGS, SeedConfig
from seed.embeddings import FITTED, FittedModel, TopicModel, n_topics

REAL_PREFIX = "real:"


def embedding_model(config: SeedConfig):
    """The object that draws the seed's vectors (document_vectors, query_vectors)."""
    n_docs = config.counts["documents"]
    if config.embeddings == TOPIC_EMBEDDINGS:
        return TopicModel(config.seed, config.dim, n_topics(n_docs), config.difficulty)
    default = FittedModel.for_documents(config.seed, config.dim, n_docs, replace(FITTED, difficulty=config.difficulty))
    if config.embeddings == DEFAULT_EMBEDDINGS:
        return default
    if config.embeddings.startswith(REAL_PREFIX):
        return RealVectors(default, n_docs, config.counts.get("query_vectors", 0))
    if config.embeddings.startswith("synthetic:fitted"):
        raise BenchError(f"this seed used {config.embeddings}, the fitted profile before it became the default "
                         "generator: seed again (without --generator)")
    raise BenchError(f"unknown embeddings {config.embeddings!r} recorded with this seed")


class RealVectors:
    """Real embeddings by row. It draws (and drops) what the default synthetic model would,
    so every other column of the dataset is the same as with synthetic vectors."""

    def __init__(self, synthetic: FittedModel, n_documents: int, n_queries: int) -> None:
        self.synthetic, self.n_documents, self.n_queries = synthetic, n_documents, n_queries
        self._documents: np.ndarray | None = None
        self._queries: np.ndarray | None = None

    def _load(self) -> None:
        if self._documents is not None:
            return
        from seed.corpus import text_key
        from seed.real_embeddings import Store

        directory = os.environ.get("BENCH_EMBEDDINGS_DIR")
        if not directory:
            raise BenchError("real embeddings: BENCH_EMBEDDINGS_DIR names no embedding store")
        store = Store(Path(directory))
        documents, queries = store.corpus().split()
        documents, queries = documents[:self.n_documents], queries[:self.n_queries]
        keys = [text_key(t) for t in documents + queries]
        if len(documents) < self.n_documents or len(queries) < self.n_queries or store.missing(keys):
            raise BenchError(f"real embeddings: the store {directory} lacks vectors this seed needs; "
                             "`bench seed --embeddings real` embeds them first")
        vectors = store.get(keys)
        self._documents, self._queries = vectors[:len(documents)], vectors[len(documents):]

    def document_vectors(self, rows: np.ndarray, kb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self.synthetic.document_vectors(rows, kb, rng)  # the same draws as a synthetic seed
        self._load()
        return self._documents[np.asarray(rows)]

    def query_vectors(self, kb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self.synthetic.query_vectors(kb, rng)
        self._load()
        return self._queries[:len(kb)]

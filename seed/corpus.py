"""A real text corpus that needs no download: the docstrings of the installed Python.

The standard library and every installed distribution are parsed (never imported) with
`ast`; each module, class and function docstring of MIN_CHARS..MAX_CHARS characters
(cleaned as `inspect.cleandoc` does) is one text, and so is each paragraph of that length
of a longer docstring (doctest paragraphs, code rather than prose, excepted), duplicates
dropped. The paragraphs (corpus version 2) triple the texts: short docstrings alone gave
33,029 texts, too few for the 100K-document scale that `make bench` measures. The texts are
ordered by their content hash (sha256), so any prefix is a mixed sample of every package
rather than one package after another, and the order does not depend on the file system.
A text whose hash is a multiple of QUERY_EVERY is a held-out query, never a document:
documents and queries come from the same process, as the synthetic ones do.

The corpus depends on what is installed (another Python or other packages give other
texts), so it is written once to `corpus-2.jsonl` in the embedding store
(seed/real_embeddings.py) and read back from there; a store copied to another machine
(the test fixture) brings its corpus along. Scanning takes minutes on a big environment.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sysconfig
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MIN_CHARS, MAX_CHARS = 100, 512
QUERY_EVERY = 40  # about 2.5% of the texts are held-out queries
MAX_FILE_BYTES = 2_000_000  # generated tables, not prose
CORPUS_FILE = "corpus-2.jsonl"  # -2: paragraphs of longer docstrings too; a store's earlier corpus.jsonl is left alone


def text_key(text: str) -> str:
    """The content hash a text's embedding is cached under."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def is_query(key: str) -> bool:
    return int(key[:8], 16) % QUERY_EVERY == 0


@dataclass(frozen=True)
class Corpus:
    texts: list[str]  # in corpus order (by key)

    @property
    def keys(self) -> list[str]:
        return [text_key(t) for t in self.texts]

    def split(self) -> tuple[list[str], list[str]]:
        """(documents, queries), each in corpus order."""
        documents, queries = [], []
        for text in self.texts:
            (queries if is_query(text_key(text)) else documents).append(text)
        return documents, queries

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / CORPUS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(t) + "\n" for t in self.texts))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, directory: Path) -> "Corpus | None":
        path = directory / CORPUS_FILE
        if not path.exists():
            return None
        return cls([json.loads(line) for line in path.read_text().splitlines() if line])


def docstrings(source: bytes) -> list[str]:
    """The cleaned docstrings of one module's source of the corpus' length."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc and MIN_CHARS <= len(doc) <= MAX_CHARS:
                out.append(doc)
            elif doc and len(doc) > MAX_CHARS:
                out.extend(p for p in paragraphs(doc) if MIN_CHARS <= len(p) <= MAX_CHARS)
    return out


def paragraphs(doc: str) -> list[str]:
    """A long docstring's blank-line-separated paragraphs, doctest ones left out."""
    parts = (p.strip() for p in doc.split("\n\n"))
    return [p for p in parts if p and not p.startswith(">>>")]


def source_files() -> list[tuple[str, list[Path]]]:
    """(origin, .py files) for the standard library and each installed distribution."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__"}
    groups = [("stdlib", sorted(p for p in stdlib.rglob("*.py") if not skip & set(p.relative_to(stdlib).parts)))]
    seen = set()
    for dist in sorted(metadata.distributions(), key=lambda d: (d.metadata["Name"] or "").lower()):
        name = (dist.metadata["Name"] or "").lower()
        if not name or name in seen:
            continue
        seen.add(name)
        files = sorted({Path(f.locate()) for f in dist.files or [] if f.suffix == ".py"})
        groups.append((name, files))
    return groups


def scan(groups: list[tuple[str, list[Path]]] | None = None, tick=None) -> Corpus:
    """Build the corpus from the installed Python (tick() once per origin scanned)."""
    texts: set[str] = set()
    for _origin, files in source_files() if groups is None else groups:
        for path in files:
            try:
                if path.stat().st_size <= MAX_FILE_BYTES:
                    texts.update(docstrings(path.read_bytes()))
            except OSError:
                continue
        if tick:
            tick()
    return Corpus(sorted(texts, key=text_key))

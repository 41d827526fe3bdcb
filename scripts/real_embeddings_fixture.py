"""Write the test fixture of real embeddings (tests/fixtures/real_embeddings/) from a
store that holds them (made by `bench seed --embeddings real` or `bench calibrate` on a
machine with the extra real-embeddings): the first DOCUMENTS documents and QUERIES
queries of the store's corpus, their texts as the fixture's corpus and their vectors as
float16 (a few MB; the tests renormalise them).

    python scripts/real_embeddings_fixture.py STORE_DIR [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from seed.corpus import Corpus, text_key
from seed.real_embeddings import Store

DOCUMENTS, QUERIES = 3000, 200


def main(store_dir: str, out_dir: str = "tests/fixtures/real_embeddings") -> None:
    store = Store(Path(store_dir))
    documents, queries = store.corpus().split()
    texts = documents[:DOCUMENTS] + queries[:QUERIES]
    keys = [text_key(t) for t in texts]
    missing = store.missing(keys)
    if missing:
        sys.exit(f"{len(missing)} of the fixture's texts are not embedded in {store_dir}")
    out = Store(Path(out_dir))
    Corpus(sorted(texts, key=text_key)).save(out.directory)
    for old in out.parts.glob("*.npz") if out.parts.exists() else []:
        old.unlink()
    out.add(keys, store.get(keys), dtype=np.float16)
    print(f"{len(texts)} texts -> {out.directory}")


if __name__ == "__main__":
    main(*sys.argv[1:])

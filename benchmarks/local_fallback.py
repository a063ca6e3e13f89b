"""Stand-in for stores.local.LocalStore in bench_store.py until it lands (then delete this file).

Only what the benchmark uses: writer/finish/publish/live/close, and a reader with dense/lexical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np

from pioc_search import store as files
from pioc_search.analysis import question_terms


class LocalReader:
    def __init__(self, path: Path) -> None:
        self.version = files.IndexVersion(path)
        self.name, self.meta = self.version.name, self.version.meta
        self.passage_count = self.version.passage_count

    def dense(self, query: np.ndarray, k: int, filters: Any = None) -> list[tuple[int, float]]:
        params = None
        if filters is not None and filters.active:
            docs = [d.id for d in self.version.documents.values() if filters.matches(d)]
            ids = [r["id"] for d in docs for r in self.version.document_passages(d)]
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.array(ids, dtype=np.int64)))
        scores, ids = self.version.index.search(query.reshape(1, -1), k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def lexical(self, question: str, k: int, language: str | None = None) -> list[tuple[int, float]]:
        return self.version.lexical.search(question_terms(question, language), k)


class LocalFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def writer(self, dimension: int) -> Any:
        writer = files.VersionWriter(self.root, dimension)
        finish = writer.finish
        writer.finish = lambda: str(finish())  # type: ignore[method-assign]
        return writer

    def publish(self, name: str) -> None:
        files.publish(self.root, Path(name))

    def live(self) -> LocalReader | None:
        path = files.current_version(self.root)
        return LocalReader(path) if path else None

    def close(self) -> None:
        pass

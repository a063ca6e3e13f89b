"""The live index version, shared by every router: swapped when CURRENT changes (no restart)."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import HTTPException

from pioc_search import store
from pioc_search.embedders import Embedder, UnknownModel, embedder_for
from pioc_search.search import Searcher


class IndexHolder:
    """Hands out a Searcher for the live version, swapping it when CURRENT changes (no restart)."""

    def __init__(self, root: Path, embedder: Embedder) -> None:
        self.root = root
        self.embedder = embedder
        self._searcher: Searcher | None = None
        self._lock = threading.Lock()

    def get(self) -> Searcher:
        path = store.current_version(self.root)
        searcher = self._searcher
        if path is None and searcher is None:
            raise HTTPException(503, "no index has been built yet: run `pioc-search ingest`")
        if path is not None and (searcher is None or searcher.version.name != path.name):
            with self._lock:
                if self._searcher is None or self._searcher.version.name != path.name:
                    version = store.IndexVersion(path)
                    try:  # questions are encoded by the model the version was built with
                        embedder = embedder_for(version.meta.get("model_id"), self.embedder)
                    except UnknownModel as error:
                        raise HTTPException(503, str(error)) from error
                    self._searcher = Searcher(version, embedder)
                searcher = self._searcher
        assert searcher is not None
        return searcher

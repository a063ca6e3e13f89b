"""The live index version, shared by every router: swapped when the store's live version changes (no restart)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from fastapi import HTTPException

from pioc_search.embedders import Embedder, UnknownModel, embedder_for
from pioc_search.search import Searcher
from pioc_search.stores.base import Store, VersionGone


class IndexHolder:
    """Hands out a Searcher for the live version, swapping it when the live version changes.

    Every `get` asks the store for the live version's name (a file read or one small query), so a
    publish by any process, on any host sharing the store, is served from the next request on.
    The store may be given as a function that opens it: it is then opened at first use and again
    after a failure (StoreUnavailable), so a server started while its database was down recovers.
    """

    def __init__(self, store: Store | Callable[[], Store], embedder: Embedder) -> None:
        self._store = store if not callable(store) else None
        self._open_store = store if callable(store) else None
        self.embedder = embedder
        self._searcher: Searcher | None = None
        self._lock = threading.Lock()
        self._store_lock = threading.Lock()

    @property
    def store(self) -> Store:
        """The store (opened now if it was not yet); StoreUnavailable when it cannot be reached."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    assert self._open_store is not None
                    self._store = self._open_store()
        return self._store

    def get(self) -> Searcher:
        """The live version's Searcher; HTTP 503 before the first build. StoreUnavailable propagates."""
        name = self.store.live_name()
        searcher = self._searcher
        if name is None and searcher is None:
            raise HTTPException(503, "no index has been built yet: run `pioc-search ingest`")
        if name is not None and (searcher is None or searcher.version.name != name):
            with self._lock:
                if self._searcher is None or self._searcher.version.name != name:
                    self._searcher = self._open(name) or self._searcher
                searcher = self._searcher
        if searcher is None:
            raise HTTPException(503, "the live index version was just replaced: try again")
        return searcher

    def _open(self, name: str) -> Searcher | None:
        try:
            version = self.store.open(name)
        except VersionGone:  # pruned between the two calls: the next request sees its successor
            return None
        try:  # questions are encoded by the model the version was built with
            embedder = embedder_for(version.meta.get("model_id"), self.embedder)
        except UnknownModel as error:
            raise HTTPException(503, str(error)) from error
        version.warm()  # in the background: this request is answered at once
        return Searcher(version, embedder)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

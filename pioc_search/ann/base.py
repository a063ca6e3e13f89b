"""The one interface every dense (vector) index backend implements.

Vectors are unit length and scored by inner product (= cosine). Ids are passage ids (int64).
A version's index is saved to one FAISS file and loaded memory-mapped for serving: its pages then live
in the page cache, shared by every worker process that maps the same file, and it is read-only
(`add`/`remove` refuse rather than write into the mapping, which would crash the process).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np

Hits = list[tuple[int, float]]


class IdSet:
    """Passage ids to search within, with the FAISS selector over them built once: building one over
    10^4 ids costs milliseconds, so a caller that keeps the IdSet of a repeated filter pays it once."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def selector(self) -> faiss.IDSelector:
        return faiss.IDSelectorBatch(self.ids)  # copies the ids: reading it is safe from any thread

    @cached_property
    def _sorted(self) -> np.ndarray:
        return self.ids if np.all(self.ids[:-1] <= self.ids[1:]) else np.sort(self.ids)

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Which of `ids` are in the set (a boolean mask)."""
        members = self._sorted
        if not len(members):
            return np.zeros(len(ids), dtype=bool)
        return sorted_lookup(members, ids)[1]


def sorted_lookup(members: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of `values` is, or would go, in the ascending, non-empty array `members`, and whether it is there."""
    at = np.minimum(np.searchsorted(members, values), len(members) - 1)
    return at, members[at] == values


class ReadOnlyIndex(RuntimeError):
    """A memory-mapped (served) index was asked to change; load it with mmap=False to build from it."""


class DenseIndex(ABC):
    """A FAISS index of unit vectors keyed by passage id."""

    name: str  # the backend's name, as chosen by pioc_search.ann.backend_for
    # A filter passing at least this share of the vectors is applied to the ranked hits of the same scan
    # (`_post_filtered`) instead of through an IDSelector; None: always the selector.
    post_filter_share: float | None = None

    def __init__(self, index: faiss.Index, mapped: bool = False) -> None:
        self.index = index
        self.mapped = mapped

    @classmethod
    @abstractmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray) -> DenseIndex:
        """A new index over these vectors (float32, n × d) and ids."""

    @classmethod
    @abstractmethod
    def empty(cls, dimension: int) -> DenseIndex:
        """An index with no vectors."""

    @abstractmethod
    def ids(self) -> np.ndarray:
        """Every stored id (int64), in no particular order."""

    @abstractmethod
    def _params(self, k: int, allowed: int | None, exhaustive: bool) -> faiss.SearchParameters:
        """Search parameters for k hits when `allowed` ids pass the filter (None: no filter);
        `exhaustive` asks for an exact search."""

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def suits(self, count: int) -> bool:
        """Whether this index's structure still fits `count` vectors (else `fit` rebuilds it)."""
        return True

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self._writable()
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        self._writable()
        self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def reconstruct(self, passage_id: int) -> np.ndarray:
        return self.index.reconstruct(int(passage_id))

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these ids (float32, in their order)."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.index.reconstruct_batch(ids)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | IdSet | None = None,
               excluded: np.ndarray | None = None) -> Hits:
        """(id, score) best first: the k nearest among `allowed` (None: all) outside `excluded`.

        Filters act inside the search (a FAISS IDSelector, or for a wide filter on a backend that sets
        `post_filter_share` the ranked hits of the same scan), so k hits come back whenever k ids pass
        them: an approximate backend that finds fewer searches again exhaustively.
        """
        if self.ntotal == 0 or k <= 0 or (allowed is not None and not len(allowed)):
            return []
        if allowed is not None and not isinstance(allowed, IdSet):
            allowed = IdSet(allowed)
        k = min(k, self.ntotal)
        if allowed is not None and self.post_filter_share and len(allowed) >= self.post_filter_share * self.ntotal:
            hits = self._post_filtered(query, k, allowed)
            if hits is not None:
                return hits
        selector = None
        if allowed is not None:
            selector = allowed.selector
        elif excluded is not None and len(excluded):
            selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(np.asarray(excluded, dtype=np.int64)))
        passing = len(allowed) if allowed is not None else self.ntotal - (len(excluded) if excluded is not None else 0)
        hits = self._search(query, k, selector, len(allowed) if allowed is not None else None, exhaustive=False)
        if len(hits) < min(k, passing):
            hits = self._search(query, k, selector, passing, exhaustive=True)
        return hits

    def _post_filtered(self, query: np.ndarray, k: int, allowed: IdSet) -> Hits | None:
        """The k best of `allowed` among the ranked hits of the scan the selector search would make (the
        same lists: `_params` depends on the filter's size, not on k), read 2k / share deep; None when fewer
        than k of them pass (then the selector search runs). The result is exactly the selector search's, at a
        fraction of its cost for a wide filter: FAISS's IDSelectorBatch looks every scanned id up in a hash
        set (1M passages, 60% allowed: 16.9 → 4.4 ms; docs/performance.md)."""
        depth = min(self.ntotal, math.ceil(2 * k * self.ntotal / len(allowed)))
        params = self._params(depth, len(allowed), exhaustive=False)
        scores, ids = self.index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), depth, params=params)
        found = ids[0] >= 0
        scores, ids = scores[0][found], ids[0][found]
        keep = allowed.contains(ids)
        if keep.sum() < min(k, len(allowed)):
            return None
        return [(int(i), float(s)) for i, s in zip(ids[keep][:k], scores[keep][:k])]

    def _search(self, query: np.ndarray, k: int, selector: faiss.IDSelector | None, allowed: int | None,
                exhaustive: bool) -> Hits:
        params = self._params(k, allowed, exhaustive)
        if selector is not None:
            params.sel = selector
        scores, ids = self.index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    def _writable(self) -> None:
        if self.mapped:
            raise ReadOnlyIndex("this index is memory-mapped for serving; load it with mmap=False to change it")

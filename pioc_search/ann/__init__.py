"""Dense vector search behind one interface (`DenseIndex`); the one place that picks a backend.

`exact` scores every vector; `ivf` (approximate) takes over at PIOC_ANN_THRESHOLD passages, where an
exact scan stops being fast (docs/performance.md). `fit` converts when a build crosses the threshold,
`load` opens a saved index memory-mapped for serving or in memory for building.
"""

from __future__ import annotations

import os
from pathlib import Path

import faiss

from pioc_search.ann.base import DenseIndex, Hits, IdSet, ReadOnlyIndex, sorted_lookup
from pioc_search.ann.exact import ExactIndex
from pioc_search.ann.ivf import IVFIndex

__all__ = ["BACKENDS", "DEFAULT_THRESHOLD", "DenseIndex", "ExactIndex", "Hits", "IdSet", "IVFIndex", "ReadOnlyIndex",
           "backend_for", "empty", "fit", "load", "sorted_lookup", "threshold"]

BACKENDS: dict[str, type[DenseIndex]] = {"exact": ExactIndex, "ivf": IVFIndex}
# One question is one small scan: a single thread is faster than two fighting over a tiny job, and
# concurrent requests already use both cores.
faiss.omp_set_num_threads(1)

DEFAULT_THRESHOLD = 30_000  # passages; an exact scan costs ~0.09 ms of CPU per 1,000 (docs/performance.md)


def threshold() -> int:
    """Passage count from which the approximate backend is used (PIOC_ANN_THRESHOLD)."""
    value = os.environ.get("PIOC_ANN_THRESHOLD", "").strip()
    return int(value) if value else DEFAULT_THRESHOLD


def backend_for(count: int, limit: int | None = None) -> type[DenseIndex]:
    """The backend for a version of `count` passages (`limit` overrides the configured threshold)."""
    return IVFIndex if count and count >= (threshold() if limit is None else limit) else ExactIndex


def empty(dimension: int) -> DenseIndex:
    return ExactIndex.empty(dimension)


def fit(index: DenseIndex, limit: int | None = None) -> DenseIndex:
    """`index`, or the same vectors rebuilt in the backend that suits their number."""
    backend = backend_for(index.ntotal, limit)
    if isinstance(index, backend) and index.suits(index.ntotal):
        return index
    ids = index.ids()
    return backend.build(index.vectors(ids), ids)


def load(path: Path, mmap: bool = True) -> DenseIndex:
    """A saved index; memory-mapped (read-only, pages shared between processes) unless mmap=False,
    which reads a private copy that a build may change."""
    raw = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if mmap else 0)
    for backend in BACKENDS.values():
        if backend.accepts(raw):  # type: ignore[attr-defined]
            return backend(raw, mapped=mmap)
    raise ValueError(f"{path}: unknown vector index type {type(raw).__name__}")

"""Embedding models behind one interface (`base.Embedder`); the one place that picks a backend.

Setting `model` (env PIOC_MODEL) names it: multilingual-e5-small (default) or all-MiniLM-L6-v2; `precision`
(PIOC_PRECISION) how passages run (base.default_precision).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from pioc_search.embedders.base import Embedder, default_cache_dir
from pioc_search.embedders.e5 import E5Small
from pioc_search.embedders.minilm import MiniLM

if TYPE_CHECKING:
    from pioc_search.settings import Settings

__all__ = ["BACKENDS", "E5Small", "Embedder", "MiniLM", "UnknownModel", "default_cache_dir", "embedder_for",
           "load_embedder"]

BACKENDS: dict[str, type[Embedder]] = {"multilingual-e5-small": E5Small, "all-MiniLM-L6-v2": MiniLM}


class UnknownModel(ValueError):
    pass


def load_embedder(settings: Settings) -> Embedder:
    """The configured model (not loaded yet: the first encode or `load()` does that)."""
    backend = BACKENDS.get(settings.model)
    if backend is None:
        raise UnknownModel(f"unknown model {settings.model!r} (PIOC_MODEL): choose one of {', '.join(BACKENDS)}")
    embedder = (MiniLM(settings.model_path, settings.batch_size, precision=settings.precision) if backend is MiniLM
                else backend(batch_size=settings.batch_size, precision=settings.precision))
    if settings.model_threads:
        embedder.threads = settings.model_threads
    return embedder


_others: dict[str, Embedder] = {}
_others_lock = threading.Lock()


def embedder_for(model_id: str | None, configured: Embedder) -> Embedder:
    """The embedder an index version was built with: questions must be encoded by the same model.

    Usually the configured one; after the model setting changed, the live version keeps being
    served (with its own model, loaded once) until the next ingest replaces it."""
    if model_id is None or model_id == configured.model_id:
        return configured
    with _others_lock:
        if model_id not in _others:
            backend = next((b for b in BACKENDS.values() if b.model_id == model_id), None)
            if backend is None:
                raise UnknownModel(f"the live index was built with {model_id!r}, which this version cannot load")
            _others[model_id] = backend(batch_size=configured.batch_size, cache_dir=configured.cache_dir)
        return _others[model_id]

"""The one place that loads the embedding model and turns text into normalised vectors."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cached_property, lru_cache

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384


class Embedder:
    """all-MiniLM-L6-v2 from the bundled package, on the CPU."""

    model_id = MODEL_ID
    dimension = DIMENSION

    def __init__(self, model_path: str, batch_size: int = 32) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self.calls = 0  # number of texts encoded so far; lets tests prove what was re-embedded
        self._query_cache = lru_cache(maxsize=1024)(lambda text: self.encode([text])[0])

    @cached_property
    def model(self):  # type: ignore[no-untyped-def]
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()  # token counts of over-long sentences are expected
        return SentenceTransformer(self.model_path, device="cpu")

    def load(self) -> None:
        """Load the model now rather than on first use."""
        _ = self.model

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word-piece token counts, without the [CLS]/[SEP] markers."""
        if not texts:
            return []
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def encode(
        self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """L2-normalised float32 vectors, shape (len(texts), 384), encoded in batches."""
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths pad less
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = [texts[i] for i in rows]
            out[rows] = self.model.encode(
                batch, batch_size=len(batch), normalize_embeddings=True, convert_to_numpy=True
            )
            self.calls += len(batch)
            if on_batch:
                on_batch(len(batch))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """The question's vector; repeated questions (next page, another filter) are not re-encoded."""
        return self._query_cache(text).copy()

    @cached_property
    def _word_piece_table(self) -> np.ndarray:
        table = self.model[0].auto_model.embeddings.word_embeddings.weight.detach().numpy()
        return table / np.linalg.norm(table, axis=1, keepdims=True)

    def word_piece_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length mean of each text's word-piece input embeddings: a bag-of-words sense of
        meaning at a tiny fraction of a full encoding's cost."""
        ids = self.model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        table = self._word_piece_table
        vectors = np.stack([table[row].mean(axis=0) if row else np.zeros(table.shape[1], np.float32) for row in ids])
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    def clear_query_cache(self) -> None:
        """Forget cached question vectors (for timing runs that must encode every question)."""
        self._query_cache.cache_clear()

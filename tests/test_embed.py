"""The ONNX Runtime embedder reproduces the model's reference vectors (sentence-transformers)."""

from __future__ import annotations

import numpy as np
from sentence_transformers import SentenceTransformer

from pioc_search.embed import Embedder

TEXTS = [
    "What reduced youth homicide during COVID lockdowns?",
    "Night-time street robbery fell by 27% in treated segments. " * 40,  # longer than 256 tokens: truncated
    "Bogotá",
    "",
]


def test_vectors_match_sentence_transformers(embedder: Embedder) -> None:
    reference = SentenceTransformer(str(embedder.model_path), device="cpu").encode(TEXTS, normalize_embeddings=True)
    vectors = embedder.encode(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(vectors * reference, axis=1)) > 0.9999


def test_batches_and_order_do_not_change_vectors(embedder: Embedder) -> None:
    together = embedder.encode(TEXTS)
    alone = np.stack([embedder.encode([t])[0] for t in TEXTS])
    assert np.allclose(together, alone, atol=1e-5)
    assert np.allclose(embedder.encode_query(TEXTS[0]), together[0], atol=1e-5)


def test_token_counts_exclude_special_markers(embedder: Embedder) -> None:
    assert embedder.count_tokens(["violence interruption", ""]) == [2, 0]
    assert embedder.max_tokens == 256


def test_the_exported_model_is_cached_for_the_next_process(embedder: Embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    embedder.load()
    cached = list(embedder.cache_dir.glob("*.onnx"))
    assert cached and not list(embedder.cache_dir.glob(".*.tmp"))
    again = Embedder(str(embedder.model_path), cache_dir=embedder.cache_dir)
    assert np.allclose(again.encode(TEXTS[:1]), embedder.encode(TEXTS[:1]), atol=1e-6)

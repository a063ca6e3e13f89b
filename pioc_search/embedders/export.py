"""Export a transformers encoder to ONNX with mean pooling and L2 normalisation in the graph (torch, once),
optionally quantised to int8."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path


def export_pooled(model, inputs: Sequence[str], target: Path) -> None:  # type: ignore[no-untyped-def]
    """Export a transformers encoder with mean pooling and L2 normalisation to ONNX."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = model

        def forward(self, *args):  # type: ignore[no-untyped-def]
            named = dict(zip(inputs, args))
            hidden = self.transformer(**named).last_hidden_state
            mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=1)

    example = tuple(torch.ones((1, 4), dtype=torch.int64) if name != "token_type_ids"
                    else torch.zeros((1, 4), dtype=torch.int64) for name in inputs)
    axes = {name: {0: "batch", 1: "tokens"} for name in inputs} | {"embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Pooled(), example, str(target), input_names=list(inputs), output_names=["embedding"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)


def export_quantised(model, inputs: Sequence[str], target: Path) -> None:  # type: ignore[no-untyped-def]
    """`export_pooled`, then `quantise_int8` (the float file is a temporary one beside `target`)."""
    float_file = target.with_name(target.name + ".float.onnx")
    try:
        export_pooled(model, inputs, float_file)
        quantise_int8(float_file, target)
    finally:
        for leftover in target.parent.glob(float_file.name + "*"):
            leftover.unlink()


def quantise_int8(source: Path, target: Path) -> None:
    """ONNX Runtime dynamic quantisation: int8 weights per output channel (matrix products and the
    word-embedding lookup); activations are quantised on the fly, with one scale per run."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), per_channel=True, weight_type=QuantType.QInt8)

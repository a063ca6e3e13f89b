"""Passages in bfloat16 on CPUs that compute it natively (AVX-512 BF16 or AMX), through torch (oneDNN).

In float32, ONNX Runtime already runs these models near the CPU's float peak (E5: ~75 GFLOP/s on one Zen 4
core for a 240-token passage); bfloat16 products run at twice the rate on such CPUs. Here only the linear
layers' weights are bfloat16, and autocast runs their products in bfloat16 with float accumulation, while
embeddings, layer norms, softmax and the pooling stay float: cosine to the float vectors ≥ 0.9999, and one
passage costs ~0.7× the CPU of ONNX Runtime's float graph (docs/models.md, "bfloat16 passages").

Questions stay on ONNX Runtime in float: at ~15 tokens torch's per-operator cost outweighs the faster
products (MiniLM 7.0 ms against 4.3). The session below answers ONNX Runtime's `run` and `get_inputs`, so
the embedder runs it like any other session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from pioc_search.embedders.export import mean_pooled

RECIPE = "torch-bf16-1"  # how passages' vectors are made in bfloat16 (part of Embedder.vectors_id)
NATIVE_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs with bfloat16 products in hardware


@lru_cache(maxsize=1)
def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bfloat16 products natively; elsewhere oneDNN emulates them, slower than float."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return any(flag in flags for flag in NATIVE_FLAGS)


def with_bf16_linears(model):  # type: ignore[no-untyped-def]
    """`model` (a transformers encoder, float) with its linear layers' weights in bfloat16, in place."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
    return model.eval()


class Bf16Session:
    """A transformers encoder with bfloat16 linear layers, run like an ONNX Runtime session: `run(None,
    feed)` returns `[unit-length mean-pooled vectors]`. One core per run (torch's intra-op threads are set to
    1 when the session is made): the embedder runs several passages at once on its own threads."""

    def __init__(self, model, inputs: Sequence[str]) -> None:  # type: ignore[no-untyped-def]
        import torch

        torch.set_num_threads(1)
        self.model = with_bf16_linears(model)
        self.inputs = tuple(inputs)

    def get_inputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name=name) for name in self.inputs]

    def run(self, _outputs: object, feed: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        import torch

        tensors = {name: torch.from_numpy(feed[name]) for name in self.inputs}
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            hidden = self.model(**tensors).last_hidden_state.float()
            return [mean_pooled(hidden, tensors["attention_mask"]).numpy()]

"""Partial int8 graphs of multilingual-e5-small against float, on the SciFact subset of bench_int8_quality.

    .venv/bin/python benchmarks/bench_int8_variants.py [--distractors 500]

The full int8 graph (`E5Small(precision="int8")`) quantises every matrix product of the fused graph,
attention's Q/K/V projections included. This script also builds, from the cached float graph, the
variants that keep the most sensitive parts in float, and scores each by dense nDCG@10 exactly as
bench_int8_quality.py does (issue 10's rule: at most 0.005 lost):
- "matmul": int8 MatMul and the word-embedding Gather only; the fused Attention operators stay float;
- "matmul-no-ffn-out": as "matmul", and the feed-forward output projections (the MatMul fed by Gelu) float.
Variant files are written to a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import onnx
from onnx import TensorProto
from onnxruntime.quantization import QuantType, quantize_dynamic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_int8_quality import ROOT, load, run  # noqa: E402

sys.path.insert(0, str(ROOT))
from pioc_search.embedders import E5Small  # noqa: E402


def ffn_outputs(path: Path) -> list[str]:
    """The MatMul nodes whose input comes from a Gelu (the feed-forward output projections)."""
    graph = onnx.load(str(path)).graph
    producers = {output: node for node in graph.node for output in node.output}
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[0] in producers
            and "Gelu" in producers[n.input[0]].op_type]


def variant(float_file: Path, target: Path, name: str) -> Path:
    exclude = ffn_outputs(float_file) if name == "matmul-no-ffn-out" else []
    quantize_dynamic(str(float_file), str(target), per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Gather"], nodes_to_exclude=exclude,
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distractors", type=int, default=500)
    args = parser.parse_args()
    corpus, queries, qrels = load(args.distractors)
    rows = []
    float_embedder = E5Small(precision="fp32")
    float_file = float_embedder._onnx_file()
    rows.append(("float", run(float_embedder, corpus, queries, qrels)[1]))
    rows.append(("int8 (all matrix products)", run(E5Small(precision="int8"), corpus, queries, qrels)[1]))
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("matmul", "matmul-no-ffn-out"):
            embedder = E5Small(precision="int8")
            path = variant(float_file, Path(tmp) / f"{name}.onnx", name)
            embedder._onnx_file = lambda path=path: path  # type: ignore[method-assign]
            rows.append((name, run(embedder, corpus, queries, qrels)[1]))
    print(f"\n## multilingual-e5-small, dense nDCG@10, SciFact test ({len(queries)} questions, {len(corpus)} abstracts)\n")
    print("| graph | nDCG@10 | lost vs float |\n|---|---:|---:|")
    for name, ndcg in rows:
        print(f"| {name} | {ndcg:.4f} | {rows[0][1] - ndcg:+.4f} |")


if __name__ == "__main__":
    main()

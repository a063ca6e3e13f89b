"""Partial and calibrated int8 graphs of multilingual-e5-small against float, on SciFact as bench_precision.

    .venv/bin/python benchmarks/bench_int8_variants.py [--distractors 500 | --all] [--variants NAME ...]
                                                       [--timing 100] [--work-dir /tmp/pioc-int8-variants]

Each variant is built from the cached fused float graph and scored by dense nDCG@10 exactly as
bench_precision.py does (one vector per abstract, "title\\ntext"; one per test question). Issue 10's
rule for an int8 default: cosine to the float vectors ≥ 0.99 (minimum over passages) and at most 0.005
nDCG@10 lost. Every variant embeds one text per run, so a vector depends on its text alone.

Variants (`--variants`; `float` is always run first):
- int8: every matrix product of the fused graph, attention's Q/K/V projections too (`QAttention`);
- matmul: int8 MatMul only (3 per layer: attention output, feed-forward in and out); fused Attention float;
- int8-no-ffn-out: as int8, but the feed-forward output projections (the MatMul fed by BiasGelu) float;
- no-ffn-out: as matmul, and the feed-forward output projections float;
- ...-first1, -last2, -first1-last1, ...: those encoder layers' MatMuls float as well;
- ...-rr: weights quantised to 7 bits (`reduce_range`; ONNX Runtime's advice for CPUs without VNNI,
  whose u8×s8 products saturate 16-bit sums); ...-u8u8: uint8 weights (another kernel, no saturation);
  ...-wasym: asymmetric weights (WeightSymmetric=False);
- static-minmax / static-percentile / static-entropy: static QDQ (int8 per-channel weights, uint8
  activations with calibrated scales) on the MatMuls, calibrated on SciFact abstracts that are neither
  relevant to a test question nor in the subset, plus training questions (`--calibration` texts);
  a `-rr` suffix adds reduce_range.

CPU ms per passage: time.process_time over `--timing` abstracts, one text per run, float and each variant
interleaved in blocks of 10 so that load changes hit both alike; the ratio to float is the figure to read.
Vectors are kept by document id in `--work-dir` (one .npz per variant), so a run over the whole corpus
reuses the subset's work; variant graphs are kept there too.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_precision import ROOT, SCIFACT, load, ndcg

sys.path.insert(0, str(ROOT))
from pioc_search.embedders import E5Small
from pioc_search.embedders.export import quantise_int8

DEFAULT_VARIANTS = ["matmul", "no-ffn-out"]


def matmuls(path: Path) -> list[onnx.NodeProto]:
    return [n for n in onnx.load(str(path), load_external_data=False).graph.node if n.op_type == "MatMul"]


def ffn_outputs(path: Path) -> list[str]:
    """The MatMul nodes whose input comes from a Gelu (the feed-forward output projections)."""
    graph = onnx.load(str(path), load_external_data=False).graph
    producers = {output: node for node in graph.node for output in node.output}
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[0] in producers
            and "Gelu" in producers[n.input[0]].op_type]


def layer_matmuls(path: Path, layers: set[int]) -> list[str]:
    """The MatMul nodes of these encoder layers (node names carry `layer.N`)."""
    return [n.name for n in matmuls(path) if int(re.search(r"layer\.(\d+)/", n.name).group(1)) in layers]


def parse(name: str) -> tuple[str, set[int], dict[str, bool]]:
    """(base, float layers, flags) of a variant name such as no-ffn-out-first1-last1-rr."""
    flags = {flag: name.endswith("-" + flag) or f"-{flag}-" in name + "-" for flag in ("rr", "u8u8", "wasym")}
    first = re.search(r"-first(\d+)", name)
    last = re.search(r"-last(\d+)", name)
    layers = set(range(int(first.group(1)))) if first else set()
    layers |= set(range(12 - int(last.group(1)), 12)) if last else set()
    base = re.sub(r"-(first\d+|last\d+|rr|u8u8|wasym)", "", name)
    return base, layers, flags


def typed_matmul_inputs(source: Path, target: Path) -> None:
    """The graph with the MatMul inputs declared float: the fused operators that produce them carry no
    inferred type, and without one quantize_static leaves the activation unquantised (weights only)."""
    model = onnx.load(str(source))
    known = {v.name for v in model.graph.value_info}
    for name in {n.input[0] for n in model.graph.node if n.op_type == "MatMul"} - known:
        model.graph.value_info.append(onnx.helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    onnx.save(model, str(target))


class Texts(CalibrationDataReader):
    """Feeds of one text each, for calibration. The histogram calibrators (Percentile, Entropy) stack
    every run's tensors, so for them each abstract is cut to its first `tokens` (and questions left out)."""

    def __init__(self, embedder: E5Small, passages: list[str], questions: list[str], tokens: int = 0) -> None:
        ids = embedder._token_ids(passages, query=False, model_input=True)
        ids += [] if tokens else embedder._token_ids(questions, query=True, model_input=True)
        if tokens:
            ids = [row[: tokens - 1] + row[-1:] for row in ids if len(row) >= tokens]
        self.feeds = iter([{"input_ids": np.array([row], dtype=np.int64),
                            "attention_mask": np.ones((1, len(row)), dtype=np.int64)} for row in ids])

    def get_next(self):  # type: ignore[no-untyped-def]
        return next(self.feeds, None)


def build(name: str, float_file: Path, target: Path, calibration: Callable[[bool], Texts]) -> None:
    base, layers, flags = parse(name)
    weights = QuantType.QUInt8 if flags["u8u8"] else QuantType.QInt8
    extra = {"DefaultTensorType": TensorProto.FLOAT, "WeightSymmetric": not flags["wasym"]}
    exclude = layer_matmuls(float_file, layers)
    if base == "int8" and not any(flags.values()) and not layers:
        quantise_int8(float_file, target)
    elif base in ("int8", "int8-no-ffn-out", "matmul", "no-ffn-out"):
        exclude += ffn_outputs(float_file) if base.endswith("no-ffn-out") else []
        ops = None if base.startswith("int8") else ["MatMul"]
        quantize_dynamic(str(float_file), str(target), per_channel=True, weight_type=weights,
                         reduce_range=flags["rr"], op_types_to_quantize=ops, nodes_to_exclude=exclude,
                         extra_options=extra)
    elif base.startswith("static-"):
        method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                  "entropy": CalibrationMethod.Entropy}[base.removeprefix("static-")]
        extra |= {"CalibPercentile": 99.99} if method == CalibrationMethod.Percentile else {}
        typed = target.with_name(target.name + ".typed.onnx")
        typed_matmul_inputs(float_file, typed)
        try:
            quantize_static(str(typed), str(target), calibration(method != CalibrationMethod.MinMax), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=["MatMul"], per_channel=True, reduce_range=flags["rr"],
                            activation_type=QuantType.QUInt8, weight_type=weights, nodes_to_exclude=exclude,
                            calibrate_method=method, extra_options=extra)
        finally:
            typed.unlink(missing_ok=True)
    else:
        raise SystemExit(f"unknown variant {name!r}")


class VectorStore:
    """A variant's vectors by text id, in one .npz, saved as they are made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path) as saved:
                self.vectors = dict(zip(saved["ids"].tolist(), saved["vectors"]))

    def save(self) -> None:
        partial = self.path.with_suffix(".partial.npz")
        np.savez(partial, ids=np.array(list(self.vectors)), vectors=np.stack(list(self.vectors.values())))
        partial.replace(self.path)

    def fill(self, embedder: E5Small, texts: dict[str, str], query: bool) -> np.ndarray:
        prefix = "q:" if query else "d:"
        missing = [key for key in texts if prefix + key not in self.vectors]
        for n, key in enumerate(missing, 1):
            self.vectors[prefix + key] = embedder._run([texts[key]], embedder._session, query=query)[0]
            if n % 200 == 0 or n == len(missing):
                self.save()
                print(f"  {self.path.stem}: {n}/{len(missing)} {'questions' if query else 'abstracts'}",
                      file=sys.stderr, flush=True)
        return np.stack([self.vectors[prefix + key] for key in texts])


def cpu_ms(embedders: dict[str, E5Small], texts: list[str], block: int = 10) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """(CPU ms per passage, vectors) of each embedder, one text per run, interleaved in blocks."""
    spent = dict.fromkeys(embedders, 0.0)
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in embedders}
    for start in range(0, len(texts), block):
        for name, embedder in embedders.items():
            tick = time.process_time()
            for text in texts[start : start + block]:
                vectors[name].append(embedder._run([text], embedder._session, query=False)[0])
            spent[name] += time.process_time() - tick
    return ({name: 1000 * total / len(texts) for name, total in spent.items()},
            {name: np.stack(found) for name, found in vectors.items()})


def embedder_for(path: Path) -> E5Small:
    embedder = E5Small(precision="int8")
    embedder._onnx_file = lambda path=path: path  # type: ignore[method-assign]
    embedder.load()
    return embedder


def calibration_texts(corpus: dict[str, str], count: int) -> tuple[list[str], list[str]]:
    """`count` SciFact abstracts outside the evaluated documents (all abstracts not relevant to a test
    question when the whole corpus is evaluated), and the titles of count/2 of them as questions (the
    SciFact copy holds only the test questions)."""
    from pioc_search.evaluate import read_qrels

    relevant = {doc for rels in read_qrels(SCIFACT / "qrels" / "test.tsv").values() for doc in rels}
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        everything = {str(r["_id"]): (r["title"], r["text"]) for r in map(json.loads, handle) if r}
    pool = sorted(set(everything) - relevant - set(corpus)) or sorted(set(everything) - relevant)
    chosen = [everything[d] for d in random.Random(1).sample(pool, count)]
    return [f"{title}\n{text}" for title, text in chosen], [title for title, _ in chosen[: count // 2]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distractors", type=int, default=500)
    parser.add_argument("--all", action="store_true", help="the whole corpus (5,183 abstracts)")
    parser.add_argument("--variants", nargs="*", default=DEFAULT_VARIANTS)
    parser.add_argument("--timing", type=int, default=100, help="abstracts timed per variant (0: no timing)")
    parser.add_argument("--calibration", type=int, default=200, help="calibration abstracts (static variants)")
    parser.add_argument("--no-score", action="store_true", help="timing and build only (no SciFact vectors)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/pioc-int8-variants"))
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    corpus, queries, qrels = load(None if args.all else args.distractors)
    # subset documents first, so that a run over the whole corpus reuses a subset run's vectors
    subset, _, _ = load(500)
    corpus = {k: corpus[k] for k in sorted(corpus, key=lambda k: (k not in subset, k))}
    float_embedder = E5Small(precision="fp32")
    float_file = float_embedder._onnx_file()
    float_embedder.load()
    timing = [corpus[k] for k in random.Random(2).sample(sorted(corpus), min(args.timing, len(corpus)))]
    embedders = {"float": float_embedder}
    for name in args.variants:
        path = args.work_dir / f"{name}.onnx"
        if not path.exists():
            tick = time.perf_counter()
            build(name, float_file, path, lambda fixed: Texts(float_embedder, *calibration_texts(corpus, args.calibration),
                                                             tokens=128 if fixed else 0))
            print(f"{name}: built in {time.perf_counter() - tick:.0f} s", file=sys.stderr, flush=True)
        embedders[name] = embedder_for(path)
    ms, timed = cpu_ms(embedders, timing) if timing else ({}, {})
    rows = []
    for name in args.variants:
        row = {"name": name, "ms": ms.get(name, 0.0), "float_ms": ms.get("float", 0.0)}
        if timing:
            cosines = np.sum(timed[name] * timed["float"], axis=1)
            row |= {"tmin": float(cosines.min()), "tmean": float(cosines.mean())}
        rows.append(row)
    reference = None
    if not args.no_score:
        store = VectorStore(args.work_dir / "float.npz")
        questions = store.fill(float_embedder, queries, True)  # first: cheap, and a longer run then shares them
        reference = (store.fill(float_embedder, corpus, False), questions)
        for row in rows:
            store = VectorStore(args.work_dir / f"{row['name']}.npz")
            embedder = embedders[row["name"]]
            questions = store.fill(embedder, queries, True)
            docs = store.fill(embedder, corpus, False)
            cosines = np.sum(docs * reference[0], axis=1)
            row |= {"ndcg": ndcg(docs, questions, list(corpus), list(queries), qrels),
                    "min": float(cosines.min()), "mean": float(cosines.mean())}
            print(row, file=sys.stderr, flush=True)
    report(rows, reference, corpus, queries, qrels, len(timing))


def report(rows: list[dict], reference, corpus, queries, qrels, timed: int) -> None:  # type: ignore[no-untyped-def]
    print(f"\n## multilingual-e5-small, dense nDCG@10, SciFact test ({len(queries)} questions, {len(corpus)} "
          f"abstracts); CPU and cosine over {timed} of them, one per run, interleaved with float\n")
    base = ndcg(reference[0], reference[1], list(corpus), list(queries), qrels) if reference else None
    print("| graph | nDCG@10 | lost vs float | cosine to float, all abstracts (min / mean) "
          "| cosine, timed abstracts (min / mean) | CPU ms/passage (float) | float ÷ variant |")
    print("|---|---:|---:|---|---|---:|---:|")
    if base is not None:
        print(f"| float | {base:.4f} | - | 1 | 1 | | |")
    for r in rows:
        quality = (f"{r['ndcg']:.4f} | {base - r['ndcg']:+.4f} | {r['min']:.4f} / {r['mean']:.4f}"
                   if "ndcg" in r else " | | ")
        timed_cos = f"{r['tmin']:.4f} / {r['tmean']:.4f}" if "tmin" in r else ""
        ratio = f"{r['float_ms'] / r['ms']:.2f}" if r["ms"] else ""
        print(f"| {r['name']} | {quality} | {timed_cos} | {r['ms']:.0f} ({r['float_ms']:.0f}) | {ratio} |")


if __name__ == "__main__":
    main()

"""int8 against fp32 ONNX for one embedding model on SciFact (BEIR): dense nDCG@10 and vector cosine.

    .venv/bin/python benchmarks/bench_int8_quality.py [--model multilingual-e5-small] [--distractors 700 | --all]

The acceptance rule for an int8 default (issue 10): cosine to the fp32 vectors ≥ 0.99 and at most
0.005 nDCG@10 lost. Dense retrieval only, no chunking: each abstract is one vector of "title\\ntext"
encoded as a passage (truncated at the model's token limit, as the pipeline would), each test
question one vector; abstracts are ranked by cosine and scored with evaluate.ndcg_at_k. The
documents are every abstract judged relevant to a test question plus `--distractors` others drawn at
random (seed 0); `--all` uses the whole corpus (5,183 abstracts: about 2 × 40 min on a busy 2-core
machine). A subset makes absolute nDCG higher than on the full corpus; the int8 − fp32 difference is
what this measures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pioc_search.embedders import BACKENDS, Embedder  # noqa: E402
from pioc_search.evaluate import ndcg_at_k, read_qrels  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "evaldata" / "scifact"


def load(distractors: int | None) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """(documents by id, test questions by id, judgements), documents subset as described above."""
    qrels = read_qrels(SCIFACT / "qrels" / "test.tsv")
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        corpus = {str(r["_id"]): f"{r['title']}\n{r['text']}" for r in map(json.loads, handle) if r}
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as handle:
        queries = {str(q["_id"]): q["text"] for q in map(json.loads, handle) if str(q["_id"]) in qrels}
    if distractors is not None:
        relevant = {doc for rels in qrels.values() for doc in rels}
        others = sorted(set(corpus) - relevant)
        keep = relevant | set(random.Random(0).sample(others, min(distractors, len(others))))
        corpus = {doc: text for doc, text in corpus.items() if doc in keep}
    return corpus, queries, qrels


def run(embedder: Embedder, corpus: dict[str, str], queries: dict[str, str],
        qrels: dict[str, dict[str, int]]) -> tuple[np.ndarray, float, float]:
    """(document vectors, mean nDCG@10, documents/s)."""
    embedder.load()
    tick = time.perf_counter()
    docs = embedder.encode(list(corpus.values()))
    speed = len(docs) / (time.perf_counter() - tick)
    questions = np.stack([embedder.encode_query(question) for question in queries.values()])
    return docs, ndcg(docs, questions, list(corpus), list(queries), qrels), speed


def ndcg(docs: np.ndarray, questions: np.ndarray, ids: list[str], qids: list[str],
         qrels: dict[str, dict[str, int]]) -> float:
    """Mean nDCG@10 of the dense ranking of documents `ids` for each question vector (`qids` order)."""
    ranked = np.argsort(-(questions @ docs.T), axis=1)[:, :10]
    return float(np.mean([ndcg_at_k([ids[i] for i in row], qrels[q]) for q, row in zip(qids, ranked)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="multilingual-e5-small", choices=list(BACKENDS))
    parser.add_argument("--distractors", type=int, default=700)
    parser.add_argument("--all", action="store_true", help="the whole corpus instead of a subset")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "int8"], choices=["fp32", "int8"],
                        help="one only: just its nDCG (to run the two in parallel processes)")
    args = parser.parse_args()
    corpus, queries, qrels = load(None if args.all else args.distractors)
    print(f"SciFact test: {len(queries)} questions, {len(corpus)} abstracts; {args.model}", file=sys.stderr)
    results = {}
    for precision in args.precisions:
        embedder = BACKENDS[args.model](precision=precision)
        results[precision] = run(embedder, corpus, queries, qrels)
        print(f"{precision}: nDCG@10 {results[precision][1]:.4f}, {results[precision][2]:.1f} abstracts/s",
              file=sys.stderr, flush=True)
    if len(results) < 2:
        return
    cosines = np.sum(results["fp32"][0] * results["int8"][0], axis=1)
    loss = results["fp32"][1] - results["int8"][1]
    print(f"\n## int8 vs fp32, {args.model}, SciFact test ({len(queries)} questions, {len(corpus)} abstracts"
          f"{'' if args.all else ' = relevant + random distractors'}; load average {os.getloadavg()[0]:.1f})\n")
    print("| precision | dense nDCG@10 | abstracts/s (loaded) |\n|---|---:|---:|")
    for precision, (_, ndcg, speed) in results.items():
        print(f"| {precision} | {ndcg:.4f} | {speed:.1f} |")
    ok = cosines.min() >= 0.99 and loss <= 0.005
    print(f"\nint8 → fp32 cosine: min {cosines.min():.4f}, median {np.median(cosines):.4f}, "
          f"p1 {np.percentile(cosines, 1):.4f}; nDCG@10 lost {loss:+.4f}; "
          f"rule (cosine ≥ 0.99, loss ≤ 0.005): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()

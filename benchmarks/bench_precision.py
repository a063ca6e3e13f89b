"""Passage precisions (bf16, int8) against fp32 for one embedding model on SciFact (BEIR): dense nDCG@10,
vector cosine and abstracts per second.

    .venv/bin/python benchmarks/bench_precision.py [--model multilingual-e5-small] [--distractors 700 | --all]
        [--precisions fp32 bf16 int8]

The acceptance rule for a default other than fp32 (issue 10, written for int8): cosine to the fp32 vectors
≥ 0.99 and at most 0.005 nDCG@10 lost. Questions are encoded as the embedder does (fp32 for fp32 and bf16).
Dense retrieval only, no chunking: each abstract is one vector of "title\\ntext"
encoded as a passage (truncated at the model's token limit, as the pipeline would), each test
question one vector; abstracts are ranked by cosine and scored with evaluate.ndcg_at_k. The
documents are every abstract judged relevant to a test question plus `--distractors` others drawn at
random (seed 0); `--all` uses the whole corpus (5,183 abstracts: about 2 × 40 min on a busy 2-core
machine). A subset makes absolute nDCG higher than on the full corpus; the difference to fp32 is
what this measures. Abstracts/s: both cores, the embedder's own runners (two passages at once).
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
from pioc_search.embedders.base import PRECISIONS  # noqa: E402
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
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"], choices=list(PRECISIONS),
                        help="fp32 is the reference; without it, just each one's nDCG")
    args = parser.parse_args()
    corpus, queries, qrels = load(None if args.all else args.distractors)
    print(f"SciFact test: {len(queries)} questions, {len(corpus)} abstracts; {args.model}", file=sys.stderr)
    results = {}
    for precision in args.precisions:
        embedder = BACKENDS[args.model](precision=precision)
        results[precision] = run(embedder, corpus, queries, qrels)
        print(f"{precision}: nDCG@10 {results[precision][1]:.4f}, {results[precision][2]:.1f} abstracts/s",
              file=sys.stderr, flush=True)
    if "fp32" not in results:
        return
    reference, base_ndcg, base_speed = results["fp32"]
    print(f"\n## Passage precisions, {args.model}, SciFact test ({len(queries)} questions, {len(corpus)} abstracts"
          f"{'' if args.all else ' = relevant + random distractors'}; load average {os.getloadavg()[0]:.1f})\n")
    print("| precision | dense nDCG@10 | lost | cosine to fp32 min / p1 / median | abstracts/s | × fp32 | rule |")
    print("|---|---:|---:|---|---:|---:|---|")
    for precision, (vectors, ndcg, speed) in results.items():
        cosines = np.sum(reference * vectors, axis=1)
        loss = base_ndcg - ndcg
        ok = cosines.min() >= 0.99 and loss <= 0.005
        print(f"| {precision} | {ndcg:.4f} | {loss:+.4f} | {cosines.min():.5f} / {np.percentile(cosines, 1):.5f} / "
              f"{np.median(cosines):.5f} | {speed:.1f} | {speed / base_speed:.2f} | "
              f"{'–' if precision == 'fp32' else 'met' if ok else 'NOT met'} |")
    print("\nrule: cosine to fp32 ≥ 0.99 and nDCG@10 lost ≤ 0.005")


if __name__ == "__main__":
    main()

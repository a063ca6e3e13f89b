"""Retrieval quality of every mode on the sample question set and on each BEIR set in ../shared/evaldata/.

    .venv/bin/python benchmarks/bench_quality.py [--modes hybrid,dense,lexical]

Prints one Markdown table (set × mode: nDCG@10, Recall@10, Recall@100, MRR@10, queries/second), whether
hybrid beats both other modes on nDCG@10 per set, and the questions whose relevant documents hybrid
leaves out of its top 3. Indexes are kept in indexes/eval/ and updated incrementally; scores also go to
benchmarks/results/quality.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pioc_search.embedders import Embedder, load_embedder  # noqa: E402
from pioc_search.evaluate import (MODES, EvalSet, SetResult, evaluate, hybrid_wins, load_set,  # noqa: E402
                                  markdown_table)
from pioc_search.settings import Settings  # noqa: E402

SHARED_SETS = ROOT.parent / "shared" / "evaldata"
SAMPLE = ROOT / "tests" / "data" / "questions.jsonl"
WORK = ROOT / "indexes" / "eval"
RESULTS = ROOT / "benchmarks" / "results" / "quality.json"
TARGETS = {"scifact": 0.69}  # minimum hybrid nDCG@10 for sets whose name contains the key
MAX_LISTED_MISSES = 25


def sets() -> list[EvalSet]:
    found = [load_set(SAMPLE, WORK, ROOT / "corpus", name="sample")] if SAMPLE.is_file() else []
    beir = sorted(p for p in SHARED_SETS.glob("*") if (p / "corpus.jsonl").is_file()) if SHARED_SETS.is_dir() else []
    if not beir:
        print(f"note: no shared BEIR sets found in {SHARED_SETS} (folders with corpus.jsonl, queries.jsonl, "
              "qrels.tsv or qrels/test.tsv); only the sample set is scored\n")
    return found + [load_set(path, WORK) for path in beir]


def verdicts(result: SetResult) -> list[str]:
    ndcg = {m.mode: m.scores["ndcg@10"] for m in result.modes}
    wins = hybrid_wins(result)
    lines = [f"- {result.name}: hybrid beats dense and lexical on nDCG@10: "
             f"{'n/a' if wins is None else 'YES' if wins else 'NO'} "
             f"({', '.join(f'{mode} {score:.4f}' for mode, score in ndcg.items())})"]
    for key, target in TARGETS.items():
        if key in result.name.lower() and "hybrid" in ndcg:
            met = "met" if ndcg["hybrid"] >= target else "NOT met"
            lines.append(f"  target hybrid nDCG@10 >= {target}: {met} ({ndcg['hybrid']:.4f})")
    return lines


def misses(evalset: EvalSet, result: SetResult, depth: int = 3) -> list[str]:
    """Questions with no relevant document in hybrid's top `depth`, with each mode's first relevant rank."""
    runs = {m.mode: m.run for m in result.modes}
    if "hybrid" not in runs:
        return []
    out = []
    for qid, question in evalset.queries.items():
        relevant = {d for d, g in evalset.qrels.get(qid, {}).items() if g > 0}
        if not relevant or relevant & set(runs["hybrid"][qid][:depth]):
            continue
        ranks = {mode: next((r for r, d in enumerate(run[qid], 1) if d in relevant), None)
                 for mode, run in runs.items()}
        got = ", ".join(runs["hybrid"][qid][:depth])
        out.append(f"  {qid}: {question}\n      first relevant at "
                   + ", ".join(f"{mode} {rank or '-'}" for mode, rank in ranks.items())
                   + f"; hybrid top {depth}: {got}; relevant: {', '.join(sorted(relevant))}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    modes = [m for m in parser.parse_args().modes.split(",") if m]
    embedder = load_embedder(Settings.from_env())
    results: list[tuple[EvalSet, SetResult]] = []
    for evalset in sets():
        print(f"{evalset.name}: {len(evalset.queries)} questions …", file=sys.stderr, flush=True)
        results.append((evalset, evaluate(evalset, embedder, modes)))  # type: ignore[arg-type]
    print(markdown_table([r for _, r in results]) + "\n")
    for _, result in results:
        print("\n".join(verdicts(result)))
    for evalset, result in results:
        missed = misses(evalset, result)
        print(f"\n{evalset.name}: hybrid has no relevant document in its top 3 for {len(missed)} of "
              f"{len(evalset.queries)} questions")
        print("\n".join(missed[:MAX_LISTED_MISSES]) + ("\n  …" if len(missed) > MAX_LISTED_MISSES else ""))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([row for _, r in results for row in r.rows()], indent=2) + "\n")


if __name__ == "__main__":
    main()

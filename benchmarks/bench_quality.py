"""Retrieval quality per language, mode and model: the sample questions, SciFact, and its translations.

    .venv/bin/python benchmarks/bench_quality.py [--modes hybrid,dense,lexical] [--models M1,M2]

Sets: the sample question set over corpus/ (split into questions asked in their document's language
and cross-lingual ones), the full English SciFact (../shared/evaldata/scifact, 300 queries) and every
BEIR folder in evaldata/ (e.g. scifact-en, scifact-es, scifact-pt, scifact-fr, scifact-ar: the same 200
queries, their corpus shared through corpus.ref). Each corpus is indexed once per model and cached in
indexes/eval/ or $PIOC_EVAL_DIR (keyed by corpus hash and model id), so a re-run only asks the questions.

Prints one Markdown table: rows = set × mode, columns = nDCG@10 per model with its ratio to the English
set over the same queries; then the targets, and the sample questions hybrid misses in its top 3.
Scores also go to benchmarks/results/quality.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pioc_search.evaluate import (MODES, EvalSet, SetResult, model_embedder, evaluate_many, hybrid_wins,  # noqa: E402
                                  language_ratios, load_set)
from pioc_search.settings import Settings  # noqa: E402

SHARED_SCIFACT = ROOT.parent / "shared" / "evaldata" / "scifact"
TRANSLATED = ROOT / "evaldata"
SAMPLE = ROOT / "tests" / "data" / "questions.jsonl"
WORK = Path(os.environ.get("PIOC_EVAL_DIR") or ROOT / "indexes" / "eval")  # where the evaluation indexes are kept
RESULTS = ROOT / "benchmarks" / "results" / "quality.json"
MODELS = ("all-MiniLM-L6-v2", "multilingual-e5-small")
RATIO_TARGETS = {"es": 0.85, "pt": 0.85, "fr": 0.85, "ar": 0.65}  # nDCG@10 × English on the same queries
SCIFACT_HYBRID = 0.72  # full English SciFact, hybrid nDCG@10
MAX_LISTED_MISSES = 25


def sample_sets() -> list[EvalSet]:
    """The sample questions, split into same-language and cross-lingual ones."""
    if not SAMPLE.is_file():
        return []
    whole = load_set(SAMPLE, WORK, ROOT / "corpus", name="sample")
    items = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    crossing = {str(i["id"]) for i in items if i.get("cross_lingual")}
    out = []
    for name, keep in (("sample", lambda q: q not in crossing), ("sample-crosslingual", lambda q: q in crossing)):
        queries = {q: text for q, text in whole.queries.items() if keep(q)}
        if queries:
            out.append(dataclasses.replace(whole, name=name, queries=queries,
                                           qrels={q: whole.qrels[q] for q in queries}, language="mixed"))
    return out


def sets() -> list[EvalSet]:
    found = sample_sets()
    if (SHARED_SCIFACT / "corpus.jsonl").is_file():
        found.append(load_set(SHARED_SCIFACT, WORK, name="scifact-full"))
    else:
        print(f"note: no SciFact at {SHARED_SCIFACT}\n")
    translated = sorted(p for p in TRANSLATED.glob("*") if (p / "queries.jsonl").is_file()) if TRANSLATED.is_dir() else []
    if not translated:
        print(f"note: no query sets in {TRANSLATED} (BEIR folders such as scifact-es with corpus.ref)\n")
    english_first = sorted(translated, key=lambda p: (not p.name.endswith("-en"), p.name))
    return found + [load_set(path, WORK) for path in english_first]


def cell(results: dict[str, SetResult], ratios: dict[tuple[str, str], float], name: str, mode: str) -> list[str]:
    result = results.get(name)
    score = result.ndcg(mode) if result else None
    if score is None:
        return ["n/a", ""]
    ratio = ratios.get((name, mode))
    return [f"{score:.4f}", f"×{ratio:.2f}" if ratio is not None and not name.endswith("-en") else ""]


def table(evalsets: list[EvalSet], by_model: dict[str, list[SetResult]], modes: list[str]) -> str:
    head = "| set | language | mode | " + " | ".join(f"nDCG@10 {m} | × en" for m in by_model) + " |"
    lines = [head, "|---|---|---|" + "---:|---:|" * len(by_model)]
    per_model = {m: ({r.name: r for r in rs}, language_ratios(rs)) for m, rs in by_model.items()}
    for evalset in evalsets:
        for mode in modes:
            cells = [c for m in by_model for c in cell(*per_model[m], evalset.name, mode)]
            lines.append(f"| {evalset.name} | {evalset.language} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(model: str, results: list[SetResult]) -> list[str]:
    ratios = language_ratios(results)
    lines = [f"targets with {model}:"]
    for result in results:
        wins = hybrid_wins(result)
        lines.append(f"- {result.name}: hybrid above dense and lexical: {'n/a' if wins is None else 'YES' if wins else 'NO'}")
        target = RATIO_TARGETS.get(result.language)
        ratio = ratios.get((result.name, "hybrid"))
        if target and ratio is not None:
            lines.append(f"  hybrid nDCG@10 >= {target} × English: {'met' if ratio >= target else 'NOT met'} (×{ratio:.2f})")
        if result.name == "scifact-full" and result.ndcg("hybrid") is not None:
            score = result.ndcg("hybrid") or 0.0
            lines.append(f"  hybrid nDCG@10 >= {SCIFACT_HYBRID}: {'met' if score >= SCIFACT_HYBRID else 'NOT met'} ({score:.4f})")
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
        ranks = {mode: next((r for r, d in enumerate(run[qid], 1) if d in relevant), None) for mode, run in runs.items()}
        out.append(f"  {qid}: {question}\n      first relevant at "
                   + ", ".join(f"{mode} {rank or '-'}" for mode, rank in ranks.items())
                   + f"; hybrid top {depth}: {', '.join(runs['hybrid'][qid][:depth])}; relevant: {', '.join(sorted(relevant))}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated PIOC_MODEL values")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    settings = Settings.from_env()
    evalsets = sets()
    by_model: dict[str, list[SetResult]] = {}
    for model in (m for m in args.models.split(",") if m):
        embedder = model_embedder(model, settings)
        if embedder is None:
            print(f"note: model {model} is not available in this build: its column shows n/a\n")
            by_model[model] = []
            continue
        by_model[model] = evaluate_many(evalsets, embedder, modes,  # type: ignore[arg-type]
                                        on_set=lambda s, m=model: print(f"{m}: {s.name} ({len(s.queries)} questions) …",
                                                                        file=sys.stderr, flush=True))
    print(table(evalsets, by_model, modes) + "\n")
    for model, results in by_model.items():
        if results:
            print("\n".join(verdicts(model, results)) + "\n")
    for model, results in by_model.items():
        for evalset, result in zip(evalsets, results):
            if evalset.name.startswith("sample"):
                missed = misses(evalset, result)
                print(f"{model}, {evalset.name}: hybrid has no relevant document in its top 3 for {len(missed)} of "
                      f"{len(evalset.queries)} questions")
                print("\n".join(missed[:MAX_LISTED_MISSES]) + ("\n  …" if len(missed) > MAX_LISTED_MISSES else "") + "\n")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([row for rs in by_model.values() for r in rs for row in r.rows()], indent=2) + "\n")


if __name__ == "__main__":
    main()

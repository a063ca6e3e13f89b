"""PostgreSQL lexical search from impact-ordered postings: latency and agreement with the exact top 10,
per depth bound, beside the SQL candidate rule, on bench_store.py's cached synthetic versions.

    .venv/bin/python benchmarks/bench_pg_postings.py --size 1000000 [--bounds 4096,16384,65536]
        [--cache /tmp/pgops-cache] [--questions 60]

Uses the PostgreSQL version bench_store.py built for --size (run that first with the same --cache);
adds its postings if it was written before them. For each depth bound (POSTINGS_MAX_DEPTH; "exact"
= none) it prints p50/p95 ms, recall@10 against the exact ranking, the median number of postings
read and of rounds, and how many questions reached the bound. "sql" is the store's SQL scoring
(the candidate rule used for filtered questions). k = 50 as in search.py; question language "en".
Then filtered questions (`filtered`): a narrow filter (SQL scoring) and a broad one (the postings
through its row mask), against scoring every passage in scope and against SQL scoring with the
candidate limit counted over the whole version (as before stop 19, but with the retry of every term
that a filtered question left with fewer than k hits now gets).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench_store import ROOT, scratch_database, server_url  # noqa: E402  (sets sys.path)
from pioc_search.stores.postgres import PostgresStore  # noqa: E402
from pioc_search.stores.postgres import store as pg_store  # noqa: E402

EXACT = 10**9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--bounds", default="4096,16384,65536")
    parser.add_argument("--cache", type=Path, default=ROOT / "indexes" / "bench" / "store")
    parser.add_argument("--questions", type=int, default=60)
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in (ROOT / "tests" / "data" / "questions.jsonl").open()]
    questions = questions[: args.questions]
    counters: list[dict[str, Any]] = [{"rounds": 0, "read": 0, "bounded": False}]
    settle = pg_store.TermHeads.settle

    def counted(self: pg_store.TermHeads, k: int, open_limit: int, final: bool = False) -> Any:
        result = settle(self, k, open_limit, final)
        counters[-1].update(rounds=counters[-1]["rounds"] + 1, read=sum(self.read),
                            bounded=result is not None and final and any(not d for d in self.done))
        return result

    pg_store.TermHeads.settle = counted  # type: ignore[method-assign]
    with server_url(args.cache / "pgdata") as url, scratch_database(url, str(args.size), keep=True) as db:
        store = PostgresStore(db, pool_size=4, build_memory="2GB")
        name = store.live_name()
        if name is None:
            raise SystemExit(f"no cached version of {args.size} passages: run bench_store.py --sizes {args.size}")
        if store.add_postings(name):
            print(f"added postings to {name}")
        live = store.open(name)
        print(f"{live.passage_count:,} passages, {len(questions)} questions, k = 50")
        for question in questions[:3]:  # warm the reader's caches
            live.lexical(question, 50, language="en")
        runs: dict[str, list[list[tuple[int, float]]]] = {}
        print(f"{'ranking':<14} {'p50 ms':>7} {'p95 ms':>7} {'recall@10':>9} {'read':>9} {'rounds':>6} {'bounded':>7}")
        for label in ["exact", *args.bounds.split(","), "sql"]:
            live.has_postings = label != "sql"
            pg_store.POSTINGS_MAX_DEPTH = EXACT if label in ("exact", "sql") else int(label)
            times, ranked = [], []
            counters.clear()
            for question in questions:
                counters.append({"rounds": 0, "read": 0, "bounded": False})
                tick = time.perf_counter()
                ranked.append(live.lexical(question, 50, language="en"))
                times.append((time.perf_counter() - tick) * 1000)
            runs[label] = ranked
            recall = recall_at_10(ranked, runs["exact"])
            times.sort()
            print(f"{label:<14} {statistics.median(times):7.1f} {times[int(0.95 * (len(times) - 1))]:7.1f}"
                  f" {recall:9.3f} {statistics.median(c['read'] for c in counters):9.0f}"
                  f" {statistics.median(c['rounds'] for c in counters):6.0f}"
                  f" {sum(c['bounded'] for c in counters):7d}", flush=True)
        filtered(live, questions)
        store.close()


def recall_at_10(ranked: list[list[tuple[int, float]]], exact: list[list[tuple[int, float]]]) -> float:
    """Mean share of each exact top 10 found in the ranking's top 10 (questions with an exact hit)."""
    return statistics.mean(len({p for p, _ in got[:10]} & {p for p, _ in full[:10]}) / min(10, len(full))
                           for got, full in zip(ranked, exact) if full)


def filtered(live: Any, questions: list[str]) -> None:
    """Filtered questions: a city (2.5% of the passages: SQL scoring, its candidate limit counted in the
    scope), every fourth and every other document (a quarter and half: the postings through the
    filter's row mask, from POSTINGS_FILTER_SHARE), against scoring every passage in scope; "all-limit"
    is SQL scoring with the limit counted over the whole version. Recall@10 against the exact ranking
    and the share of the top 10 scoring at least the exact 10th (as-good: the synthetic near-copies
    tie, and tied passages may come in either set), the fewest hits and questions with none."""
    from pioc_search.search import Filters

    limit, shipped = pg_store.CANDIDATE_LIMIT, live._candidate_limit  # noqa: SLF001
    documents = sorted(live.documents)
    scopes = {"city": live._scope(None, Filters(city=("City7",))),  # noqa: SLF001
              "quarter": documents[::4], "half": documents[::2]}
    print(f"\nfiltered, k = 50: {'ranking':<34} {'p50 ms':>7} {'p95 ms':>7} {'recall@10':>9} {'as-good':>7}"
          f" {'hits min':>8} {'no hit':>6}")
    for name, allowed in scopes.items():
        share = live._in_scope(allowed) / live.passage_count  # noqa: SLF001
        live.has_postings, pg_store.CANDIDATE_LIMIT = False, EXACT
        exact = [live.lexical(q, 50, allowed, language="en") for q in questions]
        pg_store.CANDIDATE_LIMIT = limit
        for label in ("shipped", "all-limit"):
            live.has_postings = label == "shipped"
            live._candidate_limit = shipped if label == "shipped" else lambda in_scope: limit  # noqa: SLF001
            times, ranked = [], []
            for question in questions:
                tick = time.perf_counter()
                ranked.append(live.lexical(question, 50, allowed, language="en"))
                times.append((time.perf_counter() - tick) * 1000)
            recall = recall_at_10(ranked, exact)
            as_good = statistics.mean(sum(score >= full[min(10, len(full)) - 1][1] - 1e-9 for _, score in got[:10])
                                      / min(10, len(full)) for got, full in zip(ranked, exact) if full)
            times.sort()
            how = ("postings through the mask" if share >= pg_store.POSTINGS_FILTER_SHARE else "SQL, limit in scope"
                   ) if label == "shipped" else "SQL, limit over all"
            print(f"{name:>6} {share:6.1%} {label:<8} {how:<26} {statistics.median(times):7.1f}"
                  f" {times[int(0.95 * (len(times) - 1))]:7.1f} {recall:9.3f} {as_good:7.3f} {min(map(len, ranked)):8d}"
                  f" {sum(not got for got in ranked):6d}", flush=True)
    live.has_postings = True
    del live._candidate_limit  # noqa: SLF001 - the method again


if __name__ == "__main__":
    main()

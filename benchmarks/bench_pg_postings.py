"""PostgreSQL lexical search from impact-ordered postings: latency and agreement with the exact top 10,
per depth bound, beside the SQL candidate rule, on bench_store.py's cached synthetic versions.

    .venv/bin/python benchmarks/bench_pg_postings.py --size 1000000 [--bounds 4096,16384,65536]
        [--cache /tmp/pgops-cache] [--questions 60]

Uses the PostgreSQL version bench_store.py built for --size (run that first with the same --cache);
adds its postings if it was written before them. For each depth bound (POSTINGS_MAX_DEPTH; "exact"
= none) it prints p50/p95 ms, recall@10 against the exact ranking, the median number of postings
read and of rounds, and how many questions reached the bound. "sql" is the store's SQL scoring
(the candidate rule used for filtered questions). k = 50 as in search.py; question language "en".
Then city-filtered questions (SQL scoring): recall@10 against scoring every passage in the filter's
scope, the fewest hits and the questions with none, for the candidate limit counted in the scope
(shipped) and over the whole version (before).
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
            recall = statistics.mean(len({p for p, _ in got[:10]} & {p for p, _ in exact[:10]}) / min(10, len(exact))
                                     for got, exact in zip(ranked, runs["exact"]) if exact)
            times.sort()
            print(f"{label:<14} {statistics.median(times):7.1f} {times[int(0.95 * (len(times) - 1))]:7.1f}"
                  f" {recall:9.3f} {statistics.median(c['read'] for c in counters):9.0f}"
                  f" {statistics.median(c['rounds'] for c in counters):6.0f}"
                  f" {sum(c['bounded'] for c in counters):7d}", flush=True)
        filtered(live, questions)
        store.close()


def filtered(live: Any, questions: list[str]) -> None:
    """City-filtered questions (SQL scoring): hits and recall@10 against scoring every passage in scope,
    with the candidate limit counted in the scope (shipped) and over the whole version (before)."""
    from pioc_search.search import Filters

    city = Filters(city=("City7",))
    scope = live._scope(None, city)  # noqa: SLF001
    share = sum(live._counts.get(d, 0) for d in scope) / live.passage_count  # noqa: SLF001
    limit, shipped = pg_store.CANDIDATE_LIMIT, live._candidate_limit  # noqa: SLF001
    pg_store.CANDIDATE_LIMIT = EXACT
    exact = [live.lexical(q, 50, filters=city, language="en") for q in questions]
    pg_store.CANDIDATE_LIMIT = limit
    print(f"\ncity filter ({share:.1%} of the passages), SQL scoring, k = 50")
    print(f"{'candidate limit':<24} {'p50 ms':>7} {'p95 ms':>7} {'recall@10':>9} {'hits min':>8} {'no hit':>6}")
    for label, rule in (("in the scope (shipped)", shipped), ("whole version (before)", lambda allowed: limit)):
        live._candidate_limit = rule  # noqa: SLF001
        times, ranked = [], []
        for question in questions:
            tick = time.perf_counter()
            ranked.append(live.lexical(question, 50, filters=city, language="en"))
            times.append((time.perf_counter() - tick) * 1000)
        recall = statistics.mean(len({p for p, _ in got[:10]} & {p for p, _ in full[:10]}) / min(10, len(full))
                                 for got, full in zip(ranked, exact) if full)
        times.sort()
        print(f"{label:<24} {statistics.median(times):7.1f} {times[int(0.95 * (len(times) - 1))]:7.1f}"
              f" {recall:9.3f} {min(map(len, ranked)):8d} {sum(not got for got in ranked):6d}", flush=True)
    del live._candidate_limit  # noqa: SLF001 - the method again


if __name__ == "__main__":
    main()

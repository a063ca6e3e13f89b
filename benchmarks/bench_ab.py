"""Whole searches of today's code against an earlier revision's, interleaved in one process.

    .venv/bin/python benchmarks/bench_ab.py REV [--sizes 100000,1000000] [--reps 2] [--questions 60] [--cache DIR]

Loads `pioc_search/search.py` and `pioc_search/stores/postgres/store.py` as they were at git revision REV
beside today's, opens the PostgreSQL version `bench_store.py` built in DIR (build it there first), and runs
the sample questions through both `Searcher`s in turn, alternating which goes first, with the question's
encode cache cleared before each search. On a machine whose speed drifts by a quarter between runs, only
such an interleaved comparison says what a change did. Prints p50 / p95 and the stage
p50s of each; checks that both return the same hits.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_store  # noqa: E402

from pioc_search import stages  # noqa: E402
from pioc_search.embedders import load_embedder  # noqa: E402
from pioc_search.search import Searcher  # noqa: E402
from pioc_search.settings import Settings  # noqa: E402

STORE_MODULE = "pioc_search/stores/postgres/store.py"


def module_at(revision: str, path: str, folder: Path) -> ModuleType:
    """The module at `path` as it was at `revision`, imported under a name of its own."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:{path}"], check=True,
                            capture_output=True, text=True).stdout
    file = folder / path.replace("/", "_")
    file.write_text(source)
    name = path.removesuffix(".py").replace("/", ".") + "_at_" + revision.replace("-", "_").replace("~", "_")
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def hits(result: Any) -> list[int]:
    return [hit.passage_id for hit in result.hits]


def compare(size: int, readers: dict[str, Any], searchers: dict[str, Any], embedder: Any, questions: list[str],
            reps: int) -> None:
    for reader in readers.values():
        reader.warm()
    for question in questions:  # warm caches; both sides must agree
        found = {label: hits(searcher.search(question)) for label, searcher in searchers.items()}
        if len({tuple(h) for h in found.values()}) > 1:
            print(f"  different hits for {question!r}: {found}")
    for reader in readers.values():
        bench_store.wait_for_warm(reader)
    times: dict[str, list[float]] = {label: [] for label in searchers}
    parts: dict[str, dict[str, list[float]]] = {label: {} for label in searchers}
    for rep in range(reps):
        for n, question in enumerate(questions):
            order = list(searchers) if (n + rep) % 2 else list(searchers)[::-1]
            for label in order:
                embedder._query_cache.cache_clear()  # noqa: SLF001 - time the encode of a new question
                with stages.collect() as (wall, _):
                    tick = time.perf_counter()
                    searchers[label].search(question)
                    times[label].append((time.perf_counter() - tick) * 1000)
                for part, seconds in wall.items():
                    parts[label].setdefault(part, []).append(seconds * 1000)
    for label, samples in times.items():
        print(f"{size:>8} {label:<14} {bench_store.pct(samples)}   {bench_store.stage_p50s(parts[label])}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("revision", help="git revision to compare with, e.g. HEAD~3 or a commit")
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--cache", type=Path, default=ROOT / "indexes" / "bench" / "store")
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in (ROOT / "tests" / "data" / "questions.jsonl").open()]
    questions = questions[: args.questions]
    embedder = load_embedder(Settings.from_env())
    with tempfile.TemporaryDirectory() as folder:
        old_search = module_at(args.revision, "pioc_search/search.py", Path(folder))
        old_store = module_at(args.revision, STORE_MODULE, Path(folder))
        print(f"{'passages':>8} {'code':<14} {'p50 ms':>8} {'p95 ms':>8}   stage p50s (ms)")
        for size in [int(s) for s in args.sizes.split(",")]:
            from pioc_search.stores.postgres import PostgresStore

            pgdata = None if os.environ.get("PIOC_DATABASE_URL") else args.cache / "pgdata"
            with bench_store.server_url(pgdata) as url, bench_store.scratch_database(url, str(size), keep=True) as db:
                stores = {"today": PostgresStore(db, pool_size=4),
                          args.revision: old_store.PostgresStore(db, pool_size=4)}
                run(size, stores, old_search, embedder, questions, args.reps)


def run(size: int, stores: dict[str, Any], old_search: ModuleType, embedder: Any, questions: list[str],
        reps: int) -> None:
    try:
        readers = {label: store.live() for label, store in stores.items()}
        if any(reader is None for reader in readers.values()):
            print(f"{size:>8} no version in the cache: build it with bench_store.py --sizes {size}")
            return
        label_today, label_then = list(stores)
        searchers = {label_today: Searcher(readers[label_today], embedder),
                     label_then: old_search.Searcher(readers[label_then], embedder)}
        compare(size, readers, searchers, embedder, questions, reps)
    finally:
        for store in stores.values():
            store.close()


if __name__ == "__main__":
    main()

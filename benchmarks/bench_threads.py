"""How the model uses the cores: passages side by side or spread, and question threads spinning or sleeping.

    .venv/bin/python benchmarks/bench_threads.py [--model multilingual-e5-small] [--passages 60] [--questions 300]

1. Passages (SciFact abstracts with their titles, first 1,000 characters, one per run): one run at a
   time over 2 intra-op threads (ingest before stop 21), one thread, and two runs at once on a session
   of one thread (the default): passages/s and CPU ms per passage, twice, and whether the vectors agree.
2. Whole searches (`Searcher.search(k=10)`, hybrid) over bench_peer.py's SciFact index (run bench_peer.py
   first), the question session built each way in `SPIN_VARIANTS`, interleaved in blocks of 20 questions,
   one search at a time and two at once (two threads, as a server's thread pool): p50, p95, searches/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ingest import SLEEP, one_run_at_a_time  # noqa: E402
from pioc_search.embedders import BACKENDS, Embedder  # noqa: E402
from pioc_search.embedders.base import SPINNING  # noqa: E402
from pioc_search.evaluate import load_set, open_index  # noqa: E402
from pioc_search.search import Searcher  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "evaldata" / "scifact"
WORK = ROOT / "indexes" / "bench"
# Only settings that stop spinning when a run ends: a session that keeps spinning after its run takes the
# cores from the next search, whichever variant asks it, and the interleaved comparison is then void.
SPIN_VARIANTS: dict[str, dict[str, str]] = {
    "sleep at once (before)": SLEEP,
    "spin 50 µs, stop after the run": {**SPINNING, "session.intra_op.spin_duration_us": "50"},
    "spin 10 µs, stop after the run (default)": SPINNING,
}


def with_spinning(backend: type[Embedder], entries: dict[str, str]) -> Embedder:
    """The backend, its sessions built with these thread-pool settings instead of the default's."""

    embedder = backend()
    embedder.spinning = entries
    embedder.load()
    return embedder


def abstracts(count: int) -> list[str]:
    texts = []
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts.append(f"{record['title']}. {record['text'][:1000]}")
            if len(texts) == count:
                break
    return texts


def timed(run: Callable[[], np.ndarray], count: int) -> tuple[np.ndarray, str, str]:
    cpu, tick = time.process_time(), time.perf_counter()
    vectors = run()
    seconds, cpu = time.perf_counter() - tick, time.process_time() - cpu
    return vectors, f"{count / seconds:.1f}", f"{cpu * 1000 / count:.0f}"


def passages(model: str, count: int) -> None:
    texts = abstracts(count)
    spread, embedder = one_run_at_a_time(BACKENDS[model])(), BACKENDS[model]()
    for each in (spread, embedder):
        each.threads = 2
        each.load(passages=True)
    ways = {"one run at a time over 2 threads": lambda: spread.encode(texts),
            "one thread": lambda: embedder.encode(texts, runners=1),
            "two runs at once, 1 thread each (default)": lambda: embedder.encode(texts)}
    results: dict[str, list[tuple[str, str]]] = {way: [] for way in ways}
    vectors = {}
    for each in (spread, embedder):  # warm both sessions
        each.encode(texts[:4])
    for _ in range(2):
        for way, run in ways.items():
            vectors[way], per_second, cpu = timed(run, len(texts))
            results[way].append((per_second, cpu))
    print(f"\n## Passages, {model}, {len(texts)} SciFact abstracts, one per run\n")
    print("| how | passages/s | CPU ms/passage |\n|---|---:|---:|")
    for way, runs in results.items():
        print(f"| {way} | {', '.join(r[0] for r in runs)} | {', '.join(r[1] for r in runs)} |")
    reference = vectors["one run at a time over 2 threads"]
    worst = max(float(np.abs(v - reference).max()) for v in vectors.values())
    print(f"\nLargest difference between the ways' vectors: {worst:.2g}")


def searches(model: str, questions: int) -> None:
    index = WORK / f"pioc-{model}-scifact"
    if not index.is_dir():
        print(f"\n(no whole-search table: {index} is missing; run benchmarks/bench_peer.py --models {model} first)")
        return
    evalset = load_set(SCIFACT, WORK / "pioc", name="scifact")
    embedders = {label: with_spinning(BACKENDS[model], entries) for label, entries in SPIN_VARIANTS.items()}
    _, first = open_index(evalset, index, next(iter(embedders.values())))
    searchers = {label: Searcher(first.version, embedder) for label, embedder in embedders.items()}
    asked = list(evalset.queries.values())[:questions]
    print(f"\n## Whole searches, {model}, SciFact ({first.version.passage_count:,} passages), "
          f"{len(asked)} questions × 2, interleaved\n")
    print("| question session | p50 ms, one at a time | p95 | searches/s | p50 ms, two at once | p95 | searches/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    figures = {label: [] for label in searchers}
    for concurrent in (1, 2):
        times = {label: [] for label in searchers}
        walls = dict.fromkeys(searchers, 0.0)
        for _ in range(2):
            for block in range(0, len(asked), 20):
                for label, searcher in searchers.items():
                    searcher.embedder.clear_query_cache()
                    walls[label] += ask(searcher, asked[block : block + 20], concurrent, times[label])
        for label, samples in times.items():
            samples.sort()
            figures[label] += [f"{statistics.median(samples):.1f}", f"{samples[int(0.95 * len(samples))]:.1f}",
                               f"{len(samples) / walls[label]:.1f}"]
    for label, row in figures.items():
        print(f"| {label} | " + " | ".join(row) + " |")


def ask(searcher: Searcher, questions: list[str], concurrent: int, times: list[float]) -> float:
    """Wall seconds to ask `questions` on `concurrent` threads; each search's ms appended to `times`."""

    def work(part: list[str]) -> None:
        for question in part:
            tick = time.perf_counter()
            searcher.search(question, k=10, mode="hybrid")
            times.append((time.perf_counter() - tick) * 1000)

    tick = time.perf_counter()
    threads = [threading.Thread(target=work, args=(questions[i::concurrent],)) for i in range(concurrent)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="multilingual-e5-small", choices=list(BACKENDS))
    parser.add_argument("--passages", type=int, default=60)
    parser.add_argument("--questions", type=int, default=300)
    args = parser.parse_args()
    passages(args.model, args.passages)
    searches(args.model, args.questions)


if __name__ == "__main__":
    main()

"""Where the time of one hybrid search goes, at 10k, 100k and 1M passages, exact vs approximate dense search.

    .venv/bin/python benchmarks/bench_search.py --sizes 10000,100000,1000000
        [--models all-MiniLM-L6-v2,multilingual-e5-small] [--queries 60] [--plot docs/search_stages.png]

Per size, a synthetic version is built once and cached under indexes/bench/ (gitignored):
- Real material: the sample corpus indexed with each model (its passages, documents and vectors) plus the
  first --real SciFact abstracts (../shared/evaldata/scifact) embedded with the same model.
- Text: documents of 20 passages, each document copying a real sample document's metadata (type, cities,
  themes, date, language); each passage is a real passage of that document with 30% of its words replaced
  by words drawn from the sample corpus's word frequencies, so the lexical index has the corpus's
  vocabulary and term-frequency shape, and near-copies do not fold as duplicates.
- Vectors: the sample has only ~180 passages, so each synthetic vector mixes two random real vectors from
  the sample passages and the SciFact abstracts (~3,200; weight 0.6-0.95 on the first) plus Gaussian
  noise (sigma 0.025 per component), renormalised: thousands of topic clusters with spread, like real
  passages, so the approximate index is about as hard to search as on real data (not a vector per text:
  a synthetic passage's vector is not its text's meaning, which does not change the timings).
The version is written through the local store's writer with the first model's vectors (exact); for every
model the exact and the approximate (IVF) vector files are saved beside it and swapped in for measuring.

Measured per model, size and backend, over --queries questions from tests/data/questions.jsonl (one in
three with a filter), after a warm-up (then the question cache is cleared): p50 per stage of
Searcher.search (pioc_search.stages) plus the JSON serialisation of the API response, p50/p95 of the whole
(wall clock) and its p50 CPU time (this thread's; the honest figure on a busy machine); then, after the timed
searches (which run back to back, as a server answers them), recall@10 of the approximate dense ranking against
the exact one (same question vectors, same filters); the memory-mapped load time and the process RSS.
Prints a Markdown table, writes benchmarks/results/bench_search.json and plots p50 per stage against size.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import os
import re
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PIOC_ANN_THRESHOLD"] = str(10**12)  # the cached version is written exact; backends are swapped in

from pioc_search import ann, stages  # noqa: E402
from pioc_search.settings import Settings  # noqa: E402
from pioc_search.stores import open_store  # noqa: E402
from pioc_search.stores.local import store  # noqa: E402
from pioc_search.embedders import Embedder, load_embedder  # noqa: E402
from pioc_search.ingest.pipeline import build_index  # noqa: E402
from pioc_search.models import Passage  # noqa: E402
from pioc_search.schemas import SearchResponse, answer_out, hit_out  # noqa: E402
from pioc_search.search import Filters, Searcher  # noqa: E402

BENCH = ROOT / "indexes" / "bench"
SCIFACT = ROOT.parent / "shared" / "evaldata" / "scifact" / "corpus.jsonl"
QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"
PER_DOC = 20
REPLACE = 0.3
SIGMA = 0.025
STAGES = ["language", "encode", "filters", "dense", "cities", "lexical", "fusion", "duplicates", "answers", "facets",
          "serialisation"]
# Each allows part of the synthetic documents (23%, 60%, 12%); until 2026-11-27 the second was year_from=2020,
# which every synthetic document passes (searched as no filter since then).
FILTERS = [Filters(doc_type=("report",)), Filters(year_from=2023), Filters(language=("es",))]
WORD = re.compile(r"\S+")


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


# --- real material -----------------------------------------------------------------------------------------

def sample_version(model: str, embedder: Embedder) -> store.LocalVersion:
    root = BENCH / f"sample-{model}"
    local = open_store(Settings(index_dir=root))
    if local.live_name() is None:
        print(f"indexing the sample corpus with {model} ...", flush=True)
        build_index(ROOT / "corpus", local, embedder)
    return local.live()


def real_vectors(model: str, embedder: Embedder, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(sample passage vectors in passage-id order, SciFact vectors), cached per model."""
    cache = BENCH / f"real-{model}-{count}.npz"
    if cache.exists():
        saved = np.load(cache)
        return saved["sample"], saved["scifact"]
    version = sample_version(model, embedder)
    ids = sorted(store.all_ids(version.index).tolist())
    sample = version.index.vectors(np.array(ids, dtype=np.int64))
    texts = []
    with open(SCIFACT) as handle:
        for line in itertools.islice(handle, count):
            record = json.loads(line)
            texts.append(f"{record.get('title', '')}. {record['text']}"[:1500])
    print(f"embedding {len(texts)} SciFact abstracts with {model} ...", flush=True)
    scifact = embedder.encode(texts) if texts else np.zeros((0, sample.shape[1]), dtype=np.float32)
    BENCH.mkdir(parents=True, exist_ok=True)
    np.savez(cache, sample=sample, scifact=scifact)
    return sample, scifact


# --- the synthetic version -----------------------------------------------------------------------------------

@dataclasses.dataclass
class Recipe:
    """What every synthetic passage is made of; the same for every model."""

    parents: np.ndarray  # position of the real passage its text comes from, among the sample passages (by id)
    owns: np.ndarray  # position of its main real vector among sample + SciFact vectors
    partners: np.ndarray  # position of the mixed-in real vector
    weights: np.ndarray  # weight of the main vector


def recipe(size: int, sample: store.LocalVersion, real_count: int) -> tuple[Recipe, list[str]]:
    """The recipe and, per synthetic document (PER_DOC passages), the id of the sample document it copies."""
    rng = np.random.default_rng(size)
    rows = sample.conn.execute("SELECT id, doc_id FROM passages ORDER BY id").fetchall()
    by_doc: dict[str, list[int]] = {}
    for position, row in enumerate(rows):
        by_doc.setdefault(row["doc_id"], []).append(position)
    names = sorted(by_doc)
    docs = [names[i] for i in rng.integers(0, len(names), (size + PER_DOC - 1) // PER_DOC)]
    parents = np.array([by_doc[doc][int(rng.integers(0, len(by_doc[doc])))] for doc in docs
                        for _ in range(PER_DOC)][:size], dtype=np.int64)
    pool = len(rows) + real_count
    return Recipe(parents, rng.integers(0, pool, size), rng.integers(0, pool, size),
                  rng.uniform(0.6, 0.95, size).astype(np.float32)), docs


def synthetic_vectors(r: Recipe, sample: np.ndarray, scifact: np.ndarray, start: int, stop: int) -> np.ndarray:
    pool = np.concatenate([sample, scifact]) if len(scifact) else sample
    w = r.weights[start:stop, None]
    noise = np.random.default_rng(start).normal(0, SIGMA, (stop - start, sample.shape[1])).astype(np.float32)
    own, partner = pool[r.owns[start:stop] % len(pool)], pool[r.partners[start:stop] % len(pool)]  # models may chunk
    x = w * own + (1 - w) * partner + noise
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def vocabulary(sample: store.LocalVersion) -> tuple[list[str], np.ndarray]:
    counts = Counter(w for row in sample.conn.execute("SELECT text FROM passages") for w in WORD.findall(row[0]))
    words = sorted(counts)
    freq = np.array([counts[w] for w in words], dtype=np.float64)
    return words, freq / freq.sum()


def build_synthetic(size: int, models: list[str], embedders: dict[str, Embedder], real: int) -> Path:
    """The cached version of `size` passages, with exact and IVF vector files for every model beside it."""
    folder = BENCH / f"synthetic-{size}"
    first = models[0]
    sample = sample_version(first, embedders[first])
    r, docs = recipe(size, sample, real)
    if open_store(Settings(index_dir=folder)).live_name() is None:
        write_version(folder, size, sample, r, docs, real_vectors(first, embedders[first], real))
    for model in models:
        exact_path, ivf_path = vector_file(folder, model, real, "exact"), vector_file(folder, model, real, "ivf")
        if ivf_path.exists():
            continue
        vectors_sample, vectors_scifact = real_vectors(model, embedders[model], real)
        ids = np.arange(1, size + 1, dtype=np.int64)
        print(f"{size}: vectors for {model} ...", flush=True)
        vectors = np.concatenate([synthetic_vectors(r, vectors_sample, vectors_scifact, s, min(size, s + 100_000))
                                  for s in range(0, size, 100_000)])
        ann.ExactIndex.build(vectors, ids).save(exact_path)
        started = time.perf_counter()
        ann.IVFIndex.build(vectors, ids).save(ivf_path)
        print(f"{size}: IVF built in {time.perf_counter() - started:.1f} s", flush=True)
        del vectors
        gc.collect()
    return folder


def vector_file(folder: Path, model: str, real: int, backend: str) -> Path:
    return folder / f"vectors-{model}-real{real}-{backend}.faiss"


def write_version(folder: Path, size: int, sample: store.LocalVersion, r: Recipe, docs: list[str],
                  real: tuple[np.ndarray, np.ndarray]) -> None:
    print(f"writing {size} synthetic passages to {folder} ...", flush=True)
    started = time.perf_counter()
    rng = np.random.default_rng(size + 1)
    words, freq = vocabulary(sample)
    rows = sample.conn.execute("SELECT * FROM passages ORDER BY id").fetchall()
    local = open_store(Settings(index_dir=folder))
    writer = local.writer(int(real[0].shape[1]))
    for number, doc_id in enumerate(docs):
        start, stop = number * PER_DOC, min(size, (number + 1) * PER_DOC)
        source = sample.documents[doc_id]
        doc = dataclasses.replace(source, id=f"syn{number}", path=f"synthetic/{number}/{source.path}",
                                  title=f"{source.title} ({number})")
        passages, hashes = [], []
        for ordinal, position in enumerate(r.parents[start:stop]):
            row = rows[int(position)]
            tokens = WORD.findall(row["text"])
            swap = rng.random(len(tokens)) < REPLACE
            drawn = iter(rng.choice(len(words), int(swap.sum()), p=freq).tolist())
            text = " ".join(words[next(drawn)] if s else t for t, s in zip(tokens, swap))
            passages.append(Passage(start + ordinal + 1, doc.id, ordinal, text, row["section"], row["page_start"],
                                    row["page_end"]))
            hashes.append(f"syn{start + ordinal}")
        writer.add_document(doc, f"synthetic-{number}", passages, hashes,
                            synthetic_vectors(r, real[0], real[1], start, stop))
        if number % 5000 == 4999:
            print(f"  {stop} passages, {time.perf_counter() - started:.0f} s", flush=True)
    writer.set_meta({"model": "synthetic", "dimension": int(real[0].shape[1])})
    local.publish(writer.finish())
    print(f"{size}: version written in {time.perf_counter() - started:.0f} s", flush=True)


# --- measuring ---------------------------------------------------------------------------------------------

def questions(count: int) -> list[tuple[str, Filters]]:
    with open(QUESTIONS) as handle:
        texts = [json.loads(line)["question"] for line in handle]
    chosen = list(itertools.islice(itertools.cycle(texts), count))
    return [(q, FILTERS[i // 3 % len(FILTERS)] if i % 3 == 2 else Filters()) for i, q in enumerate(chosen)]


def serialise(searcher: Searcher, question: str, result) -> str:  # type: ignore[no-untyped-def]
    """What the /search route does with a result (schemas → JSON)."""
    return SearchResponse(query=question, mode="hybrid", k=10, offset=0, total=result.total,
                          took_ms=round(result.took_ms, 2), index_version=searcher.version.name,
                          facets=result.facets, answer=answer_out(result.answer),
                          hits=[hit_out(h) for h in result.hits]).model_dump_json()


def measure(folder: Path, model: str, backend: str, embedder: Embedder, asked: list[tuple[str, Filters]],
            exact: ann.DenseIndex | None, real: int) -> dict[str, object]:
    rss_before = rss_mb()
    started = time.perf_counter()
    version = open_store(Settings(index_dir=folder)).live()
    tick = time.perf_counter()
    version.index = ann.load(vector_file(folder, model, real, backend))
    load_ms = (time.perf_counter() - tick) * 1000
    open_ms = (time.perf_counter() - started) * 1000
    searcher = Searcher(version, embedder)
    for question, filters in asked[:8]:  # warm-up: caches, the language detector's models, the ONNX session
        searcher.search(question, filters=filters)
    embedder.clear_query_cache()  # every measured question is encoded
    per_stage: dict[str, list[float]] = {name: [] for name in STAGES}
    per_stage_cpu: dict[str, list[float]] = {name: [] for name in STAGES}
    totals, cpu, overlaps = [], [], []
    for question, filters in asked:
        tick, cpu_tick = time.perf_counter(), time.process_time()
        with stages.collect() as (timings, cpu_timings):
            result = searcher.search(question, k=10, filters=filters)
            with stages.stage("serialisation"):
                serialise(searcher, question, result)
        totals.append(time.perf_counter() - tick)
        cpu.append(time.process_time() - cpu_tick)
        for name in STAGES:
            per_stage[name].append(timings.get(name, 0.0))
            per_stage_cpu[name].append(cpu_timings.get(name, 0.0))
    for question, filters in asked if exact is not None else ():  # after the timing: its scans would evict the caches
        query = embedder.encode_query(question)
        docs = searcher._allowed_docs(filters)
        allowed = version._passage_ids(docs) if docs is not None else None
        truth = {i for i, _ in exact.search(query, 10, allowed)}
        found = {i for i, _ in version.index.search(query, 10, allowed)}
        overlaps.append(len(truth & found) / max(1, len(truth)))
    p50 = {name: statistics.median(values) * 1000 for name, values in per_stage.items()}
    cpu_p50 = {name: statistics.median(values) * 1000 for name, values in per_stage_cpu.items()}
    return {"model": model, "passages": version.passage_count, "backend": backend, "open_ms": open_ms,
            "load_ms": load_ms, "rss_mb": rss_mb(), "rss_growth_mb": rss_mb() - rss_before, "stages_p50_ms": p50,
            "stages_cpu_p50_ms": cpu_p50,
            "p50_ms": statistics.median(totals) * 1000,
            "p95_ms": float(np.percentile(totals, 95)) * 1000, "cpu_p50_ms": statistics.median(cpu) * 1000,
            "recall_at_10": statistics.mean(overlaps) if overlaps else None, "queries": len(asked),
            "load_average": os.getloadavg()[0]}


def table(results: list[dict], key: str = "stages_p50_ms") -> str:  # type: ignore[type-arg]
    head = ["model", "passages", "dense", "load ms", "RSS MB", *STAGES, "p50 ms", "p95 ms", "CPU p50 ms", "recall@10"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        stage_cells = [f"{r[key][s]:.2f}" for s in STAGES]
        recall = "1 (reference)" if r["backend"] == "exact" else f"{r['recall_at_10']:.3f}"
        lines.append("| " + " | ".join([r["model"], f"{r['passages']:,}", r["backend"], f"{r['load_ms']:.0f}",
                                        f"{r['rss_mb']:.0f}", *stage_cells, f"{r['p50_ms']:.1f}",
                                        f"{r['p95_ms']:.1f}", f"{r['cpu_p50_ms']:.1f}", recall]) + " |")
    return "\n".join(lines)


def plot(results: list[dict], model: str, path: Path, key: str) -> None:  # type: ignore[type-arg]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    backends = ["exact", "ivf"]
    figure, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
    for axis, backend in zip(axes, backends):
        rows = sorted((r for r in results if r["model"] == model and r["backend"] == backend),
                      key=lambda r: r["passages"])
        sizes = [r["passages"] for r in rows]
        for name in STAGES:
            axis.plot(sizes, [max(r[key][name], 1e-3) for r in rows], marker="o", label=name)
        whole = "cpu_p50_ms" if key == "stages_cpu_p50_ms" else "p50_ms"
        axis.plot(sizes, [r[whole] for r in rows], marker="s", color="black", linewidth=2, label="whole search")
        axis.set(xscale="log", yscale="log", xlabel="passages", title=f"{backend} dense search ({model})")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("p50 ms per search" + (" (CPU time)" if key == "stages_cpu_p50_ms" else " (wall clock)"))
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--models", default="all-MiniLM-L6-v2,multilingual-e5-small")
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--real", type=int, default=3000, help="SciFact abstracts embedded as real vectors")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "search_stages.png")
    parser.add_argument("--plot-clock", choices=["wall", "cpu"], default="wall",
                        help="plot wall-clock stage times (quiet machine) or CPU times (busy machine)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    models = [m.strip() for m in args.models.split(",")]
    embedders = {m: load_embedder(Settings.from_env(model=m)) for m in models}
    asked = questions(args.queries)
    results = []
    for size in sizes:
        folder = build_synthetic(size, models, embedders, args.real)
        for model in models:
            exact = ann.load(vector_file(folder, model, args.real, "exact"))
            for backend in ("exact", "ivf"):
                results.append(measure(folder, model, backend, embedders[model], asked,
                                       exact if backend != "exact" else None, args.real))
                print(f"{size} {model} {backend}: p50 {results[-1]['p50_ms']:.1f} ms", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000:.0f} MB\n")
    print("wall clock, p50 ms per stage:\n")
    print(table(results))
    print("\nCPU time (process_time), p50 ms per stage:\n")
    print(table(results, "stages_cpu_p50_ms"))
    out = ROOT / "benchmarks" / "results" / "bench_search.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    plot(results, models[0], args.plot, "stages_cpu_p50_ms" if args.plot_clock == "cpu" else "stages_p50_ms")
    print(f"\nwrote {out} and {args.plot}")


if __name__ == "__main__":
    main()

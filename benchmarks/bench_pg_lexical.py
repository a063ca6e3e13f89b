"""PostgreSQL lexical ranking against the local engine (tantivy) on SciFact: nDCG@10 and latency.

    .venv/bin/python benchmarks/bench_pg_lexical.py [--docs 5183]

Each SciFact abstract (title + text) is one passage. Rankings compared, all over the same corpus:
  tantivy          the local store's engine: analysis.py terms, BM25
  pg BM25 postings  the PostgreSQL store as shipped for unfiltered questions: BM25 top k from the heads of
                   the terms' impact-ordered postings (exact unless a list is read to POSTINGS_MAX_DEPTH)
  pg BM25 cand<=N   the store's SQL scoring (filtered questions, versions without postings): analysis.py
                   terms in a weighted tsvector, BM25 in SQL, candidates from the rarest terms matching at
                   most N passages (store.CANDIDATE_LIMIT)
  pg analysed cd   the same tsvector ranked by ts_rank_cd over the OR of the terms (no idf)
  pg snowball cd   PostgreSQL's own 'english' Snowball config + unaccent, ts_rank_cd (the store before)
Uses PIOC_DATABASE_URL's server (a scratch database, dropped) or an embedded PostgreSQL 18.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from psycopg import sql

from bench_store import ROOT, scratch_database, server_url  # noqa: E402  (sets sys.path)
from pioc_search.analysis import analyse, question_terms  # noqa: E402
from pioc_search.evaluate import ndcg_at_k  # noqa: E402
from pioc_search.lexical import engine  # noqa: E402
from pioc_search.lexical.base import LexicalRow  # noqa: E402
from pioc_search.models import Document, Passage  # noqa: E402
from pioc_search.stores.postgres import PostgresStore  # noqa: E402
from pioc_search.stores.postgres import store as pg_store  # noqa: E402

FOLDER = ROOT.parent / "shared" / "evaldata" / "scifact"


def load(limit: int) -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    docs = [json.loads(line) for line in (FOLDER / "corpus.jsonl").open()][:limit]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (FOLDER / "queries.jsonl").open())}
    qrels: dict[str, dict[str, int]] = {}
    known = {d["_id"] for d in docs}
    for line in list((FOLDER / "qrels" / "test.tsv").open())[1:]:
        qid, cid, score = line.split()
        if cid in known:
            qrels.setdefault(qid, {})[cid] = int(score)
    return docs, {q: queries[q] for q in qrels}, qrels


def fill_pg(store: PostgresStore, docs: list[dict]) -> None:
    writer = store.writer(8)
    rng = np.random.default_rng(0)
    for n, d in enumerate(docs):
        doc = Document(id=d["_id"], path=f"scifact/{d['_id']}", sha256="0" * 64, title=d["title"], doc_type="report",
                       cities=[], themes=[], date=None, language="en", source_url=None, media_type="text/plain")
        vector = rng.standard_normal((1, 8)).astype(np.float32)
        writer.add_document(doc, "f", [Passage(n, doc.id, 0, d["text"], "", None, None)], [f"h{n}"],
                            vector / np.linalg.norm(vector))
    store.publish(writer.finish())


def tantivy_index(docs: list[dict], folder: Path):  # type: ignore[no-untyped-def]
    eng = engine("tantivy")
    conn = sqlite3.connect(":memory:")
    writer = eng.writer(folder, conn, None)
    writer.add([LexicalRow(n, d["_id"], " ".join(analyse(d["text"], "en")), "", " ".join(analyse(d["title"], "en")))
                for n, d in enumerate(docs)])
    writer.finish()
    return eng.reader(folder, lambda: conn)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=5183)
    parser.add_argument("--limits", type=lambda v: [int(x) for x in v.split(",")], default=[10**9, 2000, 1000, 500],
                        help="CANDIDATE_LIMIT values to compare")
    args = parser.parse_args()
    docs, queries, qrels = load(args.docs)
    ids = [d["_id"] for d in docs]
    with server_url() as url, scratch_database(url, "lexq") as db_url, tempfile.TemporaryDirectory() as tmp:
        store = PostgresStore(db_url)
        fill_pg(store, docs)
        live = store.live()
        assert live is not None
        with store.connection() as conn:  # the alternative tsvectors, next to the shipped one
            conn.execute(sql.SQL("ALTER TABLE {p} ADD COLUMN snow tsvector").format(p=live.t["passages"]))
            conn.execute(sql.SQL(
                "UPDATE {p} p SET snow = setweight(to_tsvector('english', pioc_unaccent(d.title)), 'A')"
                " || setweight(to_tsvector('english', pioc_unaccent(p.text)), 'D') FROM {d} d WHERE d.id = p.doc_id")
                .format(p=live.t["passages"], d=live.t["documents"]))
        tantivy = tantivy_index(docs, Path(tmp))

        def cd(column: str, query_sql: str):  # type: ignore[no-untyped-def]
            def run(question: str) -> list[int]:
                with store.connection() as conn:
                    return [r[0] for r in conn.execute(sql.SQL(
                        "SELECT id FROM {p}, " + query_sql + " q WHERE {c} @@ q.query ORDER BY ts_rank_cd({c}, q.query) DESC, id"
                        " LIMIT 10").format(p=live.t["passages"], c=sql.Identifier(column)), (question,))]
            return run

        analysed_or = ("(SELECT coalesce(string_agg(quote_literal(t), ' | '), '')::tsquery AS query"
                       " FROM unnest(%s::text[]) t)")
        def bm25(limit: int | None):  # type: ignore[no-untyped-def]
            def run(question: str) -> list[int]:
                live.has_postings = limit is None
                pg_store.CANDIDATE_LIMIT = limit or pg_store.CANDIDATE_LIMIT
                return [p for p, _ in live.lexical(question, 10, language="en")]
            return run

        rankers = {
            "tantivy (local)": lambda q: [p for p, _ in tantivy.search(question_terms(q, "en"), 10)],
            "pg BM25 postings": bm25(None),
            **{f"pg BM25 cand<={limit}": bm25(limit) for limit in args.limits},
            "pg analysed cd": lambda q, f=cd("tsv", analysed_or): f(question_terms(q, "en")),
            "pg snowball cd": cd("snow", "(SELECT replace(plainto_tsquery('english', pioc_unaccent(%s))::text,"
                                         " ' & ', ' | ')::tsquery AS query)"),
        }
        print(f"SciFact, {len(docs)} abstracts, {len(queries)} queries with a relevant abstract among them")
        print(f"{'ranking':<20} {'nDCG@10':>8} {'p50 ms':>7} {'p95 ms':>7}")
        for label, ranker in rankers.items():
            scores, times = [], []
            for qid, question in queries.items():
                tick = time.perf_counter()
                ranked = ranker(question)
                times.append((time.perf_counter() - tick) * 1000)
                scores.append(ndcg_at_k([ids[p] for p in ranked], qrels[qid], 10))
            times.sort()
            print(f"{label:<20} {statistics.mean(scores):8.3f} {statistics.median(times):7.1f}"
                  f" {times[int(0.95 * (len(times) - 1))]:7.1f}", flush=True)
        store.close()


if __name__ == "__main__":
    main()

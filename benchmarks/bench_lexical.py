"""Lexical engines compared: SQLite FTS5 over pre-analysed terms vs tantivy, quality and latency.

    .venv/bin/python benchmarks/bench_lexical.py [--passages 100000] [--queries 300]

Quality: SciFact (../shared/evaldata/scifact, BEIR test qrels) indexed directly into each engine, one
passage per abstract (title as its own field), no embeddings; nDCG@10 of lexical retrieval alone. The
row "fts5 raw" is the index before issue 9 (unicode61 over raw text, no title, no stemming).
Latency: the same corpus padded to --passages with synthetic passages, each 3-6 sentences drawn at
random (seeded) from SciFact abstracts under a SciFact title, so term statistics stay those of real
text; every SciFact question is run once per engine, p50/p95 in milliseconds.

    .venv/bin/python benchmarks/bench_lexical.py --searcher [--passages 100000 1000000] [--engines tantivy fts5]

The production path instead: versions written by the local store's writer with each lexical engine and
timed through `Searcher.lexical` (every question word, CANDIDATES deep, as a search request asks);
nDCG@10 from a version holding SciFact alone (one document per abstract, title as the title). The
synthetic passages are joined from SciFact sentences with newlines and analysed one sentence at a
time with a cache (the same terms `analyse` gives, since it works word by word), so building a
million passages stays affordable.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pioc_search.stores.local import store  # noqa: E402
from pioc_search.analysis import analyse, question_terms  # noqa: E402
from pioc_search.models import Document, Passage  # noqa: E402
from pioc_search.search import CANDIDATES, Searcher  # noqa: E402
from pioc_search.evaluate import ndcg_at_k, read_qrels  # noqa: E402
from pioc_search.ingest.metadata import detect_language  # noqa: E402
from pioc_search.sentences import split_sentences  # noqa: E402
from pioc_search.lexical.fts5 import WEIGHTS as LEXICAL_WEIGHTS  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "evaldata" / "scifact"
Doc = tuple[str, str, str]  # (id, title, text)
Search = Callable[[str], list[str]]


def load() -> tuple[list[Doc], dict[str, str], dict[str, dict[str, int]]]:
    docs = [(d["_id"], d.get("title", ""), d["text"]) for d in map(json.loads, open(SCIFACT / "corpus.jsonl"))]
    qrels = read_qrels(SCIFACT / "qrels" / "test.tsv")
    queries = {q["_id"]: q["text"] for q in map(json.loads, open(SCIFACT / "queries.jsonl")) if q["_id"] in qrels}
    return docs, queries, qrels


def synthetic(docs: list[Doc], total: int) -> list[Doc]:
    rng = random.Random(9)
    sentences = [s for _, _, text in docs for s in split_sentences(text)]
    return [(f"syn{i}", rng.choice(docs)[1], " ".join(rng.choices(sentences, k=rng.randint(3, 6))))
            for i in range(max(0, total - len(docs)))]


def analysed(docs: list[Doc], language: str | None = None) -> list[tuple[str, str, str]]:
    """(id, text terms, title terms), each document analysed in `language` or else its detected one."""
    out = []
    for doc_id, title, text in docs:
        lang = language or detect_language(f"{title}. {text}")
        out.append((doc_id, " ".join(analyse(text, lang)), " ".join(analyse(title, lang))))
    return out


OLD_STOPWORDS = frozenset(  # the question words the index dropped before issue 9
    "a an and are as at be by did do does for from had has have how in is it its of on or that the their "
    "there these this to was were what when where which who why will with would can could should our we "
    "you your they them than then into about after before during any all more most much many some".split())


def fts5_raw(docs: list[Doc], folder: Path) -> Search:
    conn = sqlite3.connect(folder / "raw.sqlite")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(doc, text, tokenize='unicode61 remove_diacritics 2')")
    conn.executemany("INSERT INTO f VALUES (?, ?)", [(d, text) for d, _, text in docs])
    conn.commit()
    from pioc_search.sentences import fold

    def search(question: str) -> list[str]:
        words = list(dict.fromkeys(w for w in re.findall(r"\w+", fold(question)) if w not in OLD_STOPWORDS))
        query = " OR ".join(f'"{w}"' for w in words)
        return [r[0] for r in conn.execute("SELECT doc FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT 10", (query,))]
    return search


def fts5(docs: list[tuple[str, str, str]], folder: Path, weights: tuple[float, float, float]) -> Search:
    conn = sqlite3.connect(folder / f"fts{len(docs)}.sqlite")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(doc UNINDEXED, text, section, title,"
                 " tokenize='unicode61 remove_diacritics 0')")
    conn.executemany("INSERT INTO f VALUES (?, ?, '', ?)", docs)
    conn.commit()
    sql = f"SELECT doc FROM f WHERE f MATCH ? ORDER BY bm25(f, 0, {', '.join(map(str, weights))}) LIMIT 10"

    def search(question: str) -> list[str]:
        terms = question_terms(question)
        return [r[0] for r in conn.execute(sql, (" OR ".join(f'"{t}"' for t in terms),))] if terms else []
    return search


def tantivy_engine(docs: list[tuple[str, str, str]], folder: Path, weights: tuple[float, float, float],
                   label: str = "fields") -> Search:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("doc", stored=True, tokenizer_name="raw")
    for name in ("text", "title"):
        builder.add_text_field(name, tokenizer_name="whitespace")
    schema = builder.build()
    path = folder / f"tantivy-{label}-{len(docs)}"
    path.mkdir()
    index = tantivy.Index(schema, path=str(path))
    writer = index.writer(heap_size=100_000_000, num_threads=1)
    for doc_id, text, title in docs:
        writer.add_document(tantivy.Document(doc=doc_id, text=text, title=title))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()
    boosts = {f: w for f, w in (("text", weights[0]), ("title", weights[2])) if w}

    def search(question: str) -> list[str]:
        clauses = [(tantivy.Occur.Should, tantivy.Query.boost_query(tantivy.Query.term_query(schema, f, t), b))
                   for t in question_terms(question) for f, b in boosts.items()]
        if not clauses:
            return []
        hits = searcher.search(tantivy.Query.boolean_query(clauses), 10).hits
        return [searcher.doc(address)["doc"][0] for _, address in hits]
    return search


def tantivy_one_field(docs: list[tuple[str, str, str]], folder: Path, weights: tuple[float, float, float]) -> Search:
    """tantivy with text and title terms in one field: plain BM25 over their concatenation."""
    return tantivy_engine([(d, f"{text} {title}", "") for d, text, title in docs], folder, (1.0, 0.0, 0.0), "one")


def quality(search: Search, queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> float:
    return sum(ndcg_at_k(search(q), qrels[qid]) for qid, q in queries.items()) / len(queries)


def latency(search: Search, questions: list[str]) -> tuple[float, float]:
    times = []
    for question in questions:
        tick = time.perf_counter()
        search(question)
        times.append((time.perf_counter() - tick) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.95)]


PER_DOC = 10
DIMENSION = 8  # the vectors are not searched here; small keeps the build cheap


def _sentence_analyser() -> Callable[[str, str], list[str]]:
    """`analyse`, one newline-separated line at a time, each line's terms cached."""
    from functools import lru_cache

    cached = lru_cache(maxsize=None)(lambda line, language: tuple(analyse(line, language)))
    return lambda text, language: [t for line in text.split("\n") for t in cached(line, language)]


def _version(root: Path, engine: str, docs: list[Doc], passages: int) -> store.LocalVersion:
    """A published version: every SciFact abstract as a document, then synthetic documents of
    PER_DOC passages until `passages` passages."""
    writer = store.LocalWriter(root, DIMENSION, lexical_engine=engine)
    vector = np.zeros((1, DIMENSION), dtype=np.float32)
    vector[0, 0] = 1.0

    def add(doc_id: str, title: str, texts: list[str], first_id: int) -> None:
        doc = Document(doc_id, f"{doc_id}.md", "0", title, "report", [], [], None, "en", None, "text/markdown")
        batch = [Passage(first_id + i, doc_id, i, text, "", None, None) for i, text in enumerate(texts)]
        writer.add_document(doc, "0", batch, ["0"] * len(batch), np.repeat(vector, len(batch), axis=0))

    for n, (doc_id, title, text) in enumerate(docs):
        add(doc_id, title, [text], n + 1)
    rng, sentences = random.Random(9), [s for _, _, text in docs for s in split_sentences(text)]
    next_id = len(docs) + 1
    for d in range(max(0, passages - len(docs)) // PER_DOC):
        texts = ["\n".join(rng.choices(sentences, k=rng.randint(3, 6))) for _ in range(PER_DOC)]
        add(f"syn{d}", rng.choice(docs)[1], texts, next_id)
        next_id += PER_DOC
    writer.set_meta({"model_id": "none", "dimension": DIMENSION})
    path = root / writer.finish()
    store.publish(root, path)
    return store.LocalVersion(path)


def _ranked_docs(searcher: Searcher, question: str) -> list[str]:
    pids = [pid for pid, _ in searcher.lexical(question, 10)]
    owners = searcher.version.doc_ids(pids)
    return [owners[pid] for pid in pids]


def searcher_path(args: argparse.Namespace) -> None:
    """Time `Searcher.lexical` on versions built by the store, per engine and size."""
    docs, queries, qrels = load()
    questions = list(queries.values())[: args.queries]
    store.analyse = _sentence_analyser()  # type: ignore[attr-defined]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        ndcg = {}
        for engine in args.engines:
            small = Searcher(_version(Path(tmp) / f"{engine}-scifact", engine, docs, 0), None)  # type: ignore[arg-type]
            ndcg[engine] = sum(ndcg_at_k(_ranked_docs(small, q), qrels[qid])
                               for qid, q in list(queries.items())[: args.queries]) / len(questions)
        for size in args.passages:
            for engine in args.engines:
                tick = time.perf_counter()
                version = _version(Path(tmp) / f"{engine}-{size}", engine, docs, size)
                built = time.perf_counter() - tick
                searcher = Searcher(version, None)  # type: ignore[arg-type]
                p50, p95 = latency(lambda q: searcher.lexical(q, CANDIDATES), questions)
                rows.append((engine, ndcg[engine], version.passage_count, p50, p95, built))
                print(rows[-1], flush=True)
                shutil.rmtree(version.path, ignore_errors=True)
    print("\n| engine (Searcher.lexical, no words dropped) | SciFact nDCG@10 | passages | p50 ms | p95 ms | build s |")
    print("|---|---|---|---|---|---|")
    for engine, ndcg, size, p50, p95, built in rows:
        print(f"| {engine} | {ndcg:.3f} | {size:,} | {p50:.1f} | {p95:.1f} | {built:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, nargs="+", default=[100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--weights", default=",".join(map(str, LEXICAL_WEIGHTS)), help="text,section,title")
    parser.add_argument("--searcher", action="store_true", help="time the production Searcher.lexical path")
    parser.add_argument("--engines", nargs="+", default=["tantivy", "fts5"])
    parser.add_argument("--tmp", default=None, help="where to build the versions (default: the system's temp)")
    args = parser.parse_args()
    if args.searcher:
        searcher_path(args)
        return
    args.passages = args.passages[0]
    weights = tuple(float(w) for w in args.weights.split(","))
    docs, queries, qrels = load()
    queries = dict(list(queries.items())[: args.queries])
    tick = time.perf_counter()
    small = analysed(docs)
    print(f"analysed {len(docs)} SciFact documents in {time.perf_counter() - tick:.1f}s")
    large = small + analysed(synthetic(docs, args.passages), "en")  # SciFact is English; saves detection time
    engines = {"fts5": fts5, "tantivy (text, title fields)": tantivy_engine,
               "tantivy (one field)": tantivy_one_field}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows.append(("fts5 raw (before)", quality(fts5_raw(docs, folder), queries, qrels), None, None))
        for name, build in engines.items():
            ndcg = quality(build(small, folder, weights), queries, qrels)
            tick = time.perf_counter()
            big = build(large, folder, weights)
            built = time.perf_counter() - tick
            rows.append((name, ndcg, latency(big, list(queries.values())), built))
    print(f"\n| engine | SciFact nDCG@10 | p50 ms @ {len(large)} | p95 ms | index build s |\n|---|---|---|---|---|")
    for name, ndcg, lat, built in rows:
        p50, p95 = lat if lat else ("", "")
        print(f"| {name} | {ndcg:.3f} | {p50 if p50 == '' else f'{p50:.1f}'} | "
              f"{p95 if p95 == '' else f'{p95:.1f}'} | {'' if built is None else f'{built:.0f}'} |")


if __name__ == "__main__":
    main()

"""Lexical search speed at scale (tantivy, the default engine), and the engines compared.

    .venv/bin/python benchmarks/bench_lexical.py [--sizes 100000,1000000] [--queries 200]

Scale (the default): lexical indexes of each size written by the production engine writer
(`pioc_search.lexical`, the same writer the local store's `LocalWriter` drives) and searched through its
reader with the terms `Searcher.lexical` passes (`question_terms`). Built once and cached under
indexes/bench/ (rebuilt when the engine module, tantivy or this data recipe changes).

The passages: every SciFact abstract (one passage each, title as title), then synthetic documents of
ten passages each until the size is reached, 60% English and 10% each Spanish, Portuguese, French
and Arabic (the document's language, as documents are indexed in their own language). An English
passage is 3-6 sentences drawn at random (seeded) from SciFact abstracts under a SciFact title, so
term statistics are those of real text; a passage in another language is 40-120 words drawn at
random, with repeats, from the words of that language's sample-corpus documents (corpus/) and of the
hand-translated SciFact claims (evaldata/scifact-XX), under a translated claim as title.

Questions: the 200 SciFact claims of evaldata/ in each language, analysed in that language (what
`Searcher` does once detection names it) and, as `und`, the English claims analysed in all five
languages (what a question whose language is undetermined costs: about twice the terms). Each row
is timed twice: cold (the index files evicted from the OS page cache with posix_fadvise, a fresh
reader, each question asked once; the reader asks the OS to prefetch its files as it opens) and warm
(the same questions again). Depth 10 and 100 (`Searcher` asks 100), and 100 deep within a filter
allowing a random 10% or 1% of the documents. Times are engine calls (query building, search,
passage ids); the question's analysis (`question_terms`, language given) is timed on its own column.
Warm rows also give CPU time (time.process_time: tantivy searches in the calling thread), which a
busy machine inflates much less than wall time: on a quiet machine the two agree.
The load average is printed: the machine has 2 cores, and times taken while it is busy are inflated.

Quality: SciFact nDCG@10 of the same engine on an index of SciFact alone, questions analysed as
`Searcher.lexical` does (language detected).

    .venv/bin/python benchmarks/bench_lexical.py --compare [--passages 100000] [--queries 300]

The engine comparison that chose tantivy: SciFact indexed directly into FTS5 and tantivy variants
(one passage per abstract, title as its own field), nDCG@10 and latency at --passages (SciFact
padded with synthetic English passages as above). The row "fts5 raw" is the index before issue 9.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pioc_search import lexical  # noqa: E402
from pioc_search.analysis import analyse, question_groups, question_terms, words  # noqa: E402
from pioc_search.evaluate import ndcg_at_k, read_qrels  # noqa: E402
from pioc_search.ingest.metadata import detect_language  # noqa: E402
from pioc_search.sentences import split_sentences  # noqa: E402
from pioc_search.lexical.fts5 import WEIGHTS as LEXICAL_WEIGHTS  # noqa: E402
from pioc_search.lexical.tantivy_engine import FOLDER, prefetch  # noqa: E402

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
    from pioc_search.analysis import fold

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



# ---- scale ----------------------------------------------------------------------------------------

CACHE = ROOT / "indexes" / "bench"
EVALDATA = ROOT / "evaldata"
LANGUAGES = ("en", "es", "pt", "fr", "ar")
SHARES = {"en": 0.6, "es": 0.1, "pt": 0.1, "fr": 0.1, "ar": 0.1}
PER_DOC = 10
RECIPE = "2"  # bump when the passages below change: cached indexes are rebuilt
FILTER_SHARES = (0.1, 0.01)  # of the documents, allowed by the filtered rows


class Corpus:
    """The material synthetic passages are drawn from, analysed once per sentence or word."""

    def __init__(self, docs: list[Doc]) -> None:
        self.docs = docs
        self.sentences = [s for _, _, text in docs for s in split_sentences(text)]
        self.words: dict[str, list[str]] = {}
        self.titles: dict[str, list[str]] = {}
        for lang, texts in _sample_texts().items():
            claims = [q["text"] for q in map(json.loads, open(EVALDATA / f"scifact-{lang}" / "queries.jsonl"))]
            self.words[lang] = [w for text in texts + claims for w in words(text)]
            self.titles[lang] = claims
        self._terms: dict[tuple[str, str], tuple[str, ...]] = {}

    def terms(self, text: str, language: str) -> tuple[str, ...]:
        key = (text, language)
        if key not in self._terms:
            self._terms[key] = tuple(analyse(text, language))
        return self._terms[key]

    def passage(self, rng: random.Random, language: str) -> str:
        """Analysed terms of one synthetic passage in `language`."""
        if language == "en":
            parts = rng.choices(self.sentences, k=rng.randint(3, 6))
        else:
            parts = rng.choices(self.words[language], k=rng.randint(40, 120))
        return " ".join(t for part in parts for t in self.terms(part, language))


def _sample_texts() -> dict[str, list[str]]:
    """Block texts of the sample corpus' documents in each language but English."""
    from pioc_search.ingest.discover import discover
    from pioc_search.ingest.extract import extract_file

    texts: dict[str, list[str]] = {lang: [] for lang in LANGUAGES if lang != "en"}
    for source in discover(ROOT / "corpus")[0]:
        if source.meta.get("language") in texts:
            texts[source.meta["language"]] += [b.text for b in extract_file(source.path).blocks]
    return texts


def rows(corpus: Corpus, size: int) -> Iterator[lexical.LexicalRow]:
    """SciFact abstracts (passage n+1 = abstract n, document "sf<id>"), then synthetic documents."""
    for n, (doc_id, title, text) in enumerate(corpus.docs):
        yield lexical.LexicalRow(n + 1, f"sf{doc_id}", " ".join(corpus.terms(text, "en")), "",
                                 " ".join(corpus.terms(title, "en")))
    rng, pid = random.Random(size), len(corpus.docs) + 1
    languages, weights = list(SHARES), list(SHARES.values())
    for d in range(max(0, size - len(corpus.docs)) // PER_DOC):
        lang = rng.choices(languages, weights)[0]
        title = " ".join(corpus.terms(rng.choice(corpus.titles.get(lang) or [t for _, t, _ in corpus.docs]), lang))
        for _ in range(PER_DOC):
            yield lexical.LexicalRow(pid, f"syn{d}", corpus.passage(rng, lang), "", title)
            pid += 1


def _key(size: int) -> str:
    """Cache key: what shapes the written index (the writer, its schema, heap and document key),
    tantivy's version and RECIPE."""
    import inspect

    import tantivy

    engine = lexical.engine()
    module = sys.modules[engine.writer.__module__]
    parts = [inspect.getsource(engine.writer), RECIPE, tantivy.__version__, str(getattr(module, "HEAP_BYTES", ""))]
    parts += [inspect.getsource(getattr(module, name)) for name in ("schema", "doc_key") if hasattr(module, name)]
    return f"{engine.name}-{size}-{hashlib.sha1(''.join(parts).encode()).hexdigest()[:10]}"


def built(corpus: Corpus | None, size: int) -> tuple[Path, float | None]:
    """The cached index of `size` passages (its version folder) and its build seconds, building it if needed."""
    folder = CACHE / _key(size)
    done = folder / "built.json"
    if done.exists():
        return folder, json.loads(done.read_text())["seconds"]
    assert corpus is not None
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    tick = time.perf_counter()
    writer = lexical.engine().writer(folder, sqlite3.connect(":memory:"), None)
    batch: list[lexical.LexicalRow] = []
    for row in rows(corpus, size):
        batch.append(row)
        if len(batch) == 10_000:
            writer.add(batch)
            batch = []
    writer.add(batch)
    writer.finish()
    seconds = time.perf_counter() - tick
    done.write_text(json.dumps({"seconds": seconds, "passages": writer.count()}))
    return folder, seconds


def questions(limit: int) -> dict[str, list[list[str]]]:
    """Analysed question terms per language row (`und`: the English claims read as every language)."""
    text = {lang: [q["text"] for q in map(json.loads, open(EVALDATA / f"scifact-{lang}" / "queries.jsonl"))][:limit]
            for lang in LANGUAGES}
    out = {lang: [question_terms(q, lang) for q in qs] for lang, qs in text.items()}
    out["und"] = [question_terms(q, "und") for q in text["en"]]
    return out


def analysis_ms(limit: int) -> dict[str, float]:
    """p50 ms of analysing one question (uncached), per language row."""
    out = {}
    for lang in (*LANGUAGES, "und"):
        source = "en" if lang == "und" else lang
        qs = [q["text"] for q in map(json.loads, open(EVALDATA / f"scifact-{source}" / "queries.jsonl"))][:limit]
        times = []
        for q in qs:
            question_groups.cache_clear()
            tick = time.perf_counter()
            question_terms(q, lang)
            times.append((time.perf_counter() - tick) * 1000)
        out[lang] = statistics.median(times)
    return out


def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.95))]


def timed(reader: lexical.LexicalReader, queries: Sequence[list[str]], depth: int,
          allowed: list[str] | None) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per question (CPU: this process, which a busy machine inflates less)."""
    wall, cpu = [], []
    for terms in queries:
        tick, used = time.perf_counter(), time.process_time()
        reader.search(terms, depth, allowed)
        wall.append((time.perf_counter() - tick) * 1000)
        cpu.append((time.process_time() - used) * 1000)
    return wall, cpu


def scale(args: argparse.Namespace) -> None:
    docs, queries, qrels = load()
    sizes = [int(s) for s in args.sizes.split(",")]
    need = any(not (CACHE / _key(n) / "built.json").exists() for n in [*sizes, len(docs)])
    corpus = Corpus(docs) if need else None
    folder, _ = built(corpus, len(docs))
    reader = lexical.engine().reader(folder, lambda: sqlite3.connect(":memory:"))
    ranked = {qid: [f"{docs[pid - 1][0]}" for pid, _ in reader.search(question_terms(q), 10)]
              for qid, q in queries.items()}
    ndcg = sum(ndcg_at_k(ranked[qid], qrels[qid]) for qid in queries) / len(queries)
    print(f"SciFact nDCG@10 (lexical alone, {len(queries)} questions): {ndcg:.3f}", flush=True)
    asked = questions(args.queries)
    analysis = analysis_ms(args.queries)
    table = []
    for size in sizes:
        folder, seconds = built(corpus, size)
        probe = lexical.engine().reader(folder, lambda: sqlite3.connect(":memory:"))
        every = [f"sf{d}" for d, _, _ in docs] + [f"syn{d}" for d in range((size - len(docs)) // PER_DOC)]
        filters = {share: random.Random(1).sample(every, int(len(every) * share)) for share in FILTER_SHARES}
        info = {"passages": probe.count(), "segments": _segments(probe), "build_s": seconds,
                "mb": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6}
        print(f"{size:,}: {info}", flush=True)
        for lang, terms in asked.items():
            for depth, share in ((10, None), (100, None), *((100, share) for share in FILTER_SHARES)):
                prefetch(folder / FOLDER, "POSIX_FADV_DONTNEED")  # cold: out of the OS page cache
                reader = lexical.engine().reader(folder, lambda: sqlite3.connect(":memory:"))
                allowed = None if share is None else filters[share]
                cold = percentiles(timed(reader, terms, depth, allowed)[0])
                wall, cpu = timed(reader, terms, depth, allowed)
                table.append((info["passages"], lang, depth, share, statistics.median(map(len, terms)),
                              analysis[lang], cold, percentiles(wall), percentiles(cpu)))
                print(table[-1], flush=True)
    load_avg = os.getloadavg()
    print(f"\nload average at the end: {load_avg[0]:.1f} (2 cores: above ~1.5 the times below are inflated)")
    print(f"times in ms; filter: that share of the documents allowed; SciFact nDCG@10 {ndcg:.3f}\n")
    print("| passages | questions | terms (p50) | depth | filter | analysis p50 | cold p50 | cold p95 | warm p50 | warm p95 "
          "| warm CPU p50 | warm CPU p95 |")
    print("|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for passages, lang, depth, share, nterms, ana, cold, warm, cpu in table:
        print(f"| {passages:,} | {lang} | {nterms:.0f} | {depth} | {'' if share is None else f'{share:.0%}'} | {ana:.2f} | "
              f"{cold[0]:.1f} | {cold[1]:.1f} | {warm[0]:.1f} | {warm[1]:.1f} | {cpu[0]:.1f} | {cpu[1]:.1f} |")


def _segments(reader: lexical.LexicalReader) -> int | None:
    searcher = getattr(reader, "searcher", None)
    return int(searcher.num_segments) if searcher is not None else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000", help="passages per index, comma-separated")
    parser.add_argument("--queries", type=int, default=200, help="questions per language")
    parser.add_argument("--compare", action="store_true", help="the engine comparison instead")
    parser.add_argument("--passages", type=int, default=100_000, help="--compare: passages")
    parser.add_argument("--weights", default=",".join(map(str, LEXICAL_WEIGHTS)), help="--compare: text,section,title")
    args = parser.parse_args()
    if not args.compare:
        scale(args)
        return
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

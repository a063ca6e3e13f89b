"""The PostgreSQL store on a real server, filled from the real sample-corpus index (real model vectors)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from pioc_search.analysis import analyse, question_terms
from pioc_search.stores import open_store
from pioc_search.search import Filters
from pioc_search.settings import Settings
from pioc_search.stores.base import (
    BuildInProgress, Store, StoreUnavailable, VersionGone, VersionReader, VersionWriter,
)
from pioc_search.stores.local import store as local
from pioc_search.stores.postgres import PostgresStore, PostgresVersion
from pioc_search.stores.postgres import store as pg_store
from pioc_search.stores.postgres.migrations import available
from tests.conftest import ROOT, BuiltIndex, load_questions
from tests.pg_fixtures import *  # noqa: F401,F403
from tests.pg_fixtures import PgServer


def copy_local_version(source: local.LocalVersion, target: PostgresStore, skip: tuple[str, ...] = ()) -> str:
    """Write the documents, passages and vectors of a real FAISS + SQLite version into a new version."""
    from pioc_search.models import Passage

    fingerprints = source.fingerprints()
    writer = target.writer(source.dimension)
    for doc in source.documents.values():
        if doc.id in skip:
            continue
        rows = source.document_passages(doc.id)
        passages = [Passage(r["id"], r["doc_id"], r["ordinal"], r["text"], r["section"], r["page_start"],
                            r["page_end"]) for r in rows]
        vectors = np.array([source.index.reconstruct(int(r["id"])) for r in rows], dtype=np.float32)
        writer.add_document(doc, fingerprints[doc.path], passages, [r["embed_hash"] for r in rows],
                            vectors.reshape(-1, source.dimension))
    writer.set_meta({**source.meta, "previous_version": target.live_name()})
    return writer.finish()


@pytest.fixture(scope="module")
def sample(sample_index: BuiltIndex) -> local.LocalVersion:
    path = local.current_version(sample_index.root)
    assert path is not None
    return local.LocalVersion(path)


@pytest.fixture
def pg(pg_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(pg_url, connect_timeout=3)
    yield store
    store.close()


@pytest.fixture
def loaded(pg: PostgresStore, sample: local.LocalVersion) -> PostgresVersion:
    """The sample index published as the live version."""
    pg.publish(copy_local_version(sample, pg))
    live = pg.live()
    assert live is not None
    return live


def wait_for(action, timeout: float = 30):  # type: ignore[no-untyped-def]
    """The first truthy result of `action`, retried while the server notices a closed session."""
    deadline = time.monotonic() + timeout
    while not (result := action()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return result


def exact_ranking(reader: PostgresVersion, query: np.ndarray, docs: set[str] | None = None) -> list[tuple[int, float]]:
    """Brute-force cosine ranking over every stored vector (read back from the database)."""
    ids = [r["id"] for d in reader.documents if docs is None or d in docs for r in reader.document_passages(d)]
    matrix = np.array([reader.vector(i) for i in ids])
    scores = matrix @ query / np.linalg.norm(matrix, axis=1) / np.linalg.norm(query)
    return sorted(zip(ids, scores.tolist()), key=lambda item: -item[1])


def test_server_has_pgvector_unaccent_and_snowball(pg: PostgresStore) -> None:
    with pg.connection() as conn:
        versions = dict(conn.execute("SELECT extname, extversion FROM pg_extension").fetchall())
        assert "unaccent" in versions and tuple(map(int, versions["vector"].split(".")[:2])) >= (0, 8)
        assert conn.execute("SELECT to_tsvector('spanish', pioc_unaccent('Robos políticas'))").fetchone()[0] \
            == "'polit':2 'rob':1"
        for config in ("english", "spanish", "portuguese", "french", "arabic"):
            assert conn.execute("SELECT %s::regconfig::text", (config,)).fetchone()[0] == config


def test_migrations_run_once_even_when_processes_start_together(pg_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            PostgresStore(pg_url).close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [(v, n) for v, n, _ in available()]


def test_a_published_version_reads_back_what_was_written(pg: PostgresStore, loaded: PostgresVersion,
                                                         sample: local.LocalVersion) -> None:
    assert isinstance(pg, Store) and isinstance(loaded, VersionReader)
    writer = pg.writer(loaded.dimension)
    assert isinstance(writer, VersionWriter)
    writer.abandon()
    assert pg.remove_unfinished() == []  # abandon() left nothing behind
    pg.verify(loaded.name)
    assert loaded.documents == sample.documents
    assert loaded.passage_count == sample.passage_count
    assert loaded.fingerprints() == sample.fingerprints()
    doc_id = next(iter(sample.documents))
    assert [dict(r) for r in loaded.document_passages(doc_id)] == [dict(r) for r in sample.document_passages(doc_id)]
    first = sample.document_passages(doc_id)[0]
    stored = loaded.vector(first["id"])
    assert np.allclose(stored, sample.index.reconstruct(int(first["id"])), atol=1e-3)
    assert set(loaded.vectors_by_embed_hash([first["embed_hash"], "unknown"])) == {first["embed_hash"]}
    assert loaded.doc_ids([first["id"]]) == {first["id"]: doc_id}
    assert loaded.meta["model_id"] == sample.meta["model_id"]
    with pytest.raises(KeyError):
        loaded.vector(10**12)


def test_wide_passage_rows_keep_tsv_and_embedding_inline(pg: PostgresStore, loaded: PostgresVersion) -> None:
    """Searches read every candidate's tsv (lexical) and embedding (exact dense): where a row is too wide
    for a page's share, the passage text, read only for the hits shown, is what goes out of line."""
    with pg.connection() as conn:
        out_of_line = conn.execute(sql.SQL(
            "SELECT count(pg_column_toast_chunk_id(tsv)), count(pg_column_toast_chunk_id(embedding)),"
            " count(pg_column_toast_chunk_id(text)) FROM {passages}").format(**loaded.t)).fetchone()
    assert out_of_line is not None
    tsv, embedding, text = out_of_line
    assert text > 0  # the sample has rows over the TOAST threshold
    assert (tsv, embedding) == (0, 0)


@pytest.mark.parametrize(("exact_limit", "ef_search"), [(pg_store.EXACT_LIMIT, None), (0, None), (0, 800)],
                         ids=["exact", "hnsw", "hnsw-as-a-large-version"])
def test_dense_top_k_is_the_exact_ranking(pg: PostgresStore, loaded: PostgresVersion, embedder,  # type: ignore[no-untyped-def]
                                          monkeypatch: pytest.MonkeyPatch, exact_limit: int,
                                          ef_search: int | None) -> None:
    monkeypatch.setattr(pg_store, "EXACT_LIMIT", exact_limit)
    if ef_search:  # what the largest versions get (EF_SEARCH_BY_SIZE), for their own queries only
        monkeypatch.setitem(loaded.__dict__, "_ef_search", ef_search)
    for item in load_questions()[:12]:
        query = embedder.encode_query(item["question"])
        hits = loaded.dense(query, 10)
        exact = exact_ranking(loaded, query)[:10]
        assert [pid for pid, _ in hits] == [pid for pid, _ in exact], item["question"]
        assert np.allclose([s for _, s in hits], [s for _, s in exact], atol=2e-3)
    with pg.connection() as conn:  # the longer list was set for those queries only, not for the pooled session
        assert conn.execute("SHOW hnsw.ef_search").fetchone() == (str(pg_store.EF_SEARCH),)


def test_larger_versions_search_a_longer_hnsw_candidate_list() -> None:
    sizes = [10_000, 100_000, 300_000, 500_000, 1_000_000, 5_000_000]
    lists = [pg_store.ef_search_for(n) for n in sizes]
    assert lists == sorted(lists) and lists[0] == pg_store.EF_SEARCH and lists[-1] >= 800


@pytest.mark.parametrize("exact_limit", [pg_store.EXACT_LIMIT, 0], ids=["exact-under-filter", "hnsw-under-filter"])
def test_filters_still_return_k_hits(loaded: PostgresVersion, embedder, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                     exact_limit: int) -> None:
    monkeypatch.setattr(pg_store, "EXACT_LIMIT", exact_limit)
    query = embedder.encode_query("How did lockdowns change domestic violence reports?")
    for filters in (Filters(doc_type=("webinar",)), Filters(language=("es",)), Filters(year_from=2023)):
        docs = set(loaded.allowed_docs(filters))
        expected = [d.id for d in loaded.documents.values()
                    if (not filters.doc_type or d.doc_type in filters.doc_type)
                    and (not filters.language or d.language in filters.language)
                    and (filters.year_from is None or (d.year or 0) >= filters.year_from)]
        assert docs == set(expected) and docs
        available = sum(len(loaded.document_passages(d)) for d in docs)
        k = min(30, available)
        hits = loaded.dense(query, 30, filters=filters)
        assert len(hits) == k, filters
        assert set(loaded.doc_ids([pid for pid, _ in hits]).values()) <= docs
        exact = exact_ranking(loaded, query, docs)[:k]
        # the exact scores rank by rank: E5's cosines crowd together, so halfvec rounding may swap near-ties
        assert np.allclose([s for _, s in hits], [s for _, s in exact], atol=2e-3), filters
    excluded = next(iter(loaded.documents))
    hits = loaded.dense(query, 25, exclude_docs=(excluded,))
    assert len(hits) == 25 and excluded not in loaded.doc_ids([p for p, _ in hits]).values()


def test_lexical_matches_stemmed_words_and_folds_accents(loaded: PostgresVersion) -> None:
    spanish = "blog/juarez-jovenes-2023.html"
    spanish_id = next(d.id for d in loaded.documents.values() if d.path == spanish)
    for question in ("detencion violenta", "jovenes mentor", "ILUMINADA"):  # no accents, other inflections
        hits = loaded.lexical(question, 5, language="es")  # the question's language, as detected
        assert hits, question
        found = set(loaded.doc_ids([pid for pid, _ in hits]).values())
        assert spanish_id in found, question  # matched through stems and folded accents, not exact words
    text = loaded.passages([loaded.lexical("detencion violenta", 1)[0][0]])
    assert "detencion " not in next(iter(text.values()))["text"].lower()  # found through the stem
    hits = loaded.lexical("robberies after new street lamps", 5, language="en")
    docs = {loaded.documents[d].path for d in loaded.doc_ids([p for p, _ in hits]).values()}
    assert "reports/cali-lighting-2022.pdf" in docs or "blog/street-lights-cali-2023.html" in docs
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    only_es = loaded.lexical("jovenes", 50, filters=Filters(language=("es",)))
    found_es = set(loaded.doc_ids([p for p, _ in only_es]).values())
    assert spanish_id in found_es and found_es <= {d.id for d in loaded.documents.values() if d.language == "es"}
    assert loaded.lexical("the of and", 5, language="en") == []  # stopwords only: nothing, no error
    assert loaded.lexical("'\\ & | ! :*", 5) == []  # tsquery syntax in a question is inert
    term = question_terms("jóvenes", "es")[0]
    freq = loaded.doc_freq([term, "zzzunknown"])
    assert freq[term] >= 1 and freq["zzzunknown"] == 0


def test_lexical_drops_no_question_word(loaded: PostgresVersion) -> None:
    """A word in most passages still counts: passages with only it are found, below those with both."""
    common = question_terms("violence", "en")[0]
    assert loaded.doc_freq([common])[common] > 0.2 * loaded.passage_count  # the premise: a common word
    spanish = {d.id for d in loaded.documents.values() if d.language == "es"}  # the only ones with "jóvenes"
    hits = loaded.lexical("violence jovenes", 200, language="und")
    docs = [loaded.doc_ids([p])[p] for p, _ in hits]
    assert any(d in spanish for d in docs) and any(d not in spanish for d in docs)
    first_english = next(i for i, d in enumerate(docs) if d not in spanish)
    assert all(d in spanish for d in docs[:first_english]) and first_english > 0  # the rare word weighs more


def test_lexical_ranks_like_the_local_engine(loaded: PostgresVersion, sample: local.LocalVersion) -> None:
    """Same analysis and BM25 as tantivy: the top passages of the sample questions mostly agree."""
    overlaps = []
    for item in load_questions():
        terms = question_terms(item["question"])
        local_top = [p for p, _ in sample.lexical_index.search(terms, 10)]
        pg_top = [p for p, _ in loaded.lexical(item["question"], 10)]
        assert bool(local_top) == bool(pg_top), item["question"]
        if local_top:
            assert local_top[0] in pg_top[:3], item["question"]
            overlaps.append(len(set(local_top) & set(pg_top)) / len(local_top))
    assert np.mean(overlaps) >= 0.7, overlaps


def analysed_passages(reader: PostgresVersion) -> dict[int, tuple[dict[str, float], int]]:
    """Every stored passage's field-weighted term frequencies (title 2, section 1.5, text 1) and term count,
    from analysis.analyse of its title, section and text (not from the stored tsvector)."""
    passages = {}
    for doc in reader.documents.values():
        title = analyse(doc.title, doc.language)
        for row in reader.document_passages(doc.id):
            fields = [(title, 2.0), (analyse(row["section"], doc.language), 1.5),
                      (analyse(row["text"], doc.language), 1.0)]
            tf: dict[str, float] = {}
            for terms, weight in fields:
                for term in terms:
                    tf[term] = tf.get(term, 0.0) + weight
            passages[row["id"]] = tf, sum(len(terms) for terms, _ in fields)
    return passages


def bm25_by_hand(passages: dict[int, tuple[dict[str, float], int]], question: str, limit: int
                 ) -> list[tuple[int, float]]:
    """BM25 written out: every passage holding one of the rarest question terms (`limit`), best first."""
    n, avgdl = len(passages), sum(length for _, length in passages.values()) / len(passages)
    df = {t: sum(t in tf for tf, _ in passages.values()) for t in question_terms(question)}
    df = {t: c for t, c in df.items() if c}
    candidates = pg_store.candidate_terms(df, limit) if df else []
    k1, b = pg_store.BM25_K1, pg_store.BM25_B
    scores = {}
    for pid, (tf, length) in passages.items():
        if any(t in tf for t in candidates):
            norm = 1 - b + b * length / avgdl
            scores[pid] = sum(math.log(1 + (n - c + 0.5) / (c + 0.5)) * tf[t] * (k1 + 1) / (tf[t] + k1 * norm)
                              for t, c in df.items() if t in tf)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def assert_bm25(version: PostgresVersion, passages: dict[int, tuple[dict[str, float], int]], limit: int,
                allowed: list[str] | None = None) -> None:
    """Every sample question's lexical top 20 has BM25's scores, in order (the candidate rule `limit`),
    among the passages of the `allowed` documents if given."""
    inside = None if allowed is None else {row["id"] for doc in allowed for row in version.document_passages(doc)}
    compared = 0
    for item in load_questions():
        expected = [(pid, score) for pid, score in bm25_by_hand(passages, item["question"], limit)
                    if inside is None or pid in inside]
        got = version.lexical(item["question"], 20, allowed)
        assert [s for _, s in got] == pytest.approx([s for _, s in expected[:20]], rel=1e-9), item["question"]
        exact = dict(expected)  # ties may come in any order, but every passage has its own score
        assert all(exact.get(pid) == pytest.approx(score, rel=1e-9) for pid, score in got), item["question"]
        compared += bool(got)
    assert compared >= 100


def test_lexical_scores_are_plain_bm25(loaded: PostgresVersion, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ranking is exactly BM25 over the analysed terms: same passages, same scores, same order.

    Unfiltered, from the impact-ordered postings: every matching passage counts, however few postings
    a round reads and however few open bounds are settled by exact scoring. Otherwise (filters, or a
    version written before postings), scored in SQL over the candidates of the rarest terms."""
    passages = analysed_passages(loaded)
    assert loaded.has_postings
    half = sorted(loaded.documents)[::2]  # a broad filter (about half the passages): postings through its mask
    assert loaded._in_scope(half) >= pg_store.POSTINGS_FILTER_SHARE * loaded.passage_count  # noqa: SLF001
    for first, open_limit in ((pg_store.POSTINGS_FIRST, pg_store.RESCORE_LIMIT), (2, 0), (3, 5)):
        monkeypatch.setattr(pg_store, "POSTINGS_FIRST", first)
        monkeypatch.setattr(pg_store, "RESCORE_LIMIT", open_limit)
        assert_bm25(loaded, passages, 10**9)
        assert_bm25(loaded, passages, 10**9, half)
    # Lists cut short (POSTINGS_MAX_DEPTH reached): an approximate top, but every score is the passage's own.
    monkeypatch.setattr(pg_store, "POSTINGS_FIRST", 1)
    monkeypatch.setattr(pg_store, "POSTINGS_MAX_DEPTH", 1)
    for item in load_questions()[:40]:
        exact = dict(bm25_by_hand(passages, item["question"], 10**9))
        got = loaded.lexical(item["question"], 20)
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
        assert all(exact[pid] == pytest.approx(score, rel=1e-9) for pid, score in got), item["question"]
    monkeypatch.setattr(loaded, "has_postings", False)
    for limit in (pg_store.CANDIDATE_LIMIT, 25):  # the shipped candidate rule, and one that leaves terms out
        monkeypatch.setattr(pg_store, "CANDIDATE_LIMIT", limit)
        assert_bm25(loaded, passages, limit)


def test_a_narrow_filter_keeps_its_lexical_hits(loaded: PostgresVersion, monkeypatch: pytest.MonkeyPatch) -> None:
    """Filtered questions are scored in SQL over the candidates of their rarer terms, counted within the
    filter's scope: a question whose rarest word occurs only outside the chosen document still finds
    every passage of that document holding its other word (counted over the whole version, the rare
    word's passages were the only candidates, and the filtered search found nothing); and when even
    that leaves fewer than k hits, every term becomes a candidate."""
    monkeypatch.setattr(pg_store, "CANDIDATE_LIMIT", 5)
    passages = analysed_passages(loaded)
    df: dict[str, int] = {}
    for tf, _ in passages.values():
        for term in tf:
            df[term] = df.get(term, 0) + 1
    english = [d for d in loaded.documents.values() if d.language == "en"]
    doc = max(english, key=lambda d: len(loaded.document_passages(d.id)))
    rows = loaded.document_passages(doc.id)
    mine = {term for row in rows for term in passages[row["id"]][0]}
    common = next(word for row in rows for word in row["text"].split()
                  if len(analyse(word, "en")) == 1 and 6 <= df.get(analyse(word, "en")[0], 0) <= 30)
    rare = next(word for other in english if other.id != doc.id for row in loaded.document_passages(other.id)
                for word in row["text"].split()
                if len(analyse(word, "en")) == 1 and df.get(analyse(word, "en")[0]) == 1
                and analyse(word, "en")[0] not in mine)
    term = analyse(common, "en")[0]
    holding = {row["id"] for row in rows if term in passages[row["id"]][0]}
    hits = loaded.lexical(f"{rare} {common}", 50, [doc.id], language="en")
    assert holding and {pid for pid, _ in hits} == holding, (rare, common)
    # However small the limit, a filtered question left with fewer than k hits asks again with every term.
    monkeypatch.setattr(pg_store, "CANDIDATE_LIMIT", 1)
    assert {pid for pid, _ in loaded.lexical(f"{rare} {common}", 50, [doc.id], language="en")} == holding


def test_a_served_version_reads_its_row_numbering_in_the_background(pg: PostgresStore, loaded: PostgresVersion,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """warm (called when a server starts serving a version) reads, on a thread of its own, what the first
    lexical question would otherwise wait for: the rows' passage ids and their documents, rightly paired."""
    version = pg.open(loaded.name)
    version.warm()
    deadline = time.monotonic() + 30
    while not {"_row_ids", "_row_documents"} <= vars(version).keys() and time.monotonic() < deadline:
        time.sleep(0.05)
    numbers, per_row = vars(version)["_row_documents"]
    ids = [int(i) for i in vars(version)["_row_ids"]]
    owners = PostgresVersion(pg, loaded.name).doc_ids(ids)  # a reader not warmed (open caches) asks the database
    assert [numbers[owners[i]] for i in ids] == per_row.tolist()
    # once warmed, a search's passage → document lookups (fusion, facets) come from memory, the same
    # answers, and a passage the version does not hold is not made up
    asked = [*ids[::-3], min(ids) - 1, max(ids) + 1]
    monkeypatch.setattr(version, "_rows", None)  # no query may run
    assert version.doc_ids(asked) == {i: owners[i] for i in ids[::-3]}


def test_a_lexical_search_started_early_answers_the_same(loaded: PostgresVersion) -> None:
    """lexical_later runs on the store's search threads while the caller goes on; its hits are lexical's."""
    started = [(item["question"], loaded.lexical_later(item["question"], 20)) for item in load_questions()[:30]]
    for question, result in started:
        assert result() == loaded.lexical(question, 20), question
    doc = next(iter(loaded.documents))
    assert loaded.lexical_later("violence", 20, [doc])() == loaded.lexical("violence", 20, [doc])


@pytest.mark.parametrize("terms", [5, 12, 20, 40])  # seen-bits in 8, 16, 32 and 64-bit words
def test_nra_over_term_lists_finds_the_top_k_of_the_summed_impacts(terms: int) -> None:
    """TermHeads, fed impact-ordered lists a few postings at a time, decides the same top k as summing
    every impact: the passages it returns as closed have their full score, and every passage of the
    true top k is closed or left open for exact scoring. Each question after the first works in the
    arrays the one before handed back (close), and sees nothing of it."""
    rng = np.random.default_rng(terms)
    k = 10
    for passages in (300, 200, 300):
        impacts = np.where(rng.random((terms, passages)) < 0.3, rng.gamma(2.0, 1.0, (terms, passages)), 0.0)
        impacts[:, ::7] = np.round(impacts[:, ::7])  # ties, as near-copies make
        total = impacts.sum(axis=0)
        lists = [np.flatnonzero(row)[np.argsort(-row[np.flatnonzero(row)], kind="stable")] for row in impacts]
        heads = pg_store.TermHeads(terms, passages)
        step = 3
        while True:
            for i, order in enumerate(lists):
                chunk = order[heads.read[i]:heads.read[i] + step]
                heads.add(i, chunk.astype(np.int32), impacts[i, chunk], len(order))
            settled = heads.settle(k, open_limit=20)
            if settled is not None:
                break
            step *= 2
        heads.close()
        open_rows, closed = settled
        assert all(total[row] == pytest.approx(score) for row, score in closed)
        scored = {int(r): float(total[r]) for r in open_rows} | dict(closed)
        got = sorted(scored.values(), reverse=True)[:k]
        assert got == pytest.approx(sorted(total, reverse=True)[:k])


def test_candidates_come_from_the_rarest_terms() -> None:
    counts = {"rare": 10, "mid": 400, "common": 90_000}
    assert pg_store.candidate_terms(counts, 1000) == ["rare", "mid"]
    assert pg_store.candidate_terms(counts, 5) == ["rare"]  # the rarest always stays
    assert pg_store.candidate_terms(counts, 10**6) == ["rare", "mid", "common"]


def test_publish_is_atomic_for_readers(pg: PostgresStore, loaded: PostgresVersion, sample: local.LocalVersion,
                                       embedder) -> None:  # type: ignore[no-untyped-def]
    query = embedder.encode_query("street lighting and robbery in Cali")
    before = loaded.dense(query, 10)
    dropped = loaded.documents[loaded.doc_ids([before[0][0]])[before[0][0]]].id
    old_count = loaded.passage_count
    stop = threading.Event()
    seen: list[tuple[str, int, int]] = []
    errors: list[BaseException] = []

    def read() -> None:
        while not stop.is_set():
            try:
                live = pg.live()
                assert live is not None
                seen.append((live.name, live.passage_count, len(live.document_passages(dropped))))
                assert loaded.dense(query, 10) == before  # the old reader keeps answering the same
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    new = copy_local_version(sample, pg, skip=(dropped,))
    pg.publish(new)
    time.sleep(0.3)
    stop.set()
    reader.join()
    assert not errors, errors
    assert {name for name, _, _ in seen} == {loaded.name, new}
    new_count = pg.open(new).passage_count
    for name, count, passages_of_dropped in seen:  # each answer wholly from one version
        if name == loaded.name:
            assert count == old_count and passages_of_dropped > 0
        else:
            assert count == new_count < old_count and passages_of_dropped == 0
    assert pg.live_name() == new and dropped not in pg.live().documents  # type: ignore[union-attr]


def test_rollback_and_prune_keep_live_and_previous(pg: PostgresStore, loaded: PostgresVersion,
                                                   sample: local.LocalVersion) -> None:
    names = [loaded.name]
    for _ in range(3):
        names.append(copy_local_version(sample, pg))
        pg.publish(names[-1])
    assert pg.list_versions() == names
    assert pg.rollback() == names[2] and pg.live_name() == names[2]
    assert pg.prune(1) == [names[0]]  # keep is at least 2; live (names[2]) and its previous stay
    assert pg.list_versions() == names[1:]
    with pytest.raises(VersionGone):
        loaded.document_passages(next(iter(loaded.documents)))
    with pg.connection() as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename ~ '_v[0-9]+$'")}
    assert not any(t.endswith(f"_v{loaded.id}") for t in tables)
    pg.publish(names[3])
    assert pg.prune(2) == [names[1]]
    assert pg.rollback() == names[2]
    with pytest.raises(ValueError, match="no earlier version"):  # its previous, names[1], is gone
        pg.rollback()


def test_second_builder_is_refused(pg: PostgresStore, pg_url: str) -> None:
    other = PostgresStore(pg_url)
    try:
        with pg.build_lock():
            with pytest.raises(BuildInProgress, match="already running"):
                with other.build_lock():
                    pass
            code = ("import sys; from pioc_search.stores.postgres import PostgresStore\n"
                    "from pioc_search.stores.base import BuildInProgress\n"
                    f"s = PostgresStore({pg_url!r})\n"
                    "try:\n    s.build_lock().__enter__()\nexcept BuildInProgress:\n    sys.exit(3)\n")
            assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60).returncode == 3
        with other.build_lock():  # released with the context
            pass
    finally:
        other.close()


DRIVER = textwrap.dedent("""
    import sys, time
    from pioc_search.stores.postgres import PostgresStore
    store = PostgresStore(sys.argv[1])
    with store.build_lock():
        live = store.live()
        writer = store.writer(live.dimension, base=live)
        writer.remove_documents(list(live.documents)[:3])
        print(writer.name, flush=True)
        time.sleep(120)
""")


def test_killed_build_leaves_live_serving_and_is_cleaned_up(pg: PostgresStore, loaded: PostgresVersion,
                                                            pg_url: str) -> None:
    process = subprocess.Popen([sys.executable, "-c", DRIVER, pg_url], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        dead = process.stdout.readline().strip()
        assert dead
        assert pg.remove_unfinished() == []  # the builder is alive: not a leftover
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert pg.live_name() == loaded.name and len(pg.live().documents) == len(loaded.documents)  # type: ignore[union-attr]
    deadline = time.monotonic() + 30
    while True:  # the server notices the dead client's sockets within moments
        try:
            with pg.build_lock():
                removed = pg.remove_unfinished()
            break
        except BuildInProgress:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert removed == [dead]
    assert pg.list_versions() == [loaded.name]
    # A writer dropped without abandon() (its connection lost): also a leftover.
    writer = pg.writer(loaded.dimension, base=loaded)
    writer.conn.close()
    assert wait_for(pg.remove_unfinished) == [writer.name]
    with pg.connection() as conn:
        assert conn.execute("SELECT count(*) FROM versions WHERE state <> 'published'").fetchone()[0] == 0
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename ~ '_v[0-9]+$'")}
        assert tables == {f"{kind}_v{loaded.id}" for kind in ("documents", "passages", "lexemes", "postings")}


def test_failed_verification_publishes_nothing(pg: PostgresStore, loaded: PostgresVersion) -> None:
    writer = pg.writer(loaded.dimension, base=loaded)
    writer.conn.execute(sql.SQL("UPDATE {documents} SET passages = passages + 1"
                                " WHERE id = (SELECT min(id) FROM {documents})").format(**writer.t))
    with pytest.raises(pg_store.VerificationError):
        writer.finish()
    assert pg.remove_unfinished() == [] and pg.list_versions() == [loaded.name]


def test_database_outage_is_store_unavailable_and_recovers(pg_server: PgServer, pg_url: str) -> None:
    store = PostgresStore(pg_url, connect_timeout=2)
    try:
        assert store.live_name() is None
        pg_server.stop()
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                store.live_name()
            assert time.monotonic() - started < 10
            with pytest.raises(StoreUnavailable):
                PostgresStore(pg_url, connect_timeout=2)
            away = time.monotonic() + 20  # a longer outage, requests arriving all along
            while time.monotonic() < away:
                with pytest.raises(StoreUnavailable):
                    store.live_name()
        finally:
            pg_server.start()
        back = time.monotonic()
        while True:  # the pool reconnects by itself, soon after the server is back
            try:
                assert store.live_name() is None
                break
            except StoreUnavailable:
                assert time.monotonic() - back < 12
                time.sleep(0.5)
    finally:
        store.close()


def test_a_connection_whose_session_died_while_idle_is_replaced_unseen(pg_url: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A pooled connection is checked before use only after lying idle (CHECK_IDLE): after a quiet spell
    in which the database dropped its sessions (a restart, a failover), the next call answers; a session
    that dies between two calls in quick succession fails that one call as StoreUnavailable, no worse."""
    monkeypatch.setattr(pg_store, "CHECK_IDLE", 0.2)
    store = PostgresStore(pg_url, pool_size=1, connect_timeout=2)

    def kill_session() -> None:
        with store.connection() as conn:
            pid = conn.info.backend_pid
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))  # returns once it has exited

    try:
        kill_session()
        time.sleep(0.5)  # idle longer than CHECK_IDLE: checked, found dead, replaced
        assert store.live_name() is None
        kill_session()  # used again at once: not checked, so this call fails cleanly...
        with pytest.raises(StoreUnavailable):
            store.live_name()
        assert store.live_name() is None  # ...and the pool has replaced it for the next
    finally:
        store.close()


def test_readers_get_store_unavailable_quickly_during_a_restart_and_recover(
        pg_server: PgServer, pg: PostgresStore, loaded: PostgresVersion, embedder) -> None:  # type: ignore[no-untyped-def]
    """A reader loop across a server restart: every call answers or fails with StoreUnavailable
    within the connect timeout; answers come back by themselves once the server is up."""
    query = embedder.encode_query("street lighting and robbery in Cali")
    expected = loaded.dense(query, 5)
    outcomes: list[tuple[float, float, str]] = []  # (started, seconds, outcome)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                live = pg.live()
                assert live is not None and live.dense(query, 5) == expected and live.lexical("robbery", 5)
                outcomes.append((started, time.monotonic() - started, "ok"))
            except StoreUnavailable:
                outcomes.append((started, time.monotonic() - started, "unavailable"))
                time.sleep(0.1)
            except BaseException as exc:  # noqa: BLE001 - reported below
                outcomes.append((started, time.monotonic() - started, repr(exc)))
                return

    reader = threading.Thread(target=loop)
    reader.start()
    try:
        wait_for(lambda: any(o == "ok" for _, _, o in outcomes))
        pg_server.stop()
        wait_for(lambda: any(o == "unavailable" for _, _, o in outcomes))
        time.sleep(2)  # the database stays away for a while
    finally:
        pg_server.start()
    restarted = time.monotonic()
    wait_for(lambda: any(o == "ok" and t > restarted for t, _, o in outcomes), timeout=30)
    stop.set()
    reader.join()
    assert {o for _, _, o in outcomes} == {"ok", "unavailable"}, outcomes[-3:]
    assert max(seconds for _, seconds, _ in outcomes) < pg.connect_timeout + 5  # never hangs


def test_a_build_that_loses_the_database_leaves_live_serving_and_is_cleaned_up(
        pg_server: PgServer, pg: PostgresStore, loaded: PostgresVersion) -> None:
    doc = next(iter(loaded.documents.values()))
    rows = loaded.document_passages(doc.id)
    with pg.build_lock():
        writer = pg.writer(loaded.dimension, base=loaded)
        writer.remove_documents([doc.id])
        pg_server.stop()
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                writer.add_document(doc, "f", [], [], np.zeros((0, loaded.dimension), dtype=np.float32))
            with pytest.raises(StoreUnavailable):
                writer.finish()  # gives up the version (abandon) without hanging or another error
            assert time.monotonic() - started < pg.connect_timeout + 5
        finally:
            pg_server.start()
    assert wait_for(lambda: _answers(pg.live_name)) == loaded.name  # the live version still serves
    live = pg.live()
    assert live is not None and len(live.document_passages(doc.id)) == len(rows)
    with pg.build_lock():
        assert pg.remove_unfinished() == [writer.name]  # the next build cleans up
    assert pg.list_versions() == [loaded.name]
    with pg.connection() as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE tablename ~ %s",
                            (f"_v{writer.id}$",)).fetchone()[0] == 0


def test_a_query_running_too_long_is_store_unavailable(pg_url: str) -> None:
    store = PostgresStore(pg_url, statement_timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="statement timeout"):
            with store.connection() as conn:
                conn.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 4
        assert store.live_name() is None  # the pool goes on serving
    finally:
        store.close()


def _answers(call):  # type: ignore[no-untyped-def]
    """`call()`, or None while the store is unavailable."""
    try:
        return call()
    except StoreUnavailable:
        return None


def test_open_store_picks_postgres_from_the_url(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIOC_DATABASE_URL", pg_url)
    store = open_store(Settings.from_env())
    try:
        assert isinstance(store, PostgresStore) and store.list_versions() == []
    finally:
        store.close()
    monkeypatch.setenv("PIOC_DATABASE_URL", "mysql://x")
    with pytest.raises(ValueError, match="postgresql://"):
        open_store(Settings.from_env())


def same_index(source: VersionReader, copy: VersionReader, embedder) -> None:  # type: ignore[no-untyped-def]
    """Documents, passages, vectors and search answers of two versions agree."""
    assert copy.documents == source.documents and copy.fingerprints() == source.fingerprints()
    assert copy.passage_count == source.passage_count and copy.meta["model_id"] == source.meta["model_id"]
    for doc_id in source.documents:
        rows = [dict(r) for r in source.document_passages(doc_id)]
        assert [dict(r) for r in copy.document_passages(doc_id)] == rows
        got = copy.vectors_by_embed_hash(r["embed_hash"] for r in rows)
        for h, v in source.vectors_by_embed_hash(r["embed_hash"] for r in rows).items():
            assert np.allclose(got[h], v, atol=1e-3)
    for item in load_questions()[:8]:
        query = embedder.encode_query(item["question"])
        hits, expected = copy.dense(query, 10), source.dense(query, 10)
        assert np.allclose([s for _, s in hits], [s for _, s in expected], atol=2e-3)  # halfvec near-ties may swap
        if type(copy) is type(source):  # same engine: the very same answers
            assert hits == expected and copy.lexical(item["question"], 10) == source.lexical(item["question"], 10)


def test_copy_live_moves_an_index_between_databases_without_re_embedding(
        pg: PostgresStore, loaded: PostgresVersion, pg_server: PgServer, embedder) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from pioc_search.cli import app
    from pioc_search.stores.transfer import copy_live

    database = pg_server.create_database()
    target = PostgresStore(pg_server.url(database), connect_timeout=3)
    try:
        name = copy_live(pg, target)
        assert target.live_name() == name and target.remove_unfinished() == []
        copied = target.live()
        assert copied is not None and copied.meta["copied_from"] == loaded.name
        same_index(loaded, copied, embedder)
        with target.build_lock():  # an ingest running at the target: refused, nothing changed
            result = CliRunner().invoke(app, ["migrate", "--from", pg.url, "--to", target.url])
            assert result.exit_code == 3 and "already running" in result.output
        assert target.list_versions() == [name]
        result = CliRunner().invoke(app, ["migrate", "--from", pg.url, "--to", target.url])
        assert result.exit_code == 0, result.output
        assert f"{len(loaded.documents)} documents, {loaded.passage_count} passages" in result.output
        assert len(target.list_versions()) == 2 and target.rollback() == name  # the copy is an ordinary version
        empty = pg_server.create_database()
        result = CliRunner().invoke(app, ["migrate", "--from", pg_server.url(empty), "--to", target.url])
        assert result.exit_code == 2 and "no live index version" in result.output
        pg_server.drop_database(empty)
    finally:
        target.close()
        pg_server.drop_database(database)


def test_migrate_between_the_local_store_and_postgres(sample_index: BuiltIndex, pg: PostgresStore,  # type: ignore[no-untyped-def]
                                                      tmp_path, embedder) -> None:
    """Local index directory → PostgreSQL → another local directory, all through open_store."""
    from pioc_search.stores.transfer import copy_live, store_at

    settings = Settings.from_env()
    source = store_at(str(sample_index.root), settings)
    back = store_at(str(tmp_path / "back"), settings)
    try:
        copy_live(source, pg)
        copy_live(pg, back)
        for copy in (pg.live(), back.live()):
            same_index(source.live(), copy, embedder)  # type: ignore[arg-type]
    finally:
        source.close()
        back.close()

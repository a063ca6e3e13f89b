"""The tantivy engine's search paths give the ranking of a plain BM25 OR query: filters applied to the
ranked hits or inside the query, indexes written before the document-key field, words in every passage."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
import tantivy

from pioc_search import lexical
from pioc_search.analysis import question_terms
from pioc_search.lexical import tantivy_engine

DOCS = 300
WORDS = "violenc prevent youth street light cali knife school mentor patrol".split()


def passages() -> list[lexical.LexicalRow]:
    """DOCS documents of 10 passages; "common" in every passage, other words at random (seeded)."""
    rng, rows = random.Random(3), []
    for d in range(DOCS):
        for i in range(10):
            terms = ["common", *rng.choices(WORDS, k=rng.randint(3, 12))]
            rows.append(lexical.LexicalRow(d * 10 + i + 1, f"doc{d}", " ".join(terms), "", f"title{d}"))
    return rows


def write(folder: Path, rows: list[lexical.LexicalRow]) -> lexical.LexicalReader:
    folder.mkdir()
    writer = lexical.engine("tantivy").writer(folder, sqlite3.connect(":memory:"), None)
    writer.add(rows)
    writer.finish()
    return lexical.engine("tantivy").reader(folder, lambda: sqlite3.connect(":memory:"))


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> lexical.LexicalReader:
    return write(tmp_path_factory.mktemp("tantivy") / "version", passages())


def owner(pid: int) -> str:
    return f"doc{(pid - 1) // 10}"


def reference(reader: lexical.LexicalReader, terms: list[str], k: int, allowed: set[str]) -> list[tuple[int, float]]:
    """The unfiltered ranking of every matching passage, filtered afterwards: what a filter must give."""
    return [hit for hit in reader.search(terms, DOCS * 10) if owner(hit[0]) in allowed][:k]


def same_ranking(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> bool:
    return [p for p, _ in got] == [p for p, _ in expected] and all(
        abs(a - b) < 1e-4 for (_, a), (_, b) in zip(got, expected))


@pytest.mark.parametrize("post_filter_depth", [tantivy_engine.POST_FILTER_DEPTH, 0], ids=["ranked hits", "in query"])
@pytest.mark.parametrize("share", [0.5, 0.1, 0.01])
@pytest.mark.parametrize("terms", [["knife", "patrol"], ["common"], ["cali", "common", "school"]])
def test_a_filter_keeps_k_allowed_hits_in_the_unfiltered_order(reader: lexical.LexicalReader, share: float,
                                                               terms: list[str], post_filter_depth: int,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tantivy_engine, "POST_FILTER_DEPTH", post_filter_depth)
    allowed = {f"doc{d}" for d in random.Random(len(terms)).sample(range(DOCS), max(1, int(DOCS * share)))}
    hits = reader.search(terms, 20, sorted(allowed))
    assert {owner(p) for p, _ in hits} <= allowed
    assert len(hits) == min(20, len(reference(reader, terms, 10_000, allowed)))
    assert same_ranking(hits, reference(reader, terms, 20, allowed))


def test_a_wide_filter_whose_documents_rank_last_still_returns_k_hits(tmp_path: Path) -> None:
    """Half the documents allowed, but only their passages without the rare word: the ranked hits
    read for the filter are all disallowed, so the search falls back to the filter inside the query."""
    rows = [lexical.LexicalRow(d * 10 + i + 1, f"doc{d}", "common rare rare" if d % 2 else "common other", "", "")
            for d in range(DOCS) for i in range(10)]
    reader = write(tmp_path / "version", rows)
    allowed = [f"doc{d}" for d in range(0, DOCS, 2)]
    hits = reader.search(["rare", "common"], 30, allowed)
    assert len(hits) == 30 and {owner(p) for p, _ in hits} <= set(allowed)


def count_ranked_reads(reader: lexical.LexicalReader, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per time the reader reads the unfiltered ranking for a filter."""
    reads: list[int] = []
    original = reader._allowed_hits  # type: ignore[attr-defined]

    def counted(hits, allowed):  # type: ignore[no-untyped-def]
        reads.append(len(hits))
        return original(hits, allowed)

    monkeypatch.setattr(reader, "_allowed_hits", counted)
    return reads


def test_a_filter_whose_ranked_hits_keep_coming_up_short_goes_inside_the_query(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the unfiltered ranking for a filter against the question finds none of its passages; after a
    few such searches the reader stops paying for that read (trying it again now and then), with the same hits."""
    rows = [lexical.LexicalRow(d * 10 + i + 1, f"doc{d}", "common rare rare" if d % 2 else "common other", "", "")
            for d in range(DOCS) for i in range(10)]
    reader = write(tmp_path / "version", rows)
    reads = count_ranked_reads(reader, monkeypatch)
    against = tuple(f"doc{d}" for d in range(0, DOCS, 2))  # the documents without the rare word
    searches = [reader.search(["rare", "common"], 30, against) for _ in range(4 + 2 * tantivy_engine.RETRY_EVERY)]
    assert all(len(hits) == 30 and same_ranking(hits, searches[0]) for hits in searches)
    assert {owner(p) for p, _ in searches[0]} <= set(against)
    assert 4 <= len(reads) <= 6, "4 reads to learn, then one in RETRY_EVERY searches"

    reads.clear()
    along = tuple(f"doc{d}" for d in range(1, DOCS, 2))  # a filter the ranking agrees with keeps being read
    for _ in range(10):
        assert {owner(p) for p, _ in reader.search(["rare", "common"], 30, along)} <= set(along)
    assert len(reads) == 10


def write_before_document_key(version: Path, rows: list[lexical.LexicalRow]) -> None:
    """The lexical index of a version built before `dockey` existed (the schema as it was then)."""
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("pid", indexed=True, fast=True)
    builder.add_text_field("doc", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("terms", tokenizer_name="whitespace", index_option="freq")
    (version / tantivy_engine.FOLDER).mkdir(parents=True)
    index = tantivy.Index(builder.build(), path=str(version / tantivy_engine.FOLDER))
    writer = index.writer(heap_size=50_000_000, num_threads=1)
    for row in rows:
        doc = tantivy.Document()
        doc.add_unsigned("pid", row.passage_id)
        doc.add_text("doc", row.doc_id)
        doc.add_text("terms", f"{row.text} {row.title}")
        writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()


def test_an_index_written_before_the_document_key_still_filters(tmp_path: Path) -> None:
    write_before_document_key(tmp_path / "old", passages())
    reader = lexical.engine("tantivy").reader(tmp_path / "old", lambda: sqlite3.connect(":memory:"))
    allowed = {f"doc{d}" for d in range(0, DOCS, 3)}
    hits = reader.search(["knife", "common"], 25, sorted(allowed))
    assert len(hits) == 25 and {owner(p) for p, _ in hits} <= allowed
    assert same_ranking(hits, reference(reader, ["knife", "common"], 25, allowed))


def test_an_incremental_build_on_an_index_before_the_document_key_adds_and_filters(tmp_path: Path) -> None:
    rows = passages()
    write_before_document_key(tmp_path / "old", rows[:-10])  # every document but the last
    (tmp_path / "new").mkdir()
    writer = lexical.engine("tantivy").writer(tmp_path / "new", sqlite3.connect(":memory:"), tmp_path / "old")
    writer.add(rows[-10:])
    writer.finish()
    reader = lexical.engine("tantivy").reader(tmp_path / "new", lambda: sqlite3.connect(":memory:"))
    assert reader.count() == DOCS * 10
    last = f"doc{DOCS - 1}"
    assert {owner(p) for p, _ in reader.search(["common"], 10, [last])} == {last}
    assert len(reader.search(["common"], 10, [last])) == 10


def test_a_question_of_only_frequent_words_finds_the_passages_holding_them(reader: lexical.LexicalReader) -> None:
    """No word is dropped for being common: "common" is in every passage, and the passages that also
    hold the question's other frequent word rank first."""
    hits = reader.search(["common", "school"], 3000)
    assert len(hits) == DOCS * 10
    with_school = sum(1 for p in passages() if "school" in p.text.split())
    assert 0 < with_school < DOCS * 10
    top = {p for p, _ in hits[:with_school]}
    assert top == {p.passage_id for p in passages() if "school" in p.text.split()}


def test_a_stop_word_free_question_of_everyday_words_keeps_every_word() -> None:
    """Everyday words that are not stop words stay in the query, whatever the language reading."""
    assert {"peopl", "work", "citi"} <= set(question_terms("people work city", "und"))
    assert question_terms("people work city", "en") == ["peopl", "work", "citi"]

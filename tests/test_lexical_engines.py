"""Both lexical engines behind one interface, written and read through the store as production does:
no question word dropped, filters inside the query, incremental copies, verification."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from pioc_search import lexical
from pioc_search.embedders import Embedder
from pioc_search.ingest.pipeline import build_index
from pioc_search.models import Document, Passage
from pioc_search.search import Searcher
from pioc_search.stores.local import LocalStore, store

DIMENSION = 4
COMMON_DOCS = 120  # x 10 passages: above the 1,000-passage floor where the old cut dropped common words


def document(doc_id: str) -> Document:
    return Document(doc_id, f"{doc_id}.md", "0", f"Notes {doc_id}", "report", [], [], None, "en", None,
                    "text/markdown")


def write(root: Path, engine: str, docs: dict[str, list[str]], base: Path | None = None,
          remove: tuple[str, ...] = ()) -> store.LocalVersion:
    """Publish a version holding `docs` (doc id → passage texts), optionally from `base`."""
    writer = store.LocalWriter(root, DIMENSION, base=base, lexical_engine=engine)
    writer.remove_documents(remove)
    next_id = 1 + (writer.conn.execute("SELECT COALESCE(MAX(id), 0) FROM passages").fetchone()[0])
    for doc_id, texts in docs.items():
        passages = [Passage(next_id + i, doc_id, i, text, "", None, None) for i, text in enumerate(texts)]
        next_id += len(texts)
        vectors = np.eye(DIMENSION, dtype=np.float32)[np.arange(len(texts)) % DIMENSION]
        writer.add_document(document(doc_id), "0", passages, ["0"] * len(texts), vectors)
    writer.set_meta({"model_id": "none", "dimension": DIMENSION})
    path = root / writer.finish()
    store.publish(root, path)
    return store.LocalVersion(path)


def owners(version: store.LocalVersion, hits: list[tuple[int, float]]) -> list[str]:
    ids = version.doc_ids([pid for pid, _ in hits])
    return [ids[pid] for pid, _ in hits]


@pytest.fixture(params=lexical.NAMES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def common(tmp_path: Path, engine: str) -> Searcher:
    """Violence in every passage; knife in one; one passage says violence three times."""
    docs = {f"d{d}": [f"Violence prevention meeting number {d} {i} in the town hall." for i in range(10)]
            for d in range(COMMON_DOCS)}
    docs["d7"][3] = "Violence, violence and more violence in the town hall."
    docs["d50"][5] = "A knife amnesty was part of the violence prevention meeting in the town hall."
    return Searcher(write(tmp_path / "idx", engine, docs), None)  # type: ignore[arg-type]


def test_the_version_records_its_engine_and_counts_every_passage(common: Searcher, engine: str) -> None:
    version = common.version
    assert version.meta["lexical"] == engine and version.meta["schema"] == store.SCHEMA_VERSION
    assert version.lexical_index.count() == version.passage_count == COMMON_DOCS * 10
    assert version.lexical_index.doc_freq("violenc") == COMMON_DOCS * 10
    assert version.lexical_index.doc_freq("knife") == 1 and version.lexical_index.doc_freq("absent") == 0
    store.verify(version.conn, version.index, version.lexical_index)


def test_a_question_of_one_very_common_word_is_ranked_by_bm25(common: Searcher) -> None:
    hits = common.lexical("violence", 20)
    assert len(hits) == 20
    assert owners(common.version, hits)[0] == "d7", "three mentions in a short passage rank first"
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_a_rare_word_is_not_drowned_and_the_common_word_still_counts(common: Searcher) -> None:
    hits = common.lexical("knife violence", 50)
    assert owners(common.version, hits)[0] == "d50"
    assert len(hits) == 50, "passages with only the common word still answer (it was dropped before)"
    assert owners(common.version, hits)[1] == "d7", "and the common word's frequency still orders them"


def test_a_filtered_search_returns_k_hits_when_k_exist(common: Searcher) -> None:
    allowed = [f"d{d}" for d in range(100, COMMON_DOCS)]  # none of the best passages are in these
    hits = common.lexical("knife violence", 25, allowed)
    assert len(hits) == 25 and set(owners(common.version, hits)) <= set(allowed)
    assert common.lexical("knife", 5, allowed) == []
    assert common.lexical("knife", 5, []) == []


@pytest.mark.parametrize("question", ['"unbalanced', "violence*", "-violence", "NEAR(violence knife)",
                                      "(knife OR", "AND OR NOT", "col:value ^start", 'a"b\'c'])
def test_query_syntax_in_questions_is_inert(common: Searcher, question: str) -> None:
    common.lexical(question, 5)
    assert common.version.lexical_index.search([question, "knife"], 5)  # a term with syntax is just a term


def test_an_incremental_copy_keeps_unchanged_passages_and_drops_removed_ones(tmp_path: Path, engine: str) -> None:
    root = tmp_path / "idx"
    first = write(root, engine, {"cali": ["Streetlights in Cali cut robbery."],
                                 "glasgow": ["Glasgow navigators met knife victims."],
                                 "recife": ["Recife opened youth centres.", "Recife trained mediators."]})
    second = write(root, engine, {"recife": ["Recife closed its youth centres."], "oakland": ["Oakland ceasefire."]},
                   base=first.path, remove=("glasgow", "recife"))
    found = {w: owners(second, second.lexical_index.search([w], 10)) for w in ("robberi", "glasgow", "mediat", "close", "ceasefir")}
    assert found == {"robberi": ["cali"], "glasgow": [], "mediat": [], "close": ["recife"], "ceasefir": ["oakland"]}
    assert second.lexical_index.count() == second.passage_count == 3
    store.verify(second.conn, second.index, second.lexical_index)
    assert owners(first, first.lexical_index.search(["glasgow", "mediat"], 10)) == ["glasgow", "recife"], "base untouched"
    assert first.lexical_index.count() == 4


def test_switching_engine_rebuilds_from_scratch(tmp_path: Path, embedder: Embedder) -> None:
    corpus, root = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    (corpus / "a.md").write_text("# Knives\n\nA knife amnesty ran in Glasgow.\n", encoding="utf-8")
    build_index(corpus, LocalStore(root, lexical_engine="fts5"), embedder)
    assert build_index(corpus, LocalStore(root, lexical_engine="fts5"), embedder).unchanged == ["a.md"]
    switched = build_index(corpus, LocalStore(root, lexical_engine="tantivy"), embedder)
    assert switched.added == ["a.md"] and switched.unchanged == []
    version = store.LocalVersion(store.current_version(root))
    assert version.meta["lexical"] == "tantivy" and (version.path / "lexical").is_dir()
    hits = Searcher(version, embedder).search("knives", k=1, mode="lexical").hits
    assert [h.document.id for h in hits] == ["a-md"]


def test_an_unknown_engine_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown lexical engine 'lucene'"):
        lexical.engine("lucene")


def test_concurrent_queries_on_one_version_give_the_same_answers(common: Searcher) -> None:
    questions = ["knife violence", "town hall meeting", "violence number 7", "prevention"] * 10
    expected = [common.lexical(q, 30) for q in questions]
    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(lambda q: common.lexical(q, 30), questions)) == expected

"""Index invariants on the sample corpus: vectors ↔ rows, ids round-trip, atomic versions."""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS, BuiltIndex, BuiltStore
from pioc_search import ann
from pioc_search.embedders import Embedder
from pioc_search.holder import IndexHolder
from pioc_search.ingest.pipeline import embedding_input
from pioc_search.models import DOC_TYPES
from pioc_search.stores.base import Store, VersionReader
from pioc_search.stores.local import store


@pytest.fixture(scope="module")
def version(sample_index: BuiltIndex) -> store.LocalVersion:
    return store.LocalVersion(store.current_version(sample_index.root))


def test_every_sample_document_is_indexed_without_failures(sample_index: BuiltIndex, version: store.LocalVersion) -> None:
    assert sample_index.report.failed == []
    assert len(version.documents) >= 12
    assert {d.doc_type for d in version.documents.values()} == set(DOC_TYPES)
    paths = {d.path for d in version.documents.values()}
    assert any(p.endswith(".vtt") for p in paths) and any(p.endswith(".docx") for p in paths)


def test_every_store_holds_the_same_documents_passages_and_vectors(built_store: BuiltStore,
                                                                    version: store.LocalVersion) -> None:
    """The sample corpus built into each store through the same pipeline: identical content."""
    assert isinstance(built_store.store, Store) and built_store.report.failed == []
    live = built_store.store.live()
    assert isinstance(live, VersionReader) and built_store.store.list_versions() == [live.name]
    assert live.documents == version.documents and live.passage_count == version.passage_count
    assert live.meta["model_id"] == version.meta["model_id"] and live.dimension == version.dimension
    for doc_id in version.documents:
        ours, theirs = live.document_passages(doc_id), version.document_passages(doc_id)
        assert [dict(r) for r in ours] == [dict(r) for r in theirs]
        first = theirs[0]["id"]
        assert np.allclose(live.vector(first), version.vector(first), atol=1e-3)  # both store float16
    built_store.store.verify(live.name)


def test_vector_count_equals_passage_rows(version: store.LocalVersion) -> None:
    rows = version.conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
    assert rows == version.index.ntotal == version.lexical_index.count() > 50
    assert version.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_ids_round_trip_between_faiss_and_sqlite(version: store.LocalVersion, embedder: Embedder) -> None:
    ids = store.all_ids(version.index)
    rows = version.passages(ids.tolist())
    assert set(rows) == set(ids.tolist())
    sample = ids[:: max(1, len(ids) // 5)][:5]
    for pid in sample:
        row = rows[int(pid)]
        doc = version.documents[row["doc_id"]]
        from pioc_search.models import Passage
        passage = Passage(row["id"], row["doc_id"], row["ordinal"], row["text"], row["section"], row["page_start"], row["page_end"])
        expected = embedder.encode([embedding_input(doc, passage)])[0]
        assert np.allclose(version.index.reconstruct(int(pid)), expected, atol=1e-3)  # stored as float16
        assert abs(float(np.linalg.norm(expected)) - 1.0) < 1e-4


def test_pdf_passages_carry_page_spans_and_others_do_not(version: store.LocalVersion) -> None:
    for doc in version.documents.values():
        passages = version.document_passages(doc.id)
        assert passages, f"{doc.path} has no passages"
        assert all(p["text"].strip() for p in passages)
        if doc.media_type == "application/pdf":
            assert all(1 <= p["page_start"] <= p["page_end"] <= doc.pages for p in passages)
            assert passages[-1]["page_end"] > 1, "a multi-page report spans pages"
        else:
            assert all(p["page_start"] is None for p in passages)


def test_verify_refuses_an_inconsistent_version(version: store.LocalVersion) -> None:
    broken = ann.load(version.path / store.VECTORS_NAME, mmap=False)  # the served index is read-only
    broken.remove(store.all_ids(broken)[:1])
    with pytest.raises(store.VerificationError, match="vectors but"):
        store.verify(version.conn, broken, version.lexical_index)


def test_current_points_at_a_complete_version(sample_index: BuiltIndex) -> None:
    live = store.current_version(sample_index.root)
    assert live is not None and live.name == sample_index.report.version
    assert (live / store.DB_NAME).exists() and (live / store.VECTORS_NAME).exists()
    assert not list(sample_index.root.glob("*.building"))
    conn = sqlite3.connect(live / store.DB_NAME)
    assert conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == sample_index.report.documents
    assert sample_index.report.documents == len([p for p in CORPUS.rglob("*") if p.suffix in
                                                 (".pdf", ".html", ".docx", ".md", ".vtt", ".srt")
                                                 and p.name != "README.md"])


def test_a_served_version_reads_its_mapped_files_into_memory_before_searches_touch_them(
        tmp_path: Path, version: store.LocalVersion, embedder: Embedder) -> None:
    """Opening a version maps its files (fast); when a server starts serving it, a background read
    brings their pages into memory, so the first searches after a publish do not wait for the disk
    page by page. Versions opened for other reasons (a build's base, /admin/versions) are not read."""
    questions = ("street lighting and robbery", "violence interrupters", "¿Qué redujo los homicidios?")
    searches = [(embedder.encode_query(q), q) for q in questions]
    for vector, question in searches:  # the model and the code are in memory from here on
        version.dense(vector, 20), version.lexical(question, 20)
    copy = shutil.copytree(version.path, tmp_path / version.name)  # files no process has mapped yet
    store.publish(tmp_path, copy)
    for file in [copy / store.VECTORS_NAME, *(copy / "lexical").glob("*")]:  # out of the page cache
        descriptor = os.open(file, os.O_RDONLY)
        os.fsync(descriptor)
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(descriptor)
    served = IndexHolder(store.LocalStore(tmp_path), embedder).get().version
    for reader in [t for t in threading.enumerate() if t.name == "pioc-warm"]:  # the read serving started
        reader.join(30)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
    for vector, question in searches:
        assert served.dense(vector, 20) and served.lexical(question, 20)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_majflt == faults, "a search read from the disk"

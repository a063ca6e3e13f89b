"""Dense search backends with real FAISS: exact vs approximate (IVF), filters inside the search,
memory-mapped versions and incremental ingest on top of them, and the choice by version size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pioc_search import ann
from pioc_search.settings import Settings
from pioc_search.stores import open_store
from pioc_search.stores.local import store
from pioc_search.embedders import Embedder
from pioc_search.ingest.pipeline import build_index
from pioc_search.search import Filters, Searcher

DIM = 64


def clustered(n: int, seed: int = 0, clusters: int = 40, spread: float = 0.6) -> np.ndarray:
    """Unit vectors in clusters, like passages on a few dozen topics (harder than uniform noise for IVF lists)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, DIM)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def questions(n: int) -> np.ndarray:
    """Questions on the same topics as the passages (the same clusters), none of them a passage."""
    return clustered(6000 + n)[6000:]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, ann.ExactIndex, ann.IVFIndex]:
    vectors = clustered(6000)
    ids = np.arange(len(vectors), dtype=np.int64) * 7 + 3  # passage ids are not positions
    return vectors, ids, ann.ExactIndex.build(vectors, ids), ann.IVFIndex.build(vectors, ids)


def test_exact_and_ivf_agree_on_the_top_ten(data) -> None:  # type: ignore[no-untyped-def]
    vectors, ids, exact, ivf = data
    queries = questions(100)
    found = [len({i for i, _ in ivf.search(q, 10)} & {i for i, _ in exact.search(q, 10)}) for q in queries]
    assert sum(found) / (10 * len(queries)) >= 0.98
    assert ivf.nprobe < ivf.index.nlist, "the approximate index must not scan every list"
    best = exact.search(queries[0], 1)[0]
    assert np.isclose(best[1], float(vectors[list(ids).index(best[0])] @ queries[0]), atol=1e-3)


@pytest.mark.parametrize("share", [0.0005, 0.005, 0.05, 0.5])
def test_filtered_search_returns_k_allowed_hits(data, share: float) -> None:  # type: ignore[no-untyped-def]
    """However few passages pass a filter, k of them come back (or all, when fewer pass), never another."""
    vectors, ids, exact, ivf = data
    rng = np.random.default_rng(int(share * 10_000))
    allowed = rng.choice(ids, size=max(3, int(share * len(ids))), replace=False)
    for query in questions(20):
        hits = ivf.search(query, 10, allowed=allowed)
        assert len(hits) == min(10, len(allowed))
        assert set(i for i, _ in hits) <= set(allowed.tolist())
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
        if len(allowed) <= 30:  # small filtered sets are searched exhaustively: exactly the exact answer
            assert [i for i, _ in hits] == [i for i, _ in exact.search(query, 10, allowed=allowed)]


@pytest.mark.parametrize("share", [0.25, 0.6, 0.95])
@pytest.mark.parametrize("against", [False, True])
def test_a_wide_filter_gives_what_the_id_selector_gives(  # type: ignore[no-untyped-def]
        data, share: float, against: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A filter passing a large share is applied to the ranked hits of the same scan: the same hits as the
    FAISS id selector, also when the filter is against the question (its best passages all filtered out)."""
    vectors, ids, exact, ivf = data
    rng = np.random.default_rng(int(share * 100))
    queries = questions(15)
    for query in queries:
        if against:  # the passages least like the question pass
            allowed = ids[np.argsort(vectors @ query)[: int(share * len(ids))]]
        else:
            allowed = rng.choice(ids, size=int(share * len(ids)), replace=False)
        assert len(allowed) >= ivf.post_filter_share * ivf.ntotal
        hits = ivf.search(query, 10, allowed=allowed)
        with monkeypatch.context() as patch:
            patch.setattr(ivf, "post_filter_share", None)
            through_selector = ivf.search(query, 10, allowed=allowed)
        assert len(hits) == 10 and set(i for i, _ in hits) <= set(allowed.tolist())
        assert [i for i, _ in hits] == [i for i, _ in through_selector]
        assert np.allclose([s for _, s in hits], [s for _, s in through_selector])


def test_excluded_ids_never_come_back(data) -> None:  # type: ignore[no-untyped-def]
    vectors, ids, exact, ivf = data
    query = vectors[10]
    banned = np.array([i for i, _ in exact.search(query, 50)], dtype=np.int64)
    for index in (exact, ivf):
        hits = index.search(query, 20, excluded=banned)
        assert len(hits) == 20 and not set(i for i, _ in hits) & set(banned.tolist())


def test_the_backend_is_chosen_by_version_size(data, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    vectors, ids, exact, ivf = data
    assert ann.backend_for(len(ids), limit=len(ids)) is ann.IVFIndex
    assert ann.backend_for(len(ids) - 1, limit=len(ids)) is ann.ExactIndex
    monkeypatch.setenv("PIOC_ANN_THRESHOLD", "5000")
    assert isinstance(ann.fit(exact), ann.IVFIndex) and ann.fit(ivf) is ivf
    monkeypatch.setenv("PIOC_ANN_THRESHOLD", "100000")
    back = ann.fit(ivf)
    assert isinstance(back, ann.ExactIndex) and sorted(back.ids().tolist()) == sorted(ids.tolist())
    assert np.allclose(back.reconstruct(int(ids[5])), vectors[5], atol=1e-3)


def test_saved_index_loads_memory_mapped_and_read_only(data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    vectors, ids, exact, ivf = data
    for index in (exact, ivf):
        path = tmp_path / f"{index.name}.faiss"
        index.save(path)
        mapped = ann.load(path)
        assert type(mapped) is type(index) and mapped.mapped and mapped.ntotal == len(ids)
        assert mapped.search(vectors[7], 5) == index.search(vectors[7], 5)
        with pytest.raises(ann.ReadOnlyIndex):
            mapped.remove(ids[:1])
        private = ann.load(path, mmap=False)
        private.remove(ids[:10])
        private.add(vectors[:2], np.array([1, 2], dtype=np.int64))
        assert private.ntotal == len(ids) - 8 and ann.load(path).ntotal == len(ids)


SECTION = ("In {city} the violence interruption team of {n} outreach workers mediated disputes this quarter, "
           "and the observatory tracked shootings block by block so lighting went where it was needed. ")


def write_doc(corpus: Path, name: str, city: str, year: int, sections: int = 4) -> None:
    body = "".join(f"\n## Part {i}\n\n{SECTION.format(city=city, n=10 + i) * 2}\n" for i in range(sections))
    (corpus / name).write_text(f"---\ndate: {year}-05-01\n---\n# {city} notes\n{body}", encoding="utf-8")


def test_incremental_ingest_over_a_memory_mapped_approximate_version(
        tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Served versions are mapped read-only; an ingest copies, changes and publishes, the old version intact."""
    monkeypatch.setenv("PIOC_ANN_THRESHOLD", "1")  # every version approximate
    corpus, root = tmp_path / "corpus", tmp_path / "indexes"
    corpus.mkdir()
    for i, city in enumerate(["Cali", "Glasgow", "Recife", "Oakland"]):
        write_doc(corpus, f"{city.lower()}.md", city, 2015 + i)
    local = open_store(Settings(index_dir=root))
    build_index(corpus, local, embedder)
    old = local.live()
    assert isinstance(old.index, ann.IVFIndex) and old.index.mapped
    old_ids = sorted(store.all_ids(old.index).tolist())
    question = embedder.encode_query("outreach workers in Glasgow")
    old_hits = old.index.search(question, 5)

    (corpus / "glasgow.md").unlink()
    write_doc(corpus, "medellin.md", "Medellin", 2022, sections=3)
    report = build_index(corpus, local, embedder)
    assert report.removed == ["glasgow.md"] and report.added == ["medellin.md"]

    new = local.live()
    assert new.name != old.name and isinstance(new.index, ann.IVFIndex) and new.index.mapped
    rows = {r[0]: r[1] for r in new.conn.execute("SELECT id, doc_id FROM passages")}
    assert sorted(store.all_ids(new.index).tolist()) == sorted(rows)
    assert "glasgow-md" not in rows.values() and "medellin-md" in rows.values()
    store.verify(new.conn, new.index, new.lexical_index)
    # the old version, still mapped by servers finishing their requests, is untouched
    assert sorted(store.all_ids(old.index).tolist()) == old_ids and old.index.search(question, 5) == old_hits
    reopened = store.LocalVersion(old.path)
    assert sorted(store.all_ids(reopened.index).tolist()) == old_ids

    searcher = Searcher(new, embedder)
    recent = searcher.search("outreach workers", k=5, mode="dense", filters=Filters(year_from=2022))
    assert recent.hits and {h.document.id for h in recent.hits} == {"medellin-md"}
    everything = searcher.search("outreach workers", k=len(rows), mode="dense")
    assert len(everything.hits) + sum(len(h.duplicates) for h in everything.hits) == len(rows)

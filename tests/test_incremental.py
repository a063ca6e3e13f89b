"""Incremental ingest with the real model: unchanged files cost nothing, edits re-embed only new
text, removals leave the index, and the result equals a from-scratch build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pioc_search import cli
from pioc_search.embedders import Embedder
from pioc_search.ingest.pipeline import build_index
from pioc_search.stores.base import Store

SECTION = ("In {city} the violence interruption team of {n} outreach workers mediated {n} disputes this "
           "quarter. Workers met young people at schools and clinics, and the municipal observatory tracked "
           "shootings block by block so that lighting and youth programmes went where they were needed. ")


def write_doc(corpus: Path, name: str, city: str, sections: int = 3, last: str | None = None,
              front: str = "") -> None:
    parts = [f"---\n{front}---\n" if front else "", f"# {city} field notes\n"]
    for i in range(sections):
        body = SECTION.format(city=city, n=10 + i) * 2
        if last is not None and i == sections - 1:
            body = last
        parts.append(f"\n## Chapter {i + 1}\n\n{body}\n")
    (corpus / name).write_text("".join(parts), encoding="utf-8")


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    (folder / "reports").mkdir(parents=True)
    write_doc(folder, "cali.md", "Cali")
    write_doc(folder, "glasgow.md", "Glasgow")
    write_doc(folder / "reports", "recife.md", "Recife", sections=2)
    return folder


@pytest.fixture()
def new_store(store_maker, store_kind: str):  # type: ignore[no-untyped-def]
    """Makes empty stores of the module's backend (the module runs once per store)."""
    return lambda: store_maker.new(store_kind)[1]


def rows(store: Store) -> dict[int, tuple]:
    version = store.live()
    return {r["id"]: (r["doc_id"], r["ordinal"], r["text"], r["section"], r["embed_hash"])
            for doc_id in version.documents for r in version.document_passages(doc_id)}


def vectors(store: Store) -> dict[int, np.ndarray]:
    version = store.live()
    return {int(r["id"]): version.vector(r["id"]) for d in version.documents for r in version.document_passages(d)}


def test_unchanged_reingest_embeds_nothing_and_publishes_nothing(tmp_path: Path, corpus: Path, embedder: Embedder, new_store) -> None:
    index = new_store()
    first = build_index(corpus, index, embedder)
    assert sorted(first.added) == ["cali.md", "glasgow.md", "reports/recife.md"] and first.embedded == first.passages
    calls, versions = embedder.calls, index.list_versions()

    again = build_index(corpus, index, embedder)
    assert embedder.calls == calls, "an unchanged corpus must not reach the model"
    assert again.embedded == 0 and again.passages_processed == 0
    assert sorted(again.unchanged) == ["cali.md", "glasgow.md", "reports/recife.md"]
    assert again.added == again.changed == again.removed == again.failed == []
    assert again.version == first.version and index.list_versions() == versions

    (corpus / "broken.md").write_bytes(b"")  # a file that fails must not cost a new version either
    failing = build_index(corpus, index, embedder)
    assert failing.failed == [("broken.md", "empty file")] and failing.version == first.version
    assert embedder.calls == calls and index.list_versions() == versions


def test_edit_remove_add_cycle_gives_exactly_the_expected_index(tmp_path: Path, corpus: Path, embedder: Embedder, new_store) -> None:
    index = new_store()
    build_index(corpus, index, embedder)
    before_rows, before_vectors = rows(index), vectors(index)
    stages: list[str] = []

    write_doc(corpus, "cali.md", "Cali", last="Homicides in Cali fell by a third after the streetlight programme.")
    (corpus / "glasgow.md").unlink()
    write_doc(corpus, "oakland.md", "Oakland", sections=2)
    calls = embedder.calls
    report = build_index(corpus, index, embedder, on_progress=lambda stage, done, total: stages.append(stage))

    assert report.added == ["oakland.md"] and report.changed == ["cali.md"]
    assert report.removed == ["glasgow.md"] and report.unchanged == ["reports/recife.md"] and report.failed == []
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == ["extract", "embed", "write"]
    after = rows(index)
    version = index.live()
    assert {d.path for d in version.documents.values()} == {"cali.md", "oakland.md", "reports/recife.md"}
    assert not any(doc_id == "glasgow-md" for doc_id, *_ in after.values())
    assert version.lexical("Glasgow", 10) == [] and version.lexical("Recife", 10)
    cali = [row for row in after.values() if row[0] == "cali-md"]
    assert any("fell by a third" in row[2] for row in cali)

    # only passage text that did not exist before went through the model
    old_hashes = {row[4] for row in before_rows.values()}
    new_texts = {row[4] for row in after.values()} - old_hashes
    assert report.embedded == len(new_texts) == embedder.calls - calls
    assert report.reused_embeddings > 0  # Cali's untouched chapters
    for pid, row in after.items():
        if pid in before_rows and before_rows[pid][4] == row[4]:
            assert np.array_equal(vectors(index)[pid], before_vectors[pid])

    # and the incremental result is the index a from-scratch build makes
    full_root = new_store()
    full = build_index(corpus, full_root, embedder, full=True)
    assert full.embedded == full.passages == report.passages
    assert rows(full_root) == after
    ours, theirs = vectors(index), vectors(full_root)
    assert ours.keys() == theirs.keys()
    assert all(np.allclose(ours[i], theirs[i], atol=1e-4) for i in ours)
    index.verify(index.live_name())


def test_metadata_only_change_reuses_every_vector(tmp_path: Path, corpus: Path, embedder: Embedder, new_store) -> None:
    index = new_store()
    build_index(corpus, index, embedder)
    (corpus / "glasgow.md.meta.yaml").write_text("doc_type: statement\ncities: [Glasgow, London]\n")
    calls = embedder.calls
    report = build_index(corpus, index, embedder)
    assert report.changed == ["glasgow.md"] and report.embedded == 0 and embedder.calls == calls
    doc = index.live().documents["glasgow-md"]
    assert doc.doc_type == "statement" and doc.cities == ["Glasgow", "London"]


def test_full_rebuild_re_embeds_everything(tmp_path: Path, corpus: Path, embedder: Embedder, new_store) -> None:
    index = new_store()
    first = build_index(corpus, index, embedder)
    calls = embedder.calls
    full = build_index(corpus, index, embedder, full=True)
    assert full.embedded == full.passages == first.passages and embedder.calls - calls == full.passages
    assert sorted(full.added) == ["cali.md", "glasgow.md", "reports/recife.md"]
    assert full.version != first.version


def test_files_with_clashing_ids_do_not_stop_the_build(tmp_path: Path, corpus: Path, embedder: Embedder, new_store) -> None:
    index = new_store()
    build_index(corpus, index, embedder)
    (corpus / "Cali.md").write_text((corpus / "cali.md").read_text())  # same id as the indexed cali.md
    report = build_index(corpus, index, embedder)
    assert [path for path, _ in report.failed] == ["Cali.md"] and "already used by cali.md" in report.failed[0][1]
    assert report.version is not None
    version = index.live()
    assert version.documents["cali-md"].path == "cali.md"


def test_cli_ingest_reports_every_category(corpus: Path, embedder: Embedder, store_maker, store_kind: str,  # type: ignore[no-untyped-def]
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    settings = store_maker.settings(store_kind)
    index = settings.index_dir
    monkeypatch.setenv("PIOC_DATABASE_URL", settings.database_url or "")  # the CLI reads the store from the environment
    monkeypatch.setattr(cli, "_embedder", lambda settings: embedder)  # share the session's model
    runner = CliRunner()
    first = runner.invoke(cli.app, ["ingest", str(corpus), "--index-dir", str(index)])
    assert first.exit_code == 0, first.output

    write_doc(corpus, "cali.md", "Cali", last="A new closing chapter about Cali.")
    (corpus / "glasgow.md").unlink()
    write_doc(corpus, "oakland.md", "Oakland", sections=1)
    (corpus / "broken.md").write_bytes(b"")
    result = runner.invoke(cli.app, ["ingest", str(corpus), "--index-dir", str(index)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    for label, count in (("added", 1), ("changed", 1), ("removed", 1), ("unchanged", 1), ("failed", 1)):
        assert f"{label} │ {count}" in out or f"{label} {count}" in out, out
    assert "oakland.md" in out and "glasgow.md" in out and "broken.md: empty file" in out

    strict = runner.invoke(cli.app, ["ingest", str(corpus), "--index-dir", str(index), "--strict"])
    assert strict.exit_code == 1  # the broken file still fails


def test_rollback_returns_to_the_version_that_was_live_before(corpus: Path, tmp_path: Path, embedder: Embedder, new_store) -> None:
    index = new_store()
    first = build_index(corpus, index, embedder, keep_versions=5).version
    write_doc(corpus, "nairobi.md", "Nairobi")
    bad = build_index(corpus, index, embedder, keep_versions=5).version
    assert index.rollback() == first
    write_doc(corpus, "toronto.md", "Toronto")
    newest = build_index(corpus, index, embedder, keep_versions=5).version  # built on top of `first`
    assert index.live_name() == newest
    assert index.rollback() == first, "not the abandoned version, although its name is newer"
    assert bad in index.list_versions()
    with pytest.raises(ValueError, match="no earlier version"):
        index.rollback()  # `first` was the first build


def test_pruning_keeps_the_live_version_and_its_rollback_target(corpus: Path, tmp_path: Path, embedder: Embedder, new_store) -> None:
    index = new_store()
    first = build_index(corpus, index, embedder, keep_versions=2).version
    write_doc(corpus, "nairobi.md", "Nairobi")
    build_index(corpus, index, embedder, keep_versions=2)
    index.rollback()
    for city in ("Toronto", "Lagos"):  # two builds on top of the rolled-back version
        write_doc(corpus, f"{city.lower()}.md", city)
        build_index(corpus, index, embedder, keep_versions=2)
    kept = index.list_versions()
    live = index.live()
    assert len(kept) == 2 and live.name in kept
    assert live.meta["previous_version"] in kept
    assert first not in kept

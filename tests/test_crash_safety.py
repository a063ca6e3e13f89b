"""A build SIGKILLed at any stage leaves the live version serving and intact; the next ingest cleans
up and completes; a second ingest while one runs is refused and changes nothing.

The builds run in a subprocess (tests/build_driver.py) that kills itself at a named stage. Most use
the real model; one also checks that embeddings finished before the kill are reused afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import ROOT
from pioc_search.stores.local import store
from pioc_search.embedders import Embedder
from pioc_search.ingest.pipeline import build_index
from pioc_search.server import create_app
from pioc_search.settings import Settings
from pioc_search.stores.local import LocalStore

DRIVER = Path(__file__).with_name("build_driver.py")
CLI = Path(sys.executable).with_name("pioc-search")

SECTION = ("{city} trained {n} outreach workers to mediate disputes between rival groups before they turned "
           "violent. The programme met weekly with families, schools and clinics, and the city published "
           "monthly counts of shootings on its observatory dashboard so residents could follow progress. ")


def write_doc(corpus: Path, name: str, city: str, sections: int = 3, extra: str = "") -> None:
    parts = [f"# {city} violence prevention notes\n"]
    for i in range(sections):
        parts.append(f"\n## Part {i + 1}\n\n" + SECTION.format(city=city, n=10 + i) * 4 + "\n")
    if extra:
        parts.append(f"\n## Update\n\n{extra}\n")
    (corpus / name).write_text("".join(parts), encoding="utf-8")


def make_corpus(corpus: Path) -> None:
    corpus.mkdir()
    for name, city in (("cali.md", "Cali"), ("glasgow.md", "Glasgow"), ("oakland.md", "Oakland"),
                       ("recife.md", "Recife")):
        write_doc(corpus, name, city)


def change_corpus(corpus: Path) -> None:
    """Work for the next build: one edit, two additions, one removal."""
    write_doc(corpus, "cali.md", "Cali", extra="Homicides fell by a third after the lighting programme.")
    write_doc(corpus, "nairobi.md", "Nairobi")
    write_doc(corpus, "toronto.md", "Toronto")
    (corpus / "recife.md").unlink()


def run_driver(corpus: Path, root: Path, stage: str, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DRIVER), str(corpus), str(root), stage, *extra],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def leftovers(root: Path) -> set[str]:
    names = {p.name for p in root.iterdir() if p.name.endswith((store.BUILDING_SUFFIX, store.REMOVING_SUFFIX))
             or (p.name.startswith(f"{store.CURRENT}.") and p.name.endswith(".tmp"))}
    names |= {p.name for p in root.iterdir() if p.is_dir() and (p / store.UNPUBLISHED).exists()}
    return names


def documents(root: Path) -> set[str]:
    version = store.LocalVersion(store.current_version(root))
    return {d.path for d in version.documents.values()}


def assert_consistent_and_serving(root: Path, corpus: Path, embedder: object) -> str:
    live = store.current_version(root)
    assert live is not None
    version = store.LocalVersion(live)
    store.verify(version.conn, version.index, version.lexical_index)
    assert version.passage_count > 0
    settings = Settings(corpus_dir=corpus, index_dir=root)
    with TestClient(create_app(settings, embedder=embedder)) as client:
        response = client.get("/search", params={"q": "outreach workers mediate disputes", "k": 3})
        assert response.status_code == 200, response.text
        assert response.json()["index_version"] == live.name
        assert response.json()["hits"]
    return live.name


def expected_after_cleanup(root: Path, corpus: Path, embedder: object, full_root: Path) -> None:
    """The live index holds exactly what a from-scratch build of the corpus holds."""
    assert leftovers(root) == set()
    build_index(corpus, LocalStore(full_root), embedder, full=True)
    ours, fresh = (store.LocalVersion(store.current_version(r)) for r in (root, full_root))
    rows = "SELECT id, doc_id, text, section FROM passages ORDER BY id"
    assert [tuple(r) for r in ours.conn.execute(rows)] == [tuple(r) for r in fresh.conn.execute(rows)]
    assert set(store.all_ids(ours.index).tolist()) == set(store.all_ids(fresh.index).tolist())
    for name in store.list_versions(root):
        kept = store.LocalVersion(root / name)
        store.verify(kept.conn, kept.index, kept.lexical_index)


# stage → (does CURRENT move to the new version?, which leftovers the dead build leaves)
STAGES = {
    "extract": (False, ""),
    "embed": (False, ""),
    "write": (False, "building"),
    "verify": (False, "building"),
    "before-publish": (False, "unpublished"),
    "publish-tmp": (False, "unpublished+tmp"),
    "after-switch": (True, "live-marker"),
    "prune": (True, "removing"),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_sigkill_during_a_build_leaves_the_live_version_serving(tmp_path: Path, stage: str, embedder: Embedder) -> None:
    corpus, root = tmp_path / "corpus", tmp_path / "indexes"
    make_corpus(corpus)
    first = build_index(corpus, LocalStore(root), embedder)
    if stage == "prune":  # a second published version, so the killed build has one to prune
        write_doc(corpus, "glasgow.md", "Glasgow", extra="A second version of the Glasgow notes.")
        build_index(corpus, LocalStore(root), embedder)
    before = store.current_version(root)
    assert before is not None
    old_docs = documents(root)
    change_corpus(corpus)

    result = run_driver(corpus, root, stage, "--keep", "2")
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr
    assert "FINISHED" not in result.stdout

    moves, left = STAGES[stage]
    live = assert_consistent_and_serving(root, corpus, embedder)
    if moves:
        assert live != before.name and documents(root) == {p.name for p in corpus.iterdir()}
    else:
        assert live == before.name and documents(root) == old_docs
    found = leftovers(root)
    if left == "building":
        assert len(found) == 1 and next(iter(found)).endswith(store.BUILDING_SUFFIX)
    elif left == "unpublished":
        assert len(found) == 1 and (root / next(iter(found)) / store.DB_NAME).exists()
        assert next(iter(found)) not in store.list_versions(root)  # never offered for rollback
    elif left == "unpublished+tmp":
        assert len(found) == 2 and any(n.startswith(f"{store.CURRENT}.") for n in found)
    elif left == "live-marker":
        assert found == {live}
    elif left == "removing":
        assert len(found) == 1 and next(iter(found)).endswith(store.REMOVING_SUFFIX)
        assert first.version not in store.list_versions(root)  # half-deleted never looks complete
    else:
        assert found == set()

    report = build_index(corpus, LocalStore(root), embedder)
    cleaned = found - {live}  # the live version only loses its marker
    assert set(report.cleaned_up) == cleaned
    assert documents(root) == {p.name for p in corpus.iterdir()}
    if moves:  # the dead build had already published everything
        assert report.version == live and not (report.added or report.changed or report.removed)
    else:
        assert sorted(report.added) == ["nairobi.md", "toronto.md"]
        assert report.changed == ["cali.md"] and report.removed == ["recife.md"]
    assert_consistent_and_serving(root, corpus, embedder)
    expected_after_cleanup(root, corpus, embedder, tmp_path / "fresh")


def test_sigkill_while_the_real_model_encodes(tmp_path: Path, embedder: Embedder) -> None:
    corpus, root = tmp_path / "corpus", tmp_path / "indexes"
    make_corpus(corpus)
    build_index(corpus, LocalStore(root), embedder)
    before = store.current_version(root)
    change_corpus(corpus)
    for name in ("lagos.md", "durban.md"):  # enough new passages for several batches
        write_doc(corpus, name, name.removesuffix(".md").capitalize(), sections=4)

    result = run_driver(corpus, root, "embed", timeout=240)
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr
    assert store.current_version(root) == before
    assert_consistent_and_serving(root, corpus, embedder)

    calls = embedder.calls
    report = build_index(corpus, LocalStore(root), embedder)
    assert sorted(report.added) == ["durban.md", "lagos.md", "nairobi.md", "toronto.md"]
    assert report.reused_embeddings > 0  # the unchanged Cali sections were not encoded again
    assert embedder.calls - calls == report.embedded
    assert store.current_version(root) != before
    assert_consistent_and_serving(root, corpus, embedder)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in root.rglob("*") if p.name != store.LOCK_NAME}


def test_a_second_ingest_is_refused_and_changes_nothing(tmp_path: Path, embedder: Embedder) -> None:
    corpus, root = tmp_path / "corpus", tmp_path / "indexes"
    make_corpus(corpus)
    build_index(corpus, LocalStore(root), embedder)
    change_corpus(corpus)
    first = subprocess.Popen([sys.executable, str(DRIVER), str(corpus), str(root), "pause"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "PAUSED"
        before = snapshot(root)

        second = subprocess.run([str(CLI), "ingest", str(corpus), "--index-dir", str(root)],
                                capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert second.returncode == 3, second.stdout + second.stderr
        assert "already running" in second.stderr and f"pid {first.pid}" in second.stderr
        assert "nothing was changed" in second.stderr

        rollback = subprocess.run([str(CLI), "rollback", "--index-dir", str(root)],
                                  capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert rollback.returncode == 2 and "already running" in rollback.stderr

        with pytest.raises(store.BuildInProgress, match="already running"):
            build_index(corpus, LocalStore(root), embedder)
        assert snapshot(root) == before
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    report = build_index(corpus, LocalStore(root), embedder)  # the kernel dropped the dead build's lock
    assert report.changed == ["cali.md"] and report.removed == ["recife.md"]

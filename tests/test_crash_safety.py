"""A build SIGKILLed at any stage leaves the live version serving and intact; the next ingest cleans
up and completes; a second ingest while one runs is refused and changes nothing.

The builds run in a subprocess (tests/build_driver.py) that kills itself at a named stage, in each
store that has the stage (local files, and a real PostgreSQL from tests/pg_fixtures.py). Most use
the real model; one also checks that embeddings finished before the kill are reused afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import ROOT, ReusedVectors, StoreMaker
from pioc_search.embedders import Embedder
from pioc_search.ingest.pipeline import build_index
from pioc_search.server import create_app
from pioc_search.settings import Settings
from pioc_search.stores.base import Store, StoreUnavailable
from pioc_search.stores.local import LocalStore, store
from pioc_search.stores.postgres import PostgresStore
from tests.pg_fixtures import PgServer

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


def run_driver(corpus: Path, root: Path, stage: str, *extra: str, timeout: float = 120,
               database_url: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIOC_DATABASE_URL": database_url or ""}
    return subprocess.run([sys.executable, str(DRIVER), str(corpus), str(root), stage, *extra],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def leftovers(root: Path) -> set[str]:
    names = {p.name for p in root.iterdir() if p.name.endswith((store.BUILDING_SUFFIX, store.REMOVING_SUFFIX))
             or (p.name.startswith(f"{store.CURRENT}.") and p.name.endswith(".tmp"))}
    names |= {p.name for p in root.iterdir() if p.is_dir() and (p / store.UNPUBLISHED).exists()}
    return names


def pg_leftovers(target: PostgresStore) -> dict[str, str]:
    """Unfinished versions by name → state, and version tables that belong to no version (→ "orphan")."""
    with target.connection() as conn:
        states = dict(conn.execute("SELECT name, state FROM versions").fetchall())
        ids = {r[0] for r in conn.execute("SELECT id FROM versions")}
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename ~ '_v[0-9]+$'")]
    found = {name: state for name, state in states.items() if state != "published"}
    found.update({t: "orphan" for t in tables if int(t.rsplit("_v", 1)[1]) not in ids})
    return found


def documents(target: Store) -> set[str]:
    live = target.live()
    assert live is not None
    return {d.path for d in live.documents.values()}


def assert_consistent_and_serving(settings: Settings, target: Store, corpus: Path, embedder: object) -> str:
    live = target.live_name()
    assert live is not None
    target.verify(live)
    assert target.open(live).passage_count > 0
    settings = dataclasses.replace(settings, corpus_dir=corpus)
    with TestClient(create_app(settings, embedder=embedder)) as client:
        response = client.get("/search", params={"q": "outreach workers mediate disputes", "k": 3})
        assert response.status_code == 200, response.text
        assert response.json()["index_version"] == live
        assert response.json()["hits"]
    return live


def passage_rows(target: Store) -> list[tuple]:
    live = target.live()
    assert live is not None
    return sorted((r["id"], r["doc_id"], r["ordinal"], r["text"], r["section"], r["embed_hash"])
                  for doc_id in live.documents for r in live.document_passages(doc_id))


def expected_after_cleanup(kind: str, target: Store, corpus: Path, embedder: object,
                           store_maker: StoreMaker) -> None:
    """Nothing unfinished is left; every kept version verifies; the live index holds exactly what a
    from-scratch build of the corpus holds."""
    _, fresh = store_maker.new(kind)
    build_index(corpus, fresh, embedder, full=True)
    assert documents(target) == documents(fresh)
    assert passage_rows(target) == passage_rows(fresh)
    assert target.live_name() in target.list_versions()
    for name in target.list_versions():
        target.verify(name)


# stage → (does the live version move to the new one?, what the dead build leaves in each store that
# has the stage): local: leftover files; postgres: the state of the dead build's version row
STAGES = {
    "extract": (False, {"local": "", "postgres": ""}),
    "embed": (False, {"local": "", "postgres": ""}),
    "write": (False, {"local": "building", "postgres": "building"}),
    "index": (False, {"postgres": "building"}),  # the server still runs the dead build's statement
    "verify": (False, {"local": "building", "postgres": "building"}),
    "before-publish": (False, {"local": "unpublished", "postgres": "ready"}),
    "mid-publish": (False, {"local": "unpublished+tmp", "postgres": "ready"}),
    "after-switch": (True, {"local": "live-marker", "postgres": ""}),
    "prune": (True, {"local": "removing", "postgres": ""}),
}


def local_leftovers_as_expected(root: Path, left: str, live: str, first: str) -> set[str]:
    """The dead build's leftover files are the ones its stage leaves; returns them."""
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
        assert first not in store.list_versions(root)  # half-deleted never looks complete
    else:
        assert found == set()
    return found - {live}  # the live version only loses its marker


def pg_leftovers_as_expected(target: PostgresStore, left: str, first: str) -> set[str]:
    """The dead build left at most its own version row (never orphan tables); returns its name."""
    found = pg_leftovers(target)
    assert set(found.values()) == ({left} if left else set()), found
    assert len(found) <= 1 and not set(found) & set(target.list_versions())  # never offered for rollback
    assert first in target.list_versions()  # a killed prune rolled back: the old version is whole
    target.verify(first)
    return set(found)


@pytest.fixture(scope="module")
def vectors(embedder: Embedder) -> ReusedVectors:
    """The real model, each text encoded once for all the stage tests (they index the same texts)."""
    return ReusedVectors(embedder)


PAIRS = [(kind, stage) for stage, (_, left) in STAGES.items() for kind in left]


@pytest.mark.parametrize(("store_kind", "stage"), PAIRS)
def test_sigkill_during_a_build_leaves_the_live_version_serving(
        store_kind: str, stage: str, store_maker: StoreMaker, vectors: ReusedVectors, tmp_path: Path) -> None:
    embedder = vectors
    corpus = tmp_path / "corpus"
    make_corpus(corpus)
    settings, target = store_maker.new(store_kind)
    first = build_index(corpus, target, embedder)
    if stage == "prune":  # a second published version, so the killed build has one to prune
        write_doc(corpus, "glasgow.md", "Glasgow", extra="A second version of the Glasgow notes.")
        build_index(corpus, target, embedder)
    before = target.live_name()
    assert before is not None
    old_docs = documents(target)
    change_corpus(corpus)

    result = run_driver(corpus, settings.index_dir, stage, "--keep", "2", database_url=settings.database_url)
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr
    assert "FINISHED" not in result.stdout

    moves, left = STAGES[stage][0], STAGES[stage][1][store_kind]
    live = assert_consistent_and_serving(settings, target, corpus, embedder)
    if moves:
        assert live != before and documents(target) == {p.name for p in corpus.iterdir()}
    else:
        assert live == before and documents(target) == old_docs
    if isinstance(target, PostgresStore):
        cleaned = pg_leftovers_as_expected(target, left, first.version)
    else:
        cleaned = local_leftovers_as_expected(settings.index_dir, left, live, first.version)

    report = build_index(corpus, target, embedder)
    assert set(report.cleaned_up) == cleaned
    assert documents(target) == {p.name for p in corpus.iterdir()}
    if moves:  # the dead build had already published everything
        assert report.version == live and not (report.added or report.changed or report.removed)
    else:
        assert sorted(report.added) == ["nairobi.md", "toronto.md"]
        assert report.changed == ["cali.md"] and report.removed == ["recife.md"]
    assert_consistent_and_serving(settings, target, corpus, embedder)
    if isinstance(target, PostgresStore):
        assert pg_leftovers(target) == {}
    else:
        assert leftovers(settings.index_dir) == set()
    expected_after_cleanup(store_kind, target, corpus, embedder, store_maker)


def test_sigkill_while_the_real_model_encodes(tmp_path: Path, embedder: Embedder) -> None:
    corpus, root = tmp_path / "corpus", tmp_path / "indexes"
    make_corpus(corpus)
    local = LocalStore(root)
    build_index(corpus, local, embedder)
    before = store.current_version(root)
    change_corpus(corpus)
    for name in ("lagos.md", "durban.md"):  # enough new passages for several batches
        write_doc(corpus, name, name.removesuffix(".md").capitalize(), sections=4)

    result = run_driver(corpus, root, "embed", timeout=240)
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr
    assert store.current_version(root) == before
    assert_consistent_and_serving(Settings(index_dir=root), local, corpus, embedder)

    calls = embedder.calls
    report = build_index(corpus, local, embedder)
    assert sorted(report.added) == ["durban.md", "lagos.md", "nairobi.md", "toronto.md"]
    assert report.reused_embeddings > 0  # the unchanged Cali sections were not encoded again
    assert embedder.calls - calls == report.embedded
    assert store.current_version(root) != before
    assert_consistent_and_serving(Settings(index_dir=root), local, corpus, embedder)


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


def test_a_build_that_loses_the_database_mid_write_is_cleaned_up_by_the_next(
        store_maker: StoreMaker, vectors: ReusedVectors, pg_server: PgServer, tmp_path: Path) -> None:
    """PostgreSQL stops (and starts again) while an ingest writes: the ingest stops with a clear error
    instead of hanging, the live version serves unchanged, and the next ingest removes the dead version."""
    corpus = tmp_path / "corpus"
    make_corpus(corpus)
    settings, target = store_maker.new("postgres")
    before = build_index(corpus, target, vectors).version
    old_docs = documents(target)
    change_corpus(corpus)
    env = {**os.environ, "PIOC_DATABASE_URL": settings.database_url or "", "PIOC_DATABASE_TIMEOUT": "2"}
    build = subprocess.Popen([sys.executable, str(DRIVER), str(corpus), str(settings.index_dir), "lose-connection"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=ROOT, env=env)
    try:
        assert build.stdin is not None and build.stdout is not None
        line = build.stdout.readline()
        assert line.startswith("WRITING"), line + build.communicate(timeout=60)[1]
        dead = line.split()[1]
        pg_server.stop()
        try:
            build.stdin.write("go on\n")
            build.stdin.flush()
            out, err = build.communicate(timeout=60)  # no hang
        finally:
            pg_server.start()
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
    assert build.returncode == 4 and "UNAVAILABLE the database is unavailable" in out, out + err
    wait_until_answers(target)
    assert assert_consistent_and_serving(settings, target, corpus, vectors) == before
    assert documents(target) == old_docs
    assert set(pg_leftovers(target)) == {dead}  # its row stays until a build holds the lock

    report = build_index(corpus, target, vectors)
    assert report.cleaned_up == [dead] and pg_leftovers(target) == {}
    assert sorted(report.added) == ["nairobi.md", "toronto.md"] and report.removed == ["recife.md"]
    assert_consistent_and_serving(settings, target, corpus, vectors)


def wait_until_answers(target: Store, timeout: float = 30) -> None:
    """Wait for the store's pool to reconnect after a database restart."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            target.live_name()
            return
        except StoreUnavailable:
            assert time.monotonic() < deadline, "the store did not come back"
            time.sleep(0.5)

"""Shared fixtures: the real model, a real index over the sample corpus, a real uvicorn server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import numpy as np

from pioc_search.embedders import Embedder, load_embedder
from pioc_search.ingest.pipeline import BuildReport, build_index, embedding_input
from pioc_search.models import Passage
from pioc_search.settings import Settings
from pioc_search.stores import open_store
from pioc_search.stores.base import Store, VersionReader
from pioc_search.stores.local import LocalStore
from tests.pg_fixtures import PgServer, pg_server, pg_url  # noqa: F401 - fixtures for every test module

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder(Settings.from_env())


@dataclass
class BuiltIndex:
    root: Path
    report: BuildReport


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> BuiltIndex:
    """The bundled sample corpus, indexed once per test session."""
    root = tmp_path_factory.mktemp("sample-index")
    return BuiltIndex(root, build_index(CORPUS, LocalStore(root), embedder))


STORES = ("local", "postgres")  # every backend of stores.base; postgres: a real server (tests/pg_fixtures.py)


class StoreMaker:
    """Fresh, empty stores of either backend: a folder, or a new database on the session's PostgreSQL."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.request = request
        self.tmp = tmp_path_factory
        self.opened: list[tuple[Store, str | None]] = []

    def settings(self, kind: str, **overrides: object) -> Settings:
        """Settings naming a new empty store of `kind` (index_dir holds logs for both)."""
        url = None
        if kind == "postgres":
            server: PgServer = self.request.getfixturevalue("pg_server")
            url = server.url(server.create_database())
        return Settings(index_dir=self.tmp.mktemp(f"{kind}-index"), database_url=url, **overrides)  # type: ignore[arg-type]

    def new(self, kind: str, **overrides: object) -> tuple[Settings, Store]:
        settings = self.settings(kind, **overrides)
        store = open_store(settings)
        self.opened.append((store, settings.database_url))
        return settings, store

    def close(self) -> None:
        for store, _ in self.opened:
            store.close()


@pytest.fixture(scope="session")
def store_maker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreMaker]:
    maker = StoreMaker(request, tmp_path_factory)
    yield maker
    maker.close()


@pytest.fixture(scope="module", params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Parametrises a test module over every store backend."""
    return request.param


class ReusedVectors:
    """The real model, except that passages it has already embedded (in the local sample index, or
    earlier through this object) are not embedded again: building the same corpus into another store
    then costs seconds, not minutes."""

    def __init__(self, model: Embedder, known: VersionReader | None = None) -> None:
        self._model = model
        self._known: dict[str, np.ndarray] = {}
        for doc in known.documents.values() if known else ():
            for row in known.document_passages(doc.id):
                passage = Passage(row["id"], doc.id, row["ordinal"], row["text"], row["section"], None, None)
                self._known[embedding_input(doc, passage)] = known.vector(row["id"])

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)

    def encode(self, texts, on_batch=None, *, runners=None):  # type: ignore[no-untyped-def]
        missing = [t for t in texts if t not in self._known]
        if missing:
            self._known.update(zip(missing, self._model.encode(missing, runners=runners)))
        if on_batch:
            on_batch(len(texts))
        return np.array([self._known[t] for t in texts], dtype=np.float32).reshape(-1, self._model.dimension)


@dataclass
class BuiltStore:
    kind: str
    settings: Settings
    store: Store
    report: BuildReport


@pytest.fixture(scope="session", params=STORES)
def built_store(request: pytest.FixtureRequest, sample_index: BuiltIndex, embedder: Embedder,
                store_maker: StoreMaker) -> BuiltStore:
    """The sample corpus indexed once per session in each store (the local one is `sample_index`)."""
    if request.param == "local":
        settings = Settings(index_dir=sample_index.root)
        return BuiltStore("local", settings, open_store(settings), sample_index.report)
    settings, store = store_maker.new(request.param)
    known = LocalStore(sample_index.root).live()
    assert known is not None
    return BuiltStore(request.param, settings, store, build_index(CORPUS, store, ReusedVectors(embedder, known)))


def store_env(settings: Settings) -> dict[str, str]:
    """Environment variables that point a server or CLI process at the store `settings` names."""
    return {"PIOC_INDEX_DIR": str(settings.index_dir), "PIOC_DATABASE_URL": settings.database_url or ""}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    index_dir: Path
    corpus_dir: Path

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=30)


def start_server(index_dir: Path, corpus_dir: Path, cli: bool = False, **env: str) -> LiveServer:
    """Start `uvicorn api:app` (or with `cli`, `pioc-search serve` running this checkout's code) on a
    free port and wait until /health answers."""
    port = free_port()
    environment = {**os.environ, "PIOC_INDEX_DIR": str(index_dir), "PIOC_CORPUS_DIR": str(corpus_dir), **env}
    if cli:
        environment["PYTHONPATH"] = str(ROOT)
        command = [str(Path(sys.executable).with_name("pioc-search")), "serve", "--host", "127.0.0.1",
                   "--port", str(port)]
    else:
        command = [sys.executable, "-m", "uvicorn", "api:app", "--host", "127.0.0.1", "--port", str(port),
                   "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=ROOT, env=environment)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return LiveServer(url, process, index_dir, corpus_dir)
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("uvicorn did not start within 120 s")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def live_server(sample_index: BuiltIndex) -> Iterator[LiveServer]:
    """A real uvicorn serving the sample-corpus index."""
    server = start_server(sample_index.root, CORPUS)
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def store_server(request: pytest.FixtureRequest, built_store: BuiltStore) -> Iterator[LiveServer]:
    """A real uvicorn serving the sample corpus from each store (the local one is `live_server`)."""
    if built_store.kind == "local":
        yield request.getfixturevalue("live_server")
        return
    server = start_server(built_store.settings.index_dir, CORPUS, **store_env(built_store.settings))
    yield server
    stop_server(server)


def load_questions() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]

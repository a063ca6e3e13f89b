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

from pioc_search.embedders import Embedder, load_embedder
from pioc_search.ingest.pipeline import BuildReport, build_index
from pioc_search.settings import Settings
from pioc_search.stores.local import LocalStore

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


def start_server(index_dir: Path, corpus_dir: Path, **env: str) -> LiveServer:
    """Start `uvicorn api:app` on a free port and wait until /health answers."""
    port = free_port()
    environment = {**os.environ, "PIOC_INDEX_DIR": str(index_dir), "PIOC_CORPUS_DIR": str(corpus_dir), **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api:app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=environment,
    )
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


def load_questions() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]

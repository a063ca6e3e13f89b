"""A real uvicorn keeps answering /search without a single error while the index is rebuilt (by an
ingest beside it, by its own admin API, by a rollback), and serves each new version without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import ROOT, STORES, LiveServer, StoreMaker, start_server, stop_server, store_env
from pioc_search.embedders import Embedder
from pioc_search.ingest.pipeline import build_index

CLI = Path(sys.executable).with_name("pioc-search")
TOKEN = "hot-reload-token"
QUERY = "outreach workers mediate disputes"
NOTE = ("# {city} notes\n\n## Programme\n\nIn {city} outreach workers mediate disputes between young people "
        "before they turn violent, and the observatory publishes monthly counts of shootings. {extra}\n")


class Hammer:
    """Threads that send /search requests back to back and record every outcome."""

    def __init__(self, url: str, threads: int = 3) -> None:
        self.url = url
        self.stop = threading.Event()
        self.outcomes: list[list[tuple[object, str | None]]] = [[] for _ in range(threads)]
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, slot: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    response = client.get("/search", params={"q": QUERY, "k": 5})
                    version = response.json().get("index_version") if response.status_code == 200 else response.text
                    self.outcomes[slot].append((response.status_code, version))
                except Exception as exc:  # noqa: BLE001 - every failure counts
                    self.outcomes[slot].append(("error", repr(exc)))

    def count(self) -> int:
        return sum(len(o) for o in self.outcomes)

    def until(self, condition, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "timed out waiting for the server"
            time.sleep(0.05)

    def more(self, n: int) -> None:
        target = self.count() + n
        self.until(lambda: self.count() >= target)

    def saw(self, version: str) -> bool:
        return any(v == version for outcomes in self.outcomes for _, v in outcomes)

    def __enter__(self) -> Hammer:
        for thread in self.threads:
            thread.start()
        self.more(6)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def top_documents(server: LiveServer, q: str) -> list[str]:
    response = server.get("/search", q=q, k=3)
    assert response.status_code == 200
    return [h["document"]["id"] for h in response.json()["hits"]]


def cli_env(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A CLI process on this store, running this checkout's code."""
    return {**os.environ, **store_env(settings), "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize("kind", STORES)
def test_search_never_fails_during_rebuilds_and_follows_each_version(tmp_path: Path, embedder: Embedder,
                                                                      store_maker: StoreMaker, kind: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for city in ("Cali", "Glasgow", "Oakland"):
        (corpus / f"{city.lower()}.md").write_text(NOTE.format(city=city, extra=""))
    settings, store = store_maker.new(kind)
    root = settings.index_dir
    first = build_index(corpus, store, embedder).version
    assert first is not None
    server = start_server(root, corpus, PIOC_ADMIN_TOKEN=TOKEN, **store_env(settings))
    try:
        with Hammer(server.url) as hammer:
            # 1. an ingest beside the running server adds a document
            (corpus / "quetzaltenango.md").write_text(NOTE.format(
                city="Quetzaltenango", extra="Volunteers repainted every zebra crossing near the market."))
            second = build_index(corpus, store, embedder)
            assert second.added == ["quetzaltenango.md"] and second.version != first
            hammer.until(lambda: hammer.saw(second.version))
            hammer.more(6)
            assert top_documents(server, "zebra crossing repainted by volunteers")[0] == "quetzaltenango-md"

            # 2. the previous version comes back with `pioc-search rollback`, and the server follows
            rollback = subprocess.run([str(CLI), "rollback", "--index-dir", str(root)],
                                      capture_output=True, text=True, timeout=60, cwd=ROOT, env=cli_env(settings))
            assert rollback.returncode == 0, rollback.stderr
            assert f"version {first} is live" in " ".join(rollback.stdout.split())
            assert server.get("/health").json()["index_version"] == first
            hammer.more(6)
            assert "quetzaltenango-md" not in top_documents(server, "zebra crossing repainted by volunteers")

            # 3. the server's own admin API uploads a document and rebuilds in the background
            upload = httpx.post(server.url + "/admin/documents", headers={"Authorization": f"Bearer {TOKEN}"},
                                files={"file": ("Medellin.md", NOTE.format(
                                    city="Medellín", extra="Cable cars link the hillside comunas.").encode())},
                                data={"doc_type": "blog", "cities": "Medellín"}, timeout=30)
            assert upload.status_code == 202, upload.text
            job_url = server.url + upload.json()["job"]["url"]
            auth = {"Authorization": f"Bearer {TOKEN}"}
            hammer.until(lambda: httpx.get(job_url, headers=auth).json()["status"] in ("succeeded", "failed"), 120)
            job = httpx.get(job_url, headers=auth).json()
            assert job["status"] == "succeeded", job
            assert sorted(job["report"]["added"]) == ["quetzaltenango.md", "uploads/Medellin.md"]  # built on the rollback
            third = job["report"]["version"]
            hammer.until(lambda: hammer.saw(third))
            hammer.more(6)
            assert top_documents(server, "cable cars hillside comunas")[0] == "uploads-medellin-md"
            assert server.get("/stats").json()["documents"] == 5
    finally:
        stop_server(server)

    outcomes = [o for slot in hammer.outcomes for o in slot]
    failures = [o for o in outcomes if o[0] != 200]
    assert failures == [], failures[:5]
    assert len(outcomes) >= 30
    for slot in hammer.outcomes:  # each client sees versions in publish order: first, second, first, third
        seen = [v for _, v in slot]
        changes = [v for i, v in enumerate(seen) if i == 0 or seen[i - 1] != v]
        published = iter([first, second.version, first, third])
        assert all(v in published for v in changes), changes  # an in-order subsequence, never back and forth
    assert {v for _, v in outcomes} <= {first, second.version, third}
    assert store.live_name() == third
    store.verify(third)

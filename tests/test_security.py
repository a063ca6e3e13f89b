"""Every response carries security headers; saved web pages from the corpus are sandboxed; source
files open wherever the server starts; no control character from a file reaches a page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import CORPUS, BuiltIndex, LiveServer
from pioc_search.embedders import Embedder
from pioc_search.ingest.discover import doc_id_for
from pioc_search.ingest.pipeline import build_index
from pioc_search.server import create_app
from pioc_search.settings import Settings
from pioc_search.stores.local import LocalStore

HTML_DOC = doc_id_for("blog/street-lights-cali-2023.html")
PDF_DOC = doc_id_for("reports/cali-lighting-2022.pdf")
PAGES = ("/", "/?q=lighting", f"/doc/{PDF_DOC}", "/about")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@pytest.mark.parametrize("path", [*PAGES, "/search?q=lighting",
                                  "/health", f"/documents/{PDF_DOC}/file", "/no-such-page", "/docs"])
def test_every_response_has_security_headers(live_server: LiveServer, path: str) -> None:
    response = live_server.get(path)
    policy = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy, path
    assert response.headers.get("x-content-type-options") == "nosniff"
    if path in PAGES:
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_saved_web_pages_are_sandboxed(live_server: LiveServer) -> None:
    response = live_server.get(f"/documents/{HTML_DOC}/file")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert policy.split(";")[0].strip() == "sandbox", "no allow-scripts, no allow-same-origin"
    assert "allow-scripts" not in policy and "script-src" not in policy


def test_source_files_open_from_the_folder_the_index_was_built_from(
        sample_index: BuiltIndex, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # started somewhere else: ./corpus does not exist here
    monkeypatch.delenv("PIOC_CORPUS_DIR", raising=False)
    client = TestClient(create_app(Settings.from_env(index_dir=sample_index.root), embedder))
    response = client.get(f"/documents/{PDF_DOC}/file")
    assert response.status_code == 200 and response.content == (CORPUS / "reports/cali-lighting-2022.pdf").read_bytes()

    elsewhere = tmp_path / "moved-corpus"
    elsewhere.mkdir()
    monkeypatch.setenv("PIOC_CORPUS_DIR", str(elsewhere))  # set explicitly: it wins
    client = TestClient(create_app(Settings.from_env(index_dir=sample_index.root), embedder))
    assert client.get(f"/documents/{PDF_DOC}/file").status_code == 404


def test_no_control_characters_reach_pages(tmp_path: Path, embedder: Embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bell.md").write_text("# Lighting\n\nStreet lighting in Cali reduced robberies at night.\n")
    (corpus / "bell.md.meta.yaml").write_text('title: "Ring\\a the \\e[31mbell\\x7f"\ncities: ["Cali\\b"]\n')
    root = tmp_path / "idx"
    build_index(corpus, LocalStore(root), embedder)
    client = TestClient(create_app(Settings(corpus_dir=corpus, index_dir=root), embedder))
    for path in ("/?q=street+lighting+Cali", f"/doc/{doc_id_for('bell.md')}", "/?q=bell&city=Cali%08"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "Ring" in page.text or path.endswith("%08"), path
        assert not CONTROL.search(page.text), f"{path}: {CONTROL.findall(page.text)}"

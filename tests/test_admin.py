"""Admin API: bearer-token auth, reindex jobs with progress and report, validated uploads."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from conftest import STORES

from pioc_search.admin import JobRunner, safe_file_name
from pioc_search.embedders import Embedder
from pioc_search.ingest.pipeline import BuildReport, build_index
from pioc_search.server import create_app
from pioc_search.settings import Settings
from pioc_search.stores import open_store
from pioc_search.stores.local import LocalStore

TOKEN = "correct-horse-battery-staple"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOTE = ("# {title}\n\nThe {city} violence interruption team trained outreach workers who mediate disputes "
        "between young people before they turn into shootings. {extra}\n")


def open_site(settings: Settings, corpus: Path, embedder: Embedder) -> Iterator[tuple[TestClient, Settings]]:
    """A corpus of one note, built into the store `settings` names, served with the admin API."""
    settings = dataclasses.replace(settings, corpus_dir=corpus, admin_token=TOKEN, max_upload_bytes=4000)
    settings.corpus_dir.mkdir()
    (settings.corpus_dir / "cali.md").write_text(NOTE.format(title="Cali notes", city="Cali", extra=""))
    build_index(settings.corpus_dir, open_store(settings), embedder)
    with TestClient(create_app(settings, embedder=embedder)) as client:
        yield client, settings


@pytest.fixture()
def site(tmp_path: Path, embedder: Embedder) -> Iterator[tuple[TestClient, Settings]]:
    """The admin API on local files."""
    yield from open_site(Settings(index_dir=tmp_path / "indexes"), tmp_path / "corpus", embedder)


@pytest.fixture(params=STORES)
def store_site(request: pytest.FixtureRequest, store_maker, tmp_path: Path,  # type: ignore[no-untyped-def]
               embedder: Embedder) -> Iterator[tuple[TestClient, Settings]]:
    """The admin API on each store."""
    yield from open_site(store_maker.settings(request.param), tmp_path / "corpus", embedder)


def live_name(settings: Settings) -> str | None:
    store = open_store(settings)
    try:
        return store.live_name()
    finally:
        store.close()


def versions(settings: Settings) -> list[str]:
    store = open_store(settings)
    try:
        return store.list_versions()
    finally:
        store.close()


def wait(client: TestClient, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/admin/jobs/{job_id}", headers=AUTH).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def upload(client: TestClient, name: str, content: bytes, params: dict | None = None, **fields: str):  # type: ignore[no-untyped-def]
    return client.post("/admin/documents", headers=AUTH, params=params or {}, data=fields,
                       files={"file": (name, content, "application/octet-stream")})


# ------------------------------------------------------------------------------------------ auth


def test_admin_routes_do_not_exist_without_a_token(tmp_path: Path, embedder: Embedder) -> None:
    settings = Settings(corpus_dir=tmp_path, index_dir=tmp_path / "indexes", admin_token=None)
    with TestClient(create_app(settings, embedder=embedder)) as client:
        assert client.post("/admin/reindex", headers=AUTH).status_code == 404
        assert client.get("/admin/jobs/abc", headers=AUTH).status_code == 404
        response = client.post("/admin/documents", headers=AUTH, files={"file": ("a.md", b"# A\n\ntext\n")})
        assert response.status_code == 404
        assert not any(p.startswith("/admin") for p in client.get("/openapi.json").json()["paths"])
    assert not (tmp_path / "uploads").exists()


@pytest.mark.parametrize("route", [("post", "/admin/reindex"), ("get", "/admin/jobs/x"), ("get", "/admin/jobs"),
                                   ("post", "/admin/documents"), ("get", "/admin/versions"),
                                   ("post", "/admin/rollback")])
def test_every_admin_route_needs_the_right_token(site: tuple[TestClient, Settings], route: tuple[str, str]) -> None:
    client, settings = site
    method, path = route
    call = getattr(client, method)
    missing = call(path)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert call(path, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert call(path, headers={"Authorization": "Bearer "}).status_code == 401
    wrong = call(path, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 403 and wrong.json() == {"detail": "wrong admin token"}
    assert call(path, headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 403
    assert versions(settings) == [live_name(settings)]


def test_an_unauthorised_upload_writes_nothing(site: tuple[TestClient, Settings]) -> None:
    client, settings = site
    response = client.post("/admin/documents", headers={"Authorization": "Bearer nope"},
                           files={"file": ("x.md", NOTE.format(title="X", city="Cali", extra="").encode())})
    assert response.status_code == 403
    assert not (settings.corpus_dir / "uploads").exists()


# --------------------------------------------------------------------------------------- reindex


def test_reindex_runs_an_incremental_build_and_reports_it(store_site: tuple[TestClient, Settings]) -> None:
    client, settings = store_site
    (settings.corpus_dir / "glasgow.md").write_text(NOTE.format(title="Glasgow notes", city="Glasgow", extra=""))
    response = client.post("/admin/reindex", headers=AUTH)
    assert response.status_code == 202
    job = response.json()
    assert job["status"] in ("queued", "running") and response.headers["location"] == f"/admin/jobs/{job['id']}"

    done = wait(client, job["id"])
    assert done["status"] == "succeeded" and done["error"] is None
    assert done["stage"] == "done" and done["done"] == done["total"]
    report = done["report"]
    assert report["added"] == ["glasgow.md"] and report["unchanged"] == ["cali.md"]
    assert report["changed"] == report["removed"] == report["failed"] == []
    assert report["documents"] == 2 and report["passages"] >= 2 and report["embedded"] >= 1
    assert report["version"] == live_name(settings)
    assert {"extract", "embed", "write", "total"} <= set(report["seconds"])

    # the server follows the new version by itself
    hits = client.get("/search", params={"q": "Glasgow outreach workers", "k": 1}).json()
    assert hits["index_version"] == report["version"] and hits["hits"][0]["document"]["id"] == "glasgow-md"
    assert [j["id"] for j in client.get("/admin/jobs", headers=AUTH).json()] == [job["id"]]
    assert client.get("/admin/jobs/does-not-exist", headers=AUTH).status_code == 404

    unchanged = wait(client, client.post("/admin/reindex", headers=AUTH).json()["id"])
    assert unchanged["report"]["embedded"] == 0 and unchanged["report"]["version"] == report["version"]

    # the versions kept, and a rollback to the one before, which the server serves at once
    kept = client.get("/admin/versions", headers=AUTH).json()
    first = kept["versions"][0]
    assert kept == {"live": report["version"], "previous": first, "versions": [first, report["version"]]}
    back = client.post("/admin/rollback", headers=AUTH)
    assert back.status_code == 200 and back.json()["live"] == first == live_name(settings)
    hits = client.get("/search", params={"q": "Glasgow outreach workers", "k": 5}).json()
    assert hits["index_version"] == first and "glasgow-md" not in {h["document"]["id"] for h in hits["hits"]}
    again = client.post("/admin/rollback", headers=AUTH)
    assert again.status_code == 409 and "no earlier version" in again.json()["detail"]


def test_jobs_run_one_at_a_time(tmp_path: Path) -> None:
    release, started = threading.Event(), []

    def slow_build(corpus: Path, root: Path, embedder: object, **kwargs: object) -> BuildReport:
        started.append(time.monotonic())
        kwargs["on_progress"]("extract", 1, 2)  # type: ignore[operator]
        release.wait(10)
        return BuildReport(version=f"v{len(started)}")

    runner = JobRunner(Settings(corpus_dir=tmp_path, index_dir=tmp_path), embedder=None, build=slow_build)  # type: ignore[arg-type]
    first, created = runner.submit("reindex")
    assert created
    while first.status != "running" or first.stage != "extract":
        time.sleep(0.01)
    assert (first.done, first.total) == (1, 2)
    again, created = runner.submit("reindex")
    assert again is first and not created  # a reindex while one runs gets the running job
    upload, created = runner.submit("upload", after_now=True, document="uploads/a.md")
    assert created and upload.status == "queued"  # an upload needs a build that starts after it
    other, created = runner.submit("upload", after_now=True, document="uploads/b.md")
    assert other is upload and not created and upload.documents == ["uploads/a.md", "uploads/b.md"]
    assert len(started) == 1
    release.set()
    assert runner.wait(first.id).report["version"] == "v1"  # type: ignore[index]
    assert runner.wait(upload.id).report["version"] == "v2"  # type: ignore[index]
    assert len(started) == 2


def test_a_failed_build_is_reported_not_raised(tmp_path: Path, embedder: Embedder) -> None:
    (tmp_path / "corpus").mkdir()
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "idx")
    runner = JobRunner(settings, embedder=embedder)
    with LocalStore(settings.index_dir).build_lock():  # a CLI ingest is running
        job = runner.wait(runner.submit("reindex")[0].id)
    assert job.status == "failed" and "already running" in (job.error or "") and job.report is None


# ---------------------------------------------------------------------------------------- upload


def test_upload_stores_the_file_with_metadata_and_indexes_it(site: tuple[TestClient, Settings]) -> None:
    client, settings = site
    content = NOTE.format(title="Nairobi notes", city="Nairobi", extra="Zebra crossings were repainted.").encode()
    response = upload(client, "Nairobi field notes (2024).md", content, title="Nairobi: what worked",
                      doc_type="report", cities="Nairobi, Kisumu", themes="youth", date="2024-03",
                      language="en", source_url="https://example.org/nairobi")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["document"] == {"path": "uploads/Nairobi-field-notes-2024.md", "id": "uploads-nairobi-field-notes-2024-md",
                                "bytes": len(content), "replaced": False,
                                "metadata": {"title": "Nairobi: what worked", "doc_type": "report",
                                             "cities": ["Nairobi", "Kisumu"], "themes": ["youth"], "date": "2024-03",
                                             "language": "en", "source_url": "https://example.org/nairobi"}}
    stored = settings.corpus_dir / "uploads" / "Nairobi-field-notes-2024.md"
    assert stored.read_bytes() == content
    sidecar = yaml.safe_load(stored.with_name(stored.name + ".meta.yaml").read_text())
    assert sidecar["title"] == "Nairobi: what worked" and sidecar["cities"] == ["Nairobi", "Kisumu"]
    assert [p.name for p in stored.parent.iterdir() if p.name.startswith(".")] == []

    job = wait(client, body["job"]["id"])
    assert job["status"] == "succeeded" and job["kind"] == "upload"
    assert job["report"]["added"] == ["uploads/Nairobi-field-notes-2024.md"] and job["documents"] == job["report"]["added"]
    doc = client.get(f"/documents/{body['document']['id']}").json()
    assert doc["title"] == "Nairobi: what worked" and doc["doc_type"] == "report" and doc["date"] == "2024-03"
    assert doc["cities"] == ["Nairobi", "Kisumu"]
    hits = client.get("/search", params={"q": "zebra crossings repainted", "k": 1}).json()["hits"]
    assert hits[0]["document"]["id"] == body["document"]["id"]


def test_a_legacy_encoded_text_upload_is_indexed_with_a_warning(site: tuple[TestClient, Settings]) -> None:
    client, settings = site
    content = "# Notas de Bogotá\n\nLa mediación comunitaria en Bogotá redujo las riñas.\n".encode("cp1252")
    response = upload(client, "bogota.md", content)
    assert response.status_code == 202, response.text
    job = wait(client, response.json()["job"]["id"])
    assert job["status"] == "succeeded"
    assert any("cp1252" in w["problem"].lower() or "not utf-8" in w["problem"].lower()
               for w in job["report"]["warnings"]), job["report"]
    hits = client.get("/search", params={"q": "mediación comunitaria Bogotá", "mode": "lexical"}).json()["hits"]
    assert hits and "Bogotá" in hits[0]["text"]


def test_upload_of_an_existing_name_needs_replace(site: tuple[TestClient, Settings]) -> None:
    client, settings = site
    first = upload(client, "lagos.md", NOTE.format(title="Lagos", city="Lagos", extra="First.").encode(), doc_type="blog")
    assert first.status_code == 202
    wait(client, first.json()["job"]["id"])

    clash = upload(client, "lagos.md", NOTE.format(title="Lagos", city="Lagos", extra="Second.").encode())
    assert clash.status_code == 409 and "replace=true" in clash.json()["detail"]
    assert b"First." in (settings.corpus_dir / "uploads" / "lagos.md").read_bytes()
    same_id = upload(client, "Lagos.md", b"# Lagos\n\nOther text.\n")
    assert same_id.status_code == 409 and "document id" in same_id.json()["detail"]

    replaced = upload(client, "lagos.md", NOTE.format(title="Lagos", city="Lagos", extra="Second.").encode(),
                      params={"replace": "true"})
    assert replaced.status_code == 202 and replaced.json()["document"]["replaced"] is True
    assert not (settings.corpus_dir / "uploads" / "lagos.md.meta.yaml").exists()  # new upload, new metadata
    job = wait(client, replaced.json()["job"]["id"])
    assert job["report"]["changed"] == ["uploads/lagos.md"]
    assert client.get("/documents/uploads-lagos-md").json()["doc_type"] != "blog"


@pytest.mark.parametrize("given, stored", [
    ("../../outside.md", "outside.md"),
    ("..\\..\\windows.md", "windows.md"),
    ("/etc/cron.d/evil.md", "evil.md"),
    (".hidden.md", "hidden.md"),
    ("naïve café notes.txt", "na-ve-caf-notes.txt"),
])
def test_upload_names_are_sanitised(site: tuple[TestClient, Settings], given: str, stored: str) -> None:
    client, settings = site
    response = upload(client, given, b"# Notes\n\nSome plain text about Cali.\n")
    assert response.status_code == 202, response.text
    assert response.json()["document"]["path"] == f"uploads/{stored}"
    assert (settings.corpus_dir / "uploads" / stored).is_file()
    wait(client, response.json()["job"]["id"])
    outside = [p for p in settings.corpus_dir.parent.rglob("*.md") if settings.corpus_dir not in p.parents]
    assert outside == []
    assert safe_file_name(given) == stored


@pytest.mark.parametrize("name, content, status, message", [
    ("tool.exe", b"MZ\x90\x00", 415, "unsupported file type"),
    ("notes", b"# no extension\n", 415, "unsupported file type"),
    ("catalogue.yaml", b"a: 1\n", 415, "unsupported file type"),
    ("report.pdf", b"# not a pdf at all\n", 415, "does not look like a PDF"),
    ("statement.docx", b"plain text", 415, "does not look like a DOCX"),
    ("binary.md", b"# title\x00\x01\x02\x00" * 8, 415, "not a text file"),
    ("empty.md", b"", 400, "empty"),
    ("...", b"# dots\n", 400, "file name"),
    ("big.md", b"#" * 4001, 413, "larger than 4000 bytes"),
])
def test_bad_uploads_are_refused_and_leave_nothing(site: tuple[TestClient, Settings], name: str, content: bytes,
                                                   status: int, message: str) -> None:
    client, settings = site
    response = upload(client, name, content)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    uploads = settings.corpus_dir / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []
    assert client.get("/admin/jobs", headers=AUTH).json() == []


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(site: tuple[TestClient, Settings]) -> None:
    client, settings = site
    response = upload(client, "huge.md", b"x" * (200 * 1024))
    assert response.status_code == 413
    assert not (settings.corpus_dir / "uploads").exists()


@pytest.mark.parametrize("field, value", [("doc_type", "novel"), ("date", "2024-13-01"), ("date", "last year"),
                                          ("language", "English!"), ("source_url", "javascript:alert(1)")])
def test_bad_metadata_is_refused(site: tuple[TestClient, Settings], field: str, value: str) -> None:
    client, settings = site
    response = upload(client, "ok.md", b"# Fine\n\nText.\n", **{field: value})
    assert response.status_code == 422 and response.json()["detail"].startswith(field)
    assert not (settings.corpus_dir / "uploads").exists()


def test_a_reindex_where_every_file_fails_is_not_published_unless_allowed(store_site) -> None:  # type: ignore[no-untyped-def]
    client, settings = store_site
    live = live_name(settings)
    (settings.corpus_dir / "cali.md").write_bytes(b"\xff\xfe broken")
    job = wait(client, client.post("/admin/reindex", headers=AUTH).json()["id"])
    assert job["status"] == "failed" and "not published" in job["error"] and "every file failed" in job["error"]
    assert job["report"]["refused"] and job["report"]["version"] == live
    assert live_name(settings) == live
    assert client.get("/search", params={"q": "outreach workers"}).json()["hits"], "the live version still serves"

    forced = wait(client, client.post("/admin/reindex", headers=AUTH, params={"allow_shrink": "true"}).json()["id"])
    assert forced["status"] == "succeeded", forced["error"]
    assert forced["report"]["refused"] is None

"""Admin API: start incremental rebuilds, follow them, upload documents into the corpus.

Every route needs `Authorization: Bearer $PIOC_ADMIN_TOKEN` (401 without, 403 with a wrong token);
without a configured token the routes do not exist (404). Builds run one at a time in a background
thread of the serving process and reuse its already-loaded model; the server picks up each new
version by itself once it is published.
"""

import datetime as dt
import hmac
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from pioc_search.embedders import Embedder
from pioc_search.ingest.discover import doc_id_for
from pioc_search.ingest.extract import SUPPORTED_EXTENSIONS, EnvironmentProblem, ExtractionError
from pioc_search.ingest.extract._common import decode_text
from pioc_search.ingest.pipeline import BuildReport, build_index, build_settings
from pioc_search.models import DOC_TYPES
from pioc_search.schemas import Message
from pioc_search.settings import Settings
from pioc_search.stores import open_store
from pioc_search.stores.base import BuildInProgress, Store, StoreUnavailable

log = logging.getLogger(__name__)

UPLOAD_FOLDER = "uploads"
MAX_NAME_CHARS = 120
FORM_OVERHEAD_BYTES = 64 * 1024  # multipart boundaries and metadata fields on top of the file itself
MAX_JOBS_KEPT = 100
TEXT_EXTENSIONS = (".html", ".htm", ".md", ".markdown", ".txt", ".vtt", ".srt")
JobStatus = Literal["queued", "running", "succeeded", "failed"]


# --------------------------------------------------------------------------------------------- jobs


@dataclass
class Job:
    id: str
    kind: str
    status: JobStatus = "queued"
    created_at: str = field(default_factory=lambda: _now())
    started_at: str | None = None
    finished_at: str | None = None
    stage: str = "queued"
    done: int = 0
    total: int = 0
    documents: list[str] = field(default_factory=list)  # corpus paths uploaded for this job
    allow_shrink: bool = False  # publish even if failures would drop many live documents
    report: dict[str, Any] | None = None
    error: str | None = None

    def progress(self, stage: str, done: int, total: int) -> None:
        self.stage, self.done, self.total = stage, done, total


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_dict(report: BuildReport) -> dict[str, Any]:
    out = asdict(report)
    out["failed"] = [{"path": path, "reason": reason} for path, reason in report.failed]
    out["warnings"] = [{"path": path, "problem": problem} for path, problem in report.warnings]
    out["seconds"] = {k: round(v, 3) for k, v in report.seconds.items()}
    return out


class JobRunner:
    """Runs index builds one at a time in a background thread; remembers recent jobs."""

    def __init__(self, settings: Settings, embedder: Embedder, build: Callable[..., BuildReport] = build_index,
                 after_build: Callable[[], object] | None = None, store: Callable[[], Store] | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self._store = store  # the store builds write to (default: opened from settings for each build)
        self._build = build
        self._after_build = after_build  # e.g. open the new version now, not in the next request
        self._lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self._running: Job | None = None
        self._queued: Job | None = None

    def store(self) -> Store:
        if self._store is None:
            opened = open_store(self.settings)
            self._store = lambda: opened
        return self._store()

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def submit(self, kind: str, *, after_now: bool = False, document: str | None = None,
               allow_shrink: bool = False) -> tuple[Job, bool]:
        """The job that will do the work, and whether it is new.

        A running job is reused unless `after_now` or `allow_shrink` asks for a build that starts after
        this call (an upload must be seen by the build's scan of the corpus); a queued job always qualifies.
        """
        with self._lock:
            job, created = self._queued, False
            if job is None and self._running is not None and not (after_now or allow_shrink):
                job = self._running
            if job is None:
                job, created = Job(id=uuid.uuid4().hex, kind=kind, allow_shrink=allow_shrink), True
                self.jobs[job.id] = job
                self._forget_old()
                if self._running is None:
                    self._running = job
                    threading.Thread(target=self._work, args=(job,), name=f"pioc-build-{job.id[:8]}",
                                     daemon=True).start()
                else:
                    self._queued = job
            job.allow_shrink = job.allow_shrink or allow_shrink  # a queued job has not started yet
            if document and document not in job.documents:
                job.documents.append(document)
            return job, created

    def wait(self, job_id: str, timeout: float = 600) -> Job:
        """Block until the job has finished (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        job = self.jobs[job_id]
        while job.status in ("queued", "running"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status}")
            time.sleep(0.05)
        return job

    def _forget_old(self) -> None:
        finished = [j for j in self.jobs.values() if j.status in ("succeeded", "failed")]
        for job in finished[: max(0, len(self.jobs) - MAX_JOBS_KEPT)]:
            del self.jobs[job.id]

    def _work(self, job: Job | None) -> None:
        while job is not None:
            self._execute(job)
            with self._lock:
                job, self._queued = self._queued, None
                self._running = job

    def _execute(self, job: Job) -> None:
        job.status, job.stage, job.started_at = "running", "starting", _now()
        try:
            report = self._build(self.settings.corpus_dir, self.store(), self.embedder,
                                 on_progress=job.progress, allow_shrink=job.allow_shrink,
                                 **build_settings(self.settings))
        except (BuildInProgress, EnvironmentProblem, StoreUnavailable) as exc:
            job.error = str(exc)
        except Exception as exc:  # the job reports it; the server goes on serving the live version
            log.exception("index build %s failed", job.id)
            job.error = f"{type(exc).__name__}: {exc}"
        else:
            job.report = report_dict(report)
            if report.refused:
                job.error = f"not published: {report.refused}"
            elif self._after_build is not None:
                try:
                    self._after_build()
                except Exception:  # noqa: BLE001 - the next request opens the version instead
                    log.warning("could not open the new index version early", exc_info=True)
        job.stage = "done" if job.error is None else "failed"
        job.finished_at = _now()
        job.status = "succeeded" if job.error is None else "failed"


# ------------------------------------------------------------------------------------------ schemas


class FailedFile(BaseModel):
    path: str
    reason: str


class PartialFile(BaseModel):
    path: str
    problem: str


class VersionsOut(BaseModel):
    live: str | None
    previous: str | None  # where a rollback returns (None: nowhere)
    versions: list[str]  # complete versions kept, oldest first


class ReportOut(BaseModel):
    version: str | None
    refused: str | None = None
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: list[str]
    failed: list[FailedFile]
    warnings: list[PartialFile] = []
    cleaned_up: list[str]
    documents: int
    passages: int
    embedded: int
    reused_embeddings: int
    ocr_pages: int = 0
    seconds: dict[str, float]


class JobOut(BaseModel):
    id: str
    kind: str
    status: JobStatus
    created_at: str
    started_at: str | None
    finished_at: str | None
    stage: str
    done: int
    total: int
    documents: list[str]
    report: ReportOut | None
    error: str | None
    url: str


class UploadedDocument(BaseModel):
    path: str
    id: str
    bytes: int
    replaced: bool
    metadata: dict[str, Any]


class UploadOut(BaseModel):
    document: UploadedDocument
    job: JobOut


def job_out(job: Job) -> JobOut:
    report = job.report
    return JobOut(id=job.id, kind=job.kind, status=job.status, created_at=job.created_at,
                  started_at=job.started_at, finished_at=job.finished_at, stage=job.stage, done=job.done,
                  total=job.total, documents=list(job.documents),
                  report=ReportOut(**{k: v for k, v in report.items() if k in ReportOut.model_fields})
                  if report else None,
                  error=job.error, url=f"/admin/jobs/{job.id}")


# ------------------------------------------------------------------------------------------- upload


def safe_file_name(name: str) -> str:
    """Base name only, characters [A-Za-z0-9._-], no leading dots; '' when nothing usable is left."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base.strip())
    base = re.sub(r"-{2,}", "-", base).lstrip(".-")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        return base[:MAX_NAME_CHARS]
    stem = stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip(".-")
    return f"{stem}.{ext}" if stem else ""


def _content_problem(ext: str, head: bytes, data_path: Path) -> str | None:
    """Why the bytes do not look like the type the extension claims (None when they do)."""
    if ext == ".pdf" and b"%PDF-" not in head[:1024]:
        return "the file does not look like a PDF (no %PDF- header)"
    if ext == ".docx" and not head.startswith(b"PK\x03\x04"):
        return "the file does not look like a DOCX (not a ZIP container)"
    if ext in TEXT_EXTENSIONS:
        try:  # the same decoding as a build: legacy encodings are indexed (with a warning), binary is not
            decode_text(data_path.read_bytes())
        except ExtractionError as exc:
            return f"not a text file: {exc}"
    return None


def _metadata(title: str | None, doc_type: str | None, cities: str | None, themes: str | None,
              date: str | None, language: str | None, source_url: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if title and title.strip():
        if len(title) > 500:
            raise HTTPException(422, "title: at most 500 characters")
        meta["title"] = title.strip()
    if doc_type:
        if doc_type not in DOC_TYPES:
            raise HTTPException(422, f"doc_type: must be one of {', '.join(DOC_TYPES)}")
        meta["doc_type"] = doc_type
    for key, value in (("cities", cities), ("themes", themes)):
        items = [v.strip() for v in (value or "").split(",") if v.strip()]
        if any(len(v) > 100 for v in items) or len(items) > 50:
            raise HTTPException(422, f"{key}: at most 50 comma-separated names of up to 100 characters")
        if items:
            meta[key] = items
    if date:
        if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", date.strip()):
            raise HTTPException(422, "date: use yyyy, yyyy-mm or yyyy-mm-dd")
        parts = [int(p) for p in date.strip().split("-")] + [1, 1]
        try:
            dt.date(parts[0], parts[1], parts[2])
        except ValueError:
            raise HTTPException(422, f"date: {date} is not a real date") from None
        meta["date"] = date.strip()
    if language:
        if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?", language.strip()):
            raise HTTPException(422, "language: use a language code such as 'en', 'es' or 'pt-BR'")
        meta["language"] = language.strip()
    if source_url:
        if not re.fullmatch(r"https?://[^\s]{1,2000}", source_url.strip()):
            raise HTTPException(422, "source_url: must be an http(s) URL")
        meta["source_url"] = source_url.strip()
    return meta


def _write_atomically(folder: Path, target: Path, write: Callable[[Any], None]) -> None:
    """Write through a hidden temporary file (discovery ignores dot files), then rename into place."""
    tmp = folder / f".upload-{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------- router


def admin_router(settings: Settings, holder_or_embedder: Any) -> APIRouter:
    """Routes under /admin. Pass the server's IndexHolder (or an Embedder) so the model is shared."""
    embedder: Embedder = getattr(holder_or_embedder, "embedder", holder_or_embedder)
    holder = holder_or_embedder if hasattr(holder_or_embedder, "embedder") else None
    runner = JobRunner(settings, embedder, after_build=holder.get if holder is not None else None,
                       store=(lambda: holder.store) if holder is not None else None)
    token = settings.admin_token
    upload_lock = threading.Lock()
    bearer = HTTPBearer(auto_error=False, description="PIOC_ADMIN_TOKEN")

    def check_token(authorization: str | None) -> None:
        if not token:
            raise HTTPException(404, "Not Found")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise HTTPException(401, "admin token required: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(403, "wrong admin token")

    class AdminRoute(APIRoute):
        """Checks the token (and the declared upload size) before any request body is read."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                check_token(request.headers.get("authorization"))
                if request.method == "POST" and request.url.path.endswith("/documents"):
                    length = request.headers.get("content-length", "0")  # chunked: checked after parsing
                    if not length.isdigit() or int(length) > settings.max_upload_bytes + FORM_OVERHEAD_BYTES:
                        raise HTTPException(413, f"the upload is larger than {settings.max_upload_bytes} bytes")
                return await handler(request)

            return guarded

    def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None) -> None:
        check_token(f"{credentials.scheme} {credentials.credentials}" if credentials else None)

    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": Message} for code in (401, 403, 404)
    }
    router = APIRouter(prefix="/admin", tags=["admin"], route_class=AdminRoute,
                       dependencies=[Depends(authorized)], responses=errors)
    router.runner = runner  # type: ignore[attr-defined]

    @router.post("/reindex", response_model=JobOut, status_code=202,
                 responses={200: {"model": JobOut, "description": "A build is already running: that job"}})
    def reindex(response: Response, allow_shrink: Annotated[bool, Query(
            description="Publish even if every file failed or failures drop over 20% of the live documents")] = False,
    ) -> JobOut:
        """Start an incremental build of the corpus (or return the one already under way)."""
        job, created = runner.submit("reindex", allow_shrink=allow_shrink)
        response.status_code = 202 if created else 200
        response.headers["Location"] = f"/admin/jobs/{job.id}"
        return job_out(job)

    @router.get("/jobs", response_model=list[JobOut])
    def jobs() -> list[JobOut]:
        """Recent jobs, newest first."""
        return [job_out(j) for j in reversed(list(runner.jobs.values()))]

    @router.get("/jobs/{job_id}", response_model=JobOut)
    def job(job_id: str) -> JobOut:
        """Status, progress (stage, done of total) and, once finished, the ingest report."""
        found = runner.get(job_id)
        if found is None:
            raise HTTPException(404, f"no job with id '{job_id}'")
        return job_out(found)

    @router.get("/versions", response_model=VersionsOut, responses={503: {"model": Message}})
    def versions() -> VersionsOut:
        """The live version, the one a rollback returns to, and every version kept."""
        store = runner.store()
        live, kept = store.live(), store.list_versions()
        previous = live.meta.get("previous_version") if live is not None else None
        return VersionsOut(live=live.name if live else None, previous=previous if previous in kept else None,
                           versions=kept)

    @router.post("/rollback", response_model=VersionsOut, responses={409: {"model": Message}, 503: {"model": Message}})
    def rollback() -> VersionsOut:
        """Make the version that was live before the live one live again (409 while a build runs)."""
        store = runner.store()
        try:
            with store.build_lock():
                store.rollback()
        except (BuildInProgress, ValueError) as exc:
            raise HTTPException(409, str(exc)) from None
        return versions()

    @router.post("/documents", response_model=UploadOut, status_code=202,
                 responses={code: {"model": Message} for code in (400, 409, 413, 415, 422)})
    def upload(
        response: Response,
        file: Annotated[UploadFile, File(description=f"One of {', '.join(SUPPORTED_EXTENSIONS)}")],
        title: Annotated[str | None, Form()] = None,
        doc_type: Annotated[str | None, Form(description=", ".join(DOC_TYPES))] = None,
        cities: Annotated[str | None, Form(description="Comma-separated")] = None,
        themes: Annotated[str | None, Form(description="Comma-separated")] = None,
        date: Annotated[str | None, Form(description="yyyy, yyyy-mm or yyyy-mm-dd")] = None,
        language: Annotated[str | None, Form(description="Language code, e.g. en")] = None,
        source_url: Annotated[str | None, Form()] = None,
        replace: Annotated[bool, Query(description="Overwrite a file with the same name")] = False,
    ) -> UploadOut:
        """Store a file (with optional metadata) under uploads/ in the corpus and index it."""
        name = safe_file_name(file.filename or "")
        ext = Path(name).suffix.lower()
        if not name or not Path(name).stem:
            raise HTTPException(400, "the upload needs a file name")
        if ext not in SUPPORTED_EXTENSIONS:
            allowed = ", ".join(SUPPORTED_EXTENSIONS)
            raise HTTPException(415, f"unsupported file type '{ext or name}': allowed are {allowed}")
        meta = _metadata(title, doc_type, cities, themes, date, language, source_url)
        folder = settings.corpus_dir / UPLOAD_FOLDER
        target = folder / name
        if not target.resolve().is_relative_to(folder.resolve()):
            raise HTTPException(400, "invalid file name")
        size = _file_size(file)
        if size > settings.max_upload_bytes:
            raise HTTPException(413, f"the upload is larger than {settings.max_upload_bytes} bytes")
        if size == 0:
            raise HTTPException(400, "the file is empty")
        file.file.seek(0)
        head = file.file.read(1024)
        file.file.seek(0)
        rel = f"{UPLOAD_FOLDER}/{name}"
        with upload_lock:
            folder.mkdir(parents=True, exist_ok=True)
            replaced = target.exists()
            if replaced and not replace:
                raise HTTPException(409, f"{rel} already exists: upload with ?replace=true to overwrite it")
            _check_id_is_free(rel, folder, holder)
            tmp = folder / f".upload-{uuid.uuid4().hex}.tmp"
            try:
                with open(tmp, "wb") as handle:
                    while chunk := file.file.read(1 << 20):
                        handle.write(chunk)
                problem = _content_problem(ext, head, tmp)
                if problem:
                    raise HTTPException(415, problem)
                sidecar = folder / f"{name}.meta.yaml"
                if meta:  # metadata first, so no build sees the file without it
                    _write_atomically(folder, sidecar, lambda h: h.write(
                        yaml.safe_dump(meta, allow_unicode=True, sort_keys=False).encode()))
                else:
                    sidecar.unlink(missing_ok=True)
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        job, _ = runner.submit("upload", after_now=True, document=rel)
        response.headers["Location"] = f"/admin/jobs/{job.id}"
        return UploadOut(document=UploadedDocument(path=rel, id=doc_id_for(rel), bytes=size, replaced=replaced,
                                                   metadata=meta), job=job_out(job))

    return router


def _file_size(file: UploadFile) -> int:
    if file.size is not None:
        return int(file.size)
    file.file.seek(0, os.SEEK_END)
    return file.file.tell()


def _check_id_is_free(rel: str, folder: Path, holder: Any) -> None:
    """Document ids come from paths ('A b.md' and 'a-b.md' share one): refuse a clash with another file."""
    wanted = doc_id_for(rel)
    for other in folder.iterdir():
        other_rel = f"{UPLOAD_FOLDER}/{other.name}"
        if other.is_file() and other_rel != rel and doc_id_for(other_rel) == wanted \
                and not other.name.startswith(".") and Path(other.name).suffix.lower() in SUPPORTED_EXTENSIONS:
            raise HTTPException(409, f"{other_rel} already has the document id '{wanted}': choose another name")
    if holder is None:
        return
    try:
        live = holder.get().version
    except HTTPException:  # no index yet
        return
    doc = live.documents.get(wanted)
    if doc is not None and doc.path != rel:
        raise HTTPException(409, f"{doc.path} already has the document id '{wanted}': choose another name")

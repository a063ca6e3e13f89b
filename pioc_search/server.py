"""FastAPI routes and response schemas. The live index is re-read whenever CURRENT changes."""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from pioc_search import store
from pioc_search.embed import Embedder
from pioc_search.ingest.chunk import MAX_PASSAGE_ID
from pioc_search.models import Document
from pioc_search.search import Answer, Filters, Hit, Searcher
from pioc_search.settings import Settings

MAX_QUERY_CHARS = 500


class IndexHolder:
    """Hands out a Searcher for the live version, swapping it when CURRENT changes (no restart)."""

    def __init__(self, root: Path, embedder: Embedder) -> None:
        self.root = root
        self.embedder = embedder
        self._searcher: Searcher | None = None
        self._lock = threading.Lock()

    def get(self) -> Searcher:
        path = store.current_version(self.root)
        searcher = self._searcher
        if path is None and searcher is None:
            raise HTTPException(503, "no index has been built yet: run `pioc-search ingest`")
        if path is not None and (searcher is None or searcher.version.name != path.name):
            with self._lock:
                if self._searcher is None or self._searcher.version.name != path.name:
                    self._searcher = Searcher(store.IndexVersion(path), self.embedder)
                searcher = self._searcher
        assert searcher is not None
        return searcher


class DocumentSummary(BaseModel):
    id: str
    title: str
    doc_type: str
    date: str | None
    cities: list[str]
    themes: list[str]
    language: str


class DocumentOut(DocumentSummary):
    path: str
    source_url: str | None
    media_type: str
    pages: int | None
    passages: int
    file_url: str


class Highlight(BaseModel):
    """A sentence of the passage that answers the question: text[start:end]."""

    start: int
    end: int
    text: str


class AlsoIn(BaseModel):
    """Another source with a near-identical passage."""

    passage_id: int
    document: DocumentSummary
    page: int | None
    source_link: str


class HitOut(BaseModel):
    passage_id: int
    text: str
    score: float
    section: str
    page: int | None
    page_end: int | None
    document: DocumentSummary
    source_link: str
    dense_rank: int | None
    lexical_rank: int | None
    highlights: list[Highlight]
    also_in: list[AlsoIn]


class AnswerOut(BaseModel):
    """The sentence that answers the question, given only when the evidence is strong."""

    sentence: str
    passage_id: int
    start: int
    end: int
    document: DocumentSummary
    page: int | None
    source_link: str


class RelatedOut(BaseModel):
    passage_id: int
    text: str
    score: float
    section: str
    page: int | None
    document: DocumentSummary
    source_link: str


class RelatedResponse(BaseModel):
    source: DocumentSummary
    related: list[RelatedOut]


class SearchResponse(BaseModel):
    query: str
    mode: str
    k: int
    offset: int
    total: int
    took_ms: float
    index_version: str
    facets: dict[str, dict[str, int]]
    answer: AnswerOut | None = None
    hits: list[HitOut]


class Health(BaseModel):
    status: str
    index_version: str | None


class Stats(BaseModel):
    index_version: str
    built_at: str | None
    model_id: str | None
    documents: int
    passages: int
    doc_types: dict[str, int]
    languages: dict[str, int]
    versions: list[str]


class Message(BaseModel):
    detail: str


def summary(doc: Document) -> DocumentSummary:
    return DocumentSummary(id=doc.id, title=doc.title, doc_type=doc.doc_type, date=doc.date,
                           cities=doc.cities, themes=doc.themes, language=doc.language)


def file_link(doc: Document, page: int | None = None) -> str:
    link = f"/documents/{doc.id}/file"
    return f"{link}#page={page}" if page and doc.media_type == "application/pdf" else link


def hit_out(hit: Hit) -> HitOut:
    return HitOut(passage_id=hit.passage_id, text=hit.text, score=round(hit.score, 6), section=hit.section,
                  page=hit.page_start, page_end=hit.page_end, document=summary(hit.document),
                  source_link=file_link(hit.document, hit.page_start),
                  dense_rank=hit.dense_rank, lexical_rank=hit.lexical_rank,
                  highlights=[Highlight(start=a.start, end=a.end, text=hit.text[a.start:a.end]) for a in hit.answers],
                  also_in=[AlsoIn(passage_id=d.passage_id, document=summary(d.document), page=d.page_start,
                                  source_link=file_link(d.document, d.page_start)) for d in hit.duplicates])


def answer_out(answer: Answer | None) -> AnswerOut | None:
    if answer is None:
        return None
    hit, span = answer.hit, answer.span
    return AnswerOut(sentence=hit.text[span.start:span.end], passage_id=hit.passage_id, start=span.start,
                     end=span.end, document=summary(hit.document), page=hit.page_start,
                     source_link=file_link(hit.document, hit.page_start))


def related_out(hit: Hit) -> RelatedOut:
    return RelatedOut(passage_id=hit.passage_id, text=hit.text, score=round(hit.score, 6), section=hit.section,
                      page=hit.page_start, document=summary(hit.document),
                      source_link=file_link(hit.document, hit.page_start))


def create_app(settings: Settings | None = None, embedder: Embedder | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    embedder = embedder or Embedder(settings.model_path, settings.batch_size)
    holder = IndexHolder(settings.index_dir, embedder)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        embedder.encode_query("warm up")  # load the model before the first question arrives
        yield

    app = FastAPI(title="pioc-search", version="0.1.0", lifespan=lifespan,
                  description="Search the network's reports, blogs, statements and webinars.")
    app.state.settings = settings
    app.state.holder = holder
    errors = {400: {"model": Message}, 404: {"model": Message}, 503: {"model": Message}}

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"detail": problems or "invalid request"}, status_code=422)

    @app.get("/search", response_model=SearchResponse, responses=errors)
    def search(
        q: Annotated[str, Query(description="The question", max_length=MAX_QUERY_CHARS)],
        k: Annotated[int, Query(ge=1, le=100)] = 10,
        offset: Annotated[int, Query(ge=0, le=1000)] = 0,
        mode: Literal["hybrid", "dense", "lexical"] = "hybrid",
        doc_type: Annotated[list[str], Query()] = [],
        city: Annotated[list[str], Query()] = [],
        theme: Annotated[list[str], Query()] = [],
        language: Annotated[list[str], Query()] = [],
        year_from: Annotated[int | None, Query(ge=1900, le=2100)] = None,
        year_to: Annotated[int | None, Query(ge=1900, le=2100)] = None,
    ) -> SearchResponse:
        if not q.strip():
            raise HTTPException(400, "the question is empty")
        searcher = holder.get()
        filters = Filters(tuple(doc_type), tuple(city), tuple(theme), tuple(language), year_from, year_to)
        result = searcher.search(q.strip(), k=k, offset=offset, mode=mode, filters=filters)
        return SearchResponse(query=q, mode=mode, k=k, offset=offset, total=result.total,
                              took_ms=round(result.took_ms, 2), index_version=searcher.version.name,
                              facets=result.facets, answer=answer_out(result.answer),
                              hits=[hit_out(h) for h in result.hits])

    def _document(doc_id: str) -> tuple[Searcher, Document]:
        searcher = holder.get()
        doc = searcher.version.documents.get(doc_id)
        if doc is None:
            raise HTTPException(404, f"no document with id '{doc_id}'")
        return searcher, doc

    @app.get("/documents/{doc_id}", response_model=DocumentOut, responses=errors)
    def document(doc_id: str) -> DocumentOut:
        searcher, doc = _document(doc_id)
        count = len(searcher.version.document_passages(doc.id))
        return DocumentOut(**summary(doc).model_dump(), path=doc.path, source_url=doc.source_url,
                           media_type=doc.media_type, pages=doc.pages, passages=count, file_url=file_link(doc))

    @app.get("/documents/{doc_id}/file", response_class=FileResponse, responses=errors)
    def document_file(doc_id: str) -> FileResponse:
        _, doc = _document(doc_id)
        corpus = settings.corpus_dir.resolve()
        path = (corpus / doc.path).resolve()
        if not path.is_relative_to(corpus) or not path.is_file():
            raise HTTPException(404, f"the source file of '{doc_id}' is no longer in the corpus")
        return FileResponse(path, media_type=doc.media_type, filename=path.name, content_disposition_type="inline")

    @app.get("/documents/{doc_id}/related", response_model=RelatedResponse, responses=errors)
    def document_related(doc_id: str, k: Annotated[int, Query(ge=1, le=50)] = 5) -> RelatedResponse:
        searcher, doc = _document(doc_id)
        return RelatedResponse(source=summary(doc), related=[related_out(h) for h in searcher.related_to_document(doc.id, k)])

    @app.get("/passages/{passage_id}/related", response_model=RelatedResponse, responses=errors)
    def passage_related(passage_id: Annotated[int, FastAPIPath(ge=0, le=MAX_PASSAGE_ID)], k: Annotated[int, Query(ge=1, le=50)] = 5) -> RelatedResponse:
        searcher = holder.get()
        try:
            hits = searcher.related_to_passage(passage_id, k)
        except KeyError:
            raise HTTPException(404, f"no passage with id {passage_id}") from None
        source = searcher.version.passages([passage_id])[passage_id]["doc_id"]
        return RelatedResponse(source=summary(searcher.version.documents[source]), related=[related_out(h) for h in hits])

    @app.get("/health", response_model=Health)
    def health() -> Health:
        live = store.current_version(settings.index_dir)
        return Health(status="ok" if live else "no index", index_version=live.name if live else None)

    @app.get("/stats", response_model=Stats, responses=errors)
    def stats() -> Stats:
        version = holder.get().version
        docs = list(version.documents.values())
        return Stats(index_version=version.name, built_at=version.meta.get("built_at"),
                     model_id=version.meta.get("model_id"), documents=len(docs), passages=version.passage_count,
                     doc_types=Counter(d.doc_type for d in docs), languages=Counter(d.language for d in docs),
                     versions=store.list_versions(settings.index_dir))

    if settings.admin_token:  # without PIOC_ADMIN_TOKEN the admin routes do not exist (404)
        from pioc_search.admin import admin_router
        app.include_router(admin_router(settings, holder))
    from pioc_search.web import STATIC_DIR, router as web_router  # the search page at /
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app

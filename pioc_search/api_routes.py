"""The JSON API: search, documents, their source files, related material, health and stats."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as FastAPIPath
from fastapi.responses import FileResponse

from pioc_search.holder import IndexHolder
from pioc_search.ingest.chunk import MAX_PASSAGE_ID
from pioc_search.models import Document
from pioc_search.schemas import (
    MAX_QUERY_CHARS, DocumentOut, Health, Message, RelatedResponse, SearchResponse, Stats, answer_out, file_link,
    hit_out, related_out, summary,
)
from pioc_search.search import Filters, Searcher
from pioc_search.security import SANDBOXED, SOURCE_FILE
from pioc_search.settings import Settings

ERRORS = {400: {"model": Message}, 404: {"model": Message}, 503: {"model": Message}}


def corpus_folder(settings: Settings, version_meta: dict[str, object]) -> Path:
    """Where the live version's files are: PIOC_CORPUS_DIR when set, else the folder the index was built from."""
    recorded = version_meta.get("corpus_dir")
    if settings.corpus_dir_set or not isinstance(recorded, str) or not Path(recorded).is_dir():
        return settings.corpus_dir
    return Path(recorded)


def api_router(settings: Settings, holder: IndexHolder) -> APIRouter:
    """Routes of the public JSON API over the live index version."""
    router = APIRouter()

    @router.get("/search", response_model=SearchResponse, responses=ERRORS)
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
                              facets=result.facets, cities_named=list(result.named_cities),
                              answer=answer_out(result.answer),
                              hits=[hit_out(h) for h in result.hits])

    def _document(doc_id: str) -> tuple[Searcher, Document]:
        searcher = holder.get()
        doc = searcher.version.documents.get(doc_id)
        if doc is None:
            raise HTTPException(404, f"no document with id '{doc_id}'")
        return searcher, doc

    @router.get("/documents/{doc_id}", response_model=DocumentOut, responses=ERRORS)
    def document(doc_id: str) -> DocumentOut:
        searcher, doc = _document(doc_id)
        count = len(searcher.version.document_passages(doc.id))
        return DocumentOut(**summary(doc).model_dump(), path=doc.path, source_url=doc.source_url,
                           media_type=doc.media_type, pages=doc.pages, passages=count, file_url=file_link(doc))

    @router.get("/documents/{doc_id}/file", response_class=FileResponse, responses=ERRORS)
    def document_file(doc_id: str) -> FileResponse:
        """The original file. Saved web pages are sandboxed: their scripts never run on this origin."""
        searcher, doc = _document(doc_id)
        corpus = corpus_folder(settings, searcher.version.meta).resolve()
        path = (corpus / doc.path).resolve()
        if not path.is_relative_to(corpus) or not path.is_file():
            raise HTTPException(404, f"the source file of '{doc_id}' is no longer in the corpus")
        headers = {"Content-Security-Policy": SANDBOXED if doc.media_type == "text/html" else SOURCE_FILE}
        return FileResponse(path, media_type=doc.media_type, filename=path.name, content_disposition_type="inline",
                            headers=headers)

    @router.get("/documents/{doc_id}/related", response_model=RelatedResponse, responses=ERRORS)
    def document_related(doc_id: str, k: Annotated[int, Query(ge=1, le=50)] = 5) -> RelatedResponse:
        searcher, doc = _document(doc_id)
        return RelatedResponse(source=summary(doc),
                               related=[related_out(h) for h in searcher.related_to_document(doc.id, k)])

    @router.get("/passages/{passage_id}/related", response_model=RelatedResponse, responses=ERRORS)
    def passage_related(passage_id: Annotated[int, FastAPIPath(ge=0, le=MAX_PASSAGE_ID)],
                        k: Annotated[int, Query(ge=1, le=50)] = 5) -> RelatedResponse:
        searcher = holder.get()
        try:
            hits = searcher.related_to_passage(passage_id, k)
        except KeyError:
            raise HTTPException(404, f"no passage with id {passage_id}") from None
        source = searcher.version.passages([passage_id])[passage_id]["doc_id"]
        return RelatedResponse(source=summary(searcher.version.documents[source]),
                               related=[related_out(h) for h in hits])

    @router.get("/health", response_model=Health, responses={503: {"model": Message}})
    def health() -> Health:
        live = holder.store.live_name()
        return Health(status="ok" if live else "no index", index_version=live)

    @router.get("/stats", response_model=Stats, responses=ERRORS)
    def stats() -> Stats:
        version = holder.get().version
        docs = list(version.documents.values())
        return Stats(index_version=version.name, built_at=version.meta.get("built_at"),
                     model_id=version.meta.get("model_id"), lexical_engine=version.lexical_engine,
                     documents=len(docs), passages=version.passage_count,
                     doc_types=Counter(d.doc_type for d in docs), languages=Counter(d.language for d in docs),
                     versions=holder.store.list_versions())

    return router

"""Response schemas of the JSON API and the converters from search results to them."""

from __future__ import annotations

from pydantic import BaseModel

from pioc_search.models import Document
from pioc_search.search import Answer, Hit

MAX_QUERY_CHARS = 500
ALSO_IN_LISTED = 5  # near-identical passages listed per hit; also_in_total counts them all


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
    also_in: list[AlsoIn]  # the first ALSO_IN_LISTED other sources of this passage, in rank order
    also_in_total: int  # how many other sources hold a near-identical passage


class AnswerOut(BaseModel):
    """The sentence that answers the question, given only when the evidence is strong."""

    sentence: str
    language: str  # the document's language: the sentence is quoted as written, never translated
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
    cities_named: list[str] = []  # network cities the question names: their documents' passages were ranked higher
    answer: AnswerOut | None = None
    hits: list[HitOut]


class Health(BaseModel):
    status: str
    index_version: str | None


class Stats(BaseModel):
    index_version: str
    built_at: str | None
    model_id: str | None
    lexical_engine: str  # tantivy or fts5: the engine the live version was built with
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
                                  source_link=file_link(d.document, d.page_start))
                           for d in hit.duplicates[:ALSO_IN_LISTED]],
                  also_in_total=len(hit.duplicates))


def answer_out(answer: Answer | None) -> AnswerOut | None:
    if answer is None:
        return None
    hit, span = answer.hit, answer.span
    return AnswerOut(sentence=hit.text[span.start:span.end], language=hit.document.language,
                     passage_id=hit.passage_id, start=span.start,
                     end=span.end, document=summary(hit.document), page=hit.page_start,
                     source_link=file_link(hit.document, hit.page_start))


def related_out(hit: Hit) -> RelatedOut:
    return RelatedOut(passage_id=hit.passage_id, text=hit.text, score=round(hit.score, 6), section=hit.section,
                      page=hit.page_start, document=summary(hit.document),
                      source_link=file_link(hit.document, hit.page_start))

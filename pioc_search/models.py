"""Plain data objects shared by every stage: extraction, chunking, storage and search."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DOC_TYPES = ("report", "blog", "statement", "webinar")


@dataclass
class Block:
    """A run of text from one place in a source file.

    `section` is the heading path ("Findings > Street lighting") or, for transcripts, the cue's
    start time and speaker. `page` is the 1-based PDF page, None for formats without pages.
    """

    text: str
    section: str = ""
    page: int | None = None


@dataclass
class Extraction:
    """What an extractor found in one file: its text blocks and any metadata the file itself carries.

    `meta` keys, all optional: title, date (ISO yyyy-mm-dd), doc_type, cities, themes, language,
    source_url, author, pages. `problems` lists what could not be read in a file that was otherwise
    indexed; the ingest report shows them, so no page is lost silently.
    """

    blocks: list[Block]
    meta: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # partial losses, e.g. "pages 2, 12: no usable text"


@dataclass
class Document:
    id: str
    path: str
    sha256: str
    title: str
    doc_type: str
    cities: list[str]
    themes: list[str]
    date: str | None
    language: str
    source_url: str | None
    media_type: str
    pages: int | None = None

    @property
    def year(self) -> int | None:
        return int(self.date[:4]) if self.date else None


@dataclass
class Passage:
    id: int
    doc_id: str
    ordinal: int
    text: str
    section: str
    page_start: int | None
    page_end: int | None

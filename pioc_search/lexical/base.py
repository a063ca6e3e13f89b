"""The lexical-engine interface: a BM25 index over the analysed terms of each passage.

Terms come from pioc_search.analysis, space-separated; engines never analyse text themselves. A
version's lexical index is written by a `LexicalWriter` while the version is built (inside the
version directory or its meta.sqlite, so it lives and dies with the version) and opened read-only
by a `LexicalReader`.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LexicalRow:
    """One passage as the lexical index sees it: analysed terms, space-separated, per field."""

    passage_id: int
    doc_id: str
    text: str
    section: str
    title: str


class LexicalWriter(ABC):
    """Writes the lexical index of the version being built at `path` (the `.building` directory)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, base: Path | None) -> None:
        """Start empty, or from a copy of the lexical index of the version at `base`."""

    @abstractmethod
    def add(self, rows: Sequence[LexicalRow]) -> None: ...

    @abstractmethod
    def delete(self, doc_ids: Iterable[str]) -> None:
        """Remove every passage of these documents (rows added later are kept)."""

    @abstractmethod
    def finish(self) -> None:
        """Make everything durable; no writes after this."""

    @abstractmethod
    def count(self) -> int:
        """Passages in the index (after `finish`)."""

    def abandon(self) -> None:
        """Release what the writer holds; the directory is deleted by the caller."""


class LexicalReader(ABC):
    """Searches one published version; safe to share between threads."""

    def __init__(self, path: Path, conn: Callable[[], sqlite3.Connection]) -> None:
        """`conn` returns the calling thread's read-only connection to the version's meta.sqlite."""

    @abstractmethod
    def search(self, terms: Sequence[str], k: int, doc_ids: Sequence[str] | None = None) -> list[tuple[int, float]]:
        """(passage id, BM25 score, higher is better) best first: passages with any of `terms` (OR,
        none dropped), within the documents `doc_ids` when given."""

    @abstractmethod
    def doc_freq(self, term: str) -> int:
        """How many passages contain `term`."""

    @abstractmethod
    def count(self) -> int: ...


@dataclass(frozen=True)
class Engine:
    name: str
    writer: type[LexicalWriter]
    reader: type[LexicalReader]

"""The storage interface every backend implements: versions of the index, one of them live.

A `Store` holds versions; a `VersionReader` answers searches from one version; a `VersionWriter`
builds a new version from a base. A finished version is verified but not live until `publish`,
which switches atomically: readers see the old version or the new one, never a mix.
Search, ingest, admin and web code use only these names, never a backend module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from pioc_search.models import Document, Passage

if TYPE_CHECKING:  # search.Filters: doc_type, city, theme, language, year_from, year_to, .active
    from pioc_search.search import Filters

__all__ = [
    "BuildInProgress", "VerificationError", "StoreUnavailable", "VersionGone",
    "PassageRow", "VersionReader", "VersionWriter", "Store",
]


class BuildInProgress(Exception):
    """Another ingest holds the build lock."""


class VerificationError(Exception):
    """A freshly built version is inconsistent and was not published."""


class StoreUnavailable(Exception):
    """The store cannot be reached (database down, network, timeout); the API answers 503."""


class VersionGone(Exception):
    """The version a reader was opened on has been pruned; open the live one again."""


# A passage row: mapping with keys id, doc_id, ordinal, text, section, page_start, page_end, embed_hash.
PassageRow = Mapping[str, Any]


@runtime_checkable
class VersionReader(Protocol):
    """One version, read-only. Documents and meta are loaded once; everything else is queried."""

    name: str
    dimension: int
    meta: dict[str, Any]
    documents: dict[str, Document]
    lexical_engine: str  # what answers `lexical` (shown by /stats)

    @property
    def passage_count(self) -> int: ...

    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]: ...

    def doc_ids(self, ids: Sequence[int]) -> dict[int, str]:
        """Passage id → document id."""
        ...

    def document_passages(self, doc_id: str) -> list[PassageRow]:
        """The document's passages in reading order."""
        ...

    def fingerprints(self) -> dict[str, str]:
        """Document path → fingerprint, for change detection."""
        ...

    def vectors_by_embed_hash(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored vectors of passages whose embedding input had one of these hashes."""
        ...

    def vector(self, passage_id: int) -> np.ndarray:
        """The stored (unit) vector of one passage; KeyError if unknown."""
        ...

    def dense(self, query: np.ndarray, k: int, allowed_docs: Sequence[str] | None = None,
              exclude_docs: Sequence[str] = (), filters: Filters | None = None) -> list[tuple[int, float]]:
        """(passage id, cosine) best first; k hits whenever k passages pass the filters."""
        ...

    def lexical(self, question: str, k: int, allowed_docs: Sequence[str] | None = None,
                filters: Filters | None = None, language: str | None = None,
                readings: tuple[str, ...] = ()) -> list[tuple[int, float]]:
        """(passage id, score, higher is better) best first: the question analysed as
        analysis.question_terms(question, language, readings)."""
        ...

    def lexical_later(self, question: str, k: int, allowed_docs: Sequence[str] | None = None,
                      language: str | None = None, readings: tuple[str, ...] = ()
                      ) -> Callable[[], list[tuple[int, float]]]:
        """`lexical`, started now and collected by calling the result: a store whose searches run in
        another process (PostgreSQL) starts it at once, so it runs while the question is encoded and
        searched densely; one that searches in this process searches when called."""
        ...

    def doc_freq(self, words: Iterable[str]) -> dict[str, int]:
        """How many passages contain each (folded) word: the idf of answer highlighting."""
        ...

    def warm(self) -> None:
        """Start bringing the version's data into memory ahead of searches, in the background
        (called when a server starts serving the version)."""
        ...


@runtime_checkable
class VersionWriter(Protocol):
    """Builds one new version; nothing it writes is visible to readers before `Store.publish`."""

    name: str

    def remove_documents(self, doc_ids: Iterable[str]) -> None: ...

    def add_document(self, doc: Document, fingerprint: str, passages: Sequence[Passage],
                     embed_hashes: Sequence[str], vectors: np.ndarray) -> None: ...

    def doc_ids_for_paths(self, paths: Sequence[str]) -> list[str]:
        """Ids of the documents (in this version so far) at these corpus paths."""
        ...

    @property
    def document_count(self) -> int: ...

    @property
    def passage_count(self) -> int: ...

    def set_meta(self, values: dict[str, Any]) -> None: ...

    def finish(self) -> str:
        """Write, verify (VerificationError if inconsistent) and return the version name; not live yet."""
        ...

    def abandon(self) -> None:
        """Throw the unfinished version away."""
        ...


@runtime_checkable
class Store(Protocol):
    """All versions of one index and the pointer to the live one."""

    def live_name(self) -> str | None:
        """Name of the live version (cheap: callers poll it to notice a publish)."""
        ...

    def live(self) -> VersionReader | None: ...

    def open(self, name: str) -> VersionReader: ...

    def writer(self, dimension: int, base: VersionReader | None = None) -> VersionWriter: ...

    def can_extend(self, base: VersionReader) -> bool:
        """Whether a new version may start from `base` (its storage format is this store's current one)."""
        ...

    def publish(self, name: str) -> None:
        """Make a finished version live, atomically."""
        ...

    def rollback(self) -> str:
        """Make the version live before the live one live again; ValueError if there is none."""
        ...

    def list_versions(self) -> list[str]:
        """Complete versions that have been live at some point, oldest first."""
        ...

    def build_lock(self) -> AbstractContextManager[None]:
        """Held for a whole build, across processes and machines; raises BuildInProgress."""
        ...

    def remove_unfinished(self) -> list[str]:
        """Delete leftovers of builds that died; call while holding the build lock."""
        ...

    def verify(self, name: str) -> None:
        """Re-check a stored version; VerificationError if it is inconsistent."""
        ...

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest `keep` (≥ 2) versions, never the live one or its previous."""
        ...

    def close(self) -> None: ...

"""tantivy (Rust, block-max WAND) over analysed terms, in `<version>/lexical/`.

One text field holds the analysed terms of the passage's text, section and document title
(plain BM25 over their concatenation: measured 0.687 nDCG@10 on SciFact against 0.660 for
per-field BM25), split on whitespace only; the passage id is a fast u64 field, the document id an
untokenised field for deletes and narrow filters, and a 64-bit hash of it a fast u64 field for wide
filters (applied to the ranked hits: see `TantivyReader.search`).

Speed at a million passages (docs/lexical.md): the writer's heap is large enough that a full build
is one segment (tantivy's merge policy leaves up to seven equal segments unmerged, and each segment
is searched on its own); the heap grows only as documents arrive.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import tantivy

from pioc_search.lexical.base import Engine, LexicalReader, LexicalRow, LexicalWriter

FOLDER = "lexical"
HEAP_BYTES = 1_500_000_000  # a ceiling, not an allocation: about 400 bytes per passage, one segment to ~3.5M
POST_FILTER_DEPTH = 2_048  # a filter allowing more than about 2k/this of the documents is applied to ranked hits
FILTER_MEMORY = 32  # filters whose plan (FilterPlan) a reader remembers (a wide one at 1M: ~2 MB)
LEARN_READS = 4  # a filter's ranking is read this many times before its plan may put it inside the query
RETRY_EVERY = 16  # ... and, once there, read again once in this many of its searches


def schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("pid", indexed=True, fast=True)
    builder.add_text_field("doc", tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("dockey", fast=True)
    builder.add_text_field("terms", tokenizer_name="whitespace", index_option="freq")
    return builder.build()


def doc_key(doc_id: str) -> int:
    """A document id as a u64 fast-field value (collisions: about 1 in 10^9 at 10^5 documents)."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "little")


def prefetch(folder: Path, advice: str = "POSIX_FADV_WILLNEED") -> None:
    """Ask the OS to read the index files into its page cache in the background (tantivy maps them),
    so the first questions after a version opens do not wait for the disk one page at a time.
    `advice="POSIX_FADV_DONTNEED"` drops them from the cache instead (the benchmark's cold runs)."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in folder.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, getattr(os, advice))
            finally:
                os.close(fd)


class TantivyWriter(LexicalWriter):
    def __init__(self, path: Path, conn: sqlite3.Connection, base: Path | None) -> None:
        self.path = path / FOLDER
        if base is not None:
            shutil.copytree(base / FOLDER, self.path)
            self.index = tantivy.Index.open(str(self.path))
        else:
            self.path.mkdir()
            self.index = tantivy.Index(schema(), path=str(self.path))
        self.writer: tantivy.IndexWriter | None = self.index.writer(heap_size=HEAP_BYTES, num_threads=1)

    def add(self, rows: Sequence[LexicalRow]) -> None:
        assert self.writer is not None
        for r in rows:
            doc = tantivy.Document()
            doc.add_unsigned("pid", r.passage_id)
            doc.add_text("doc", r.doc_id)
            doc.add_unsigned("dockey", doc_key(r.doc_id))
            doc.add_text("terms", " ".join(filter(None, (r.text, r.section, r.title))))
            self.writer.add_document(doc)

    def delete(self, doc_ids: Iterable[str]) -> None:
        assert self.writer is not None
        for doc_id in doc_ids:
            self.writer.delete_documents_by_term("doc", doc_id)

    def finish(self) -> None:
        assert self.writer is not None
        self.writer.commit()
        self.writer.wait_merging_threads()  # consumes the writer and releases its lock
        self.writer = None
        self.index.reload()

    def count(self) -> int:
        return int(self.index.searcher().num_docs)

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.rollback()
        self.writer = None


class FilterPlan:
    """What a reader has learnt about one filter: its documents as a set, its query clause (both built
    once), how often reading the unfiltered ranking found k of its passages, and what that read and the
    filter inside the query cost (moving averages of their wall time). Both ways give the same hits; the
    plan only picks the cheaper. A filter against the question (a language filter with a question in
    another language, a year whose reports are about other things) makes the read come up short, and the
    search then pays it and the query too: once a miss is more likely than the read is cheap (reading
    costs more than the misses' share of the query saves), the filter goes straight inside the query, and
    its ranking is read again once in RETRY_EVERY searches in case the questions change. Counts are
    updated without a lock: a search racing another may lose one, which only delays the choice."""

    __slots__ = ("allowed", "reads", "misses", "skipped", "read_cost", "query_cost", "_within")

    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.reads = self.misses = self.skipped = 0
        self.read_cost: float | None = None  # seconds, moving averages
        self.query_cost: float | None = None
        self._within: tantivy.Query | None = None

    def within(self, schema: tantivy.Schema) -> tantivy.Query:
        """The filter as a query clause (its documents' ids), built once: ~20 ms for 30,000 documents."""
        if self._within is None:
            self._within = tantivy.Query.const_score_query(
                tantivy.Query.term_set_query(schema, "doc", sorted(self.allowed)), 0.0)
        return self._within

    def read_ranked_hits(self) -> bool:
        """Whether this search should read the ranking first."""
        if self.reads < LEARN_READS or self.read_cost is None or self.query_cost is None:
            return True
        if self.read_cost + self.misses / self.reads * self.query_cost <= self.query_cost:
            return True
        self.skipped += 1
        if self.skipped < RETRY_EVERY:
            return False
        self.skipped = 0
        return True

    def record_read(self, seconds: float, found: bool) -> None:
        if self.reads >= 32:  # recent reads count more
            self.reads, self.misses = self.reads // 2, self.misses // 2
        self.reads += 1
        self.misses += not found
        self.read_cost = _moving(self.read_cost, seconds)

    def record_query(self, seconds: float) -> None:
        self.query_cost = _moving(self.query_cost, seconds)


def _moving(average: float | None, value: float, weight: float = 0.2) -> float:
    return value if average is None else (1 - weight) * average + weight * value


class TantivyReader(LexicalReader):
    def __init__(self, path: Path, conn: Callable[[], sqlite3.Connection]) -> None:
        self.index = tantivy.Index.open(str(path / FOLDER))
        self.schema = self.index.schema
        self.searcher = self.index.searcher()  # the version never changes: one snapshot for its lifetime
        prefetch(path / FOLDER)
        self._documents: dict[int, str] | None = None  # doc key → doc id
        self._plans: OrderedDict[tuple[str, ...], FilterPlan] = OrderedDict()  # the last FILTER_MEMORY filters
        self._plans_lock = threading.Lock()

    def search(self, terms: Sequence[str], k: int, doc_ids: Sequence[str] | None = None) -> list[tuple[int, float]]:
        """Unfiltered: a pure OR of term queries, which tantivy runs with block-max WAND. Filtered:
        a filter that keeps many passages is applied to the ranked hits of that same query, read
        `POST_FILTER_DEPTH` deep (or less), which gives the same top k as the filter inside the
        query whenever k allowed hits are among them; otherwise (or for a narrow filter, or one whose
        reads cost more than they save: `FilterPlan`) the filter goes inside the query, where tantivy
        scores every allowed passage with any of the terms (a filter clause turns block-max WAND off)."""
        if not terms or doc_ids is not None and not doc_ids:
            return []
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "terms", t, index_option="freq"))
             for t in terms])
        if doc_ids is None:
            return self._ranked(query, k)
        plan = self._plan(doc_ids)
        allowed = plan.allowed
        depth = self._post_filter_depth(k, allowed)
        if depth and plan.read_ranked_hits():
            started = time.perf_counter()
            hits = self.searcher.search(query, depth, count=False).hits
            kept = self._allowed_hits(hits, allowed)
            found = len(kept) >= k or len(hits) < depth
            plan.record_read(time.perf_counter() - started, found)
            if found:
                return self._with_ids(kept[:k])
        within = plan.within(self.schema)
        started = time.perf_counter()
        hits = self.searcher.search(tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, query), (tantivy.Occur.Must, within)]), k, count=False).hits
        plan.record_query(time.perf_counter() - started)
        return self._with_ids(hits)

    def _plan(self, doc_ids: Sequence[str]) -> FilterPlan:
        """The plan of the filter allowing `doc_ids` (callers pass the same tuple for the same filter)."""
        key = tuple(doc_ids)
        with self._plans_lock:
            plan = self._plans.get(key)
            if plan is None:
                plan = self._plans[key] = FilterPlan(set(key))
                if len(self._plans) > FILTER_MEMORY:
                    self._plans.popitem(last=False)
            else:
                self._plans.move_to_end(key)
            return plan

    def _ranked(self, query: tantivy.Query, k: int) -> list[tuple[int, float]]:
        return self._with_ids(self.searcher.search(query, k, count=False).hits)

    def _with_ids(self, hits: list[tuple[float, tantivy.DocAddress]]) -> list[tuple[int, float]]:
        if not hits:
            return []
        ids = self.searcher.fast_field_values("pid", [address for _, address in hits])
        return [(int(pid), float(score)) for (score, _), pid in zip(hits, ids)]  # type: ignore[arg-type]

    def _post_filter_depth(self, k: int, allowed: set[str]) -> int:
        """How deep to read the unfiltered ranking so that k allowed hits are likely among them
        (twice the depth expected from the share of documents allowed), 0 when that is deeper than
        POST_FILTER_DEPTH or the index predates `dockey`."""
        documents = self._document_ids()
        if not documents:
            return 0
        depth = 2 * k * len(documents) // len(allowed) + 1
        return depth if depth <= POST_FILTER_DEPTH else 0

    def _allowed_hits(self, hits: list[tuple[float, tantivy.DocAddress]],
                      allowed: set[str]) -> list[tuple[float, tantivy.DocAddress]]:
        documents = self._document_ids()
        keys = self.searcher.fast_field_values("dockey", [address for _, address in hits]) if hits else []
        return [hit for hit, key in zip(hits, keys) if documents.get(key) in allowed]  # type: ignore[arg-type]

    def _document_ids(self) -> dict[int, str]:
        """Every document id by its key (read once, on the first filtered search); empty for an
        index written before the `dockey` field existed."""
        if self._documents is None:
            try:
                self.searcher.fast_field_values("dockey", [])
                self._documents = {doc_key(d): d for d, _ in self.searcher.terms_with_prefix("doc", "")}
            except ValueError:
                self._documents = {}
        return self._documents

    def doc_freq(self, term: str) -> int:
        return int(self.searcher.doc_freq("terms", term))

    def count(self) -> int:
        return int(self.searcher.num_docs)


ENGINE = Engine("tantivy", TantivyWriter, TantivyReader)

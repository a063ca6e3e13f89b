"""Question → ranked passages: dense + lexical retrieval from one index version (stores.base.VersionReader),
fused by reciprocal rank, filtered, de-duplicated, each with the sentences that answer it."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from itertools import chain
from typing import Any, Literal

import numpy as np

from pioc_search.analysis import UNDETERMINED, question_groups
from pioc_search.answers import Span, best_sentences, idf_weights
from pioc_search.embedders import Embedder
from pioc_search.ingest.metadata import detect_language, find_cities
from pioc_search.models import Document
from pioc_search.sentences import sentence_spans
from pioc_search.stages import stage
from pioc_search.stores.base import VersionReader

Mode = Literal["hybrid", "dense", "lexical"]
FacetRow = tuple[str, list[str], list[str], int | None, str]  # type, cities, themes, year, language
RRF_K = 30  # reciprocal-rank constant: 20-40 beat the usual 60 on SciFact queries 1-100 (two models) with 100 candidates
CANDIDATES = 100
DUPLICATE_OVERLAP = 0.5  # share of word 4-grams two passages must share to count as the same text
DOC_FREQ_CACHE = 65536  # words whose passage counts a Searcher remembers
FILTER_CACHE = 64  # filter combinations whose matching documents a Searcher remembers
LANGUAGE_CACHE = 1024  # questions whose detected language is remembered (paging repeats them)
CITY_DEPTH = 20  # dense candidates from a named city's documents that rank again, among themselves (hybrid)
STRONG_ANSWER_COVERAGE = 0.34  # share of the question's weight the answer sentence must cover
# The cosine thresholds depend on the model's score range: embedder.answer_cosine and .related_floor


@dataclass(frozen=True)
class Filters:
    doc_type: tuple[str, ...] = ()
    city: tuple[str, ...] = ()
    theme: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None

    @property
    def active(self) -> bool:
        return any((self.doc_type, self.city, self.theme, self.language)) or \
            self.year_from is not None or self.year_to is not None

    def matches(self, doc: Document) -> bool:
        if self.year_from is not None or self.year_to is not None:
            year = doc.year
            if year is None or (self.year_from is not None and year < self.year_from) \
                    or (self.year_to is not None and year > self.year_to):
                return False
        return ((not self.doc_type or doc.doc_type in self.doc_type)
                and (not self.city or any(c in doc.cities for c in self.city))
                and (not self.theme or any(t in doc.themes for t in self.theme))
                and (not self.language or doc.language in self.language))


def facet_row(doc: Document) -> FacetRow:
    """The values a document has for each facet a filter or a facet count reads."""
    return doc.doc_type, doc.cities, doc.themes, doc.year, doc.language


class DocumentIndex:
    """A version's document ids by facet value, so a filter's documents come from set operations over the
    values it names instead of a pass over every document (50,000 at a million passages: ~40 ms each).
    Built from `facet_row`, the same values facet counts read."""

    FACETS = ("doc_type", "city", "theme", "year", "language")  # facet_row's order
    SORT_SHARE = 1 / 16  # results allowing fewer of the documents than this are sorted, larger ones filtered in order

    def __init__(self, documents: dict[str, Document]) -> None:
        self.order = list(documents)  # results keep the version's document order
        self.position = {doc_id: i for i, doc_id in enumerate(self.order)}
        self.by: dict[str, dict[Any, set[str]]] = {name: {} for name in self.FACETS}
        by_type, by_city, by_theme, by_year, by_language = (self.by[name] for name in self.FACETS)
        for doc_id, doc in documents.items():
            doc_type, cities, themes, year, language = facet_row(doc)
            by_type.setdefault(doc_type, set()).add(doc_id)
            by_year.setdefault(year, set()).add(doc_id)
            by_language.setdefault(language, set()).add(doc_id)
            for city in cities:
                by_city.setdefault(city, set()).add(doc_id)
            for theme in themes:
                by_theme.setdefault(theme, set()).add(doc_id)

    def matching(self, filters: Filters) -> tuple[str, ...]:
        """The ids of the documents `filters` allow (Filters.matches), in the version's order."""
        chosen: set[str] | None = None
        for name, values in (("doc_type", filters.doc_type), ("city", filters.city), ("theme", filters.theme),
                             ("language", filters.language)):
            if values:
                chosen = self._narrow(chosen, [self.by[name].get(v, set()) for v in values])
        if filters.year_from is not None or filters.year_to is not None:
            low = filters.year_from if filters.year_from is not None else -10**9
            high = filters.year_to if filters.year_to is not None else 10**9
            chosen = self._narrow(chosen, [ids for year, ids in self.by["year"].items()
                                           if year is not None and low <= year <= high])
        if chosen is None:
            return tuple(self.order)
        if len(chosen) < self.SORT_SHARE * len(self.order):
            return tuple(sorted(chosen, key=self.position.__getitem__))
        return tuple(d for d in self.order if d in chosen)

    @staticmethod
    def _narrow(chosen: set[str] | None, groups: list[set[str]]) -> set[str]:
        """The documents in any of `groups` (one filter field's values) and in `chosen` (the fields before)."""
        found = set().union(*groups)
        return found if chosen is None else chosen & found


@dataclass
class Hit:
    passage_id: int
    document: Document
    text: str
    section: str
    page_start: int | None
    page_end: int | None
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    dense_score: float | None = None
    answers: list[Span] = field(default_factory=list)
    duplicates: list[Hit] = field(default_factory=list)


@dataclass
class Answer:
    hit: Hit
    span: Span


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    answer: Answer | None = None
    took_ms: float = 0.0
    named_cities: tuple[str, ...] = ()  # network cities the question names, whose passages were ranked higher


def _reciprocal_ranks(ranking: Sequence[tuple[int, float]]) -> dict[int, float]:
    """Each passage's 1 / (RRF_K + its rank) in `ranking` (best first)."""
    return {pid: 1.0 / (RRF_K + rank) for rank, (pid, _) in enumerate(ranking, 1)}


def fuse(dense: list[tuple[int, float]], lexical: list[tuple[int, float]],
         beyond_lexical: set[int] = frozenset(),  # type: ignore[assignment]
         named_city: list[tuple[int, float]] = ()) -> list[tuple[int, float]]:  # type: ignore[assignment]
    """Reciprocal-rank fusion of the dense and lexical rankings (and `named_city`'s), best first.

    Passages in `beyond_lexical` are in another language than the question's, in an index that
    also holds passages in the question's language: the lexical retriever matches words, not
    meanings, so it ranks those same-language passages above them whatever their merits. For them
    the better of their dense and lexical ranks stands in for the lexical one (instead of counting
    as lexical evidence against them), so a Spanish question can rank an English report first.

    `named_city`: the dense candidates from the documents about a network city the question names,
    in their dense order; each adds its reciprocal rank among them, as a third ranking would.
    Passages about that city rise; passages both retrievers put first still come first. Like
    Algolia's optional filters, this re-ranks what retrieval found and retrieves nothing more, so it
    costs no search.
    """
    dense_part, lexical_part, city_part = map(_reciprocal_ranks, (dense, lexical, named_city))
    scores = {}
    for pid in dense_part.keys() | lexical_part.keys() | city_part.keys():
        d, w = dense_part.get(pid, 0.0), lexical_part.get(pid, 0.0)
        scores[pid] = d + (max(d, w) if pid in beyond_lexical else w) + city_part.get(pid, 0.0)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def passage_words(text: str) -> list[str]:
    """A passage's words for duplicate folding: lower-cased, split on whitespace (cheap, and exact copies match)."""
    return text.lower().split()


def shingles(words: list[str], size: int = 4) -> set[int]:
    """Hashes of a passage's word 4-grams (`passage_words`): sets of ints intersect faster than sets of
    tuples, and two different 4-grams of one search share a 64-bit hash too rarely to matter."""
    return set(map(hash, zip(*(words[i:] for i in range(size))))) or {hash(tuple(words))}


def _twin(grams: set[int], kept: list[tuple[Hit, set[int]]]) -> int | None:
    """Position of the kept hit sharing the most word 4-grams (the first of those sharing as many) among
    those sharing at least DUPLICATE_OVERLAP of the shorter passage's, if any."""
    best, best_count = None, 0
    for position, (_, theirs) in enumerate(kept):
        count = len(grams & theirs)
        if count > best_count and count >= DUPLICATE_OVERLAP * max(1, min(len(grams), len(theirs))):
            best, best_count = position, count
    return best


_question_language = lru_cache(maxsize=LANGUAGE_CACHE)(detect_language)


class Searcher:
    """Searches one index version; remembers between queries only what that version fixes (word
    counts, the documents a filter matches), never a result."""

    def __init__(self, version: VersionReader, embedder: Embedder) -> None:
        self.version = version
        self.embedder = embedder
        self._doc_freqs: dict[str, int] = {}  # the version never changes, so its counts never do
        self._matching = lru_cache(maxsize=FILTER_CACHE)(self._matching_docs)  # nor its documents
        self._languages: tuple[str, ...] | None = None  # nor their languages
        self._facet_values: dict[str, FacetRow] = {}  # nor a document's facet values (facet_row), as met

    def doc_freq(self, words: list[str]) -> dict[str, int]:
        """Passages containing each word, asked of the version once per word."""
        missing = [w for w in dict.fromkeys(words) if w not in self._doc_freqs]
        if missing:
            if len(self._doc_freqs) + len(missing) > DOC_FREQ_CACHE:
                self._doc_freqs = {}
            self._doc_freqs.update(self.version.doc_freq(missing))
        return {w: self._doc_freqs.get(w, 0) for w in words}

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages of the index's documents."""
        if self._languages is None:
            self._languages = tuple(sorted({d.language for d in self.version.documents.values()}))
        return self._languages

    def readings(self, language: str | None) -> tuple[str, ...]:
        """The index's languages other than the question's `language`: the question is also read
        in them (analysis.question_groups), so its technical words and cognates meet passages in
        those languages. None (the question's language not known yet): no further reading."""
        return () if language is None else tuple(lang for lang in self.languages if lang != language)

    def search(self, question: str, k: int = 10, offset: int = 0, mode: Mode = "hybrid",
               filters: Filters = Filters()) -> SearchResult:
        started = time.perf_counter()
        with stage("filters"):
            allowed = self._allowed_docs(filters)
        depth = max(CANDIDATES, 2 * (offset + k))
        with stage("language"):
            language = _question_language(question)  # once: lexical analysis, fusion and answers all need it
        dense: list[tuple[int, float]] = []
        with stage("cities"):
            cities, scope = self._named_cities(question, filters, allowed) if mode == "hybrid" else ((), None)
        # Started first: a store that searches in another process works on it during the encode.
        lexical_result = self.lexical_later(question, depth, allowed, language) if mode != "dense" else list
        if mode != "lexical":
            with stage("encode"):
                query = self.embedder.encode_query(question)
            dense = self.dense(query, depth, allowed)
        with stage("lexical"):  # what is left of it (all of it for stores that search when asked)
            lexical = lexical_result()
        with stage("fusion"):
            owners = self.version.doc_ids([pid for pid, _ in dense + lexical])  # fusion and facets need them
            in_city = [(pid, c) for pid, c in dense if owners[pid] in scope][:CITY_DEPTH] if scope else []
            ranked = self._rank(mode, dense, lexical, language, owners, in_city)
        with stage("duplicates"):
            hits = self._deduplicated_hits(ranked, offset + k, dense, lexical)[offset:]
        with stage("answers"):
            self._add_answers(question, hits, language)
            answer = self._strong_answer(hits, mode) if offset == 0 else None
        with stage("facets"):
            facets = self.facets(ranked, owners)
        return SearchResult(hits=hits, total=len(ranked), facets=facets, answer=answer,
                            took_ms=(time.perf_counter() - started) * 1000, named_cities=cities)

    def _named_cities(self, question: str, filters: Filters, allowed: Sequence[str] | None
                      ) -> tuple[tuple[str, ...], frozenset[str] | None]:
        """The network cities the question names and the documents (within `filters`, whose documents are
        `allowed`) about them; none when no document is about them, or when they are all the documents a
        search would rank anyway. A city filter the user chose already decides which cities count."""
        cities = () if filters.city else tuple(find_cities(question))
        scope = self._matching(replace(filters, city=cities)) if cities else ()
        every = allowed or self.version.documents
        return (cities, frozenset(scope)) if scope and len(scope) < len(every) else ((), None)

    def _allowed_docs(self, filters: Filters) -> tuple[str, ...] | None:
        """The documents `filters` allow; None when they allow every document (no filter to apply:
        `language=en` over an English-only index searches like no filter, at no filter's cost)."""
        if not filters.active:
            return None
        allowed = self._matching(filters)
        return None if len(allowed) == len(self.version.documents) else allowed

    def _matching_docs(self, filters: Filters) -> tuple[str, ...]:
        return self._document_index.matching(filters)

    @cached_property
    def _document_index(self) -> DocumentIndex:
        """Built on the first filtered search (~0.2 s at 50,000 documents), then kept with the version."""
        return DocumentIndex(self.version.documents)

    def dense(self, query: np.ndarray, depth: int, allowed_docs: Sequence[str] | None = None,
              exclude_docs: tuple[str, ...] = ()) -> list[tuple[int, float]]:
        """(passage id, cosine) best first, within `allowed_docs` and outside `exclude_docs`."""
        with stage("dense"):
            return self.version.dense(query, depth, allowed_docs, exclude_docs)

    def lexical(self, question: str, depth: int, allowed_docs: Sequence[str] | None = None,
                language: str | None = None) -> list[tuple[int, float]]:
        """(passage id, score, higher is better) best first, every analysed question word counted."""
        return self.lexical_later(question, depth, allowed_docs, language)()

    def lexical_later(self, question: str, depth: int, allowed_docs: Sequence[str] | None = None,
                      language: str | None = None) -> Callable[[], list[tuple[int, float]]]:
        """`lexical`, started now where the store can (VersionReader.lexical_later), collected by the call."""
        return self.version.lexical_later(question, depth, allowed_docs, language=language,
                                          readings=self.readings(language))

    def _rank(self, mode: Mode, dense: list[tuple[int, float]], lexical: list[tuple[int, float]],
              language: str, owners: dict[int, str],
              named_city: list[tuple[int, float]] = ()) -> list[tuple[int, float]]:  # type: ignore[assignment]
        if mode == "dense":
            return dense
        if mode == "lexical":
            return lexical
        return fuse(dense, lexical, self._in_other_languages(owners, language), named_city)

    def _in_other_languages(self, owners: dict[int, str], language: str) -> set[int]:
        """The passages (of `owners`: passage id → document id) whose document is in another language
        than `language`: none when it is `und` (the question was then analysed in every network
        language), and none when the index holds no document in `language`. Then every passage is in
        another language, all are judged by the same reading of the question (see `readings`), and
        their lexical ranks are fair evidence."""
        if language == UNDETERMINED or language not in self.languages:
            return set()
        docs = self.version.documents
        return {pid for pid, doc_id in owners.items() if docs[doc_id].language != language}

    def _deduplicated_hits(self, ranked: list[tuple[int, float]], wanted: int,
                           dense: list[tuple[int, float]], lexical: list[tuple[int, float]]) -> list[Hit]:
        """The first `wanted` distinct hits; near-identical passages fold into the first one seen. Hits are
        examined until `wanted` are kept and at least 2 × `wanted` were seen (twins rank close)."""
        dense_rank = {pid: (r, s) for r, (pid, s) in enumerate(dense, 1)}
        lexical_rank = {pid: r for r, (pid, _) in enumerate(lexical, 1)}
        kept: list[tuple[Hit, set[int]]] = []  # (hit, its word 4-grams)
        copies: dict[str, int] = {}  # a kept hit's words, joined → its position: exact copies fold at once

        def next_chunk(seen: int) -> int:  # enough rows to find the missing hits at the rate kept so far, 1.5× over
            return math.ceil(1.5 * (wanted - len(kept)) * seen / max(1, len(kept)))

        for seen, (pid, score, row) in enumerate(self._ranked_rows(ranked, 2 * wanted, next_chunk), 1):
            if row is not None:
                hit = self._hit(row, score, dense_rank.get(pid), lexical_rank.get(pid))
                words = passage_words(hit.text)
                same = " ".join(words)
                if same in copies:  # the same words as a kept hit (boilerplate, a re-published file)
                    kept[copies[same]][0].duplicates.append(hit)
                else:
                    grams = shingles(words)
                    twin = _twin(grams, kept)
                    if twin is not None:
                        kept[twin][0].duplicates.append(hit)
                    elif len(kept) < wanted:
                        copies[same] = len(kept)
                        kept.append((hit, grams))
            if len(kept) >= wanted and seen >= 2 * wanted:
                break
        return [hit for hit, _ in kept]

    def _ranked_rows(self, ranked: list[tuple[int, float]], first: int,
                     wanted_after: Callable[[int], int]) -> Iterator[tuple[int, float, Any]]:
        """(passage id, score, its row or None) in rank order, the rows read in growing chunks (`first`
        passages, then twice as many each time, or `wanted_after(rows seen)` if more): few round trips
        when many hits fold. (Reading the next chunk on another thread while this one is examined was
        measured: no faster, as the examining thread holds the GIL the reading one needs.)"""
        start, size = 0, first
        while start < len(ranked):
            chunk = ranked[start : start + size]
            rows = self.version.passages([pid for pid, _ in chunk])
            for pid, score in chunk:
                yield pid, score, rows.get(pid)
            start += len(chunk)
            size = max(2 * size, wanted_after(start))

    def _hit(self, row, score: float, dense: tuple[int, float] | None, lexical_rank: int | None) -> Hit:  # type: ignore[no-untyped-def]
        return Hit(passage_id=row["id"], document=self.version.documents[row["doc_id"]], text=row["text"],
                   section=row["section"], page_start=row["page_start"], page_end=row["page_end"], score=score,
                   dense_rank=dense[0] if dense else None, dense_score=dense[1] if dense else None,
                   lexical_rank=lexical_rank)

    def _add_answers(self, question: str, hits: list[Hit], language: str | None = None) -> None:
        groups = question_groups(question, language, self.readings(language))
        freq = self.doc_freq([t for group in groups for t in group])
        weights = idf_weights(groups, freq, max(1, self.version.passage_count))
        spans = [sentence_spans(hit.text) for hit in hits]
        for hit, found in zip(hits, spans):
            hit.answers = best_sentences(hit.text, weights, hit.document.language, spans=found)
        unanswered = [(hit, found) for hit, found in zip(hits, spans) if not hit.answers]
        self._add_closest_sentences(question, [hit for hit, _ in unanswered], [found for _, found in unanswered])

    def _add_closest_sentences(self, question: str, hits: list[Hit], spans: list[list[tuple[int, int]]]) -> None:
        """For hits where no question word occurs (`spans`: their sentences), the sentence closest in meaning,
        judged by the model's word-piece embeddings (cheap: no transformer pass; one tokeniser call for them all)."""
        sentences = [hit.text[s:e] for hit, found in zip(hits, spans) for s, e in found]
        if not sentences:
            return
        vectors = self.embedder.word_piece_vectors([question, *sentences])  # each text's vector on its own
        start = 1
        for hit, found in zip(hits, spans):
            if found:
                best = int(np.argmax(vectors[start : start + len(found)] @ vectors[0]))
                hit.answers = [Span(found[best][0], found[best][1], 0.0)]
            start += len(found)

    def _strong_answer(self, hits: list[Hit], mode: Mode) -> Answer | None:
        """The top hit's best sentence, only when both retrievers and the wording agree on it."""
        if not hits or not hits[0].answers:
            return None
        top = hits[0]
        span = max(top.answers, key=lambda s: s.score)
        confident = (span.score >= STRONG_ANSWER_COVERAGE
                     and (mode == "lexical" or (top.dense_score or 0) >= self.embedder.answer_cosine)
                     and (mode != "hybrid" or (top.dense_rank or 99) <= 3 and (top.lexical_rank or 99) <= 3))
        return Answer(top, span) if confident else None

    def facets(self, ranked: list[tuple[int, float]],
               owners: dict[int, str] | None = None) -> dict[str, dict[str, int]]:
        """Document counts per doc_type, city, theme, year and language (real languages only, never
        `und`) over the matching candidates; `owners` (passage id → document id of exactly those
        candidates) saves asking the version again."""
        if owners is None:
            owners = self.version.doc_ids([pid for pid, _ in ranked])
        known = self._facet_values
        rows = [known.get(doc_id) or known.setdefault(doc_id, facet_row(self.version.documents[doc_id]))
                for doc_id in dict.fromkeys(owners.values())]
        doc_types, cities, themes, years, languages = zip(*rows) if rows else ((), (), (), (), ())
        counters: dict[str, Counter[str]] = {
            "doc_type": Counter(doc_types),
            "city": Counter(chain.from_iterable(cities)),
            "theme": Counter(chain.from_iterable(themes)),
            "year": Counter(str(year) for year in years if year),
            "language": Counter(language for language in languages if language != UNDETERMINED),
        }
        return {name: dict(counter.most_common()) for name, counter in counters.items()}

    def related_to_passage(self, passage_id: int, k: int = 5) -> list[Hit]:
        """Similar passages from other documents, one per document; other cities first."""
        rows = self.version.passages([passage_id])
        if passage_id not in rows:
            raise KeyError(passage_id)
        doc = self.version.documents[rows[passage_id]["doc_id"]]
        return self._related(self.version.vector(passage_id), doc, k)

    def related_to_document(self, doc_id: str, k: int = 5) -> list[Hit]:
        """Material from other documents closest to this document's passages as a whole."""
        doc = self.version.documents[doc_id]
        ids = [r["id"] for r in self.version.document_passages(doc_id)]
        if not ids:
            return []
        centroid = np.mean([self.version.vector(i) for i in ids], axis=0).astype(np.float32)
        centroid /= np.linalg.norm(centroid) or 1.0
        return self._related(centroid, doc, k)

    def _related(self, vector: np.ndarray, source: Document, k: int) -> list[Hit]:
        candidates = self.dense(vector, CANDIDATES, exclude_docs=(source.id,))
        rows = self.version.passages([pid for pid, _ in candidates])
        best: dict[str, tuple[int, float]] = {}
        for pid, cosine in candidates:
            best.setdefault(rows[pid]["doc_id"], (pid, cosine))

        def preference(item: tuple[str, tuple[int, float]]) -> tuple[bool, bool, float]:
            doc_id, (_, cosine) = item
            shares_city = bool(set(self.version.documents[doc_id].cities) & set(source.cities))
            return cosine < self.embedder.related_floor, shares_city, -cosine

        chosen = [value for _, value in sorted(best.items(), key=preference)[:k]]
        return [self._hit(rows[pid], score, None, None) for pid, score in chosen]

"""Pick the sentences of a passage that best answer a question, with character offsets.

Question and sentences are compared as analysed terms (pioc_search.analysis): the question's terms
as the lexical index reads them, each sentence's in its document's language, so "robberies" lights
up a sentence about "robbery" and "iluminacao" one about "iluminação".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pioc_search.analysis import analyse
from pioc_search.sentences import sentence_spans


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    score: float  # share of the question's term weight that the sentence covers, 0..1


Group = tuple[str, ...]  # the terms of one question word (analysis.question_groups)


def idf_weights(groups: Sequence[Group], doc_freq: dict[str, int], passages: int) -> dict[Group, float]:
    """BM25-style inverse document frequency of each question word, from its most frequent term
    (a word read as several languages is as common as its commonest reading); unseen words count
    like the rarest."""
    weights = {}
    for group in groups:
        freq = max(doc_freq.get(t, 0) for t in group)
        weights[group] = math.log(1 + (passages - freq + 0.5) / (freq + 0.5))
    return weights


def best_sentences(text: str, weights: dict[Group, float], language: str, limit: int = 2,
                   spans: Sequence[tuple[int, int]] | None = None) -> list[Span]:
    """Sentences ranked by the question-word weight they cover; a second only if nearly as good.

    `weights` maps each question word's terms to its weight; `language` is the passage's; `spans`:
    the text's sentences if the caller has them (sentences.sentence_spans).
    """
    total = sum(weights.values())
    if not total:
        return []
    wanted = frozenset(term for group in weights for term in group)
    scored = []
    for start, end in sentence_spans(text) if spans is None else spans:
        found = wanted.intersection(analyse(text[start:end], language))
        covered = sum(w for group, w in weights.items() if not found.isdisjoint(group)) if found else 0.0
        if covered:
            scored.append(Span(start, end, covered / total))
    scored.sort(key=lambda s: (-s.score, s.start))
    if not scored:
        return []
    keep = [s for s in scored[:limit] if s.score >= 0.8 * scored[0].score]
    return sorted(keep, key=lambda s: s.start)

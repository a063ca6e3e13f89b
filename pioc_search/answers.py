"""Pick the sentences of a passage that best answer a question, with character offsets."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pioc_search.sentences import fold, sentence_spans

STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have how in is it its of on or that the their "
    "there these this to was were what when where which who why will with would can could should our we "
    "you your they them than then into about after before during any all more most much many some".split()
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    score: float  # share of the question's term weight that the sentence covers, 0..1


def terms(text: str) -> list[str]:
    """Content words of a question, folded, without stopwords, first occurrence order."""
    return list(dict.fromkeys(w for w in re.findall(r"\w+", fold(text)) if w not in STOPWORDS))


def _stem(word: str) -> str:
    return word[:5] if len(word) > 5 and not word.isdigit() else word


def idf_weights(question_terms: list[str], doc_freq: dict[str, int], passages: int) -> dict[str, float]:
    """BM25-style inverse document frequency; unseen terms count like the rarest."""
    return {t: math.log(1 + (passages - doc_freq.get(t, 0) + 0.5) / (doc_freq.get(t, 0) + 0.5)) for t in question_terms}


def best_sentences(text: str, weights: dict[str, float], limit: int = 2) -> list[Span]:
    """Sentences ranked by the question-term weight they cover; a second only if nearly as good."""
    total = sum(weights.values())
    if not total:
        return []
    stems = {_stem(t): w for t, w in weights.items()}
    scored = []
    for start, end in sentence_spans(text):
        words = {_stem(w) for w in re.findall(r"\w+", fold(text[start:end]))}
        covered = sum(w for stem, w in stems.items() if stem in words)
        if covered:
            scored.append(Span(start, end, covered / total))
    scored.sort(key=lambda s: (-s.score, s.start))
    if not scored:
        return []
    keep = [s for s in scored[:limit] if s.score >= 0.8 * scored[0].score]
    return sorted(keep, key=lambda s: s.start)

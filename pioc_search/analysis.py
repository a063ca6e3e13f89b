"""Text → index terms, the same way for documents, questions and answer highlighting.

`analyse(text, language)`: NFKC (ligatures such as "ﬁ" become "fi"), case-fold, split into words,
drop the language's stop words, stem with the language's Snowball stemmer, fold accents (Latin
diacritics; Arabic harakat and tatweel removed, alef/hamza forms, alef maksura and ta marbuta
normalised as Lucene's ArabicNormalizer does). Unknown languages are folded, not stemmed.

A word whose folded form differs from its written form (an accented word) yields two terms: the
stem of the word as written, folded ("iluminação" → "ilumin"), and the stem of its folded form
("iluminacao" → "iluminaca"). Snowball rules expect accents, so the first is the better stem; the
second is what a question typed without accents produces, so both spellings meet.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import Stemmer

STEMMERS = {"en": "english", "es": "spanish", "pt": "portuguese", "fr": "french", "ar": "arabic"}
NETWORK_LANGUAGES = tuple(STEMMERS)
UNDETERMINED = "und"
STOPWORDS_FILE = Path(__file__).with_name("data") / "stopwords.txt"
WORD_CACHE = 1 << 16  # words whose terms are remembered, per language

_WORD = re.compile(r"\w+")
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # harakat, Quranic marks, tatweel
_ARABIC_LETTERS = str.maketrans({"\u0629": "\u0647", "\u0649": "\u064a"})  # ta marbuta → ha, alef maksura → ya


def fold(text: str) -> str:
    """Case- and accent-folded: 'Bogotá' → 'bogota', 'أَحْمَد' → 'احمد', 'ﬁn' → 'fin'."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", _ARABIC_MARKS.sub("", text))  # hamza forms → bare letter + mark
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare).translate(_ARABIC_LETTERS)


def words(text: str) -> list[str]:
    """Words as written (NFKC, case-folded, Arabic marks removed so they never split a word)."""
    return _WORD.findall(_ARABIC_MARKS.sub("", unicodedata.normalize("NFKC", text).casefold()))


@lru_cache(maxsize=None)
def stop_words(language: str) -> frozenset[str]:
    """The language's stop words, folded; empty for languages without a list."""
    for line in STOPWORDS_FILE.read_text(encoding="utf-8").splitlines():
        code, _, listed = line.partition(":")
        if code.strip() == language and not line.startswith("#"):
            return frozenset(fold(w) for w in listed.split())
    return frozenset()


@lru_cache(maxsize=None)
def _stemmer(language: str) -> Stemmer.Stemmer | None:
    name = STEMMERS.get(language)
    return Stemmer.Stemmer(name, 100_000) if name else None  # PyStemmer caches recent words itself


def word_terms(word: str, language: str) -> tuple[str, ...]:
    """The index terms of one written word (case-folded, from `words`): none for a stop word.
    Remembered per language (`_terms_cache`): words repeat across passages, and answer highlighting
    analyses every hit's text."""
    cache = _terms_cache(language)
    terms = cache.get(word)
    if terms is None:
        if len(cache) >= WORD_CACHE:
            cache.clear()
        terms = cache[word] = _word_terms(word, language)
    return terms


@lru_cache(maxsize=None)
def _terms_cache(language: str) -> dict[str, tuple[str, ...]]:
    """Written word → terms for one language: a plain dict, as a lookup costs a fraction of an
    lru_cache's over two arguments and `analyse` makes one per word."""
    return {}


def _word_terms(word: str, language: str) -> tuple[str, ...]:
    folded = fold(word)
    if folded in stop_words(language):
        return ()
    stemmer = _stemmer(language)
    if stemmer is None:
        return (folded,)
    first = fold(stemmer.stemWord(word))
    if folded == word:
        return (first,)
    second = stemmer.stemWord(folded)
    return (first,) if second == first else (first, second)


def analyse(text: str, language: str) -> list[str]:
    """Index terms of `text` read as `language` (an ISO 639-1 code), in order, repeats kept."""
    known = _terms_cache(language).get
    out: list[str] = []
    for word in words(text):
        terms = known(word)
        out += word_terms(word, language) if terms is None else terms
    return out


@lru_cache(maxsize=1024)
def question_groups(question: str, language: str | None = None,
                    readings: tuple[str, ...] = ()) -> tuple[tuple[str, ...], ...]:
    """The terms of each distinct content word of a question, first occurrence order.

    The question's language is detected; when detection is unsure (short questions usually are) the
    question is analysed as each network language and a word's group holds the distinct terms of
    all of them, to be OR-ed: every document is indexed with its own language's stemmer, so one of
    those readings meets it, and the others only add a few terms that match nothing or carry little
    weight. Stop words of any network language are dropped then, since a keyword query rarely
    needs "de" or "the".

    `readings`: further languages to read the question's words in (the other languages of the
    index): a Spanish question's "BRCA1", "p53" or "diabetes" then meets the same word in an
    English passage, indexed with the English stemmer. Only the question's own stop words are
    dropped; a reading drops the words that are stop words in its language.
    """
    if language is None:
        from pioc_search.ingest.metadata import detect_language

        language = detect_language(question)
    own = (language,) if language != UNDETERMINED else NETWORK_LANGUAGES
    languages = tuple(dict.fromkeys((*own, *readings)))
    common = frozenset().union(*(stop_words(lang) for lang in own))
    groups: dict[tuple[str, ...], None] = {}
    for word in dict.fromkeys(words(question)):
        if fold(word) not in common:
            terms = tuple(dict.fromkeys(t for lang in languages for t in word_terms(word, lang)))
            if terms:
                groups[terms] = None
    return tuple(groups)


def question_terms(question: str, language: str | None = None, readings: tuple[str, ...] = ()) -> list[str]:
    """Distinct terms of a question (see `question_groups`), to be OR-ed in a lexical query."""
    return list(dict.fromkeys(t for group in question_groups(question, language, tuple(readings)) for t in group))

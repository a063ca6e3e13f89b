"""Blocks → passages: sentence-aware windows of about 180–250 model tokens with a small overlap."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pioc_search.models import Block, Passage
from pioc_search.sentences import split_sentences

TARGET_TOKENS = 200
MAX_TOKENS = 240
OVERLAP_TOKENS = 40
MIN_SECTION_TOKENS = 120
MAX_PASSAGE_ID = 2**53 - 1  # ids stay exact in JavaScript and fit SQLite's INTEGER  # a new heading starts a new passage once the current one is this long

TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass
class _Sentence:
    text: str
    tokens: int
    section: str
    page: int | None


def passage_id(doc_id: str, ordinal: int) -> int:
    """Stable id of a passage from its document id and position; 53 bits, so exact in JavaScript too."""
    digest = hashlib.blake2b(f"{doc_id}\x00{ordinal}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & MAX_PASSAGE_ID


def chunk_blocks(doc_id: str, blocks: Sequence[Block], count_tokens: TokenCounter) -> list[Passage]:
    """Split a document's blocks into passages that never cross documents."""
    sentences = _sentences(blocks, count_tokens)
    passages: list[Passage] = []
    window: list[_Sentence] = []
    for sentence in sentences:
        size = sum(s.tokens for s in window)
        new_section = bool(window) and sentence.section != window[-1].section
        if window and (size + sentence.tokens > MAX_TOKENS or size >= TARGET_TOKENS
                       or (new_section and size >= MIN_SECTION_TOKENS)):
            passages.append(_passage(doc_id, len(passages), window))
            window = [] if new_section else _overlap(window)
        window.append(sentence)
    if window:
        passages.append(_passage(doc_id, len(passages), window))
    return passages


def _sentences(blocks: Sequence[Block], count_tokens: TokenCounter) -> list[_Sentence]:
    pieces = [(text, b) for b in blocks for text in split_sentences(b.text.strip())]
    counts = count_tokens([text for text, _ in pieces])
    sentences: list[_Sentence] = []
    for (text, block), tokens in zip(pieces, counts):
        for part, part_tokens in _split_long(text, tokens):
            sentences.append(_Sentence(part, part_tokens, block.section, block.page))
    return sentences


def _split_long(text: str, tokens: int) -> list[tuple[str, int]]:
    """Cut a sentence longer than MAX_TOKENS into word runs that fit (token counts estimated)."""
    if tokens <= MAX_TOKENS:
        return [(text, tokens)]
    words = text.split()
    per_word = tokens / max(len(words), 1)
    step = max(1, int(TARGET_TOKENS / per_word))
    return [(" ".join(words[i : i + step]), round(per_word * len(words[i : i + step])))
            for i in range(0, len(words), step)]


def _overlap(window: list[_Sentence]) -> list[_Sentence]:
    """The trailing sentences (at most OVERLAP_TOKENS) carried into the next passage."""
    carried: list[_Sentence] = []
    for sentence in reversed(window[1:]):
        if sum(s.tokens for s in carried) + sentence.tokens > OVERLAP_TOKENS:
            break
        carried.insert(0, sentence)
    return carried


def _passage(doc_id: str, ordinal: int, window: list[_Sentence]) -> Passage:
    pages = [s.page for s in window if s.page is not None]
    return Passage(
        id=passage_id(doc_id, ordinal),
        doc_id=doc_id,
        ordinal=ordinal,
        text=" ".join(s.text for s in window),
        section=window[0].section,
        page_start=min(pages) if pages else None,
        page_end=max(pages) if pages else None,
    )

"""Passage invariants: sentence-aware windows with page spans, sections and overlap."""

from __future__ import annotations

from pioc_search.embedders import Embedder
from pioc_search.ingest.chunk import MAX_TOKENS, chunk_blocks, passage_id
from pioc_search.models import Block
from pioc_search.sentences import sentence_spans, split_sentences


def _report_blocks() -> list[Block]:
    blocks = []
    for page in range(1, 6):
        for para in range(3):
            sentences = [f"On page {page} paragraph {para} sentence {s} the city of Cali measured outcome {s * 7} "
                         f"for its violence interruption programme." for s in range(6)]
            blocks.append(Block(" ".join(sentences), section=f"Chapter {page}", page=page))
    return blocks


def test_passages_are_sentence_windows_with_bounded_tokens(embedder: Embedder) -> None:
    passages = chunk_blocks("doc-a", _report_blocks(), embedder.count_tokens)
    assert len(passages) > 5
    counts = embedder.count_tokens([p.text for p in passages])
    assert all(p.text.strip() for p in passages), "no empty passage"
    assert max(counts) <= MAX_TOKENS
    assert sum(1 for c in counts if c >= 150) >= len(counts) - 5, "most windows are near the target size"
    for p in passages:
        assert p.text.endswith("programme."), "a passage ends at a sentence boundary"
        assert p.text.startswith("On page"), "a passage starts at a sentence boundary"


def test_page_spans_match_the_sentences_inside(embedder: Embedder) -> None:
    passages = chunk_blocks("doc-a", _report_blocks(), embedder.count_tokens)
    for p in passages:
        pages = {int(s.split()[2]) for s in split_sentences(p.text)}
        assert (p.page_start, p.page_end) == (min(pages), max(pages))
        assert p.section == f"Chapter {p.page_start}"


def test_neighbouring_passages_overlap_a_little(embedder: Embedder) -> None:
    passages = chunk_blocks("doc-a", _report_blocks(), embedder.count_tokens)
    overlaps = [set(split_sentences(a.text)) & set(split_sentences(b.text)) for a, b in zip(passages, passages[1:])]
    assert sum(1 for o in overlaps if o) >= len(overlaps) // 2
    assert all(len(o) <= 2 for o in overlaps)


def test_passages_never_cross_documents_and_ids_are_stable(embedder: Embedder) -> None:
    a = chunk_blocks("doc-a", _report_blocks(), embedder.count_tokens)
    b = chunk_blocks("doc-b", [Block("A short note about lighting in Medellín.")], embedder.count_tokens)
    assert len(b) == 1 and b[0].doc_id == "doc-b" and b[0].page_start is None
    assert {p.doc_id for p in a} == {"doc-a"}
    assert [p.ordinal for p in a] == list(range(len(a)))
    assert a[0].id == passage_id("doc-a", 0) != b[0].id


def test_overlong_sentence_is_cut_to_fit(embedder: Embedder) -> None:
    words = " ".join(f"word{i}" for i in range(900))
    passages = chunk_blocks("doc-c", [Block(words)], embedder.count_tokens)
    assert len(passages) >= 3
    assert max(embedder.count_tokens([p.text for p in passages])) <= MAX_TOKENS + 20


def test_sentence_spans_respect_abbreviations_and_offsets() -> None:
    text = "Dr. Ruiz led the work, e.g. in Cali. Homicides fell 19%. Did it last? Yes."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Dr. Ruiz led the work, e.g. in Cali.", "Homicides fell 19%.", "Did it last?", "Yes."]

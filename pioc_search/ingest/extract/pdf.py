"""PDF files via pypdf: page-aware paragraphs, running headers/footers removed, headings as sections."""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pypdf import PageObject, PasswordType, PdfReader

from pioc_search.models import Block, Extraction

from . import ExtractionError, ExtractOptions
from ._common import HeadingPath, iso_date

log = logging.getLogger(__name__)

_PAGE_NUMBER = re.compile(
    r"^[-–—(\[\s]*(?:(?:page|p\.|pg\.?|página|pagina|seite)\s*)?(\d{1,4}|(?-i:[ivxlc]{1,6}))"
    r"(?:\s*(?:of|/|de|von)\s*\d{1,4})?[-–—)\]\s]*$", re.I)
_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)\.?\s+\S")
_SENTENCE_END = re.compile(r"[.!?:;\"”’)]$")
_NOT_HEADING_END = re.compile(r"[.,;:]$")
_BULLET = re.compile(r"[•◦▪▫●○■□►▸‣⁃∙·]\s")  # a list item starts a paragraph
_LONE_BULLET = re.compile(r"[•◦▪▫●○■□►▸‣⁃∙·*–—-]|\d{1,2}[.)]")  # a bullet drawn apart from its text
_HYPHEN_END = re.compile(r"(?<=[^\W\d_])[-\u00ad]$")
_PLACEHOLDERS = {"untitled", "(unspecified)", "(anonymous)", "anonymous", "unknown"}
_EDGE = 2  # lines at each end of a page that may be running headers/footers


@dataclass
class _Line:
    text: str
    y: float | None = None  # baseline height on the page (user space); None if unknown
    size: float = 0.0  # effective font size; 0 if unknown
    bold: bool = False


def extract(path: Path, options: ExtractOptions = ExtractOptions()) -> Extraction:
    """One block per paragraph per page (1-based `page`), with the current heading as section.

    Repeated page headers/footers and bare page numbers are dropped, hyphenated line breaks
    joined and hard line breaks inside paragraphs unwrapped. A page whose text cannot be
    extracted is skipped (logged); the other pages are still returned.
    """
    reader, page_count = _open(path)
    pages: list[list[_Line]] = []
    for number in range(page_count):
        try:
            pages.append(_page_lines(reader.pages[number]))
        except Exception as e:  # pypdf raises many kinds of errors on damaged content streams
            log.warning("%s: skipped page %d: %s", path, number + 1, e)
            pages.append([])
    if not any(line.text.strip() for page in pages for line in page):
        raise ExtractionError("no extractable text in PDF (scanned images without a text layer?)")
    _drop_running_lines(pages)
    meta = _meta(reader, page_count)
    body_size = _body_size(pages)
    heads = HeadingPath(meta.get("title"))
    blocks: list[Block] = []
    first_heading = first_line = None
    for number, lines in enumerate(pages, start=1):
        for para in _paragraphs(lines, body_size):
            text = _join(para)
            first_line = first_line or para[0].text
            if _is_heading(para, text, body_size):
                first_heading = first_heading or text
                numbered = _NUMBERED.match(text)
                heads.push(numbered.group(1).count(".") + 1 if numbered else 1, text)
            else:
                blocks.append(Block(text=text, section=str(heads), page=number))
    if "title" not in meta and (candidate := first_heading or first_line) and len(candidate) <= 150:
        meta["title"] = candidate
    return Extraction(blocks=blocks, meta=meta)


def _open(path: Path) -> tuple[PdfReader, int]:
    with path.open("rb") as f:
        if b"%PDF-" not in f.read(1024):
            raise ExtractionError("corrupt PDF: not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise ExtractionError("password-protected PDF")
        return reader, len(reader.pages)
    except ExtractionError:
        raise
    except Exception as e:
        detail = " ".join(str(e).split())[:120] or type(e).__name__
        raise ExtractionError(f"corrupt PDF: {detail}") from None


def _meta(reader: PdfReader, page_count: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"pages": page_count}
    try:
        info = reader.metadata
        if info is None:
            return meta
        title = re.sub(r"^Microsoft (Word|PowerPoint) - ", "", (info.title or "").strip())
        if title and title.lower() not in _PLACEHOLDERS and not re.search(r"\.\w{2,4}$", title):
            meta["title"] = title
        if (author := (info.author or "").strip()) and author.lower() not in _PLACEHOLDERS:
            meta["author"] = author
        if date := iso_date(info.creation_date):
            meta["date"] = date
    except Exception as e:  # malformed /Info dictionary or date string: keep what we have
        log.debug("unreadable PDF metadata: %s", e)
    return meta


def _page_lines(page: PageObject) -> list[_Line]:
    """The page's text lines in content order, with their height and font size where pypdf reports them."""
    lines: list[_Line] = [_Line("")]

    def visit(text: str, cm: list[float], tm: list[float], font: Any, font_size: float) -> None:
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        size = font_size * math.hypot(tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3])
        for i, part in enumerate(text.split("\n")):
            if i:
                lines.append(_Line(""))
            if part.strip() and not lines[-1].text.strip():
                lines[-1].y, lines[-1].size = y, size
                lines[-1].bold = bool(re.search(r"bold|black|heavy", str(font and font.get("/BaseFont")), re.I))
            lines[-1].text += part

    text = page.extract_text(visitor_text=visit)
    if "\n".join(line.text for line in lines).split() != text.split():  # visitor missed text: no positions
        lines = [_Line(line) for line in text.split("\n")]
    for line in lines:
        line.text = " ".join(line.text.split())
    return _merge_rows(lines)


def _merge_rows(lines: list[_Line]) -> list[_Line]:
    """Join table cells printed at the same height into one "a | b | c" line (looking back past a
    few wrapped cell lines)."""
    out: list[_Line] = []
    for line in lines:
        row = next((prev for prev in reversed(out[-4:]) if line.text and prev.text and line.y is not None
                    and prev.y is not None and abs(prev.y - line.y) < 1 and abs(prev.size - line.size) < 0.5
                    and not _LONE_BULLET.fullmatch(prev.text)), None)
        if row is not None and not _LONE_BULLET.fullmatch(line.text):
            row.text = f"{row.text} | {line.text}"
        else:
            out.append(line)
    return out


def _norm(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _edges(lines: list[_Line]) -> set[int]:
    """Indexes of lines that could be running headers/footers: the highest and lowest on the page,
    or the first and last few in content order when positions are unknown."""
    idx = [i for i, line in enumerate(lines) if line.text]
    if any(lines[i].y is not None for i in idx):
        idx = sorted((i for i in idx if lines[i].y is not None), key=lambda i: lines[i].y or 0.0)
    return set(idx[:_EDGE] + idx[-_EDGE:])


def _drop_running_lines(pages: list[list[_Line]]) -> None:
    """Remove lines repeated at the top/bottom of >= half the pages (digits ignored) and bare page numbers."""
    edges = [_edges(lines) for lines in pages]
    counts = Counter(norm for lines, idx in zip(pages, edges) for norm in {_norm(lines[i].text) for i in idx})
    with_text = sum(1 for lines in pages if any(line.text for line in lines))
    threshold = max(2, math.ceil(with_text / 2)) if with_text >= 3 else math.inf
    for lines, idx in zip(pages, edges):
        drop = {i for i in idx if counts[_norm(lines[i].text)] >= threshold or _PAGE_NUMBER.match(lines[i].text)}
        lines[:] = [line for i, line in enumerate(lines) if i not in drop]


def _body_size(pages: list[list[_Line]]) -> float:
    sizes: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            if line.size:
                sizes[round(line.size, 1)] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _display(line: _Line, body_size: float) -> bool:
    """Set in a heading font: larger than body text, or bold."""
    return line.bold or bool(body_size and line.size > body_size * 1.15)


def _heading_like(line: _Line, body_size: float) -> bool:
    """A short line without sentence punctuation, in a heading font; when fonts are unknown,
    numbered ("2. Findings") or in Title Case."""
    text, words = line.text, line.text.split()
    if not 2 <= len(text) <= 100 or len(words) > 12 or _NOT_HEADING_END.search(text) or not re.search(r"[^\W\d_]", text):
        return False
    if line.size:
        return _display(line, body_size)
    if _NUMBERED.match(text):
        return words[1][:1].isupper()
    long_words = [w for w in words if len(w) > 3]
    return words[0][:1].isupper() and "," not in text and all(w[:1].isupper() or not w[:1].isalpha() for w in long_words)


def _paragraphs(lines: list[_Line], body_size: float) -> list[list[_Line]]:
    """Group lines into paragraphs: split at blank lines, list bullets, vertical gaps, font changes,
    heading-like lines and (without positions) short lines ending a sentence."""
    text_lines = [line for line in lines if line.text and not _LONE_BULLET.fullmatch(line.text)]
    gaps: dict[float, Counter[int]] = {}  # line spacing seen between lines of each font size
    for a, b in zip(text_lines, text_lines[1:]):
        if a.y is not None and b.y is not None and abs(a.size - b.size) < 0.5 and 0 < a.y - b.y < 3 * max(a.size, 1):
            gaps.setdefault(round(a.size), Counter())[round(a.y - b.y)] += 1
    spacing = {size: max(c.items(), key=lambda kv: (kv[1], -kv[0]))[0] for size, c in gaps.items()}
    width = max((len(line.text) for line in text_lines), default=0)
    paras: list[list[_Line]] = []
    prev: _Line | None = None
    for line in lines:
        if not line.text or _LONE_BULLET.fullmatch(line.text):  # blank line, or a bullet drawn on its own
            prev = None
            continue
        if prev is None or _BULLET.match(line.text) or _breaks(prev, line, spacing, width, body_size):
            paras.append([])
        paras[-1].append(line)
        prev = line
    return paras


def _breaks(prev: _Line, line: _Line, spacing: dict[float, int], width: int, body_size: float) -> bool:
    if prev.size and line.size:  # fonts known: a change of font starts a new paragraph
        if prev.bold != line.bold or abs(prev.size - line.size) > 0.15 * max(prev.size, line.size):
            return True
    elif _heading_like(prev, body_size) or _heading_like(line, body_size):
        return True
    if prev.y is not None and line.y is not None:
        gap, usual = prev.y - line.y, spacing.get(round(line.size)) or 1.25 * line.size
        return gap <= 0 or gap > usual * 1.3 + 0.5
    return bool(_SENTENCE_END.search(prev.text)) and len(prev.text) < 0.8 * width


def _is_heading(para: list[_Line], text: str, body_size: float) -> bool:
    if len(para) == 1:
        return _heading_like(para[0], body_size)
    if len(text.split()) > 25 or not all(_display(line, body_size) for line in para):
        return False
    # several lines in a large font: a wrapped title even if it ends with a full stop
    return all(body_size and line.size > body_size * 1.15 for line in para) or not _NOT_HEADING_END.search(text)


def _join(para: list[_Line]) -> str:
    """Unwrap a paragraph's lines, joining words hyphenated across a line break."""
    text = ""
    for line in para:
        if _HYPHEN_END.search(text) and line.text[:1].islower():
            text = text[:-1] + line.text
        else:
            text = f"{text} {line.text}" if text else line.text
    return text.replace("\u00ad", "")

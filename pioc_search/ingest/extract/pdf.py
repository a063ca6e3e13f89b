"""PDF files: page text and metadata from PDFium; pypdf (files PDFium cannot open), pdfminer.six and OCR as fallbacks.

Each page's text goes through the quality gate (`quality.text_problem`). A page that fails it, or
that PDFium cannot read, is tried with pdfminer.six, then OCR'd with Tesseract (`ocr`); a page still
without usable text is listed in `Extraction.problems`, never dropped silently. When PDFium cannot
open the file at all, pypdf's and then pdfminer's page text are used instead.

Layout: page-aware paragraphs, running headers/footers and page/line numbers removed, hyphenated
line breaks joined, headings (larger or bold type) as section names.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from pypdf import PasswordType, PdfReader

from pioc_search.models import Block, Extraction

from . import ExtractionError, ExtractOptions, ocr
from ._common import HeadingPath, iso_date, normalise
from .quality import text_problem

log = logging.getLogger(__name__)

ENCRYPTED = "password-protected PDF: a password is needed to open it"

_PAGE_NUMBER = re.compile(
    r"^[-–—(\[\s]*(?:(?:page|p\.|pg\.?|página|pagina|seite)\s*)?(\d{1,4}|(?-i:[ivxlc]{1,6}))"
    r"(?:\s*(?:of|/|de|von)\s*\d{1,4})?[-–—)\]\s]*$", re.I)
_NUMBER_AT_EDGE = re.compile(r"^\d{1,4}\s+\S|\S\s+\d{1,4}$")  # a running head carrying the page number
_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)\.?\s+\S")
_SENTENCE_END = re.compile(r"[.!?:;\"”’)]$")
_NOT_HEADING_END = re.compile(r"[.,;:]$")
_BULLET = re.compile(r"[•◦▪▫●○■□►▸‣⁃∙·]\s")  # a list item starts a paragraph
_LONE_BULLET = re.compile(r"[•◦▪▫●○■□►▸‣⁃∙·*–—-]|\d{1,2}[.)]")  # a bullet drawn apart from its text
_HYPHEN_END = re.compile(r"(?<=[^\W\d_])[-\u00ad]$")
_LEADING_NUMBER = re.compile(r"\d{1,4}(?=\s)")
_INNER_SPACE = re.compile(r"(?<=\S)\s+(?=\S)")  # a space between words, where a table cell may end
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_SPACE = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")  # PDFium spaces out some CJK text
_BOLD = re.compile(r"bold|black|heavy|demi", re.I)
_PLACEHOLDERS = {"untitled", "(unspecified)", "(anonymous)", "anonymous", "unknown"}
_EDGE = 2  # lines at each end of a page that may be running headers/footers
_CELL_GAP = 1.5  # a horizontal gap wider than this many font sizes separates table cells
_SPARSE = 100  # a page mostly covered by images with fewer characters than this is treated as a scan
_OCR_SCALE = 300 / 72  # render at 300 dpi for OCR
_OCR_MAX_SIDE = 5000  # pixels
_CHARBOX = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, *[ctypes.c_void_p] * 4)(
    ctypes.cast(pdfium_c.FPDFText_GetCharBox, ctypes.c_void_p).value)


@dataclass
class _Line:
    text: str
    y: float | None = None  # baseline height on the page (user space); None if unknown
    size: float = 0.0  # effective font size; 0 if unknown
    bold: bool = False
    x0: float | None = None  # left and right end of the line's text, where known
    x1: float | None = None
    number_gap: bool = False  # starts with a number set apart by a wide gap (a margin line number)


@dataclass
class _Page:
    lines: list[_Line] = field(default_factory=list)
    error: str | None = None  # why the page could not be read
    image_share: float = 0.0  # share of the page covered by images

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @cached_property
    def needs_help(self) -> bool:
        """Unreadable, or text that fails the quality gate, or no text over a (scanned) image."""
        text = self.text
        if self.error:
            return True
        if not text.strip():
            return self.image_share > 0
        return text_problem(text) is not None

    def looks_scanned(self) -> bool:
        """Mostly an image with a few stray characters: worth OCR even though its text is usable."""
        return self.image_share >= 0.5 and len("".join(self.text.split())) < _SPARSE


def extract(path: Path, options: ExtractOptions = ExtractOptions()) -> Extraction:
    """One block per paragraph per page (1-based `page`), with the current heading as section.

    Repeated page headers/footers and bare page numbers are dropped, hyphenated line breaks
    joined and hard line breaks inside paragraphs unwrapped. Pages without usable text (after the
    fallbacks and OCR) are listed in `problems`.
    """
    with path.open("rb") as f:
        if b"%PDF-" not in f.read(1024):
            raise ExtractionError("corrupt PDF: not a PDF file (no %PDF header)")
    doc, pdfium_error = _open_pdfium(path)
    reader, pypdf_error = _open_pypdf(path) if doc is None else (None, None)  # pypdf only as a fallback
    try:
        if doc is not None:
            pages = [_pdfium_page(doc, i) for i in range(len(doc))]
        elif reader is not None:
            pages = _pypdf_pages(reader)
        else:
            pages = _pdfminer_pages(path, pypdf_error or pdfium_error or "unreadable")
        meta = _meta(doc, reader, len(pages))
        meta["engine"] = "pdfium" if doc is not None else "pypdf" if reader is not None else "pdfminer"
        problems = _repair(pages, path, doc, options, meta)
    finally:
        if doc is not None:
            doc.close()
    if not any(line.text.strip() for page in pages for line in page.lines):
        if doc is None and reader is None:
            raise ExtractionError(f"corrupt PDF: {pypdf_error}")
        raise ExtractionError(_no_text_reason(problems))
    lines = [page.lines for page in pages]
    for _ in range(2):  # a second pass finds running heads that sat below printer's marks
        _drop_running_lines(lines)
    blocks = _blocks(lines, meta)
    # fragments that are not text on their own (figure labels, lone symbols, equation numbers)
    return Extraction(blocks=[b for b in blocks if text_problem(normalise(b.text)) is None], meta=meta,
                      problems=problems)


# ------------------------------------------------------------------------------------- opening

def _open_pypdf(path: Path) -> tuple[PdfReader | None, str | None]:
    """pypdf's reader (for files PDFium cannot open), or None and why it failed."""
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise ExtractionError(ENCRYPTED)
        return reader, None
    except ExtractionError:
        raise
    except Exception as e:  # pypdf raises many kinds of errors on damaged files
        return None, _reason(e)


def _open_pdfium(path: Path) -> tuple[pdfium.PdfDocument | None, str | None]:
    try:
        return pdfium.PdfDocument(path), None
    except pdfium.PdfiumError as e:
        if "password" in str(e).lower():
            raise ExtractionError(ENCRYPTED) from None
        return None, _reason(e)


def _reason(e: BaseException) -> str:
    """An exception as a one-line reason, whole sentences up to ~300 characters."""
    text = " ".join(str(e).split()) or type(e).__name__
    if len(text) > 300:
        cut = text[:300]
        text = cut[: cut.rfind(". ") + 1] if ". " in cut else cut.rsplit(" ", 1)[0] + " …"
    return text


def _meta(doc: pdfium.PdfDocument | None, reader: PdfReader | None, page_count: int) -> dict[str, Any]:
    """Title, author and creation date from the /Info dictionary (through PDFium, else pypdf)."""
    meta: dict[str, Any] = {"pages": page_count}
    try:
        title, author, date = _pdfium_info(doc) if doc is not None else _pypdf_info(reader)
        title = re.sub(r"^Microsoft (Word|PowerPoint) - ", "", (title or "").strip())
        if title and title.lower() not in _PLACEHOLDERS and not re.search(r"\.\w{2,4}$", title):
            meta["title"] = title
        if (author := (author or "").strip()) and author.lower() not in _PLACEHOLDERS:
            meta["author"] = author
        if date := iso_date(date):
            meta["date"] = date
    except Exception as e:  # malformed /Info dictionary or date string: keep what we have
        log.debug("unreadable PDF metadata: %s", e)
    return meta


def _pdfium_info(doc: pdfium.PdfDocument) -> tuple[str | None, str | None, str | None]:
    info = doc.get_metadata_dict(skip_empty=True)
    date = re.match(r"\s*(?:D:)?(\d{4})(\d{2})?(\d{2})?", info.get("CreationDate", ""))
    iso = "-".join(part or "01" for part in date.groups()) if date else None
    return info.get("Title"), info.get("Author"), iso


def _pypdf_info(reader: PdfReader | None) -> tuple[str | None, str | None, Any]:
    info = reader.metadata if reader is not None else None
    return (info.title, info.author, info.creation_date) if info is not None else (None, None, None)


# --------------------------------------------------------------------------------- page engines

def _pdfium_page(doc: pdfium.PdfDocument, index: int) -> _Page:
    try:
        page = doc[index]
    except Exception as e:
        return _Page(error=_reason(e))
    try:
        result = _Page(lines=_pdfium_lines(page))
        if len("".join(result.text.split())) < _SPARSE:  # only a sparse page can be a scan
            result.image_share = _image_share(page)
        return result
    except Exception as e:
        return _Page(error=_reason(e))
    finally:
        page.close()


def _pdfium_lines(page: pdfium.PdfPage) -> list[_Line]:
    """The page's text lines in PDFium's reading order, with position, font size and weight."""
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        text = textpage.get_text_range(0, count) if count > 0 else ""
        chars = _Chars(textpage) if len(text) == count else None  # PDFium's indexes match the string's
        lines, start = [], 0
        for segment in re.split(r"(\r\n|\n|\r|\ufffe)", text):  # PDFium marks a hyphen at a line end U+FFFE
            if segment == "\ufffe" and lines:
                lines[-1].text += "-"
            elif segment and segment not in "\r\n\ufffe":
                lines.append(_positioned_line(chars, segment, start) if chars else _Line(segment))
            start += len(segment)
    finally:
        textpage.close()
    for line in lines:
        line.text = _CJK_SPACE.sub("", " ".join(line.text.split()))
    _drop_line_numbers(lines)
    return _merge_rows(lines)


class _Chars:
    """Character boxes, sizes and weights of one text page through PDFium's C API, with the ctypes
    buffers made once per page (the layout pass asks for tens of thousands of boxes per file)."""

    def __init__(self, textpage: pdfium.PdfTextPage) -> None:
        self.raw = textpage.raw
        self.sides = [ctypes.c_double() for _ in range(4)]  # left, right, bottom, top
        # FPDFText_GetCharBox on plain addresses: about half the cost of a call through the typed binding
        self.charbox = functools.partial(_CHARBOX, ctypes.cast(self.raw, ctypes.c_void_p).value)
        self.addresses = [ctypes.addressof(side) for side in self.sides]
        self.rect = pdfium_c.FS_RECTF()
        self.name = ctypes.create_string_buffer(128)
        self.flags = ctypes.c_int()
        self.bold_names: dict[bytes, bool] = {}

    def box(self, index: int) -> tuple[float, float, float]:
        """left, right and bottom of a character's tight box."""
        if not self.charbox(index, *self.addresses):
            raise pdfium.PdfiumError("Failed to get charbox.")
        left, right, bottom, _ = self.sides
        return left.value, right.value, bottom.value

    def left(self, index: int) -> float:
        return self.box(index)[0]

    def right(self, index: int) -> float:
        return self.box(index)[1]

    def size(self, index: int) -> float:
        """Effective type size: the loose box height (font size times the text matrix' scale), as
        FPDFText_GetFontSize ignores a matrix that scales "1 Tf" text up."""
        rect = self.rect
        if pdfium_c.FPDFText_GetLooseCharBox(self.raw, index, rect) and rect.top - rect.bottom > 0:
            return rect.top - rect.bottom
        return pdfium_c.FPDFText_GetFontSize(self.raw, index)

    def bold(self, index: int) -> bool:
        if pdfium_c.FPDFText_GetFontWeight(self.raw, index) >= 600:
            return True
        pdfium_c.FPDFText_GetFontInfo(self.raw, index, self.name, len(self.name), ctypes.byref(self.flags))
        name = self.name.value
        if name not in self.bold_names:
            self.bold_names[name] = bool(_BOLD.search(name.decode("latin-1")))
        return self.bold_names[name]


def _positioned_line(chars: _Chars, segment: str, start: int) -> _Line:
    try:
        return _pdfium_line(chars, segment, start)
    except pdfium.PdfiumError:  # no box for a character (e.g. an unmapped glyph): text without position
        return _Line(segment)


def _pdfium_line(chars: _Chars, segment: str, start: int) -> _Line:
    stripped = segment.lstrip()
    if not stripped.strip():
        return _Line("")
    first = start + len(segment) - len(stripped)
    last = start + len(segment.rstrip()) - 1
    left, _, bottom = chars.box(first)
    size = chars.size(first)
    line = _Line(_mark_cells(chars, segment, start, size), y=bottom, size=round(size, 2),
                 bold=chars.bold(first), x0=left, x1=chars.right(last))
    if number := _LEADING_NUMBER.match(stripped):  # "12      The text": a margin line number?
        digits_end = first + number.end() - 1
        text_start = digits_end + 1 + len(stripped[number.end():]) - len(stripped[number.end():].lstrip())
        line.number_gap = chars.left(text_start) - chars.right(digits_end) > 2 * max(size, 1)
    return line


def _mark_cells(chars: _Chars, segment: str, start: int, size: float) -> str:
    """Table cells that PDFium joined with one space: " | " where the space spans a real gap."""
    out, last = [], 0
    cell = _CELL_GAP * max(size, 1) * 2
    charbox, addresses, (left, right, _, _) = chars.charbox, chars.addresses, chars.sides
    for match in _INNER_SPACE.finditer(segment):  # a hot loop (one per word space): kept inline
        space_start, space_end = match.span()
        if not charbox(start + space_start - 1, *addresses):
            continue  # no box: not a gap we can measure
        end = right.value
        if charbox(start + space_end, *addresses) and left.value - end > cell:
            out.append(segment[last:space_start] + " | ")
            last = space_end
    return "".join(out) + segment[last:] if out else segment


def _image_share(page: pdfium.PdfPage) -> float:
    width, height = page.get_size()
    area = 0.0
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3):
        left, bottom, right, top = obj.get_bounds()
        area += max(0.0, min(right, width) - max(left, 0.0)) * max(0.0, min(top, height) - max(bottom, 0.0))
    return min(1.0, area / (width * height)) if width * height > 0 else 0.0


def _plain_lines(text: str) -> list[_Line]:
    """Lines of text from an engine that gives no positions (pypdf, pdfminer, OCR)."""
    return [_Line(" ".join(line.split())) for line in text.splitlines()]


def _pypdf_pages(reader: PdfReader) -> list[_Page]:
    """pypdf's page text, for files that PDFium cannot open."""
    pages = []
    for page in reader.pages:
        try:
            pages.append(_Page(lines=_plain_lines(page.extract_text())))
        except Exception as e:
            pages.append(_Page(error=_reason(e)))
    return pages


def _pdfminer_pages(path: Path, why: str) -> list[_Page]:
    """pdfminer's page text, for files that neither PDFium nor pypdf can open."""
    from pdfminer.high_level import extract_pages

    try:
        return [_Page(lines=_plain_lines(_layout_text(layout))) for layout in extract_pages(path)]
    except Exception as e:
        raise ExtractionError(f"corrupt PDF: {why}") from e


def _layout_text(layout: Any) -> str:
    from pdfminer.layout import LTTextContainer

    return "\n".join(element.get_text() for element in layout if isinstance(element, LTTextContainer))


def _pdfminer_texts(path: Path, indexes: list[int]) -> Iterator[tuple[int, str]]:
    """pdfminer's text of some pages (0-based), as far as it can read them."""
    from pdfminer.high_level import extract_pages

    try:
        yield from zip(indexes, map(_layout_text, extract_pages(path, page_numbers=set(indexes))))
    except Exception as e:  # pdfminer gives up on the rest of the file
        log.debug("%s: pdfminer: %s", path, e)


# ----------------------------------------------------------------------------- fallbacks and OCR

def _repair(pages: list[_Page], path: Path, doc: pdfium.PdfDocument | None, options: ExtractOptions,
            meta: dict[str, Any]) -> list[str]:
    """Give pages without usable text to pdfminer, then OCR; return what is still lost."""
    todo = [i for i, page in enumerate(pages) if page.needs_help]
    if todo:
        for i, text in _pdfminer_texts(path, todo):
            if text_problem(text) is None:
                pages[i] = _Page(lines=_plain_lines(text))
    scans = [i for i, page in enumerate(pages) if page.needs_help or page.looks_scanned()]
    lost: dict[int, str] = {}
    if scans and doc is not None and options.ocr and ocr.available():
        lost = _ocr_pages(doc, pages, scans, options, meta)
    for i in scans:
        if i not in lost and pages[i].needs_help:
            lost[i] = _lost_reason(pages[i], doc, options)
    for i in lost:
        pages[i].lines = []  # junk text is not indexed
    return _group(lost)


def _ocr_pages(doc: pdfium.PdfDocument, pages: list[_Page], indexes: list[int], options: ExtractOptions,
               meta: dict[str, Any]) -> dict[int, str]:
    run = ocr.OcrRun(options.languages, options.cache_dir)
    lost = {}
    for i in indexes:
        try:
            text = run.image_text(_render(doc, i))
        except Exception as e:  # tesseract crashed or the page cannot be rendered
            lost[i] = f"could not be OCR'd ({_reason(e)})"
            continue
        if text_problem(text) is None and len(text) > len(pages[i].text):
            pages[i] = _Page(lines=_plain_lines(text))
        elif pages[i].needs_help:
            lost[i] = "no usable text, even after OCR"
    meta["ocr_pages"], meta["ocr_seconds"] = run.pages, round(run.seconds, 2)
    meta["ocr_languages"] = run.languages
    return lost


def _render(doc: pdfium.PdfDocument, index: int) -> Any:
    page = doc[index]
    try:
        scale = min(_OCR_SCALE, _OCR_MAX_SIDE / max(page.get_size()))
        return page.render(scale=scale, grayscale=True).to_pil()
    finally:
        page.close()


def _lost_reason(page: _Page, doc: pdfium.PdfDocument | None, options: ExtractOptions) -> str:
    if page.error and not page.text.strip():
        return f"could not be read ({page.error})"
    if doc is None:
        return "no usable text"
    if not options.ocr:
        return "no usable text (OCR is turned off)"
    return "no usable text; install tesseract-ocr to OCR scanned pages"


def _group(lost: dict[int, str]) -> list[str]:
    """{2: r, 12: r, 7: s} -> ["pages 2, 12: r", "page 7: s"], in page order."""
    by_reason: dict[str, list[int]] = {}
    for i in sorted(lost):
        by_reason.setdefault(lost[i], []).append(i + 1)
    return [f"page{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}: {reason}"
            for reason, numbers in by_reason.items()]


def _no_text_reason(problems: list[str]) -> str:
    if not problems:
        return "no extractable text in PDF (no text layer and no scanned images)"
    if all("could not be read" in p for p in problems):
        return "corrupt PDF: no page could be read (" + "; ".join(problems) + ")"
    if any("install tesseract-ocr" in p for p in problems):
        return "no usable text; install tesseract-ocr to OCR scanned pages"
    if any("OCR is turned off" in p for p in problems):
        return "no usable text in PDF (scanned pages; OCR is turned off)"
    return "no usable text in PDF, even after OCR (" + "; ".join(problems) + ")"


# ----------------------------------------------------------------------------------------- layout

def _drop_line_numbers(lines: list[_Line]) -> None:
    """Remove margin line numbers: three or more lines on the page starting with a number set apart
    by a wide gap, or bare numbers at one horizontal position, counting upwards."""
    lead = [line for line in lines if line.number_gap]
    bare = [line for line in lines if line.text.isdigit() and len(line.text) <= 4 and line.x0 is not None]
    columns = Counter(round(line.x0 or 0) for line in bare)
    if columns and (most := columns.most_common(1)[0])[1] >= 3:
        column = [line for line in bare if round(line.x0 or 0) == most[0]]
        if _counting_up([int(line.text) for line in column]):
            for line in column:
                line.text = ""
    if len(lead) >= 3 and _counting_up([int(line.text.split()[0]) for line in lead]):
        for line in lead:
            line.text = re.sub(r"^\d{1,4}\s*(?:\|\s*)?", "", line.text)


def _counting_up(numbers: list[int]) -> bool:
    return sorted(numbers) == numbers and len(set(numbers)) == len(numbers)


def _merge_rows(lines: list[_Line]) -> list[_Line]:
    """Join lines printed side by side at the same height: table cells apart by a real gap as
    "a | b", text that merely continues the row with a space."""
    out: list[_Line] = []
    for line in lines:
        prev = out[-1] if out else None
        if (prev is not None and line.text and prev.text and line.y is not None and prev.y is not None
                and prev.x1 is not None and line.x0 is not None and line.x0 > prev.x1
                and abs(prev.y - line.y) < 1 and abs(prev.size - line.size) < 0.5
                and not _LONE_BULLET.fullmatch(prev.text) and not _LONE_BULLET.fullmatch(line.text)):
            cell = line.x0 - prev.x1 > _CELL_GAP * max(line.size, 1)
            prev.text = f"{prev.text}{' | ' if cell else ' '}{line.text}"
            prev.x1 = line.x1
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
    """Remove lines at the top/bottom of pages that repeat (digits ignored) on >= half the pages, or
    on two or more pages carrying a page number (a chapter's running head), and bare page numbers;
    never most of a page's text."""
    edges = [_edges(lines) for lines in pages]
    counts = Counter(norm for lines, idx in zip(pages, edges) for norm in {_norm(lines[i].text) for i in idx})
    with_text = sum(1 for lines in pages if any(line.text for line in lines))
    threshold = max(2, math.ceil(with_text / 2)) if with_text >= 3 else math.inf

    def running(text: str) -> bool:
        seen = counts[_norm(text)]
        return seen >= threshold or (seen >= 2 and bool(_NUMBER_AT_EDGE.search(text)))

    for lines, idx in zip(pages, edges):
        drop = {i for i in idx if running(lines[i].text) or _PAGE_NUMBER.match(lines[i].text)}
        if sum(len(lines[i].text) for i in drop) * 2 > sum(len(line.text) for line in lines):
            drop = {i for i in drop if _PAGE_NUMBER.match(lines[i].text)}
        lines[:] = [line for i, line in enumerate(lines) if i not in drop]


def _blocks(pages: list[list[_Line]], meta: dict[str, Any]) -> list[Block]:
    """Paragraph blocks under their headings; sets meta["title"] from the first heading if missing."""
    body_size = _body_size(pages)
    heads = HeadingPath(meta.get("title"))
    blocks: list[Block] = []
    every: list[Block] = []  # all paragraphs, for a document that is all headings
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
            every.append(Block(text=text, section="", page=number))
    if "title" not in meta and (candidate := first_heading or first_line) and len(candidate) <= 150:
        meta["title"] = candidate
    return blocks or every


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
    gaps: defaultdict[float, Counter[int]] = defaultdict(Counter)  # line spacings seen per font size
    for a, b in zip(text_lines, text_lines[1:]):
        if a.y is not None and b.y is not None and abs(a.size - b.size) < 0.5 and 0 < a.y - b.y < 3 * max(a.size, 1):
            gaps[round(a.size)][round(a.y - b.y)] += 1
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
    parts: list[str] = []
    for line in para:
        hyphen = bool(parts) and _HYPHEN_END.search(parts[-1][-2:]) is not None
        if hyphen and line.text[:1].islower():
            parts[-1] = parts[-1][:-1] + line.text
        elif hyphen and line.text[:1].isupper():  # "Stress-" + "Engineered"
            parts[-1] += line.text
        else:
            parts.append(line.text)
    return " ".join(parts).replace("\u00ad", "")

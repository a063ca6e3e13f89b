"""Word .docx files via python-docx: Heading styles become the section path; tables are kept."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any

import docx
from docx.document import Document as DocxDocument
from docx.table import Table
from docx.text.paragraph import Paragraph

from pioc_search.models import Block, Extraction

from . import ExtractionError, ExtractOptions
from ._common import HeadingPath, clean, iso_date

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .docx and legacy .doc are OLE containers
_HEADING = re.compile(r"^heading\s*(\d)$", re.I)
_TEMPLATE_CREATED = dt.datetime(2013, 12, 23, 23, 15)  # python-docx's default template, not a real date
_PLACEHOLDERS = {"word document", "untitled", "document", "python-docx"}


def extract(path: Path, options: ExtractOptions = ExtractOptions()) -> Extraction:
    """One block per body paragraph and per table, in document order, under "H1 > H2" sections."""
    with path.open("rb") as f:
        if f.read(8) == _OLE_MAGIC:
            raise ExtractionError("password-protected or legacy Word (.doc) file, not a DOCX")
    if not zipfile.is_zipfile(path):
        raise ExtractionError("corrupt DOCX: not a ZIP package")
    try:
        document = docx.Document(str(path))
    except Exception as e:  # BadZipFile, PackageNotFoundError, KeyError, ValueError, lxml errors...
        detail = str(e).strip("'\"") or type(e).__name__
        raise ExtractionError(f"corrupt DOCX: {detail}") from None
    meta = _meta(document)
    heads = HeadingPath(meta.get("title"))
    blocks: list[Block] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            text = _table_text(item)
        else:
            text = clean(item.text)
            level = _heading_level(item)
            if level == 0:  # "Title" style: the title if core properties have none
                if text:
                    meta.setdefault("title", " ".join(text.split()))
                    heads.title = heads.title or meta["title"].casefold()
                continue
            if level is not None:
                heads.push(level, text)
                continue
        if text:
            blocks.append(Block(text=text, section=str(heads)))
    return Extraction(blocks=blocks, meta=meta)


def _meta(document: DocxDocument) -> dict[str, Any]:
    props = document.core_properties
    meta: dict[str, Any] = {}
    for key, value in (("title", props.title), ("author", props.author), ("language", props.language)):
        if value and value.strip() and value.strip().lower() not in _PLACEHOLDERS:
            meta[key] = value.strip()
    created = props.created
    if created and created.replace(tzinfo=None) != _TEMPLATE_CREATED and (date := iso_date(created)):
        meta["date"] = date
    if "language" in meta:  # "en-GB" -> "en"
        meta["language"] = meta["language"].split("-")[0].lower()
    return meta


def _heading_level(paragraph: Paragraph) -> int | None:
    """1-9 for Heading styles (or styles based on them), 0 for Title, None for body text."""
    style = paragraph.style
    while style is not None:
        name = style.name or ""
        if m := _HEADING.match(name):
            return int(m.group(1))
        if name.lower() == "title":
            return 0
        style = style.base_style
    outline = paragraph._p.pPr.outlineLvl if paragraph._p.pPr is not None else None
    return int(outline.val) + 1 if outline is not None and int(outline.val) < 9 else None


def _table_text(table: Table) -> str:
    """Rows on their own lines, cells joined by " | " (merged cells counted once)."""
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return "\n".join(rows)

"""Word .docx files: everything a reader sees, by a walk over the package's XML parts.

python-docx opens the package and reads the core properties; the text comes from the XML itself,
so text boxes, content controls, nested tables, footnotes, endnotes, headers, footers and embedded
HTML parts (altChunk) are kept. Heading styles become the section path.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
from docx.document import Document as DocxDocument
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from lxml import etree

from pioc_search.models import Block, Extraction

from . import ExtractionError, ExtractOptions
from ._common import HeadingPath, clean, decode_text, iso_date

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .docx and legacy .doc are OLE containers
_HEADING = re.compile(r"^heading\s*(\d)$", re.I)
_TEMPLATE_CREATED = dt.datetime(2013, 12, 23, 23, 15)  # python-docx's default template, not a real date
_PLACEHOLDERS = {"word document", "untitled", "document", "python-docx"}
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d+(?:\s*(?:of|/)\s*\d+)?$", re.I)  # a footer with only this: noise
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_MATH_T = "{http://schemas.openxmlformats.org/officeDocument/2006/math}t"
P, TBL, TR, TC, SDT = _W + "p", _W + "tbl", _W + "tr", _W + "tc", _W + "sdt"
_TEXT = {_W + "t": None, _MATH_T: None, _W + "tab": "\t", _W + "ptab": "\t", _W + "br": "\n", _W + "cr": "\n",
         _W + "noBreakHyphen": "-"}
_NESTED = {_W + "txbxContent", TBL, P}  # block content inside a paragraph: read after it
_SKIP = {_MC + "Fallback", _W + "del", _W + "moveFrom", _W + "pPr", _W + "rPr", _W + "instrText",
         _W + "sdtPr", _W + "footnoteReference", _W + "endnoteReference", _W + "commentReference"}
_WRAPPERS = {_W + "sdt", _W + "sdtContent", _W + "customXml", _W + "ins", _W + "moveTo", _W + "smartTag",
             _MC + "AlternateContent", _MC + "Choice"}  # block-level containers whose content is read


def extract(path: Path, options: ExtractOptions = ExtractOptions()) -> Extraction:
    """Blocks in reading order: body paragraphs and tables (text boxes after their paragraph,
    consecutive list items together), then footnotes, endnotes, headers and footers."""
    document = _open(path)
    meta = _meta(document)
    walker = _Walker(document, meta)
    walker.body(document.element.body)
    walker.notes()
    walker.headers_footers()
    return Extraction(blocks=walker.blocks, meta=meta, problems=walker.problems)


def _open(path: Path) -> DocxDocument:
    with path.open("rb") as f:
        head = f.read(8)
    if head == _OLE_MAGIC:
        if "EncryptedPackage".encode("utf-16-le") in path.read_bytes():
            raise ExtractionError("encrypted: password-protected DOCX; save an unprotected copy to index it")
        raise ExtractionError("unsupported: legacy Word (.doc) file named .docx; save it as .docx")
    if not zipfile.is_zipfile(path):
        raise ExtractionError("damaged: not a complete DOCX (ZIP) package; truncated or corrupt file")
    try:
        return docx.Document(str(path))
    except ValueError as e:  # e.g. a spreadsheet renamed .docx
        kind = str(e).rsplit("content type is ", 1)[-1].strip("'\"")
        raise ExtractionError(f"unsupported: not a Word document ({kind})") from None
    except Exception as e:  # BadZipFile, PackageNotFoundError, KeyError, lxml errors...
        detail = str(e).strip("'\"") or type(e).__name__
        raise ExtractionError(f"damaged: corrupt DOCX ({detail})") from None


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


class _Styles:
    """Heading levels of paragraph styles: 1-9 for headings (or styles based on them), 0 for Title."""

    def __init__(self, root: etree._Element | None) -> None:
        self._styles: dict[str, tuple[str, str | None, int | None]] = {}
        for style in root.iter(_W + "style") if root is not None else ():
            name, based, outline = style.find(_W + "name"), style.find(_W + "basedOn"), style.find(f"{_W}pPr/{_W}outlineLvl")
            self._styles[style.get(_W + "styleId", "")] = (
                name.get(_W + "val", "") if name is not None else "",
                based.get(_W + "val") if based is not None else None,
                _outline_level(outline))

    def level(self, p: etree._Element) -> int | None:
        direct = _outline_level(p.find(f"{_W}pPr/{_W}outlineLvl"))
        style = p.find(f"{_W}pPr/{_W}pStyle")
        style_id = style.get(_W + "val") if style is not None else None
        for _ in range(10):  # follow basedOn, never forever
            if style_id is None:
                break
            name, based, outline = self._styles.get(style_id, (style_id, None, None))
            if m := _HEADING.match(name) or re.match(r"^heading(\d)$", style_id, re.I):
                return int(m.group(1))
            if name.lower() == "title":
                return 0
            if outline is not None:
                return outline
            style_id = based
        return direct


def _outline_level(el: etree._Element | None) -> int | None:
    value = el.get(_W + "val", "") if el is not None else ""
    return int(value) + 1 if value.isdigit() and int(value) < 9 else None


class _Walker:
    def __init__(self, document: DocxDocument, meta: dict[str, Any]) -> None:
        self.part = document.part
        self.meta = meta
        self.heads = HeadingPath(meta.get("title"))
        self.blocks: list[Block] = []
        self.problems: list[str] = []
        self._list: list[str] = []  # consecutive list items, emitted as one block
        self.styles = _Styles(self._part_xml(RT.STYLES))

    def body(self, container: etree._Element) -> None:
        for el in container:
            if el.tag == P:
                self._paragraph(el)
            elif el.tag == TBL:
                self.emit(_table_text(el))
            elif el.tag == _W + "altChunk":
                self._alt_chunk(el.get(_R_ID))
            elif el.tag in _WRAPPERS:
                self.body(el)
        self._flush_list()

    def emit(self, text: str, section: str | None = None, list_item: bool = False) -> None:
        if not list_item:
            self._flush_list()
        if text := clean(text):
            if list_item:
                self._list.append(" ".join(text.split()))
            else:
                self.blocks.append(Block(text=text, section=str(self.heads) if section is None else section))

    def _flush_list(self) -> None:
        if self._list:
            self.blocks.append(Block(text="\n".join(self._list), section=str(self.heads)))
            self._list = []

    def _paragraph(self, p: etree._Element) -> None:
        parts: list[str] = []
        nested: list[etree._Element] = []
        _collect(p, parts, nested)
        text = "".join(parts)
        level = self.styles.level(p)
        if level == 0:  # "Title" style: the title if core properties have none
            if title := " ".join(text.split()):
                self.meta.setdefault("title", title)
                self.heads.title = self.heads.title or self.meta["title"].casefold()
        elif level is not None:
            self._flush_list()
            self.heads.push(level, text)
        else:
            self.emit(text, list_item=p.find(f"{_W}pPr/{_W}numPr") is not None)
        for el in nested:  # text boxes and tables anchored in this paragraph
            if el.tag == TBL:
                self.emit(_table_text(el))
            elif el.tag == P:
                self._paragraph(el)
            else:
                self.body(el)

    def _alt_chunk(self, rel_id: str | None) -> None:
        """An embedded HTML or plain-text part, read as part of the body."""
        part = self.part.rels[rel_id].target_part if rel_id in self.part.rels else None
        content_type = part.content_type if part is not None else ""
        if content_type in ("text/html", "application/xhtml+xml"):
            from .html import decode_html, html_blocks

            self._flush_list()
            for block in html_blocks(decode_html(part.blob)[0]):
                self.emit(block.text)
        elif content_type == "text/plain":
            self.emit(decode_text(part.blob)[0])
        else:
            self.problems.append(f"embedded part not read ({content_type or 'missing'})")

    def notes(self) -> None:
        for reltype, tag, section in ((RT.FOOTNOTES, "footnote", "Footnotes"), (RT.ENDNOTES, "endnote", "Endnotes")):
            root = self._part_xml(reltype)
            for note in root.iter(_W + tag) if root is not None else ():
                if note.get(_W + "type", "normal") == "normal":
                    self.emit(_flat_text(note), section)

    def headers_footers(self) -> None:
        seen: set[str] = set()
        for reltype, section in ((RT.HEADER, "Header"), (RT.FOOTER, "Footer")):
            for rel in self.part.rels.values():
                if rel.reltype == reltype and not rel.is_external:
                    root = self._parse(rel.target_part.blob, section.lower())
                    text = clean(_flat_text(root)) if root is not None else ""
                    if text and text not in seen and not _PAGE_NUMBER.match(text):
                        seen.add(text)
                        self.emit(text, section)

    def _part_xml(self, reltype: str) -> etree._Element | None:
        rel = next((r for r in self.part.rels.values() if r.reltype == reltype and not r.is_external), None)
        return self._parse(rel.target_part.blob, reltype.rsplit("/", 1)[-1]) if rel is not None else None

    def _parse(self, blob: bytes, name: str) -> etree._Element | None:
        try:
            return etree.fromstring(blob, _PARSER)
        except etree.XMLSyntaxError as e:
            self.problems.append(f"{name} part unreadable ({e})")
            return None


def _collect(el: etree._Element, parts: list[str], nested: list[etree._Element]) -> None:
    """A paragraph's own text into `parts`; text boxes, tables and paragraphs inside it into `nested`."""
    for child in el:
        if child.tag in _TEXT:
            parts.append(child.text or "" if _TEXT[child.tag] is None else _TEXT[child.tag])
        elif child.tag in _NESTED:
            nested.append(child)
        elif child.tag not in _SKIP and isinstance(child.tag, str):
            _collect(child, parts, nested)


def _flat_text(el: etree._Element) -> str:
    """All paragraphs under `el` (nested tables and text boxes included), one per line."""
    lines = []
    for p in _paragraphs(el):
        parts: list[str] = []
        _collect(p, parts, [])
        lines.append("".join(parts))
    return "\n".join(lines)


def _paragraphs(el: etree._Element) -> Iterator[etree._Element]:
    for child in el:
        if child.tag == P:
            yield child
        if isinstance(child.tag, str) and child.tag not in _SKIP:
            yield from _paragraphs(child)


def _table_text(table: etree._Element) -> str:
    """Rows on their own lines, non-empty cells joined by " | "; a nested table is read inside its cell."""
    rows = []
    for row in _children(table, TR):
        cells = [" ".join(_flat_text(cell).split()) for cell in _children(row, TC)]
        if line := " | ".join(c for c in cells if c):
            rows.append(line)
    return "\n".join(rows)


def _children(el: etree._Element, tag: str) -> Iterator[etree._Element]:
    """Direct children with `tag`, also those wrapped in content controls or custom XML."""
    for child in el:
        if child.tag == tag:
            yield child
        elif child.tag in _WRAPPERS:
            yield from _children(child, tag)

"""HTML pages: main text only, via trafilatura (no network access), with headings as sections."""

from __future__ import annotations

import codecs
import quopri
import re
from pathlib import Path
from typing import Any

import lxml.etree as etree
import lxml.html
import trafilatura

from pioc_search.models import Block, Extraction

from . import ExtractionError, ExtractOptions
from ._common import HeadingPath, clean, guess_encoding, iso_date

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
_QUOTED_PRINTABLE = re.compile(rb"=3D[\"'\w#]")  # a page saved from an e-mail, still encoded
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
_BREAK = re.compile(r"<br\s*/?>", re.I)
_DOCUMENT = re.compile(r"<(?:html|body)[\s>]", re.I)
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_INLINE = {"hi", "ref", "lb", "del", "span", "sub", "sup"}  # trafilatura's inline tags
_EDIT_LINK = re.compile(r"\s*\[edit\]\s*$", re.I)  # Wikipedia's section edit links


def extract(path: Path, options: ExtractOptions = ExtractOptions()) -> Extraction:
    """Boilerplate-free paragraphs (nav, sidebars, footers, cookie banners dropped) and page metadata.

    trafilatura works on the text given and never fetches anything (no URL is passed).
    """
    text, problems = decode_html(path.read_bytes())
    xml = _trafilatura(text, with_metadata=True)
    doc = etree.fromstring(xml.encode("utf-8")) if xml else None
    meta = _meta(doc, text) if doc is not None else {}
    blocks = _blocks(doc, meta.get("title")) if doc is not None else []
    if not blocks:
        blocks = _all_text(text)
    if not blocks:
        raise ExtractionError("no main text found in HTML page")
    return Extraction(blocks=blocks, meta=meta, problems=problems)


def html_blocks(text: str) -> list[Block]:
    """The main text of an HTML fragment or page (e.g. an HTML part embedded in a DOCX)."""
    xml = _trafilatura(text, with_metadata=False)
    blocks = _blocks(etree.fromstring(xml.encode("utf-8")), None) if xml else []
    return blocks or _all_text(text)


def decode_html(data: bytes) -> tuple[str, list[str]]:
    """Page bytes as text: quoted-printable undone; UTF-8 if valid, else the declared charset, else
    the likeliest legacy encoding (never EBCDIC). Control characters and undecodable bytes are dropped
    (counted in the returned problems)."""
    problems: list[str] = []
    if _QUOTED_PRINTABLE.search(data[:65536]) and b"=\n" in data.replace(b"\r\n", b"\n"):
        data = quopri.decodestring(data)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", "replace")
    else:
        text = _decode_8bit(data)
    bad = len(_NOT_TEXT.findall(text))
    if bad:
        problems.append(f"{bad} control or undecodable character(s) dropped")
    text = _XML_DECLARATION.sub("", _NOT_TEXT.sub("", text.lstrip("\ufeff")))
    if not _DOCUMENT.search(text) and re.search(r"<[a-zA-Z]", text):  # a fragment: make it a document
        text = f"<html><body>{text}</body></html>"
    return text, problems


def _decode_8bit(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    encoding = None
    if m := _CHARSET.search(data[:262144]):
        try:
            encoding = codecs.lookup(m.group(1).decode("ascii")).name
        except (LookupError, UnicodeDecodeError):
            encoding = None
        if encoding in ("utf-8", "ascii", "latin-1", "iso8859-1"):  # mislabelled or too narrow: windows-1252
            encoding = "cp1252" if encoding != "utf-8" else "utf-8"
    encoding = encoding or guess_encoding(data.replace(b"\x00", b"")) or "cp1252"
    return data.decode(encoding, "replace")


def _trafilatura(text: str, with_metadata: bool) -> str | None:
    """trafilatura's XML for the page's main content. Recall is favoured: a little boilerplate in the
    index costs less than a lost paragraph (precision mode drops short opening paragraphs)."""
    try:
        return trafilatura.extract(text, output_format="xml", with_metadata=with_metadata, favor_recall=True,
                                   include_tables=True, include_comments=False, include_images=False,
                                   deduplicate=False)
    except Exception as e:  # trafilatura/lxml raise assorted errors on broken markup
        raise ExtractionError(f"damaged: unreadable HTML ({type(e).__name__}: {e})") from None


def _all_text(text: str) -> list[Block]:
    """Every visible word of the page as one block, when no main content was recognised."""
    words = clean(" ".join(trafilatura.html2txt(_BREAK.sub(" ", text)).split()))
    return [Block(text=words)] if words else []


def _meta(doc: etree._Element, text: str) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key in ("title", "author", "description"):
        if value := " ".join((doc.get(key) or "").split()):
            meta[key] = value
    if date := iso_date(doc.get("date") or ""):
        meta["date"] = date
    if url := doc.get("source"):
        meta["source_url"] = url
    if lang := _html_lang(text):
        meta["language"] = lang
    return meta


def _html_lang(text: str) -> str | None:
    """Primary language subtag of <html lang="es-CO"> ("es"), if declared."""
    try:
        root = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return None
    lang = (root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") or "").strip()
    return lang.split("-")[0].split("_")[0].lower() or None


def _blocks(doc: etree._Element, title: str | None) -> list[Block]:
    """One block per paragraph, list or table of trafilatura's <main> (and per run of text lying
    directly in a container), under its heading path."""
    blocks: list[Block] = []
    main = doc.find("main")
    if main is not None:
        _walk(main, HeadingPath(title), blocks)
    return blocks


def _walk(container: etree._Element, heads: HeadingPath, blocks: list[Block]) -> None:
    run: list[str] = [container.text or ""]  # inline text waiting for the next block boundary

    def flush() -> None:
        if text := clean(" ".join("".join(run).split())):
            blocks.append(Block(text=text, section=str(heads)))
        run.clear()

    for el in container:
        if el.tag in _INLINE or not isinstance(el.tag, str):
            run.append(" " if el.tag == "lb" else _inline(el) if isinstance(el.tag, str) else "")
            run.append(el.tail or "")
            continue
        flush()
        if el.tag == "head":
            rend = el.get("rend", "h2")
            heads.push(int(rend[1]) if rend[1:].isdigit() else 2, _EDIT_LINK.sub("", _inline(el)))
        elif el.tag in ("div", "quote", "section") and any(c.tag not in _INLINE for c in el):
            _walk(el, heads, blocks)
        elif text := clean(_block_text(el)):
            blocks.append(Block(text=text, section=str(heads)))
        run.append(el.tail or "")
    flush()


def _block_text(el: etree._Element) -> str:
    if el.tag == "list":
        return "\n".join(_inline(item) for item in el.iterfind("item"))
    if el.tag == "table":
        rows = (" | ".join(t for cell in row.iterfind("cell") if (t := _inline(cell))) for row in el.iter("row"))
        return "\n".join(rows)
    if el.tag == "code":
        return "".join(el.itertext())
    return _inline(el)


def _inline(el: etree._Element) -> str:
    """The element's words on one line; line breaks and nested blocks become spaces, never glue."""
    parts = [el.text or ""]
    for child in el:
        if not isinstance(child.tag, str):
            parts.append(child.tail or "")
            continue
        inner = _inline(child) if child.tag != "lb" else ""
        parts.append(inner if child.tag in _INLINE and child.tag != "lb" else f" {inner} ")
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())

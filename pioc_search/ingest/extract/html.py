"""HTML pages: main text only, via trafilatura (no network access), with headings as sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lxml.etree as etree
import lxml.html
import trafilatura

from pioc_search.models import Block, Extraction

from . import ExtractionError, ExtractOptions
from ._common import HeadingPath, clean, iso_date


def extract(path: Path, options: ExtractOptions = ExtractOptions()) -> Extraction:
    """Boilerplate-free paragraphs (nav, sidebars, footers, cookie banners dropped) and page metadata.

    trafilatura works on the bytes given and never fetches anything (no URL is passed).
    """
    data = path.read_bytes()
    try:
        xml = trafilatura.extract(data, output_format="xml", with_metadata=True, include_tables=True,
                                  include_comments=False, include_images=False, deduplicate=False)
        if xml is None:  # very short pages: accept less certain content rather than nothing
            xml = trafilatura.extract(data, output_format="xml", with_metadata=True, favor_recall=True,
                                      include_comments=False)
    except Exception as e:  # trafilatura/lxml raise assorted errors on broken markup
        raise ExtractionError(f"unreadable HTML: {e}") from None
    if xml is None:
        raise ExtractionError("no main text found in HTML page")
    doc = etree.fromstring(xml.encode("utf-8"))
    meta = _meta(doc, data)
    return Extraction(blocks=_blocks(doc, meta.get("title")), meta=meta)


def _meta(doc: etree._Element, data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key in ("title", "author", "description"):
        if value := (doc.get(key) or "").strip():
            meta[key] = value
    if date := iso_date(doc.get("date") or ""):
        meta["date"] = date
    if url := doc.get("source"):
        meta["source_url"] = url
    if lang := _html_lang(data):
        meta["language"] = lang
    return meta


def _html_lang(data: bytes) -> str | None:
    """Primary language subtag of <html lang="es-CO"> ("es"), if declared."""
    try:
        root = lxml.html.document_fromstring(data)
    except (etree.ParserError, ValueError):
        return None
    lang = (root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") or "").strip()
    return lang.split("-")[0].split("_")[0].lower() or None


def _blocks(doc: etree._Element, title: str | None) -> list[Block]:
    """One block per paragraph, list or table of trafilatura's <main>, under its heading path."""
    heads = HeadingPath(title)
    blocks: list[Block] = []
    main = doc.find("main")
    elements = list(main) if main is not None else []
    while elements:
        el = elements.pop(0)
        if el.tag in ("quote", "div") and el.find("p") is not None:  # container: walk its paragraphs
            elements[:0] = list(el)
            continue
        if el.tag == "head":
            rend = el.get("rend", "h2")
            level = int(rend[1]) if rend[1:].isdigit() else 2
            heads.push(level, " ".join("".join(el.itertext()).split()))
            continue
        if el.tag == "list":
            text = "\n".join(" ".join("".join(i.itertext()).split()) for i in el.iter("item"))
        elif el.tag == "table":
            text = "\n".join(" | ".join(" ".join("".join(c.itertext()).split()) for c in row.iter("cell"))
                             for row in el.iter("row"))
        elif el.tag == "code":
            text = "".join(el.itertext())
        else:  # p, quote and anything else: one unwrapped paragraph
            text = " ".join("".join(el.itertext()).split())
        if text := clean(text):
            blocks.append(Block(text=text, section=str(heads)))
    return blocks

"""Markdown and plain-text files: YAML front matter, '#' headings, paragraphs."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml

from pioc_search.models import Block, Extraction

from . import ExtractionError, ExtractOptions
from ._common import HeadingPath, clean, decode_text, iso_date

log = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*$\r?\n?", re.S | re.M)
_ATX = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")  # horizontal rule
_FENCE = re.compile(r"^\s*(```|~~~)")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_INLINE = [
    (re.compile(r"<!--.*?-->", re.S), ""),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images -> alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url) -> text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref] -> text
    (re.compile(r"<(https?://[^>]+)>"), r"\1"),  # autolinks
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *italic*
    (re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"), r"\1"),  # _italic_
    (re.compile(r"~~(.+?)~~"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
]
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>])")
_LINK_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+")
_LIST_KEYS = ("cities", "themes")


def extract(path: Path, options: ExtractOptions = ExtractOptions()) -> Extraction:
    """Split a .md/.txt file into paragraph blocks under their heading path; read front matter.

    Non-UTF-8 files are decoded in their most likely encoding, named in `problems`."""
    text, warning = decode_text(path.read_bytes())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    meta, body = _front_matter(text)
    markdown = path.suffix.lower() in (".md", ".markdown")
    blocks, first_h1 = _blocks(body, markdown, meta.get("title"))
    if "title" not in meta and first_h1:
        meta["title"] = first_h1
    return Extraction(blocks=blocks, meta=meta, problems=[warning] if warning else [])


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Parse a leading '---' YAML block into meta; return (meta, rest of the text)."""
    m = _FRONT_MATTER.match(text)
    if not m:
        if re.match(r"---[ \t]*\n[\w-]+:", text):
            raise ExtractionError("invalid YAML front matter: no closing '---' line")
        return {}, text
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise ExtractionError(f"invalid YAML front matter{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ExtractionError("invalid YAML front matter: expected 'key: value' pairs")
    meta: dict[str, Any] = {str(k): v for k, v in data.items() if v is not None}
    if "date" in meta:  # only an ISO yyyy-mm-dd date (YAML may have parsed it already) is kept
        raw = meta.pop("date")
        if date := iso_date(raw):
            meta["date"] = date
        else:
            log.warning("ignoring front-matter date %r: not yyyy-mm-dd", raw)
    if "title" in meta:
        meta["title"] = str(meta["title"]).strip()
    for key in _LIST_KEYS:
        if isinstance(meta.get(key), str):
            meta[key] = [s.strip() for s in meta[key].split(",") if s.strip()]
    return meta, text[m.end():]


def _blocks(body: str, markdown: bool, title: str | None) -> tuple[list[Block], str | None]:
    """Paragraphs separated by blank lines (and, in Markdown, by headings and fences)."""
    blocks: list[Block] = []
    heads = HeadingPath(title)
    first_h1: str | None = None
    para: list[str] = []
    in_fence = False

    def flush() -> None:
        if para:
            text = _paragraph(para, markdown)
            if text:
                blocks.append(Block(text=text, section=str(heads)))
            para.clear()

    def heading(level: int, text: str) -> None:
        nonlocal first_h1
        text = _inline(text)
        if level == 1 and first_h1 is None:
            first_h1 = text
            heads.title = heads.title or text.casefold()
        heads.push(level, text)

    for line in body.split("\n"):
        if markdown and _FENCE.match(line):
            if in_fence:  # closing fence: keep the code as one block, lines intact
                blocks.append(Block(text=clean("\n".join(para)), section=str(heads)))
                para.clear()
            else:
                flush()
            in_fence = not in_fence
            continue
        if in_fence:
            para.append(line)
            continue
        if markdown and (m := _ATX.match(line)):
            flush()
            heading(len(m.group(1)), m.group(2))
        elif markdown and len(para) == 1 and _SETEXT.match(line) and not _BULLET.match(para[0]):
            text = para.pop()
            heading(1 if line.lstrip()[0] == "=" else 2, text)
        elif not line.strip() or markdown and _RULE.match(line):
            flush()
        else:
            para.append(line)
    if in_fence:
        blocks.append(Block(text=clean("\n".join(para)), section=str(heads)))
        para.clear()
    flush()
    return [b for b in blocks if b.text], first_h1


def _paragraph(lines: list[str], markdown: bool) -> str:
    """Unwrap a paragraph's lines; in Markdown keep list items and table rows on their own lines."""
    if not markdown:
        return " ".join(" ".join(lines).split())
    out: list[str] = []
    for raw in lines:
        line = re.sub(r"^\s*(>\s?)+", "", raw)  # blockquote markers
        if re.fullmatch(r"\s*\|?[\s:|-]*-[\s:|-]*\|?\s*", line) and "|" in line or _LINK_DEF.match(line):
            continue  # table separator row, link reference definition
        item = _BULLET.match(line)
        is_row = line.strip().startswith("|")
        if is_row:
            line = " | ".join(c.strip() for c in line.strip().strip("|").split("|"))
        text = _inline(line[item.end():] if item else line)
        if item or is_row or not out:
            out.append(text)
        else:  # continuation of the previous line: unwrap
            out[-1] = f"{out[-1]} {text}"
    return clean("\n".join(out))


def _inline(text: str) -> str:
    """Strip light inline Markdown syntax (emphasis, links, code) keeping the words."""
    for pattern, repl in _INLINE:
        text = pattern.sub(repl, text)
    return " ".join(_ESCAPE.sub(r"\1", text).split())

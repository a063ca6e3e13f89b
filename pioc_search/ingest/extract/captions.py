"""WebVTT (webvtt-py) and SubRip (srt) transcripts, grouped into speaker turns with timestamps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import srt
import webvtt

from pioc_search.models import Block, Extraction

from . import ExtractionError, ExtractOptions
from ._common import decode_text, iso_date

MAX_SECONDS = 60.0
MAX_WORDS = 120

_SPEAKER = re.compile(r"^(?:>>\s*|-\s*)?([A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,3})\s*:\s+(.*)", re.S)
_TAGS = re.compile(r"<[^>]*>|\{\\[^}]*\}")  # HTML-ish cue tags and {\an8}-style ASS tags
_HEADER = re.compile(r"^\s*(?:NOTE\s+)?(Title|Date|Language)\s*:\s*(.+?)\s*$", re.I | re.M)


@dataclass
class _Cue:
    start: float
    end: float
    text: str
    speaker: str | None


def extract(path: Path, options: ExtractOptions = ExtractOptions()) -> Extraction:
    """Group consecutive cues of one speaker into blocks of at most ~60 s / ~120 words.

    Block.text is "Speaker: words" and Block.section "HH:MM:SS Speaker" (the block's start).
    Speakers come from `<v Name>` voice tags or a leading "Name:" and carry over to
    following unlabelled cues.
    """
    text, warning = decode_text(path.read_bytes())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    meta, text = _header(text)
    problems = [warning] if warning else []
    cues = _read_vtt(text) if path.suffix.lower() == ".vtt" else _read_srt(text, problems)
    if not cues:
        raise ExtractionError("malformed caption file: no cues found")
    return Extraction(blocks=_group(cues), meta=meta, problems=problems)


def _header(text: str) -> tuple[dict[str, str], str]:
    """Read "Title: ..." style lines from leading NOTE blocks (VTT) or the top of an SRT file."""
    meta: dict[str, str] = {}
    first_cue = re.search(r"^.*-->", text, re.M)
    head = text[: first_cue.start()] if first_cue else text
    if not text.lstrip().startswith("WEBVTT"):  # SRT: drop the header lines so `srt` can parse
        head_end = re.search(r"^\s*\d+\s*\n.*-->", text, re.M)
        head = text[: head_end.start()] if head_end else ""
        text = text[len(head):]
    for key, value in _HEADER.findall(head):
        meta[key.lower()] = value
    if "date" in meta:
        meta["date"] = iso_date(meta["date"]) or ""  # only ISO yyyy-mm-dd dates are kept
    if "language" in meta:
        meta["language"] = meta["language"].lower()
    return {k: v for k, v in meta.items() if v}, text


def _read_vtt(text: str) -> list[_Cue]:
    try:
        vtt = webvtt.from_string(text)
    except Exception as e:  # MalformedFileError, MalformedCaptionError and the odd ValueError
        raise ExtractionError(f"malformed WebVTT file: {e or type(e).__name__}") from None
    cues = []
    for c in vtt.captions:
        cue_text = " ".join(c.text.split())
        speaker = c.voice.strip() if c.voice else None
        cues.append(_Cue(c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000,
                         cue_text, speaker))
    return cues


def _read_srt(text: str, problems: list[str]) -> list[_Cue]:
    """All cues; when some cannot be parsed, the others are kept and the bad ones listed in `problems`."""
    try:
        subs = list(srt.parse(text))
    except Exception as e:  # SRTParseError, TimestampParseError: parse cue by cue
        subs, bad = [], []
        for number, chunk in enumerate(re.split(r"\n\s*\n", text.strip()), 1):
            try:
                subs.extend(srt.parse(chunk + "\n"))
            except Exception:
                bad.append(chunk.split("\n")[0].strip()[:20] or str(number))
        if not subs:
            raise ExtractionError(f"malformed SRT file: {' '.join(str(e).split())[:160]}") from None
        problems.append(f"{len(bad)} SRT cue(s) with unparseable timing skipped (cue {', '.join(bad[:5])})")
    return [_Cue(s.start.total_seconds(), s.end.total_seconds(), " ".join(_TAGS.sub("", s.content).split()), None)
            for s in subs]


def _group(cues: list[_Cue]) -> list[Block]:
    blocks: list[Block] = []
    speaker: str | None = None
    start = 0.0
    words: list[str] = []
    last_line = ""

    def flush() -> None:
        if words:
            label = f"{speaker}: " if speaker else ""
            stamp = _hms(start) + (f" {speaker}" if speaker else "")
            blocks.append(Block(text=label + " ".join(words), section=stamp))
            words.clear()

    for cue in cues:
        text, who = cue.text, cue.speaker
        if who is None and (m := _SPEAKER.match(text)):
            who, text = m.group(1), m.group(2)
        if text == last_line:  # rolling captions repeat the previous line
            continue
        last_line = text
        who = who or speaker
        if not words or who != speaker or cue.end - start > MAX_SECONDS or len(words) + len(text.split()) > MAX_WORDS:
            flush()
            speaker, start = who, cue.start
        words.extend(text.split())
    flush()
    return blocks


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"

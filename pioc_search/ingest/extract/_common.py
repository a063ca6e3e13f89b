"""Small helpers shared by the extractors: heading paths, whitespace and UTF-8 decoding."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from . import ExtractionError

_SPACES = re.compile(r"[ \t\u00a0\u200b]+")


_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]")  # soft hyphen, zero-width marks, BOM
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def normalise(text: str) -> str:
    """NFKC (ligatures and presentation forms become plain letters), no soft hyphens, zero-width
    marks or control characters; line breaks kept. Applied to every extracted block."""
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub(" ", _INVISIBLE.sub("", text))


def clean(text: str) -> str:
    """Collapse runs of spaces/tabs and trim each line; drop empty lines."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def decode_utf8(data: bytes) -> str:
    """Decode UTF-8 (dropping a BOM) or raise ExtractionError saying where it breaks."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExtractionError("not valid UTF-8 text (UTF-16 byte-order mark found; save the file as UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ExtractionError(f"not valid UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None


def iso_date(value: object) -> str | None:
    """A date/datetime or a string starting with yyyy-mm-dd, as ISO yyyy-mm-dd; else None."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, str):
        m = re.match(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})", value)
        if m:
            try:
                return dt.date(*map(int, m.groups())).isoformat()
            except ValueError:
                return None
    return None


class HeadingPath:
    """The stack of headings above the current paragraph, rendered as "H1 > H2".

    A heading equal to the document title is not part of the path (the title is shown anyway).
    """

    def __init__(self, title: str | None = None) -> None:
        self.title = (title or "").strip().casefold()
        self._stack: list[tuple[int, str]] = []

    def push(self, level: int, text: str) -> None:
        text = " ".join(text.split())
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        if text and text.casefold() != self.title:
            self._stack.append((level, text))

    def __str__(self) -> str:
        return " > ".join(text for _, text in self._stack)

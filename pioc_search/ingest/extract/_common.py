"""Small helpers shared by the extractors: heading paths, whitespace and text decoding."""

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
    """Collapse runs of spaces/tabs and trim each line; drop empty lines. Text without a single letter
    or digit ("*", "| |", "---") is no text: ""."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    text = "\n".join(line for line in lines if line)
    return text if any(c.isalnum() for c in text) else ""


_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
# Among equally likely guesses, the encodings most often met in practice win (cp1252 over cp1250...).
_PREFERRED = ("cp1252", "cp1251", "cp866", "koi8_r", "cp1250", "cp1256", "cp1253", "cp1255", "cp1254",
              "iso8859_15", "latin_1", "gb18030", "big5", "shift_jis", "euc_jp", "euc_kr", "utf_16", "utf_32")
_EBCDIC = ["cp037", "cp273", "cp424", "cp500", "cp875", "cp1026", "cp1140"]  # never right for our files


def decode_text(data: bytes) -> tuple[str, str | None]:
    """Decode a text file: a byte-order mark, else UTF-8, else the most likely legacy encoding
    (charset_normalizer). Returns (text, warning); the warning names the encoding used when it is
    not UTF-8. Raises ExtractionError for binary data that is text in no encoding."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as e:
                raise ExtractionError(f"undecodable: byte-order mark says {encoding} but {e.reason} "
                                      f"at offset {e.start}") from None
            return text, None if encoding == "utf-8-sig" else f"decoded as {encoding.upper()} (not UTF-8)"
    if _binary(data):
        raise ExtractionError("undecodable: binary data (NUL bytes), not a text file")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        first_bad = e.start
    text = data.decode("utf-8", "replace")  # mostly UTF-8 with a few stray bytes: keep it UTF-8
    bad = text.count("\ufffd")
    if sum(ord(c) > 127 for c in text) - bad > 5 * bad:
        return text.replace("\ufffd", ""), f"{bad} invalid UTF-8 byte sequence(s) dropped"
    encoding = guess_encoding(data)
    if encoding is None:
        raise ExtractionError(f"undecodable: not UTF-8 (byte 0x{data[first_bad]:02x} at offset {first_bad}) "
                              "and no other text encoding fits; binary data?")
    return data.decode(encoding), f"decoded as {encoding} (not UTF-8)"


def _binary(data: bytes) -> bool:
    """NUL bytes, other than in the every-other-byte pattern of UTF-16 text."""
    head = data[:8192]
    return b"\x00" in head and not re.search(rb"(?:[^\x00]\x00){8}|(?:\x00[^\x00]){8}", head)


def guess_encoding(data: bytes) -> str | None:
    """The most plausible legacy encoding of `data` (never EBCDIC), or None if it is not text."""
    from charset_normalizer import from_bytes

    if _binary(data):
        return None
    matches = list(from_bytes(data, cp_exclusion=_EBCDIC))
    if not matches:
        return None
    chaos = min(m.chaos for m in matches)
    best = [m for m in matches if m.chaos <= chaos + 0.01]
    coherence = max(m.coherence for m in best)
    best = [m for m in best if m.coherence >= coherence - 0.01]
    names = [name for m in best for name in (m.encoding, *m.could_be_from_charset)]
    return next((name for name in _PREFERRED if name in names), best[0].encoding)


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

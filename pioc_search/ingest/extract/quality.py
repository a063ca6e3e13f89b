"""Is extracted text real text? A cheap check applied to every PDF page (and usable on any passage).

`text_problem` returns None for usable text in any script (Latin with diacritics, Cyrillic, Greek,
Arabic, Hebrew, CJK, Indic...) and a short reason for what text extraction produces when a font has
no usable Unicode mapping: glyph names (`/g131/g149`, `glyph123`, `(cid:12)`), replacement or
private-use characters, control characters, or strings of symbols and letter soup that are not words.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_GLYPH_NAMES = re.compile(r"/g\d+|\bglyph\d+|\(?\bcid:\d+\)?|/uni[0-9A-Fa-f]{4,6}|/[A-Za-z]+\d+(?=/)", re.I)
# replacement character, private use, surrogates, non-characters, controls other than tab and line breaks
_BAD_CHARS = re.compile("[\ufffd\ue000-\uf8ff\U000f0000-\U0010ffff\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
                        "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BAD_SHARE = 0.05  # at most this share of non-space characters may be replacement/private-use/control
_LATIN1_SYMBOL = re.compile("[\u00a1-\u00a9\u00ab-\u00b4\u00b6-\u00b9\u00bb-\u00bf\u00d7\u00f7]")
_WORD_SHARE = 0.5  # at least this share of tokens (numbers aside) must look like words
_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "HALFWIDTH": "CJK",
                  "FULLWIDTH": "CJK", "IDEOGRAPHIC": "CJK", "BOPOMOFO": "CJK"}
_UNSPACED = {"CJK", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN"}  # scripts written without spaces


def text_problem(text: str) -> str | None:
    """None if `text` reads as real text, else a short reason ("glyph names", ...)."""
    chars = "".join(text.split())
    if not chars:
        return "no text"
    if len(_GLYPH_NAMES.findall(text)) >= max(2, len(text.split()) // 20):
        return "glyph names"
    bad = len(_BAD_CHARS.findall(text))
    if bad > max(1, _BAD_SHARE * len(chars)):
        return "control or private-use characters"
    words = junk = 0
    for token in text.split():
        kind = _token_kind(token)
        words += kind == "word"
        junk += kind == "junk"
    if words == 0 or words < _WORD_SHARE * (words + junk):
        return "too few word-like tokens"
    return None


@lru_cache(maxsize=65536)
def _token_kind(token: str) -> str:
    """"word" (letters of one script, maybe with marks, digits, joining punctuation), "number",
    "neutral" (a lone letter, punctuation such as a dash or bullet) or "junk"."""
    core = token.strip(".,;:!?¡¿\"'“”‘’«»()[]{}<>…-–—*•·/\\|")
    if not core:
        return "neutral"
    letters = [c for c in core if _is_letter(c)]
    if not letters:
        if any(c.isdigit() for c in core):
            return "number"
        symbols = all(unicodedata.category(c)[0] in "SP" for c in core)
        return "neutral" if symbols or len(core) <= 3 else "junk"  # decorations, arrows, operators
    scripts = {_script(c) for c in letters} - {"MARK"}
    if not scripts:
        return "neutral"  # combining marks on their own (math accents)
    # letters of two scripts in one token ("ϸЇΰ") are junk, except Greek with Latin ("α-methyl", "μm")
    if len(scripts) > 1 and scripts != {"LATIN", "GREEK"}:
        return "junk"
    if len(letters) < 0.6 * len(core):  # "/g131/g149", "a$%&b"
        return "junk"
    if _LATIN1_SYMBOL.search(core) and sum(1 for c in letters if c > "\x7f") >= 2:
        return "junk"  # mojibake: CJK or UTF-8 bytes read as Latin-1 ("¹ØÓÚºì¾ü×÷", "Ã©tÃ©")
    if len(letters) == 1 and scripts.isdisjoint(_UNSPACED) and len(core) == 1:
        return "neutral"  # "a", "y", "I": words, but also what spaced-out letter soup is made of
    return "word"


def _is_letter(c: str) -> bool:
    return unicodedata.category(c)[0] in "LM"


@lru_cache(maxsize=4096)
def _script(c: str) -> str:
    """The script of a letter, from its Unicode name ("CYRILLIC SMALL LETTER A" -> CYRILLIC)."""
    if unicodedata.category(c)[0] == "M":
        return "MARK"
    first = unicodedata.name(c, "UNKNOWN").split(" ")[0]
    if first == "CJK" or first in _SCRIPT_GROUPS:
        return _SCRIPT_GROUPS.get(first, "CJK")
    if first in {"MODIFIER", "LATIN", "SMALL", "SUPERSCRIPT", "SUBSCRIPT", "MATHEMATICAL", "DOUBLE-STRUCK",
                 "SCRIPT", "BLACK-LETTER", "PLANCK", "KELVIN", "ANGSTROM", "OHM", "NUMERO", "MICRO"}:
        return "LATIN"  # letter-like symbols and math letters mix freely with Latin text
    return first

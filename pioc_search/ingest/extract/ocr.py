"""OCR of page images with Tesseract (through pytesseract), cached by image content and languages.

Tesseract is a system program (Debian: `tesseract-ocr` plus `tesseract-ocr-LANG` packs). The
document's catalogue languages choose the packs (en->eng, es->spa, pt->por, fr->fra, ar->ara); when
they are unknown, English + Spanish (DEFAULT_LANGUAGES, the network's most common languages). Each result is
stored under the cache folder, keyed by a hash of the image pixels and the languages, so a rebuild
never OCRs the same page twice.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

TESSERACT_CODES = {"en": "eng", "es": "spa", "pt": "por", "fr": "fra", "ar": "ara"}
DEFAULT_LANGUAGES = ("en", "es")  # when the document's language is unknown
# Tesseract's OpenMP threads fight over a small machine's cores: one thread is ~3x faster here.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
CACHE_FORMAT = "1"  # bump to invalidate cached results when the OCR settings change


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether the tesseract program can be run."""
    if shutil.which(os.environ.get("TESSERACT_CMD", "tesseract")) is None:
        return False
    try:
        import pytesseract

        pytesseract.get_tesseract_version()
        return True
    except Exception:
        return False


@lru_cache(maxsize=1)
def installed_languages() -> frozenset[str]:
    import pytesseract

    return frozenset(pytesseract.get_languages(config=""))


def tesseract_languages(languages: Sequence[str]) -> str:
    """ISO 639-1 codes as Tesseract's "eng+spa", keeping installed packs (default if none known)."""
    bases = (code.split("-")[0].split("_")[0].lower() for code in languages)  # "es-CO" -> "es"
    codes = [TESSERACT_CODES[code] for code in bases if code in TESSERACT_CODES]
    installed = installed_languages()
    chosen = [code for code in dict.fromkeys(codes) if code in installed]
    if not chosen:
        chosen = [TESSERACT_CODES[code] for code in DEFAULT_LANGUAGES if TESSERACT_CODES[code] in installed]
    return "+".join(chosen) or "eng"


def default_cache_dir() -> Path:
    from pioc_search.embedders.base import default_cache_dir as cache_root

    return cache_root() / "ocr"


class OcrRun:
    """OCR for the pages of one document; counts pages recognised, cache hits and seconds spent."""

    def __init__(self, languages: Sequence[str] = (), cache_dir: Path | None = None) -> None:
        self.languages = tesseract_languages(languages)
        self.cache_dir = cache_dir or default_cache_dir()
        self.pages = 0  # pages whose text came from OCR, cached or not
        self.cached = 0
        self.seconds = 0.0

    def image_text(self, image: Any) -> str:
        """The text Tesseract reads in a PIL image (from the cache when seen before)."""
        self.pages += 1
        path = self._cache_path(image)
        if path.exists():
            self.cached += 1
            return path.read_text(encoding="utf-8")
        import pytesseract

        start = time.perf_counter()
        text = pytesseract.image_to_string(image, lang=self.languages)
        self.seconds += time.perf_counter() - start
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
        return text

    def _cache_path(self, image: Any) -> Path:
        digest = hashlib.sha256()
        for part in (CACHE_FORMAT, self.languages, image.mode, repr(image.size)):
            digest.update(part.encode() + b"\0")
        digest.update(image.tobytes())
        key = digest.hexdigest()
        return self.cache_dir / key[:2] / f"{key}.txt"

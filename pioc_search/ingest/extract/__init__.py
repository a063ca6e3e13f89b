"""One extractor per file format; `extract_file` picks the right one by extension."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pioc_search.models import Extraction


class ExtractionError(Exception):
    """A file that cannot be indexed; the message is the reason shown in the ingest report."""


def _extractors() -> dict[str, Callable[[Path], Extraction]]:
    from . import captions, docx, html, pdf, text

    return {
        ".pdf": pdf.extract,
        ".html": html.extract,
        ".htm": html.extract,
        ".docx": docx.extract,
        ".md": text.extract,
        ".markdown": text.extract,
        ".txt": text.extract,
        ".vtt": captions.extract,
        ".srt": captions.extract,
    }


SUPPORTED_EXTENSIONS = (".pdf", ".html", ".htm", ".docx", ".md", ".markdown", ".txt", ".vtt", ".srt")

MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".htm": "text/html",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".vtt": "text/vtt",
    ".srt": "application/x-subrip",
}


def extract_file(path: Path) -> Extraction:
    """Extract text blocks and embedded metadata from `path`.

    Raises ExtractionError with a human-readable reason for unsupported, empty, corrupt,
    encrypted or undecodable files, and when no text at all could be extracted.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise ExtractionError(f"unsupported file type '{suffix or path.name}'")
    if path.stat().st_size == 0:
        raise ExtractionError("empty file")
    extraction = _extractors()[suffix](path)
    extraction.blocks = [b for b in extraction.blocks if b.text.strip()]
    if not extraction.blocks:
        raise ExtractionError("no extractable text")
    return extraction

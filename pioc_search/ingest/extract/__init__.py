"""One extractor per file format; `extract_file` picks the right one by extension.

Each format's module (and the libraries it needs) is imported only when a file of that format is
extracted, so a problem with one format's libraries never stops the others.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from pioc_search.models import Extraction


class ExtractionError(Exception):
    """A file that cannot be indexed; the message is the reason shown in the ingest report."""


class EnvironmentProblem(Exception):
    """The installation is broken (a missing module, a model that will not load): no file can be
    extracted, so the build stops at once instead of failing every file."""


@dataclass(frozen=True)
class ExtractOptions:
    """How to extract: OCR for pages without usable text, in these languages (ISO 639-1 codes)."""

    ocr: bool = True
    languages: tuple[str, ...] = ()
    cache_dir: Path | None = None  # where OCR results are cached by page content hash


MODULES = {
    ".pdf": "pdf", ".html": "html", ".htm": "html", ".docx": "docx", ".md": "text", ".markdown": "text",
    ".txt": "text", ".vtt": "captions", ".srt": "captions",
}
SUPPORTED_EXTENSIONS = tuple(MODULES)

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


def extractor_module(suffix: str):  # type: ignore[no-untyped-def]
    """The extractor module for a file extension, imported on first use."""
    try:
        return importlib.import_module(f"{__name__}.{MODULES[suffix]}")
    except ImportError as exc:
        raise EnvironmentProblem(f"the {MODULES[suffix].upper()} extractor cannot be loaded: {exc}; "
                                 "reinstall pioc-search with its dependencies (pip install .)") from exc


def extract_file(path: Path, options: ExtractOptions = ExtractOptions()) -> Extraction:
    """Extract text blocks and embedded metadata from `path`, text normalised (see `normalise`).

    Raises ExtractionError with a human-readable reason for unsupported, empty, corrupt,
    encrypted or undecodable files, and when no text at all could be extracted; EnvironmentProblem
    when the format's libraries are missing.
    """
    from ._common import normalise

    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise ExtractionError(f"unsupported file type '{suffix or path.name}'")
    if path.stat().st_size == 0:
        raise ExtractionError("empty file")
    extraction = extractor_module(suffix).extract(path, options)
    for block in extraction.blocks:
        block.text, block.section = normalise(block.text), normalise(block.section)
    extraction.blocks = [b for b in extraction.blocks if b.text.strip()]
    if not extraction.blocks:
        raise ExtractionError("no extractable text")
    return extraction

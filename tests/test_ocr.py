"""OCR of scanned pages with the real Tesseract: words found, languages chosen, results cached."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from pioc_search.ingest.extract import ExtractionError, ExtractOptions, extract_file, ocr

if shutil.which("tesseract") is None:
    if os.environ.get("CI"):
        pytest.fail("tesseract is not installed (apt-get install tesseract-ocr)", pytrace=False)
    pytest.skip("tesseract is not installed", allow_module_level=True)

LINES = ["Community violence prevention", "Street lighting reduced assaults", "Municipal youth programmes"]


def _scanned_pdf(path: Path) -> Path:
    """A PDF whose only page is a picture of text: typeset with reportlab, rasterised, saved as an image."""
    typeset = path.with_suffix(".typeset.pdf")
    canvas = Canvas(str(typeset), pagesize=A4)
    canvas.setFont("Helvetica", 18)
    for i, line in enumerate(LINES):
        canvas.drawString(72, A4[1] - 120 - 40 * i, line)
    canvas.save()
    image = pdfium.PdfDocument(typeset)[0].render(scale=200 / 72, grayscale=True).to_pil()
    image.save(path, "PDF", resolution=200)
    typeset.unlink()
    return path


def _text(result) -> str:
    return " ".join(b.text for b in result.blocks)


def test_scanned_page_is_ocrd_once_then_read_from_cache(tmp_path, monkeypatch):
    scan = _scanned_pdf(tmp_path / "scan.pdf")
    options = ExtractOptions(cache_dir=tmp_path / "cache")
    first = extract_file(scan, options)
    for line in LINES:
        assert line in _text(first)
    assert first.meta["ocr_pages"] == 1 and first.meta["ocr_seconds"] > 0 and not first.problems
    assert first.meta["ocr_languages"] == "eng+spa"  # language unknown: the default

    import pytesseract

    def no_tesseract(*args, **kwargs):
        raise AssertionError("tesseract called although the page is cached")

    monkeypatch.setattr(pytesseract, "image_to_string", no_tesseract)
    second = extract_file(scan, options)
    assert _text(second) == _text(first) and second.meta["ocr_seconds"] == 0


def test_document_language_chooses_the_tesseract_pack(tmp_path):
    result = extract_file(_scanned_pdf(tmp_path / "scan.pdf"),
                          ExtractOptions(languages=("es",), cache_dir=tmp_path / "cache"))
    assert result.meta["ocr_languages"] == "spa"
    assert "Street lighting" in _text(result)
    assert ocr.tesseract_languages(("fr", "ar")) == "fra+ara"
    assert ocr.tesseract_languages(("pt-BR",)) == "por"
    assert ocr.tesseract_languages(("zz",)) == "eng+spa"


def test_real_scan_with_ocr(tmp_path):
    """pdf.js's damaged Canon scan: OCR runs on the image page (only a stray label is text)."""
    result = extract_file(Path(__file__).resolve().parents[1].parent / "shared" / "realfiles" / "pdfjs" /
                          "scan-bad.pdf", ExtractOptions(cache_dir=tmp_path / "cache"))
    assert result.meta["ocr_pages"] == 1 and result.blocks


def test_missing_tesseract_or_ocr_off_is_reported(tmp_path, monkeypatch):
    scan = _scanned_pdf(tmp_path / "scan.pdf")
    with pytest.raises(ExtractionError, match="OCR is turned off"):
        extract_file(scan, ExtractOptions(ocr=False))
    monkeypatch.setattr(ocr, "available", lambda: False)
    with pytest.raises(ExtractionError, match="^no usable text; install tesseract-ocr to OCR scanned pages$"):
        extract_file(scan, ExtractOptions(cache_dir=tmp_path / "cache"))

"""Every PDF of ../shared/realfiles, file by file: indexed with clean text, or refused for the right reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pioc_search.ingest.extract import ExtractionError, ExtractOptions, extract_file
from pioc_search.ingest.extract.quality import text_problem

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "realfiles"
PDFS = sorted(REAL.rglob("*.pdf"))

ENCRYPTED = "^password-protected PDF: a password is needed to open it$"
REFUSED = {  # file -> the reason class it must be refused with
    "bug1782186.pdf": ENCRYPTED,
    "print_protection.pdf": ENCRYPTED,
    "libreoffice-writer-password.pdf": ENCRYPTED,
    "testUnicodePassword.pdf": ENCRYPTED,
    "REDHAT-1531897-0.pdf": "^corrupt PDF: ",  # damaged beyond repair for every engine
    "PDFBOX-3148-2-fuzzed.pdf": "^no extractable text in PDF",  # fuzzed: no text and no image left
    "issue21436.pdf": "^no extractable text in PDF",
    "operator_list_cycle.pdf": "^no extractable text in PDF",
    "ThuluthFeatures.pdf": "^no usable text in PDF, even after OCR",  # glyphs without Unicode mapping
}
CONTENT = {  # file -> text that must be found (after NFKC)
    "XiaoBiaoSong.pdf": "关于红军作战的原则",  # Chinese, non-embedded font
    "90ms_rksj_h_sample.pdf": "日本語テスト",  # Shift-JIS CMap
    "copy_paste_ligatures.pdf": "ffiffl",  # ligature glyphs as plain letters
    "tracemonkey.pdf": "efficient",
    "testPDF_bad_page_303226.pdf": "chemical preparation after it is in the",  # page 12, which pypdf cannot read
    "Brotli-Prototype-FileA.pdf": "HALF-ROUND GUTTER",  # /BrotliDecode streams: PDFium cannot, pypdf can
    "testPDF_protected.pdf": "Speech by Andrew G Haldane",  # RC4, owner-password only: opens without one
    "helloworld-bad.pdf": "Hello, world!",  # broken xref
    "GeoTopo-komprimiert.pdf": "Topologie",
    "habibi.pdf": "habibi",
    "Influenza_Summary_IRA_HA_interface_05_16_2017.pdf": "human-animal interface",
}


@pytest.fixture(scope="module")
def options(tmp_path_factory) -> ExtractOptions:
    return ExtractOptions(cache_dir=tmp_path_factory.mktemp("ocr-cache"))


def test_realfiles_present():
    assert len(PDFS) >= 40, f"expected the real PDFs under {REAL}"


@pytest.mark.parametrize("path", PDFS, ids=lambda p: p.name)
def test_real_pdf(path: Path, options: ExtractOptions):
    if path.name in REFUSED:
        with pytest.raises(ExtractionError, match=REFUSED[path.name]):
            extract_file(path, options)
        return
    result = extract_file(path, options)
    assert result.blocks and result.meta["pages"] >= 1
    for block in result.blocks:
        assert text_problem(block.text) is None, (block.page, block.text[:80])
        assert block.page and 1 <= block.page <= result.meta["pages"]
        assert not re.search("[\ufb00-\ufb06\ufffd\ufffe]", block.text)  # no ligature or replacement chars
    if path.name in CONTENT:
        text = " ".join(" ".join(b.text for b in result.blocks).split())
        assert CONTENT[path.name] in text


def test_running_page_numbers_dropped():
    """pdfTeX lorem ipsum with a page number at the foot of each page: no block is a bare number."""
    result = extract_file(REAL / "pypdf" / "pdflatex-4-pages.pdf", ExtractOptions(ocr=False))
    assert sorted({b.page for b in result.blocks}) == [1, 2, 3, 4]
    assert not any(re.fullmatch(r"\s*\d+\s*", b.text) for b in result.blocks)
    assert not any(re.search(r"\s\d$", b.text) for b in result.blocks)


def test_ocr_off_reports_scanned_page_instead_of_dropping_it():
    """With OCR off, the RICOH scan still has its invisible text layer; a Thuluth page of unmapped
    glyphs is refused with the reason, never indexed as junk."""
    with pytest.raises(ExtractionError, match="OCR is turned off"):
        extract_file(REAL / "pdfjs" / "ThuluthFeatures.pdf", ExtractOptions(ocr=False))
    result = extract_file(REAL / "pdfjs" / "issue5747.pdf", ExtractOptions(ocr=False))
    assert "Lorem ipsum dolor sit amet" in " ".join(b.text for b in result.blocks)

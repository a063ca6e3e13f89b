"""All of ../shared/realfiles (62 real-world files: encrypted, damaged, fuzzed, scanned, CJK/Arabic,
ligatures, odd DOCX and HTML, real captions) through the real pipeline, with OCR on, built once.

EXPECTED says, file by file, what a mature product does with each (read from SOURCES.md): index it,
or report it as encrypted, damaged, without text even after OCR, or unsupported. Where SOURCES.md
leaves the honest outcome open (a fuzzed file may or may not keep readable pages), a set lists
the acceptable ones.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

from conftest import ROOT, BuiltIndex
from pioc_search.stores.local import store
from pioc_search.admin import ReportOut, report_dict
from pioc_search.embedders import Embedder
from pioc_search.ingest.extract import ExtractOptions
from pioc_search.ingest.pipeline import build_index, failure_kind
from pioc_search.search import Searcher
from pioc_search.stores.local import LocalStore

REALFILES = ROOT.parent / "shared" / "realfiles"
INDEXED, ENCRYPTED, DAMAGED, NO_TEXT = "indexed", "encrypted", "damaged", "no text"

EXPECTED: dict[str, str | set[str]] = {
    "SOURCES.md": INDEXED,
    "docx/blk-containing-table.docx": NO_TEXT,  # its tables hold only empty cells
    "docx/sty-having-no-styles-part.docx": NO_TEXT,  # one empty paragraph
    "pdfjs/90ms_rksj_h_sample.pdf": INDEXED,  # Shift-JIS CMap: Japanese text
    "pdfjs/Brotli-Prototype-FileA.pdf": {INDEXED, DAMAGED, NO_TEXT},  # Brotli streams: what can be decoded
    "pdfjs/PDFBOX-3148-2-fuzzed.pdf": {INDEXED, DAMAGED, NO_TEXT},  # fuzzed: no text layer, no images
    "pdfjs/REDHAT-1531897-0.pdf": {DAMAGED, NO_TEXT},
    "pdfjs/ThuluthFeatures.pdf": {INDEXED, NO_TEXT},  # calligraphic glyphs fail the gate; OCR cannot read Thuluth
    "pdfjs/XiaoBiaoSong.pdf": INDEXED,
    "pdfjs/bug1782186.pdf": ENCRYPTED,
    "pdfjs/bug2013793.pdf": INDEXED,
    "pdfjs/copy_paste_ligatures.pdf": INDEXED,
    "pdfjs/freeculture.pdf": INDEXED,
    "pdfjs/helloworld-bad.pdf": INDEXED,  # broken xref: reconstructed
    "pdfjs/issue14847.pdf": INDEXED,
    "pdfjs/issue19971.pdf": INDEXED,
    "pdfjs/issue21436.pdf": {INDEXED, NO_TEXT},  # a 450-byte file whose one page draws no text
    "pdfjs/issue5747.pdf": INDEXED,  # scan with an invisible text layer
    "pdfjs/issue9418.pdf": INDEXED,
    "pdfjs/operator_list_cycle.pdf": {DAMAGED, NO_TEXT},
    "pdfjs/pdkids.pdf": INDEXED,
    "pdfjs/poppler-67295-0.pdf": {INDEXED, DAMAGED, NO_TEXT},  # fuzzed page count; the page may still read
    "pdfjs/pr12564.pdf": INDEXED,
    "pdfjs/print_protection.pdf": ENCRYPTED,
    "pdfjs/scan-bad.pdf": {INDEXED, NO_TEXT, DAMAGED},  # image only: OCR decides
    "pdfjs/tracemonkey.pdf": INDEXED,
    "pdfjs/xfa_filled_imm1344e.pdf": {INDEXED, NO_TEXT},  # content in XFA; the page only says "please wait"
    "pypdf/GeoTopo-komprimiert.pdf": INDEXED,
    "pypdf/habibi-oneline-cmap.pdf": INDEXED,
    "pypdf/habibi.pdf": INDEXED,
    "pypdf/libreoffice-writer-password.pdf": ENCRYPTED,
    "pypdf/mistitled_outlines_example.pdf": INDEXED,
    "pypdf/pdflatex-4-pages.pdf": INDEXED,
    "pypdf/pdflatex-outline.pdf": INDEXED,
    "pypdf/with-attachment.pdf": INDEXED,
    "tika/big-preamble.html": INDEXED,
    "tika/footnotes.docx": INDEXED,
    "tika/testAltChunkHTML.docx": INDEXED,  # body in an embedded HTML part
    "tika/testBoilerplateMissingSpace.html": INDEXED,
    "tika/testExtraSpaces.pdf": INDEXED,
    "tika/testJournalParser.pdf": INDEXED,
    "tika/testMicrosoftIRMServices.pdf": {INDEXED, ENCRYPTED},  # rights-managed: only its wrapper page is readable
    "tika/testOptionalHyphen.pdf": INDEXED,
    "tika/testPDFTwoTextBoxes.pdf": INDEXED,
    "tika/testPDF_XFA_govdocs1_258578.pdf": INDEXED,
    "tika/testPDF_bad_page_303226.pdf": INDEXED,  # PDFium reads the page pypdf fails on
    "tika/testPDF_incrementalUpdates.pdf": INDEXED,
    "tika/testPDF_protected.pdf": INDEXED,  # owner password only: opens without one
    "tika/testUnicodePassword.pdf": ENCRYPTED,
    "tika/testWORD_numbered_list.docx": INDEXED,
    "tika/testWORD_protected_passtika.docx": ENCRYPTED,
    "tika/testWORD_tableInRunInsideParagraph.docx": INDEXED,
    "tika/testWORD_truncated.docx": DAMAGED,
    "tika/test_ignore_IBM420.html": INDEXED,
    "tika/tika434.html": INDEXED,
    "trafilatura/chineselyrics4u.com.zhineng.html": INDEXED,
    "trafilatura/en.wikipedia.org.tsne.html": INDEXED,
    "trafilatura/pcgamer.com.skyrim.html": INDEXED,
    "trafilatura/stackoverflow.com.rust.html": INDEXED,
    "webvtt/captions_with_bom.vtt": INDEXED,
    "webvtt/invalid_timeframe.srt": {INDEXED, DAMAGED},  # the cues that parse, or a clear reason
    "webvtt/netflix_chicas_del_cable.vtt": INDEXED,
    "who/Influenza_Summary_IRA_HA_interface_05_16_2017.pdf": INDEXED,
}

KNOWN_CONTENT = [  # (question, the file that answers it)
    ("trace-based just-in-time compilation of JavaScript loops", "pdfjs/tracemonkey.pdf"),
    ("avian influenza A(H7N9) human infections reported to WHO", "who/Influenza_Summary_IRA_HA_interface_05_16_2017.pdf"),
    ("t-distributed stochastic neighbor embedding perplexity", "trafilatura/en.wikipedia.org.tsne.html"),
    ("copyright, piracy and the law of creativity", "pdfjs/freeculture.pdf"),
]
LIGATURES = re.compile("[\ufb00-\ufb06]")


@pytest.fixture(scope="module")
def realfiles(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> BuiltIndex:
    if shutil.which("tesseract") is None:
        if os.environ.get("CI"):
            pytest.fail("tesseract is not installed (apt-get install tesseract-ocr)")
        pytest.skip("tesseract is not installed")
    root = tmp_path_factory.mktemp("realfiles-index")
    report = build_index(REALFILES, LocalStore(root), embedder, extract_options=ExtractOptions(ocr=True))
    return BuiltIndex(root, report)


def outcomes(realfiles: BuiltIndex) -> dict[str, str]:
    report = realfiles.report
    found = {path: INDEXED for path in report.added + report.changed}
    found.update({path: failure_kind(reason) for path, reason in report.failed})
    return found


def test_every_file_is_accounted_for(realfiles: BuiltIndex) -> None:
    assert sorted(outcomes(realfiles)) == sorted(EXPECTED), "each file is either indexed or reported"
    assert realfiles.report.refused is None and realfiles.report.version is not None


def test_each_file_has_its_expected_outcome(realfiles: BuiltIndex) -> None:
    found, reasons = outcomes(realfiles), dict(realfiles.report.failed)
    wrong = []
    for path, expected in sorted(EXPECTED.items()):
        allowed = expected if isinstance(expected, set) else {expected}
        if found.get(path) not in allowed:
            wrong.append(f"{path}: {found.get(path)} (expected {' or '.join(sorted(allowed))}) {reasons.get(path, '')}")
    assert not wrong, "\n".join(wrong)


def test_no_indexed_passage_fails_the_quality_gate(realfiles: BuiltIndex) -> None:
    from pioc_search.ingest.extract.quality import text_problem

    version = store.LocalVersion(store.current_version(realfiles.root))
    bad = []
    for doc in version.documents.values():
        for row in version.document_passages(doc.id):
            problem = text_problem(row["text"])
            if problem:
                bad.append(f"{doc.path} p.{row['page_start']}: {problem}: {row['text'][:80]!r}")
    assert not bad, f"{len(bad)} passages:\n" + "\n".join(bad[:20])


@pytest.mark.parametrize(("question", "path"), KNOWN_CONTENT)
def test_known_content_is_found(realfiles: BuiltIndex, embedder: Embedder, question: str, path: str) -> None:
    searcher = Searcher(store.LocalVersion(store.current_version(realfiles.root)), embedder)
    hits = searcher.search(question, k=5).hits
    assert path in [hit.document.path for hit in hits], [hit.document.path for hit in hits]


def test_ligature_words_match_lexically(realfiles: BuiltIndex, embedder: Embedder) -> None:
    version = store.LocalVersion(store.current_version(realfiles.root))
    searcher = Searcher(version, embedder)
    hits = searcher.search("efficient difficult", k=10, mode="lexical").hits
    assert "pdfjs/tracemonkey.pdf" in [hit.document.path for hit in hits], "the fi/ffi ligatures are plain letters"
    text = " ".join(row["text"] for doc in version.documents.values() for row in version.document_passages(doc.id))
    assert not LIGATURES.search(text), "no ligature glyph is left in any passage"


def test_the_report_lists_partial_losses(realfiles: BuiltIndex) -> None:
    report = realfiles.report
    partial = {path for path, _ in report.warnings}
    assert "tika/test_ignore_IBM420.html" in partial, report.warnings  # undecodable characters dropped, and said
    assert all(path in report.added for path in partial), "partly indexed files are still indexed"
    out = ReportOut(**report_dict(report))  # what /admin/jobs/{id} shows
    assert {w.path for w in out.warnings} == partial

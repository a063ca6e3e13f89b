"""Bad files never stop a build: each is reported with a reason and the rest is indexed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfWriter
from reportlab.pdfgen import canvas
from typer.testing import CliRunner

from pioc_search.stores.local import store
from pioc_search.cli import app
from pioc_search.embedders import Embedder
from pioc_search.ingest.pipeline import build_index
from pioc_search.stores.local import LocalStore


def _pdf(path: Path, text: str) -> None:
    pdf = canvas.Canvas(str(path))
    for page in range(2):
        pdf.drawString(72, 720, f"{text} Page {page + 1} discusses lighting in Cali.")
        pdf.showPage()
    pdf.save()


@pytest.fixture
def messy_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.md").write_text("# Mediation\n\nOutreach workers in Oakland mediated 140 disputes in 2021.\n")
    _pdf(corpus / "good.pdf", "A good report.")
    (corpus / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>> garbage without xref\n")
    _pdf(tmp_path / "plain.pdf", "Secret.")
    writer = PdfWriter(clone_from=tmp_path / "plain.pdf")
    writer.encrypt("s3cret")
    writer.write(corpus / "locked.pdf")
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "slides.pptx").write_bytes(b"PK\x03\x04 not really")
    (corpus / "latin1.txt").write_bytes("Reuni\xf3n en Bogot\xe1 sobre violencia.".encode("latin-1"))
    return corpus


def test_bad_files_are_reported_and_the_rest_indexed(messy_corpus: Path, tmp_path: Path, embedder: Embedder) -> None:
    report = build_index(messy_corpus, LocalStore(tmp_path / "idx"), embedder)
    reasons = dict(report.failed)
    assert set(reasons) == {"corrupt.pdf", "locked.pdf", "empty.txt", "slides.pptx"}
    assert "corrupt" in reasons["corrupt.pdf"].lower()
    assert "password" in reasons["locked.pdf"].lower()
    assert "empty" in reasons["empty.txt"].lower()
    assert "unsupported" in reasons["slides.pptx"].lower()
    assert ("latin1.txt", "decoded as cp1252 (not UTF-8)") in report.warnings  # indexed, with a warning
    version = store.LocalVersion(store.current_version(tmp_path / "idx"))
    assert sorted(d.path for d in version.documents.values()) == ["good.md", "good.pdf", "latin1.txt"]


def test_cli_exits_zero_with_warnings_and_nonzero_when_strict(messy_corpus: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", str(messy_corpus), "--index-dir", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    assert "4 warning(s)" in result.output
    assert "locked.pdf" in result.output and "password" in result.output.lower()
    strict = runner.invoke(app, ["ingest", str(messy_corpus), "--index-dir", str(tmp_path / "idx2"), "--strict"])
    assert strict.exit_code == 1

"""PDF layout rules on PDFs drawn here with reportlab: running heads, margin line numbers, table rows."""

from __future__ import annotations

from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from pioc_search.ingest.extract import ExtractOptions, extract_file

BODY = ("Cities that shared one plan across police, health and youth services saw homicides fall faster "
        "than cities where each service worked alone.")
OPTIONS = ExtractOptions(ocr=False)


def _page(canvas: Canvas, lines: list[str], *, x: float = 72, top: float = 700, size: float = 11) -> None:
    canvas.setFont("Helvetica", size)
    for i, line in enumerate(lines):
        canvas.drawString(x, top - 15 * i, line)


def _text(result) -> str:
    return "\n".join(b.text for b in result.blocks)


def test_chapter_running_heads_with_page_numbers_are_not_sections(tmp_path: Path):
    path = tmp_path / "book.pdf"
    canvas = Canvas(str(path), pagesize=A4)
    chapters = ["Chapter One: Origins", "Chapter One: Origins", "Chapter Two: Results", "Chapter Two: Results"]
    for number, head in enumerate(chapters, start=11):
        canvas.setFont("Helvetica-Bold", 14)
        canvas.drawString(72, 800, f"{head} {number}")
        city = ["Bogotá", "Cali", "Recife", "Durban"][number - 11]
        _page(canvas, [f"In {city}, c" + BODY[1:60], f"{BODY[60:-1]}, said the mayor of {city}."])
        canvas.showPage()
    canvas.save()
    result = extract_file(path, OPTIONS)
    assert len(result.blocks) >= 4
    assert not any("Chapter" in b.section for b in result.blocks)
    assert "Chapter" not in _text(result)


def test_margin_line_numbers_dropped(tmp_path: Path):
    path = tmp_path / "numbered.pdf"
    canvas = Canvas(str(path), pagesize=A4)
    words = BODY.split()
    lines = [" ".join(words[i:i + 4]) for i in range(0, len(words), 4)]
    canvas.setFont("Helvetica", 8)
    for i in range(len(lines)):
        canvas.drawString(30, 700 - 15 * i, str(i + 1))
    _page(canvas, lines)
    canvas.save()
    text = _text(extract_file(path, OPTIONS))
    assert " ".join(text.split()) == BODY


def test_table_cells_joined_with_bar_only_across_a_real_gap(tmp_path: Path):
    path = tmp_path / "table.pdf"
    canvas = Canvas(str(path), pagesize=A4)
    canvas.setFont("Helvetica", 11)
    rows = [("Bogotá", "1,204"), ("Cali", "987"), ("Medellín", "654")]
    canvas.drawString(72, 760, "Homicides by city, 2023, reported by each member city's observatory.")
    for i, (city, count) in enumerate(rows):
        canvas.drawString(72, 730 - 15 * i, city)
        canvas.drawString(300, 730 - 15 * i, count)
    canvas.drawString(72, 640, "Night-time")  # one phrase drawn in two pieces, no gap
    canvas.drawString(72 + canvas.stringWidth("Night-time ", "Helvetica", 11), 640, "assaults fell by a fifth.")
    canvas.save()
    text = _text(extract_file(path, OPTIONS))
    assert "Bogotá | 1,204" in text and "Cali | 987" in text
    assert "Night-time assaults fell by a fifth." in text and "Night-time |" not in text


def test_running_line_filter_never_empties_pages(tmp_path: Path):
    """Four pages of the same short notice: repeated, but it is the pages' whole content."""
    path = tmp_path / "notices.pdf"
    canvas = Canvas(str(path), pagesize=A4)
    for _ in range(4):
        _page(canvas, ["Sign here to confirm your attendance at the annual meeting"])
        canvas.showPage()
    canvas.save()
    result = extract_file(path, OPTIONS)
    assert sorted({b.page for b in result.blocks}) == [1, 2, 3, 4]
    assert "confirm your attendance" in result.blocks[0].text

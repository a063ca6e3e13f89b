"""Extractors on real files generated here: PDF (reportlab), DOCX (python-docx), HTML, Markdown, VTT/SRT."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

from pioc_search.ingest.extract import ExtractionError, ExtractOptions, extract_file
from pioc_search.models import Block

# --------------------------------------------------------------------------------------------- PDF

PAGES = [
    ("1. Introduction", [
        "The network brings together cities that have promised to halve urban violence by 2030. This "
        "report collects what member cities learned while testing practical measures in their streets.",
        "Each chapter describes one measure, the evidence behind it and the conditions under which it "
        "worked, so that other cities can judge whether it fits their own situation.",
    ]),
    ("2. Findings", [
        "Across eleven cities, homicides fell fastest where police, health services and youth workers "
        "shared one plan and met every week to review the places and people most at risk.",
        "Our work depends on the communi-<br/>ty groups who know every street corner and who are trusted "
        "by the young people that public services struggle to reach.",
    ]),
    ("3. Street Lighting", [
        "Cali replaced broken lamps in three neighbourhoods after residents mapped the places they feared "
        "most. Night-time assaults in the treated streets fell by a fifth within a year.",
        "Lighting worked best when it was combined with outreach and when maintenance was funded from the "
        "start, because dark streets returned quickly once lamps failed.",
    ]),
    ("4. Next Steps", [
        "Member cities will publish their data every year in a common format so that progress towards the "
        "2030 goal can be checked by residents, councils and funders alike.",
    ]),
]


def _make_pdf(path: Path, *, title: str | None = "Safer Streets", pages=PAGES, footer: str = "Page {n} of {total}",
              header: str = "PiOC Network Annual Report 2024") -> Path:
    styles = getSampleStyleSheet()

    def running(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 9)
        if header:
            canvas.drawString(72, A4[1] - 40, header)
        canvas.drawString(72, 30, footer.format(n=doc.page, total=len(pages)))
        canvas.restoreState()

    story = [Paragraph("Safer Streets in Practice", styles["Title"])]
    for i, (heading, paragraphs) in enumerate(pages):
        if i:
            story.append(PageBreak())
        story.append(Paragraph(heading, styles["Heading2"]))
        story += [Paragraph(p, styles["BodyText"]) for p in paragraphs]
    kwargs = {"title": title} if title else {}
    SimpleDocTemplate(str(path), pagesize=A4, author="Ana Lopez", **kwargs).build(
        story, onFirstPage=running, onLaterPages=running)
    writer = PdfWriter(clone_from=path)
    writer.add_metadata({"/CreationDate": "D:20240315093000+01'00'"})
    writer.write(path)
    return path


def _texts(blocks: list[Block]) -> str:
    return "\n".join(b.text for b in blocks)


def test_pdf_pages_sections_and_metadata(tmp_path):
    result = extract_file(_make_pdf(tmp_path / "report.pdf"))
    assert result.meta == {"title": "Safer Streets", "author": "Ana Lopez", "date": "2024-03-15", "pages": 4,
                           "engine": "pdfium"}
    by_start = {b.text[:30]: b for b in result.blocks}
    cali = next(b for b in result.blocks if b.text.startswith("Cali replaced"))
    assert cali.page == 3 and cali.section == "3. Street Lighting"
    assert by_start["Across eleven cities, homicide"].page == 2
    assert by_start["Across eleven cities, homicide"].section == "2. Findings"
    assert next(b for b in result.blocks if b.text.startswith("Member cities")).page == 4
    # one block per paragraph, hard line breaks unwrapped, headings not repeated as body text
    assert len([b for b in result.blocks if b.page == 3]) == 2
    assert all("\n" not in b.text for b in result.blocks)
    assert "Street Lighting" not in _texts(result.blocks)


def test_pdf_drops_running_headers_footers_and_joins_hyphens(tmp_path):
    text = _texts(extract_file(_make_pdf(tmp_path / "report.pdf")).blocks)
    assert "Annual Report 2024" not in text
    assert "Page " not in text and " of 4" not in text
    assert "the community groups who know" in text
    assert "communi-" not in text and "communi ty" not in text


def test_pdf_bare_page_numbers_dropped_even_in_short_documents(tmp_path):
    path = _make_pdf(tmp_path / "short.pdf", pages=PAGES[:2], footer="{n}", header="")
    blocks = extract_file(path).blocks
    assert [b.page for b in blocks] == [1, 1, 2, 2]
    assert not any(b.text.strip().isdigit() for b in blocks)


def test_pdf_title_falls_back_to_first_heading(tmp_path):
    result = extract_file(_make_pdf(tmp_path / "untitled.pdf", title=None))
    assert result.meta["title"] == "Safer Streets in Practice"


def test_pdf_page_that_fails_is_recovered_or_reported(tmp_path, monkeypatch):
    """A page PDFium cannot read is read by pdfminer instead; one no engine can read is reported."""
    import pdfminer.high_level

    from pioc_search.ingest.extract import pdf

    original = pdf._pdfium_lines

    def flaky(page):
        lines = original(page)
        if any("Cali" in line.text for line in lines):
            raise ValueError("broken content stream")
        return lines

    monkeypatch.setattr(pdf, "_pdfium_lines", flaky)
    result = extract_file(_make_pdf(tmp_path / "report.pdf"))
    assert sorted({b.page for b in result.blocks}) == [1, 2, 3, 4] and not result.problems
    assert "Cali replaced broken lamps" in _texts(result.blocks)

    def no_pdfminer(*args, **kwargs):
        raise ValueError("pdfminer gave up")

    monkeypatch.setattr(pdfminer.high_level, "extract_pages", no_pdfminer)
    result = extract_file(_make_pdf(tmp_path / "report2.pdf"), ExtractOptions(ocr=False))
    assert sorted({b.page for b in result.blocks}) == [1, 2, 4]
    assert result.problems == ["page 3: could not be read (broken content stream)"]


def test_pdf_password_protected_and_owner_only(tmp_path):
    source = _make_pdf(tmp_path / "report.pdf")
    locked, owner_only = tmp_path / "locked.pdf", tmp_path / "owner.pdf"
    for path, user in ((locked, "secret"), (owner_only, "")):
        writer = PdfWriter(clone_from=source)
        writer.encrypt(user_password=user, owner_password="owner", algorithm="AES-256")
        writer.write(path)
    with pytest.raises(ExtractionError, match="^password-protected PDF: a password is needed to open it$"):
        extract_file(locked)
    assert "community" in _texts(extract_file(owner_only).blocks)


def test_pdf_corrupt(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\nthis is not really a PDF at all\n" * 20)
    with pytest.raises(ExtractionError, match="^corrupt PDF: .+"):
        extract_file(path)


# -------------------------------------------------------------------------------------------- HTML

HTML = """<!DOCTYPE html>
<html lang="es-CO">
<head>
<meta charset="utf-8">
<title>Lighting the way in Cali | PiOC Network</title>
<meta name="author" content="Ana Lopez">
<meta name="description" content="How Cali used street lighting to cut night-time violence.">
<meta property="article:published_time" content="2024-03-15">
</head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/about">About the network</a></li>
<li><a href="/blog">Blog archive menu</a></li></ul></nav>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience. Accept all cookies.</div>
<main><article>
<h1>Lighting the way in Cali</h1>
<p>In 2023 the city of Cali began a programme to light the darkest streets in three neighbourhoods
where most night-time assaults happened. Residents walked the streets with engineers and marked the
places they feared most.</p>
<h2>What changed</h2>
<p>Within a year, reported assaults after dark fell by a fifth in the treated streets, while nearby
streets saw no change. Shopkeepers stayed open later and parents let children walk home from school.</p>
<p>The city paired the lamps with youth outreach workers who knew the area, which the evaluators
think explains part of the effect.</p>
<h2>Lessons for other cities</h2>
<p>Involve residents in choosing locations, maintain the lamps, and measure before and after so that
the results can be trusted by councils and funders alike.</p>
</article></main>
<aside><h3>Related posts</h3><p>Sidebar teaser: more stories about prevention in Bogotá and Medellín.</p></aside>
<footer><p>Copyright 2024 PiOC Network. All rights reserved. Footer contact details.</p></footer>
</body></html>
"""


def test_html_main_text_headings_and_metadata(tmp_path):
    path = tmp_path / "cali.html"
    path.write_text(HTML, encoding="utf-8")
    result = extract_file(path)
    text = _texts(result.blocks)
    assert "Residents walked the streets with engineers" in text
    assert "parents let children walk home from school" in text
    for boilerplate in ("Blog archive menu", "About the network", "cookies", "Sidebar teaser", "Copyright",
                        "Footer contact"):
        assert boilerplate not in text
    assert result.meta["title"] == "Lighting the way in Cali"
    assert result.meta["date"] == "2024-03-15"
    assert result.meta["author"] == "Ana Lopez"
    assert result.meta["language"] == "es"
    assert result.meta["description"].startswith("How Cali used street lighting")
    sections = {b.text[:20]: b.section for b in result.blocks}
    assert sections["Within a year, repor"] == "What changed"
    assert sections["Involve residents in"] == "Lessons for other cities"
    assert all("\n" not in b.text for b in result.blocks)


# -------------------------------------------------------------------------------------------- DOCX

def test_docx_headings_tables_and_core_properties(tmp_path):
    import datetime as dt

    d = docx.Document()
    d.core_properties.title = "Bogotá City Statement"
    d.core_properties.author = "Mayor's Office"
    d.core_properties.created = dt.datetime(2023, 11, 2, 10, 0)
    d.add_heading("Commitments", level=1)
    d.add_paragraph("Bogotá commits to halving homicides by 2030.")
    d.add_heading("Policing", level=2)
    d.add_paragraph("Focused deterrence will be expanded to four more districts.")
    d.add_heading("Health", level=2)
    d.add_paragraph("Hospital-based violence interruption will reach every trauma centre.")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "District", "Homicides 2022"
    table.cell(1, 0).text, table.cell(1, 1).text = "Kennedy", "212"
    d.add_heading("Funding", level=1)
    d.add_paragraph("The council approved a ten-year budget.")
    path = tmp_path / "statement.docx"
    d.save(path)

    result = extract_file(path)
    assert result.meta == {"title": "Bogotá City Statement", "author": "Mayor's Office", "date": "2023-11-02"}
    sections = {b.text: b.section for b in result.blocks}
    assert sections["Bogotá commits to halving homicides by 2030."] == "Commitments"
    assert sections["Focused deterrence will be expanded to four more districts."] == "Commitments > Policing"
    assert sections["District | Homicides 2022\nKennedy | 212"] == "Commitments > Health"
    assert sections["The council approved a ten-year budget."] == "Funding"
    assert "Policing" not in sections  # headings are sections, not body blocks


def test_docx_corrupt(tmp_path):
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 definitely not a complete zip archive")
    with pytest.raises(ExtractionError, match="^damaged: .+"):
        extract_file(path)


# ---------------------------------------------------------------------------------- Markdown / TXT

MARKDOWN = """\ufeff---
title: Violence Interruption in Medellín
date: 2024-02-01
doc_type: blog
cities: [Medellín, Cali]
themes: violence interruption
language: es
source_url: https://example.org/medellin
reviewed_by: Ana
---

# Violence Interruption in Medellín

Interrupters are **trusted** residents who step in before a dispute turns violent.
They work at night, see [the guide](https://example.org/guide) for details.

## How it works

- Mediate disputes early
- Follow up with *families*

### Results

Shootings fell in 2023.
"""


def test_markdown_front_matter_sections_and_inline_syntax(tmp_path):
    path = tmp_path / "medellin.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    result = extract_file(path)
    assert result.meta == {
        "title": "Violence Interruption in Medellín", "date": "2024-02-01", "doc_type": "blog",
        "cities": ["Medellín", "Cali"], "themes": ["violence interruption"], "language": "es",
        "source_url": "https://example.org/medellin", "reviewed_by": "Ana",
    }
    assert [(b.section, b.text) for b in result.blocks] == [
        ("", "Interrupters are trusted residents who step in before a dispute turns violent. "
             "They work at night, see the guide for details."),
        ("How it works", "Mediate disputes early\nFollow up with families"),
        ("How it works > Results", "Shootings fell in 2023."),
    ]


def test_markdown_title_from_first_heading_and_plain_text(tmp_path):
    md = tmp_path / "note.md"
    md.write_text("# Night Economy Notes\n\nBars closing at 1am reduced fights.\n", encoding="utf-8")
    assert extract_file(md).meta == {"title": "Night Economy Notes"}
    txt = tmp_path / "note.txt"
    txt.write_text("First paragraph\nwrapped here.\n\nSecond *paragraph*.\n", encoding="utf-8")
    assert [b.text for b in extract_file(txt).blocks] == ["First paragraph wrapped here.", "Second *paragraph*."]


def test_text_not_utf8_is_decoded_and_reported(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Medellín report on street lighting.".encode("latin-1"))
    result = extract_file(path)
    assert [b.text for b in result.blocks] == ["Medellín report on street lighting."]
    assert result.problems == ["decoded as cp1252 (not UTF-8)"]


def test_binary_data_in_a_text_file(tmp_path):
    path = tmp_path / "program.txt"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" * 40)
    with pytest.raises(ExtractionError, match=r"^undecodable: binary data"):
        extract_file(path)


def test_markdown_invalid_front_matter(tmp_path):
    path = tmp_path / "bad.md"
    path.write_text("---\ntitle: [unclosed\n---\n\nBody text.\n", encoding="utf-8")
    with pytest.raises(ExtractionError, match="^invalid YAML front matter"):
        extract_file(path)


# ------------------------------------------------------------------------------------------ Captions

VTT = """WEBVTT

NOTE Title: Safer Streets Webinar

00:00:01.000 --> 00:00:04.000
<v Ana Lopez>Hello everyone, welcome to the webinar.

00:00:04.000 --> 00:00:08.000
<v Ana Lopez>Today we talk about <b>street lighting</b> in Cali.

00:03:12.000 --> 00:03:16.000
<v Mark Chen>Thanks Ana. The data is striking.

00:03:16.000 --> 00:03:20.000
<v Mark Chen>Assaults fell by a fifth.
"""

SRT = """1
00:00:01,000 --> 00:00:04,000
Ana: Hello and welcome.

2
00:00:04,500 --> 00:00:06,000
It is good to see you all.

3
00:00:06,000 --> 00:00:09,000
<i>Bob:</i> Thanks Ana.
Glad to be here.
"""


def test_vtt_speaker_turns_and_timestamps(tmp_path):
    path = tmp_path / "webinar.vtt"
    path.write_text(VTT, encoding="utf-8")
    result = extract_file(path)
    assert result.meta == {"title": "Safer Streets Webinar"}
    assert [(b.section, b.text) for b in result.blocks] == [
        ("00:00:01 Ana Lopez", "Ana Lopez: Hello everyone, welcome to the webinar. Today we talk about street "
                               "lighting in Cali."),
        ("00:03:12 Mark Chen", "Mark Chen: Thanks Ana. The data is striking. Assaults fell by a fifth."),
    ]


def test_vtt_long_turn_is_split_at_about_a_minute(tmp_path):
    cues = "".join(f"00:{m:02d}:{s:02d}.000 --> 00:{m:02d}:{s + 9:02d}.000\n<v Ana>Sentence number {m * 6 + s // 10}.\n\n"
                   for m in range(3) for s in range(0, 60, 10))
    path = tmp_path / "long.vtt"
    path.write_text("WEBVTT\n\n" + cues, encoding="utf-8")
    sections = [b.section for b in extract_file(path).blocks]
    assert sections == ["00:00:00 Ana", "00:01:00 Ana", "00:02:00 Ana"]


def test_srt_speaker_prefix_carries_over(tmp_path):
    path = tmp_path / "webinar.srt"
    path.write_text(SRT, encoding="utf-8")
    assert [(b.section, b.text) for b in extract_file(path).blocks] == [
        ("00:00:01 Ana", "Ana: Hello and welcome. It is good to see you all."),
        ("00:00:06 Bob", "Bob: Thanks Ana. Glad to be here."),
    ]


@pytest.mark.parametrize(("name", "content"), [
    ("bad.vtt", "this is not a caption file\n\nat all\n"),
    ("bad.srt", "1\nnot a timestamp\nHello\n"),
])
def test_malformed_captions(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ExtractionError, match="malformed"):
        extract_file(path)


# ---------------------------------------------------------------------------------- generic errors

def test_empty_file_and_unsupported_extension(tmp_path):
    empty = tmp_path / "empty.pdf"
    empty.touch()
    with pytest.raises(ExtractionError, match="^empty file$"):
        extract_file(empty)
    sheet = tmp_path / "budget.xlsx"
    sheet.write_bytes(b"PK\x03\x04")
    with pytest.raises(ExtractionError, match="^unsupported file type '.xlsx'$"):
        extract_file(sheet)


def test_pdf_without_text_layer(tmp_path):
    from reportlab.pdfgen.canvas import Canvas

    path = tmp_path / "scan.pdf"
    canvas = Canvas(str(path))
    canvas.rect(100, 100, 200, 200, fill=1)  # a drawing, no text
    canvas.showPage()
    canvas.save()
    with pytest.raises(ExtractionError, match="no extractable text"):
        extract_file(path)


def test_html_never_fetches_urls(tmp_path, monkeypatch):
    import htmldate.utils
    import trafilatura.downloads

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(htmldate.utils, "fetch_url", no_network)
    monkeypatch.setattr(trafilatura.downloads, "fetch_url", no_network)
    path = tmp_path / "link.html"
    path.write_text("https://example.org/article", encoding="utf-8")
    with pytest.raises(ExtractionError):
        extract_file(path)

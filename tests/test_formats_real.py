"""DOCX, HTML, text and caption extraction on real files from other projects' test corpora
(../shared/realfiles, see SOURCES.md there) and on small odd files written here."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from pioc_search.ingest.extract import ExtractionError, extract_file
from pioc_search.models import Extraction

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "realfiles"

_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]|</?[a-zA-Z][\w:-]*(?:\s[^>]*)?/?>|-->|\bfunction\s*\(")


def _extract(path: Path) -> Extraction:
    result = extract_file(path)
    for block in result.blocks:
        assert not _JUNK.search(block.text) and any(c.isalnum() for c in block.text), (path.name, block.text)
        assert not _JUNK.search(block.section), (path.name, block.section)
    return result


def _text(result: Extraction) -> str:
    return "\n".join(b.text for b in result.blocks)


def _section_of(result: Extraction, phrase: str) -> str:
    return next(b.section for b in result.blocks if phrase in b.text)


# (file, phrases that must be found, {phrase: section}, expected metadata subset)
INDEXED = [
    ("tika/footnotes.docx", ["Eto ochen prostoy text so snoskoy"], {"snoska": "Footnotes"}, {}),
    ("tika/testAltChunkHTML.docx", ["Simple paragraph with a emphasized word.", "Col 1 | Col 2\nROW 1 | ROW 1"],
     {}, {}),
    ("tika/testWORD_numbered_list.docx",
     ["I’m a little text box", "Intervening table | Within cell 1", "Greek numbering with crazy format - alpha"],
     {"Footnote list 2a": "Footnotes"}, {"date": "2015-04-15"}),
    ("tika/testWORD_tableInRunInsideParagraph.docx",
     ["accusam et justo duo | AAAA", "Lorem ipsum dolor sit amet, consetetur sadipscing elitr"], {},
     {"title": "РЕЗЮМЕ"}),
    ("tika/big-preamble.html", ["основано в 1999 году"], {}, {"title": "КОНТИНЕНТ-Недвижимость:"}),
    ("tika/testBoilerplateMissingSpace.html",
     ["of the family Psychrolutidae", "mainland Australia and Tasmania", "in bottom trawling nets"], {},
     {"title": "Blobfish"}),
    ("tika/test_ignore_IBM420.html", ["Hi, Luis, good morning.", "Company: XXXXX Brazil", "Luis Nassif Gggg Agency"],
     {}, {}),
    ("tika/tika434.html", ["Finger Lake Area on Lamoka Lake"], {}, {"title": "Finger Lakes Vacation Rental"}),
    ("trafilatura/chineselyrics4u.com.zhineng.html", ["我还有话想对你说"], {}, {"date": "2011-07-28"}),
    ("trafilatura/en.wikipedia.org.tsne.html",
     ["Machine learning and data mining", "developed by Laurens van der Maaten and Geoffrey Hinton"],
     {"The bandwidth of the Gaussian kernels": "Details"},
     {"title": "T-distributed stochastic neighbor embedding", "language": "en"}),
    ("trafilatura/pcgamer.com.skyrim.html", ["Sarah The Implausible"], {},
     {"title": "An Illusionist in Skyrim: Part 1", "author": "Tom Francis", "date": "2012-08-09"}),
    ("trafilatura/stackoverflow.com.rust.html", ["most loved language for four years in a row"],
     {"it’s hard to argue about the benefits of static types": "Coming from dynamically-typed languages"},
     {"author": "Jake Goulding"}),
    ("webvtt/captions_with_bom.vtt", ["Caption text #1 Caption text #2"], {}, {}),
    ("webvtt/invalid_timeframe.srt", ["Caption text #1", "Caption text #5"], {}, {}),
    ("webvtt/netflix_chicas_del_cable.vtt", ["las mujeres éramos algo así como adornos"], {}, {}),
]

REFUSED = [
    ("tika/testWORD_protected_passtika.docx", "^encrypted: "),
    ("tika/testWORD_truncated.docx", "^damaged: "),
    ("docx/blk-containing-table.docx", "^no extractable text$"),  # its cells (and nested table) are empty
    ("docx/sty-having-no-styles-part.docx", "^no extractable text$"),  # one empty paragraph
]


def test_every_non_pdf_real_file_is_covered():
    files = {str(p.relative_to(REAL)) for p in REAL.rglob("*") if p.is_file() and p.parent != REAL
             and p.suffix.lower() in (".docx", ".html", ".htm", ".txt", ".md", ".vtt", ".srt")}
    assert files == {name for name, *_ in INDEXED} | {name for name, _ in REFUSED}


@pytest.mark.parametrize(("name", "phrases", "sections", "meta"), INDEXED, ids=[i[0] for i in INDEXED])
def test_real_file_indexed_with_its_content(name, phrases, sections, meta):
    result = _extract(REAL / name)
    text = _text(result)
    for phrase in [*phrases, *sections]:
        assert phrase in text, phrase
    for phrase, section in sections.items():
        assert _section_of(result, phrase) == section
    assert result.meta.items() >= meta.items()


@pytest.mark.parametrize(("name", "reason"), REFUSED, ids=[r[0] for r in REFUSED])
def test_real_file_refused_with_its_reason(name, reason):
    with pytest.raises(ExtractionError, match=reason):
        extract_file(REAL / name)


def test_docx_text_box_is_read_once_not_also_from_its_fallback():
    text = _text(_extract(REAL / "tika/testWORD_numbered_list.docx"))
    assert text.count("I’m a little text box") == 1


def test_captions_carry_no_cue_settings_or_tags():
    text = _text(_extract(REAL / "webvtt/netflix_chicas_del_cable.vtt"))
    for junk in ("position:", "align:", "line:", "<i>", "</i>", "-->"):
        assert junk not in text
    assert "WEBVTT" not in _text(_extract(REAL / "webvtt/captions_with_bom.vtt"))


def test_html_of_an_email_is_not_read_as_ebcdic():
    result = _extract(REAL / "tika/test_ignore_IBM420.html")
    assert "I'll send a notice when documentation is ready" in _text(result)
    assert result.problems and "dropped" in result.problems[0]  # the file's binary garbage


# --------------------------------------------------------------------------------- synthetic files

def test_cp1252_text(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes("Café reopened in Medellín; it’s safer now.\n\nSecond paragraph.\n".encode("cp1252"))
    result = _extract(path)
    assert [b.text for b in result.blocks] == ["Café reopened in Medellín; it’s safer now.", "Second paragraph."]
    assert result.problems == ["decoded as cp1252 (not UTF-8)"]


def test_cp866_russian_text(tmp_path):
    path = tmp_path / "otchet.md"
    path.write_bytes("# Отчёт\n\nПрограмма профилактики насилия в городах работает хорошо.\n".encode("cp866"))
    result = _extract(path)
    assert result.meta["title"] == "Отчёт"
    assert _text(result) == "Программа профилактики насилия в городах работает хорошо."
    assert result.problems == ["decoded as cp866 (not UTF-8)"]


def test_utf16_text_with_byte_order_mark(tmp_path):
    path = tmp_path / "wide.txt"
    path.write_bytes("Reunión en Bogotá sobre violencia.".encode("utf-16"))
    result = _extract(path)
    assert _text(result) == "Reunión en Bogotá sobre violencia."
    assert result.problems == ["decoded as UTF-16 (not UTF-8)"]


def test_binary_data_named_txt_is_refused(tmp_path):
    path = tmp_path / "image.txt"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ExtractionError, match="^undecodable: "):
        extract_file(path)


def test_html_text_directly_in_containers_and_line_breaks(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("<html><head><title>Notes</title></head><body><main>Intro text in main.<br>More after"
                    "<p>A paragraph of its own.</p>tail text after it.<div>first<br>second line</div></main>"
                    "</body></html>", encoding="utf-8")
    text = _text(_extract(path))
    for phrase in ("Intro text in main.", "More after", "A paragraph of its own.", "tail text after it.",
                   "first second line"):
        assert phrase in text
    assert "main.More" not in text


def test_html_short_page_with_a_break(tmp_path):
    path = tmp_path / "short.html"
    path.write_bytes(b"<main>text<br>more\x00</main>")
    assert _text(_extract(path)) == "text more"


def test_srt_with_a_cue_that_cannot_be_parsed(tmp_path):
    path = tmp_path / "talk.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:04,000\nGood evening.\n\n"
                    "2\n00:00:05,000 --> soon\nLost line.\n\n"
                    "3\n00:00:06,000 --> 00:00:08,000\nThank you.\n", encoding="utf-8")
    result = _extract(path)
    assert _text(result) == "Good evening. Thank you."
    assert result.problems == ["1 SRT cue(s) with unparseable timing skipped (cue 2)"]


# A DOCX package written by hand: one of each part where python-docx alone loses text.
_NS = ('xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
       'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
       'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
       'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
       'xmlns:v="urn:schemas-microsoft-com:vml"')
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"


def _p(text: str, style: str = "") -> str:
    ppr = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return f"<w:p>{ppr}<w:r><w:t xml:space=\"preserve\">{text}</w:t></w:r></w:p>"


def _tbl(*cells: str) -> str:
    return "<w:tbl><w:tr>" + "".join(f"<w:tc>{c}</w:tc>" for c in cells) + "</w:tr></w:tbl>"


def _sect(header: str) -> str:
    return (f'<w:sectPr><w:headerReference w:type="default" r:id="{header}"/>'
            '<w:footerReference w:type="default" r:id="ftr"/></w:sectPr>')


def _write_docx(path: Path) -> None:
    text_box = (f'<w:p><w:r><w:t>Anchor paragraph.</w:t></w:r><w:r><mc:AlternateContent><mc:Choice Requires="wps">'
                f'<w:drawing><wps:txbx><w:txbxContent>{_p("Sentence inside the text box.")}</w:txbxContent>'
                f'</wps:txbx></w:drawing></mc:Choice><mc:Fallback><w:pict><v:textbox><w:txbxContent>'
                f'{_p("Sentence inside the text box.")}</w:txbxContent></v:textbox></w:pict></mc:Fallback>'
                f'</mc:AlternateContent></w:r></w:p>')
    body = (_p("Findings", "Heading1")
            + '<w:p><w:r><w:t>Body with a note</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r></w:p>'
            + text_box
            + '<w:sdt><w:sdtPr><w:alias w:val="Summary"/></w:sdtPr><w:sdtContent>'
            + _p("Sentence in a content control.") + "</w:sdtContent></w:sdt>"
            + _tbl(_p("Outer cell"), _tbl(_p("Nested cell text")))
            + f'<w:p><w:pPr>{_sect("hdr")}</w:pPr></w:p>'
            + _p("Second section", "Heading2") + _p("Text of the second section.")
            + _sect("hdr"))
    notes = ('<w:{kind}s {ns}><w:{kind} w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:{kind}>'
             '<w:{kind} w:id="1">{p}</w:{kind}></w:{kind}s>')
    styles = (f'<w:styles {_NS}><w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/></w:style>'
              '<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/></w:style></w:styles>')
    rels = [("hdr", "header", "header1.xml"), ("ftr", "footer", "footer1.xml"), ("fn", "footnotes", "footnotes.xml"),
            ("en", "endnotes", "endnotes.xml"), ("st", "styles", "styles.xml")]
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml"
    types = [("/word/document.xml", f"{main}.document.main+xml"), ("/word/header1.xml", f"{main}.header+xml"),
             ("/word/footer1.xml", f"{main}.footer+xml"),
             ("/word/footnotes.xml", f"{main}.footnotes+xml"), ("/word/endnotes.xml", f"{main}.endnotes+xml"),
             ("/word/styles.xml", f"{main}.styles+xml")]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml",
                   '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   + "".join(f'<Override PartName="{n}" ContentType="{t}"/>' for n, t in types) + "</Types>")
        z.writestr("_rels/.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f'<Relationship Id="rId1" Type="{_REL}officeDocument" Target="word/document.xml"/></Relationships>')
        z.writestr("word/_rels/document.xml.rels",
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   + "".join(f'<Relationship Id="{i}" Type="{_REL}{t}" Target="{f}"/>' for i, t, f in rels)
                   + "</Relationships>")
        z.writestr("word/document.xml", f"<w:document {_NS}><w:body>{body}</w:body></w:document>")
        z.writestr("word/header1.xml", f"<w:hdr {_NS}>{_p('Safer Cities Network')}</w:hdr>")
        z.writestr("word/footer1.xml", f"<w:ftr {_NS}>{_p('Page 1 of 2')}</w:ftr>")
        z.writestr("word/footnotes.xml", notes.format(kind="footnote", ns=_NS, p=_p("The footnote sentence.")))
        z.writestr("word/endnotes.xml", notes.format(kind="endnote", ns=_NS, p=_p("The endnote sentence.")))
        z.writestr("word/styles.xml", styles)


def test_docx_everything_a_reader_sees(tmp_path):
    path = tmp_path / "report.docx"
    _write_docx(path)
    result = _extract(path)
    assert [(b.section, b.text) for b in result.blocks] == [
        ("Findings", "Body with a note"),
        ("Findings", "Anchor paragraph."),
        ("Findings", "Sentence inside the text box."),
        ("Findings", "Sentence in a content control."),
        ("Findings", "Outer cell | Nested cell text"),
        ("Findings > Second section", "Text of the second section."),
        ("Footnotes", "The footnote sentence."),
        ("Endnotes", "The endnote sentence."),
        ("Header", "Safer Cities Network"),  # referenced by both sections, read once; the page-number footer: noise
    ]


def test_docx_that_is_not_a_word_document(tmp_path):
    legacy = tmp_path / "old.docx"
    legacy.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)  # OLE container, no encrypted package
    with pytest.raises(ExtractionError, match=r"^unsupported: legacy Word \(\.doc\)"):
        extract_file(legacy)
    no_parts = tmp_path / "zip.docx"
    with zipfile.ZipFile(no_parts, "w") as z:
        z.writestr("hello.txt", "not a Word package")
    with pytest.raises(ExtractionError, match=r"^damaged: "):
        extract_file(no_parts)


def test_html_in_a_declared_legacy_charset(tmp_path):
    path = tmp_path / "ru.html"
    path.write_bytes('<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
                     "<title>Отчёт</title></head><body><p>Программа профилактики насилия работает.</p>"
                     "</body></html>".encode("cp1251"))
    result = _extract(path)
    assert _text(result) == "Программа профилактики насилия работает."
    assert result.meta["title"] == "Отчёт"


def test_html_without_a_declared_charset_in_cp1252(tmp_path):
    path = tmp_path / "es.html"
    path.write_bytes("<html><body><p>La reunión en Bogotá fue un éxito — según el alcalde, “histórica”.</p>"
                     "</body></html>".encode("cp1252"))
    assert _text(_extract(path)) == "La reunión en Bogotá fue un éxito — según el alcalde, “histórica”."

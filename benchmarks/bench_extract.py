"""PDF extraction benchmark on the real PDFs of ../shared/realfiles (one run).

    .venv/bin/python benchmarks/bench_extract.py [--skip-old]

Per file: pages per second with the old path (pypdf `extract_text()` page by page, as the extractor
did before PDFium) and with the new extractor (time spent in Tesseract subtracted, so both measure the text layer); word
recall against poppler's `pdftotext` (share of its words, NFKC-casefolded, found in our blocks and
section names, counted with multiplicity); blocks failing the quality gate ("junk"). Then OCR
seconds per page for the pages that needed OCR (fresh cache). Targets: median recall >= 0.97,
>= 5x faster than before, 0 junk blocks.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pioc_search.ingest.extract import ExtractionError, ExtractOptions, extract_file  # noqa: E402
from pioc_search.ingest.extract.quality import text_problem  # noqa: E402

REAL = ROOT.parent / "shared" / "realfiles"


def old_pypdf_text(path: Path) -> tuple[int, str]:
    """What the extractor did before: pypdf's extract_text() on every page (failed pages skipped)."""
    import pypdf

    reader = pypdf.PdfReader(path)
    if reader.is_encrypted:
        reader.decrypt("")
    texts = []
    for i in range(len(reader.pages)):
        try:
            texts.append(reader.pages[i].extract_text())
        except Exception:
            texts.append("")
    return len(reader.pages), "\n".join(texts)


_CJK = "\u2e80-\u9fff\uf900-\ufaff"
_WORD = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")  # CJK characters one by one (written without spaces)


def words(text: str) -> Counter[str]:
    return Counter(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def recall(reference: str, ours: str) -> float | None:
    ref = words(reference)
    if sum(ref.values()) < 20 or text_problem(reference):
        return None  # no text layer worth comparing with, or pdftotext's own text is junk (mojibake)
    return sum((ref & words(ours)).values()) / sum(ref.values())


def timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    try:
        return fn(*args), time.perf_counter() - start
    except Exception as e:
        return e, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-old", action="store_true", help="do not time the old pypdf path")
    args = parser.parse_args()
    recalls, junk_total = [], 0
    old_pages = old_time = new_pages = new_time = 0.0
    ocr_pages, ocr_seconds = 0, 0.0
    pdfium_pages = pdfium_old = pdfium_new = 0.0  # files PDFium opens (not whole-file pypdf fallbacks)
    print(f"{'file':44} {'pages':>5} {'old p/s':>8} {'new p/s':>8} {'ratio':>6} {'recall':>6} {'junk':>4}  note")
    extract_file(REAL / "pdfjs" / "helloworld-bad.pdf", ExtractOptions(ocr=False))  # imports, not timed
    old_pypdf_text(REAL / "pdfjs" / "helloworld-bad.pdf")
    with tempfile.TemporaryDirectory() as cache:
        for path in sorted(REAL.rglob("*.pdf")):
            new, new_s = timed(extract_file, path, ExtractOptions(cache_dir=Path(cache)))
            if isinstance(new, ExtractionError):
                print(f"{path.name[:44]:44} {'':>5} {'':>8} {'':>8} {'':>6} {'':>6} {'':>4}  refused: {new}"[:160])
                continue
            if isinstance(new, Exception):
                raise new
            pages = new.meta["pages"]
            ocr_pages += new.meta.get("ocr_pages", 0)
            ocr_seconds += new.meta.get("ocr_seconds", 0.0)
            new_s -= new.meta.get("ocr_seconds", 0.0)  # text-layer speed; OCR is reported below
            note = f"OCR {new.meta['ocr_pages']} p" if new.meta.get("ocr_pages") else ""
            ours = " ".join([b.text for b in new.blocks] + sorted({b.section for b in new.blocks}))
            junk = sum(1 for b in new.blocks if text_problem(b.text))
            junk_total += junk
            reference = subprocess.run(["pdftotext", "-q", str(path), "-"], capture_output=True, text=True).stdout
            r = recall(reference, ours)
            if r is not None:
                recalls.append(r)
            old_rate = ratio = ""
            if not args.skip_old:
                _, old_s = timed(old_pypdf_text, path)
                old_pages, old_time = old_pages + pages, old_time + old_s
                old_rate, ratio = f"{pages / old_s:8.1f}", f"{old_s / new_s:6.1f}"
            new_pages, new_time = new_pages + pages, new_time + new_s
            if new.meta.get("engine") == "pdfium" and not args.skip_old:
                pdfium_pages, pdfium_old, pdfium_new = pdfium_pages + pages, pdfium_old + old_s, pdfium_new + new_s
            print(f"{path.name[:44]:44} {pages:5d} {old_rate:>8} {pages / new_s:8.1f} {ratio:>6} "
                  f"{'' if r is None else f'{r:.3f}':>6} {junk:4d}  {note}")
    print()
    if old_time:
        print(f"total pages/s: old pypdf {old_pages / old_time:.1f}, new {new_pages / new_time:.1f}, "
              f"speed-up {(old_time / old_pages) / (new_time / new_pages):.1f}x (target >= 5x)")
        print(f"files PDFium opens ({pdfium_pages:.0f} pages): old {pdfium_pages / pdfium_old:.1f} p/s, "
              f"new {pdfium_pages / pdfium_new:.1f} p/s, speed-up {pdfium_old / pdfium_new:.1f}x")
    else:
        print(f"total pages/s: new {new_pages / new_time:.1f}")
    print(f"word recall vs pdftotext: median {statistics.median(recalls):.3f} over {len(recalls)} files, "
          f"min {min(recalls):.3f} (target median >= 0.97)")
    print(f"junk blocks: {junk_total} (target 0)")
    if ocr_pages:
        print(f"OCR: {ocr_pages} pages, {ocr_seconds:.1f} s, {ocr_seconds / ocr_pages:.1f} s/page")


if __name__ == "__main__":
    main()

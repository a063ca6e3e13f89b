"""PDF extraction benchmark on the real PDFs of ../shared/realfiles (one run).

    .venv/bin/python benchmarks/bench_extract.py [--skip-old]

Per file: word recall against poppler's `pdftotext` (share of its words, NFKC-casefolded, found in
our blocks and section names, counted with multiplicity) and blocks failing the quality gate ("junk"),
from the new extractor with OCR on (fresh OCR cache). Then the speed of the text layer: the old path
(pypdf `extract_text()` page by page, as the extractor did before PDFium) and the new extractor with
OCR off (the old path had no OCR; rendering and Tesseract are OCR's cost, reported at the end as
seconds per page), timed back to back on each file, alternating which goes first, so that other jobs
on the shared machine slow both alike. "ratio" is the wall-clock speed-up, "cpu rt" the speed-up in
CPU time of this process (time.process_time), which other jobs disturb less. Targets: median recall
>= 0.97, >= 5x faster than before, 0 junk blocks.
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
    """(result or exception, wall seconds, CPU seconds of this process; Tesseract runs in a child)."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        result = fn(*args)
    except Exception as e:
        result = e
    return result, time.perf_counter() - wall, time.process_time() - cpu


class Totals:
    """Pages and wall/CPU seconds of the old and new paths over a set of files."""

    def __init__(self) -> None:
        self.pages = self.old_wall = self.old_cpu = self.new_wall = self.new_cpu = 0.0

    def add(self, pages: int, old_wall: float, old_cpu: float, new_wall: float, new_cpu: float) -> None:
        self.pages += pages
        self.old_wall, self.old_cpu = self.old_wall + old_wall, self.old_cpu + old_cpu
        self.new_wall, self.new_cpu = self.new_wall + new_wall, self.new_cpu + new_cpu

    def line(self, label: str) -> str:
        p = self.pages
        return (f"{label} ({p:.0f} pages): wall old {p / self.old_wall:.1f} p/s, new {p / self.new_wall:.1f} p/s, "
                f"{self.old_wall / self.new_wall:.1f}x; CPU old {p / self.old_cpu:.1f} p/s, "
                f"new {p / self.new_cpu:.1f} p/s, {self.old_cpu / self.new_cpu:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-old", action="store_true", help="do not time the old pypdf path")
    args = parser.parse_args()
    recalls, junk_total = [], 0
    ocr_pages, ocr_seconds = 0, 0.0
    every, pdfium_files = Totals(), Totals()  # all readable files; files PDFium opens (no whole-file fallback)
    print(f"{'file':44} {'pages':>5} {'old p/s':>8} {'new p/s':>8} {'ratio':>6} {'cpu rt':>6} {'recall':>6} "
          f"{'junk':>4}  note")
    extract_file(REAL / "pdfjs" / "helloworld-bad.pdf", ExtractOptions(ocr=False))  # imports, not timed
    old_pypdf_text(REAL / "pdfjs" / "helloworld-bad.pdf")
    with tempfile.TemporaryDirectory() as cache:
        for n, path in enumerate(sorted(REAL.rglob("*.pdf"))):
            full, _, _ = timed(extract_file, path, ExtractOptions(cache_dir=Path(cache)))  # with OCR: content
            if isinstance(full, ExtractionError):
                blank = f"{'':>5} {'':>8} {'':>8} {'':>6} {'':>6} {'':>6} {'':>4}"
                print(f"{path.name[:44]:44} {blank}  refused: {full}"[:170])
                continue
            if isinstance(full, Exception):
                raise full
            pages, note = full.meta["pages"], f"OCR {full.meta['ocr_pages']} p" if full.meta.get("ocr_pages") else ""
            ocr_pages += full.meta.get("ocr_pages", 0)
            ocr_seconds += full.meta.get("ocr_seconds", 0.0)
            ours = " ".join([b.text for b in full.blocks] + sorted({b.section for b in full.blocks}))
            junk = sum(1 for b in full.blocks if text_problem(b.text))
            junk_total += junk
            reference = subprocess.run(["pdftotext", "-q", str(path), "-"], capture_output=True, text=True).stdout
            r = recall(reference, ours)
            if r is not None:
                recalls.append(r)
            # the text layer, old and new back to back, alternating which goes first, so that the load
            # other jobs put on the machine hits both paths alike
            runs = [("new", extract_file, path, ExtractOptions(ocr=False))]
            if not args.skip_old:
                runs.insert(n % 2, ("old", old_pypdf_text, path))
            times = {name: timed(*call) for name, *call in runs}
            new, new_s, new_c = times["new"]
            speed = ratio = cpu_ratio = old_rate = ""
            if isinstance(new, ExtractionError):
                note = f"{note}; text layer unusable without OCR, not timed".lstrip("; ")
            else:
                speed = f"{pages / new_s:8.1f}"
                if not args.skip_old:
                    _, old_s, old_c = times["old"]
                    old_rate = f"{pages / old_s:8.1f}"
                    ratio, cpu_ratio = f"{old_s / new_s:6.1f}", f"{old_c / new_c:6.1f}"
                    every.add(pages, old_s, old_c, new_s, new_c)
                    if full.meta.get("engine") == "pdfium":
                        pdfium_files.add(pages, old_s, old_c, new_s, new_c)
            print(f"{path.name[:44]:44} {pages:5d} {old_rate:>8} {speed:>8} {ratio:>6} {cpu_ratio:>6} "
                  f"{'' if r is None else f'{r:.3f}':>6} {junk:4d}  {note}")
    print()
    if every.pages:
        print(pdfium_files.line("files PDFium opens") + "  (target >= 5x)")
        print(every.line("all readable files"))
    print(f"word recall vs pdftotext: median {statistics.median(recalls):.3f} over {len(recalls)} files, "
          f"min {min(recalls):.3f} (target median >= 0.97)")
    print(f"junk blocks: {junk_total} (target 0)")
    if ocr_pages:
        print(f"OCR: {ocr_pages} pages, {ocr_seconds:.1f} s, {ocr_seconds / ocr_pages:.1f} s/page")


if __name__ == "__main__":
    main()

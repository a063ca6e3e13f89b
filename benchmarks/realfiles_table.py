"""Ingest ../shared/realfiles (62 real-world test files, read in place) with OCR on and print how
each class of file fared, as a markdown table for the README.

    .venv/bin/python benchmarks/realfiles_table.py [--files] [--no-ocr]

Classes come from the folder each file came from (see realfiles/SOURCES.md) and its format;
outcomes are: indexed, partial (indexed, with parts lost), or the kind of failure.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REALFILES = ROOT.parent / "shared" / "realfiles"


def outcomes(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Corpus path → outcome for every file the build saw."""
    from pioc_search.ingest.pipeline import failure_kind

    partial = {path for path, _ in report.warnings}
    result = {path: "partial" if path in partial else "indexed" for path in report.added + report.changed}
    result.update({path: failure_kind(reason) for path, reason in report.failed})
    return result


def main() -> None:
    from pioc_search.embedders import load_embedder
    from pioc_search.ingest.extract import ExtractOptions
    from pioc_search.ingest.pipeline import build_index
    from pioc_search.settings import Settings
    from pioc_search.stores import open_store

    settings = Settings.from_env()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = build_index(REALFILES, open_store(Settings(index_dir=Path(tmp))), load_embedder(settings),
                             extract_options=ExtractOptions(ocr="--no-ocr" not in sys.argv))
    seconds = time.perf_counter() - started
    by_file = outcomes(report)
    kinds = ["indexed", "partial", "encrypted", "damaged", "no text", "unsupported", "timeout", "memory", "other"]
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for path, outcome in by_file.items():
        table[f"{path.split('/')[0]} {Path(path).suffix.lower() or '(none)'}"][outcome] += 1
    used = [k for k in kinds if any(row[k] for row in table.values())]
    print(f"| class | files | {' | '.join(used)} |")
    print(f"|---|---:|{'---:|' * len(used)}")
    for name in sorted(table):
        row = table[name]
        print(f"| {name} | {sum(row.values())} | {' | '.join(str(row[k] or '') for k in used)} |")
    total = Counter(by_file.values())
    print(f"| **all** | **{len(by_file)}** | {' | '.join(f'**{total[k]}**' for k in used)} |")
    print(f"\n{report.documents} documents, {report.passages} passages, {report.ocr_pages} OCR pages; "
          f"{seconds:.0f} s in all (" + ", ".join(f"{k} {v:.0f} s" for k, v in report.seconds.items()) + ")")
    if "--files" in sys.argv:
        reasons = dict(report.failed)
        problems: dict[str, list[str]] = defaultdict(list)
        for path, problem in report.warnings:
            problems[path].append(problem)
        print("\n| file | outcome | reason |\n|---|---|---|")
        for path in sorted(by_file):
            print(f"| {path} | {by_file[path]} | {reasons.get(path) or '; '.join(problems[path])} |")


if __name__ == "__main__":
    main()

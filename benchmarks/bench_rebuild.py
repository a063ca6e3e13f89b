"""Incremental rebuild speed: add one document to a 100k-passage index; re-ingest an unchanged corpus.

    .venv/bin/python benchmarks/bench_rebuild.py [--passages 100000] [--docs 1000] [--work DIR]

1. Add one document. A synthetic corpus of Markdown files (`--passages` / 100 passages per file,
   words drawn from the sample corpus) is indexed directly through the store's VersionWriter with random
   unit vectors, so that 100k passages need not be embedded first; its fingerprints are the real
   ones, so the ingest sees every file as unchanged. Then one real Markdown report (~1,500 words) is
   added and `build_index` runs end to end: discover and hash every file, diff against the live
   version, extract, chunk, embed, copy the live version, write, verify, publish, prune.
   Measured three ways: in-process with the model already loaded (what the server's admin API
   does), in-process with a fresh Embedder (model load included and also shown on its own), and as
   a `pioc-search ingest` subprocess (process start, imports and model load included).
2. Unchanged re-ingest. `--docs` short Markdown documents (2 passages each) are indexed for real,
   then ingested again unchanged, in-process and as a `pioc-search ingest` subprocess.

The targets (at most 5 s each) apply to the in-process end-to-end figures including model load; the
subprocess rows are there to show what a person typing the command waits for.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pioc_search.stores import open_store  # noqa: E402
from pioc_search.embedders import Embedder, load_embedder  # noqa: E402
from pioc_search.ingest.chunk import passage_id  # noqa: E402
from pioc_search.ingest.discover import discover  # noqa: E402
from pioc_search.ingest.pipeline import BuildReport, build_index  # noqa: E402
from pioc_search.models import Document, Passage  # noqa: E402
from pioc_search.settings import Settings  # noqa: E402

TARGET_SECONDS = 5.0
PASSAGES_PER_FILE = 100
WORDS_PER_PASSAGE = 150
CLI = Path(sys.executable).with_name("pioc-search")


def vocabulary() -> list[str]:
    words: set[str] = set()
    for path in (ROOT / "corpus").rglob("*"):
        if path.suffix in (".md", ".html", ".txt", ".vtt", ".srt"):
            words.update(re.findall(r"[A-Za-z][a-z]{2,}", path.read_text(errors="ignore")))
    return sorted(words) or ["violence", "prevention", "city", "youth", "programme", "outreach", "homicide"]


def sentence(rng: random.Random, words: list[str], n: int) -> str:
    return " ".join(rng.choice(words) for _ in range(n)).capitalize() + "."


def passage_text(rng: random.Random, words: list[str]) -> str:
    return " ".join(sentence(rng, words, 15) for _ in range(WORDS_PER_PASSAGE // 15))


def synthetic_index(work: Path, passages: int, embedder: Embedder) -> tuple[Path, Path]:
    """A corpus of Markdown files and a published index of exactly `passages` passages over it."""
    corpus, root = work / "big-corpus", work / "big-index"
    rng, words = random.Random(7), vocabulary()
    files = max(1, passages // PASSAGES_PER_FILE)
    texts: dict[str, list[str]] = {}
    for n in range(files):
        count = PASSAGES_PER_FILE if n < files - 1 else passages - PASSAGES_PER_FILE * (files - 1)
        body = [passage_text(rng, words) for _ in range(count)]
        rel = f"reports/report-{n:05d}.md"
        texts[rel] = body
        path = corpus / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Synthetic report {n}\n\n" + "\n\n".join(body) + "\n", encoding="utf-8")
    sources, _ = discover(corpus)
    vectors = np.random.default_rng(7).standard_normal((passages, embedder.dimension), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = open_store(Settings(index_dir=root))
    writer = store.writer(embedder.dimension)
    row = 0
    for source in sources:
        body = texts[source.rel]
        doc = Document(id=source.doc_id, path=source.rel, sha256=source.sha256, title=f"Synthetic {source.rel}",
                       doc_type="report", cities=[], themes=[], date="2024-01-01", language="en", source_url=None,
                       media_type="text/markdown")
        items = [Passage(passage_id(doc.id, i), doc.id, i, text, "", None, None) for i, text in enumerate(body)]
        hashes = [hashlib.sha256(f"{embedder.model_id}\x00{p.text}".encode()).hexdigest() for p in items]
        writer.add_document(doc, source.fingerprint, items, hashes, vectors[row : row + len(items)])
        row += len(items)
    writer.set_meta({"model_id": embedder.model_id, "dimension": embedder.dimension, "built_at": "synthetic",
                     "documents": len(sources), "passages": passages})
    store.publish(writer.finish())
    return corpus, root


def new_report(corpus: Path, name: str, seed: int) -> None:
    rng, words = random.Random(seed), vocabulary()
    sections = []
    for i in range(5):
        sections.append(f"## Finding {i + 1}\n\n" + " ".join(sentence(rng, words, 15) for _ in range(20)))
    (corpus / "reports" / name).write_text(f"# New field report {seed}\n\n" + "\n\n".join(sections) + "\n")


def small_corpus(work: Path, docs: int) -> Path:
    corpus = work / "small-corpus"
    rng, words = random.Random(11), vocabulary()
    for n in range(docs):
        path = corpus / f"batch{n // 100:02d}" / f"note-{n:04d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = [f"## Part {i + 1}\n\n" + " ".join(sentence(rng, words, 15) for _ in range(9)) for i in range(2)]
        path.write_text(f"# Note {n}\n\n" + "\n\n".join(parts) + "\n", encoding="utf-8")
    return corpus


def cli_ingest(corpus: Path, root: Path) -> float:
    tick = time.perf_counter()
    result = subprocess.run([str(CLI), "ingest", str(corpus), "--index-dir", str(root)],
                            capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - tick
    if result.returncode != 0:
        raise RuntimeError(f"pioc-search ingest failed: {result.stderr}")
    return seconds


def stages(report: BuildReport) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in report.seconds.items() if k != "total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--work", type=Path, help="keep the generated corpora and indexes here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env()
    rows: list[tuple[str, float, float | None, str]] = []
    try:
        # ---- 1. one new document into a 100k-passage index
        tick = time.perf_counter()
        big_corpus, big_root = synthetic_index(work, args.passages, load_embedder(settings))
        live = open_store(Settings(index_dir=big_root)).live()
        print(f"synthetic index: {live.passage_count:,} passages in {len(live.documents):,} files "
              f"({time.perf_counter() - tick:.0f} s to generate)\n", file=sys.stderr)

        cold = load_embedder(settings)
        new_report(big_corpus, "new-cold.md", 1)
        report = build_index(big_corpus, open_store(Settings(index_dir=big_root)), cold)
        assert report.added == ["reports/new-cold.md"] and len(report.unchanged) == len(live.documents), report
        load = report.seconds.get("load_model", 0.0)
        rows.append((f"add 1 document ({report.embedded} passages) to a {live.passage_count:,}-passage index, "
                     f"in-process, incl. model load ({load:.2f} s)", report.seconds["total"], TARGET_SECONDS,
                     stages(report)))

        new_report(big_corpus, "new-warm.md", 2)
        report = build_index(big_corpus, open_store(Settings(index_dir=big_root)), cold)  # model already loaded, as in the server
        assert report.added == ["reports/new-warm.md"], report
        rows.append(("same, model already loaded (admin API in the running server)", report.seconds["total"],
                     TARGET_SECONDS, stages(report)))

        new_report(big_corpus, "new-cli.md", 3)
        rows.append(("same, `pioc-search ingest` subprocess incl. process start, imports, model load",
                     cli_ingest(big_corpus, big_root), None, "wall clock"))
        shutil.rmtree(big_root)
        shutil.rmtree(big_corpus)

        # ---- 2. unchanged corpus of 1,000 documents
        corpus, root = small_corpus(work, args.docs), work / "small-index"
        tick = time.perf_counter()
        first = build_index(corpus, open_store(Settings(index_dir=root)), cold)
        print(f"small corpus: {first.documents:,} documents, {first.passages:,} passages "
              f"(first build {time.perf_counter() - tick:.0f} s)\n", file=sys.stderr)
        fresh = load_embedder(settings)
        report = build_index(corpus, open_store(Settings(index_dir=root)), fresh)
        assert len(report.unchanged) == args.docs and report.embedded == 0 and fresh.calls == 0, report
        rows.append((f"re-ingest unchanged corpus of {args.docs:,} documents ({first.passages:,} passages), "
                     "in-process, fresh Embedder", report.seconds["total"], TARGET_SECONDS,
                     f"model loaded: {'yes' if 'load_model' in report.seconds else 'no'}, {fresh.calls} texts embedded"))
        rows.append(("same, `pioc-search ingest` subprocess incl. process start and imports",
                     cli_ingest(corpus, root), None, "wall clock"))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    print("| case | measured s | target s | ok | breakdown (s) |")
    print("|---|---:|---:|:---:|---|")
    for case, measured, target, detail in rows:
        ok = "—" if target is None else ("yes" if measured <= target else "NO")
        print(f"| {case} | {measured:.2f} | {'—' if target is None else f'{target:.0f}'} | {ok} | {detail} |")


if __name__ == "__main__":
    main()

"""Ingest throughput, today's way against the new default, for each model, in one run.

    .venv/bin/python benchmarks/bench_ingest.py [--models multilingual-e5-small all-MiniLM-L6-v2] [--passages 80]

1. End to end: `build_index(corpus/, full=True)` in-process (model loaded beforehand, as in the
   server), three times per model: "today" = the pipeline before this work (fp32 ONNX, attention not
   fused, batches of 32, every passage encoded after the last file was extracted), "serial" = the default model file
   (int8 for E5, fp32 for MiniLM; attention fused) still encoding after extraction, and "overlapped" =
   the new default (ingest/embed.py: a background thread encodes each window of passages while the
   watchdog's worker extracts the next files). Wall seconds, passages/s = passages / wall, and the stages
   (extract, the embedding wait after extraction, the model's busy seconds). Then the same build as
   a `pioc-search ingest corpus --full` subprocess (process start, imports, model load included).
2. Encode only: `--passages` of the sample corpus' passages (evenly spread, as the pipeline embeds
   them: title and section included), with each precision (fp32 / int8 ONNX, dynamic per channel)
   attention fused or not, and batch size (1, or 32 sorted by length), ONNX Runtime with 2 intra-op threads:
   passages/s, CPU ms per passage (all threads; the figure least distorted by a loaded machine),
   cosine to fp32 one at a time and, for batches, to the same precision one at a time (dynamic int8
   scales activations per run, so a batch's companions change a passage's vector).

Timings on a loaded machine are marked with its load average; compare rows of one run only.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pioc_search.settings import Settings  # noqa: E402
from pioc_search.stores import open_store  # noqa: E402
from pioc_search.embedders import BACKENDS, Embedder, load_embedder  # noqa: E402
from pioc_search.ingest import pipeline  # noqa: E402
from pioc_search.ingest.embed import BackgroundEmbedding  # noqa: E402

CORPUS = ROOT / "corpus"
CLI = Path(sys.executable).with_name("pioc-search")
SERIAL = functools.partial(BackgroundEmbedding, window=sys.maxsize)  # nothing encoded before extraction ends


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def build(embedder: Embedder, root: Path, overlapped: bool) -> dict[str, float | str]:
    pipeline.BackgroundEmbedding = BackgroundEmbedding if overlapped else SERIAL  # type: ignore[misc]
    try:
        tick = time.perf_counter()
        report = pipeline.build_index(CORPUS, open_store(Settings(index_dir=root)), embedder, full=True)
        wall = time.perf_counter() - tick
    finally:
        pipeline.BackgroundEmbedding = BackgroundEmbedding  # type: ignore[misc]
    assert report.version and not report.refused, report
    s = report.seconds
    return {"wall": wall, "passages": report.passages, "per_s": report.passages / wall, "load": load(),
            "stages": f"extract {s['extract']:.1f}, embed wait {s['embed']:.1f}, model busy {s['embed_busy']:.1f}, "
                      f"write {s['write']:.1f}"}


def cli_build(model: str, root: Path) -> float:
    tick = time.perf_counter()
    result = subprocess.run([str(CLI), "ingest", str(CORPUS), "--full", "--index-dir", str(root)],
                            capture_output=True, text=True, cwd=ROOT, env=os.environ | {"PIOC_MODEL": model})
    if result.returncode != 0:
        raise RuntimeError(f"pioc-search ingest failed: {result.stderr[-2000:]}")
    return time.perf_counter() - tick


def passage_texts(root: Path, count: int) -> list[str]:
    """The built version's embedding inputs, `count` of them evenly spread."""
    version = open_store(Settings(index_dir=root)).live()
    texts = [pipeline.embedding_input(doc, row_passage(doc.id, row)) for doc in version.documents.values()
             for row in version.document_passages(doc.id)]
    step = max(1, len(texts) // count)
    return texts[::step][:count]


def row_passage(doc_id: str, row) -> pipeline.Passage:  # type: ignore[no-untyped-def]
    return pipeline.Passage(row["id"], doc_id, row["ordinal"], row["text"], row["section"], None, None)


def today(model: str) -> Embedder:
    """The model as the pipeline ran it before this work: fp32, attention not fused, batches of 32
    (E5 runs one text at a time whatever it is given)."""
    embedder = BACKENDS[model](precision="fp32", batch_size=32)
    embedder.fused = False
    return embedder


def encode_variants(model: str, texts: list[str]) -> list[tuple[str, ...]]:
    """(precision, fused, batch, passages/s, CPU ms/passage, cosine to fp32 single, cosine to own single)."""
    rows, reference, single = [], None, {}
    for precision in ("fp32", "int8"):
        for fused in (False, True):
            embedder = BACKENDS[model](precision=precision)
            embedder.fused = fused
            embedder.load()
            embedder.encode(texts[:2])
            for batch in (1, 32):
                embedder.batch_size = batch
                tick, cpu = time.perf_counter(), time.process_time()
                vectors = embedder.encode(texts)
                seconds, cpu = time.perf_counter() - tick, time.process_time() - cpu
                if batch == 1:
                    single[precision, fused] = vectors
                    reference = vectors if precision == "fp32" and not fused else reference
                rows.append((precision, "yes" if fused else "no", str(batch), f"{len(texts) / seconds:.1f}",
                             f"{cpu * 1000 / len(texts):.0f}", cosines(vectors, reference),
                             cosines(vectors, single[precision, fused]), load()))
    return rows


def cosines(a: np.ndarray, b: np.ndarray | None) -> str:
    values = np.sum(a * b, axis=1)
    return f"{values.min():.4f} / {np.median(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    parser.add_argument("--passages", type=int, default=80, help="passages for the encode-only table")
    parser.add_argument("--skip-encode", action="store_true", help="end-to-end table only")
    args = parser.parse_args()
    ends, encodes = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            embedder = load_embedder(Settings.from_env(model=model))
            embedder.load()
            before = today(model)
            before.load()
            old = build(before, Path(tmp) / f"{model}-today", overlapped=False)
            serial = build(embedder, Path(tmp) / f"{model}-serial", overlapped=False)
            overlapped = build(embedder, Path(tmp) / f"{model}-overlapped", overlapped=True)
            cli = cli_build(model, Path(tmp) / f"{model}-cli")
            ends[model] = (old, serial, overlapped, cli)
            print(f"{model}: today {old['wall']:.1f} s ({old['stages']}), serial {serial['wall']:.1f} s "
                  f"({serial['stages']}), overlapped {overlapped['wall']:.1f} s "
                  f"({overlapped['stages']}), CLI {cli:.1f} s; load {load()}", file=sys.stderr, flush=True)
            if not args.skip_encode:
                encodes[model] = encode_variants(model, passage_texts(Path(tmp) / f"{model}-serial", args.passages))

    print(f"\n## End to end: `build_index(corpus, full=True)`, model loaded (load average {load()} "
          f"on {os.cpu_count()} cores at the end)\n")
    print("| model | passages | today: fp32 unfused serial s (passages/s) | default model serial s (passages/s) | "
          "new: overlapped s (passages/s) | new / today | overlap alone | CLI `ingest --full` s | "
          "stages today → overlapped (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for model, (old, serial, overlapped, cli) in ends.items():
        print(f"| {model} | {serial['passages']} | {old['wall']:.1f} ({old['per_s']:.2f}) | "
              f"{serial['wall']:.1f} ({serial['per_s']:.2f}) | {overlapped['wall']:.1f} ({overlapped['per_s']:.2f}) | "
              f"**{overlapped['per_s'] / old['per_s']:.2f}×** | {overlapped['per_s'] / serial['per_s']:.2f}× | "
              f"{cli:.1f} | {old['stages']} → {overlapped['stages']} |")
    if len(ends) == 2:
        e5, minilm = (ends[m][2]["per_s"] for m in BACKENDS)
        print(f"\nDefault model / MiniLM passages/s, overlapped: {e5 / minilm:.2f} (budget ≥ 0.5)")
    for model, rows in encodes.items():
        print(f"\n## Encode only, {model}, {args.passages} sample passages\n")
        print("| precision | attention fused | batch | passages/s | CPU ms/passage | cosine to fp32 unfused single "
              "(min / median) | to own single | load |")
        print("|---|---:|---:|---:|---:|---|---|---:|")
        for row in rows:
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

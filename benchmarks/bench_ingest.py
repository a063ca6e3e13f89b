"""Ingest throughput, today's way against the new default, for each model, in one run.

    .venv/bin/python benchmarks/bench_ingest.py [--models multilingual-e5-small all-MiniLM-L6-v2] [--passages 80]

1. End to end: `build_index(corpus/, full=True)` in-process (model loaded beforehand, as in the
   server), three times per model: "today" = the pipeline before issue 10 (fp32 ONNX, attention not
   fused, batches of 32 each spread over both cores, every passage encoded after the last file was
   extracted), "one run" = stop 20's default (the default model file, attention fused, one passage per
   run, each run spread over both cores, encoding overlapped with extraction), "2 at once fp32" = stop
   21's default (as "one run", but two passages encoded at once, each on one core: ingest/embed.py), and
   "new" = the default (as "2 at once fp32", passages in bfloat16 where the CPU computes it natively:
   embedders/bf16.py; the fp32 row is left out where the default is fp32). Wall seconds,
   passages/s = passages / wall, and the stages (extract, the embedding wait after extraction, the
   model's busy seconds summed over runners). Then the same build as a `pioc-search ingest corpus --full`
   subprocess (process start, imports, model load included).
2. Encode only: `--passages` of the sample corpus' passages (evenly spread, as the pipeline embeds
   them: title and section included), with each precision (fp32 / int8 ONNX, dynamic per channel,
   attention fused or not; bf16 through torch, two at once only), batch size (1, or 32 sorted by
   length) and how runs use the 2 cores (one run at a time over both, or two at once on one core each):
   passages/s, CPU ms per passage (all threads; the figure least distorted by a loaded machine), cosine
   to fp32 one at a time and, for
   batches, to the same precision one at a time (dynamic int8 scales activations per run, so a
   batch's companions change a passage's vector).

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
RUNS = {"today": functools.partial(BackgroundEmbedding, window=sys.maxsize, runners=1),  # after extraction ends
        "one run": functools.partial(BackgroundEmbedding, runners=1), "new": BackgroundEmbedding}


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def build(embedder: Embedder, root: Path, way: str) -> dict[str, float | str]:
    pipeline.BackgroundEmbedding = RUNS[way]  # type: ignore[misc]
    try:
        tick = time.perf_counter()
        report = pipeline.build_index(CORPUS, open_store(Settings(index_dir=root)), embedder, full=True)
        wall = time.perf_counter() - tick
    finally:
        pipeline.BackgroundEmbedding = BackgroundEmbedding  # type: ignore[misc]
    assert report.version and not report.refused, report
    s = report.seconds
    return {"wall": wall, "passages": report.passages, "per_s": report.passages / wall, "load": load(),
            "precision": embedder.precision,
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


SLEEP = {"session.intra_op.allow_spinning": "0"}  # threads sleep as soon as an operator's work runs out


def one_run_at_a_time(backend: type[Embedder]) -> type[Embedder]:
    """The backend as ingest ran it before stop 21: one passage run at a time, spread over all `threads`
    cores, whose threads slept as soon as an operator's work ran out."""

    class OneRun(backend):  # type: ignore[valid-type,misc]
        _passage_session = property(lambda self: self._session)
        spinning = SLEEP

        def encode(self, texts, on_batch=None, *, runners=None):  # type: ignore[no-untyped-def]
            return super().encode(texts, on_batch, runners=1)

        def done_with_passages(self, idle: float | None = None) -> None:
            pass

    return OneRun


def today(model: str) -> Embedder:
    """The model as the pipeline ran it before issue 10: fp32, attention not fused, batches of 32 each
    over both cores (E5 runs one text at a time whatever it is given)."""
    embedder = one_run_at_a_time(BACKENDS[model])(precision="fp32", batch_size=32)
    embedder.fused = False
    return embedder


WAYS = {"one over 2 cores": one_run_at_a_time, "2 at once, 1 core each": lambda backend: backend}


def encode_variants(model: str, texts: list[str]) -> list[tuple[str, ...]]:
    """(precision, fused, batch, runs, passages/s, CPU ms/passage, cosine to fp32 single, to own single)."""
    rows, reference, single = [], None, {}
    for precision in ("fp32", "int8", "bf16"):
        for fused in (False, True) if precision != "bf16" else (True,):
            for way, variant in WAYS.items():
                if precision == "bf16" and variant is one_run_at_a_time:  # it runs passages on the question session
                    continue
                embedder = variant(BACKENDS[model])(precision=precision)
                embedder.fused = fused
                embedder.load(passages=True)
                embedder.encode(texts[:2])
                for batch in (1, 32):
                    embedder.batch_size = batch
                    tick, cpu = time.perf_counter(), time.process_time()
                    vectors = embedder.encode(texts)
                    seconds, cpu = time.perf_counter() - tick, time.process_time() - cpu
                    if batch == 1:
                        single[precision, fused] = vectors
                        reference = vectors if precision == "fp32" and not fused else reference
                    rows.append((precision, "yes" if fused else "no", str(batch), way,
                                 f"{len(texts) / seconds:.1f}", f"{cpu * 1000 / len(texts):.0f}",
                                 cosines(vectors, reference), cosines(vectors, single[precision, fused]), load()))
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
            ways = {"today": (today(model), "today"),
                    "one run": (one_run_at_a_time(type(embedder))(precision="fp32"), "one run"),
                    "2 at once fp32": (type(embedder)(precision="fp32"), "new"),
                    "new": (embedder, "new")}
            if embedder.precision == "fp32":
                del ways["2 at once fp32"]
            for each, _ in ways.values():
                each.load(passages=True)
            ends[model] = {name: build(each, Path(tmp) / f"{model}-{name.replace(' ', '-')}", way)
                           for name, (each, way) in ways.items()}
            cli = cli_build(model, Path(tmp) / f"{model}-cli")
            ends[model]["CLI"] = {"wall": cli}
            print(f"{model}: " + ", ".join(f"{name} {row['wall']:.1f} s ({row.get('stages', 'process')})"
                                           for name, row in ends[model].items()) + f"; load {load()}",
                  file=sys.stderr, flush=True)
            if not args.skip_encode:
                encodes[model] = encode_variants(model, passage_texts(Path(tmp) / f"{model}-new", args.passages))

    print(f"\n## End to end: `build_index(corpus, full=True)`, model loaded (load average {load()} "
          f"on {os.cpu_count()} cores at the end)\n")
    print("| model | precision | passages | today: fp32 unfused serial s (passages/s) | one run over 2 cores, "
          "fp32, overlapped s (passages/s) | 2 runs at once, fp32, overlapped s (passages/s) | new: default "
          "precision, 2 runs at once s (passages/s) | new / today | new / one run | new / 2 at once fp32 | "
          "CLI `ingest --full` s | stages today → new (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for model, rows in ends.items():
        old, one_run, new, cli = rows["today"], rows["one run"], rows["new"], rows["CLI"]["wall"]
        fp32 = rows.get("2 at once fp32", new)
        print(f"| {model} | {new['precision']} | {new['passages']} | "
              f"{old['wall']:.1f} ({old['per_s']:.2f}) | {one_run['wall']:.1f} ({one_run['per_s']:.2f}) | "
              f"{fp32['wall']:.1f} ({fp32['per_s']:.2f}) | {new['wall']:.1f} ({new['per_s']:.2f}) | "
              f"**{new['per_s'] / old['per_s']:.2f}×** | {new['per_s'] / one_run['per_s']:.2f}× | "
              f"{new['per_s'] / fp32['per_s']:.2f}× | {cli:.1f} | {old['stages']} → {new['stages']} |")
    if len(ends) == 2:
        e5, minilm = (ends[m]["new"]["per_s"] for m in BACKENDS)
        print(f"\nDefault model / MiniLM passages/s, new: {e5 / minilm:.2f} (budget ≥ 0.5)")
    for model, rows in encodes.items():
        print(f"\n## Encode only, {model}, {args.passages} sample passages\n")
        print("| precision | attention fused | batch | runs | passages/s | CPU ms/passage | cosine to fp32 unfused "
              "single (min / median) | to own single | load |")
        print("|---|---:|---:|---|---:|---:|---|---|---:|")
        for row in rows:
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

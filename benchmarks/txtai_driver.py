"""txtai's side of bench_peer.py: runs inside txtai's own venv (not the project's), reads a JSON job, writes JSON.

    txtai-venv/bin/python benchmarks/txtai_driver.py JOB.json RESULT.json

The job names the BEIR corpus, the questions, a local model folder (loaded offline), the index folder
and whether to rebuild. The index is txtai's hybrid mode (`hybrid=True`: BM25 with term index and
normalised scores, plus dense vectors in its default ANN backend, faiss) over "title. text" per
document, as txtai's own BEIR benchmark (examples/benchmarks.py) indexes it. Questions are asked one
by one with `Embeddings.search`, first with txtai's default IVF probing, then with every IVF cell
probed (exhaustive: exact nearest neighbours).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from txtai import Embeddings  # noqa: E402


def rows(corpus: Path):  # type: ignore[no-untyped-def]
    with corpus.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                text = f'{row["title"]}. {row["text"]}' if row.get("title") else row["text"]
                if text:
                    yield str(row["_id"]), text, None


def config(job: dict) -> dict:  # type: ignore[type-arg]
    settings = {"path": job["model"], "method": "transformers", "hybrid": True, "content": False,
                "maxlength": job["maxlength"]}
    if job.get("instructions"):
        settings["instructions"] = job["instructions"]
    return settings


def build(job: dict, index: Path) -> dict:  # type: ignore[type-arg]
    started, cpu = time.perf_counter(), time.process_time()
    embeddings = Embeddings(config(job))
    embeddings.index(rows(Path(job["corpus"])))
    embeddings.save(str(index))
    seconds = time.perf_counter() - started
    stats = {"build_seconds": seconds, "build_cpu_seconds": time.process_time() - cpu, "documents": embeddings.count(),
             "built_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    (index / "bench_build.json").write_text(json.dumps(stats))
    return stats


def ask(embeddings: Embeddings, questions: list[list[str]], k: int) -> dict:  # type: ignore[type-arg]
    times, cpu_times, run = [], [], {}
    for qid, text in questions:
        tick, cpu = time.perf_counter(), time.process_time()
        found = embeddings.search(text, k)
        times.append((time.perf_counter() - tick) * 1000)
        cpu_times.append((time.process_time() - cpu) * 1000)
        run[qid] = [str(uid) for uid, _ in found]
    return {"times_ms": times, "cpu_ms": cpu_times, "run": run}


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    index = Path(job["index"])
    if job.get("rebuild") or not (index / "bench_build.json").is_file():
        stats = build(job, index) | {"cached": False}
    else:
        stats = json.loads((index / "bench_build.json").read_text()) | {"cached": True}
    embeddings = Embeddings()
    embeddings.load(str(index))
    embeddings.search("warm-up", 1)  # loads the model outside the timed runs
    backend = embeddings.ann.backend
    nlist = getattr(backend, "nlist", None) or getattr(getattr(backend, "index", None), "nlist", None)
    results = {"default": ask(embeddings, job["questions"], job["k"]) | {"nprobe": embeddings.ann.nprobe(),
                                                                          "nlist": nlist}}
    if nlist:
        for settings in (embeddings.config, embeddings.ann.config):
            settings["faiss"] = {**(settings.get("faiss") or {}), "nprobe": nlist}
        results["exact"] = ask(embeddings, job["questions"], job["k"]) | {"nprobe": embeddings.ann.nprobe(),
                                                                          "nlist": nlist}
    from importlib.metadata import version

    import torch

    versions = {"txtai": version("txtai"), "faiss": version("faiss-cpu"), "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(), "ann": type(backend).__name__}
    Path(sys.argv[2]).write_text(json.dumps({"build": stats, "searches": results, "versions": versions}))


if __name__ == "__main__":
    main()

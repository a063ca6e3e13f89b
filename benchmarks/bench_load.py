"""Sustained load: real `pioc-search serve --workers N` processes driven by wrk over a 100k-passage index.

    python benchmarks/bench_load.py [--duration 60] [--passages 100000] [--connections 8]

Builds (once, cached under indexes/bench-load/) the sample corpus's index and a synthetic index of
--passages passages made from it: the real documents copied over and over, each copy's passages keeping
their real text and their real vector plus Gaussian noise (sigma 0.02 per component), renormalised, all
written through the store's VersionWriter so the servers load it like any published version. Then, for 1 and 2
workers: wrk for --duration seconds over ~200 questions (en/es/pt/fr/ar, some with filters), and again
while a build beside the servers adds 20 documents (embedded by the real model) and publishes a new
version. Loopback only; every run is bounded.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pioc_search.settings import Settings  # noqa: E402
from pioc_search.stores import open_store  # noqa: E402
from pioc_search.stores.local import store as local_files  # noqa: E402  (file sizes in the report)
from pioc_search.models import Passage  # noqa: E402

BENCH = ROOT / "indexes" / "bench-load"
SIGMA = 0.02
SERVE = [sys.executable, "-c", "from pioc_search.cli import app; app()", "serve"]

TOPICS = {
    "en": ["how do violence interrupters work", "youth programmes that reduce homicides", "community policing and trust",
           "street lighting and public safety", "gender-based violence prevention", "what works to reduce gun violence",
           "hospital-based intervention after a shooting", "urban design to prevent crime", "women's leadership in "
           "peacebuilding", "data observatory for homicide counts", "mediating disputes between gangs",
           "school-based violence prevention", "funding for community safety", "police reform lessons"],
    "es": ["¿cómo funcionan los interruptores de violencia?", "programas juveniles para reducir homicidios",
           "prevención de la violencia de género", "diseño urbano y seguridad ciudadana", "confianza en la policía",
           "observatorio de homicidios en Cali"],
    "pt": ["como reduzir homicídios nas cidades", "mediação de conflitos entre jovens", "violência contra mulheres",
           "policiamento comunitário em Recife", "iluminação pública e segurança"],
    "fr": ["prévention de la violence urbaine", "médiation sociale dans les quartiers", "violences faites aux femmes",
           "rénovation urbaine et sécurité à Marseille", "programmes pour les jeunes"],
    "ar": ["كيف نقلل العنف في المدن", "برامج الشباب للوقاية من العنف", "العنف ضد المرأة", "الشرطة المجتمعية والثقة"],
}
FILTERS = [{}, {}, {}, {"doc_type": "report"}, {"doc_type": "blog"}, {"year_from": 2019},
           {"city": "Cali"}, {"language": "en"}, {"theme": "youth"}, {"k": 20}]

NEW_DOC = ("# {city} field note {n}\n\n## Programme\n\nIn {city} outreach workers mediate disputes between young "
           "people before they turn violent; note {n} describes volunteers repainting zebra crossings near the "
           "market and the observatory's monthly counts of shootings.\n")


def questions() -> list[str]:
    """~200 request paths: every question with several filter sets, URL-encoded."""
    paths = []
    all_questions = [q for qs in TOPICS.values() for q in qs]
    for question, extra in zip(itertools.cycle(all_questions), itertools.islice(itertools.cycle(FILTERS), 200)):
        params = {"q": question, "k": 10, **extra}
        paths.append("/search?" + urllib.parse.urlencode(params))
    return paths


LUA = """
local paths = {%s}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) seen = "" ; last = "" ; bad = 0 ; math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) %% 1000) end
function request() return wrk.format("GET", paths[math.random(#paths)]) end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 return end
  local v = body:match('"index_version":"([^"]+)"')
  if v and v ~= last then seen = seen .. v .. "," ; last = v end
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do io.write("VERSIONS ", t:get("seen"), "\\n") end
end
"""


def lua_script(directory: Path) -> Path:
    path = directory / "load.lua"
    path.write_text(LUA % ", ".join(json.dumps(p) for p in questions()))
    return path


# --- the indexes -------------------------------------------------------------------------------------------

def sample_root() -> Path:
    root = BENCH / "sample"
    if open_store(Settings(index_dir=root)).live_name() is None:
        from pioc_search.embedders import load_embedder
        from pioc_search.ingest.pipeline import build_index
        print("building the sample corpus index ...", flush=True)
        build_index(ROOT / "corpus", open_store(Settings(index_dir=root)), load_embedder(Settings.from_env()))
    return root


def synthetic_root(passages: int) -> Path:
    """The sample's real passages copied until there are `passages`, vectors jittered and renormalised."""
    root = BENCH / f"synthetic-{passages}"
    store = open_store(Settings(index_dir=root))
    if store.live_name() is not None:
        return root
    source = open_store(Settings(index_dir=sample_root())).live()
    dimension = int(source.meta["dimension"])
    docs = [(doc, source.document_passages(doc.id)) for doc in source.documents.values()]
    rng = np.random.default_rng(0)
    print(f"writing {passages} synthetic passages to {root} ...", flush=True)
    started = time.perf_counter()
    writer = store.writer(dimension)
    next_id = 1
    for copy in itertools.count():
        for doc, rows in docs:
            rows = rows[: passages - next_id + 1]
            if not rows:
                break
            new_doc = dataclasses.replace(doc, id=f"{doc.id}-c{copy}", path=f"copy{copy}/{doc.path}")
            items = [Passage(id=next_id + i, doc_id=new_doc.id, ordinal=r["ordinal"], text=r["text"],
                                   section=r["section"], page_start=r["page_start"], page_end=r["page_end"])
                     for i, r in enumerate(rows)]
            vectors = np.stack([source.vector(r["id"]) for r in rows])
            vectors += rng.normal(0, SIGMA, vectors.shape).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            writer.add_document(new_doc, f"synthetic-{copy}", items, [f"{r['embed_hash']}:{copy}" for r in rows],
                                vectors.astype(np.float32))
            next_id += len(rows)
        if next_id > passages:
            break
    meta = {**source.meta, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "previous_version": None, "passages": passages, "documents": writer.document_count, "corpus_dir": "synthetic (benchmarks/bench_load.py)"}
    writer.set_meta(meta)
    store.publish(writer.finish())
    print(f"  written in {time.perf_counter() - started:.0f} s", flush=True)
    return root


def ingest_beside(root: Path, documents: int = 20) -> None:
    """What an incremental ingest does: copy the live version, embed and add documents, verify, publish."""
    from pioc_search.embedders import load_embedder

    embedder = load_embedder(Settings.from_env())
    store = open_store(Settings(index_dir=root))
    live = store.live()
    first = max(r["id"] for d in live.documents for r in live.document_passages(d)) + 1
    template = next(iter(live.documents.values()))
    with store.build_lock():
        writer = store.writer(embedder.dimension, base=live)
        for n in range(documents):
            text = NEW_DOC.format(city="Quetzaltenango", n=n)
            doc = dataclasses.replace(template, id=f"ingest-{live.name}-{n}", path=f"ingest/{live.name}/{n}.md",
                                      title=f"Quetzaltenango field note {n}", language="en")
            passage = Passage(id=first + n, doc_id=doc.id, ordinal=0, text=text, section="Programme",
                                    page_start=None, page_end=None)
            writer.add_document(doc, f"ingest-{n}", [passage], [f"ingest-{live.name}-{n}"], embedder.encode([text]))
        writer.set_meta({"previous_version": live.name, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        store.publish(writer.finish())


# --- the servers and the load ------------------------------------------------------------------------------

def ingest_after(root: Path, delay: float, timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    """Run `ingest_beside` in its own process after `delay` seconds; return when it ended and its outcome."""
    started = time.monotonic()
    time.sleep(delay)
    done = subprocess.run([sys.executable, __file__, "--ingest-beside", str(root)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    return time.monotonic() - started, done


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in found if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def memory(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (private) in MB from /proc/PID/smaps_rollup."""
    values = {k: int(v.split()[0]) / 1024 for k, v in (
        line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])}
    return {"rss": values["Rss"], "pss": values["Pss"], "uss": values["Private_Clean"] + values["Private_Dirty"]}


class Servers:
    def __init__(self, root: Path, workers: int, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PIOC_INDEX_DIR": str(root)}
        self.process = subprocess.Popen([*SERVE, "--port", str(self.port), "--workers", str(workers)], cwd=ROOT,
                                        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        try:
            self.workers = self._ready(workers)
        except BaseException:
            self.stop()
            raise

    def _ready(self, count: int, timeout: float = 180) -> list[int]:
        import httpx
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}")
            pids = children(self.process.pid) if count > 1 else [self.process.pid]  # uvicorn: 1 worker = in-process
            if len(pids) == count:
                before = [cpu_ticks(p) for p in pids]
                time.sleep(1)
                if max(cpu_ticks(p) - b for p, b in zip(pids, before)) < 10:  # all warmed up and idle
                    for path in questions()[:20]:  # open the index in each worker (fresh connections)
                        httpx.get(self.url + path, timeout=180).raise_for_status()  # first non-English question loads lingua (~5 s)
                    return pids
            time.sleep(0.5)
        raise RuntimeError("the workers did not start in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def run_wrk(url: str, script: Path, duration: int, connections: int,
            until: "Future[object] | None" = None, after: float = 10) -> dict[str, object]:
    """wrk for `duration` seconds or, with `until`, until that finishes plus `after` seconds (then SIGINT)."""
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration if until is None else 3600}s",
               "--timeout", "30s", "--latency", "-s", str(script), url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    if until is not None:
        until.result()
        time.sleep(after)
        process.send_signal(signal.SIGINT)  # wrk stops and prints its report
    out = process.communicate(timeout=duration + 60)[0]

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "p50": ms("50%"), "p99": ms("99%"),
            "errors": (sum(map(int, sockets.groups())) if sockets else 0) + (int(non2xx.group(1)) if non2xx else 0),
            "versions": [line.split()[1].rstrip(",").split(",") for line in out.splitlines()
                         if line.startswith("VERSIONS ") and len(line.split()) > 1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of load per run (default 60)")
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--ingest-beside", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ingest_beside:
        return ingest_beside(args.ingest_beside)

    root = synthetic_root(args.passages)
    live = local_files.current_version(root)
    print(f"index: {args.passages} passages ({live.name}); vectors file "
          f"{(live / local_files.VECTORS_NAME).stat().st_size / 1e6:.0f} MB, "
          f"SQLite {(live / local_files.DB_NAME).stat().st_size / 1e6:.0f} MB")
    print(f"synthetic passages: the sample corpus's real passages repeated, each copy's vector = real vector + "
          f"N(0, {SIGMA}) per component, renormalised")
    print(f"machine: {os.cpu_count()} cores, shared by wrk (2 threads, {args.connections} connections), the "
          f"servers and the ingest{' and by other jobs' if os.getloadavg()[0] > 1.5 else ''} "
          f"(load average before: {os.getloadavg()[0]:.1f})\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        script = lua_script(Path(tmp))
        for workers in [int(w) for w in args.workers.split(",")]:
            servers = Servers(root, workers, Path(tmp) / f"serve-{workers}.log")
            try:
                steady = run_wrk(servers.url, script, args.duration, args.connections)
                mem = [memory(p) for p in servers.workers]
                rows.append((f"{workers}", "steady", steady, mem, ""))
                before = open_store(Settings(index_dir=root)).live_name()
                with ThreadPoolExecutor(1) as pool:
                    ingest = pool.submit(ingest_after, root, min(5, args.duration / 6), args.duration * 10)
                    during = run_wrk(servers.url, script, args.duration, args.connections, until=ingest)
                    took, ingest = ingest.result()
                after = open_store(Settings(index_dir=root)).live_name()
                if ingest.returncode != 0:
                    raise RuntimeError(ingest.stderr)
                switched = all(v[-1] == after and v[0] in (before, after) and len(v) <= 2 for v in during["versions"])
                note = (f"ingest {before[-12:]}→{after[-12:]} published {took:.0f}s into the run (wrk ran until 10 s after); every wrk "
                        f"thread ended on it: {switched} (per thread: {[len(v) for v in during['versions']]} versions)")
                rows.append((f"{workers}", "+ ingest", during, [memory(p) for p in servers.workers], note))
            finally:
                servers.stop()
    print(f"{'workers':>7} {'phase':>8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>8} {'errors':>6}  memory per worker "
          f"MB (RSS / PSS / USS)")
    for workers, phase, stats, mem, note in rows:
        memtext = "; ".join(f"{m['rss']:.0f} / {m['pss']:.0f} / {m['uss']:.0f}" for m in mem)
        print(f"{workers:>7} {phase:>8} {stats['rps']:>7.1f} {stats['p50']:>7.0f} {stats['p99']:>8.0f} "
              f"{stats['errors']:>6}  {memtext}")
        if note:
            print(f"{'':>17}{note}")
    failures = [r for r in rows if r[2]["errors"]]
    print("\nall requests answered 200" if not failures else f"\nERRORS in {len(failures)} runs")


if __name__ == "__main__":
    main()

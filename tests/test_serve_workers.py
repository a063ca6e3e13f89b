"""`pioc-search serve --workers 2`: both worker processes answer /search, and both follow a newly published
version by themselves, without a single failed request."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

from conftest import CORPUS, ROOT, BuiltIndex, free_port
from pioc_search.stores.local import store

SERVE = [sys.executable, "-c", "from pioc_search.cli import app; app()", "serve"]  # this checkout's code
QUESTIONS = ["youth violence prevention programmes", "¿Cómo reducir los homicidios en las ciudades?",
             "prévention de la violence urbaine", "community policing and trust", "mediação de conflitos"]


def start_workers(index_dir: Path, workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PIOC_INDEX_DIR": str(index_dir), "PIOC_CORPUS_DIR": str(CORPUS)}
    process = subprocess.Popen([*SERVE, "--port", str(port), "--workers", str(workers)],
                               cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


def worker_processes(process: subprocess.Popen, count: int, timeout: float = 90) -> list[psutil.Process]:
    """The worker processes, once all of them have loaded the model and gone idle (ready to accept)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited with {process.returncode}"
        workers = [c for c in psutil.Process(process.pid).children() if "spawn_main" in " ".join(c.cmdline())]
        if len(workers) == count:
            before = [w.cpu_times() for w in workers]
            time.sleep(1.0)
            busy = [sum(w.cpu_times()[:2]) - sum(b[:2]) for w, b in zip(workers, before)]
            if max(busy) < 0.1:
                return workers
        time.sleep(0.5)
    raise AssertionError("the workers did not start and settle in time")


def cpu_seconds(workers: list[psutil.Process]) -> list[float]:
    return [sum(w.cpu_times()[:2]) for w in workers]


def hammer(url: str, requests: int = 200, threads: int = 4) -> list[tuple[int, str | None]]:
    """Concurrent /search requests, each on a fresh connection so the workers share them."""
    def one(i: int) -> tuple[int, str | None]:
        try:
            response = httpx.get(url + "/search", params={"q": QUESTIONS[i % len(QUESTIONS)], "k": 5}, timeout=30)
        except httpx.HTTPError as exc:
            return -1, repr(exc)
        return response.status_code, response.json().get("index_version") if response.status_code == 200 else None

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(requests)))


def publish_copy(root: Path) -> str:
    """Publish a new version (a verified copy of the live one) the way an ingest does."""
    live = store.current_version(root)
    assert live is not None
    writer = store.LocalWriter(root, 0, base=live)
    writer.set_meta({"built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    name = writer.finish()
    store.publish(root, root / name)
    return name


def test_two_workers_answer_and_follow_a_new_version(sample_index: BuiltIndex, tmp_path: Path) -> None:
    root = tmp_path / "indexes"  # a copy: publishing into the shared session index would disturb other tests
    shutil.copytree(sample_index.root, root, ignore=shutil.ignore_patterns("*.lock"))
    first = store.current_version(root).name
    log = tmp_path / "serve.log"
    process, url = start_workers(root, 2, log)
    try:
        workers = worker_processes(process, 2)
        assert len({w.pid for w in workers}) == 2

        cpu = cpu_seconds(workers)
        outcomes = hammer(url)
        assert outcomes == [(200, first)] * len(outcomes), (sorted(set(outcomes))[:5], log.read_text()[-3000:])
        used = [after - before for after, before in zip(cpu_seconds(workers), cpu)]
        assert min(used) > 0.2, f"one worker answered (almost) nothing: CPU seconds per worker {used}"

        second = publish_copy(root)
        deadline = time.monotonic() + 5
        while hammer(url, requests=8) != [(200, second)] * 8:
            assert time.monotonic() < deadline, "the workers did not switch to the new version within 5 s"
        cpu = cpu_seconds(workers)
        outcomes = hammer(url)
        assert outcomes == [(200, second)] * len(outcomes), (sorted(set(outcomes))[:5], log.read_text()[-3000:])  # no worker is left on the old version
        used = [after - before for after, before in zip(cpu_seconds(workers), cpu)]
        assert min(used) > 0.2, f"one worker answered (almost) nothing: CPU seconds per worker {used}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()

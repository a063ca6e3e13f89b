"""Embedding overlapped with extraction: passages are encoded in background threads while the
watchdog's worker process extracts the next files and the build's own thread chunks them.

ONNX Runtime releases the GIL while it runs, so the model and extraction share both cores. The
model runs `runners` batches at once (default `embedder.threads`), each on one core: for passages
that encodes more per second than one batch spread over the cores (docs/models.md). Passages are
handed over once a window (at least one batch) has gathered, sorted by length and cut into batches
(so batches pad little); at most `backlog` passages wait, so a slow model holds extraction back
instead of queueing text without limit. Vectors the live version already has (same model, same
embedding input) are reused, never re-encoded.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from pioc_search.embedders import Embedder

ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)
Lookup = Callable[[list[str]], Mapping[str, np.ndarray]]  # stored vectors by embedding hash


class BackgroundEmbedding:
    """Collects (hash → embedding input) while files are prepared and encodes them in background threads.

    Use as a context manager: leaving it (also on error or refusal) drops the work not started,
    waits for the batches being encoded and lets the passage session go once it stays unused."""

    def __init__(self, embedder: Embedder, reuse: Lookup | None = None, window: int | None = None,
                 backlog: int = 2048, runners: int | None = None) -> None:
        self.embedder = embedder
        self.window = max(1, window or embedder.batch_size)
        self.backlog = backlog
        self.vectors: dict[str, np.ndarray] = {}
        self.embedded = 0
        self.busy = 0.0  # seconds the model's runners spent encoding, summed over runners
        self._reuse = reuse
        self._waiting: dict[str, str] = {}
        self._seen: set[str] = set()
        self._pending: deque[tuple[list[str], Future]] = deque()  # batches handed over, oldest first
        self._queued = 0  # passages in those batches
        self._pool = ThreadPoolExecutor(max(1, runners or embedder.threads), thread_name_prefix="pioc-embed")

    def __enter__(self) -> BackgroundEmbedding:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.embedder.done_with_passages()

    @property
    def reused(self) -> int:
        return len(self.vectors) - self.embedded

    def add(self, inputs: Mapping[str, str]) -> None:
        """Queue one file's embedding inputs; encoding starts once a window is full."""
        new = [h for h in dict.fromkeys(inputs) if h not in self._seen]
        self._seen.update(new)
        stored = self._reuse(new) if self._reuse and new else {}
        self.vectors.update(stored)
        self._waiting.update((h, inputs[h]) for h in new if h not in stored)
        if len(self._waiting) >= self.window:
            self._submit()

    def finish(self, on_progress: ProgressCallback | None = None) -> dict[str, np.ndarray]:
        """Every vector by hash, once the model is done; "embed" progress counts the passages
        encoded, batch by batch, in this (the caller's) thread."""
        self._submit()
        total, done = self._queued + self.embedded, self.embedded
        while self._pending:
            done += self._collect_oldest()
            if on_progress:
                on_progress("embed", done, total)
        return self.vectors

    def _submit(self) -> None:
        if not self._waiting:
            return
        while self._queued >= self.backlog:  # bounded: wait for the oldest
            self._collect_oldest()
        waiting = sorted(self._waiting.items(), key=lambda item: len(item[1]))  # similar lengths pad less
        self._waiting = {}
        size = self.embedder.batch_size
        for start in range(0, len(waiting), size):
            hashes, texts = zip(*waiting[start : start + size])
            self._pending.append((list(hashes), self._pool.submit(self._encode, list(texts))))
            self._queued += len(hashes)

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, float]:
        tick = time.perf_counter()
        encoded = self.embedder.encode(texts, runners=1)  # one batch: the runners are this pool's threads
        return encoded, time.perf_counter() - tick

    def _collect_oldest(self) -> int:
        """Wait for the oldest batch handed over and keep its vectors; its size."""
        hashes, future = self._pending.popleft()
        encoded, seconds = future.result()
        self.vectors.update(zip(hashes, encoded))
        self.embedded += len(hashes)
        self._queued -= len(hashes)
        self.busy += seconds
        return len(hashes)

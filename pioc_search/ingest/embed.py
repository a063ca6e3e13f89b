"""Embedding overlapped with extraction: passages are encoded in a background thread while the
watchdog's worker process extracts the next files and the build's own thread chunks them.

ONNX Runtime releases the GIL while it runs, so on two cores the model keeps one busy while
extraction keeps the other. Passages go to the model in windows of at least one batch (the
embedder sorts a window by length, so its batches pad little); at most `backlog` passages wait,
so a slow model holds extraction back instead of queueing text without limit. Vectors the live
version already has (same model, same embedding input) are reused, never re-encoded.
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
    """Collects (hash → embedding input) while files are prepared and encodes them one thread away.

    Use as a context manager: leaving it (also on error or refusal) drops the work not started and
    waits for the window being encoded."""

    def __init__(self, embedder: Embedder, reuse: Lookup | None = None, window: int | None = None,
                 backlog: int = 2048) -> None:
        self.embedder = embedder
        self.window = max(1, window or embedder.batch_size)
        self.backlog = backlog
        self.vectors: dict[str, np.ndarray] = {}
        self.embedded = 0
        self.busy = 0.0  # seconds the model spent encoding
        self._reuse = reuse
        self._waiting: dict[str, str] = {}
        self._seen: set[str] = set()
        self._pending: deque[tuple[list[str], Future]] = deque()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="pioc-embed")

    def __enter__(self) -> BackgroundEmbedding:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

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
        total = sum(len(hashes) for hashes, _ in self._pending) + self.embedded
        done = self.embedded
        while self._pending:
            hashes, future = self._pending.popleft()
            encoded, batches, seconds = future.result()
            self._store(hashes, encoded, seconds)
            for size in batches:
                done += size
                if on_progress:
                    on_progress("embed", done, total)
        return self.vectors

    def _submit(self) -> None:
        if not self._waiting:
            return
        while sum(len(hashes) for hashes, _ in self._pending) >= self.backlog:  # bounded: wait for the oldest
            hashes, future = self._pending.popleft()
            encoded, _, seconds = future.result()
            self._store(hashes, encoded, seconds)
        hashes, texts = list(self._waiting), list(self._waiting.values())
        self._waiting = {}
        self._pending.append((hashes, self._pool.submit(self._encode, texts)))

    def _encode(self, texts: list[str]) -> tuple[np.ndarray, list[int], float]:
        tick, batches = time.perf_counter(), []
        encoded = self.embedder.encode(texts, on_batch=batches.append)
        return encoded, batches, time.perf_counter() - tick

    def _store(self, hashes: list[str], encoded: np.ndarray, seconds: float) -> None:
        self.vectors.update(zip(hashes, encoded))
        self.embedded += len(hashes)
        self.busy += seconds

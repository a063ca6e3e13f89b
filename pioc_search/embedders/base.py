"""The interface every caller uses, whatever the model: passages and questions in, unit vectors out.

A backend says how to tokenise, how to produce its ONNX file (cached after the first use) and
which cosine thresholds fit its score range; batching, the question cache, the ONNX Runtime
sessions (and the bfloat16 passage session, embedders/bf16.py) and the cheap word-piece vectors are shared
here.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from pioc_search.embedders import bf16
from pioc_search.embedders.export import EXPORT_RECIPE

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The tokenizers thread pool spins after each call: on 2 cores that CPU is taken from the search itself, and
# the texts tokenised per call (a question, a batch of passages) are too few to gain from threads.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
PRECISIONS = ("fp32", "bf16", "int8")  # of passages; questions run in int8 with int8, else in fp32
# Between two operators of a run, a thread waits 10 µs for the next before it sleeps, and none waits after the
# run: a question encodes ~11% faster than with no waiting, and threads do not take the cores from what runs next
# (docs/models.md, "Spinning").
SPINNING = {"session.intra_op.allow_spinning": "1", "session.intra_op.spin_duration_us": "10",
            "session.force_spinning_stop": "1"}
PASSAGE_SESSION_IDLE = 600.0  # seconds the passage session outlives the last build (loading it costs ~1 s for E5)
WORD_PIECE_CACHE = 1 << 14  # words whose summed word pieces (1.5 KB each) an embedder remembers


def default_cache_dir() -> Path:
    """$PIOC_CACHE_DIR, else $XDG_CACHE_HOME/pioc-search, else ~/.cache/pioc-search."""
    if os.environ.get("PIOC_CACHE_DIR"):
        return Path(os.environ["PIOC_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pioc-search"


def default_precision() -> str:
    """Passages in bfloat16 where the CPU computes it natively (1.2–1.4× the passages per second, cosine to float
    ≥ 0.9999), else float; PIOC_PRECISION (Settings.precision) chooses otherwise."""
    return "bf16" if bf16.cpu_has_bf16() else "fp32"


def cached_file(target: Path, produce: Callable[[Path], None]) -> Path:
    """`target`, produced once by `produce(partial_path)` and renamed into place atomically, so
    concurrent processes never read half a file."""
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            produce(partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target


class Embedder(ABC):
    """A sentence-embedding model on the CPU (ONNX Runtime; passages also torch in bfloat16); vectors are
    L2-normalised float32."""

    model_id: str
    dimension: int
    answer_cosine: float  # the top hit must be at least this close to the question for an answer box
    related_floor: float  # related material below this cosine is listed last

    model_inputs: tuple[str, ...]  # the transformer's inputs, in the ONNX file's order
    precision: str  # of passages: "fp32", "bf16" (torch, questions in fp32) or "int8" (dynamic, per channel)
    fused = True  # attention fused by ONNX Runtime's optimiser (embedders/export.py); False only to measure it
    spinning = SPINNING  # how ONNX Runtime's threads wait between operators; another only to measure it

    def __init__(self, batch_size: int = 1, cache_dir: Path | None = None, precision: str | None = None) -> None:
        if precision not in (None, *PRECISIONS):
            raise ValueError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        self.precision = precision or default_precision()
        self.batch_size = batch_size
        self.threads = min(2, os.cpu_count() or 1)  # cores a question uses; passage runners (read when the model loads)
        self.cache_dir = cache_dir or default_cache_dir()
        self.calls = 0  # number of texts encoded so far; lets tests prove what was re-embedded
        self._query_cache = lru_cache(maxsize=1024)(lambda text: self._run([text], self._session, query=True)[0])
        self._word_pieces = WordPieceTable(self._word_vectors_uncached, self.dimension, WORD_PIECE_CACHE)
        self._load_lock = threading.Lock()
        self._calls_lock = threading.Lock()
        self._sessions: dict[int | str, object] = {}  # ONNX Runtime sessions by intra-op thread count, "bf16"
        self._release_timer: threading.Timer | None = None

    # --- what a backend provides -------------------------------------------------------------
    @property
    @abstractmethod
    def max_tokens(self) -> int:
        """The model's input limit in tokens (longer inputs are truncated)."""

    @abstractmethod
    def _onnx_file(self) -> Path:
        """The model's ONNX file (input_ids, attention_mask[, token_type_ids] → embedding)."""

    @abstractmethod
    def _torch_model(self):  # type: ignore[no-untyped-def]
        """The transformer (transformers) that bfloat16 passages run on: float weights, or its linear layers
        already in bfloat16 (E5's cached file); `bf16.Bf16Session` puts them in bfloat16 either way."""

    @abstractmethod
    def _token_ids(self, texts: Sequence[str], *, query: bool, model_input: bool) -> list[list[int]]:
        """Token ids: with prefix, special markers and truncation when `model_input`, else the
        text's own tokens only."""

    @abstractmethod
    def _word_piece_rows(self, ids: np.ndarray) -> np.ndarray:
        """The model's input embeddings of these token ids (rows of its word-embedding table)."""

    # --- shared ------------------------------------------------------------------------------
    @property
    def export_recipe(self) -> str:
        """How the ONNX file was made, part of its cached name."""
        return EXPORT_RECIPE if self.fused else "unfused"

    @property
    def vectors_id(self) -> str:
        """What a passage's vector depends on besides its text: model, precision and export (or bfloat16) recipe.
        An index reuses vectors (incremental ingest) only between builds with the same vectors_id."""
        return f"{self.model_id}|{self.precision}|{bf16.RECIPE if self.precision == 'bf16' else self.export_recipe}"

    def load(self, *, passages: bool = False) -> None:
        """Load the model now rather than on first use: the session questions run on, or with
        `passages` the one passages run on (the same one when `threads` is 1 and passages run in ONNX Runtime)."""
        _ = self._passage_session if passages else self._session

    def done_with_passages(self, idle: float | None = None) -> None:
        """A build is over: the passage session is freed once no other build has used it for `idle` seconds
        (default PASSAGE_SESSION_IDLE), so a server does not keep a second model in memory between uploads
        while builds in quick succession do not load it again. Never the session questions use."""
        if self._passage_key == self.threads:  # passages run on the question session: never freed
            return
        with self._load_lock:
            self._cancel_release()
            self._release_timer = threading.Timer(PASSAGE_SESSION_IDLE if idle is None else idle,
                                                  self._release_passage_session)
            self._release_timer.daemon = True
            self._release_timer.start()

    def _release_passage_session(self) -> None:
        with self._load_lock:
            if threading.current_thread() is self._release_timer:  # not cancelled by a build meanwhile
                self._sessions.pop(self._passage_key, None)
                self._release_timer = None

    def _cancel_release(self) -> None:
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None

    @property
    def _session(self):  # type: ignore[no-untyped-def]
        """Questions: one run spread over `threads` cores (a short input gains latency from it)."""
        return self._session_with(self.threads)

    @property
    def _passage_session(self):  # type: ignore[no-untyped-def]
        """Passages: one core per run and `threads` runs at once, which encodes more passages per
        second than each run spread over the cores (docs/models.md); torch in bfloat16 with "bf16"."""
        if self._release_timer is not None:  # a build is using it again
            with self._load_lock:
                self._cancel_release()
        return self._session_with(self._passage_key)

    @property
    def _passage_key(self) -> int | str:
        return "bf16" if self.precision == "bf16" else 1

    def _session_with(self, key: int | str):  # type: ignore[no-untyped-def]
        """The session of `key`: an ONNX Runtime session on that many threads, or "bf16"."""
        session = self._sessions.get(key)
        if session is None:
            with self._load_lock:  # two first requests at once build one session
                session = self._sessions.get(key)
                if session is None:
                    session = self._sessions[key] = self._new_session(key)
        return session

    def _new_session(self, key: int | str):  # type: ignore[no-untyped-def]
        if key == "bf16":
            return bf16.Bf16Session(self._torch_model(), self.model_inputs)
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(key)
        options.log_severity_level = 3
        for name, value in self.spinning.items():
            options.add_session_config_entry(name, value)
        return onnxruntime.InferenceSession(str(self._onnx_file()), options, providers=["CPUExecutionProvider"])

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts of the texts themselves (no prefix, no special markers)."""
        return [len(ids) for ids in self._token_ids(texts, query=False, model_input=False)]

    def encode(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None, *,
               runners: int | None = None) -> np.ndarray:
        """Passage vectors, shape (len(texts), dimension), encoded in batches, `runners` (default
        `threads`) at a time; `on_batch` hears each batch's size, in order, in the caller's thread.
        A vector does not depend on the runner or on the other batches."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths pad less
        batches = [order[start : start + self.batch_size] for start in range(0, len(texts), self.batch_size)]
        session = self._passage_session

        def run(rows: np.ndarray) -> int:
            out[rows] = self._run([texts[i] for i in rows], session, query=False)
            return len(rows)

        runners = min(runners or self.threads, len(batches))
        with ThreadPoolExecutor(max(1, runners), thread_name_prefix="pioc-encode") as pool:
            for size in pool.map(run, batches) if runners > 1 else map(run, batches):  # in order, as they finish
                if on_batch:
                    on_batch(size)
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """The question's vector; repeated questions (next page, another filter) are not re-encoded."""
        return self._query_cache(text).copy()

    def clear_query_cache(self) -> None:
        """Forget cached question vectors (for timing runs that must encode every question)."""
        self._query_cache.cache_clear()

    def _run(self, batch: list[str], session, *, query: bool) -> np.ndarray:  # type: ignore[no-untyped-def]
        ids = self._token_ids(batch, query=query, model_input=True)
        width = max(len(row) for row in ids)
        input_ids = np.full((len(ids), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if any(i.name == "token_type_ids" for i in session.get_inputs()):
            feed["token_type_ids"] = np.zeros_like(input_ids)
        with self._calls_lock:
            self.calls += len(batch)
        return session.run(None, feed)[0]

    _pad_id = 0

    def word_piece_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length mean of each text's unit-length word-piece input embeddings: a bag-of-words
        sense of meaning at a tiny fraction of a full encoding's cost (used to pick a sentence).

        Texts are split at whitespace and each word's summed pieces are remembered: both tokenisers
        split words at whitespace before finding pieces, so the pieces are the text's own, and
        answer highlighting meets the same words again and again."""
        words = [text.split() for text in texts]
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        counts = np.array([len(w) for w in words])
        if counts.sum():
            table = self._word_pieces.rows([w for found in words for w in found])
            present = counts > 0
            starts = (np.cumsum(counts) - counts)[present]
            vectors[present] = np.add.reduceat(table, starts, axis=0)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    def _word_vectors_uncached(self, words: Sequence[str]) -> np.ndarray:
        """Each word's sum of its unit-length word-piece input embeddings (one tokeniser call for all)."""
        out = np.zeros((len(words), self.dimension), dtype=np.float32)
        for row, ids in enumerate(self._token_ids(words, query=False, model_input=False)):
            if ids:
                pieces = self._word_piece_rows(np.array(ids, dtype=np.int64))
                out[row] = (pieces / np.maximum(np.linalg.norm(pieces, axis=1, keepdims=True), 1e-9)).sum(axis=0)
        return out


class WordPieceTable:
    """Words' vectors (`compute(words)` → one row of `dimension` floats each) remembered as rows of one array,
    so a text's words are gathered with one indexing operation instead of stacking an array per word. Holds at
    most `capacity` words, then starts afresh; searches on other threads keep reading the rows they saw."""

    def __init__(self, compute: Callable[[Sequence[str]], np.ndarray], dimension: int, capacity: int) -> None:
        self._compute = compute
        self._dimension = dimension
        self._capacity = capacity
        self._lock = threading.Lock()
        self._state: tuple[dict[str, int], np.ndarray | None] = ({}, None)  # word → row, the rows

    def rows(self, words: Sequence[str]) -> np.ndarray:
        """The vectors of `words`, one row per word, in order (repeats included)."""
        if not words:
            return np.zeros((0, self._dimension), dtype=np.float32)
        ids, table = self._state
        try:
            return table[[ids[w] for w in words]]  # type: ignore[index]
        except (KeyError, TypeError):
            ids, table = self._add(words)
            return table[[ids[w] for w in words]]

    def _add(self, words: Sequence[str]) -> tuple[dict[str, int], np.ndarray]:
        distinct = list(dict.fromkeys(words))
        if len(distinct) > self._capacity:  # more than the table holds: computed, not remembered
            vectors = self._compute(distinct)
            return {w: i for i, w in enumerate(distinct)}, vectors
        with self._lock:
            ids, table = self._state
            missing = [w for w in distinct if w not in ids]
            if table is None or len(ids) + len(missing) > self._capacity:
                ids, table = {}, None  # a new dict and array: readers holding the old ones are unaffected
                missing = distinct
            if missing:
                vectors = self._compute(missing)
                if table is None:  # np.empty: pages are only touched as rows are written
                    table = np.empty((self._capacity, self._dimension), dtype=np.float32)
                start = len(ids)
                table[start : start + len(missing)] = vectors
                ids.update((w, start + i) for i, w in enumerate(missing))  # rows written before they are listed
            self._state = ids, table
            return ids, table

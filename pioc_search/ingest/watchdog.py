"""Extraction under a watchdog: each file is extracted in a worker process with a time and a memory
limit, so one pathological file costs a line in the report, never the build.

The worker runs one file ahead of the caller (`FileExtractor.map`): while the caller chunks (and
later embeds) one file, the worker is already extracting the next. Library warnings and anything
the worker or its tools print go to the build's log file, never to the terminal.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TypeVar

from pioc_search.ingest.extract import (
    MODULES, EnvironmentProblem, ExtractionError, ExtractOptions, extract_file, extractor_module,
)
from pioc_search.models import Extraction

T = TypeVar("T")
MB = 1024 * 1024
_CONTEXT = mp.get_context("spawn")  # no fork of a process that runs model threads or a server
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """What one file may cost to extract."""

    seconds: float = 120.0
    memory_mb: int = 2048  # address space of the worker process while it extracts the file


class FileExtractor:
    """One worker process that extracts files in turn; it is killed and replaced when a file runs
    over its time, and replaced when it dies (e.g. out of memory inside a C library)."""

    def __init__(self, limits: Limits = Limits(), log_path: Path | None = None) -> None:
        self.limits = limits
        self.log_path = log_path
        self._process: mp.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._sent_at = 0.0

    def __enter__(self) -> FileExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(self, items: Iterable[T], task: Callable[[T], tuple[Path, ExtractOptions]]
            ) -> Iterator[tuple[T, Extraction | ExtractionError]]:
        """Each item with its extraction (or the reason it failed), in order, one file ahead.

        Raises EnvironmentProblem when the installation cannot extract the format at all.
        """
        items = list(items)
        if items:
            self.submit(*task(items[0]))
        for number, item in enumerate(items):
            try:
                outcome: Extraction | ExtractionError = self.result()
            except ExtractionError as exc:
                outcome = exc
            if number + 1 < len(items):
                self.submit(*task(items[number + 1]))  # the worker goes on while the caller works
            yield item, outcome

    def submit(self, path: Path, options: ExtractOptions) -> None:
        if self._process is None or not self._process.is_alive():
            self._start()
        assert self._conn is not None
        self._conn.send((path, options, self.limits.memory_mb))
        self._sent_at = time.monotonic()

    def result(self) -> Extraction:
        """The extraction of the file submitted last; ExtractionError when it failed or ran over a limit."""
        assert self._conn is not None
        seconds = self.limits.seconds
        if not self._conn.poll(max(0.0, self._sent_at + seconds - time.monotonic())):
            self._stop()
            raise ExtractionError(f"took longer than {seconds:g} s to extract (PIOC_FILE_TIMEOUT); skipped")
        try:
            kind, value = self._conn.recv()
        except (EOFError, OSError):
            code = self._process.exitcode if self._process else None
            self._stop()
            raise ExtractionError(f"the extractor stopped unexpectedly (exit code {code}); the file may have "
                                  f"needed more than {self.limits.memory_mb} MB") from None
        if kind == "ok":
            return value  # type: ignore[no-any-return]
        if kind == "environment":
            raise EnvironmentProblem(value)
        if kind == "memory":
            raise ExtractionError(f"needed more than {self.limits.memory_mb} MB to extract "
                                  "(PIOC_FILE_MEMORY_MB); skipped")
        raise ExtractionError(value)

    def close(self) -> None:
        self._stop()

    def _start(self) -> None:
        self._stop()
        parent, child = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(target=_serve, args=(child, self.log_path), name="pioc-extract",
                                         daemon=True)
        self._process.start()
        child.close()
        self._conn = parent

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None and self._process.pid is not None:  # started
            if self._process.is_alive():
                self._process.kill()
            self._process.join(5)
        self._process = None


# ------------------------------------------------------------------------------------- the worker


def _serve(conn: Connection, log_path: Path | None) -> None:
    """Worker loop: extract each (path, options, memory_mb) received; exits when the parent goes."""
    _quiet(log_path)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    while True:
        try:
            path, options, memory_mb = conn.recv()
        except (EOFError, OSError):
            return
        log.info("extracting %s", path)
        try:  # the format's libraries load outside the file's memory budget
            if path.suffix.lower() in MODULES:
                extractor_module(path.suffix.lower())
        except EnvironmentProblem as exc:
            conn.send(("environment", str(exc)))
            continue
        limit = memory_mb * MB if hard == resource.RLIM_INFINITY else min(memory_mb * MB, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        try:
            outcome: tuple[str, object] = ("ok", extract_file(path, options))
        except MemoryError:
            outcome = ("memory", "")
        except EnvironmentProblem as exc:
            outcome = ("environment", str(exc))
        except ExtractionError as exc:
            outcome = ("failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - a bad file must never stop the build
            log.warning("%s: %s", path, exc, exc_info=True)
            outcome = ("failed", f"unexpected error: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        try:
            conn.send(outcome)
        except (EOFError, OSError, BrokenPipeError):
            return


def _quiet(log_path: Path | None) -> None:
    """Send the worker's logging, warnings and raw stdout/stderr (tesseract, C libraries) to the log."""
    target = os.open(log_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)
    handler = logging.StreamHandler(sys.stderr)  # fd 2 is the log file now
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("pioc_search").setLevel(logging.INFO)
    logging.captureWarnings(True)

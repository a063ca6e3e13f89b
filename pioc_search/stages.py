"""Optional per-stage timing of a search (benchmarks/bench_search.py): off unless a caller collects.

    with stages.collect() as (wall, cpu):  # {"encode": seconds, "dense": seconds, ...} each
        searcher.search(question)

Wall-clock time (perf_counter) and the process's CPU time (process_time: the honest figure on a busy
machine). `stage(name)` costs one context-variable lookup when nobody collects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Timings = tuple[dict[str, float], dict[str, float]]  # (wall seconds, CPU seconds) per stage
_timings: ContextVar[Timings | None] = ContextVar("pioc_stage_timings", default=None)


class stage:  # noqa: N801 - used like a function: `with stage("dense"):`
    """Adds the time spent inside the block to the collecting caller's `name` entry."""

    __slots__ = ("name", "timings", "started", "cpu_started")

    def __init__(self, name: str) -> None:
        self.name = name
        self.timings = _timings.get()

    def __enter__(self) -> None:
        if self.timings is not None:
            self.started, self.cpu_started = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: object) -> None:
        if self.timings is not None:
            wall, cpu = self.timings
            wall[self.name] = wall.get(self.name, 0.0) + time.perf_counter() - self.started
            cpu[self.name] = cpu.get(self.name, 0.0) + time.process_time() - self.cpu_started


@contextmanager
def collect() -> Iterator[Timings]:
    """Collect the stage times of the searches run inside the block."""
    timings: Timings = ({}, {})
    token = _timings.set(timings)
    try:
        yield timings
    finally:
        _timings.reset(token)

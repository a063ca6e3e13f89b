"""Optional per-stage timing of a search (benchmarks/bench_search.py): off unless a caller collects.

    with stages.collect() as timings:      # {"encode": seconds, "dense": seconds, ...}
        searcher.search(question)

`stage(name)` costs one context-variable lookup when nobody collects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_timings: ContextVar[dict[str, float] | None] = ContextVar("pioc_stage_timings", default=None)


class stage:  # noqa: N801 - used like a function: `with stage("dense"):`
    """Adds the time spent inside the block to the collecting caller's `name` entry."""

    __slots__ = ("name", "timings", "started")

    def __init__(self, name: str) -> None:
        self.name = name
        self.timings = _timings.get()

    def __enter__(self) -> None:
        if self.timings is not None:
            self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        if self.timings is not None:
            self.timings[self.name] = self.timings.get(self.name, 0.0) + time.perf_counter() - self.started


@contextmanager
def collect() -> Iterator[dict[str, float]]:
    """Collect the stage times of the searches run inside the block."""
    timings: dict[str, float] = {}
    token = _timings.set(timings)
    try:
        yield timings
    finally:
        _timings.reset(token)

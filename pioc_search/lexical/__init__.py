"""Lexical engines behind one interface (`base`); `engine(name)` is the one place that picks one."""

from __future__ import annotations

from pioc_search.lexical.base import Engine, LexicalReader, LexicalRow, LexicalWriter

DEFAULT = "tantivy"
NAMES = ("tantivy", "fts5")
LEGACY = "fts5"  # versions that do not record their engine were built with FTS5

__all__ = ["DEFAULT", "NAMES", "Engine", "LexicalReader", "LexicalRow", "LexicalWriter", "engine"]


def engine(name: str | None = None) -> Engine:
    """The engine called `name` (None: the default), imported only when used."""
    name = (name or DEFAULT).strip().lower()
    if name == "tantivy":
        from pioc_search.lexical.tantivy_engine import ENGINE
    elif name == "fts5":
        from pioc_search.lexical.fts5 import ENGINE
    else:
        raise ValueError(f"unknown lexical engine {name!r}: choose one of {', '.join(NAMES)}")
    return ENGINE

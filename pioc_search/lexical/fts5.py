"""SQLite FTS5 over analysed terms, inside the version's meta.sqlite (table `passages_fts`).

Ranking is `bm25(passages_fts, 1.0, 0.5, 1.0)`: FTS5 weights the term frequencies of the text,
section and title columns and normalises by the passage's total length (BM25F-like).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from pioc_search.lexical.base import Engine, LexicalReader, LexicalRow, LexicalWriter

WEIGHTS = (1.0, 0.5, 1.0)  # BM25 weight of a term in a passage's text, section, document title
BM25 = f"bm25(passages_fts, {', '.join(map(str, WEIGHTS))})"
TABLE = "CREATE VIRTUAL TABLE passages_fts USING fts5(text, section, title, tokenize='unicode61 remove_diacritics 0')"


def match_query(terms: Sequence[str]) -> str | None:
    """A safe FTS5 query: every term quoted (FTS5 syntax in a question is inert), OR-ed."""
    return " OR ".join('"{}"'.format(t.replace('"', '""')) for t in terms) or None


class Fts5Writer(LexicalWriter):
    def __init__(self, path: Path, conn: sqlite3.Connection, base: Path | None) -> None:
        self.conn = conn  # meta.sqlite was copied from `base` already
        if base is None:
            conn.execute(TABLE)

    def add(self, rows: Sequence[LexicalRow]) -> None:
        self.conn.executemany("INSERT INTO passages_fts (rowid, text, section, title) VALUES (?, ?, ?, ?)",
                              [(r.passage_id, r.text, r.section, r.title) for r in rows])

    def delete(self, doc_ids: Iterable[str]) -> None:
        for doc_id in doc_ids:
            self.conn.execute("DELETE FROM passages_fts WHERE rowid IN (SELECT id FROM passages WHERE doc_id = ?)",
                              (doc_id,))

    def finish(self) -> None:
        self.conn.commit()

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM passages_fts").fetchone()[0])


class Fts5Reader(LexicalReader):
    def __init__(self, path: Path, conn: Callable[[], sqlite3.Connection]) -> None:
        self.conn = conn

    def search(self, terms: Sequence[str], k: int, doc_ids: Sequence[str] | None = None) -> list[tuple[int, float]]:
        query = match_query(terms)
        if query is None or doc_ids is not None and not doc_ids:
            return []
        sql = f"SELECT rowid, -{BM25} FROM passages_fts WHERE passages_fts MATCH ?"
        args: list[object] = [query]
        if doc_ids is not None:
            sql += f" AND rowid IN (SELECT id FROM passages WHERE doc_id IN ({','.join('?' * len(doc_ids))}))"
            args += doc_ids
        sql += f" ORDER BY {BM25} LIMIT ?"
        return [(int(r[0]), float(r[1])) for r in self.conn().execute(sql, [*args, k])]

    def doc_freq(self, term: str) -> int:
        conn = self.conn()
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, passages_fts, 'row')")
        row = conn.execute("SELECT doc FROM temp.vocab WHERE term = ?", (term,)).fetchone()
        return int(row[0]) if row else 0

    def count(self) -> int:
        return int(self.conn().execute("SELECT COUNT(*) FROM passages_fts").fetchone()[0])


ENGINE = Engine("fts5", Fts5Writer, Fts5Reader)

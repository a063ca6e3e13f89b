"""The local store: index versions on disk, indexes/<version>/{meta.sqlite, vectors.faiss, lexical/};
CURRENT names the live one. `LocalStore` implements stores.base.Store over a root folder.

A build writes `<version>.building/`, verifies it, renames it into place and then switches
CURRENT with an atomic rename, so readers see either the old version or the new one, never a mix.
A version that was renamed into place but never made live carries an UNPUBLISHED marker, so the
leftovers of a build killed between the two renames are recognised and removed by the next build.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from functools import cached_property, lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pioc_search import ann, lexical
from pioc_search.analysis import analyse, question_terms
from pioc_search.models import Document, Passage
from pioc_search.stages import stage
from pioc_search.stores.base import BuildInProgress, VerificationError, VersionGone

if TYPE_CHECKING:
    from pioc_search.search import Filters

DB_NAME = "meta.sqlite"
VECTORS_NAME = "vectors.faiss"
CURRENT = "CURRENT"
BUILDING_SUFFIX = ".building"
REMOVING_SUFFIX = ".removing"
UNPUBLISHED = ".unpublished"
LOCK_NAME = ".build.lock"
ID_SET_CACHE = 4  # filters whose passage ids and FAISS selector a version remembers (~56 bytes per allowed passage)
SCHEMA_VERSION = 3  # bump when a version built before cannot be read or reused; builds then start afresh

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    id TEXT PRIMARY KEY, path TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, fingerprint TEXT NOT NULL,
    title TEXT NOT NULL, doc_type TEXT NOT NULL, cities TEXT NOT NULL, themes TEXT NOT NULL,
    date TEXT, year INTEGER, language TEXT NOT NULL, source_url TEXT, media_type TEXT NOT NULL,
    pages INTEGER
);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, section TEXT NOT NULL,
    page_start INTEGER, page_end INTEGER, embed_hash TEXT NOT NULL
);
CREATE INDEX passages_doc ON passages (doc_id, ordinal);
CREATE INDEX passages_embed_hash ON passages (embed_hash);
"""
# The lexical index (pioc_search.lexical) holds the analysed terms of each passage's text and section
# and of its document's title; the words as written stay in `passages` for display.


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """Exclusive, crash-safe build lock (the kernel drops it when the holder dies)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_NAME, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise BuildInProgress(f"another ingest is already running (pid {holder}); nothing was changed") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_version(root: Path) -> Path | None:
    """The live version directory, or None before the first build."""
    try:
        name = (root / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    path = root / name
    return path if name and path.is_dir() else None


def list_versions(root: Path) -> list[str]:
    """Complete versions that have been live at some point, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and "." not in p.name and (p / DB_NAME).exists() and (p / VECTORS_NAME).exists()
                  and not (p / UNPUBLISHED).exists())


def _remove_dir(path: Path) -> None:
    """Rename out of the way first (atomic), so a half-deleted version never looks complete."""
    doomed = path.with_name(path.name + REMOVING_SUFFIX) if not path.name.endswith(REMOVING_SUFFIX) else path
    try:
        os.rename(path, doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


def remove_unfinished(root: Path) -> list[str]:
    """Delete leftovers of builds that died; call only while holding the build lock.

    Leftovers are `*.building` directories (killed while writing), versions renamed into place but
    never published (killed before CURRENT switched), half-pruned `*.removing` directories and
    temporary CURRENT files.
    """
    if not root.is_dir():
        return []
    live = current_version(root)
    if live is not None:
        (live / UNPUBLISHED).unlink(missing_ok=True)  # killed after the switch, before the marker went
    removed = []
    for path in sorted(root.iterdir()):
        if not path.is_dir():
            continue
        unfinished = path.name.endswith((BUILDING_SUFFIX, REMOVING_SUFFIX))
        unpublished = (path / UNPUBLISHED).exists() and (live is None or path.name != live.name)
        if unfinished or unpublished:
            _remove_dir(path)
            removed.append(path.name)
    for tmp in root.glob(f"{CURRENT}.*.tmp"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp.name)
    return removed


def publish(root: Path, version: Path) -> None:
    """Make `version` live with an atomic rename of CURRENT."""
    tmp = root / f"{CURRENT}.{os.getpid()}.tmp"
    tmp.write_text(version.name + "\n")
    with open(tmp) as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, root / CURRENT)
    (version / UNPUBLISHED).unlink(missing_ok=True)


def previous_version(version: Path) -> str | None:
    """The version that was live when `version` was built: where a rollback from it returns."""
    conn = connect(version / DB_NAME, readonly=True)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'previous_version'").fetchone()
    finally:
        conn.close()
    return json.loads(row[0]) if row else None


def rollback(root: Path) -> str:
    """Make the version that was live before the live one live again; returns its name.

    Call while holding the build lock, so that a build cannot publish at the same moment.
    """
    live = current_version(root)
    previous = previous_version(live) if live else None
    if previous is None or previous not in list_versions(root):
        raise ValueError("no earlier version to roll back to")
    publish(root, root / previous)
    return previous


def prune(root: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` versions, never the live one or the one it rolls back to.

    At least two are kept: the previous version is what `rollback` returns to, and a server may
    still be finishing requests on it right after a switch.
    """
    keep = max(keep, 2)
    live = current_version(root)
    protected = {live.name, previous_version(live)} if live else set()
    names = list_versions(root)
    doomed = [n for n in names[: max(0, len(names) - keep)] if n not in protected]
    for name in doomed:
        _remove_dir(root / name)
    return doomed


def all_ids(index: ann.DenseIndex) -> np.ndarray:
    return index.ids()


class LocalWriter:
    """Builds a new version, starting from a copy of `base` (incremental) or from empty.

    `lexical_engine` applies to a version built from empty; an incremental one keeps its base's.
    """

    def __init__(self, root: Path, dimension: int, base: Path | None = None,
                 lexical_engine: str = lexical.DEFAULT) -> None:
        name = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        self.root = root
        self.name = name
        self.path = root / f"{name}{BUILDING_SUFFIX}"
        self.path.mkdir(parents=True)
        if base is not None:
            shutil.copyfile(base / DB_NAME, self.path / DB_NAME)
            self.index = ann.load(base / VECTORS_NAME, mmap=False)  # a private copy: the base stays intact
        else:
            self.index = ann.empty(dimension)
        self.conn = connect(self.path / DB_NAME)
        self.conn.execute("PRAGMA journal_mode = WAL")
        if base is None:
            self.conn.executescript(SCHEMA)
            self.set_meta({"schema": SCHEMA_VERSION, "lexical": lexical.engine(lexical_engine).name})
        self.lexical = lexical.engine(self.get_meta("lexical", lexical.LEGACY)).writer(self.path, self.conn, base)

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def remove_documents(self, doc_ids: Iterable[str]) -> None:
        ids: list[int] = []
        doc_ids = list(doc_ids)
        self.lexical.delete(doc_ids)
        for doc_id in doc_ids:
            ids += [r[0] for r in self.conn.execute("SELECT id FROM passages WHERE doc_id = ?", (doc_id,))]
            self.conn.execute("DELETE FROM passages WHERE doc_id = ?", (doc_id,))
            self.conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        if ids:  # one pass over the flat index, however many documents go
            self.index.remove(np.array(ids, dtype=np.int64))

    def add_document(self, doc: Document, fingerprint: str, passages: Sequence[Passage],
                     embed_hashes: Sequence[str], vectors: np.ndarray) -> None:
        row = asdict(doc)
        row.update(cities=json.dumps(doc.cities), themes=json.dumps(doc.themes),
                   year=doc.year, fingerprint=fingerprint)
        columns = ", ".join(row)
        self.conn.execute(f"INSERT INTO documents ({columns}) VALUES ({', '.join('?' * len(row))})",
                          list(row.values()))
        self.conn.executemany(
            "INSERT INTO passages (id, doc_id, ordinal, text, section, page_start, page_end, embed_hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(p.id, p.doc_id, p.ordinal, p.text, p.section, p.page_start, p.page_end, h)
             for p, h in zip(passages, embed_hashes)],
        )
        title = " ".join(analyse(doc.title, doc.language))
        self.lexical.add([lexical.LexicalRow(p.id, p.doc_id, " ".join(analyse(p.text, doc.language)),
                                             " ".join(analyse(p.section, doc.language)), title)
                          for p in passages])
        if len(passages):
            self.index.add(vectors, np.array([p.id for p in passages], dtype=np.int64))

    def doc_ids_for_paths(self, paths: Sequence[str]) -> list[str]:
        return doc_id_for_paths(self.conn, paths)

    @property
    def document_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    @property
    def passage_count(self) -> int:
        return int(self.index.ntotal)

    def set_meta(self, values: dict[str, Any]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                              [(k, json.dumps(v)) for k, v in values.items()])

    def finish(self) -> str:
        """Commit, write vectors, verify and move into place (still not live: see `publish`); the name."""
        self.conn.commit()
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.index = ann.fit(self.index)  # exact below PIOC_ANN_THRESHOLD passages, approximate above
        self.index.save(self.path / VECTORS_NAME)
        self.lexical.finish()
        verify(self.conn, self.index, self.lexical)
        self.conn.close()
        (self.path / UNPUBLISHED).touch()  # until `publish` makes it live
        os.rename(self.path, self.root / self.name)
        return self.name

    def abandon(self) -> None:
        self.lexical.abandon()
        self.conn.close()
        shutil.rmtree(self.path, ignore_errors=True)


def verify(conn: sqlite3.Connection, index: ann.DenseIndex,
           lexical_index: lexical.LexicalWriter | lexical.LexicalReader) -> None:
    """Vector count and lexical index size equal passage rows; every vector id resolves to a passage."""
    rows = conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
    if rows != index.ntotal:
        raise VerificationError(f"{index.ntotal} vectors but {rows} passage rows")
    ids = all_ids(index)
    known = {r[0] for r in conn.execute("SELECT id FROM passages")}
    if len(set(ids.tolist())) != len(ids) or not known.issuperset(ids.tolist()):
        raise VerificationError("vector ids do not match passage ids")
    if lexical_index.count() != rows:
        raise VerificationError(f"the lexical index holds {lexical_index.count()} passages but there are {rows}")
    orphans = conn.execute(
        "SELECT COUNT(*) FROM passages WHERE doc_id NOT IN (SELECT id FROM documents)").fetchone()[0]
    if orphans:
        raise VerificationError(f"{orphans} passages belong to no document")
    if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
        raise VerificationError("SQLite quick_check failed")


def doc_id_for_paths(conn: sqlite3.Connection, paths: Sequence[str]) -> list[str]:
    """Ids of the stored documents at these corpus paths."""
    return [r[0] for p in paths for r in conn.execute("SELECT id FROM documents WHERE path = ?", (p,))]


def row_to_document(row: sqlite3.Row) -> Document:
    return Document(
        id=row["id"], path=row["path"], sha256=row["sha256"], title=row["title"],
        doc_type=row["doc_type"], cities=json.loads(row["cities"]), themes=json.loads(row["themes"]),
        date=row["date"], language=row["language"], source_url=row["source_url"],
        media_type=row["media_type"], pages=row["pages"],
    )


class PassageOwners:
    """Every passage's document, read once per version (which never changes): passage ids ascending
    and, for each, its document's position in `documents`. Answers "whose passages are these" and
    "which passages do these documents hold" with array lookups instead of SQL."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        cursor = conn.cursor()
        cursor.row_factory = None  # plain tuples; one row per document (the covering index answers it)
        rows = cursor.execute("SELECT doc_id, group_concat(id) FROM passages GROUP BY doc_id").fetchall()
        self.documents = [doc_id for doc_id, _ in rows]
        self.position = {doc_id: i for i, doc_id in enumerate(self.documents)}
        ids = np.fromstring(",".join(listed for _, listed in rows), dtype=np.int64, sep=",") if rows \
            else np.zeros(0, dtype=np.int64)
        owner = np.repeat(np.arange(len(rows), dtype=np.int32), [listed.count(",") + 1 for _, listed in rows])
        order = np.argsort(ids, kind="stable")
        self.ids, self.owner = ids[order], owner[order]

    def of(self, ids: Sequence[int]) -> dict[int, str]:
        """Passage id → document id for the known ones among `ids`, ascending passage id."""
        if not len(ids) or not len(self.ids):
            return {}
        wanted = np.unique(np.asarray(ids, dtype=np.int64))
        at, known = ann.sorted_lookup(self.ids, wanted)
        return dict(zip(wanted[known].tolist(), [self.documents[i] for i in self.owner[at[known]].tolist()]))

    def passages_of(self, doc_ids: Sequence[str]) -> np.ndarray:
        """Ids of the passages of these documents, ascending."""
        chosen = np.zeros(len(self.documents), dtype=bool)
        chosen[[self.position[d] for d in doc_ids if d in self.position]] = True
        return self.ids[chosen[self.owner]]


def warm_in_background(files: Sequence[Path], chunk: int = 1 << 20) -> None:
    """Read memory-mapped files once, in a daemon thread ("pioc-warm"), so their pages are in the page
    cache before searches touch them.

    A version opens in well under a second because its files are mapped, not read; but then a served
    version's first touch of each page reads the disk (a cold 1M-passage version: dense p50 ~40 ms, then
    ~3 ms). This kernel ignores POSIX_FADV_WILLNEED, so the files are read through (~1 s per GB,
    shared by every process mapping them). Files gone meanwhile (a pruned version) are skipped."""
    def read_through() -> None:
        buffer = bytearray(chunk)
        for file in files:
            try:
                with open(file, "rb", buffering=0) as handle:
                    while handle.readinto(buffer):
                        pass
            except OSError:
                continue

    threading.Thread(target=read_through, name="pioc-warm", daemon=True).start()


class LocalVersion:
    """A published version opened read-only for searching (stores.base.VersionReader)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.index = ann.load(path / VECTORS_NAME)  # memory-mapped: workers share its pages
        self.dimension = self.index.dimension
        self._local = threading.local()
        self.meta = {r["key"]: json.loads(r["value"]) for r in self.conn.execute("SELECT key, value FROM meta")}
        self.documents = {r["id"]: row_to_document(r) for r in self.conn.execute("SELECT * FROM documents")}
        self.lexical_engine = lexical.engine(self.meta.get("lexical", lexical.LEGACY)).name
        self.lexical_index = lexical.engine(self.lexical_engine).reader(path, lambda: self.conn)
        self._id_sets = lru_cache(maxsize=ID_SET_CACHE)(self._id_set)

    @property
    def conn(self) -> sqlite3.Connection:
        """One read-only connection per thread."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path / DB_NAME, readonly=True)
        return conn

    @property
    def passage_count(self) -> int:
        return int(self.index.ntotal)

    def passages(self, ids: Sequence[int]) -> dict[int, sqlite3.Row]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(f"SELECT * FROM passages WHERE id IN ({marks})", [int(i) for i in ids])
        return {r["id"]: r for r in rows}

    def doc_ids(self, ids: Sequence[int]) -> dict[int, str]:
        """Passage id → document id, in ascending passage id order."""
        return self._owners.of(ids)

    @cached_property
    def _owners(self) -> PassageOwners:
        return PassageOwners(self.conn)

    def document_passages(self, doc_id: str) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM passages WHERE doc_id = ? ORDER BY ordinal", (doc_id,)).fetchall()

    def fingerprints(self) -> dict[str, str]:
        """Document path → fingerprint, for change detection."""
        return {r[0]: r[1] for r in self.conn.execute("SELECT path, fingerprint FROM documents")}

    def vectors_by_embed_hash(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Stored vectors of passages whose embedding input had one of these hashes."""
        found: dict[str, np.ndarray] = {}
        wanted = list(set(hashes))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                f"SELECT embed_hash, MIN(id) FROM passages WHERE embed_hash IN ({marks}) GROUP BY embed_hash", chunk
            ):
                found[row[0]] = self.index.reconstruct(int(row[1]))
        return found

    def vector(self, passage_id: int) -> np.ndarray:
        try:
            return self.index.reconstruct(int(passage_id))
        except RuntimeError:  # FAISS: id not in the index
            raise KeyError(passage_id) from None

    def dense(self, query: np.ndarray, k: int, allowed_docs: Sequence[str] | None = None,
              exclude_docs: Sequence[str] = (), filters: Filters | None = None) -> list[tuple[int, float]]:
        """(passage id, cosine) best first, within `allowed_docs` and the filters, outside `exclude_docs`."""
        allowed = self._scope(allowed_docs, filters)
        if allowed is not None and exclude_docs:
            excluded_docs = set(exclude_docs)
            allowed = tuple(d for d in allowed if d not in excluded_docs)
        with stage("filters"):
            ids = None if allowed is None else self._id_sets(allowed)
            excluded = self._passage_ids(list(exclude_docs)) if exclude_docs and allowed is None else None
        return self.index.search(query, k, ids, excluded)

    def _passage_ids(self, doc_ids: Sequence[str]) -> np.ndarray:
        return self._owners.passages_of(doc_ids)

    def _id_set(self, doc_ids: tuple[str, ...]) -> ann.IdSet:
        return ann.IdSet(self._passage_ids(doc_ids))

    def _scope(self, allowed_docs: Sequence[str] | None, filters: Filters | None) -> tuple[str, ...] | None:
        allowed = None if allowed_docs is None else tuple(allowed_docs)
        if filters is not None and filters.active:
            matching = tuple(d.id for d in self.documents.values() if filters.matches(d))
            if allowed is not None:
                keep = set(matching)
                matching = tuple(d for d in allowed if d in keep)
            allowed = matching
        return allowed

    def lexical(self, question: str, k: int, allowed_docs: Sequence[str] | None = None,
                filters: Filters | None = None, language: str | None = None,
                readings: tuple[str, ...] = ()) -> list[tuple[int, float]]:
        """(passage id, BM25 score) best first, every analysed question word counted (terms go to the
        engine as terms, never parsed, so query syntax in a question is inert); `readings`: see
        analysis.question_groups."""
        allowed = self._scope(allowed_docs, filters)
        if k <= 0 or allowed == ():
            return []
        return self.lexical_index.search(question_terms(question, language, readings), k, allowed)

    def lexical_later(self, question: str, k: int, allowed_docs: Sequence[str] | None = None,
                      language: str | None = None, readings: tuple[str, ...] = ()
                      ) -> Callable[[], list[tuple[int, float]]]:
        """Searches when called: in this process, overlapping it with the question encode (which
        already uses both cores) was measured slower, not faster."""
        return partial(self.lexical, question, k, allowed_docs, language=language, readings=readings)

    def warm(self) -> None:
        """Read the mapped vector and lexical files in the background (`warm_in_background`)."""
        warm_in_background([self.path / VECTORS_NAME, *sorted((self.path / "lexical").glob("*"))])

    def doc_freq(self, words: Iterable[str]) -> dict[str, int]:
        return {w: self.lexical_index.doc_freq(w) for w in dict.fromkeys(words)}


class LocalStore:
    """All versions under one folder; CURRENT names the live one (stores.base.Store).

    `lexical_engine` applies to versions built from empty; `can_extend` tells whether a new
    version may start from a stored one (same schema and lexical engine).
    """

    def __init__(self, root: Path, lexical_engine: str = lexical.DEFAULT) -> None:
        self.root = Path(root)
        self.lexical_engine = lexical.engine(lexical_engine).name

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def live_name(self) -> str | None:
        path = current_version(self.root)
        return path.name if path else None

    def live(self) -> LocalVersion | None:
        name = self.live_name()
        return self.open(name) if name else None

    def open(self, name: str) -> LocalVersion:
        path = self.root / name
        if not (path / DB_NAME).exists() or not (path / VECTORS_NAME).exists():
            raise VersionGone(f"no version {name} in {self.root}")
        return LocalVersion(path)

    def writer(self, dimension: int, base: LocalVersion | None = None) -> LocalWriter:
        return LocalWriter(self.root, dimension, base=base.path if base is not None else None,
                           lexical_engine=self.lexical_engine)

    def can_extend(self, base: LocalVersion) -> bool:
        return base.meta.get("schema") == SCHEMA_VERSION and base.meta.get("lexical") == self.lexical_engine

    def publish(self, name: str) -> None:
        if "." in name or not (self.root / name / DB_NAME).exists():
            raise ValueError(f"version {name} is not a finished version")
        publish(self.root, self.root / name)

    def rollback(self) -> str:
        return rollback(self.root)

    def list_versions(self) -> list[str]:
        return list_versions(self.root)

    def build_lock(self) -> AbstractContextManager[None]:
        return build_lock(self.root)

    def remove_unfinished(self) -> list[str]:
        return remove_unfinished(self.root)

    def verify(self, name: str) -> None:
        version = self.open(name)
        verify(version.conn, version.index, version.lexical_index)

    def prune(self, keep: int) -> list[str]:
        return prune(self.root, keep)

    def close(self) -> None:
        """Nothing to release: versions hold their own files."""

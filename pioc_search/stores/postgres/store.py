"""The PostgreSQL store: versions in tables, the live one named by a one-row pointer.

Every version has its own tables (documents_v<id>, passages_v<id>, lexemes_v<id>, postings_v<id>) rather than
sharing tables keyed by version: each version's HNSW and GIN indexes hold only its own rows (the
ANN scan never skips other versions' rows, so recall is that of a one-version index), and pruning
or cleaning up a dead build is DROP TABLE — instant, no vacuum debt, no HNSW tombstones. Publish
is one UPDATE of the `live` row, so readers see the old version or the new one, never a mix.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
from pgvector import HalfVector
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from pioc_search.analysis import analyse, question_terms
from pioc_search.models import Document, Passage
from pioc_search.stores.base import (
    BuildInProgress, StoreUnavailable, VerificationError, VersionGone,
)
from pioc_search.stores.postgres.migrations import migrate

if TYPE_CHECKING:
    from pioc_search.search import Filters

log = logging.getLogger(__name__)

BUILD_LOCK = 0x70696F63_0002  # advisory-lock key held for a whole build
EXACT_LIMIT = 10_000  # at most this many passages (after filters) are searched exactly, without HNSW
CANDIDATE_LIMIT = 1000  # lexical: candidates come from the rarest terms matching at most this many passages
# (SciFact, bench_pg_lexical.py: 500 and 2000 lose no nDCG@10 against no limit; latency is about linear in it)
POSTINGS_FIRST = 1024  # lexical from postings: the first round reads this many of each term's list
RESCORE_LIMIT = 100  # ... and ends once at most this many seen passages need an exact score
POSTINGS_MAX_DEPTH = 65_536  # ... or once this much of every unfinished list is read: then the best upper bounds
POSTINGS_FILTER_SHARE = 0.25  # a filter keeping at least this share of the passages reads the postings through it
FIELD_WEIGHTS = (1.0, 1.0, 1.5, 2.0)  # tf weight of a term in D (text), C (unused), B (section), A (title)
TF_SCALE = 2.0  # ts_rank_cd takes weights ≤ 1: FIELD_WEIGHTS / TF_SCALE, its result × TF_SCALE
MAX_POSITIONS, MAX_LEXEME_BYTES = 255, 2000  # PostgreSQL keeps 256 positions per lexeme, lexemes < 2 KB
BM25_K1, BM25_B = 1.2, 0.75  # tf saturation and length normalisation (tantivy's defaults)
STATEMENT_TIMEOUT = 30.0  # seconds a reader's query may run (builds on their own connections: unlimited)
BUILD_MEMORY = "1GB"  # maintenance_work_mem of a build's index step: an HNSW graph that fits builds much faster
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
              "tcp_user_timeout": 30_000}  # a silent network (no RST) fails a call within about 30 s
# The pool retries a failed connection with doubling delays, then gives up and lets the next request
# start afresh: giving up soon keeps the delays short, so the pool is back within seconds of the server.
RECONNECT_TIMEOUT = 10.0
# A pooled connection is checked (one round trip) before use only when it has lain idle this long: one
# in steady use has just answered, and a search borrows several; a check before each cost ~0.2 ms apiece.
# A connection that died meanwhile (server restart) fails its query as StoreUnavailable and is discarded.
CHECK_IDLE = 2.0
TERMINATE_WAIT = 10.0  # seconds the next build waits for a dead build's database session to exit
# The HNSW graph: links per node and the build's candidate list (pgvector's defaults). Richer graphs were
# measured at 1M (docs/deploy.md, "Dense search"): m 24 / ef_construction 128 and m 16 / 128 took longer to
# build and were no faster at the same recall@10, so the defaults stay.
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64
EF_SEARCH = 200  # HNSW candidate list: recall@10 0.973 at 100k (bench_store.py); iterative scan
# goes on past it when filters reject rows
# A larger version needs a longer candidate list for the same recall: (up to this many passages, ef_search).
# Measured at 1M (bench_store.py --recall-only): 200 → recall@10 0.930, 400 → 0.968, 500 → 0.978 (28.6 ms p50),
# 600 → 0.983, 800 → 0.988 (39.6-44.7 ms p50).
EF_SEARCH_BY_SIZE = ((300_000, EF_SEARCH), (600_000, 400), (1_500_000, 500), (None, 800))
DOC_COLUMNS = ("id", "path", "sha256", "fingerprint", "title", "doc_type", "cities", "themes", "date", "year",
               "language", "source_url", "media_type", "pages", "passages")
PASSAGE_COLUMNS = "id, doc_id, ordinal, text, section, page_start, page_end, embed_hash"

# A passage row (text ~0.7 kB, embedding ~0.8 kB, tsv ~1.1 kB) is over the 2 kB TOAST threshold; by
# default PostgreSQL moves the largest column out of line, the tsv, which lexical search reads for
# every candidate. STORAGE MAIN keeps tsv and embedding in the row (compressed, or out of line, only
# for rows over a page), so the text, read only for the hits shown, is the one moved out of line:
# on a copy of a 100k-passage version, lexical p50 1.4-1.75x faster, exact dense 1.3x, same size.
TABLES_DDL = """
CREATE TABLE {documents} (
    id text PRIMARY KEY, path text NOT NULL UNIQUE, sha256 text NOT NULL, fingerprint text NOT NULL,
    title text NOT NULL, doc_type text NOT NULL, cities text[] NOT NULL, themes text[] NOT NULL,
    date text, year integer, language text NOT NULL, source_url text, media_type text NOT NULL,
    pages integer, passages integer NOT NULL
);
CREATE TABLE {passages} (
    id bigint PRIMARY KEY, doc_id text NOT NULL REFERENCES {documents} (id) ON DELETE CASCADE,
    ordinal integer NOT NULL, text text NOT NULL, section text NOT NULL,
    page_start integer, page_end integer, embed_hash text NOT NULL,
    embedding halfvec({dimension}) NOT NULL, tsv tsvector NOT NULL, nterms integer NOT NULL
);
ALTER TABLE {passages} ALTER COLUMN tsv SET STORAGE MAIN, ALTER COLUMN embedding SET STORAGE MAIN;
"""
INDEX_DDL = """
CREATE INDEX ON {passages} (doc_id, ordinal);
CREATE INDEX ON {passages} (embed_hash);
CREATE INDEX ON {passages} USING gin (tsv);
CREATE INDEX ON {passages} USING hnsw (embedding halfvec_cosine_ops)
    WITH (m = {m}, ef_construction = {ef_construction});
CREATE TABLE {lexemes} AS SELECT word AS lexeme, ndoc FROM ts_stat({stat_query});
ALTER TABLE {lexemes} ADD PRIMARY KEY (lexeme);
ANALYZE {documents};
ANALYZE {passages};
"""
# Impact-ordered postings: per lexeme, its passages (as int4 row numbers in id order) and their BM25
# impacts (float8), both in descending impact, packed as bytea. BM25 of a passage is the sum of its
# terms' impacts, and all of an impact's parts (idf, tf, length norm) are fixed once a version is
# written, so they are computed here, once. STORAGE EXTERNAL (uncompressed TOAST) lets substring()
# read just a list's first chunks: a search reads the heads of its terms' lists instead of scoring
# every passage that matches. tf is the field-weighted count of the term's positions, as ts_rank_cd
# gives it in bm25_sql.
POSTINGS_DDL = """
CREATE TABLE {postings} (lexeme text PRIMARY KEY, rows bytea NOT NULL, impacts bytea NOT NULL);
ALTER TABLE {postings} ALTER COLUMN rows SET STORAGE EXTERNAL, ALTER COLUMN impacts SET STORAGE EXTERNAL;
INSERT INTO {postings}
SELECT lexeme, string_agg(int4send(row), ''::bytea ORDER BY impact DESC, row),
       string_agg(float8send(impact), ''::bytea ORDER BY impact DESC, row)
FROM (SELECT p.row, u.lexeme,
             ln(1 + (s.n - x.ndoc + 0.5) / (x.ndoc + 0.5)) * {k1_1}
             / (1 + {k1} * (1 - {b} + {b} * p.nterms / s.avgdl) / ({tf})) AS impact
      FROM (SELECT (row_number() OVER (ORDER BY id) - 1)::int AS row, nterms, tsv FROM {passages}) p
      CROSS JOIN (SELECT count(*)::float8 AS n, avg(nterms)::float8 AS avgdl FROM {passages}) s
      CROSS JOIN LATERAL unnest(p.tsv) u
      JOIN {lexemes} x ON x.lexeme = u.lexeme) scored
GROUP BY lexeme;
"""


def _tables(version_id: int) -> dict[str, sql.Identifier]:
    return {kind: sql.Identifier(f"{kind}_v{version_id}") for kind in ("documents", "passages", "lexemes", "postings")}


def _has_postings(conn: psycopg.Connection, version_id: int) -> bool:
    """Whether the version has its impact-ordered postings table (versions written before it do not)."""
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"postings_v{version_id}",)).fetchone()[0]


def ef_search_for(passages: int) -> int:
    """hnsw.ef_search for a version of this many passages (EF_SEARCH_BY_SIZE)."""
    return next(ef for limit, ef in EF_SEARCH_BY_SIZE if limit is None or passages <= limit)


def _configure(conn: psycopg.Connection) -> None:
    """Every pooled connection: vector types, and HNSW that keeps scanning when filters reject rows."""
    register_vector(conn)
    conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
    conn.execute("SET hnsw.iterative_scan = relaxed_order")


@contextmanager
def _guard() -> Iterator[None]:
    """Turn connection failures into StoreUnavailable and a dropped version's tables into VersionGone."""
    try:
        yield
    except psycopg.errors.UndefinedTable as exc:
        raise VersionGone(f"this index version was removed: {exc}") from exc
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise StoreUnavailable(f"the database is unavailable: {exc}") from exc


def _unit(vector: Any) -> np.ndarray:
    return np.asarray(vector.to_numpy(), dtype=np.float32)


class PostgresStore:
    """All index versions in one PostgreSQL database (see the module docstring for the layout)."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0, pool_size: int = 8,
                 statement_timeout: float = STATEMENT_TIMEOUT, build_memory: str = BUILD_MEMORY) -> None:
        """Fails with StoreUnavailable within about `connect_timeout` seconds when the database is away.

        Every pooled call is bounded: waiting for a connection by `connect_timeout`, a query by
        `statement_timeout` (server side) and a silent network by TCP keepalives (client side)."""
        self.url = url
        self.connect_timeout = connect_timeout
        self.build_memory = build_memory
        self._connect_args = {"connect_timeout": max(2, round(connect_timeout)), **KEEPALIVES}
        with _guard():
            with psycopg.connect(url, autocommit=True, **self._connect_args) as conn:
                applied = migrate(conn)
            if applied:
                log.info("database schema upgraded: %s", ", ".join(applied))
            reader_options = f"-c statement_timeout={round(statement_timeout * 1000)}"
            self._last_used: weakref.WeakKeyDictionary[psycopg.Connection, float] = weakref.WeakKeyDictionary()
            self.pool = ConnectionPool(url, min_size=1, max_size=pool_size, timeout=connect_timeout,
                                       kwargs={"autocommit": True, "options": reader_options, **self._connect_args},
                                       configure=_configure, check=self._check_if_idle, open=False,
                                       name="pioc-search", reconnect_timeout=RECONNECT_TIMEOUT)
            try:
                self.pool.open(wait=True, timeout=connect_timeout)
            except BaseException:
                self.pool.close()
                raise
        self._readers: dict[str, PostgresVersion] = {}
        self._holds_build_lock = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled autocommit connection; failures surface as StoreUnavailable / VersionGone."""
        with _guard(), self.pool.connection() as conn:
            try:
                yield conn
            finally:
                self._last_used[conn] = time.monotonic()

    def _check_if_idle(self, conn: psycopg.Connection) -> None:
        """The pool's check before lending `conn`: a round trip only after CHECK_IDLE seconds unused."""
        if time.monotonic() - self._last_used.get(conn, -math.inf) > CHECK_IDLE:
            ConnectionPool.check_connection(conn)

    def dedicated_connection(self) -> psycopg.Connection:
        """A connection of its own (build lock, writer): it lives exactly as long as its holder."""
        with _guard():
            conn = psycopg.connect(self.url, autocommit=True, options="-c statement_timeout=0", **self._connect_args)
            register_vector(conn)
            return conn

    # -- versions -------------------------------------------------------------------------------
    def live_name(self) -> str | None:
        with self.connection() as conn:
            row = conn.execute("SELECT v.name FROM live l JOIN versions v ON v.id = l.version_id").fetchone()
        return row[0] if row else None

    def live(self) -> PostgresVersion | None:
        name = self.live_name()
        return self.open(name) if name else None

    def open(self, name: str) -> PostgresVersion:
        """A reader of a finished version (cached: documents and meta are loaded once)."""
        reader = self._readers.get(name)
        if reader is None:
            reader = PostgresVersion(self, name)
            self._readers = {name: reader, **{k: v for k, v in list(self._readers.items())[:1]}}
        return reader

    def writer(self, dimension: int, base: PostgresVersion | None = None) -> PostgresWriter:
        return PostgresWriter(self, dimension, base)

    def can_extend(self, base: PostgresVersion) -> bool:
        """Every version has the current tables (migrations upgrade old ones in place)."""
        return True

    def publish(self, name: str) -> None:
        with self.connection() as conn, conn.transaction():
            row = conn.execute("SELECT id, state FROM versions WHERE name = %s FOR UPDATE", (name,)).fetchone()
            if row is None or row[1] not in ("ready", "published"):
                raise ValueError(f"version {name} is not a finished version")
            conn.execute("UPDATE live SET version_id = %s, changed_at = now()", (row[0],))
            conn.execute("UPDATE versions SET state = 'published', published_at = coalesce(published_at, now())"
                         " WHERE id = %s", (row[0],))

    def _previous_of_live(self, conn: psycopg.Connection) -> tuple[str | None, str | None]:
        row = conn.execute("SELECT v.name, v.meta->>'previous_version' FROM live l"
                           " JOIN versions v ON v.id = l.version_id").fetchone()
        return (row[0], row[1]) if row else (None, None)

    def rollback(self) -> str:
        with self.connection() as conn:
            _, previous = self._previous_of_live(conn)
        if previous is None or previous not in self.list_versions():
            raise ValueError("no earlier version to roll back to")
        self.publish(previous)
        return previous

    def list_versions(self) -> list[str]:
        with self.connection() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM versions WHERE state = 'published' ORDER BY id")]

    @contextmanager
    def build_lock(self) -> Iterator[None]:
        """A session advisory lock on a connection of its own: the server drops it if the holder dies."""
        conn = self.dedicated_connection()
        try:
            with _guard():
                if not conn.execute("SELECT pg_try_advisory_lock(%s)", (BUILD_LOCK,)).fetchone()[0]:
                    holder = conn.execute(
                        "SELECT a.pid, a.client_addr, a.application_name FROM pg_locks l"
                        " JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.granted"
                        " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s", (BUILD_LOCK,)).fetchone()
                    who = f"database session {holder[0]}" if holder else "another session"
                    raise BuildInProgress(f"another ingest is already running ({who}); nothing was changed")
            self._holds_build_lock = True
            try:
                yield
            finally:
                self._holds_build_lock = False
                try:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (BUILD_LOCK,))
                except psycopg.Error:  # connection lost: the server released the lock with the session
                    pass
        finally:
            conn.close()

    def remove_unfinished(self) -> list[str]:
        """Builds whose writer session is gone, and finished versions never made live.

        Under the build lock, a version still `building` belongs to a build that died or lost the
        lock (every writer is opened under it): its session may still be running a statement the dead
        client sent (the server notices the client is gone only when the statement ends), so it is
        terminated first and the version removed now rather than by a later build."""
        if self._holds_build_lock:
            self._terminate_orphan_builders()
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT v.id, v.name FROM versions v LEFT JOIN pg_stat_activity a"
                " ON a.pid = v.builder_pid AND a.backend_start = v.builder_started"
                " WHERE (v.state = 'building' AND a.pid IS NULL)"
                " OR (v.state = 'ready' AND v.id IS DISTINCT FROM (SELECT version_id FROM live))"
                " ORDER BY v.id").fetchall()
        for version_id, _ in rows:
            self._drop(version_id)
        return [name for _, name in rows]

    def _terminate_orphan_builders(self) -> None:
        with self.connection() as conn:
            try:
                stuck = conn.execute(
                    "SELECT v.name, pg_terminate_backend(a.pid, %s) FROM versions v JOIN pg_stat_activity a"
                    " ON a.pid = v.builder_pid AND a.backend_start = v.builder_started"
                    " WHERE v.state = 'building' AND a.pid <> pg_backend_pid()",
                    (round(TERMINATE_WAIT * 1000),)).fetchall()
            except psycopg.errors.InsufficientPrivilege as exc:  # another role's session: a later build
                log.warning("cannot stop the session of a dead build: %s", exc)
                return
        for name, gone in stuck:
            log.warning("stopped the database session of dead build %s%s", name,
                        "" if gone else " (it has not exited yet; a later build removes it)")

    def prune(self, keep: int) -> list[str]:
        keep = max(keep, 2)
        with self.connection() as conn:
            live, previous = self._previous_of_live(conn)
            names = [r[0] for r in conn.execute(
                "SELECT name FROM versions WHERE state = 'published' ORDER BY id")]
            ids = dict(conn.execute("SELECT name, id FROM versions").fetchall())
        doomed = [n for n in names[: max(0, len(names) - keep)] if n not in {live, previous}]
        for name in doomed:
            self._drop(ids[name])
            self._readers.pop(name, None)
        return doomed

    def _drop(self, version_id: int) -> None:
        tables = _tables(version_id)
        with self.connection() as conn, conn.transaction():
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {postings}, {lexemes}, {passages}, {documents}")
                         .format(**tables))
            conn.execute("DELETE FROM versions WHERE id = %s", (version_id,))

    def verify(self, name: str) -> None:
        """Re-check a stored version (VerificationError if inconsistent)."""
        row = self._version_row(name)
        with self.connection() as conn:
            _verify(conn, row["id"])

    def add_postings(self, name: str) -> bool:
        """Write the impact-ordered postings of a version written before them (False if it has them)."""
        row = self._version_row(name)
        conn = self.dedicated_connection()
        try:
            with _guard(), conn.transaction():
                if _has_postings(conn, row["id"]):
                    return False
                write_postings(conn, _tables(row["id"]), self.build_memory)
        finally:
            conn.close()
        self._readers.pop(name, None)
        return True

    def _version_row(self, name: str) -> dict[str, Any]:
        with self.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            row = cur.execute("SELECT id, name, state, dimension, meta FROM versions WHERE name = %s",
                              (name,)).fetchone()
        if row is None or row["state"] == "building":
            raise VersionGone(f"no finished version {name}")
        return row

    @cached_property
    def searches(self) -> ThreadPoolExecutor:
        """Threads that run lexical searches while the caller encodes and searches densely (at most half
        the pool's connections, so dense searches always find one)."""
        return ThreadPoolExecutor(max_workers=max(1, self.pool.max_size // 2), thread_name_prefix="pioc-lexical")

    def close(self) -> None:
        if "searches" in self.__dict__:
            self.searches.shutdown(wait=False, cancel_futures=True)
        self.pool.close()


def _verify(conn: psycopg.Connection, version_id: int) -> None:
    """Every document's passage count matches its rows; every passage has a vector and terms."""
    tables = _tables(version_id)
    bad = conn.execute(sql.SQL(
        "SELECT count(*) FROM {documents} d WHERE d.passages <>"
        " (SELECT count(*) FROM {passages} p WHERE p.doc_id = d.id)").format(**tables)).fetchone()[0]
    if bad:
        raise VerificationError(f"{bad} documents do not have the passages they should")
    empty = conn.execute(sql.SQL("SELECT count(*) FROM {passages} WHERE embedding IS NULL OR tsv IS NULL")
                         .format(**tables)).fetchone()[0]
    if empty:
        raise VerificationError(f"{empty} passages lack a vector or search terms")


class PostgresVersion:
    """One finished version, read through the store's pool."""

    lexical_engine = "postgresql"  # tsvector/GIN, ts_rank_cd

    def __init__(self, store: PostgresStore, name: str) -> None:
        self.store = store
        row = store._version_row(name)
        self.name = name
        self.id: int = row["id"]
        self.dimension: int = row["dimension"]
        self.meta: dict[str, Any] = dict(row["meta"])
        self.t = _tables(self.id)
        with store.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            rows = cur.execute(sql.SQL("SELECT * FROM {documents}").format(**self.t)).fetchall()
            self.has_postings = _has_postings(conn, self.id)  # versions written before them: SQL scoring only
        self.documents = {r["id"]: _document(r) for r in rows}
        self._counts = {r["id"]: r["passages"] for r in rows}
        self.passage_count = sum(self._counts.values())  # a version never changes
        self._mean_length: float | None = None

    def _rows(self, query: sql.Composable, params: Any = (), ef_search: int = EF_SEARCH) -> list[dict[str, Any]]:
        """The query's rows; an `ef_search` other than the sessions' is set for this query only."""
        with self.store.connection() as conn:
            if ef_search == EF_SEARCH:
                return conn.cursor(row_factory=dict_row).execute(query, params).fetchall()
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search)))
                return conn.cursor(row_factory=dict_row).execute(query, params).fetchall()

    def passages(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not len(ids):
            return {}
        rows = self._rows(sql.SQL(f"SELECT {PASSAGE_COLUMNS} FROM {{passages}} WHERE id = ANY(%s)")
                          .format(**self.t), ([int(i) for i in ids],))
        return {r["id"]: r for r in rows}

    def doc_ids(self, ids: Sequence[int]) -> dict[int, str]:
        if not len(ids):
            return {}
        if "_row_documents" in self.__dict__:  # the row numbering is read (warm): no round trip
            return self._doc_ids_in_memory(ids)
        rows = self._rows(sql.SQL("SELECT id, doc_id FROM {passages} WHERE id = ANY(%s)").format(**self.t),
                          ([int(i) for i in ids],))
        return {r["id"]: r["doc_id"] for r in rows}

    def document_passages(self, doc_id: str) -> list[dict[str, Any]]:
        return self._rows(sql.SQL(f"SELECT {PASSAGE_COLUMNS} FROM {{passages}} WHERE doc_id = %s ORDER BY ordinal")
                          .format(**self.t), (doc_id,))

    def fingerprints(self) -> dict[str, str]:
        rows = self._rows(sql.SQL("SELECT path, fingerprint FROM {documents}").format(**self.t))
        return {r["path"]: r["fingerprint"] for r in rows}

    def vectors_by_embed_hash(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        rows = self._rows(sql.SQL("SELECT DISTINCT ON (embed_hash) embed_hash, embedding FROM {passages}"
                                  " WHERE embed_hash = ANY(%s) ORDER BY embed_hash, id").format(**self.t),
                          (list(set(hashes)),))
        return {r["embed_hash"]: _unit(r["embedding"]) for r in rows}

    def vector(self, passage_id: int) -> np.ndarray:
        rows = self._rows(sql.SQL("SELECT embedding FROM {passages} WHERE id = %s").format(**self.t),
                          (int(passage_id),))
        if not rows:
            raise KeyError(passage_id)
        return _unit(rows[0]["embedding"])

    # -- search -----------------------------------------------------------------------------------
    def allowed_docs(self, filters: Filters) -> list[str]:
        """Ids of the documents matching the filters, selected in SQL."""
        rows = self._rows(sql.SQL(
            "SELECT id FROM {documents} WHERE (cardinality(%(doc_type)s::text[]) = 0 OR doc_type = ANY(%(doc_type)s))"
            " AND (cardinality(%(city)s::text[]) = 0 OR cities && %(city)s)"
            " AND (cardinality(%(theme)s::text[]) = 0 OR themes && %(theme)s)"
            " AND (cardinality(%(language)s::text[]) = 0 OR language = ANY(%(language)s))"
            " AND (%(year_from)s::int IS NULL OR year >= %(year_from)s)"
            " AND (%(year_to)s::int IS NULL OR year <= %(year_to)s) ORDER BY id").format(**self.t),
            {"doc_type": list(filters.doc_type), "city": list(filters.city), "theme": list(filters.theme),
             "language": list(filters.language), "year_from": filters.year_from, "year_to": filters.year_to})
        return [r["id"] for r in rows]

    def _scope(self, allowed_docs: Sequence[str] | None, filters: Filters | None) -> list[str] | None:
        allowed = None if allowed_docs is None else list(allowed_docs)
        if filters is not None and filters.active:
            matching = self.allowed_docs(filters)
            allowed = matching if allowed is None else sorted(set(allowed) & set(matching))
        return allowed

    def dense(self, query: np.ndarray, k: int, allowed_docs: Sequence[str] | None = None,
              exclude_docs: Sequence[str] = (), filters: Filters | None = None) -> list[tuple[int, float]]:
        """Exact when few passages are in scope (as FAISS flat today); else HNSW with iterative
        scan, falling back to exact if the filters leave HNSW short of k hits."""
        allowed = self._scope(allowed_docs, filters)
        if k <= 0 or allowed == []:
            return []
        excluded = set(exclude_docs)
        if allowed is None and not excluded:
            available = self.passage_count
        else:
            available = self._in_scope([d for d in (self._counts if allowed is None else allowed) if d not in excluded])
        wanted = min(k, available)
        if wanted == 0:
            return []
        if available <= EXACT_LIMIT:
            return self._nearest(query, k, allowed, list(excluded), exact=True)
        hits = self._nearest(query, k, allowed, list(excluded), exact=False)
        return hits if len(hits) >= wanted else self._nearest(query, k, allowed, list(excluded), exact=True)

    def _nearest(self, query: np.ndarray, k: int, allowed: list[str] | None, excluded: list[str],
                 exact: bool) -> list[tuple[int, float]]:
        where = [sql.SQL("TRUE")]
        params: dict[str, Any] = {"q": HalfVector(np.asarray(query, dtype=np.float32).ravel()), "k": k}
        if allowed is not None:
            where.append(sql.SQL("doc_id = ANY(%(allowed)s)"))
            params["allowed"] = allowed
        if excluded:
            where.append(sql.SQL("doc_id <> ALL(%(excluded)s)"))
            params["excluded"] = excluded
        # `+ 0` hides the distance from the HNSW index: the planner then scans exactly.
        order = sql.SQL("(embedding <=> %(q)s) + 0" if exact else "embedding <=> %(q)s")
        query_sql = sql.SQL(
            "WITH hits AS MATERIALIZED (SELECT id, embedding <=> %(q)s AS distance FROM {passages}"
            " WHERE {where} ORDER BY {order} LIMIT %(k)s)"
            " SELECT id, 1 - distance AS cosine FROM hits ORDER BY distance, id"
        ).format(where=sql.SQL(" AND ").join(where), order=order, **self.t)
        rows = self._rows(query_sql, params, EF_SEARCH if exact else self._ef_search)  # larger versions: longer list
        return [(int(r["id"]), float(r["cosine"])) for r in rows]

    @cached_property
    def _ef_search(self) -> int:
        return ef_search_for(self.passage_count)

    def _avgdl(self) -> float:
        """Mean passage length in terms (BM25's length normalisation), read once."""
        if self._mean_length is None:
            rows = self._rows(sql.SQL("SELECT avg(nterms)::float8 AS n FROM {passages}").format(**self.t))
            self._mean_length = float(rows[0]["n"] or 1.0)
        return self._mean_length

    def _term_counts(self, terms: Sequence[str]) -> dict[str, int]:
        rows = self._rows(sql.SQL("SELECT lexeme, ndoc FROM {lexemes} WHERE lexeme = ANY(%s)").format(**self.t),
                          (list(terms),))
        return {r["lexeme"]: int(r["ndoc"]) for r in rows}

    def lexical(self, question: str, k: int, allowed_docs: Sequence[str] | None = None,
                filters: Filters | None = None, language: str | None = None,
                readings: tuple[str, ...] = ()) -> list[tuple[int, float]]:
        """BM25 over the question's terms, analysed as the local engine does (analysis.question_terms:
        its language, or all five network languages when undetermined, and the `readings`), OR-ed,
        no word dropped.

        Without filters, or with one keeping at least POSTINGS_FILTER_SHARE of the passages, from the
        version's impact-ordered postings (`_from_postings`, through the filter's row mask). With a
        narrower filter (or in a version written before postings), computed in SQL: idf from the
        version's term counts, tf from ts_rank_cd of each single term (which sums the field weights of
        its positions: title counts 2, section 1.5, text 1), length normalisation from the passage's
        term count. Candidates come from the GIN index; when the question's terms together match more
        than CANDIDATE_LIMIT passages (of the filter's scope: `_candidate_limit`), only passages holding
        one of its rarer terms are candidates (every term still adds to their score); a filtered question
        left with fewer than k hits that way is asked again with every term as a candidate.

        The score is one plain SQL expression per question (`bm25_sql`), not a function call per
        passage: each candidate's tsvector is read once (reading it is most of the cost)
        and each term is ranked only where `@@` finds it. Same scores as the PL/pgSQL `pioc_bm25` of
        migration 0002 (left installed for older code), 2–2.5× faster (lexical in benchmarks/bench_store.py)."""
        allowed = self._scope(allowed_docs, filters)
        if k <= 0 or allowed == [] or not question.strip():
            return []
        counts = self._term_counts(question_terms(question, language, readings))
        if not counts:
            return []
        in_scope = self.passage_count if allowed is None else self._in_scope(allowed)
        if self.has_postings and in_scope >= POSTINGS_FILTER_SHARE * self.passage_count:  # none or a broad filter
            ranked = self._from_postings(counts, k, None if allowed is None else self._row_mask(allowed))
            if ranked is not None:
                return ranked
        where = sql.SQL("p.tsv @@ %(any)s::tsquery AND (%(allowed)s::text[] IS NULL OR p.doc_id = ANY(%(allowed)s))")
        query_sql = sql.SQL("{scored} ORDER BY score DESC, c.id LIMIT %(k)s").format(scored=self._bm25(counts, where))
        chosen = candidate_terms(counts, self._candidate_limit(in_scope))
        rows = self._rows(query_sql, {"any": " | ".join(map(_quoted, chosen)), "allowed": allowed, "k": k})
        if allowed is not None and len(rows) < k and len(chosen) < len(counts):  # the filter left too few: all terms
            rows = self._rows(query_sql, {"any": " | ".join(map(_quoted, counts)), "allowed": allowed, "k": k})
        return [(int(r["id"]), float(r["score"])) for r in rows]

    def _candidate_limit(self, in_scope: int) -> int:
        """CANDIDATE_LIMIT, counted in the scope's `in_scope` passages: term counts are the whole version's,
        so a filter keeping 1/40 of the passages lets the candidate terms match 40× as many in all (about
        CANDIDATE_LIMIT of them in scope). Counted over the whole version, a narrow filter was left with
        a rare term's passages from other documents, and a lexical search with no hit at all."""
        return CANDIDATE_LIMIT * self.passage_count // max(in_scope, 1)

    def _in_scope(self, allowed: Iterable[str]) -> int:
        """Passages of the allowed documents (each counted once)."""
        return sum(self._counts.get(doc, 0) for doc in dict.fromkeys(allowed))

    def _bm25(self, counts: dict[str, int], where: sql.Composable) -> sql.Composed:
        """SELECT (id, score): BM25 of the terms (with their passage counts) for the passages `where` holds.

        `tsv || ''` is the tsvector read into memory once (from TOAST in versions built before tsv was
        stored inline, see TABLES_DDL); OFFSET 0 keeps the planner from pulling the subquery up, which
        would put that read back into every term's expression."""
        n = max(self.passage_count, 1)
        idfs = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in counts.items()}
        return sql.SQL(
            "SELECT c.id, {score} AS score FROM ("
            " SELECT p.id, p.tsv || ''::tsvector AS tsv, 1 - {b} + {b} * p.nterms / {avgdl} AS norm"
            " FROM {passages} p WHERE {where} OFFSET 0) c").format(
                score=bm25_sql(sorted(idfs.items())), b=_float8(BM25_B), avgdl=_float8(self._avgdl()),
                where=where, **self.t)

    def lexical_later(self, question: str, k: int, allowed_docs: Sequence[str] | None = None,
                      language: str | None = None, readings: tuple[str, ...] = ()
                      ) -> Callable[[], list[tuple[int, float]]]:
        """`lexical` started now on one of the store's search threads: the database (and the bound
        bookkeeping, numpy) work while the caller encodes the question and runs its dense search."""
        future = self.store.searches.submit(self.lexical, question, k, allowed_docs, language=language,
                                            readings=readings)
        return future.result

    def _from_postings(self, counts: dict[str, int], k: int, allowed_rows: np.ndarray | None = None
                       ) -> list[tuple[int, float]] | None:
        """BM25 top k from the heads of the terms' impact-ordered lists (Fagin's NRA), among the
        `allowed_rows` (a filter's mask by row number) if given; None for a question of more terms
        than TermHeads tracks.

        Each round reads the next stretch of every list not yet read to its end (POSTINGS_FIRST
        postings, then 4× more each round). Once no unseen passage can reach the k-th best lower bound, the
        few seen passages whose bound is still open are scored exactly (their tsvectors, bm25_sql),
        so the result is the same ranking as scoring every matching passage. A question still
        undecided once POSTINGS_MAX_DEPTH of each list is read gets the best of its best upper
        bounds, scored exactly: its scores are right, its set may miss a passage."""
        terms = sorted(counts)
        if len(terms) > TermHeads.MAX_TERMS:
            return None
        heads = TermHeads(len(terms), self.passage_count)
        want = POSTINGS_FIRST
        read_sql = sql.SQL(
            "SELECT w.i, substring(p.rows FROM w.start * 4 + 1 FOR w.n * 4),"
            " substring(p.impacts FROM w.start * 8 + 1 FOR w.n * 8) FROM {postings} p"
            " JOIN unnest(%s::text[], %s::int[], %s::int[], %s::int[]) AS w(lexeme, i, start, n)"
            " USING (lexeme)").format(**self.t)
        with self.store.connection() as conn, closing(heads):
            while True:
                depth = {i: min(counts[t], want) for i, t in enumerate(terms)}
                batch = [(t, i, heads.read[i], depth[i] - heads.read[i])
                         for i, t in enumerate(terms) if not heads.done[i] and heads.read[i] < depth[i]]
                if batch:
                    # binary: bytea arrives as its bytes, not as hex text to decode (3x faster for long lists)
                    for i, rows, impacts in conn.execute(read_sql, [list(c) for c in zip(*batch)], binary=True):
                        heads.add(i, np.frombuffer(rows, dtype=">i4"), np.frombuffer(impacts, dtype=">f8"),
                                  counts[terms[i]], allowed_rows)
                for _, i, _, _ in batch:  # a list shorter than its count (lexeme cut from the tsvector): done
                    heads.done[i] |= heads.read[i] < depth[i]
                final = want >= POSTINGS_MAX_DEPTH
                settled = heads.settle(k, RESCORE_LIMIT, final)
                if settled is not None:
                    break
                want *= 4
        open_rows, closed = settled
        ids = self._row_ids
        ranked = [(int(ids[r]), score) for r, score in closed]
        if open_rows.size:
            exact = self._scored(ids[open_rows], counts)
            ranked += [(int(i), exact.get(int(i), 0.0)) for i in ids[open_rows]]
        return sorted(ranked, key=lambda hit: (-hit[1], hit[0]))[:k]

    @cached_property
    def _row_ids(self) -> np.ndarray:
        """Passage ids by row number (the postings' numbering: ids in ascending order), read once."""
        query = sql.SQL("SELECT string_agg(int8send(id), ''::bytea ORDER BY id) FROM {passages}").format(**self.t)
        with self.store.connection() as conn:
            ids = conn.execute(query, binary=True).fetchone()[0]  # the bytes as they are, not hex text
        return np.frombuffer(ids or b"", dtype=">i8").astype(np.int64)

    def _row_mask(self, allowed: Sequence[str]) -> np.ndarray:
        """Per row number, whether its passage belongs to an allowed document."""
        documents, row_documents = self._row_documents
        table = np.zeros(len(documents) + 1, dtype=bool)  # the last entry: a passage of no known document
        table[[documents[doc] for doc in allowed if doc in documents]] = True
        return table[row_documents]

    @cached_property
    def _row_documents(self) -> tuple[dict[str, int], np.ndarray]:
        """Document ids numbered, and each row's document number (read once per version, by `warm`):
        each document's passage ids, placed by row number here (no sort of every passage in SQL)."""
        query = sql.SQL("SELECT doc_id, string_agg(int8send(id), ''::bytea) FROM {passages} GROUP BY doc_id")
        with self.store.connection() as conn:
            groups = conn.execute(query.format(**self.t), binary=True).fetchall()
        ids = [np.frombuffer(found, dtype=">i8") for _, found in groups]
        per_row = np.full(len(self._row_ids), len(groups), dtype=np.int32)
        if ids:
            numbers = np.repeat(np.arange(len(groups), dtype=np.int32), [len(found) for found in ids])
            per_row[np.searchsorted(self._row_ids, np.concatenate(ids))] = numbers
        return {doc: i for i, (doc, _) in enumerate(groups)}, per_row

    def _doc_ids_in_memory(self, ids: Sequence[int]) -> dict[int, str]:
        """`doc_ids` from the row numbering (`_row_ids`, `_row_documents`) instead of the database."""
        wanted = np.asarray(ids, dtype=np.int64)
        rows = np.minimum(np.searchsorted(self._row_ids, wanted), max(0, len(self._row_ids) - 1))
        found = self._row_ids[rows] == wanted if len(self._row_ids) else np.zeros(len(wanted), dtype=bool)
        names, numbers = self._document_names, self._row_documents[1][rows]
        return {int(i): names[n] for i, n, ok in zip(wanted, numbers, found) if ok and n < len(names)}

    @cached_property
    def _document_names(self) -> list[str]:
        """Document ids by their number in `_row_documents`."""
        return list(self._row_documents[0])

    def _scored(self, ids: np.ndarray, counts: dict[str, int]) -> dict[int, float]:
        """Exact BM25 of these passages (bm25_sql over their tsvectors)."""
        rows = self._rows(self._bm25(counts, sql.SQL("p.id = ANY(%s)")), ([int(i) for i in ids],))
        return {int(r["id"]): float(r["score"]) for r in rows}

    def warm(self) -> None:
        """Read the postings' row numbering (passage ids and their documents: ~0.2 s and ~1 s at 1M
        passages) in the background, before the first question needs it; the server keeps its own buffers."""
        if self.has_postings:
            threading.Thread(target=self._read_row_numbering, name="pioc-pg-warm", daemon=True).start()

    def _read_row_numbering(self) -> None:
        try:
            _ = self._row_ids, self._row_documents
        except Exception as error:  # noqa: BLE001 - the first question that needs them reads them again
            log.warning("could not read version %s's row numbering ahead: %s", self.name, error)

    def doc_freq(self, words: Iterable[str]) -> dict[str, int]:
        """Passages containing each index term (from analysis.question_groups), as the local reader."""
        wanted = list(dict.fromkeys(words))
        found = self._term_counts(wanted) if wanted else {}
        return {w: found.get(w, 0) for w in wanted}


def write_postings(conn: psycopg.Connection, tables: dict[str, sql.Identifier], work_mem: str) -> None:
    """Fill a version's impact-ordered postings table (POSTINGS_DDL) from its passages and lexemes."""
    conn.execute("SELECT set_config('work_mem', %s, true)", (work_mem,))  # one sort of every (term, passage)
    tf = sql.SQL(" + ").join(
        sql.SQL("{} * cardinality(array_positions(u.weights, {}))").format(_float8(w), sql.Literal(letter))
        for letter, w in zip("DCBA", FIELD_WEIGHTS))
    conn.execute(sql.SQL(POSTINGS_DDL).format(tf=tf, k1_1=_float8(BM25_K1 + 1), k1=_float8(BM25_K1),
                                              b=_float8(BM25_B), **tables))


class TermHeads:
    """The postings read so far from each query term's impact-ordered list, and Fagin's NRA bounds.

    Per passage (row number) it keeps the sum of the impacts read (its lower bound) and a bit per
    term it was seen in, in arrays as long as the version (zeroed for each question and, after `close`,
    used again by the next: faulting in fresh pages cost more than zeroing them)."""

    MAX_TERMS = 64  # one bit per term
    KEEP = 4  # sets of arrays kept for later questions (12 bytes per passage each)
    _free: list[tuple[np.ndarray, np.ndarray]] = []
    _free_lock = threading.Lock()

    def __init__(self, terms: int, passages: int) -> None:
        self.read = [0] * terms
        self.done = [False] * terms
        self.last = np.zeros(terms)  # impact of each list's last posting read: a bound on what is unread
        # the narrowest word with a bit per term: the narrower, the less memory each update moves
        self.bit = next(bit for bit in (np.uint8, np.uint16, np.uint32, np.uint64) if terms <= np.iinfo(bit).bits)
        with self._free_lock:
            fits = [arrays for arrays in self._free if arrays[0].size >= passages]
            if fits:
                self._free.remove(fits[0])
        self._arrays = fits[0] if fits else (np.empty(passages), np.empty(passages, np.uint64))
        self.lower, self.seen = self._arrays[0][:passages], self._arrays[1].view(self.bit)[:passages]
        self.lower.fill(0)
        self.seen.fill(0)
        self.touched: list[np.ndarray] = []

    def add(self, i: int, rows: np.ndarray, impacts: np.ndarray, count: int, allowed: np.ndarray | None = None
            ) -> None:
        """Postings `read[i]` onwards of term i's list (of `count`); a list holds each passage once. Only
        `allowed` rows (a mask by row number) are kept; the last impact read still bounds what is unread."""
        self.read[i] += rows.size
        self.done[i] = self.read[i] >= count
        if not rows.size:
            return
        self.last[i] = impacts[-1]
        rows = rows.astype(np.intp)
        if allowed is not None:
            keep = allowed[rows]
            rows, impacts = rows[keep], impacts[keep]
        before = self.seen[rows]
        self.touched.append(rows[before == 0])
        self.seen[rows] = before | self.bit(1 << i)
        self.lower[rows] += impacts

    def close(self) -> None:
        """Hand the arrays on to a later question (the KEEP largest sets are kept); use nothing after."""
        with self._free_lock:
            self._free.append(self._arrays)
            self._free.sort(key=lambda arrays: -arrays[0].size)
            del self._free[self.KEEP:]

    def settle(self, k: int, open_limit: int, final: bool = False
               ) -> tuple[np.ndarray, list[tuple[int, float]]] | None:
        """(rows still to score exactly, (row, exact score) pairs) once the top k is decided, else None.

        A seen passage scores at least the impacts read for it (lower) and at most that plus the last
        impact read of every unfinished list it was not seen in (upper); an unseen one at most the
        sum of those last impacts. The top k is decided when nothing outside it can pass its k-th lower
        bound; its members still open, and passages whose upper bound reaches past it, are scored exactly.
        `final` (no more reading): the k + open_limit best upper bounds are the candidates."""
        last = np.where(self.done, 0.0, self.last)
        unseen = float(last.sum())
        if not final and np.count_nonzero(self.lower >= unseen) < k:  # the k-th lower bound is below what an
            return None  # unseen passage may score: undecided (one scan, before ranking the rows seen)
        rows = np.concatenate(self.touched) if self.touched else np.zeros(0, np.intp)
        lower = self.lower[rows]
        best = _best(lower, k + open_limit) if final else None  # final: one partition of all rows, not two
        top = _best(lower, k) if best is None else best[_best(lower[best], k)]
        kth = float(lower[top].min()) if rows.size >= k else 0.0  # not final: at least `unseen` (checked above)
        is_top = np.zeros(rows.size, dtype=bool)
        is_top[top] = True
        # Bounds are needed only where they can matter: the top, and passages within `unseen` of its k-th
        # (when final, of the lower bound ranked k + open_limit: below it no upper bound is among the best).
        floor = float(lower[best].min()) if final and rows.size else kth
        near = np.flatnonzero(is_top | (lower + unseen >= floor))
        rows, lower, is_top = rows[near], lower[near], is_top[near]
        missing = np.zeros(rows.size)
        seen = self.seen[rows]
        for i in np.flatnonzero(last):
            missing += np.where(seen & self.bit(1 << int(i)), 0.0, last[i])
        open_ = (is_top & (missing > 0)) | (~is_top & (lower + missing > kth))
        if unseen <= kth and np.count_nonzero(open_) <= open_limit:  # no unseen passage can enter the top k
            return rows[open_], [(int(rows[j]), float(lower[j])) for j in np.flatnonzero(is_top & ~open_)]
        if not final:
            return None
        best = _best(lower + missing, k + open_limit)
        return rows[best[missing[best] > 0]], [(int(rows[j]), float(lower[j])) for j in best[missing[best] == 0]]


def _best(values: np.ndarray, n: int) -> np.ndarray:
    """Positions of the n largest values (all of them if fewer), in no particular order."""
    return np.argpartition(-values, n - 1)[:n] if values.size > n else np.arange(values.size)


def candidate_terms(counts: dict[str, int], limit: int) -> list[str]:
    """The rarest terms whose passages add up to at most `limit` (always at least the rarest one)."""
    chosen, total = [], 0
    for term in sorted(counts, key=lambda t: (counts[t], t)):
        if chosen and total + counts[term] > limit:
            break
        chosen.append(term)
        total += counts[term]
    return chosen


def bm25_sql(terms: Sequence[tuple[str, float]]) -> sql.Composed:
    """BM25 of (term, idf) pairs over the columns c.tsv (already detoasted) and c.norm, as one expression.

    A sum of one guarded term each rather than a PL/pgSQL loop: a literal tsquery per term, `@@` (a
    binary search) before ts_rank_cd, which then gives tf = the sum of the positions' field weights."""
    weights = sql.Literal([w / TF_SCALE for w in FIELD_WEIGHTS])
    parts = [sql.SQL("CASE WHEN c.tsv @@ {q} THEN {idf} * {k1_1} / (1 + {k1} * c.norm"
                     " / ({scale} * ts_rank_cd({weights}::float4[], c.tsv, {q}, 0))) ELSE 0 END").format(
        q=sql.SQL("{}::tsquery").format(sql.Literal(_quoted(term))), idf=_float8(idf),
        k1_1=_float8(BM25_K1 + 1), k1=_float8(BM25_K1), scale=_float8(TF_SCALE), weights=weights)
        for term, idf in terms]
    return sql.SQL(" + ").join(parts) if parts else sql.SQL("0")


def _float8(value: float) -> sql.Composed:
    """A float8 literal (a bare decimal literal would be numeric, slower and rounded differently)."""
    return sql.SQL("{}::float8").format(sql.Literal(value))


def _quoted(term: str) -> str:
    """A term as a tsvector/tsquery lexeme literal: taken as is, never parsed or stemmed again."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(fields: Sequence[tuple[Sequence[str], str]]) -> tuple[str, int]:
    """The tsvector of analysed terms per field weight ('A' title, 'B' section, 'D' text), and the term count.

    Built here rather than with to_tsvector so PostgreSQL indexes exactly analysis.analyse's terms
    (its parser would split or re-case some of them); positions run on across the fields."""
    positions: dict[str, list[str]] = {}
    position = 0
    for terms, weight in fields:
        for term in terms:
            position += 1
            if len(term.encode()) > MAX_LEXEME_BYTES:
                continue
            seen = positions.setdefault(term, [])
            if len(seen) < MAX_POSITIONS:
                seen.append(f"{min(position, 16383)}{weight}")
    return " ".join(f"{_quoted(t)}:{','.join(p)}" for t, p in positions.items()), position


def _document(row: dict[str, Any]) -> Document:
    return Document(id=row["id"], path=row["path"], sha256=row["sha256"], title=row["title"],
                    doc_type=row["doc_type"], cities=list(row["cities"]), themes=list(row["themes"]),
                    date=row["date"], language=row["language"], source_url=row["source_url"],
                    media_type=row["media_type"], pages=row["pages"])


class PostgresWriter:
    """Writes a new version in one transaction on its own connection, announced as `building`.

    The version row is committed first (state building, with the writer's backend pid), the
    tables and rows only at `finish`: a build killed midway leaves just that row, which
    `remove_unfinished` deletes once the writer's session is gone.
    """

    def __init__(self, store: PostgresStore, dimension: int, base: PostgresVersion | None = None) -> None:
        if base is not None and base.dimension != dimension:
            raise ValueError(f"base version has dimension {base.dimension}, not {dimension}")
        self.store = store
        self.dimension = dimension
        self.name = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        self.conn = store.dedicated_connection()
        with _guard():
            self.id = self.conn.execute(
                "INSERT INTO versions (name, state, dimension, builder_pid, builder_started)"
                " SELECT %s, 'building', %s, pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
                " RETURNING id", (self.name, dimension)).fetchone()[0]  # type: ignore[index]
            self.t = _tables(self.id)
            self.conn.autocommit = False  # from here on, one transaction until finish()
            self.conn.execute(sql.SQL(TABLES_DDL).format(dimension=sql.Literal(dimension), **self.t))
            if base is not None:
                columns = sql.SQL(", ").join(map(sql.Identifier, DOC_COLUMNS))
                self.conn.execute(sql.SQL("INSERT INTO {new} SELECT {columns} FROM {old}").format(
                    new=self.t["documents"], old=base.t["documents"], columns=columns))
                self.conn.execute(sql.SQL("INSERT INTO {new} SELECT * FROM {old}").format(
                    new=self.t["passages"], old=base.t["passages"]))

    def remove_documents(self, doc_ids: Iterable[str]) -> None:
        with _guard():
            self.conn.execute(sql.SQL("DELETE FROM {documents} WHERE id = ANY(%s)").format(**self.t),
                              (list(doc_ids),))

    def add_document(self, doc: Document, fingerprint: str, passages: Sequence[Passage],
                     embed_hashes: Sequence[str], vectors: np.ndarray) -> None:
        if len(passages) != len(embed_hashes) or len(passages) != len(vectors):
            raise ValueError(f"{doc.id}: {len(passages)} passages, {len(embed_hashes)} hashes, {len(vectors)} vectors")
        row = {"id": doc.id, "path": doc.path, "sha256": doc.sha256, "fingerprint": fingerprint, "title": doc.title,
               "doc_type": doc.doc_type, "cities": list(doc.cities), "themes": list(doc.themes), "date": doc.date,
               "year": doc.year, "language": doc.language, "source_url": doc.source_url,
               "media_type": doc.media_type, "pages": doc.pages, "passages": len(passages)}
        title = analyse(doc.title, doc.language)
        rows = []
        for p, h, v in zip(passages, embed_hashes, vectors):
            tsv, nterms = tsvector_literal([(title, "A"), (analyse(p.section, doc.language), "B"),
                                            (analyse(p.text, doc.language), "D")])
            rows.append({"id": p.id, "doc_id": doc.id, "ordinal": p.ordinal, "text": p.text, "section": p.section,
                         "page_start": p.page_start, "page_end": p.page_end, "embed_hash": h,
                         "embedding": HalfVector(np.asarray(v, dtype=np.float32)), "tsv": tsv, "nterms": nterms})
        with _guard():
            self.conn.execute(sql.SQL("INSERT INTO {documents} ({columns}) VALUES ({values})").format(
                columns=sql.SQL(", ").join(map(sql.Identifier, DOC_COLUMNS)),
                values=sql.SQL(", ").join(sql.Placeholder(c) for c in DOC_COLUMNS), **self.t), row)
            if not rows:
                return
            with self.conn.cursor() as cur:
                cur.executemany(sql.SQL(
                    "INSERT INTO {passages} (id, doc_id, ordinal, text, section, page_start, page_end, embed_hash,"
                    " embedding, tsv, nterms) VALUES (%(id)s, %(doc_id)s, %(ordinal)s, %(text)s, %(section)s,"
                    " %(page_start)s, %(page_end)s, %(embed_hash)s, %(embedding)s, %(tsv)s::tsvector, %(nterms)s)"
                ).format(**self.t), rows)

    def doc_ids_for_paths(self, paths: Sequence[str]) -> list[str]:
        with _guard():
            rows = self.conn.execute(sql.SQL("SELECT id FROM {documents} WHERE path = ANY(%s) ORDER BY id")
                                     .format(**self.t), (list(paths),))
            return [r[0] for r in rows]

    @property
    def document_count(self) -> int:
        with _guard():
            return int(self.conn.execute(sql.SQL("SELECT count(*) FROM {documents}").format(**self.t))
                       .fetchone()[0])  # type: ignore[index]

    @property
    def passage_count(self) -> int:
        with _guard():
            return int(self.conn.execute(sql.SQL("SELECT count(*) FROM {passages}").format(**self.t))
                       .fetchone()[0])  # type: ignore[index]

    def set_meta(self, values: dict[str, Any]) -> None:
        with _guard():
            self.conn.execute("UPDATE versions SET meta = meta || %s WHERE id = %s",
                              (Jsonb(json.loads(json.dumps(values))), self.id))

    def finish(self) -> str:
        """Index, verify and commit: the version becomes `ready` (complete, not live)."""
        stat_query = sql.SQL("SELECT tsv FROM {passages}").format(**self.t).as_string(self.conn)
        try:
            with _guard():
                self.conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (self.store.build_memory,))
                self.conn.execute(sql.SQL(INDEX_DDL).format(stat_query=sql.Literal(stat_query), m=sql.Literal(HNSW_M),
                                                          ef_construction=sql.Literal(HNSW_EF_CONSTRUCTION), **self.t))
                write_postings(self.conn, self.t, self.store.build_memory)
                _verify(self.conn, self.id)
                self.conn.execute("UPDATE versions SET state = 'ready', builder_pid = NULL, builder_started = NULL"
                                  " WHERE id = %s", (self.id,))
                self.conn.commit()
        except BaseException:
            self.abandon()
            raise
        self.conn.close()
        return self.name

    def abandon(self) -> None:
        """Roll back the rows and forget the version (if the database is gone, remove_unfinished will)."""
        try:
            self.conn.rollback()
            self.conn.autocommit = True
            self.conn.execute("DELETE FROM versions WHERE id = %s AND state = 'building'", (self.id,))
        except psycopg.Error:
            log.warning("could not remove unfinished version %s now; the next build will", self.name)
        finally:
            self.conn.close()

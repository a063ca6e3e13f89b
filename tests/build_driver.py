"""Run one index build and SIGKILL it at a named stage: the crash-safety tests start this as a subprocess.

    PIOC_DATABASE_URL=... python tests/build_driver.py CORPUS INDEX STAGE [--keep N]

The store is the one the environment names (open_store: PostgreSQL for a PIOC_DATABASE_URL, else
the local files under INDEX). No hook lives in production code: the stages are reached through
build_index's progress callback or by wrapping the store functions the pipeline calls, and the
process kills itself with SIGKILL (nothing is flushed, no finally blocks or atexit handlers run).
STAGE "pause" prints PAUSED and waits (holding the build lock) until it is killed from outside;
"lose-connection" (PostgreSQL) prints WRITING mid-write and waits for a line on stdin while the
test stops the database; "none" lets the build finish. The build uses the real model, in batches of 2 so that "embed" can be
interrupted part-way.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Stages reached through the progress callback, the same for every store.
COMMON = ("extract", "embed", "pause", "none")


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def after_documents(writer_class: type, action: Callable[[object], None], count: int = 2) -> None:
    """Call `action(writer)` once the writer has added `count` documents."""
    original_add = writer_class.add_document
    written = []

    def add_document(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_add(self, *args, **kwargs)
        written.append(1)
        if len(written) == count:
            action(self)

    writer_class.add_document = add_document  # type: ignore[attr-defined]


def local_hooks(stage: str) -> None:
    """Kill points of the local store (FAISS + SQLite files, CURRENT pointer file)."""
    from pioc_search.stores.local import store

    if stage == "write":  # after some documents went into the new version's SQLite and FAISS
        def written(writer):  # type: ignore[no-untyped-def]
            writer.conn.commit()  # make sure the half-written database really is on disk
            die()

        after_documents(store.LocalWriter, written)
    elif stage == "verify":  # vectors written and SQLite committed, not yet renamed into place
        store.verify = lambda *args, **kwargs: die()  # type: ignore[assignment]
    elif stage == "before-publish":  # complete version renamed into place, CURRENT not yet switched
        store.publish = lambda *args, **kwargs: die()  # type: ignore[assignment]
    elif stage in ("mid-publish", "after-switch"):
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
            if Path(dst).name == store.CURRENT:
                if stage == "mid-publish":  # the new CURRENT file is written but not renamed
                    die()
                real_replace(src, dst, *args, **kwargs)
                die()  # switched, but the version still carries its UNPUBLISHED marker
            return real_replace(src, dst, *args, **kwargs)

        os.replace = replace  # type: ignore[assignment]
    elif stage == "prune":  # live switched; killed while deleting an old version
        real_rmtree = store.shutil.rmtree

        def rmtree(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            victims = sorted(Path(path).iterdir())
            if victims:
                victims[0].unlink() if victims[0].is_file() else real_rmtree(victims[0])
            die()

        store.shutil.rmtree = rmtree  # type: ignore[assignment]
    else:
        raise SystemExit(f"no stage {stage!r} in the local store")


def after_statement(words: str, action: Callable[[object, Callable[[], object]], None]) -> None:
    """Hand the SQL statement containing `words` to `action(connection, run)`, which runs it (or not) and dies."""
    import psycopg

    real_execute = psycopg.Connection.execute

    def execute(self, query, *args, **kwargs):  # type: ignore[no-untyped-def]
        text = query if isinstance(query, str) else query.as_string(self)
        if words in text:
            action(self, lambda: real_execute(self, query, *args, **kwargs))
        return real_execute(self, query, *args, **kwargs)

    psycopg.Connection.execute = execute  # type: ignore[method-assign]


def postgres_hooks(stage: str) -> None:
    """Kill points of the PostgreSQL store (version tables written in one transaction, a `live` row)."""
    from pioc_search.stores.postgres import store

    if stage == "write":  # some documents inserted in the writer's open transaction
        after_documents(store.PostgresWriter, lambda writer: die())
    elif stage == "lose-connection":  # some documents written; waits (WRITING) while the test stops the server
        def written(writer):  # type: ignore[no-untyped-def]
            print(f"WRITING {writer.name}", flush=True)
            sys.stdin.readline()  # the test stops (and restarts) the server, then says go on

        after_documents(store.PostgresWriter, written)
    elif stage == "index":  # the server still busy with the build's statement when the client dies
        def busy(conn, run):  # type: ignore[no-untyped-def]
            threading.Thread(target=conn.execute, args=("SELECT pg_sleep(60)",), daemon=True).start()
            time.sleep(1)  # a long statement (e.g. HNSW over many passages) is running on the server
            die()

        after_statement("USING hnsw", busy)
    elif stage == "verify":  # tables and indexes written, transaction still open
        store._verify = lambda *args, **kwargs: die()  # type: ignore[assignment]
    elif stage == "before-publish":  # the version committed as `ready`, not live
        store.PostgresStore.publish = lambda *args, **kwargs: die()  # type: ignore[method-assign]
    elif stage == "mid-publish":  # `live` updated inside the publish transaction, not committed
        after_statement("UPDATE live", lambda conn, run: (run(), die()))
    elif stage == "after-switch":  # published, not yet pruned
        real_publish = store.PostgresStore.publish

        def publish(self, name):  # type: ignore[no-untyped-def]
            real_publish(self, name)
            die()

        store.PostgresStore.publish = publish  # type: ignore[method-assign]
    elif stage == "prune":  # an old version's tables dropped inside its transaction, not committed
        after_statement("DROP TABLE", lambda conn, run: (run(), die()))
    else:
        raise SystemExit(f"no stage {stage!r} in the PostgreSQL store")


def main() -> None:
    corpus, index, stage = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    keep = int(sys.argv[sys.argv.index("--keep") + 1]) if "--keep" in sys.argv else 3

    from pioc_search.embedders import load_embedder
    from pioc_search.ingest import pipeline
    from pioc_search.settings import Settings
    from pioc_search.stores import open_store
    from pioc_search.stores.base import StoreUnavailable

    settings = Settings.from_env(index_dir=index, batch_size=2)
    if stage not in COMMON:
        (postgres_hooks if settings.database_url else local_hooks)(stage)
    store = open_store(settings)
    embedder = load_embedder(settings)

    def on_progress(name: str, done: int, total: int) -> None:
        if name == "extract" and done >= 1 and stage == "pause":
            print("PAUSED", flush=True)
            while True:
                time.sleep(1)
        if name == stage and done >= 1 and done < total:  # part-way through the stage
            die()

    try:
        report = pipeline.build_index(corpus, store, embedder, keep_versions=keep, on_progress=on_progress,
                                      log_dir=index)  # as `pioc-search ingest` does
    except StoreUnavailable as exc:
        print(f"UNAVAILABLE {exc}", flush=True)
        raise SystemExit(4) from None
    print(f"FINISHED {report.version}", flush=True)


if __name__ == "__main__":
    main()

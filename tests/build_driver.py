"""Run one index build and SIGKILL it at a named stage: the crash-safety tests start this as a subprocess.

    python tests/build_driver.py CORPUS INDEX STAGE [--keep N]

No hook lives in production code: the stages are reached through build_index's progress callback
or by wrapping the store functions the pipeline calls, and the process kills itself with SIGKILL
(nothing is flushed, no finally blocks or atexit handlers run). STAGE "pause" prints PAUSED and
waits (holding the build lock) until it is killed from outside; "none" lets the build finish.
The build uses the real model, in batches of 2 so that "embed" can be interrupted part-way.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGES = ("extract", "embed", "write", "verify", "before-publish", "publish-tmp", "after-switch", "prune",
          "pause", "none")


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    corpus, index, stage = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    keep = int(sys.argv[sys.argv.index("--keep") + 1]) if "--keep" in sys.argv else 3
    assert stage in STAGES, stage

    from pioc_search.ingest import pipeline
    from pioc_search.stores.local import LocalStore, store

    from pioc_search.embedders import load_embedder
    from pioc_search.settings import Settings

    embedder = load_embedder(Settings.from_env(batch_size=2))

    def on_progress(name: str, done: int, total: int) -> None:
        if name == "extract" and done >= 1 and stage == "pause":
            print("PAUSED", flush=True)
            while True:
                time.sleep(1)
        if name == stage and done >= 1 and done < total:  # part-way through the stage
            die()

    if stage == "write":  # after some documents went into the new version's SQLite and FAISS
        original_add = store.LocalWriter.add_document
        written = []

        def add_document(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            original_add(self, *args, **kwargs)
            written.append(1)
            if len(written) == 2:
                self.conn.commit()  # make sure the half-written database really is on disk
                die()

        store.LocalWriter.add_document = add_document  # type: ignore[method-assign]
    elif stage == "verify":  # vectors written and SQLite committed, not yet renamed into place
        store.verify = lambda *args, **kwargs: die()  # type: ignore[assignment]
    elif stage == "before-publish":  # complete version renamed into place, CURRENT not yet switched
        store.publish = lambda *args, **kwargs: die()  # type: ignore[assignment]
    elif stage in ("publish-tmp", "after-switch"):
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
            if Path(dst).name == store.CURRENT:
                if stage == "publish-tmp":  # the new CURRENT file is written but not renamed
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

    report = pipeline.build_index(corpus, LocalStore(index), embedder, keep_versions=keep, on_progress=on_progress,
                                  log_dir=index)  # as `pioc-search ingest` does
    print(f"FINISHED {report.version}", flush=True)


if __name__ == "__main__":
    main()

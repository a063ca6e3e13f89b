"""Copy the live index version from one store to another through the store interface only.

`copy_live(source, target)` writes the source's live version (documents, passages, stored vectors,
fingerprints, embed hashes, meta such as the model id) into a new version of the target, without
re-embedding, verifies it against the source and publishes it. `store_at(location)` opens the store
at an index directory or a postgresql:// URL, so the CLI can move an index between any two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from pioc_search.models import Passage
from pioc_search.settings import Settings
from pioc_search.stores import POSTGRES_SCHEMES, open_store
from pioc_search.stores.base import Store, VerificationError, VersionReader

BACKEND_META = ("schema", "lexical")  # describe how a backend stores a version, not the index: never copied


def store_at(location: str, settings: Settings) -> Store:
    """The store at an index directory or a postgresql:// URL, otherwise configured as `settings`."""
    if location.startswith(POSTGRES_SCHEMES):
        return open_store(replace(settings, database_url=location))
    return open_store(replace(settings, database_url=None, index_dir=Path(location)))


def copy_live(source: Store, target: Store, progress: Callable[[int, int], None] | None = None) -> str:
    """Copy the source's live version into a new live version of the target; returns its name.

    Runs under the target's build lock (BuildInProgress if an ingest is running there) and cleans up
    what a dead build left there first. Nothing is published unless the copy matches the source.
    """
    live = source.live()
    if live is None:
        raise ValueError("the source has no live index version to copy")
    fingerprints = live.fingerprints()
    with target.build_lock():
        target.remove_unfinished()
        writer = target.writer(live.dimension)
        try:
            for done, doc in enumerate(live.documents.values(), 1):
                rows = live.document_passages(doc.id)
                vectors = live.vectors_by_embed_hash(r["embed_hash"] for r in rows)
                writer.add_document(
                    doc, fingerprints[doc.path],
                    [Passage(r["id"], r["doc_id"], r["ordinal"], r["text"], r["section"], r["page_start"],
                             r["page_end"]) for r in rows],
                    [r["embed_hash"] for r in rows],
                    np.array([vectors[r["embed_hash"]] for r in rows], dtype=np.float32).reshape(-1, live.dimension))
                if progress:
                    progress(done, len(live.documents))
            writer.set_meta({**{k: v for k, v in live.meta.items() if k not in BACKEND_META},
                             "previous_version": target.live_name(), "copied_from": live.name})
            name = writer.finish()
        except BaseException:
            writer.abandon()
            raise
        try:
            check_copy(live, target.open(name))
        except VerificationError:
            target.remove_unfinished()  # finished but never live: a leftover now
            raise
        target.publish(name)
    return name


def check_copy(source: VersionReader, copy: VersionReader) -> None:
    """VerificationError unless the copy has the source's documents, passages and fingerprints."""
    problems = []
    if copy.documents != source.documents:
        problems.append(f"{len(copy.documents)} documents instead of {len(source.documents)}")
    if copy.passage_count != source.passage_count:
        problems.append(f"{copy.passage_count} passages instead of {source.passage_count}")
    if copy.fingerprints() != source.fingerprints():
        problems.append("document fingerprints differ")
    if problems:
        raise VerificationError("the copy does not match its source: " + "; ".join(problems))

"""Changing the model (PIOC_MODEL) re-embeds every passage on the next ingest, never mixes vectors of
two models, and a server keeps encoding questions with the model the live version was built with."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from conftest import CORPUS, start_server, stop_server

from pioc_search.stores.local import store
from pioc_search.embedders import MiniLM, load_embedder
from pioc_search.ingest.pipeline import build_index, embedding_input
from pioc_search.models import Passage
from pioc_search.settings import Settings
from pioc_search.stores.local import LocalStore

DOCUMENTS = ("webinars/youth-employment-2023.md", "webinars/safe-transport-women-2022.md")


def test_a_new_model_re_embeds_everything_and_the_server_follows_the_live_version(tmp_path: Path) -> None:
    corpus, root = tmp_path / "corpus", tmp_path / "indexes"
    for name in DOCUMENTS:
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / name, corpus / name)
    minilm = load_embedder(Settings(model="all-MiniLM-L6-v2"))
    e5 = load_embedder(Settings(model="multilingual-e5-small"))

    first = build_index(corpus, LocalStore(root), minilm)
    assert store.LocalVersion(store.current_version(root)).meta["model_id"] == minilm.model_id

    second = build_index(corpus, LocalStore(root), e5)
    assert sorted(second.added) == sorted(first.added) == sorted(DOCUMENTS) and second.passages > 4
    assert second.embedded == second.passages and second.reused_embeddings == 0
    assert e5.calls == second.passages, "every passage, and only once, went through the new model"
    version = store.LocalVersion(store.current_version(root))
    assert version.meta["model_id"] == e5.model_id
    rows = [r for doc in version.documents.values() for r in version.document_passages(doc.id)]
    texts = [embedding_input(version.documents[r["doc_id"]],
                             Passage(r["id"], r["doc_id"], r["ordinal"], r["text"], r["section"], None, None))
             for r in rows]
    stored = np.stack([version.index.reconstruct(int(r["id"])) for r in rows])
    assert np.min(np.sum(stored * e5.encode(texts), axis=1)) > 0.99, "no MiniLM vector is left in the index"

    # A server configured for MiniLM, over the index built with E5: questions are encoded with E5.
    server = start_server(root, corpus, PIOC_MODEL="all-MiniLM-L6-v2")
    try:
        assert server.get("/stats").json()["model_id"] == e5.model_id
        for row in rows[:: max(1, len(rows) // 4)]:
            hits = server.get("/search", q=row["text"][:300], mode="dense", k=3).json()["hits"]
            assert hits[0]["passage_id"] == row["id"]
    finally:
        stop_server(server)


def test_a_new_precision_re_embeds_everything_once(tmp_path: Path) -> None:
    """int8 and float vectors of one model differ a little (cosine ~0.99): an index never mixes them,
    and the next build with the same precision reuses every vector."""
    corpus, root = tmp_path / "corpus", tmp_path / "indexes"
    for name in DOCUMENTS:
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CORPUS / name, corpus / name)
    float_model, int8_model = (MiniLM(precision=p) for p in ("fp32", "int8"))

    build_index(corpus, LocalStore(root), float_model)
    switched = build_index(corpus, LocalStore(root), int8_model)
    assert switched.embedded == switched.passages > 4 and switched.reused_embeddings == 0
    assert store.LocalVersion(store.current_version(root)).meta["vectors"] == int8_model.vectors_id

    (corpus / DOCUMENTS[0]).write_text((corpus / DOCUMENTS[0]).read_text() + "\n\nA new closing paragraph.\n")
    again = build_index(corpus, LocalStore(root), int8_model)
    assert again.changed == [DOCUMENTS[0]] and again.reused_embeddings > 0
    assert again.embedded < again.passages

"""Embedding overlaps extraction: the model encodes the first files' passages while later files are
still being extracted, and a model failure part-way still publishes nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pioc_search.settings import Settings
from pioc_search.stores import open_store
from pioc_search.embedders import Embedder, load_embedder
from pioc_search.ingest.pipeline import build_index

CITIES = ("Cali", "Glasgow", "Recife", "Oakland", "Nairobi")
TEXT = ("Outreach workers in {city} met young people at night and the homicide rate fell by {n} per cent "
        "over three years, according to the city's violence observatory. ")


def write_corpus(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n, city in enumerate(CITIES):
        sections = "".join(f"\n## Part {i + 1}\n\n{TEXT.format(city=city, n=10 + n + i) * 3}\n" for i in range(2))
        (folder / f"{city.lower()}.md").write_text(f"# {city} field notes\n{sections}", encoding="utf-8")


@pytest.fixture(scope="module")
def small_batches() -> Embedder:
    return load_embedder(Settings.from_env(batch_size=2))  # windows of one batch: the overlap is visible


def test_passages_are_encoded_while_later_files_are_still_being_extracted(tmp_path: Path,
                                                                           small_batches: Embedder) -> None:
    write_corpus(tmp_path / "corpus")
    encoded_while_extracting = []

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage == "extract" and done == total - 1:  # the last file is not handed over yet
            deadline = time.monotonic() + 60
            while small_batches.calls == before and time.monotonic() < deadline:
                time.sleep(0.05)  # the build's own thread waits here: only the background can encode
            encoded_while_extracting.append(small_batches.calls - before)

    before = small_batches.calls
    store = open_store(Settings(index_dir=tmp_path / "indexes"))
    report = build_index(tmp_path / "corpus", store, small_batches, on_progress=on_progress)
    assert encoded_while_extracting and encoded_while_extracting[0] > 0
    assert report.embedded == small_batches.calls - before == report.passages
    assert {"extract", "embed", "embed_busy", "write"} <= set(report.seconds)


def test_a_model_failure_while_files_are_extracted_publishes_nothing(tmp_path: Path, small_batches: Embedder,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    corpus, root = tmp_path / "corpus", tmp_path / "indexes"
    write_corpus(corpus)
    local = open_store(Settings(index_dir=root))
    first = build_index(corpus, local, small_batches)
    (corpus / "glasgow.md").write_text("# Glasgow\n\nThe violence reduction unit trained 300 staff.\n")
    real_encode = small_batches.encode

    def failing_encode(texts, on_batch=None, **options):  # type: ignore[no-untyped-def]
        if any("violence reduction unit" in text for text in texts):
            raise RuntimeError("the model ran out of memory")
        return real_encode(texts, on_batch, **options)

    monkeypatch.setattr(small_batches, "encode", failing_encode)
    with pytest.raises(RuntimeError, match="ran out of memory"):
        build_index(corpus, local, small_batches)
    assert local.live_name() == first.version
    assert local.list_versions() == [first.version]

"""Orchestrates a (re)build: diff against the live index, extract, chunk, embed, write, publish."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pioc_search import store
from pioc_search.embedders import Embedder
from pioc_search.ingest.chunk import chunk_blocks
from pioc_search.ingest.discover import SourceFile, discover, doc_id_for
from pioc_search.ingest.extract import MEDIA_TYPES, ExtractionError, ExtractOptions, extract_file
from pioc_search.ingest.metadata import resolve_document
from pioc_search.models import Document, Passage

ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class BuildReport:
    version: str | None = None
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # indexed, but part of the file was lost
    cleaned_up: list[str] = field(default_factory=list)
    documents: int = 0
    passages: int = 0
    pages_processed: int = 0
    passages_processed: int = 0
    embedded: int = 0
    reused_embeddings: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class _Prepared:
    source: SourceFile
    doc: Document
    passages: list[Passage]
    embed_hashes: list[str]
    problems: list[str] = field(default_factory=list)


def embedding_input(doc: Document, passage: Passage) -> str:
    """What the model sees: the passage with its document title and section for context."""
    context = " — ".join(part for part in (doc.title, passage.section) if part)
    return f"{context}\n{passage.text}" if context else passage.text


def _embed_hash(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\x00{text}".encode()).hexdigest()


def build_index(corpus_dir: Path, index_root: Path, embedder: Embedder, *, full: bool = False,
                keep_versions: int = 3, on_progress: ProgressCallback | None = None,
                extract_options: ExtractOptions = ExtractOptions()) -> BuildReport:
    """Bring the index in line with the corpus and publish the result atomically.

    Raises store.BuildInProgress when another build holds the lock.
    """
    report = BuildReport()
    started = time.perf_counter()
    with store.build_lock(index_root):
        report.cleaned_up = store.remove_unfinished(index_root)
        live = _usable_live_version(index_root, embedder, full)
        files, problems = discover(corpus_dir)
        report.failed.extend(problems)
        todo = _classify(files, live, report)
        prepared = _prepare(todo, embedder, report, on_progress, extract_options)
        if live is not None and not (prepared or report.removed):  # nothing new, or only failures
            report.version, report.documents, report.passages = live.name, len(live.documents), live.passage_count
            report.seconds["total"] = time.perf_counter() - started
            return report
        vectors = _vectors(prepared, live, embedder, report, on_progress)
        tick = time.perf_counter()
        if on_progress:
            on_progress("write", 0, 1)
        version = _write(index_root, embedder, live, prepared, vectors, report)
        store.publish(index_root, version)
        store.prune(index_root, keep_versions)
        if on_progress:
            on_progress("write", 1, 1)
        report.seconds["write"] = time.perf_counter() - tick
    report.version = version.name
    report.seconds["total"] = time.perf_counter() - started
    return report


def _usable_live_version(root: Path, embedder: Embedder, full: bool) -> store.IndexVersion | None:
    path = store.current_version(root)
    if full or path is None:
        return None
    live = store.IndexVersion(path)
    return live if live.meta.get("model_id") == embedder.model_id else None


def _classify(files: list[SourceFile], live: store.IndexVersion | None, report: BuildReport) -> list[SourceFile]:
    known = live.fingerprints() if live else {}
    todo = []
    present = {f.rel for f in files}
    owners = {doc_id_for(rel): rel for rel in known if rel in present}  # indexed files keep their id
    for source in files:
        owner = owners.setdefault(source.doc_id, source.rel)
        if owner != source.rel:  # e.g. "A b.md" next to "a-b.md": ids must stay unique
            reason = f"its document id '{source.doc_id}' is already used by {owner}; rename one of them"
            report.failed.append((source.rel, reason))
            continue
        if known.get(source.rel) == source.fingerprint:
            report.unchanged.append(source.rel)
        else:
            (report.changed if source.rel in known else report.added).append(source.rel)
            todo.append(source)
    report.removed = sorted(path for path in known if path not in present)
    return todo


def _prepare(todo: list[SourceFile], embedder: Embedder, report: BuildReport,
             on_progress: ProgressCallback | None, options: ExtractOptions) -> list[_Prepared]:
    if todo:
        tick = time.perf_counter()
        embedder.load()
        report.seconds["load_model"] = time.perf_counter() - tick
    tick = time.perf_counter()
    prepared = []
    for done, source in enumerate(todo, 1):
        try:
            item = _prepare_one(source, embedder, options)
            prepared.append(item)
            report.warnings.extend((source.rel, problem) for problem in item.problems)
        except ExtractionError as exc:
            report.failed.append((source.rel, str(exc)))
        except Exception as exc:  # a bad file must never stop the build
            report.failed.append((source.rel, f"unexpected error: {type(exc).__name__}: {exc}"))
        if on_progress:
            on_progress("extract", done, len(todo))
    failed = {path for path, _ in report.failed}
    report.added = [p for p in report.added if p not in failed]
    report.changed = [p for p in report.changed if p not in failed]
    report.pages_processed = sum(p.doc.pages or 0 for p in prepared)
    report.passages_processed = sum(len(p.passages) for p in prepared)
    report.seconds["extract"] = time.perf_counter() - tick
    return prepared


def _prepare_one(source: SourceFile, embedder: Embedder, options: ExtractOptions) -> _Prepared:
    language = source.meta.get("language")
    if language and not options.languages:
        options = dataclasses.replace(options, languages=(str(language),))
    extraction = extract_file(source.path, options)
    doc = resolve_document(source.doc_id, source.rel, source.sha256, MEDIA_TYPES[source.path.suffix.lower()],
                           source.meta, extraction.meta, extraction.blocks)
    passages = chunk_blocks(doc.id, extraction.blocks, embedder.count_tokens)
    hashes = [_embed_hash(embedder.model_id, embedding_input(doc, p)) for p in passages]
    return _Prepared(source, doc, passages, hashes, extraction.problems)


def _vectors(prepared: list[_Prepared], live: store.IndexVersion | None, embedder: Embedder,
             report: BuildReport, on_progress: ProgressCallback | None) -> dict[str, np.ndarray]:
    """Vectors by embedding hash: reused from the live version where the text is unchanged."""
    tick = time.perf_counter()
    inputs = {h: embedding_input(item.doc, p) for item in prepared for p, h in zip(item.passages, item.embed_hashes)}
    vectors = live.vectors_by_embed_hash(inputs) if live else {}
    report.reused_embeddings = len(vectors)
    missing = [h for h in inputs if h not in vectors]
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress("embed", done, len(missing))

    encoded = embedder.encode([inputs[h] for h in missing], on_batch=advance)
    vectors.update(zip(missing, encoded))
    report.embedded = len(missing)
    report.seconds["embed"] = time.perf_counter() - tick
    return vectors


def _write(root: Path, embedder: Embedder, live: store.IndexVersion | None, prepared: list[_Prepared],
           vectors: dict[str, np.ndarray], report: BuildReport) -> Path:
    writer = store.VersionWriter(root, embedder.dimension, base=live.path if live else None)
    try:
        writer.remove_documents(store.doc_id_for_paths(writer.conn, report.removed + report.changed))
        for item in prepared:
            matrix = np.array([vectors[h] for h in item.embed_hashes], dtype=np.float32).reshape(-1, embedder.dimension)
            writer.add_document(item.doc, item.source.fingerprint, item.passages, item.embed_hashes, matrix)
        report.documents = writer.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        report.passages = int(writer.index.ntotal)
        previous = store.current_version(root)
        writer.set_meta({"model_id": embedder.model_id, "dimension": embedder.dimension,
                         "previous_version": previous.name if previous else None,
                         "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         "documents": report.documents, "passages": report.passages})
        return writer.finish()
    except BaseException:
        writer.abandon()
        raise

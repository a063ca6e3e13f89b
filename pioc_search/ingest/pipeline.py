"""Orchestrates a (re)build: diff against the live index, extract, chunk, embed, write, publish.

A build never publishes an index that is worse by accident: a broken installation (a missing
module, a model that will not load) stops it before any file is touched, and a build in which
every file failed, or that would drop more than `SHRINK_LIMIT` of the live documents through
failures, is refused (unless `allow_shrink`) while the live version keeps serving.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pioc_search.embedders import Embedder
from pioc_search.ingest.chunk import chunk_blocks
from pioc_search.ingest.discover import SourceFile, discover, doc_id_for
from pioc_search.ingest.embed import BackgroundEmbedding
from pioc_search.ingest.extract import (
    MEDIA_TYPES, MODULES, EnvironmentProblem, ExtractionError, ExtractOptions, extractor_module,
)
from pioc_search.ingest.metadata import resolve_document
from pioc_search.ingest.watchdog import FileExtractor, Limits
from pioc_search.models import Document, Extraction, Passage
from pioc_search.stores.base import Store, VersionReader

ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)
SHRINK_LIMIT = 0.2  # share of the live documents a build may lose through failures before it is refused
LOG_NAME = "ingest.log"  # library warnings and tool output of every build, in the log folder
LOG_ROTATE_BYTES = 5 * 1024 * 1024


@dataclass
class BuildReport:
    version: str | None = None
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # indexed, but part of the file was lost
    refused: str | None = None  # why this build was not published (the live version kept serving)
    cleaned_up: list[str] = field(default_factory=list)
    documents: int = 0
    passages: int = 0
    pages_processed: int = 0
    passages_processed: int = 0
    embedded: int = 0
    reused_embeddings: int = 0
    ocr_pages: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    log_file: str | None = None


@dataclass
class _Prepared:
    source: SourceFile
    doc: Document
    passages: list[Passage]
    embed_hashes: list[str]
    problems: list[str] = field(default_factory=list)


FAILURE_KINDS = (  # (kind, words in the reason that mark it), first match wins
    ("timeout", ("took longer than",)),
    ("memory", ("needed more than", "stopped unexpectedly")),
    ("encrypted", ("password", "encrypt", "rights management", "drm")),
    ("unsupported", ("unsupported",)),
    ("no text", ("no extractable text", "no text", "no usable text", "only images", "scanned")),
    ("damaged", ("corrupt", "damaged", "truncated", "not a ", "invalid", "broken", "cannot be read", "unreadable",
                 "not valid", "unexpected error")),
)


def failure_kind(reason: str) -> str:
    """What kind of failure a report reason describes: timeout, memory, encrypted, unsupported,
    no text, damaged, or other."""
    lowered = reason.lower()
    return next((kind for kind, words in FAILURE_KINDS if any(w in lowered for w in words)), "other")


def embedding_input(doc: Document, passage: Passage) -> str:
    """What the model sees: the passage with its document title and section for context."""
    context = " — ".join(part for part in (doc.title, passage.section) if part)
    return f"{context}\n{passage.text}" if context else passage.text


def _embed_hash(vectors_id: str, text: str) -> str:
    return hashlib.sha256(f"{vectors_id}\x00{text}".encode()).hexdigest()


def build_index(corpus_dir: Path, store: Store, embedder: Embedder, *, full: bool = False,
                keep_versions: int = 3, on_progress: ProgressCallback | None = None,
                extract_options: ExtractOptions = ExtractOptions(), limits: Limits = Limits(),
                allow_shrink: bool = False, log_dir: Path | None = None) -> BuildReport:
    """Bring the store's index in line with the corpus and publish the result atomically.

    Raises BuildInProgress when another build holds the store's lock, EnvironmentProblem when the
    installation cannot extract or embed at all and StoreUnavailable when the store cannot be
    reached. A refused build returns a report whose `refused` says why; the live version is
    unchanged. Library warnings and tool output go to `log_dir`/ingest.log (nowhere without it).
    """
    report = BuildReport()
    started = time.perf_counter()
    with store.build_lock():
        report.cleaned_up = store.remove_unfinished()
        log_path = _open_log(log_dir, corpus_dir) if log_dir is not None else None
        report.log_file = str(log_path) if log_path else None
        published = store.live()
        live = _usable_live_version(store, published, embedder, full)
        files, problems = discover(corpus_dir)
        report.failed.extend(problems)
        todo = _classify(files, live, report)
        _check_environment(todo, embedder, report)
        with BackgroundEmbedding(embedder, live.vectors_by_embed_hash if live else None) as embedding:
            prepared = _prepare(todo, embedder, report, on_progress, extract_options, limits, log_path, embedding)
            report.refused = None if allow_shrink else _refusal(prepared, published, live, report)
            if report.refused or (live is not None and not (prepared or report.removed)):  # refused, or nothing new
                _describe(published, report)
                report.seconds["total"] = time.perf_counter() - started
                return report
            vectors = _vectors(embedding, report, on_progress)
        tick = time.perf_counter()
        if on_progress:
            on_progress("write", 0, 1)
        version = _write(store, corpus_dir, embedder, published, live, prepared, vectors, report)
        store.publish(version)
        store.prune(keep_versions)
        if on_progress:
            on_progress("write", 1, 1)
        report.seconds["write"] = time.perf_counter() - tick
    report.version = version
    report.seconds["total"] = time.perf_counter() - started
    return report


def build_settings(settings, *, ocr: bool | None = None) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """build_index keyword arguments from Settings (OCR, per-file limits, versions kept, log folder)."""
    return {"keep_versions": settings.keep_versions, "log_dir": settings.index_dir,
            "extract_options": ExtractOptions(ocr=settings.ocr if ocr is None else ocr),
            "limits": Limits(settings.file_timeout, settings.file_memory_mb)}


def _open_log(folder: Path, corpus_dir: Path) -> Path:
    """The build's log file (the previous one is kept as ingest.log.1 once it grows large)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_NAME
    if path.exists() and path.stat().st_size > LOG_ROTATE_BYTES:
        path.replace(path.with_name(LOG_NAME + ".1"))
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\n=== build of {corpus_dir.resolve()} started {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
    return path


def _check_environment(todo: list[SourceFile], embedder: Embedder, report: BuildReport) -> None:
    """Stop at once (EnvironmentProblem) when a needed extractor or the model cannot be loaded."""
    if not todo:
        return
    for suffix in sorted({source.path.suffix.lower() for source in todo} & set(MODULES)):
        extractor_module(suffix)
    tick = time.perf_counter()
    try:
        embedder.load(passages=True)
    except Exception as exc:
        raise EnvironmentProblem(f"the embedding model cannot be loaded: {type(exc).__name__}: {exc}") from exc
    report.seconds["load_model"] = time.perf_counter() - tick


def _refusal(prepared: list[_Prepared], published: VersionReader | None, live: VersionReader | None,
             report: BuildReport) -> str | None:
    """Why this build must not replace the live version, or None."""
    failed = {path for path, _ in report.failed}
    keep = f"the live version {published.name} keeps serving" if published else "nothing was published"
    if failed and not prepared and not report.unchanged:
        return f"every file failed ({len(failed)}); {keep} (use --allow-shrink to publish anyway)"
    if published is None:
        return None
    live_paths = {doc.path for doc in published.documents.values()}
    kept = set(live.fingerprints()) if live else set()  # an incremental build keeps a failed file's old text
    lost = [path for path in failed if path in live_paths and path not in kept]
    if live_paths and len(lost) > SHRINK_LIMIT * len(live_paths):
        return (f"{len(lost)} of the {len(live_paths)} live documents failed and would be dropped "
                f"(more than {SHRINK_LIMIT:.0%}); {keep} (use --allow-shrink to publish anyway)")
    return None


def _describe(published: VersionReader | None, report: BuildReport) -> None:
    """Fill the report with the version that stays live."""
    if published is None:
        return
    report.documents = len(published.documents)
    report.passages = published.passage_count
    report.version = published.name


def _usable_live_version(store: Store, published: VersionReader | None, embedder: Embedder,
                         full: bool) -> VersionReader | None:
    """The live version when the new one can start from it: same vectors (model, precision, export recipe)
    and storage format."""
    if full or published is None:
        return None
    usable = published.meta.get("vectors") == embedder.vectors_id and store.can_extend(published)
    return published if usable else None


def _classify(files: list[SourceFile], live: VersionReader | None, report: BuildReport) -> list[SourceFile]:
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


def _prepare(todo: list[SourceFile], embedder: Embedder, report: BuildReport, on_progress: ProgressCallback | None,
             options: ExtractOptions, limits: Limits, log_path: Path,
             embedding: BackgroundEmbedding) -> list[_Prepared]:
    """Extract (in the watchdog's worker, one file ahead) and chunk every file to (re)index; each
    file's passages go to the background embedding as soon as it is chunked."""
    tick = time.perf_counter()
    prepared = []
    ocr_seconds = 0.0
    with FileExtractor(limits, log_path) as extractor:
        tasks = extractor.map(todo, lambda source: (source.path, _options_for(source, options)))
        for done, (source, outcome) in enumerate(tasks, 1):
            try:
                if not isinstance(outcome, Extraction):
                    raise outcome
                item = _prepare_one(source, outcome, embedder)
                prepared.append(item)
                report.warnings.extend((source.rel, problem) for problem in item.problems)
                report.ocr_pages += int(outcome.meta.get("ocr_pages") or 0)
                ocr_seconds += float(outcome.meta.get("ocr_seconds") or 0.0)
            except ExtractionError as exc:
                report.failed.append((source.rel, str(exc)))
            except Exception as exc:  # a bad file must never stop the build
                report.failed.append((source.rel, f"unexpected error: {type(exc).__name__}: {exc}"))
            else:  # outside the try: a model failure stops the build, it is no file's fault
                embedding.add({h: embedding_input(item.doc, p) for p, h in zip(item.passages, item.embed_hashes)})
            if on_progress:
                on_progress("extract", done, len(todo))
    failed = {path for path, _ in report.failed}
    report.added = [p for p in report.added if p not in failed]
    report.changed = [p for p in report.changed if p not in failed]
    report.pages_processed = sum(p.doc.pages or 0 for p in prepared)
    report.passages_processed = sum(len(p.passages) for p in prepared)
    report.seconds["extract"] = time.perf_counter() - tick
    if ocr_seconds:
        report.seconds["ocr"] = ocr_seconds
    return prepared


def _options_for(source: SourceFile, options: ExtractOptions) -> ExtractOptions:
    """OCR in the document's declared language when no languages are configured."""
    language = source.meta.get("language")
    if language and not options.languages:
        return dataclasses.replace(options, languages=(str(language),))
    return options


def _prepare_one(source: SourceFile, extraction: Extraction, embedder: Embedder) -> _Prepared:
    doc = resolve_document(source.doc_id, source.rel, source.sha256, MEDIA_TYPES[source.path.suffix.lower()],
                           source.meta, extraction.meta, extraction.blocks)
    passages = chunk_blocks(doc.id, extraction.blocks, embedder.count_tokens)
    hashes = [_embed_hash(embedder.vectors_id, embedding_input(doc, p)) for p in passages]
    return _Prepared(source, doc, passages, hashes, extraction.problems)


def _vectors(embedding: BackgroundEmbedding, report: BuildReport,
             on_progress: ProgressCallback | None) -> dict[str, np.ndarray]:
    """Vectors by embedding hash, once the background embedding is done: reused from the live
    version where the text is unchanged. seconds["embed"] is the wait after extraction ended (the
    part that did not overlap it); seconds["embed_busy"] is the model's encoding time summed over its runners."""
    tick = time.perf_counter()
    vectors = embedding.finish(on_progress)
    report.reused_embeddings = embedding.reused
    report.embedded = embedding.embedded
    report.seconds["embed"] = time.perf_counter() - tick
    report.seconds["embed_busy"] = embedding.busy
    return vectors


def _write(store: Store, corpus_dir: Path, embedder: Embedder, published: VersionReader | None,
           live: VersionReader | None, prepared: list[_Prepared], vectors: dict[str, np.ndarray],
           report: BuildReport) -> str:
    """Write the new version (from `live`, or from empty) and finish it; returns its name (not live yet)."""
    writer = store.writer(embedder.dimension, base=live)
    try:
        writer.remove_documents(writer.doc_ids_for_paths(report.removed + report.changed))
        for item in prepared:
            matrix = np.array([vectors[h] for h in item.embed_hashes], dtype=np.float32).reshape(-1, embedder.dimension)
            writer.add_document(item.doc, item.source.fingerprint, item.passages, item.embed_hashes, matrix)
        report.documents = writer.document_count
        report.passages = writer.passage_count
        writer.set_meta({"model_id": embedder.model_id, "vectors": embedder.vectors_id, "dimension": embedder.dimension,
                         "previous_version": published.name if published else None,
                         "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         "corpus_dir": str(corpus_dir.resolve()),
                         "documents": report.documents, "passages": report.passages})
        return writer.finish()
    except BaseException:
        writer.abandon()
        raise

"""Retrieval quality per search mode: nDCG@10, Recall@10, Recall@100 and MRR@10, document-level.

Two kinds of question set share one code path (an `EvalSet`: questions, graded judgements, a corpus):
- a BEIR directory (corpus.jsonl, queries.jsonl, qrels.tsv or qrels/test.tsv): its corpus is written
  out as text files with YAML front matter and indexed by the real ingest pipeline. Instead of a
  corpus.jsonl the folder may hold `corpus.ref`, one line naming (relative to the folder) another BEIR
  folder whose corpus it shares — how translated query sets reuse one English corpus;
- a questions .jsonl file over a corpus folder, one {"id", "question", "relevant_docs": [paths]} a line.
Indexes live under the work folder keyed by corpus (content hash of corpus.jsonl, or the corpus folder's
path) and model id: sets sharing a corpus share one index, built once per model, and the pipeline's
incremental build makes a re-run embed nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pioc_search.embedders import Embedder, load_embedder
from pioc_search.ingest.discover import doc_id_for
from pioc_search.ingest.pipeline import BuildReport, build_index
from pioc_search.search import Hit, Mode, Searcher
from pioc_search.lexical import DEFAULT as DEFAULT_LEXICAL
from pioc_search.settings import Settings
from pioc_search.stores import open_store

MODES: tuple[Mode, ...] = ("hybrid", "dense", "lexical")
Qrels = dict[str, dict[str, int]]  # query id → {document id: grade}; grade > 0 means relevant
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


# --- metrics (`ranked` holds unique document ids, best first) -----------------------------------

def ndcg_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """nDCG with linear gains (as trec_eval and BEIR) and a log2 rank discount; ideal from the judgements."""
    dcg = sum(max(relevant.get(doc, 0), 0) / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], 1))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, 1))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """Share of the relevant documents found in the top k."""
    wanted = {doc for doc, grade in relevant.items() if grade > 0}
    return len(wanted.intersection(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document in the top k, else 0."""
    return next((1.0 / rank for rank, doc in enumerate(ranked[:k], 1) if relevant.get(doc, 0) > 0), 0.0)


def score_run(run: dict[str, list[str]], qrels: Qrels) -> dict[str, float]:
    """Mean of each metric over the queries with at least one relevant document (missing runs score 0)."""
    judged = [q for q, rels in qrels.items() if any(g > 0 for g in rels.values())]
    scores = {name: 0.0 for name in METRICS}
    for query in judged:
        ranked, rels = run.get(query, []), qrels[query]
        scores["ndcg@10"] += ndcg_at_k(ranked, rels, 10)
        scores["recall@10"] += recall_at_k(ranked, rels, 10)
        scores["recall@100"] += recall_at_k(ranked, rels, 100)
        scores["mrr@10"] += mrr_at_k(ranked, rels, 10)
    return {name: total / len(judged) if judged else 0.0 for name, total in scores.items()}


# --- question sets ------------------------------------------------------------------------------

@dataclass
class EvalSet:
    name: str
    corpus_dir: Path  # the folder the real pipeline indexes
    work_dir: Path  # one per corpus: holds index-<model>/ (and, for BEIR, the written corpus/)
    queries: dict[str, str]  # query id → question (only questions with a relevant document)
    qrels: Qrels
    doc_ids: dict[str, str] = field(default_factory=dict)  # index doc id → the set's doc id, when they differ
    language: str = "en"  # the questions' language (BEIR folder suffix `-xx`, else English)

    def index_root(self, model_id: str) -> Path:
        """Where this corpus's index for `model_id` lives (shared by every set over the same corpus)."""
        return self.work_dir / f"index-{doc_id_for(model_id)}"


def load_set(source: Path, work_root: Path, corpus: Path | None = None, name: str | None = None) -> EvalSet:
    """A BEIR directory, or a questions .jsonl file over `corpus`; work files go under `work_root`."""
    name = name or (source.name if source.is_dir() else source.stem)
    if source.is_dir():
        return load_beir(source, work_root, name)
    if corpus is None:
        raise ValueError(f"{source} is a questions file: give the corpus folder it refers to")
    return load_questions(source, corpus, work_root / f"corpus-{_digest(str(corpus.resolve()))}", name)


def set_language(name: str) -> str:
    """`scifact-pt` → "pt"; a name without a two-letter suffix is English."""
    found = re.search(r"[-_]([a-z]{2})$", name)
    return found.group(1) if found else "en"


def _digest(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()[:16]


def beir_corpus_file(directory: Path) -> Path:
    """The set's corpus.jsonl: its own, or that of the folder its `corpus.ref` names."""
    if (directory / "corpus.jsonl").is_file():
        return directory / "corpus.jsonl"
    ref = directory / "corpus.ref"
    if not ref.is_file():
        raise ValueError(f"{directory}: no corpus.jsonl and no corpus.ref")
    target = (directory / ref.read_text(encoding="utf-8").strip()).resolve()
    if not (target / "corpus.jsonl").is_file():
        raise ValueError(f"{ref} names {target}, which has no corpus.jsonl")
    return target / "corpus.jsonl"


def load_questions(path: Path, corpus: Path, work_dir: Path, name: str) -> EvalSet:
    """Questions labelled with corpus-relative document paths; every listed document has grade 1."""
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    languages: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        qid = str(item["id"])
        if not item["relevant_docs"]:
            continue
        missing = [rel for rel in item["relevant_docs"] if not (corpus / rel).is_file()]
        if missing:
            raise ValueError(f"question {qid}: relevant document(s) not in {corpus}: {', '.join(missing)}")
        queries[qid] = item["question"]
        qrels[qid] = {doc_id_for(rel): 1 for rel in item["relevant_docs"]}
        languages.add(item.get("language", "en"))
    return EvalSet(name, corpus, work_dir, queries, qrels, language="+".join(sorted(languages)) or "en")


def load_beir(directory: Path, work_root: Path, name: str) -> EvalSet:
    """Read a BEIR set and write its corpus as `<safe id>.txt` files (title etc. in front matter) under
    `work_root/corpus-<content hash>/`, shared with every other set over the same corpus."""
    qrels_path = next((p for p in (directory / "qrels.tsv", directory / "qrels" / "test.tsv") if p.is_file()), None)
    if qrels_path is None:
        raise ValueError(f"{directory}: no qrels.tsv or qrels/test.tsv")
    qrels = {q: rels for q, rels in read_qrels(qrels_path).items() if any(g > 0 for g in rels.values())}
    queries = {str(q["_id"]): q["text"] for q in _jsonl(directory / "queries.jsonl") if str(q["_id"]) in qrels}
    corpus_file = beir_corpus_file(directory)
    work_dir = work_root / f"corpus-{_digest(corpus_file.read_bytes())}"
    doc_ids = write_corpus(_jsonl(corpus_file), work_dir / "corpus")
    return EvalSet(name, work_dir / "corpus", work_dir, queries, {q: r for q, r in qrels.items() if q in queries},
                   doc_ids, set_language(name))


def read_qrels(path: Path) -> Qrels:
    """BEIR qrels: tab-separated query-id, corpus-id, score, with a header line."""
    qrels: Qrels = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) != 3 or not re.fullmatch(r"-?\d+", parts[2].strip()):
            continue  # the header, blank lines
        qrels.setdefault(parts[0].strip(), {})[parts[1].strip()] = int(parts[2])
    return qrels


def _jsonl(path: Path) -> Iterable[dict]:  # type: ignore[type-arg]
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def safe_name(beir_id: str) -> str:
    """File stem for a BEIR id: the id itself when already a clean slug, else slug + hash (injective)."""
    slug = doc_id_for(beir_id)[:80]
    return slug if slug == beir_id else f"{slug}-h{hashlib.sha256(beir_id.encode()).hexdigest()[:12]}"


def write_corpus(records: Iterable[dict], corpus_dir: Path) -> dict[str, str]:  # type: ignore[type-arg]
    """Write records as text files, rewriting only changed ones; returns index doc id → BEIR id.

    Plain .txt rather than Markdown keeps the text verbatim ('*', '_', '#' mean nothing there)."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    doc_ids: dict[str, str] = {}
    for record in records:
        beir_id = str(record["_id"])
        file_name = f"{safe_name(beir_id)}.txt"
        doc_id = doc_id_for(file_name)
        if doc_ids.setdefault(doc_id, beir_id) != beir_id:
            raise ValueError(f"BEIR ids {doc_ids[doc_id]!r} and {beir_id!r} map to the same document")
        meta = {"title": record.get("title") or None, "doc_type": "report", "language": "en", "beir_id": beir_id}
        front = yaml.safe_dump({k: v for k, v in meta.items() if v}, allow_unicode=True, sort_keys=False)
        body = record.get("text") or record.get("title") or beir_id  # a file without text is not indexed
        content = f"---\n{front}---\n\n{body}\n"
        path = corpus_dir / file_name
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
    for stale in corpus_dir.glob("*.txt"):
        if doc_id_for(stale.name) not in doc_ids:
            stale.unlink()
    return doc_ids


# --- running ------------------------------------------------------------------------------------

@dataclass
class ModeResult:
    mode: Mode
    scores: dict[str, float]
    queries: int
    queries_per_second: float
    run: dict[str, list[str]]  # query id → ranked document ids (the set's ids)


@dataclass
class SetResult:
    name: str
    build: BuildReport
    modes: list[ModeResult]
    language: str = "en"
    model: str = ""

    def rows(self) -> list[dict[str, object]]:
        """One flat record per mode, for tables and JSON."""
        return [{"set": self.name, "language": self.language, "model": self.model, "mode": m.mode,
                 **{k: round(v, 4) for k, v in m.scores.items()},
                 "queries": m.queries, "queries_per_second": round(m.queries_per_second, 1)} for m in self.modes]

    def ndcg(self, mode: str) -> float | None:
        """nDCG@10 of one mode, None when it was not run."""
        return next((m.scores["ndcg@10"] for m in self.modes if m.mode == mode), None)


def ranked_documents(hits: Iterable[Hit], doc_ids: dict[str, str]) -> list[str]:
    """Unique document ids in hit order (near-duplicate passages shown with a hit follow it)."""
    ranked: dict[str, None] = {}
    for hit in hits:
        for passage in (hit, *hit.duplicates):
            ranked.setdefault(doc_ids.get(passage.document.id, passage.document.id), None)
    return list(ranked)


def evaluate(evalset: EvalSet, embedder: Embedder, modes: Sequence[Mode] = MODES, k: int = 100,
             build: dict[str, Any] | None = None) -> SetResult:
    """Index the set's corpus (incrementally; `build`: more build_index arguments, see
    pipeline.build_settings), then ask every question in every mode with `k` passages."""
    return evaluate_many([evalset], embedder, modes, k, build=build)[0]


def evaluate_many(evalsets: Sequence[EvalSet], embedder: Embedder, modes: Sequence[Mode] = MODES,
                  k: int = 100, on_set: Callable[[EvalSet], None] | None = None,
                  build: dict[str, Any] | None = None) -> list[SetResult]:
    """Evaluate several sets, indexing each distinct corpus once (per model) however many sets share it."""
    built: dict[Path, tuple[BuildReport, Searcher]] = {}
    results = []
    for evalset in evalsets:
        if on_set:
            on_set(evalset)
        root = evalset.index_root(embedder.model_id)
        if root not in built:
            built[root] = open_index(evalset, root, embedder, build)
        report, searcher = built[root]
        results.append(ask(evalset, report, searcher, modes, k))
    return results


def open_index(evalset: EvalSet, root: Path, embedder: Embedder,
               build: dict[str, Any] | None = None) -> tuple[BuildReport, Searcher]:
    """Bring the corpus's index for this model up to date (nothing to do on a re-run) and open it."""
    build = dict(build or {})
    # Each evaluation corpus gets a scratch index of its own, in files under the work folder (never the
    # configured store, whose live version serves users).
    store = open_store(Settings(index_dir=root, lexical_engine=str(build.pop("lexical_engine", DEFAULT_LEXICAL))))
    report = build_index(evalset.corpus_dir, store, embedder, **build)
    live = store.live()
    if live is None:
        raise ValueError(f"{evalset.name}: nothing could be indexed ({len(report.failed)} files failed)")
    searcher = Searcher(live, embedder)
    searcher.search("warm-up", k=1)  # loads the model outside the timed runs
    return report, searcher


def ask(evalset: EvalSet, report: BuildReport, searcher: Searcher, modes: Sequence[Mode], k: int) -> SetResult:
    """Ask every question of the set in every mode with `k` passages and score the runs."""
    embedder = searcher.embedder
    results = []
    for mode in modes:
        embedder.clear_query_cache()  # each mode pays for its own encodings
        started = time.perf_counter()
        run = {qid: ranked_documents(searcher.search(question, k=k, mode=mode).hits, evalset.doc_ids)
               for qid, question in evalset.queries.items()}
        seconds = time.perf_counter() - started
        results.append(ModeResult(mode, score_run(run, evalset.qrels), len(run), len(run) / max(seconds, 1e-9), run))
    return SetResult(evalset.name, report, results, evalset.language, embedder.model_id)


def markdown_table(results: Sequence[SetResult]) -> str:
    """All sets × modes as one Markdown table."""
    lines = ["| set | language | mode | nDCG@10 | R@10 | R@100 | MRR@10 | queries | q/s |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for result in results:
        for m in result.modes:
            s = m.scores
            lines.append(f"| {result.name} | {result.language} | {m.mode} | {s['ndcg@10']:.4f} | {s['recall@10']:.4f} | "
                         f"{s['recall@100']:.4f} | {s['mrr@10']:.4f} | {m.queries} | {m.queries_per_second:.1f} |")
    return "\n".join(lines)


def hybrid_wins(result: SetResult) -> bool | None:
    """Whether hybrid beats both dense and lexical on nDCG@10 (None when a mode was not run)."""
    hybrid, dense, lexical = (result.ndcg(mode) for mode in MODES)
    if hybrid is None or dense is None or lexical is None:
        return None
    return hybrid > max(dense, lexical)


def language_ratios(results: Sequence[SetResult]) -> dict[tuple[str, str], float]:
    """(set name, mode) → nDCG@10 relative to the English set over the same queries and corpus.

    Sets pair up by name: `scifact-pt` is compared with `scifact-en`; sets without an English sibling
    get no ratio."""
    by_name = {r.name: r for r in results}
    ratios: dict[tuple[str, str], float] = {}
    for result in results:
        base = re.sub(r"[-_][a-z]{2}$", "", result.name)
        english = by_name.get(f"{base}-en") if base != result.name else None
        for m in result.modes:
            reference = english.ndcg(m.mode) if english else None
            if reference:
                ratios[(result.name, m.mode)] = m.scores["ndcg@10"] / reference
    return ratios


def model_embedder(model: str | None, settings: Settings) -> Embedder:
    """The evaluation's model: `model` (a PIOC_MODEL value) or the settings' own."""
    return load_embedder(dataclasses.replace(settings, model=model) if model else settings)

"""`pioc-search ingest | query | serve | stats | rollback | eval`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pioc_search.settings import Settings
from pioc_search.stores import open_store
from pioc_search.stores.base import BuildInProgress, Store, StoreUnavailable, VerificationError, VersionReader

app = typer.Typer(help="Search the network's knowledge: build the index, ask questions, serve the API.",
                  no_args_is_help=True, add_completion=False)
console = Console(soft_wrap=True)  # messages never wrap at the terminal width: paths stay whole
err = Console(stderr=True, soft_wrap=True)

EXIT_FAILED_FILES, EXIT_USAGE, EXIT_BUSY, EXIT_REFUSED, EXIT_ENVIRONMENT, EXIT_UNAVAILABLE = 1, 2, 3, 4, 5, 6
IndexDir = Annotated[Optional[Path], typer.Option("--index-dir", help="Where index versions live \\[env PIOC_INDEX_DIR].")]


def _settings(**overrides: object) -> Settings:
    return Settings.from_env(**overrides)


def _fail(code: int, message: object) -> NoReturn:
    """Print the error and exit with `code`."""
    err.print(f"[red]error:[/] {message}")
    raise typer.Exit(code)


def _store(settings: Settings) -> Store:
    """The configured store; exit 6 with a clear message when its database cannot be reached."""
    try:
        return open_store(settings)
    except StoreUnavailable as exc:
        _fail(EXIT_UNAVAILABLE, exc)


def _live(settings: Settings) -> tuple[Store, VersionReader]:
    """The store and its live version; exit 2 when nothing has been built yet."""
    store = _store(settings)
    live = store.live()
    if live is None:
        err.print("[red]error:[/] no index yet: run `pioc-search ingest` first")
        raise typer.Exit(2)
    return store, live


def _embedder(settings: Settings):  # type: ignore[no-untyped-def]
    from pioc_search.embedders import UnknownModel, load_embedder

    try:
        return load_embedder(settings)
    except UnknownModel as error:
        err.print(f"error: {error}")
        raise typer.Exit(2) from error


@app.command()
def ingest(
    corpus: Annotated[Optional[Path], typer.Argument(help="Corpus folder \\[env PIOC_CORPUS_DIR, default corpus/].")] = None,
    index_dir: IndexDir = None,
    full: Annotated[bool, typer.Option("--full", help="Rebuild from scratch, re-embedding everything.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any file failed.")] = False,
    no_ocr: Annotated[bool, typer.Option("--no-ocr", help="Do not OCR pages without text \\[env PIOC_OCR=0].")] = False,
    allow_shrink: Annotated[bool, typer.Option(
        "--allow-shrink", help="Publish even when every file failed or more than 20% of the live documents "
                               "would be lost through failures.")] = False,
) -> None:
    """Bring the index in line with the corpus: add, replace and remove documents, then publish.

    Exit codes: 0 published (or nothing to do), 1 files failed with --strict, 2 bad arguments, 3 another
    ingest is running, 4 not published (too many failures; the live version keeps serving), 5 the
    installation is broken (a missing module or model).
    """
    from pioc_search.ingest.extract import EnvironmentProblem
    from pioc_search.ingest.pipeline import build_index, build_settings

    settings = _settings(corpus_dir=corpus, index_dir=index_dir)
    if not settings.corpus_dir.is_dir():
        err.print(f"[red]error:[/] corpus folder {settings.corpus_dir} does not exist")
        raise typer.Exit(EXIT_USAGE)
    _log_to_file(settings.index_dir)
    columns = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        try:
            report = build_index(settings.corpus_dir, _store(settings), _embedder(settings), full=full,
                                 on_progress=on_progress, allow_shrink=allow_shrink,
                                 **build_settings(settings, ocr=False if no_ocr else None))  # type: ignore[arg-type]
        except BuildInProgress as exc:
            _fail(EXIT_BUSY, exc)
        except StoreUnavailable as exc:
            _fail(EXIT_UNAVAILABLE, f"{exc}; nothing was published")
        except EnvironmentProblem as exc:
            _fail(EXIT_ENVIRONMENT, f"the installation is broken, nothing was indexed: {exc}")
    _print_report(report)
    if report.refused:
        raise typer.Exit(EXIT_REFUSED)
    if report.failed and strict:
        raise typer.Exit(EXIT_FAILED_FILES)


def _log_to_file(index_dir: Path) -> None:
    """Library warnings of this process go to the index's log file, not the terminal."""
    import logging

    from pioc_search.ingest.pipeline import LOG_NAME

    index_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(index_dir / LOG_NAME, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.captureWarnings(True)


def _print_report(report) -> None:  # type: ignore[no-untyped-def]
    title = (f"Ingest report — NOT PUBLISHED, live version {report.version}" if report.refused
             else f"Ingest report — live version {report.version}")
    table = Table(title=title, show_header=False)
    for label, items in (("added", report.added), ("changed", report.changed),
                         ("removed", report.removed), ("unchanged", report.unchanged)):
        table.add_row(label, str(len(items)), ", ".join(items[:8]) + (" …" if len(items) > 8 else ""))
    table.add_row("failed", str(len(report.failed)), "")
    table.add_row("partial", str(len({path for path, _ in report.warnings})), "indexed with parts lost")
    table.add_row("documents", str(report.documents), "in the live index")
    table.add_row("passages", str(report.passages), f"{report.embedded} embedded, {report.reused_embeddings} reused")
    if report.ocr_pages:
        table.add_row("OCR pages", str(report.ocr_pages), f"{report.seconds.get('ocr', 0):.1f} s")
    table.add_row("seconds", f"{report.seconds.get('total', 0):.1f}",
                  ", ".join(f"{k} {v:.1f}" for k, v in report.seconds.items() if k != "total"))
    console.print(table)
    if report.cleaned_up:
        console.print(f"removed leftovers of interrupted builds: {', '.join(report.cleaned_up)}")
    for path, reason in report.failed:
        err.print(f"[yellow]warning:[/] {path}: {reason}", highlight=False)
    partial: dict[str, list[str]] = {}
    for path, problem in report.warnings:
        partial.setdefault(path, []).append(problem)
    for path, problems in partial.items():
        err.print(f"[yellow]partly indexed:[/] {path}: {'; '.join(problems)}", highlight=False)
    if report.failed:
        err.print(f"[yellow]{len(report.failed)} warning(s)[/]: the files above were skipped")
    if report.log_file and (report.failed or report.warnings):
        err.print(f"details: {report.log_file}", highlight=False)
    if report.refused:
        err.print(f"[red]not published:[/] {report.refused}", highlight=False)


@app.command()
def query(
    question: Annotated[str, typer.Argument(help="Your question, in plain words.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="Number of passages.")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, dense or lexical.")] = "hybrid",
    index_dir: IndexDir = None,
) -> None:
    """Print the best passages for a question, with citations."""
    from pioc_search.search import Searcher

    settings = _settings(index_dir=index_dir)
    if mode not in ("hybrid", "dense", "lexical"):
        err.print("[red]error:[/] --mode must be hybrid, dense or lexical")
        raise typer.Exit(2)
    _, live = _live(settings)
    result = Searcher(live, _embedder(settings)).search(question, k=k, mode=mode)  # type: ignore[arg-type]
    if not result.hits:
        console.print("No passages match that question.")
    if result.answer:
        answer = result.answer
        console.print(f"[bold green]Answer:[/] {answer.hit.text[answer.span.start:answer.span.end]}", highlight=False)
        console.print(f"[dim]— {answer.hit.document.title}, {answer.hit.document.path}"
                      f"{f', p. {answer.hit.page_start}' if answer.hit.page_start else ''}[/]\n")
    for rank, hit in enumerate(result.hits, 1):
        doc = hit.document
        where = ", ".join(x for x in (hit.section, f"p. {hit.page_start}" if hit.page_start else "") if x)
        console.print(f"[bold]{rank}. {doc.title}[/] [dim]({doc.doc_type}, {doc.date or 'undated'}, "
                      f"{', '.join(doc.cities) or 'no city'})[/]")
        console.print(f"   [dim]{doc.path}{' — ' + where if where else ''} · score {hit.score:.4f}[/]")
        for span in hit.answers:
            console.print(f"   [yellow]» {hit.text[span.start:span.end]}[/]", highlight=False)
        console.print(f"   {hit.text[:400]}{'…' if len(hit.text) > 400 else ''}", highlight=False)
        if hit.duplicates:
            console.print(f"   [dim]also in: {', '.join(d.document.path for d in hit.duplicates)}[/]")
        console.print()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(
        min=1, help="Worker processes; each loads the model and follows indexes/CURRENT by itself.")] = 1,
) -> None:
    """Serve the API, the search page and the OpenAPI docs."""
    import uvicorn

    _settings()  # fail here, once, on bad settings rather than in every worker
    if workers > 1 and "PIOC_MODEL_THREADS" not in os.environ:  # the workers share the cores: no oversubscription
        os.environ["PIOC_MODEL_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    # An import string (not an app object) so that uvicorn can start the same app in every worker process.
    # uvicorn kills a worker that does not answer its health ping within the timeout (default 5 s); loading
    # the model holds the GIL for seconds on a busy machine, so workers were killed while starting, over and over.
    uvicorn.run("pioc_search.server:create_app", factory=True, host=host, port=port, workers=workers,
                timeout_worker_healthcheck=60)


@app.command()
def stats(index_dir: IndexDir = None) -> None:
    """Show the live index version and its size."""
    settings = _settings(index_dir=index_dir)
    store, version = _live(settings)
    console.print(f"live version {version.name}, built {version.meta.get('built_at')}: "
                  f"{len(version.documents)} documents, {version.passage_count} passages")
    console.print(f"lexical engine: {version.lexical_engine}")
    console.print(f"versions kept: {', '.join(store.list_versions())}")


@app.command()
def rollback(index_dir: IndexDir = None) -> None:
    """Make the version that was live before the current one live again."""
    settings = _settings(index_dir=index_dir)
    store = _store(settings)
    try:
        with store.build_lock():
            name = store.rollback()
    except (ValueError, BuildInProgress, StoreUnavailable) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(f"version {name} is live")


@app.command("eval")
def eval_(
    sources: Annotated[list[Path], typer.Argument(
        help="BEIR folders (queries.jsonl, qrels.tsv or qrels/test.tsv, and corpus.jsonl or a corpus.ref naming the "
             "folder whose corpus it shares) and/or questions .jsonl files (one {id, question, relevant_docs: "
             "\\[corpus paths]} a line, over --corpus).")],
    corpus: Annotated[Optional[Path], typer.Option(
        help="Corpus folder that questions .jsonl files refer to \\[env PIOC_CORPUS_DIR, default corpus/].")] = None,
    modes: Annotated[str, typer.Option(help="Comma-separated modes to compare.")] = "hybrid,dense,lexical",
    k: Annotated[int, typer.Option("--k", min=10, max=1000, help="Passages retrieved per question.")] = 100,
    work_dir: Annotated[Optional[Path], typer.Option(
        help="Cache of written corpora and their indexes, one per corpus and model, reused by later runs "
             "\\[default <index-dir>/eval].")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the scores to this JSON file.")] = None,
) -> None:
    """Score retrieval per mode: nDCG@10, Recall@10, Recall@100, MRR@10 (document-level). Each distinct corpus
    is indexed once per model by the real pipeline, however many query sets (e.g. translations) share it.

    Examples: `pioc-search eval tests/data/questions.jsonl --corpus corpus` or
    `pioc-search eval evaldata/scifact-en evaldata/scifact-es evaldata/scifact-ar`.
    """
    import json

    from pioc_search.evaluate import MODES, evaluate_many, load_set
    from pioc_search.ingest.extract import EnvironmentProblem
    from pioc_search.ingest.pipeline import build_settings

    settings = _settings(corpus_dir=corpus)
    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    if not chosen or any(m not in MODES for m in chosen):
        err.print("[red]error:[/] --modes must list hybrid, dense and/or lexical")
        raise typer.Exit(2)
    evalsets = []
    for source in sources:
        try:
            evalsets.append(load_set(source, work_dir or settings.index_dir / "eval", settings.corpus_dir))
        except (OSError, ValueError, KeyError) as exc:
            err.print(f"[red]error:[/] {source}: {exc}")
            raise typer.Exit(2) from None
    embedder = _embedder(settings)
    try:
        with err.status("indexing …") as status:
            results = evaluate_many(evalsets, embedder, chosen, k,  # type: ignore[arg-type]
                                    on_set=lambda s: status.update(f"{s.name}: {len(s.queries)} questions …"),
                                    build={**build_settings(settings), "lexical_engine": settings.lexical_engine})
    except (OSError, ValueError, BuildInProgress, EnvironmentProblem) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    _print_scores(results)
    if json_out:
        json_out.write_text(json.dumps([row for r in results for row in r.rows()], indent=2) + "\n", encoding="utf-8")


def _print_scores(results) -> None:  # type: ignore[no-untyped-def]
    """One row per set and mode, then nDCG@10 per language and mode (with the ratio to English)."""
    from pioc_search.evaluate import language_ratios

    table = Table("set", "language", "mode", "nDCG@10", "R@10", "R@100", "MRR@10", "queries", "q/s",
                  title=f"Retrieval quality ({results[0].model if results else ''})")
    for result in results:
        if result.build.failed:
            err.print(f"[yellow]warning:[/] {result.name}: {len(result.build.failed)} file(s) could not be indexed")
        for m in result.modes:
            s = m.scores
            table.add_row(result.name, result.language, m.mode, *(f"{s[key]:.4f}" for key in s),
                          str(m.queries), f"{m.queries_per_second:.1f}")
    _print_wide(table)
    ratios = language_ratios(results)
    if ratios:
        by_language = Table("set", "language", *(m.mode for m in results[0].modes),
                            title="nDCG@10 per language and mode (× the English set on the same queries)")
        for result in results:
            by_language.add_row(result.name, result.language, *(
                f"{m.scores['ndcg@10']:.4f} (×{ratios[(result.name, m.mode)]:.2f})"
                if (result.name, m.mode) in ratios else f"{m.scores['ndcg@10']:.4f}" for m in result.modes))
        _print_wide(by_language)


def _print_wide(table: Table) -> None:
    """Print a table at its natural width, never squeezed or cropped to the terminal's."""
    width = Measurement.get(console, console.options.update_width(10_000), table).maximum
    Console(file=console.file, width=max(width, console.width), soft_wrap=True).print(table)



@app.command()
def migrate(
    source: Annotated[str, typer.Option("--from", help="Index directory or postgresql:// URL to copy from.")],
    target: Annotated[str, typer.Option("--to", help="Index directory or postgresql:// URL to copy into.")],
) -> None:
    """Copy the live index version from one store to another (no re-embedding) and make it live there."""
    from pioc_search.stores.transfer import copy_live, store_at

    settings = _settings()
    opened = []
    try:
        opened.append(store_at(source, settings))
        opened.append(store_at(target, settings))
        with Progress(TextColumn("copying documents"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as bar:
            task = bar.add_task("copy", total=None)
            name = copy_live(*opened, progress=lambda done, total: bar.update(task, completed=done, total=total))
        live = opened[1].open(name)
        console.print(f"copied {len(live.documents)} documents, {live.passage_count} passages; "
                      f"version {name} is live at the target")
    except BuildInProgress as error:
        _fail(EXIT_BUSY, error)
    except StoreUnavailable as error:
        _fail(EXIT_UNAVAILABLE, error)
    except VerificationError as error:
        _fail(EXIT_REFUSED, error)
    except ValueError as error:
        _fail(EXIT_USAGE, error)
    finally:
        for store_ in opened:
            store_.close()

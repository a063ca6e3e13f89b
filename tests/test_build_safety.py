"""A broken installation or a build that would lose documents through failures is never published;
each file is extracted under a time and memory limit, and its trouble is one line of the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT
from pioc_search import cli
from pioc_search.cli import app
from pioc_search.embedders import Embedder
from pioc_search.ingest.extract import MODULES, EnvironmentProblem
from pioc_search.ingest.pipeline import build_index
from pioc_search.ingest.watchdog import Limits
from pioc_search.stores.local import LocalStore, store

REALFILES = ROOT.parent / "shared" / "realfiles"
CITIES = ("Cali", "Recife", "Glasgow", "Oakland", "Bogota")
runner = CliRunner()


def write_notes(corpus: Path, names: tuple[str, ...] = CITIES) -> None:
    corpus.mkdir(exist_ok=True)
    for city in names:
        (corpus / f"{city.lower()}.md").write_text(
            f"# Violence prevention in {city}\n\nOutreach workers in {city} mediated disputes between young people.\n")


def live_paths(root: Path) -> list[str]:
    return sorted(d.path for d in store.LocalVersion(store.current_version(root)).documents.values())


@pytest.fixture
def built(tmp_path: Path, embedder: Embedder) -> tuple[Path, Path, str]:
    corpus, root = tmp_path / "corpus", tmp_path / "indexes"
    write_notes(corpus)
    return corpus, root, build_index(corpus, LocalStore(root), embedder).version


@pytest.fixture
def shared_model(monkeypatch: pytest.MonkeyPatch, embedder: Embedder) -> None:
    monkeypatch.setattr(cli, "_embedder", lambda settings: embedder)


def test_a_build_where_every_file_fails_leaves_the_live_version(built, embedder: Embedder) -> None:
    corpus, root, first = built
    for path in corpus.iterdir():
        path.write_bytes(b"")
    for full in (False, True):
        report = build_index(corpus, LocalStore(root), embedder, full=full)
        assert report.refused and "every file failed" in report.refused
        assert report.version == first and store.current_version(root).name == first
        assert report.documents == len(CITIES)
    assert live_paths(root) == sorted(f"{c.lower()}.md" for c in CITIES)


def test_losing_over_a_fifth_through_failures_is_refused_unless_allowed(built, tmp_path: Path, shared_model) -> None:
    corpus, root, first = built
    (corpus / "cali.md").write_bytes(b"")
    (corpus / "recife.md").write_bytes(b"\x00\x01binary\x00" * 8)  # 2 of 5 live documents now fail: 40%
    refused = runner.invoke(app, ["ingest", str(corpus), "--index-dir", str(root), "--full"])
    assert refused.exit_code == cli.EXIT_REFUSED, refused.output
    assert "not published" in refused.output and "2 of the 5 live documents" in refused.output
    assert store.current_version(root).name == first and len(live_paths(root)) == 5

    incremental = runner.invoke(app, ["ingest", str(corpus), "--index-dir", str(root)])
    assert incremental.exit_code == 0, "an incremental build keeps the failed files' last good text"
    assert len(live_paths(root)) == 5

    allowed = runner.invoke(app, ["ingest", str(corpus), "--index-dir", str(root), "--full", "--allow-shrink"])
    assert allowed.exit_code == 0, allowed.output
    assert live_paths(root) == ["bogota.md", "glasgow.md", "oakland.md"]


def test_removed_files_are_not_failures(built, embedder: Embedder) -> None:
    corpus, root, first = built
    for city in CITIES[:3]:
        (corpus / f"{city.lower()}.md").unlink()
    report = build_index(corpus, LocalStore(root), embedder, full=True)
    assert report.refused is None and report.version != first
    assert live_paths(root) == ["bogota.md", "oakland.md"]


def test_a_missing_extractor_module_stops_the_build_with_one_message(
        built, monkeypatch: pytest.MonkeyPatch, shared_model) -> None:
    corpus, root, first = built
    monkeypatch.setitem(MODULES, ".md", "no_such_extractor")  # a real ImportError, as without a dependency
    (corpus / "cali.md").write_text("# Cali\n\nChanged text about lighting in Cali.\n")
    result = runner.invoke(app, ["ingest", str(corpus), "--index-dir", str(root), "--full"])
    assert result.exit_code == cli.EXIT_ENVIRONMENT
    assert result.output.count("installation is broken") == 1 and "no_such_extractor" in result.output
    assert "cali.md" not in result.output, "one message, not one per file"
    assert store.current_version(root).name == first


def test_a_model_that_will_not_load_stops_the_build(built, tmp_path: Path) -> None:
    corpus, root, first = built
    (corpus / "cali.md").write_text("# Cali\n\nChanged text.\n")
    result = runner.invoke(app, ["ingest", str(corpus), "--index-dir", str(root)],
                           env={"PIOC_MODEL": "all-MiniLM-L6-v2", "PIOC_MODEL_PATH": str(tmp_path / "no-model-here")})
    assert result.exit_code == cli.EXIT_ENVIRONMENT, result.output
    assert result.output.count("embedding model cannot be loaded") == 1
    assert store.current_version(root).name == first


def test_environment_problem_is_raised_by_the_pipeline(built, monkeypatch: pytest.MonkeyPatch, embedder) -> None:
    corpus, root, _ = built
    monkeypatch.setitem(MODULES, ".md", "no_such_extractor")
    with pytest.raises(EnvironmentProblem, match="MD|NO_SUCH_EXTRACTOR|no_such_extractor"):
        build_index(corpus, LocalStore(root), embedder, full=True)


def test_a_file_over_its_time_is_skipped_and_the_build_goes_on(tmp_path: Path, embedder: Embedder) -> None:
    corpus = tmp_path / "corpus"
    write_notes(corpus, ("Cali", "Recife"))
    (corpus / "a-book.pdf").symlink_to(REALFILES / "pdfjs" / "freeculture.pdf")  # 352 pages: far over 1 s
    report = build_index(corpus, LocalStore(tmp_path / "idx"), embedder, limits=Limits(seconds=1))
    assert dict(report.failed) == {"a-book.pdf": "took longer than 1 s to extract (PIOC_FILE_TIMEOUT); skipped"}
    assert live_paths(tmp_path / "idx") == ["cali.md", "recife.md"], "the worker was replaced for the next files"


def test_a_file_over_its_memory_is_skipped(tmp_path: Path, embedder: Embedder) -> None:
    corpus = tmp_path / "corpus"
    write_notes(corpus, ("Cali",))
    (corpus / "book.pdf").symlink_to(REALFILES / "pdfjs" / "freeculture.pdf")
    report = build_index(corpus, LocalStore(tmp_path / "idx"), embedder, limits=Limits(memory_mb=60))
    assert "needed more than 60 MB" in dict(report.failed)["book.pdf"]
    assert live_paths(tmp_path / "idx") == ["cali.md"]


def test_library_noise_goes_to_the_log_and_each_file_is_one_line(tmp_path: Path, shared_model) -> None:
    corpus, root = tmp_path / "corpus", tmp_path / "idx"
    write_notes(corpus, ("Cali", "Recife"))
    (corpus / "fuzzed.pdf").symlink_to(REALFILES / "pdfjs" / "PDFBOX-3148-2-fuzzed.pdf")
    (corpus / "broken.pdf").symlink_to(REALFILES / "pdfjs" / "REDHAT-1531897-0.pdf")
    result = runner.invoke(app, ["ingest", str(corpus), "--index-dir", str(root)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "fuzzed.pdf" in line or "broken.pdf" in line]
    assert len(lines) <= 2, result.output
    assert not any(word in result.output for word in ("Traceback", "WARNING", "pypdf._", "pdfminer")), result.output
    log = (root / "ingest.log").read_text()
    assert "=== build of" in log and "extracting" in log

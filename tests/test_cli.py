"""The command line a person uses: query with citations, stats, and helpful errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from conftest import BuiltIndex
from pioc_search.cli import app

runner = CliRunner()


def test_query_prints_ranked_hits_with_citations(sample_index: BuiltIndex) -> None:
    result = runner.invoke(app, ["query", "Did street lighting reduce night-time robbery in Cali?", "-k", "3",
                                 "--index-dir", str(sample_index.root)])
    assert result.exit_code == 0, result.output
    first = result.output.split("\n1. ", 1)[1].split("\n2. ")[0]
    assert "Cali" in first, "a Cali lighting document comes first"
    assert result.output.count("» ") >= 3, "each hit shows the sentence that answers"
    assert "reports/cali-lighting-2022.pdf" in result.output and "p. " in result.output  # the report, with its page
    assert "3. " in result.output and "4. " not in result.output


def test_stats_reports_the_live_version(sample_index: BuiltIndex) -> None:
    result = runner.invoke(app, ["stats", "--index-dir", str(sample_index.root)])
    assert result.exit_code == 0
    assert f"live version {sample_index.report.version}" in result.output
    assert f"{sample_index.report.documents} documents" in result.output
    assert "lexical engine: tantivy" in result.output


def test_commands_without_an_index_say_what_to_do(tmp_path: Path) -> None:
    for command in (["query", "lighting"], ["stats"], ["rollback"]):
        result = runner.invoke(app, [*command, "--index-dir", str(tmp_path / "none")])
        assert result.exit_code == 2
        assert "ingest" in result.output or "no earlier version" in result.output
    missing = runner.invoke(app, ["ingest", str(tmp_path / "no-such-corpus"), "--index-dir", str(tmp_path / "idx")])
    assert missing.exit_code == 2 and "does not exist" in missing.output

"""The bundled sample corpus and its question set: catalogue, languages, labelled questions, generators."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from conftest import CORPUS, QUESTIONS
from pioc_search.ingest.extract import extract_file

DOCUMENT_SUFFIXES = (".pdf", ".html", ".docx", ".md", ".vtt", ".srt")
NETWORK_LANGUAGES = ("en", "es", "pt", "fr", "ar")


@pytest.fixture(scope="module")
def catalogue() -> dict[str, dict]:
    return yaml.safe_load((CORPUS / "catalogue.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_document_has_a_complete_catalogue_entry(catalogue: dict[str, dict]) -> None:
    files = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*")
             if p.suffix in DOCUMENT_SUFFIXES and p.name != "README.md"}
    assert files == set(catalogue)
    for path, entry in catalogue.items():
        missing = {"title", "doc_type", "cities", "themes", "date", "language", "author"} - set(entry)
        assert not missing, f"{path}: {missing}"


def test_corpus_covers_the_networks_languages_in_several_formats(catalogue: dict[str, dict]) -> None:
    by_language: dict[str, set[str]] = {}
    for path, entry in catalogue.items():
        by_language.setdefault(entry["language"], set()).add(path)
    assert set(by_language) == set(NETWORK_LANGUAGES)
    for language in ("es", "pt", "fr", "ar"):
        assert len(by_language[language]) >= 2, language
    formats = {Path(p).suffix for lang in ("es", "pt", "fr", "ar") for p in by_language[lang]}
    assert formats == {".pdf", ".docx", ".html", ".md", ".vtt"}


def test_questions_are_labelled_with_language_and_answerable(questions: list[dict], catalogue: dict[str, dict]) -> None:
    texts: dict[str, str] = {}
    ids = [q["id"] for q in questions]
    assert len(ids) == len(set(ids))
    for item in questions:
        assert item["language"] in NETWORK_LANGUAGES and item["question"].strip() and item["relevant_docs"], item["id"]
        crossing = any(catalogue[doc]["language"] != item["language"] for doc in item["relevant_docs"])
        assert item.get("cross_lingual", False) == crossing, item["id"]
        for doc in item["relevant_docs"]:
            if doc not in texts:
                texts[doc] = "\n".join(b.text for b in extract_file(CORPUS / doc).blocks)
            assert item["answer_contains"] in texts[doc], f"{item['id']}: {item['answer_contains']!r} not in {doc}"


def test_cross_lingual_questions_go_every_way(questions: list[dict], catalogue: dict[str, dict]) -> None:
    crossing = [q for q in questions if q.get("cross_lingual")]
    assert len(crossing) >= 40
    pairs = {(q["language"], catalogue[doc]["language"]) for q in crossing for doc in q["relevant_docs"]}
    for language in ("es", "pt", "fr", "ar"):
        assert (language, "en") in pairs, f"no {language} question about an English document"
        assert ("en", language) in pairs, f"no English question about a {language} document"
        assert any(a == language and b not in ("en", language) for a, b in pairs), f"{language} → other non-English"


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script, items, build", [
    ("reports/make_reports.py", "REPORTS", "build_report"),
    ("statements/make_statements.py", "STATEMENTS", "build_statement"),
])
def test_generated_documents_match_their_generators(script: str, items: str, build: str, tmp_path: Path) -> None:
    """The committed PDFs and DOCX say what the generator scripts say (same title, same text), so editing
    a script without regenerating (or the reverse) is caught; bytes may differ between library versions."""
    module = _load(CORPUS / script)
    for item in getattr(module, items):
        fresh = extract_file(Path(getattr(module, build)(item, str(tmp_path))))
        committed = extract_file(CORPUS / Path(script).parent / item["filename"])
        assert committed.meta["title"] == fresh.meta["title"] == item["title"]
        assert [(b.section, b.text) for b in committed.blocks] == [(b.section, b.text) for b in fresh.blocks], item["filename"]

"""Retrieval-quality evaluation: metrics against hand-computed values, set loading, `pioc-search eval`."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pioc_search.cli import app
from pioc_search.embedders import Embedder
from pioc_search.evaluate import (beir_corpus_file, evaluate, evaluate_many, hybrid_wins, language_ratios, load_set,
                                  mrr_at_k, ndcg_at_k, read_qrels, recall_at_k, safe_name, score_run, set_language,
                                  write_corpus)
from pioc_search.ingest.discover import doc_id_for
from pioc_search.ingest.extract import extract_file

# --- metrics ----------------------------------------------------------------------------------


def test_single_relevant_document_at_rank_two() -> None:
    ranked, rels = ["a", "b", "c"], {"b": 1}
    assert ndcg_at_k(ranked, rels, 10) == pytest.approx(1 / math.log2(3))  # 0.6309…
    assert mrr_at_k(ranked, rels, 10) == 0.5
    assert recall_at_k(ranked, rels, 1) == 0.0
    assert recall_at_k(ranked, rels, 2) == 1.0


def test_graded_judgements_use_linear_gain_and_ideal_from_qrels() -> None:
    ranked, rels = ["a", "b", "c", "d"], {"a": 1, "c": 2, "e": 1}  # e is never retrieved
    dcg = 1 / math.log2(2) + 2 / math.log2(4)  # = 2
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)  # grades sorted 2, 1, 1
    assert ndcg_at_k(ranked, rels, 10) == pytest.approx(dcg / idcg)  # 0.6388…
    assert ndcg_at_k(ranked, rels, 10) == pytest.approx(0.638787, abs=1e-6)
    assert recall_at_k(ranked, rels, 10) == pytest.approx(2 / 3)
    assert mrr_at_k(ranked, rels, 10) == 1.0


def test_cutoffs_and_non_positive_grades() -> None:
    ranked = [f"x{i}" for i in range(10)] + ["hit"]
    assert ndcg_at_k(ranked, {"hit": 1}, 10) == 0.0
    assert mrr_at_k(ranked, {"hit": 1}, 10) == 0.0
    assert recall_at_k(ranked, {"hit": 1}, 10) == 0.0
    assert recall_at_k(ranked, {"hit": 1}, 100) == 1.0
    assert ndcg_at_k(["a", "b"], {"a": 0, "b": 1}, 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["a", "b"], {"a": -1, "b": 1}, 10) == pytest.approx(1 / math.log2(3))
    assert mrr_at_k(["a", "b"], {"a": 0, "b": 1}, 10) == 0.5
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0  # nothing relevant: no division by zero


def test_score_run_averages_over_queries_with_relevant_documents() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}  # q3 has no relevant document: not counted
    run = {"q1": ["a", "b"], "q3": ["c"]}  # q2 missing from the run: scores 0
    scores = score_run(run, qrels)
    assert scores == {"ndcg@10": 0.5, "recall@10": 0.5, "recall@100": 0.5, "mrr@10": 0.5}


# --- loading sets -----------------------------------------------------------------------------


def test_read_qrels_skips_header(tmp_path: Path) -> None:
    path = tmp_path / "test.tsv"
    path.write_text("query-id\tcorpus-id\tscore\n1\t10\t1\n1\t11\t2\n2\t12\t0\n\n")
    assert read_qrels(path) == {"1": {"10": 1, "11": 2}, "2": {"12": 0}}


def test_file_names_are_injective_and_titles_survive_yaml(tmp_path: Path) -> None:
    ids = ["4983", "Doc/7 A", "doc-7-a", "doc 7 a", "DOC-7-A"]
    assert len({doc_id_for(f"{safe_name(i)}.txt") for i in ids}) == len(ids)
    title = 'Budget: "what" it costs — #1 --- [draft] {x}'
    mapping = write_corpus([{"_id": i, "title": title, "text": f"Body of {i}."} for i in ids], tmp_path)
    assert sorted(mapping.values()) == sorted(ids)
    extraction = extract_file(tmp_path / f"{safe_name('Doc/7 A')}.txt")
    assert extraction.meta["title"] == title
    assert extraction.meta["beir_id"] == "Doc/7 A"
    assert [b.text for b in extraction.blocks] == ["Body of Doc/7 A."]
    write_corpus([{"_id": "4983", "title": "", "text": "Only one left."}], tmp_path)  # stale files go
    assert [p.name for p in tmp_path.glob("*.txt")] == ["4983.txt"]


def test_questions_file_becomes_document_qrels(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "reports").mkdir(parents=True)
    (corpus / "reports" / "Cali Lighting.pdf").write_bytes(b"%PDF")
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": "Lamps?", "relevant_docs": ["reports/Cali Lighting.pdf"],
                                     "answer_contains": "x"}) + "\n")
    evalset = load_set(questions, tmp_path / "work", corpus, name="sample")
    assert evalset.queries == {"q1": "Lamps?"}
    assert evalset.qrels == {"q1": {"reports-cali-lighting-pdf": 1}}
    assert evalset.corpus_dir == corpus and evalset.work_dir.parent == tmp_path / "work"
    questions.write_text(json.dumps({"id": "q2", "question": "?", "relevant_docs": ["reports/missing.pdf"]}) + "\n")
    with pytest.raises(ValueError, match="missing.pdf"):
        load_set(questions, tmp_path / "work", corpus)


def test_sample_question_set_loads(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    evalset = load_set(root / "tests" / "data" / "questions.jsonl", tmp_path, root / "corpus", name="sample")
    assert len(evalset.queries) >= 40 and set(evalset.qrels) == set(evalset.queries)


# --- end to end -------------------------------------------------------------------------------

DOCS = [
    ("lights", "Street lighting in Cali", "The city installed 2,400 LED street lamps in 40 neighbourhoods. "
     "Night-time street robberies fell by 27 percent in the following year."),
    ("interrupters", "Violence interrupters in Chicago", "Violence interrupters in Chicago are outreach workers "
     "who mediate disputes between groups before they turn into shootings."),
    ("jobs", "Summer jobs", "Paid summer employment with an adult mentor for people aged 16 to 24 was followed "
     "by 43 percent fewer arrests for violent crime among participants."),
    ("hospital", "Hospital-based intervention", "Case workers visit patients with gunshot or stab wounds at the "
     "bedside in the emergency department and follow them for six months after discharge."),
    ("Nairobi/Peace 1", 'Peace committees: "women lead"', "Women's peace committees in informal settlements "
     "resolve disputes over land, water and family conflict without the police."),
    ("observatory", "Homicide observatories", "An observatory brings police, forensic and hospital data "
     "together every week to map homicides by neighbourhood."),
]
QUERIES = [
    ("1", "Violence interrupters in Chicago"),  # one document's title, verbatim, also in its text
    ("2", "Did giving teenagers work cut arrests?"),  # a paraphrase
    ("3", "emergency department programme for people with gunshot wounds"),
    ("9", "a query with no judgements is skipped"),
]
QRELS = [("1", "interrupters", 1), ("2", "jobs", 1), ("3", "hospital", 2), ("3", "observatory", 1)]


@pytest.fixture(scope="module")
def beir_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("beir") / "tiny"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in DOCS))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": q}) + "\n" for i, q in QUERIES))
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS))
    return root


def test_eval_command_prints_all_modes(beir_dir: Path, tmp_path: Path, embedder: Embedder) -> None:
    work, out = tmp_path / "work", tmp_path / "scores.json"
    result = CliRunner().invoke(app, ["eval", str(beir_dir), "--work-dir", str(work), "--json", str(out)],
                                terminal_width=200)
    assert result.exit_code == 0, result.output
    for word in ("nDCG@10", "R@100", "MRR@10", "hybrid", "dense", "lexical", "tiny"):
        assert word in result.output
    rows = json.loads(out.read_text())
    assert [r["mode"] for r in rows] == ["hybrid", "dense", "lexical"]
    for row in rows:
        assert row["set"] == "tiny" and row["queries"] == 3
        assert 0.5 <= row["ndcg@10"] <= 1.0 and row["mrr@10"] >= 2 / 3
        assert row["recall@100"] == 1.0 or row["mode"] == "lexical"  # the model ranks all six documents

    # the same set again, through the library: the index is reused and ids map back to BEIR ids
    again = evaluate(load_set(beir_dir, work), embedder)
    assert again.build.embedded == 0 and not again.build.added
    lexical = next(m for m in again.modes if m.mode == "lexical")
    assert lexical.run["1"][0] == "interrupters"  # the exact title finds its document first
    assert {d for run in lexical.run.values() for d in run} <= {i for i, _, _ in DOCS}
    assert hybrid_wins(again) in (True, False)
    assert [r["mode"] for r in again.rows()] == [m.mode for m in again.modes]


def test_eval_command_rejects_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["eval", str(tmp_path), "--modes", "sparse"]).exit_code == 2
    assert runner.invoke(app, ["eval", str(tmp_path), "--work-dir", str(tmp_path / "w")]).exit_code == 2  # no qrels


# --- translated query sets sharing one corpus (corpus.ref) ------------------------------------

TRANSLATED = [  # the QUERIES above in Portuguese, with the same ids
    ("1", "Interruptores de violência em Chicago"),
    ("2", "Dar trabalho aos adolescentes reduziu as prisões?"),
    ("3", "programa no pronto-socorro para pessoas feridas a bala"),
]


def write_translation(root: Path, name: str, queries: list[tuple[str, str]], beir: Path) -> Path:
    """A BEIR folder with queries and qrels but no corpus.jsonl: corpus.ref names `beir`'s folder."""
    folder = root / name
    (folder / "qrels").mkdir(parents=True)
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": q}, ensure_ascii=False) + "\n"
                                                  for i, q in queries), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text((beir / "qrels" / "test.tsv").read_text())
    (folder / "corpus.ref").write_text(f"{Path(os.path.relpath(beir, folder)).as_posix()}\n")
    return folder


def test_corpus_ref_shares_one_index_across_languages(beir_dir: Path, tmp_path: Path, embedder: Embedder) -> None:
    sets_root = tmp_path / "sets"
    english = write_translation(sets_root, "tiny-en", QUERIES[:3], beir_dir)
    portuguese = write_translation(sets_root, "tiny-pt", TRANSLATED, beir_dir)
    work = tmp_path / "work"
    loaded = [load_set(english, work), load_set(portuguese, work)]
    assert [s.language for s in loaded] == ["en", "pt"]
    assert loaded[0].work_dir == loaded[1].work_dir  # same corpus content → same cache folder
    assert loaded[1].queries["2"].startswith("Dar trabalho") and loaded[1].qrels == loaded[0].qrels

    calls = embedder.calls
    results = evaluate_many(loaded, embedder)
    assert results[0].build is results[1].build  # built once for both sets
    passages = results[0].build.passages
    assert embedder.calls - calls <= passages + 3 * (1 + 3 + 3) + 2  # passages once, then questions only
    assert [r.language for r in results] == ["en", "pt"] and results[1].model == embedder.model_id
    ratios = language_ratios(results)
    assert ratios[("tiny-en", "hybrid")] == pytest.approx(1.0)
    pt_dense = results[1].ndcg("dense")
    assert ratios[("tiny-pt", "dense")] == pytest.approx(pt_dense / results[0].ndcg("dense"))
    assert results[0].ndcg("hybrid") >= 0.5  # English questions find their documents

    again = evaluate_many([load_set(portuguese, work)], embedder)  # a re-run rebuilds nothing
    assert again[0].build.embedded == 0 and not again[0].build.added
    assert again[0].build.version == results[0].build.version


def test_eval_command_scores_several_languages(beir_dir: Path, tmp_path: Path) -> None:
    sets_root = tmp_path / "sets"
    shutil.copytree(beir_dir, sets_root / "tiny")
    english = write_translation(sets_root, "tiny-en", QUERIES[:3], sets_root / "tiny")
    portuguese = write_translation(sets_root, "tiny-pt", TRANSLATED, sets_root / "tiny")
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(app, ["eval", str(english), str(portuguese), "--work-dir", str(tmp_path / "w"),
                                      "--modes", "hybrid,dense", "--json", str(out)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "nDCG@10 per language and mode" in result.output and "(×1.00)" in result.output
    rows = json.loads(out.read_text())
    assert [(r["set"], r["language"], r["mode"]) for r in rows] == [
        ("tiny-en", "en", "hybrid"), ("tiny-en", "en", "dense"), ("tiny-pt", "pt", "hybrid"), ("tiny-pt", "pt", "dense")]
    assert len(list((tmp_path / "w").glob("corpus-*/index-*"))) == 1


def test_corpus_ref_errors_are_clear(tmp_path: Path) -> None:
    folder = tmp_path / "set-fr"
    (folder / "qrels").mkdir(parents=True)
    (folder / "queries.jsonl").write_text('{"_id": "1", "text": "q"}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td\t1\n")
    with pytest.raises(ValueError, match="no corpus.jsonl and no corpus.ref"):
        load_set(folder, tmp_path / "w")
    (folder / "corpus.ref").write_text("../nowhere\n")
    with pytest.raises(ValueError, match="nowhere, which has no corpus.jsonl"):
        load_set(folder, tmp_path / "w")
    result = CliRunner().invoke(app, ["eval", str(folder), "--work-dir", str(tmp_path / "w")])
    assert result.exit_code == 2 and "no corpus.jsonl" in result.output


def test_shared_scifact_reference_resolves(tmp_path: Path) -> None:
    """The layout the translated SciFact sets use: evaldata/scifact-xx/corpus.ref → ../../../shared/evaldata/scifact."""
    root = Path(__file__).resolve().parents[1]
    folder = root / "evaldata" / "scifact-xx"  # not created: only the reference is resolved
    relative = Path("..", "..", "..", "shared", "evaldata", "scifact")
    shared = (folder / relative).resolve()
    if not (shared / "corpus.jsonl").is_file():
        pytest.skip("no shared SciFact corpus next to the repository")
    target = tmp_path / "repo" / "evaldata" / "scifact-xx"
    target.mkdir(parents=True)
    (target / "corpus.ref").write_text(str(Path(os.path.relpath(shared, target))) + "\n")
    assert beir_corpus_file(target) == shared / "corpus.jsonl"


@pytest.mark.parametrize("name, language", [("scifact-pt", "pt"), ("scifact_ar", "ar"), ("scifact", "en"),
                                            ("sample", "en"), ("scifact-en", "en")])
def test_set_language_comes_from_the_name(name: str, language: str) -> None:
    assert set_language(name) == language

"""End to end over a real uvicorn serving the sample corpus."""

from __future__ import annotations

import pytest

from conftest import LiveServer, load_questions
from pioc_search.ingest.discover import doc_id_for

QUESTIONS = load_questions()
SAME_LANGUAGE = [q for q in QUESTIONS if not q.get("cross_lingual")][:12]  # any model answers these
CROSS_LINGUAL = [q for q in QUESTIONS if q.get("cross_lingual")]  # need a multilingual model


def test_health_stats_and_docs(store_server: LiveServer) -> None:
    health = store_server.get("/health").json()
    assert health["status"] == "ok" and health["index_version"]
    stats = store_server.get("/stats").json()
    assert stats["documents"] >= 12 and stats["passages"] > 50 and stats["lexical_engine"] in ("tantivy", "postgresql")
    assert set(stats["doc_types"]) == {"report", "blog", "statement", "webinar"}
    assert store_server.get("/docs").status_code == 200
    spec = store_server.get("/openapi.json").json()
    assert "/search" in spec["paths"] and "SearchResponse" in spec["components"]["schemas"]


@pytest.mark.parametrize("item", SAME_LANGUAGE, ids=[q["id"] for q in SAME_LANGUAGE])
def test_expected_document_in_top_3(live_server: LiveServer, item: dict) -> None:
    """Ranking quality of the local store (the PostgreSQL store's lexical ranking is tuned separately)."""
    hits = live_server.get("/search", q=item["question"], k=3).json()["hits"]
    found = [h["document"]["id"] for h in hits]
    expected = {doc_id_for(doc) for doc in item["relevant_docs"]}
    assert expected & set(found), f"{item['question']!r}: got {found}"


def test_cross_lingual_questions_find_their_documents(store_server: LiveServer) -> None:
    """A question in one language finds the document written in another (es, pt, fr, ar, en both ways)."""
    model = store_server.get("/stats").json()["model_id"] or ""
    if "multilingual" not in model.lower():
        pytest.skip(f"cross-lingual questions need a multilingual model (PIOC_MODEL); the index uses {model}")
    missed = []
    for item in CROSS_LINGUAL:
        found = {h["document"]["id"] for h in store_server.get("/search", q=item["question"], k=3).json()["hits"]}
        if not found & {doc_id_for(doc) for doc in item["relevant_docs"]}:
            missed.append(f"{item['id']} ({item['language']}): {item['question']}")
    # Measured (top 3, 54 questions, float E5): 11 missed before questions naming a city ranked that
    # city's documents higher, 2 after (both name no city); benchmarks/bench_quality.py tracks the ranking.
    assert len(missed) <= 0.1 * len(CROSS_LINGUAL), "\n".join(missed)


CASABLANCA_LIGHTS = "How many new street lights were installed around Casablanca's tram stations after women's night walks?"


def test_a_question_naming_a_city_ranks_that_citys_documents_first(store_server: LiveServer) -> None:
    """The answer is in an Arabic statement about Casablanca and Amman; Cali's street-lighting reports
    match the question's subject better (the statement is 8th by meaning alone). The API names the city; the page says so, in the reader's
    language, with a link that keeps only that city."""
    statement = "statements-bayan-amman-casablanca-salamat-al-nisa-2023-docx"
    body = store_server.get("/search", q=CASABLANCA_LIGHTS, k=3).json()
    assert body["cities_named"] == ["Casablanca"]
    assert statement in [h["document"]["id"] for h in body["hits"]]
    dense = store_server.get("/search", q=CASABLANCA_LIGHTS, k=3, mode="dense").json()  # the pure modes stay pure
    assert dense["cities_named"] == [] and statement not in [h["document"]["id"] for h in dense["hits"]]
    page = store_server.get("/", q=CASABLANCA_LIGHTS, lang="es").text
    assert "Los pasajes sobre Casablanca aparecen primero." in page
    assert "city=Casablanca" in page.split("Los pasajes sobre Casablanca")[1].split("</p>")[0]


def test_hits_carry_citations(store_server: LiveServer) -> None:
    body = store_server.get("/search", q="street lighting and robbery", k=5).json()
    assert body["hits"] and body["index_version"]
    for hit in body["hits"]:
        doc = hit["document"]
        assert hit["text"] and doc["title"] and doc["doc_type"] and hit["source_link"].startswith(f"/documents/{doc['id']}/file")
    pdf_hits = [h for h in body["hits"] if h["page"] is not None]
    assert pdf_hits, "a PDF report answers a lighting question"
    assert pdf_hits[0]["source_link"].endswith(f"#page={pdf_hits[0]['page']}")


def test_source_file_is_served_with_its_content_type(store_server: LiveServer) -> None:
    hit = next(h for h in store_server.get("/search", q="street lighting", k=10).json()["hits"] if h["page"])
    response = store_server.get(hit["source_link"].split("#")[0])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    doc = store_server.get(f"/documents/{hit['document']['id']}").json()
    assert doc["pages"] >= 3 and doc["passages"] >= 3 and doc["file_url"].endswith("/file")


@pytest.mark.parametrize("params, status", [
    ({"q": ""}, 400), ({"q": "   "}, 400), ({"q": "x" * 501}, 422), ({"q": "lighting", "k": 0}, 422),
    ({"q": "lighting", "k": 101}, 422), ({"q": "lighting", "k": "many"}, 422), ({}, 422),
    ({"q": "lighting", "mode": "magic"}, 422),
])
def test_bad_requests_get_a_json_4xx(store_server: LiveServer, params: dict, status: int) -> None:
    response = store_server.get("/search", **params)
    assert response.status_code == status
    assert response.json()["detail"]


def test_unknown_document_is_a_404(store_server: LiveServer) -> None:
    for path in ("/documents/nope", "/documents/nope/file"):
        response = store_server.get(path)
        assert response.status_code == 404 and "nope" in response.json()["detail"]

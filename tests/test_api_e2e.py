"""End to end over a real uvicorn serving the sample corpus."""

from __future__ import annotations

import pytest

from conftest import LiveServer, load_questions
from pioc_search.ingest.discover import doc_id_for

QUESTIONS = load_questions()


def test_health_stats_and_docs(live_server: LiveServer) -> None:
    health = live_server.get("/health").json()
    assert health["status"] == "ok" and health["index_version"]
    stats = live_server.get("/stats").json()
    assert stats["documents"] >= 12 and stats["passages"] > 50
    assert set(stats["doc_types"]) == {"report", "blog", "statement", "webinar"}
    assert live_server.get("/docs").status_code == 200
    spec = live_server.get("/openapi.json").json()
    assert "/search" in spec["paths"] and "SearchResponse" in spec["components"]["schemas"]


@pytest.mark.parametrize("item", QUESTIONS[:12], ids=[q["id"] for q in QUESTIONS[:12]])
def test_expected_document_in_top_3(live_server: LiveServer, item: dict) -> None:
    hits = live_server.get("/search", q=item["question"], k=3).json()["hits"]
    found = [h["document"]["id"] for h in hits]
    expected = {doc_id_for(doc) for doc in item["relevant_docs"]}
    assert expected & set(found), f"{item['question']!r}: got {found}"


def test_hits_carry_citations(live_server: LiveServer) -> None:
    body = live_server.get("/search", q="street lighting and robbery", k=5).json()
    assert body["hits"] and body["index_version"]
    for hit in body["hits"]:
        doc = hit["document"]
        assert hit["text"] and doc["title"] and doc["doc_type"] and hit["source_link"].startswith(f"/documents/{doc['id']}/file")
    pdf_hits = [h for h in body["hits"] if h["page"] is not None]
    assert pdf_hits, "a PDF report answers a lighting question"
    assert pdf_hits[0]["source_link"].endswith(f"#page={pdf_hits[0]['page']}")


def test_source_file_is_served_with_its_content_type(live_server: LiveServer) -> None:
    hit = next(h for h in live_server.get("/search", q="street lighting", k=10).json()["hits"] if h["page"])
    response = live_server.get(hit["source_link"].split("#")[0])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    doc = live_server.get(f"/documents/{hit['document']['id']}").json()
    assert doc["pages"] >= 3 and doc["passages"] >= 3 and doc["file_url"].endswith("/file")


@pytest.mark.parametrize("params, status", [
    ({"q": ""}, 400), ({"q": "   "}, 400), ({"q": "x" * 501}, 422), ({"q": "lighting", "k": 0}, 422),
    ({"q": "lighting", "k": 101}, 422), ({"q": "lighting", "k": "many"}, 422), ({}, 422),
    ({"q": "lighting", "mode": "magic"}, 422),
])
def test_bad_requests_get_a_json_4xx(live_server: LiveServer, params: dict, status: int) -> None:
    response = live_server.get("/search", **params)
    assert response.status_code == status
    assert response.json()["detail"]


def test_unknown_document_is_a_404(live_server: LiveServer) -> None:
    for path in ("/documents/nope", "/documents/nope/file"):
        response = live_server.get(path)
        assert response.status_code == 404 and "nope" in response.json()["detail"]

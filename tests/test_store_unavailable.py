"""A store that cannot be reached answers 503 at once (JSON for the API, a friendly page for people),
never a 500 or a hang, and the service recovers by itself when the database is back."""

from __future__ import annotations

import dataclasses
import time

import pytest
from fastapi.testclient import TestClient

from conftest import BuiltStore, free_port
from pioc_search.embedders import Embedder
from pioc_search.server import create_app
from tests.pg_fixtures import PgServer

TIMEOUT = 2.0  # PIOC_DATABASE_TIMEOUT of the app under test


def timed(client: TestClient, path: str, **params: object) -> tuple[float, object]:
    started = time.monotonic()
    response = client.get(path, params=params)
    return time.monotonic() - started, response


def test_an_unreachable_database_at_start_is_a_503_not_a_crash(embedder: Embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pioc_search.settings import Settings

    url = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"  # nothing listens there
    settings = Settings(index_dir=tmp_path, database_url=url, database_timeout=TIMEOUT)
    with TestClient(create_app(settings, embedder)) as client:
        for path in ("/search", "/health", "/stats"):
            took, response = timed(client, path, q="street lighting")
            assert response.status_code == 503, (path, response.text)
            assert "temporarily unavailable" in response.json()["detail"] and took < 4 * TIMEOUT
            assert response.headers["retry-after"]
        page = client.get("/", params={"q": "street lighting"})
        assert page.status_code == 503 and "temporarily unavailable" in page.text and "Traceback" not in page.text
        assert client.get("/about").status_code == 503


@pytest.mark.parametrize("built_store", ["postgres"], indirect=True)
def test_database_down_then_back(built_store: BuiltStore, pg_server: PgServer, embedder: Embedder) -> None:
    settings = dataclasses.replace(built_store.settings, database_timeout=TIMEOUT)
    with TestClient(create_app(settings, embedder)) as client:
        before = client.get("/search", params={"q": "street lighting in Cali"})
        assert before.status_code == 200 and before.json()["hits"]
        pg_server.stop()
        try:
            for path, params in (("/search", {"q": "street lighting in Cali"}), ("/health", {}),
                                 (f"/documents/{before.json()['hits'][0]['document']['id']}", {})):
                took, response = timed(client, path, **params)
                assert response.status_code == 503, (path, response.text)
                assert "unavailable" in response.json()["detail"] and took < 4 * TIMEOUT, (path, took)
            took, page = timed(client, "/", q="street lighting in Cali", lang="es")
            assert page.status_code == 503 and took < 4 * TIMEOUT
            assert "La biblioteca no está disponible por el momento" in page.text
        finally:
            pg_server.start()
        deadline = time.monotonic() + 30
        while (after := client.get("/search", params={"q": "street lighting in Cali"})).status_code != 200:
            assert after.status_code == 503 and time.monotonic() < deadline, after.text
            time.sleep(0.5)
        assert after.json()["hits"] == before.json()["hits"], "recovered without a restart, same answers"

"""A store that cannot be reached answers 503 at once (JSON for the API, a friendly page for people),
never a 500 or a hang, and the service recovers by itself when the database is back."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import CORPUS, BuiltStore, free_port, start_server, stop_server, store_env
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


@pytest.mark.parametrize("built_store", ["postgres"], indirect=True)
def test_searches_over_http_while_the_database_restarts(built_store: BuiltStore, pg_server: PgServer) -> None:
    """Searches and search pages keep arriving at a real uvicorn while PostgreSQL stops and starts
    again: each one answers 200 (the same hits as before) or a clear 503 within the timeout, never a
    500, a dropped connection or a hang, and 200s come back by themselves after the restart."""
    server = start_server(built_store.settings.index_dir, CORPUS, **store_env(built_store.settings),
                          PIOC_DATABASE_TIMEOUT=str(TIMEOUT))
    try:
        questions = ("street lighting in Cali", "violence interrupters", "domestic violence during lockdown")
        expected = {q: server.get("/search", q=q).json()["hits"] for q in questions}
        assert all(expected.values())
        outcomes: list[tuple[float, float, str, object]] = []  # (started, seconds, what was asked, answer)
        stop = threading.Event()

        def load(path: str, worker: int) -> None:
            for turn in itertools.count():
                if stop.is_set():
                    return
                question = questions[(worker + turn) % len(questions)]
                started = time.monotonic()
                try:
                    answer: object = httpx.get(server.url + path, params={"q": question}, timeout=30)
                except httpx.HTTPError as exc:  # a dropped connection or a hang: reported below
                    answer = exc
                outcomes.append((started, time.monotonic() - started, f"{path}?q={question}", answer))

        def answered(status: int, after: float = 0.0) -> bool:
            return any(isinstance(a, httpx.Response) and a.status_code == status and t > after
                       for t, _, _, a in outcomes)

        workers = [threading.Thread(target=load, args=(path, i)) for i, path in enumerate(("/search",) * 3 + ("/",))]
        for worker in workers:
            worker.start()
        try:
            wait_until(lambda: answered(200))
            pg_server.stop()
            stopped = time.monotonic()
            try:
                wait_until(lambda: answered(503, stopped))
                time.sleep(3)  # the database stays away for a while, requests arriving all along
            finally:
                pg_server.start()
            restarted = time.monotonic()
            wait_until(lambda: answered(200, restarted + 1), timeout=30)
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=60)
        assert not any(worker.is_alive() for worker in workers), "a request hung"
        for started, seconds, asked, answer in outcomes:
            assert isinstance(answer, httpx.Response), (asked, repr(answer))
            assert answer.status_code in (200, 503), (asked, answer.status_code, answer.text[:300])
            assert seconds < 4 * TIMEOUT, (asked, seconds)
            if answer.status_code == 503:
                assert answer.headers["retry-after"] and "Traceback" not in answer.text
                assert "temporarily unavailable" in (answer.json()["detail"] if asked.startswith("/search")
                                                     else answer.text)
            elif asked.startswith("/search"):
                assert answer.json()["hits"] == expected[asked.split("=", 1)[1]], asked
        assert {a.status_code for _, _, _, a in outcomes} == {200, 503}  # type: ignore[union-attr]
    finally:
        stop_server(server)


def wait_until(condition, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)

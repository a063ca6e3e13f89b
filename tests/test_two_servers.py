"""Two `pioc-search serve` processes on one PostgreSQL database: an ingest run elsewhere is served by
both within moments of its publish, without a restart and without a single failed search."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from conftest import ROOT, StoreMaker, start_server, stop_server, store_env
from pioc_search.embedders import Embedder
from pioc_search.ingest.pipeline import build_index
from test_hot_reload import CLI, NOTE, Hammer, cli_env

SWITCH_SECONDS = 5  # generous on a loaded 2-core machine; each request asks the store for the live version


def test_two_servers_on_one_database_serve_a_new_version_without_restart(
        tmp_path: Path, embedder: Embedder, store_maker: StoreMaker) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for city in ("Cali", "Glasgow", "Oakland"):
        (corpus / f"{city.lower()}.md").write_text(NOTE.format(city=city, extra=""))
    settings, store = store_maker.new("postgres")
    first = build_index(corpus, store, embedder).version
    assert first is not None
    servers = []
    try:
        for _ in range(2):  # as on two hosts: nothing shared but the database (each its own index folder)
            servers.append(start_server(tmp_path / f"logs-{len(servers)}", corpus, cli=True, **store_env(settings)))
        assert servers[0].url != servers[1].url
        hammers = [Hammer(server.url, threads=2) for server in servers]
        with hammers[0], hammers[1]:
            (corpus / "quetzaltenango.md").write_text(NOTE.format(
                city="Quetzaltenango", extra="Volunteers repainted every zebra crossing near the market."))
            ingest = subprocess.run([str(CLI), "ingest", str(corpus), "--index-dir", str(tmp_path / "ingest")],
                                    capture_output=True, text=True, timeout=600, cwd=ROOT, env=cli_env(settings))
            assert ingest.returncode == 0, ingest.stdout + ingest.stderr
            published = time.monotonic()
            second = store.live_name()
            assert second not in (None, first)
            waited = []
            for server in servers:  # the very next searches answer from the new version
                while (answer := server.get("/search", q="zebra crossing repainted by volunteers", k=3)).json()[
                        "index_version"] != second:
                    assert time.monotonic() - published < SWITCH_SECONDS, f"{server.url} still on {first}"
                    time.sleep(0.05)
                waited.append(time.monotonic() - published)
                assert answer.json()["hits"][0]["document"]["id"] == "quetzaltenango-md"
            for hammer in hammers:
                hammer.more(6)
            print(f"both servers on the new version {[round(w, 2) for w in waited]} s after the ingest returned")
    finally:
        for server in servers:
            stop_server(server)

    for hammer, server in zip(hammers, servers):
        outcomes = [o for slot in hammer.outcomes for o in slot]
        assert [o for o in outcomes if o[0] != 200] == [], (server.url, outcomes[:5])
        assert {v for _, v in outcomes} == {first, second}, "each server answered from both versions in turn"
        for slot in hammer.outcomes:  # never back from the new version to the old
            seen = [v for _, v in slot]
            assert seen == sorted(seen, key=lambda v: v == second), seen[:3]

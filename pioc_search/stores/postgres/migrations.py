"""Versioned schema migrations: migrations/NNNN_name.sql applied in order, each once.

Applied at connect time under a transaction-level advisory lock, so processes starting together
wait for each other instead of racing; each file runs in the same transaction as its record in
`schema_migrations`, so a failed migration leaves no trace and is retried next start.
"""

from __future__ import annotations

import re
from importlib import resources

import psycopg

MIGRATION_LOCK = 0x70696F63_0001  # "pioc" + 1: advisory-lock key of schema changes
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every bundled migration, in order."""
    folder = resources.files(__package__) / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {[n for _, n, _ in found]}")
    return found


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply the migrations this database lacks; returns the file names applied."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                     " version integer PRIMARY KEY, name text NOT NULL,"
                     " applied_at timestamptz NOT NULL DEFAULT now())")
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in available():
            if version in done:
                continue
            conn.execute(sql)  # type: ignore[arg-type]  # trusted file shipped with the package
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
            applied.append(name)
    return applied

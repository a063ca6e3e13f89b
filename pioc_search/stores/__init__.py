"""Index storage backends behind one interface (stores.base); `open_store` picks one from settings.

Callers use `open_store(settings)` and the names in `stores.base`, never a backend module.
"""

from __future__ import annotations

import os
from typing import Any

from pioc_search.stores.base import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def database_url(settings: Any) -> str | None:
    """PIOC_DATABASE_URL (or `settings.database_url`, once Settings has it); None means local files."""
    return getattr(settings, "database_url", None) or os.environ.get("PIOC_DATABASE_URL") or None


def open_store(settings: Any) -> Store:
    """The store named by the configuration: PostgreSQL for a postgresql:// URL, else local files."""
    url = database_url(settings)
    if url and url.startswith(POSTGRES_SCHEMES):
        from pioc_search.stores.postgres import PostgresStore  # psycopg is only needed for this backend

        timeout = float(getattr(settings, "database_timeout", None) or os.environ.get("PIOC_DATABASE_TIMEOUT", 5))
        pool = int(getattr(settings, "database_pool_size", None) or os.environ.get("PIOC_DATABASE_POOL_SIZE", 8))
        statement = float(getattr(settings, "database_statement_timeout", None)
                          or os.environ.get("PIOC_DATABASE_STATEMENT_TIMEOUT", 30))
        return PostgresStore(url, connect_timeout=timeout, pool_size=pool, statement_timeout=statement)
    if url:
        raise ValueError(f"PIOC_DATABASE_URL must start with postgresql:// (got {url.split(':', 1)[0]}:...)")
    # TODO(lead): move pioc_search/store.py into stores/local/ behind the same interface and return it here.
    raise NotImplementedError("the local FAISS + SQLite store is not behind stores.base yet")

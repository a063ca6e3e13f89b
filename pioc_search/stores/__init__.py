"""Index storage backends behind one interface (stores.base); `open_store` picks one from settings.

Callers use `open_store(settings)` and the names in `stores.base`, never a backend module.
"""

from __future__ import annotations

from pioc_search.settings import Settings
from pioc_search.stores.base import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(settings: Settings) -> Store:
    """PostgreSQL for a postgresql:// PIOC_DATABASE_URL, else local files under PIOC_INDEX_DIR.

    The one place the backend is chosen. Raises StoreUnavailable when the database cannot be reached.
    """
    url = settings.database_url
    if url and url.startswith(POSTGRES_SCHEMES):
        from pioc_search.stores.postgres import PostgresStore  # psycopg is only needed for this backend

        return PostgresStore(url, connect_timeout=settings.database_timeout, pool_size=settings.database_pool_size,
                             statement_timeout=settings.database_statement_timeout,
                             build_memory=settings.database_build_memory)
    if url:
        raise ValueError(f"PIOC_DATABASE_URL must start with postgresql:// (got {url.split(':', 1)[0]}:...)")
    from pioc_search.stores.local import LocalStore

    return LocalStore(settings.index_dir, lexical_engine=settings.lexical_engine)

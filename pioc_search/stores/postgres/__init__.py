"""PostgreSQL backend: pgvector HNSW for dense search, tsvector/GIN for lexical, versions in tables."""

from pioc_search.stores.postgres.store import PostgresStore, PostgresVersion, PostgresWriter

__all__ = ["PostgresStore", "PostgresVersion", "PostgresWriter"]

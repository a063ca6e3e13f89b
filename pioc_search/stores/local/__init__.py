"""Local backend: FAISS vectors + SQLite rows + a lexical index per version folder, CURRENT names the live one."""

from pioc_search.stores.local.store import LocalStore, LocalVersion, LocalWriter

__all__ = ["LocalStore", "LocalVersion", "LocalWriter"]

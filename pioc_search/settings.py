"""All configuration in one object, read from PIOC_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pioc_search.lexical import DEFAULT as DEFAULT_LEXICAL


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("indexes")
    model: str = "multilingual-e5-small"  # or all-MiniLM-L6-v2 (PIOC_MODEL); see pioc_search/embedders
    model_path: str | None = None  # all-MiniLM-L6-v2 weights folder; None: the bundled package
    admin_token: str | None = None
    keep_versions: int = 3
    batch_size: int = 1  # texts per model run at ingest: one at a time costs the least CPU here (docs/models.md)
    model_threads: int | None = None  # cores the model uses per process (PIOC_MODEL_THREADS): ONNX Runtime threads
    # per question, passages encoded at once at ingest; None: min(2, cores)
    precision: str | None = None  # of passages (PIOC_PRECISION): fp32, bf16 or int8; None: bf16 where the CPU
    # computes it natively, else fp32 (pioc_search/embedders/bf16.py)
    max_upload_bytes: int = 50 * 1024 * 1024
    ocr: bool = True  # OCR pages without usable text when tesseract is installed (PIOC_OCR=0 to skip)
    file_timeout: float = 120.0  # seconds one file may take to extract (PIOC_FILE_TIMEOUT)
    file_memory_mb: int = 2048  # memory one file's extraction may use (PIOC_FILE_MEMORY_MB)
    lexical_engine: str = DEFAULT_LEXICAL  # tantivy or fts5 (PIOC_LEXICAL); see pioc_search/lexical
    database_url: str | None = None  # postgresql://…: the PostgreSQL store; None: local files in index_dir
    database_timeout: float = 5.0  # seconds to connect or wait for a pooled connection (PIOC_DATABASE_TIMEOUT)
    database_pool_size: int = 8  # connections per process (PIOC_DATABASE_POOL_SIZE)
    database_statement_timeout: float = 30.0  # seconds a search query may run (PIOC_DATABASE_STATEMENT_TIMEOUT)
    database_build_memory: str = "1GB"  # maintenance_work_mem of a build's index step (PIOC_DATABASE_BUILD_MEMORY)
    corpus_dir_set: bool = False  # corpus_dir was chosen (PIOC_CORPUS_DIR or an override), not the default

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from the environment; explicit keyword overrides win."""
        env = os.environ
        values: dict[str, object] = {}
        if "PIOC_CORPUS_DIR" in env:
            values["corpus_dir"] = Path(env["PIOC_CORPUS_DIR"])
        if "PIOC_INDEX_DIR" in env:
            values["index_dir"] = Path(env["PIOC_INDEX_DIR"])
        if env.get("PIOC_MODEL"):
            values["model"] = env["PIOC_MODEL"].strip()
        if env.get("PIOC_PRECISION"):
            values["precision"] = env["PIOC_PRECISION"].strip().lower()
        if env.get("PIOC_LEXICAL"):
            values["lexical_engine"] = env["PIOC_LEXICAL"].strip().lower()
        if "PIOC_MODEL_PATH" in env:
            values["model_path"] = env["PIOC_MODEL_PATH"]
        if env.get("PIOC_DATABASE_URL", "").strip():
            values["database_url"] = env["PIOC_DATABASE_URL"].strip()
        if env.get("PIOC_DATABASE_TIMEOUT"):
            values["database_timeout"] = float(env["PIOC_DATABASE_TIMEOUT"])
        if env.get("PIOC_DATABASE_STATEMENT_TIMEOUT"):
            values["database_statement_timeout"] = float(env["PIOC_DATABASE_STATEMENT_TIMEOUT"])
        if env.get("PIOC_DATABASE_BUILD_MEMORY"):
            values["database_build_memory"] = env["PIOC_DATABASE_BUILD_MEMORY"].strip()
        if env.get("PIOC_ADMIN_TOKEN"):
            values["admin_token"] = env["PIOC_ADMIN_TOKEN"]
        for name in ("keep_versions", "batch_size", "max_upload_bytes", "file_memory_mb", "database_pool_size",
                     "model_threads"):
            key = f"PIOC_{name.upper()}"
            if key in env:
                values[name] = int(env[key])
        if "PIOC_OCR" in env:
            values["ocr"] = env["PIOC_OCR"].strip().lower() not in ("0", "false", "no", "off", "")
        if "PIOC_FILE_TIMEOUT" in env:
            values["file_timeout"] = float(env["PIOC_FILE_TIMEOUT"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        values.setdefault("corpus_dir_set", "corpus_dir" in values)
        return cls(**values)  # type: ignore[arg-type]

"""Find corpus files, read their catalogue/sidecar metadata and fingerprint their content."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CATALOGUE_NAMES = ("catalogue.yaml", "catalogue.yml", "catalogue.json")
SIDECAR_SUFFIXES = (".meta.yaml", ".meta.yml", ".meta.json")
IGNORE_FILE = ".piocignore"


class MetadataError(Exception):
    """A catalogue or sidecar file that cannot be read."""


@dataclass
class SourceFile:
    path: Path
    rel: str
    sha256: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def doc_id(self) -> str:
        return doc_id_for(self.rel)

    @property
    def fingerprint(self) -> str:
        """Changes when the file's bytes or its external metadata change."""
        meta = json.dumps(self.meta, sort_keys=True, default=str)
        return hashlib.sha256(f"{self.sha256}\x00{meta}".encode()).hexdigest()


def doc_id_for(rel: str) -> str:
    """Stable, readable document id from the path relative to the corpus root."""
    return re.sub(r"[^a-z0-9]+", "-", rel.lower()).strip("-")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def discover(corpus_dir: Path) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """All indexable files under `corpus_dir`, plus (path, reason) for unreadable metadata files."""
    problems: list[tuple[str, str]] = []
    catalogue = _read_catalogue(corpus_dir, problems)
    ignored = _ignore_patterns(corpus_dir)
    files: list[SourceFile] = []
    for path in sorted(p for p in corpus_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(corpus_dir).as_posix()
        if _is_ignored(rel, ignored):
            continue
        meta = dict(catalogue.get(rel, {}))
        meta.update(_read_sidecar(path, rel, problems))
        files.append(SourceFile(path=path, rel=rel, sha256=file_sha256(path), meta=meta))
    return files, problems


def _is_ignored(rel: str, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    if any(part.startswith(".") for part in rel.split("/")):
        return True
    if rel in CATALOGUE_NAMES or name.endswith(SIDECAR_SUFFIXES):
        return True
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def _ignore_patterns(corpus_dir: Path) -> list[str]:
    ignore_file = corpus_dir / IGNORE_FILE
    if not ignore_file.is_file():
        return []
    lines = ignore_file.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _load_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MetadataError(f"invalid metadata file: {exc}") from exc
    if not isinstance(data, dict):
        raise MetadataError("metadata file must hold a mapping")
    return data


def _read_catalogue(corpus_dir: Path, problems: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    for name in CATALOGUE_NAMES:
        path = corpus_dir / name
        if path.is_file():
            try:
                data = _load_mapping(path)
            except MetadataError as exc:
                problems.append((name, str(exc)))
                return {}
            return {str(k): v for k, v in data.items() if isinstance(v, dict)}
    return {}


def _read_sidecar(path: Path, rel: str, problems: list[tuple[str, str]]) -> dict[str, Any]:
    for suffix in SIDECAR_SUFFIXES:
        sidecar = path.with_name(path.name + suffix)
        if sidecar.is_file():
            try:
                return _load_mapping(sidecar)
            except MetadataError as exc:
                problems.append((f"{rel}{suffix}", str(exc)))
    return {}

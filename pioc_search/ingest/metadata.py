"""Resolve a document's metadata: catalogue/sidecar first, then the file's own, then inference."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import PurePosixPath
from typing import Any

from pioc_search.models import DOC_TYPES, Block, Document
from pioc_search.sentences import fold

MEMBER_CITIES = (
    "Bogotá", "Cali", "Cape Town", "Chicago", "Ciudad Juárez", "Glasgow", "Kingston", "Medellín",
    "Mexico City", "Nairobi", "Oakland", "Recife", "São Paulo", "Toronto", "Johannesburg",
    "Lagos", "Rio de Janeiro", "Baltimore", "Tijuana", "Guatemala City", "San Salvador",
    "Monterrey", "Durban", "Port of Spain", "London", "Marseille", "Montréal", "Casablanca", "Amman",
)

THEME_KEYWORDS = {
    "violence-interruption": ("violence interruption", "interrupter", "outreach worker", "cure violence", "mediation"),
    "youth": ("youth", "young people", "adolescent", "teenager", "school"),
    "urban-design": ("lighting", "urban design", "public space", "streetlight", "street light", "cptd", "cpted"),
    "community-policing": ("community policing", "police", "policing", "officers"),
    "gender-based-violence": ("gender-based violence", "domestic violence", "femicide", "intimate partner"),
    "covid-19": ("covid", "pandemic", "lockdown"),
    "womens-leadership": ("women leaders", "women's leadership", "women mayors", "female leadership"),
    "data-and-observatories": ("observatory", "observatories", "data", "dashboard", "surveillance system"),
}

FOLDER_TYPES = {"report": "report", "blog": "blog", "statement": "statement", "webinar": "webinar"}
EXTENSION_TYPES = {".pdf": "report", ".html": "blog", ".htm": "blog", ".docx": "statement"}


def resolve_document(
    doc_id: str, rel: str, sha256: str, media_type: str, external: dict[str, Any],
    embedded: dict[str, Any], blocks: list[Block],
) -> Document:
    """Merge metadata sources; external (catalogue, sidecar) beats embedded beats inferred."""
    meta = {**{k: v for k, v in embedded.items() if v}, **{k: v for k, v in external.items() if v}}
    text = " ".join(b.text for b in blocks[:400])
    return Document(
        id=doc_id,
        path=rel,
        sha256=sha256,
        title=str(meta.get("title") or _title_from_path(rel)).strip(),
        doc_type=_doc_type(meta.get("doc_type"), rel),
        cities=_as_list(meta.get("cities")) or find_cities(text),
        themes=_as_list(meta.get("themes")) or find_themes(text),
        date=normalise_date(meta.get("date")),
        language=str(meta.get("language") or detect_language(text)),
        source_url=str(meta["source_url"]) if meta.get("source_url") else None,
        media_type=media_type,
        pages=int(meta["pages"]) if meta.get("pages") else None,
    )


def _as_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _doc_type(value: Any, rel: str) -> str:
    if value in DOC_TYPES:
        return str(value)
    path = PurePosixPath(rel)
    for folder in path.parts[:-1]:
        for prefix, doc_type in FOLDER_TYPES.items():
            if folder.lower().startswith(prefix):
                return doc_type
    return EXTENSION_TYPES.get(path.suffix.lower(), "webinar")


def _title_from_path(rel: str) -> str:
    return PurePosixPath(rel).stem.replace("-", " ").replace("_", " ").strip().capitalize()


def normalise_date(value: Any) -> str | None:
    """ISO yyyy-mm-dd (or yyyy-mm / yyyy as given) from a date, datetime or string."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    if value is None:
        return None
    match = re.search(r"\d{4}(-\d{2}(-\d{2})?)?", str(value))
    return match.group(0) if match else None


def find_cities(text: str) -> list[str]:
    folded = fold(text)
    return [c for c in MEMBER_CITIES if re.search(rf"\b{re.escape(fold(c))}\b", folded)]


def find_themes(text: str) -> list[str]:
    folded = fold(text)
    return [theme for theme, words in THEME_KEYWORDS.items() if any(w in folded for w in words)]


def detect_language(text: str) -> str:
    from langdetect import DetectorFactory, LangDetectException, detect

    DetectorFactory.seed = 0
    try:
        return detect(text[:3000]) if text.strip() else "en"
    except LangDetectException:
        return "en"

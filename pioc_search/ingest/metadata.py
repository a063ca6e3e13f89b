"""Resolve a document's metadata: catalogue/sidecar first, then the file's own, then inference."""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from pioc_search.analysis import NETWORK_LANGUAGES, UNDETERMINED
from pioc_search.models import DOC_TYPES, Block, Document
from pioc_search.analysis import fold

# The network's cities, each with its names in the network's other languages (accents and Arabic marks are
# folded before matching, so "Bogota", "Montreal" or "عمّان" need no entry of their own). Names that mean
# something else in a language are left out: French "Mexico" (also the country), Spanish "San Pablo".
CITY_NAMES: dict[str, tuple[str, ...]] = {
    "Bogotá": ("بوغوتا",),
    "Cali": ("كالي",),
    "Cape Town": ("Ciudad del Cabo", "Cidade do Cabo", "Le Cap", "كيب تاون"),
    "Chicago": ("شيكاغو",),
    "Ciudad Juárez": ("Cidade Juárez", "سيوداد خواريز"),
    "Glasgow": ("غلاسكو",),
    "Kingston": ("كينغستون",),
    "Medellín": ("ميديلين",),
    "Mexico City": ("Ciudad de México", "Cidade do México", "مكسيكو سيتي", "مدينة مكسيكو"),
    "Nairobi": ("نيروبي",),
    "Oakland": ("أوكلاند",),
    "Recife": ("ريسيفي",),
    "São Paulo": ("ساو باولو",),
    "Toronto": ("تورونتو",),
    "Johannesburg": ("Johannesburgo", "Joanesburgo", "Johannesbourg", "جوهانسبرغ"),
    "Lagos": ("لاغوس",),
    "Rio de Janeiro": ("ريو دي جانيرو",),
    "Baltimore": ("بالتيمور",),
    "Tijuana": ("تيخوانا",),
    "Guatemala City": ("Ciudad de Guatemala", "Cidade da Guatemala", "مدينة غواتيمالا"),
    "San Salvador": ("سان سلفادور",),
    "Monterrey": ("مونتيري",),
    "Durban": ("ديربان",),
    "Port of Spain": ("Puerto España", "Porto de Espanha", "Port-d'Espagne", "بورت أوف سبين"),
    "London": ("Londres", "لندن"),
    "Marseille": ("Marseilles", "Marsella", "Marselha", "مرسيليا"),
    "Montréal": ("مونتريال",),
    "Casablanca": ("الدار البيضاء", "كازابلانكا"),
    "Amman": ("Amán", "Amã", "عمان"),
}
MEMBER_CITIES = tuple(CITY_NAMES)
_ARABIC_PROCLITICS = "(?:[وف]?[بلك]?)"  # "and", "so", "in/with", "for", "like" written onto the next word

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

# The network's languages, and a few more that its members publish in: these are told apart, not guessed.
DETECTABLE_LANGUAGES = (*NETWORK_LANGUAGES, "de", "it", "nl", "sw")

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


@lru_cache(maxsize=1)
def _city_names() -> tuple[re.Pattern[str], dict[str, str]]:
    """One pattern for every name of every city (longest first), and the city of each folded name."""
    names = {fold(name): city for city, others in CITY_NAMES.items() for name in (city, *others)}
    alternatives = "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
    return re.compile(rf"(?<!\w){_ARABIC_PROCLITICS}({alternatives})(?!\w)"), names


def find_cities(text: str) -> list[str]:
    """The network cities that `text` names, in any of the network's languages ("Londres", "الدار البيضاء")."""
    pattern, names = _city_names()
    found = {names[match.group(1)] for match in pattern.finditer(fold(text))}
    return [city for city in MEMBER_CITIES if city in found]


def find_themes(text: str) -> list[str]:
    folded = fold(text)
    return [theme for theme, words in THEME_KEYWORDS.items() if any(w in folded for w in words)]


MIN_WORDS = 3  # shorter text gets `und`: no detector tells "Cali" or "street lighting" apart reliably
MIN_CONFIDENCE = 0.5  # lingua's relative confidence in the best language (above all others together)
NOT_A_LANGUAGE = {"la"}  # Latin stands in for lorem-ipsum placeholder text, which is no document language


@lru_cache(maxsize=1)
def _detector():  # type: ignore[no-untyped-def]
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, code.upper()) for code in (*DETECTABLE_LANGUAGES, *NOT_A_LANGUAGE)]
    # models loaded now, once per process (lazily they cost 4-25 s inside the first question)
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_preloaded_language_models().build()


def load_language_detector() -> None:
    """Load the detector's models now (a server does this at start-up, before the first question)."""
    _detector()


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language among DETECTABLE_LANGUAGES, or `und` when the text is
    too short or the detector is unsure (never a guess)."""
    sample = text[:1000]  # plenty for a confident answer; detection time grows with length
    if len(re.findall(r"[^\W\d_]{2,}", sample)) < MIN_WORDS:
        return UNDETERMINED
    ranked = _detector().compute_language_confidence_values(sample)
    if not ranked or ranked[0].value < MIN_CONFIDENCE:
        return UNDETERMINED
    code = ranked[0].language.iso_code_639_1.name.lower()
    return UNDETERMINED if code in NOT_A_LANGUAGE else code

"""Interface languages of the search page: gettext catalogues, language choice and locale formatting.

The catalogues are the `.po` files under `locales/<lang>/LC_MESSAGES/messages.po`. They are read with
Babel at start-up and compiled in memory (no `.mo` binaries in the repository, no build step): editing a
`.po` file takes effect on the next start. `messages.pot` is extracted with `pybabel extract -F babel.cfg`.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.dates import format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DEFAULT = "en"
LANGUAGES = ("en", "es", "pt", "fr", "ar")  # the order of the language switcher


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a string for extraction; it is translated where it is shown."""
    return message


@functools.cache
def translations(lang: str) -> NullTranslations:
    """The catalogue of one interface language, compiled in memory from its .po file."""
    path = LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT or not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def preferred(header: str | None) -> list[str]:
    """The languages of an Accept-Language header, most wanted first ('fr-CA;q=0.8' → 'fr-CA')."""
    weighted = []
    for position, item in enumerate((header or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def choose(requested: str | None, accept_language: str | None) -> str:
    """The interface language: `?lang=` when it names one of ours, else the browser's choice, else English."""
    if requested in LANGUAGES:
        return requested  # type: ignore[return-value]
    wanted = preferred(accept_language)
    # Babel matches 'es-MX' to 'es' only when the base language is also listed, so add it.
    wanted += [tag.split("-")[0] for tag in wanted]
    return negotiate_locale(wanted, LANGUAGES, sep="-") or DEFAULT


@functools.cache
def locale(lang: str) -> Locale:
    return Locale.parse(lang)


def direction(lang: str) -> str:
    """'rtl' or 'ltr' for an interface language."""
    return "rtl" if locale(lang).text_direction == "rtl" else "ltr"


def own_name(lang: str) -> str:
    """A language in its own words, as a language switcher lists it: 'Español', 'العربية'."""
    name = locale(lang).get_display_name(lang) or lang
    return name[:1].upper() + name[1:]


def language_name(code: str | None, lang: str) -> str:
    """A document language named in the interface language: ('es', 'fr') → 'Espagnol'."""
    base = (code or "").split("-")[0].lower()
    name = locale(lang).languages.get(base) if base else None
    if not name:
        return code or ""
    return name[:1].upper() + name[1:]


def number(value: int, lang: str) -> str:
    return format_decimal(value, locale=lang)


def nice_date(value: str | None, lang: str) -> str:
    """'2023-09-14' → '14 sept 2023' in the interface language; build timestamps also get a UTC time."""
    if not value:
        return ""
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    when = when.astimezone(dt.timezone.utc) if when.tzinfo else when
    day = format_skeleton("yMMMd", when.date(), locale=lang)
    return f"{day}, {when:%H:%M} UTC" if "T" in value else day

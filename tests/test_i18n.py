"""The search page's interface catalogues and language choice, without a browser.

Pages are rendered through the real app over the real sample-corpus index (the browser tests cover layout)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from starlette.datastructures import QueryParams

from conftest import CORPUS, ROOT, BuiltIndex
from pioc_search.embedders import Embedder
from pioc_search.server import create_app
from pioc_search.settings import Settings
from pioc_search.web import i18n
from pioc_search.web.routes import BadQuery, Query

LOCALES = ROOT / "pioc_search" / "web" / "locales"
TRANSLATED = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT]


def message_ids(catalog) -> set:  # type: ignore[no-untyped-def]
    return {message.id for message in catalog if message.id}


def template() -> set:
    with (LOCALES / "messages.pot").open("rb") as handle:
        return message_ids(read_po(handle))


def catalogue(lang: str):  # type: ignore[no-untyped-def]
    with (LOCALES / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=lang)


def test_the_pot_is_up_to_date_with_templates_and_routes() -> None:
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    extracted = set()
    only_the_package = lambda path: Path(path).relative_to(ROOT).parts[0] == "pioc_search"  # noqa: E731
    for _file, _line, message, _comments, _context in extract_from_dir(ROOT, method_map, options_map,
                                                                        directory_filter=only_the_package):
        extracted.add(message if isinstance(message, str) else tuple(message))
    assert extracted, "nothing was extracted: is babel.cfg right?"
    pot = template()
    assert extracted - pot == set(), "new strings are missing from messages.pot: run pybabel extract (see babel.cfg)"
    assert pot - extracted == set(), "messages.pot has strings the page no longer uses: run pybabel extract"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_catalogue_translates_every_message(lang: str) -> None:
    catalog = catalogue(lang)
    assert message_ids(catalog) == template(), f"{lang}: run pybabel update (see babel.cfg)"
    untranslated = [m.id for m in catalog if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple)
                                                                          else [m.string]))]
    assert untranslated == [], f"{lang} has untranslated or fuzzy messages"
    plural = [m.id for m in catalog if m.pluralizable and len(m.string) != catalog.num_plurals]
    assert plural == [], f"{lang} needs {catalog.num_plurals} plural forms"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert problems == [], "placeholders differ from the English message"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_placeholders_and_markup(lang: str) -> None:
    """A translation keeps every %(name)s and every HTML tag of its message (order may change)."""
    for message in catalogue(lang):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted_tags = sorted(re.findall(r"</?(\w+)", ids[-1]))
        for text in strings:
            assert sorted(re.findall(r"</?(\w+)", text)) == wanted_tags, (lang, message.id, text)


def test_language_choice() -> None:
    assert i18n.choose("ar", "es") == "ar"
    assert i18n.choose(None, "es-MX,es;q=0.9,en;q=0.5") == "es"
    assert i18n.choose(None, "pt-BR") == "pt"
    assert i18n.choose(None, "de-DE,fr;q=0.4,en;q=0.3") == "fr"
    assert i18n.choose(None, "en;q=0.2, ar") == "ar"
    assert i18n.choose("xx", "de") == "en"
    assert i18n.choose(None, None) == "en"
    assert [i18n.direction(lang) for lang in i18n.LANGUAGES] == ["ltr", "ltr", "ltr", "ltr", "rtl"]
    assert [i18n.own_name(lang) for lang in i18n.LANGUAGES] == ["English", "Español", "Português", "Français",
                                                                 "العربية"]


def test_plural_forms_dates_and_language_names() -> None:
    document = ("%(n)s document", "%(n)s documents")
    assert i18n.translations("fr").ngettext(*document, 1) % {"n": 1} == "1 document"
    assert i18n.translations("fr").ngettext(*document, 0) % {"n": 0} == "0 document"  # French: 0 is singular
    assert i18n.translations("es").ngettext(*document, 0) % {"n": 0} == "0 documentos"
    arabic = [i18n.translations("ar").ngettext(*document, n) % {"n": n} for n in (2, 5, 11, 100)]
    assert arabic == ["2 مستندان", "5 مستندات", "11 مستندًا", "100 مستند"]
    assert i18n.nice_date("2023-09-14", "es") == "14 sept 2023"
    assert i18n.nice_date("2023-09-14", "ar").startswith("14") and "سبتمبر" in i18n.nice_date("2023-09-14", "ar")
    assert i18n.nice_date("2024-01-02T03:04:05Z", "fr").endswith("03:04 UTC")
    assert i18n.language_name("en", "es") == "Inglés"
    assert i18n.language_name("pt", "ar") == "البرتغالية"
    assert i18n.language_name("es-MX", "fr") == "Espagnol"


def test_bad_queries_and_filter_chips_in_the_interface_language() -> None:
    with pytest.raises(BadQuery) as caught:
        Query.parse(QueryParams("q=x&year_from=2023&year_to=2020"))
    assert caught.value.text("es") == "El primer año (2023) es posterior al último año (2020)."
    assert str(caught.value) == "The first year (2023) is after the last year (2020)."
    chips = Query(q="x", doc_type=("report",), language=("es",), lang="fr").chips()
    assert [text for text, _ in chips] == ["Type de document\u00a0: Rapport", "Langue\u00a0: Espagnol"]
    assert all(link.endswith("&lang=fr") for _, link in chips)


@pytest.fixture(scope="module")
def client(sample_index: BuiltIndex, embedder: Embedder) -> Iterator[TestClient]:
    settings = Settings(corpus_dir=CORPUS, index_dir=sample_index.root)
    with TestClient(create_app(settings, embedder=embedder)) as client:
        yield client


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[dict[str, str | None]] = []
        self.hidden: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        if tag == "input" and values.get("type") == "hidden":
            self.hidden[values.get("name") or ""] = values.get("value")


@pytest.mark.parametrize("path", ["/?q=street+lighting+Cali", "/", "/about", "/doc/reports-cali-lighting-2022-pdf",
                                  "/?q=zqxjv+wplkm&mode=lexical&doc_type=report", "/?q=x&k=zz"])
def test_every_page_link_keeps_the_language(client: TestClient, path: str) -> None:
    page = client.get(path + ("&" if "?" in path else "?") + "lang=pt")
    assert page.headers["content-language"] == "pt"
    assert '<html lang="pt" dir="ltr">' in page.text
    parser = Links()
    parser.feed(page.text)
    internal = [link for link in parser.links if link.startswith("/") and not link.startswith(("/docs", "/documents/"))]
    assert internal, "the page has internal links"
    assert [link for link in internal if "lang=" not in link.split("#")[0]] == []
    switcher = [link for link in internal if re.search(r"lang=(en|es|fr|ar)\b", link)]
    assert len(switcher) == 4, "the switcher offers the other four languages"
    if "q=" in path:
        assert parser.hidden.get("lang") == "pt", "the search form carries the language"
        assert all(("q=" in link) for link in switcher), "switching language keeps the search"


def test_api_answer_names_its_language(client: TestClient) -> None:
    body = client.get("/search", params={"q": "Did street lighting reduce robberies in Cali?"}).json()
    assert body["answer"] is not None and body["answer"]["language"] == "en"
    assert body["answer"]["language"] == body["answer"]["document"]["language"]

"""The search page in a real browser: Debian's Chromium, driven by Playwright, over a live uvicorn
serving the sample corpus. Skipped locally when Chromium is missing; in CI (CI=true) that fails."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from conftest import QUESTIONS, ROOT, LiveServer, load_questions

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - reported by the browser fixture
    sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
QUESTION = "Did street lighting reduce robberies in Cali?"
EXPECTED_DOC = "reports-cali-lighting-2022-pdf"
SCREENSHOT = ROOT / "docs" / "screenshot.png"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


def search_url(q: str = QUESTION, **params: str) -> str:
    return "/?" + "&".join(f"{k}={quote_plus(v)}" for k, v in {"q": q, **params}.items())


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    problem = ("python playwright is not installed" if sync_playwright is None
               else None if CHROMIUM.exists() else f"{CHROMIUM} is missing (apt-get install chromium)")
    if problem:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"browser tests cannot run in CI: {problem}", pytrace=False)
        pytest.skip(problem)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser: Browser, server: LiveServer, **options: object) -> Page:
    context = browser.new_context(base_url=server.url, viewport=options.pop("viewport", DESKTOP), **options)
    context.set_default_timeout(30_000)
    return context.new_page()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    page = open_page(browser, live_server)
    yield page
    page.context.close()


def sample_question() -> dict:
    """q01 of tests/data/questions.jsonl (Cali's street lighting), or a stand-in while it is missing."""
    items = {item["id"]: item for item in load_questions()} if QUESTIONS.exists() else {}
    return items.get("q01") or {"question": QUESTION, "relevant_docs": ["reports/cali-lighting-2022.pdf"],
                                "answer_contains": "27%"}


def hits_from(page: Page, *doc_ids: str):  # type: ignore[no-untyped-def]
    """The results that cite one of these documents (by default the Cali lighting report)."""
    titles = ", ".join(f'.hit-title a[href^="/doc/{doc_id}?"]' for doc_id in doc_ids or [EXPECTED_DOC])
    return page.locator(".hit").filter(has=page.locator(titles))


def expected_hit(page: Page):  # type: ignore[no-untyped-def]
    return hits_from(page).first


def test_question_shows_expected_document_with_highlighted_sentence(page: Page) -> None:
    item = sample_question()
    page.goto("/")
    box = page.get_by_role("searchbox", name="Ask a question or search for words")
    expect(box).to_be_focused()
    box.fill(item["question"])
    box.press("Enter")
    page.wait_for_url(re.compile(r"/\?q=\w+"))
    expect(page.get_by_role("status")).to_contain_text("best passages")
    expect(page).to_have_title(re.compile(r"results for “"))

    expected = [doc.lower().replace("/", "-").replace(".", "-") for doc in item["relevant_docs"]]
    hit = hits_from(page, *expected).first
    expect(hit).to_be_visible()
    marked = hit.locator(".snippet mark").first
    expect(marked).to_be_visible()
    assert len(marked.inner_text().split()) >= 4, "a whole sentence is highlighted"
    marks = hits_from(page, *expected).locator("mark").all_text_contents()
    assert any(item["answer_contains"] in m for m in marks), marks
    report = expected_hit(page)  # the Cali lighting report (PDF) among the results: its citation
    expect(report.locator(".badge")).to_have_text("Report")
    expect(report.locator(".cities")).to_contain_text("Cali")
    expect(report.locator(".where")).to_contain_text(re.compile(r"Pages? \d"))
    expect(report.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\d"))
    expect(report.locator("a.source-link")).to_have_attribute("href", re.compile(r"/file#page=\d+$"))

    footer = page.locator("[data-testid=index-status]")
    expect(footer).to_contain_text(re.compile(r"Index \w+.*\d+ documents.*\d+ passages.*Built", re.S))

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))


def test_filter_shows_only_matching_results_and_back_button_restores(page: Page) -> None:
    page.goto(search_url())
    report = page.get_by_role("checkbox", name=re.compile(r"^Report \d+ documents"))
    expect(report).not_to_be_checked()
    report.check()  # the small script submits the form; the URL carries the filter
    page.wait_for_url(re.compile(r"doc_type=report"))
    expect(page.get_by_role("checkbox", name=re.compile(r"^Report"))).to_be_checked()
    badges = page.locator(".hits .badge")
    assert badges.count() > 0 and set(badges.all_text_contents()) == {"Report"}
    expect(page.get_by_role("list", name="Active filters")).to_contain_text("Document type: Report")

    page.go_back()
    page.wait_for_url(lambda url: "doc_type" not in url)
    expect(page.get_by_role("checkbox", name=re.compile(r"^Report"))).not_to_be_checked()
    assert set(page.locator(".hits .badge").all_text_contents()) > {"Report"}

    page.goto(search_url(city="Nairobi", year_from="2021"))  # a shared link with filters
    for cities in page.locator(".hits .cities").all_text_contents():
        assert "Nairobi" in cities
    for date in page.locator(".hits time").evaluate_all("els => els.map(e => e.getAttribute('datetime'))"):
        assert int(date[:4]) >= 2021
    expect(page.locator("#year_from")).to_have_value("2021")


def test_filters_work_without_javascript(browser: Browser, live_server: LiveServer) -> None:
    page = open_page(browser, live_server, java_script_enabled=False)
    page.goto(search_url())
    page.get_by_role("checkbox", name=re.compile(r"^Blog")).check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"doc_type=blog"))
    assert set(page.locator(".hits .badge").all_text_contents()) == {"Blog"}
    page.context.close()


def test_more_results(page: Page) -> None:
    page.goto(search_url())
    expect(page.locator(".hit")).to_have_count(10)
    page.get_by_role("link", name="More results").click()
    page.wait_for_url(re.compile(r"k=20"))
    assert page.locator(".hit").count() > 10
    expect(page.locator("#r11")).to_be_in_viewport()


def test_open_related_result_and_document_page(page: Page) -> None:
    page.goto(search_url())
    expected_hit(page).get_by_role("link", name=re.compile(r"^Related")).click()
    page.wait_for_url(re.compile(r"/related/\d+\?lang=en$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Related material")
    related = page.locator(".hits .hit-title a")
    assert related.count() > 0
    assert not any(EXPECTED_DOC in href for href in related.evaluate_all("els => els.map(e => e.getAttribute('href'))"))

    title = related.first.inner_text()
    related.first.click()
    page.wait_for_url(re.compile(r"/doc/[\w-]+\?lang=en#p\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".passage:target")).to_have_count(1)
    expect(page.get_by_role("link", name=re.compile(r"^Download"))).to_have_attribute("href", re.compile(r"/file$"))
    assert page.locator(".passage").count() >= 1
    expect(page.get_by_role("heading", name="Related material from other cities")).to_be_visible()

    page.goto(f"/doc/{EXPECTED_DOC}")
    expect(page.locator(".facts")).to_contain_text("Cali")
    expect(page.locator(".passage .where").first).to_contain_text(re.compile(r"Pages? \d"))
    own_cities = {"Cali", "Medellín"}
    for cities in page.locator("#related .cities").all_text_contents():
        assert not own_cities & set(cities.split(", ")), "related material comes from other cities"


def test_source_link_opens_the_pdf(page: Page) -> None:
    page.goto(search_url())
    link = expected_hit(page).locator("a.source-link")
    href = link.get_attribute("href") or ""
    assert re.search(rf"^/documents/{EXPECTED_DOC}/file#page=\d+$", href)
    with page.expect_response(lambda r: "/file" in r.url) as response_info:
        link.click()
    response = response_info.value
    assert response.status == 200
    assert response.header_value("content-type") == "application/pdf"
    fetched = page.request.get(href.split("#")[0])
    assert fetched.headers["content-type"] == "application/pdf" and fetched.body().startswith(b"%PDF")


def test_empty_state_offers_ways_out(page: Page) -> None:
    page.goto(search_url("zqxjv wplkm"))
    page.get_by_label("How to match the question").select_option("lexical")
    page.wait_for_url(re.compile(r"mode=lexical"))
    expect(page.get_by_role("status")).to_contain_text("No results")
    empty = page.locator("#empty")
    expect(empty).to_contain_text("Nothing matched your search")
    empty.get_by_role("link", name="Search by meaning").click()
    page.wait_for_url(lambda url: "mode=" not in url)
    expect(page.locator(".hit").first).to_be_visible()

    page.goto(search_url(city="Ciudad Juárez", doc_type="report"))
    expect(page.locator("#empty")).to_be_visible()
    page.locator("#empty").get_by_role("link", name="Search all documents").click()
    expect(page.locator(".hit").first).to_be_visible()


def test_error_state(page: Page) -> None:
    page.goto("/")
    box = page.get_by_role("searchbox")
    box.fill("violence " * 70)
    with page.expect_response(lambda r: "/?q=" in r.url) as response_info:
        box.press("Enter")
    assert response_info.value.status == 400
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("the limit is 500")
    expect(page).to_have_title(re.compile("Search error"))
    expect(page.get_by_role("searchbox")).to_have_value(re.compile(r"^violence violence"))

    for url, status, text in [("/?q=lighting&k=many", 400, "whole number"),
                              ("/?q=lighting&mode=magic", 400, "not a search mode"),
                              ("/?q=a&year_from=2023&year_to=2020", 400, "after the last year"),
                              ("/doc/no-such-document", 404, "Document not found"),
                              ("/related/12x", 404, "Passage not found")]:
        response = page.goto(url)
        assert response is not None and response.status == status, url
        expect(page.get_by_role("alert")).to_contain_text(text)


def test_keyboard_screen_reader_and_phone_width(browser: Browser, live_server: LiveServer) -> None:
    page = open_page(browser, live_server, viewport=PHONE)
    page.goto(search_url())
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to results")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "results"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#results') !== null"), "results come next in the focus order"
    page.keyboard.press("/")
    expect(page.get_by_role("searchbox")).to_be_focused()

    expect(page.locator("[role=status][aria-live=polite]")).to_contain_text("best passages")
    expect(page.get_by_role("search")).to_be_visible()
    expect(page.locator("main h1")).to_have_count(1)
    for control in page.locator("input:not([type=hidden]), select").all():
        assert control.evaluate("el => el.labels.length > 0 || !!el.getAttribute('aria-label')"), control
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    expect(page.locator(".filters-box")).not_to_have_attribute("open", "")  # folded on a phone
    page.context.close()


# ---------------------------------------------------------------- interface languages

SPANISH_QUESTION = "¿Cuántos jóvenes atendió el programa Jóvenes en Ruta en Ciudad Juárez?"
SPANISH_DOC = "blog-juarez-jovenes-2023-html"
PORTUGUESE_QUESTION = "Como a iluminação pública afetou os roubos?"


def test_spanish_question_in_the_spanish_interface(page: Page) -> None:
    page.goto("/?lang=es")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_have_text("¿Qué ha funcionado en otras ciudades?")
    box = page.get_by_role("searchbox", name="Haga una pregunta o busque palabras")
    box.fill(SPANISH_QUESTION)
    page.get_by_role("button", name="Buscar", exact=True).click()
    page.wait_for_url(re.compile(r"lang=es"))
    expect(page.get_by_role("status")).to_contain_text("mejores fragmentos")
    expect(page).to_have_title(re.compile(r"resultados para “"))
    hit = hits_from(page, SPANISH_DOC).first
    expect(hit).to_be_visible()
    expect(hit.locator(".badge")).to_have_text("Blog")
    expect(hit.locator(".snippet")).to_have_attribute("lang", "es")
    expect(hit.locator(".lang-tag")).to_have_count(0)  # same language as the interface: no label
    expect(page.locator(".filters-box > summary")).to_contain_text("Filtros")
    expect(page.get_by_role("group", name="Tipo de documento")).to_be_visible()
    assert page.get_by_role("link", name="Relacionado").first.get_attribute("href").endswith("?lang=es")


def test_english_answer_in_the_spanish_interface_keeps_its_words_and_says_so(page: Page) -> None:
    page.goto(search_url(lang="es"))
    answer = page.locator(".answer")
    expect(answer.get_by_role("heading")).to_have_text("Respuesta")
    quote = answer.locator("blockquote")
    expect(quote).to_have_attribute("lang", "en")
    assert re.search(r"\b(the|and|of|in)\b", quote.inner_text()), "the report's own English words, untranslated"
    expect(answer.locator(".lang-tag")).to_have_text("Inglés")
    expect(expected_hit(page).locator(".lang-tag")).to_have_text("Inglés")
    expect(expected_hit(page).locator(".badge")).to_have_text("Informe")


def test_arabic_interface_is_laid_out_right_to_left(page: Page) -> None:
    page.goto(search_url(lang="ar"))
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert page.evaluate("getComputedStyle(document.querySelector('main')).direction") == "rtl"
    expect(page.get_by_role("button", name="بحث", exact=True)).to_be_visible()
    expect(page.get_by_role("searchbox", name="اطرح سؤالًا أو ابحث عن كلمات")).to_have_value(QUESTION)
    expect(page.locator(".filters-box > summary")).to_contain_text("عوامل التصفية")
    # The filters column sits on the right, the results on its left.
    filters = page.locator("aside.filters").bounding_box()
    results = page.locator("#results").bounding_box()
    assert filters and results and filters["x"] > results["x"]
    # An English passage inside the Arabic page still reads left to right, labelled with its language.
    snippet = expected_hit(page).locator(".snippet")
    expect(snippet).to_have_attribute("lang", "en")
    assert snippet.evaluate("el => getComputedStyle(el).direction") == "ltr"
    expect(expected_hit(page).locator(".lang-tag")).to_have_text("الإنجليزية")
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"], "no sideways scrolling"


def test_language_switcher_keeps_the_search_and_filters(page: Page) -> None:
    page.goto(search_url(doc_type="report", year_from="2021"))
    switcher = page.get_by_role("navigation", name="Language")
    expect(switcher.get_by_role("link")).to_have_text(["English", "Español", "Português", "Français", "العربية"])
    expect(switcher.get_by_role("link", name="English")).to_have_attribute("aria-current", "true")
    switcher.get_by_role("link", name="Français").click()
    page.wait_for_url(re.compile(r"lang=fr"))
    expect(page.get_by_role("searchbox")).to_have_value(QUESTION)
    expect(page.get_by_role("checkbox", name=re.compile(r"^Rapport"))).to_be_checked()
    expect(page.locator("#year_from")).to_have_value("2021")
    expect(page.get_by_role("list", name="Filtres actifs")).to_contain_text("Type de document\u00a0: Rapport")
    assert set(page.locator(".hits .badge").all_text_contents()) == {"Rapport"}

    # Everything the French page leads to stays French: a new filter, more results, a document.
    page.get_by_role("checkbox", name=re.compile(r"^Rapport")).uncheck()
    page.wait_for_url(lambda url: "doc_type" not in url)
    assert "lang=fr" in page.url
    page.get_by_role("link", name="Plus de résultats").click()
    page.wait_for_url(re.compile(r"k=20.*lang=fr"))
    expected_hit(page).locator(".hit-title a").click()
    page.wait_for_url(re.compile(rf"/doc/{EXPECTED_DOC}\?lang=fr#p\d+$"))
    expect(page.get_by_role("heading", name="Texte intégral")).to_be_visible()
    expect(page.locator("#doc-title")).to_have_attribute("lang", "en")


def test_accept_language_chooses_the_interface(browser: Browser, live_server: LiveServer) -> None:
    page = open_page(browser, live_server, locale="es-MX", extra_http_headers={"Accept-Language": "es-MX,es;q=0.9"})
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("button", name="Buscar", exact=True)).to_be_visible()
    page.get_by_role("searchbox").fill(QUESTION)
    page.get_by_role("searchbox").press("Enter")
    page.wait_for_url(re.compile(r"lang=es"))  # a shared link shows the same language
    expect(page.get_by_role("status")).to_contain_text("mejores fragmentos")
    page.context.close()


def test_portuguese_question_finds_the_english_lighting_report(page: Page) -> None:
    """Needs a multilingual embedding model (PIOC_MODEL); the English-only model cannot bridge languages."""
    page.goto(search_url(PORTUGUESE_QUESTION, lang="pt"))
    expect(page.get_by_role("status")).to_contain_text("melhores trechos")
    expect(page.locator(".hit").first).to_be_visible()
    firsts = page.locator(".hits .hit-title a").evaluate_all("els => els.slice(0, 3).map(e => e.getAttribute('href'))")
    assert any(href.startswith(f"/doc/{EXPECTED_DOC}") for href in firsts), firsts
    expect(expected_hit(page).locator(".lang-tag")).to_have_text("Inglês")

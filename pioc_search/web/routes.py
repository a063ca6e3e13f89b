"""HTML pages over the same Searcher as the JSON API: search at `/`, a document at `/doc/{id}`,
material related to a passage at `/related/{passage_id}` and index status at `/about`.

Everything is server-rendered and works without JavaScript; the filters are plain GET parameters,
so every page can be shared as a link and the back button works.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup
from jinja2.runtime import Context
from starlette.datastructures import QueryParams

import pioc_search.schemas as api
from pioc_search.models import Document
from pioc_search.search import Filters, Hit, SearchResult, Searcher
from pioc_search.security import strip_controls
from pioc_search.stores.base import StoreUnavailable, VersionGone
from pioc_search.web import i18n
from pioc_search.web.i18n import N_

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"


class PageRoute(APIRoute):
    """A page whose index store is unreachable says so in a friendly page (503), never a stack trace."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (StoreUnavailable, VersionGone) as error:
                log.warning("index store unavailable for %s: %s", request.url.path, error)
                return store_unavailable(request)

        return guarded


router = APIRouter(include_in_schema=False, route_class=PageRoute)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.add_extension("jinja2.ext.i18n")
templates.env.trim_blocks = templates.env.lstrip_blocks = True
templates.env.finalize = strip_controls  # no control character from a file ever reaches a page
templates.env.policies["ext.i18n.trimmed"] = True
log = logging.getLogger(__name__)

PAGE = 10  # results per "page"; "more results" asks for PAGE more
MAX_K = 100
SNIPPET_CONTEXT = 220  # characters of passage text shown either side of the answer sentences
# Every user-visible string goes through the catalogue: N_ marks it here, gettext translates it when shown.
FACETS = {"doc_type": N_("Document type"), "city": N_("City"), "theme": N_("Theme"), "language": N_("Language")}
MODES = {"hybrid": N_("Meaning and words"), "dense": N_("Meaning only"), "lexical": N_("Exact words only")}
EXAMPLES = [
    N_("Did street lighting reduce robberies in Cali?"),
    N_("How do violence interrupters work with young people?"),
    N_("What happened to domestic violence during the COVID-19 lockdowns?"),
    N_("How can public transport be made safer for women?"),
]
LABELS = {  # document types and the themes of the controlled vocabulary (corpus/catalogue.yaml)
    "report": N_("Report"), "blog": N_("Blog"), "statement": N_("Statement"), "webinar": N_("Webinar"),
    "violence-interruption": N_("Violence interruption"), "youth": N_("Youth"), "urban-design": N_("Urban design"),
    "community-policing": N_("Community policing"), "gender-based-violence": N_("Gender-based violence"),
    "covid-19": N_("COVID-19"), "womens-leadership": N_("Women's leadership"),
    "data-and-observatories": N_("Data and observatories"),
}
PLURALS = {"report": N_("Reports"), "blog": N_("Blogs"), "statement": N_("Statements"), "webinar": N_("Webinars")}
MEDIA = {"application/pdf": N_("PDF"), "text/html": N_("web page"), "text/markdown": N_("text"),
         "text/plain": N_("text"), "text/vtt": N_("transcript"), "application/x-subrip": N_("transcript"),
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document": N_("Word document")}
OTHER_MEDIA = N_("file")


class BadQuery(ValueError):
    """A search the page cannot run: a catalogue message and its values, shown to the user translated."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message % values)
        self.message, self.values = message, values

    def text(self, lang: str) -> str:
        gettext = i18n.translations(lang).gettext
        shown = {"what": gettext, "length": lambda n: i18n.number(n, lang)}
        return gettext(self.message) % {k: shown.get(k, str)(v) for k, v in self.values.items()}


def _int(params: QueryParams, name: str, low: int, high: int, what: str) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        raise BadQuery(N_("%(what)s must be a whole number from %(low)s to %(high)s, not “%(raw)s”."),
                       what=what, low=low, high=high, raw=raw[:20])
    return int(raw)


@dataclass(frozen=True)
class Query:
    """The search as it appears in the URL."""

    q: str = ""
    doc_type: tuple[str, ...] = ()
    city: tuple[str, ...] = ()
    theme: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    mode: str = "hybrid"
    k: int = PAGE
    language: tuple[str, ...] = ()
    lang: str = i18n.DEFAULT  # the interface language, carried on every link

    @classmethod
    def parse(cls, params: QueryParams) -> Query:
        def values(name: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(v.strip() for v in params.getlist(name) if v.strip()))

        q = params.get("q", "").strip()
        if len(q) > api.MAX_QUERY_CHARS:
            raise BadQuery(N_("Your question is %(length)s characters long; the limit is %(limit)s. "
                              "Shorten it to the words that matter most and search again."),
                           length=len(q), limit=api.MAX_QUERY_CHARS)
        mode = params.get("mode") or "hybrid"
        if mode not in MODES:
            raise BadQuery(N_("“%(mode)s” is not a search mode; choose one from the list."), mode=mode[:20])
        query = cls(q, values("doc_type"), values("city"), values("theme"),
                    _int(params, "year_from", 1900, 2100, N_("The first year")),
                    _int(params, "year_to", 1900, 2100, N_("The last year")),
                    mode, _int(params, "k", 1, MAX_K, N_("The number of results")) or PAGE, values("language"))
        if query.year_from and query.year_to and query.year_from > query.year_to:
            raise BadQuery(N_("The first year (%(first)s) is after the last year (%(last)s)."),
                           first=query.year_from, last=query.year_to)
        return query

    def filters(self, without: str | None = None) -> Filters:
        """The search filters, optionally without one facet (to count that facet's other values)."""
        q = self.cleared(without) if without else self
        return Filters(q.doc_type, q.city, q.theme, q.language, q.year_from, q.year_to)

    def cleared(self, name: str) -> Query:
        return replace(self, year_from=None, year_to=None) if name == "year" else replace(self, **{name: ()})

    @property
    def filtered(self) -> bool:
        return self.filters().active

    def url(self, **changes: Any) -> str:
        """A link to this search with some fields changed."""
        query = replace(self, **changes)
        pairs: list[tuple[str, object]] = [("q", query.q)]
        pairs += [(name, value) for name in FACETS for value in getattr(query, name)]
        pairs += [(name, getattr(query, name)) for name in ("year_from", "year_to") if getattr(query, name)]
        pairs += [("mode", query.mode)] if query.mode != "hybrid" else []
        pairs += [("k", query.k)] if query.k != PAGE else []
        return "/?" + urlencode([*pairs, ("lang", query.lang)])

    def chips(self) -> list[tuple[str, str]]:
        """The active filters as (description, link without it), in the interface language."""
        gettext = i18n.translations(self.lang).gettext
        chips = [(gettext("%(facet)s: %(value)s") % {"facet": gettext(FACETS[name]),
                                                      "value": option_label(name, value, self.lang)},
                  self.url(**{name: tuple(v for v in getattr(self, name) if v != value)}))
                 for name in FACETS for value in getattr(self, name)]
        if self.year_from or self.year_to:
            years = f"{self.year_from or '…'}–{self.year_to or '…'}"
            chips.append((gettext("Years: %(years)s") % {"years": years}, self.url(year_from=None, year_to=None)))
        return chips

    def without_filters(self) -> str:
        return self.url(doc_type=(), city=(), theme=(), language=(), year_from=None, year_to=None)


@dataclass
class Option:
    value: str
    label: str
    count: int
    checked: bool


@dataclass
class Facet:
    name: str
    label: str
    options: list[Option]


def label(value: str, lang: str = i18n.DEFAULT) -> str:
    """'community-policing' → 'Community policing' (or its translation when the catalogue has it)."""
    if value in LABELS:
        return i18n.translations(lang).gettext(LABELS[value])
    return value.replace("-", " ").capitalize() if value.islower() or "-" in value else value


def plural_label(value: str, lang: str = i18n.DEFAULT) -> str:
    """'report' → 'Reports' in the interface language."""
    return i18n.translations(lang).gettext(PLURALS[value]) if value in PLURALS else label(value, lang)


def option_label(facet: str, value: str, lang: str) -> str:
    """A facet value as shown: languages by their name in the interface language, others by label()."""
    return i18n.language_name(value, lang) if facet == "language" else label(value, lang)


def with_lang(url: str, lang: str) -> str:
    """An internal link that keeps the interface language: '/doc/x#p3' → '/doc/x?lang=es#p3'."""
    path, hash_, fragment = url.partition("#")
    return f"{path}{'&' if '?' in path else '?'}lang={lang}{hash_}{fragment}"


def doc_url(doc: Document, passage_id: int | None = None, lang: str = i18n.DEFAULT) -> str:
    url = f"/doc/{quote(doc.id, safe='')}" + (f"#p{passage_id}" if passage_id is not None else "")
    return with_lang(url, lang)


def media_label(doc: Document, lang: str = i18n.DEFAULT) -> str:
    return i18n.translations(lang).gettext(MEDIA.get(doc.media_type, OTHER_MEDIA))


def web_link(url: str | None) -> str | None:
    """Only http(s) links from metadata become hrefs."""
    return url if url and url.lower().startswith(("http://", "https://")) else None


def snippet(hit: Hit, context: int = SNIPPET_CONTEXT) -> list[tuple[str, bool]]:
    """The passage around its answer sentences as (text, highlighted) pieces, cut at word boundaries."""
    text = hit.text
    spans = sorted((max(0, s.start), min(len(text), s.end)) for s in hit.answers)
    lo, hi = (spans[0][0] - context, spans[-1][1] + context) if spans else (0, 2 * context)
    if lo > 0:
        lo = min(text.find(" ", lo) + 1 or lo, spans[0][0])
    lo = max(lo, 0)
    if hi < len(text):
        hi = max(text.rfind(" ", lo, hi), spans[-1][1] if spans else 0) or hi
    hi = min(hi, len(text))
    pieces: list[tuple[str, bool]] = [("… ", False)] if lo > 0 else []
    position = lo
    for start, end in spans:
        start = max(start, position)
        if start >= end:
            continue
        if start > position:
            pieces.append((text[position:start], False))
        pieces.append((text[start:end], True))
        position = end
    if hi > position:
        pieces.append((text[position:hi], False))
    if hi < len(text):
        pieces.append((" …", False))
    return pieces


def _in_lang(function: Any) -> Any:
    """A template helper that receives the page's interface language as its `lang` argument."""
    return pass_context(lambda context, *args: function(*args, lang=context["lang"]))


@pass_context
def _gettext(context: Context, message: str) -> str:
    return i18n.translations(context["lang"]).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return i18n.translations(context["lang"]).ngettext(singular, plural, n)


templates.env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
templates.env.globals.update(
    label=_in_lang(label), doc_url=_in_lang(doc_url), link=_in_lang(with_lang), media_label=_in_lang(media_label),
    source_url=lambda d, p=None: api.file_link(d, p), web_link=web_link, snippet=snippet, modes=MODES,
    plural_label=_in_lang(plural_label), language_name=_in_lang(i18n.language_name),
    number=_in_lang(i18n.number), also_in_listed=api.ALSO_IN_LISTED)
templates.env.filters["nice_date"] = _in_lang(i18n.nice_date)
templates.env.filters["bdi"] = lambda text: Markup("<bdi>%s</bdi>") % text  # user text in a sentence


def index_status(searcher: Searcher | None) -> dict[str, Any] | None:
    if searcher is None:
        return None
    version = searcher.version
    return {"version": version.name, "documents": len(version.documents), "passages": version.passage_count,
            "built_at": version.meta.get("built_at"), "model": version.meta.get("model_id")}


def live_searcher(request: Request) -> Searcher | None:
    """The live version's Searcher, None before the first build (StoreUnavailable: see PageRoute)."""
    try:
        return request.app.state.holder.get()
    except HTTPException:
        return None


def interface_language(request: Request) -> str:
    """`?lang=` when it names an interface language, else the best match for the browser's Accept-Language."""
    return i18n.choose(request.query_params.get("lang"), request.headers.get("accept-language"))


def switcher(request: Request, lang: str) -> list[dict[str, Any]]:
    """The language switcher: this same page (query, filters and all) in each interface language."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return [{"code": code, "name": i18n.own_name(code), "current": code == lang,
             "url": request.url.path + "?" + urlencode([*params, ("lang", code)])} for code in i18n.LANGUAGES]


def render(request: Request, name: str, status: int = 200, searcher: Searcher | None = None,
           store_down: bool = False, **context: Any) -> HTMLResponse:
    """A page in the interface language, with the index status in its footer (none while the store is down)."""
    if searcher is None and not store_down:
        searcher = live_searcher(request)
    lang = interface_language(request)
    return templates.TemplateResponse(
        request, name, {"status": index_status(searcher), "lang": lang, "dir": i18n.direction(lang),
                        "languages": switcher(request, lang), **context},
        status_code=status, headers={"Content-Language": lang, "Vary": "Accept-Language"})


def unavailable(request: Request) -> HTMLResponse:
    return render(request, "error.html", 503, title=N_("The library is not ready yet"),
                  message=N_("No search index has been built yet, so there is nothing to search. An administrator "
                             "can build one with the command pioc-search ingest; please try again later."))


def store_unavailable(request: Request) -> HTMLResponse:
    response = render(request, "error.html", 503, store_down=True, title=N_("The library is temporarily unavailable"),
                      message=N_("The search index cannot be reached at the moment. Please try again in a minute."))
    response.headers["Retry-After"] = "5"
    return response


def not_found(request: Request, searcher: Searcher, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", 404, searcher, title=title, message=message)


def facets(searcher: Searcher, query: Query, result: SearchResult) -> tuple[list[Facet], list[tuple[str, int]]]:
    """Facet options with document counts. A filtered facet counts its values as if it were not
    filtered, so choosing a second value (which widens the search) shows what it would add.
    The language facet is shown only when the index counts languages and finds more than none."""
    counts = dict(result.facets)
    for name in [*FACETS, "year"]:
        if query.cleared(name) != query:
            counts[name] = searcher.search(query.q, k=1, mode=query.mode,  # type: ignore[arg-type]
                                           filters=query.filters(without=name)).facets.get(name, {})
    views = []
    for name, title in FACETS.items():
        chosen = getattr(query, name)
        values = {**{v: 0 for v in chosen}, **counts.get(name, {})}
        if name == "language" and not values:
            continue
        options = [Option(v, option_label(name, v, query.lang), n, v in chosen) for v, n in values.items()]
        options.sort(key=lambda o: (not o.checked, -o.count, o.label.lower()))
        views.append(Facet(name, title, options))
    years = {**{str(y): 0 for y in (query.year_from, query.year_to) if y}, **counts.get("year", {})}
    return views, sorted(years.items(), reverse=True)


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    """The search page: a question box, results with citations, facet filters."""
    lang = interface_language(request)
    try:
        query = replace(Query.parse(request.query_params), lang=lang)
    except BadQuery as error:
        return render(request, "search.html", 400, query=Query(q=request.query_params.get("q", ""), lang=lang),
                      error=error.text(lang), examples=EXAMPLES)
    if not query.q:
        return render(request, "search.html", query=query, examples=EXAMPLES)
    searcher = live_searcher(request)
    if searcher is None:
        return unavailable(request)
    try:
        result = searcher.search(query.q, k=query.k, mode=query.mode,  # type: ignore[arg-type]
                                 filters=query.filters())
        facet_views, years = facets(searcher, query, result)
    except (StoreUnavailable, VersionGone):
        raise
    except Exception:  # noqa: BLE001 - show a page, never a stack trace
        log.exception("search failed for %r", query)
        return render(request, "search.html", 500, searcher, query=query, examples=EXAMPLES,
                      error=i18n.translations(lang).gettext(
                          N_("Something went wrong on our side while searching. Please try again in a moment.")))
    more = len(result.hits) >= query.k and result.total > query.k and query.k < MAX_K
    return render(request, "search.html", searcher=searcher, query=query, result=result, facets=facet_views,
                  years=years, examples=EXAMPLES, documents=sum(result.facets.get("doc_type", {}).values()),
                  more=query.url(k=min(MAX_K, query.k + PAGE)) + f"#r{query.k + 1}" if more else None)


@router.get("/doc/{doc_id}", response_class=HTMLResponse)
def document_page(request: Request, doc_id: str) -> HTMLResponse:
    """A document: metadata, download link, passages in order, related material from other cities."""
    searcher = live_searcher(request)
    if searcher is None:
        return unavailable(request)
    doc = searcher.version.documents.get(doc_id)
    if doc is None:
        return not_found(request, searcher, N_("Document not found"),
                         N_("There is no document at this address. It may have been removed from the library."))
    passages = searcher.version.document_passages(doc.id)
    related = [h for h in searcher.related_to_document(doc.id, 10) if not set(h.document.cities) & set(doc.cities)]
    return render(request, "document.html", searcher=searcher, doc=doc, passages=passages, related=related[:5])


@router.get("/related/{passage_id}", response_class=HTMLResponse)
def related_page(request: Request, passage_id: str) -> HTMLResponse:
    """Passages from other documents that are close to one passage, other cities first."""
    searcher = live_searcher(request)
    if searcher is None:
        return unavailable(request)
    pid = int(passage_id) if passage_id.isascii() and passage_id.isdigit() and len(passage_id) < 19 else None
    row = searcher.version.passages([pid]).get(pid) if pid is not None else None
    if row is None:
        return not_found(request, searcher, N_("Passage not found"),
                         N_("There is no passage at this address. It may have been removed from the library."))
    doc = searcher.version.documents[row["doc_id"]]
    return render(request, "related.html", searcher=searcher, doc=doc, passage=row,
                  related=searcher.related_to_passage(pid, 6))  # type: ignore[arg-type]


@router.get("/about", response_class=HTMLResponse)
def about_page(request: Request) -> HTMLResponse:
    """What the service is and the state of its index."""
    searcher = live_searcher(request)
    types: dict[str, int] = {}
    for doc in searcher.version.documents.values() if searcher else []:
        types[doc.doc_type] = types.get(doc.doc_type, 0) + 1
    return render(request, "about.html", searcher=searcher, doc_types=sorted(types.items()))

"""Assembles the app: the JSON API, the admin API and the search page over one shared IndexHolder.

Routers depend on the shared core (settings, holder, schemas) and never on this module.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from pioc_search.api_routes import api_router
from pioc_search.embedders import Embedder, load_embedder
from pioc_search.holder import IndexHolder
from pioc_search.ingest.metadata import load_language_detector
from pioc_search.security import SecurityHeaders
from pioc_search.settings import Settings
from pioc_search.stores import open_store
from pioc_search.stores.base import StoreUnavailable, VersionGone

RETRY_AFTER_SECONDS = 5


def create_app(settings: Settings | None = None, embedder: Embedder | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    embedder = embedder or load_embedder(settings)
    holder = IndexHolder(lambda: open_store(settings), embedder)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        embedder.encode_query("warm up")  # load the model and the language detector before the first question
        load_language_detector()
        yield
        holder.close()

    app = FastAPI(title="pioc-search", version="0.1.0", lifespan=lifespan,
                  description="Search the network's reports, blogs, statements and webinars.")
    app.add_middleware(SecurityHeaders)
    app.state.settings = settings
    app.state.holder = holder

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"detail": problems or "invalid request"}, status_code=422)

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        """The database is down or unreachable: say so at once (pages render their own error, see web)."""
        return JSONResponse({"detail": f"the search index is temporarily unavailable, try again shortly ({exc})"},
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.exception_handler(VersionGone)
    async def version_gone(_: Request, exc: VersionGone) -> JSONResponse:
        """The version a long request was reading was pruned meanwhile: the next request reads the live one."""
        return JSONResponse({"detail": f"the index was just updated, please retry ({exc})"}, status_code=503,
                            headers={"Retry-After": "1"})

    app.include_router(api_router(settings, holder))
    if settings.admin_token:  # without PIOC_ADMIN_TOKEN the admin routes do not exist (404)
        from pioc_search.admin import admin_router
        app.include_router(admin_router(settings, holder))
    from pioc_search.web import STATIC_DIR, router as web_router  # the search page at /
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app

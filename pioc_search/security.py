"""Security headers on every response (a Content-Security-Policy, no MIME sniffing, no framing), and
the text filter that keeps control characters out of pages.

The search page uses only its own scripts, styles and images. Source files served from the corpus
that are web pages get `SANDBOXED` instead, so their scripts never run with this service's origin.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
               "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
SOURCE_FILE = "frame-ancestors 'none'"  # PDFs and other source files: nothing that stops the browser's viewer
SANDBOXED = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"
DOCS_POLICY = ("default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline' https:; "
               "script-src 'self' 'unsafe-inline' https:; frame-ancestors 'none'")  # Swagger UI and ReDoc
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders(BaseHTTPMiddleware):
    """Adds the headers unless the route set its own Content-Security-Policy (sandboxed sources)."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        policy = DOCS_POLICY if request.url.path.startswith(DOCS_PATHS) else PAGE_POLICY
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def strip_controls(value: Any) -> Any:
    """Text without control characters, lone surrogates or non-characters (Markup stays Markup);
    used as the templates' `finalize`, so nothing a file contained can reach a page raw."""
    if isinstance(value, str) and _CONTROL.search(value):
        cleaned = _CONTROL.sub("", value)
        return Markup(cleaned) if isinstance(value, Markup) else cleaned
    return value

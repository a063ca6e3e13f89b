"""The search page: server-rendered Jinja2 templates, a stylesheet and a small optional script."""

from pioc_search.web.routes import STATIC_DIR, router

__all__ = ["STATIC_DIR", "router"]

"""ASGI entry point: `uvicorn api:app`."""

from pioc_search.server import create_app

app = create_app()

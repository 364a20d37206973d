"""``/docs`` (Swagger UI) served from files installed with Kho, not from a CDN.

FastAPI's default page loads Swagger UI from cdn.jsdelivr.net: in a reading room or an archive's closed
network it stays blank. The same files come with the ``fastapi-offline`` package (Swagger UI, Apache 2.0);
Kho serves them from that package's folder under ``/static/docs``. There is no ``/redoc``: ReDoc fetches its
logo from cdn.redoc.ly whatever it is given, and one complete offline page is enough.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_STATIC = "/static/docs"


def assets() -> Path:
    """The folder holding swagger-ui-bundle.js, swagger-ui.css and favicon.png."""
    spec = find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fastapi-offline is not installed (pip install -e .): /docs has no Swagger UI files")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def mount_docs(app: FastAPI) -> None:
    app.mount(DOCS_STATIC, StaticFiles(directory=assets()), name="docs-static")
    title = f"{app.title} {app.version}"

    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=title,
                                   swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_STATIC}/favicon.png")

    app.add_api_route("/docs", swagger, include_in_schema=False)

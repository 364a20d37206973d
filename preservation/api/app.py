"""The application: ``create_app`` assembles the API from its parts, ``serve`` runs it under uvicorn.

Nothing is defined inside ``create_app``: it opens the installation's service, puts it on ``app.state`` (where
the routes' dependencies in ``preservation.api.deps`` find it), adds the body guard, the error handlers and
one router an area (``preservation.api.routes``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse, Response

from packages.agents import KHO_VERSION
from preservation.api.auth import BodyGuard, Tokens, check_entry, configured_tokens
from preservation.api.docs import mount_docs
from preservation.api.errors import register_handlers
from preservation.api.ratelimit import PublicRateLimit
from preservation.api.routes import aips, dips, events, oai, service
from preservation.config import Settings, load_settings
from preservation.service import Service

# in this order in the OpenAPI document
ROUTERS: tuple[APIRouter, ...] = (service.router, aips.router, dips.router, events.router, oai.router)

DESCRIPTION = ("Search archival packages (AIPs), request dissemination packages (DIPs) within your access "
               "rights, and export the PREMIS event trail. Authenticate with `Authorization: Bearer <token>`.")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The service opened by ``create_app`` is closed when the server stops."""
    yield
    app.state.service.close()


def create_app(settings: Settings | None = None, tokens: Tokens | None = None) -> FastAPI:
    """The API over one catalog; ``tokens`` defaults to the configured ones (see ``load_tokens``)."""
    settings = settings or load_settings()
    if tokens is None:
        tokens = configured_tokens(settings)
    else:
        tokens = {t: check_entry(f"token for {n}", n, r) for t, (n, r) in tokens.items()}
    opened = Service.open(settings)
    catalog = opened.catalog  # opened now: a lost or unreadable catalog stops the API before it listens

    from preservation import reading_room  # here: its templates and Jinja2 are loaded only by a server

    # /docs from files of this installation (preservation.api.docs): the default page loads Swagger UI from a
    # CDN and is blank in a reading room without internet; no /redoc (it fetches its logo from a CDN)
    app = FastAPI(title="Kho API", version=KHO_VERSION, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.service = opened
    app.state.catalog = catalog
    app.state.settings = settings
    app.state.tokens = tokens
    # the reading room's forms are posted without a token (readers are anonymous; archivists have a session
    # cookie): BodyGuard lets them through, small, and each form checks its CSRF token
    app.add_middleware(BodyGuard, tokens=tokens, max_bytes=settings.api_max_body_bytes,
                       open_prefixes=(reading_room.PATH + "/",), open_max_bytes=reading_room.MAX_FORM_BYTES)
    app.add_middleware(oai.FormPost)  # outside BodyGuard: an anonymous OAI-PMH POST becomes a GET (routes/oai.py)
    # outermost: a client past its share of the public endpoints is answered before anything else runs
    app.add_middleware(PublicRateLimit, prefixes=(oai.PATH, reading_room.PATH), rate=settings.public_rate_per_second,
                       burst=settings.public_rate_burst)
    register_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    mount_docs(app)
    reading_room.mount(app)
    app.add_api_route("/", _home, include_in_schema=False)
    return app


def _home() -> Response:
    """A person who opens the server's address lands in the reading room."""
    return RedirectResponse("/reading-room", status_code=307)


def serve(settings: Settings | None = None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """``kho serve``: the API under uvicorn (put TLS in front of it; tokens travel in a header)."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, server_header=False, log_level="info")

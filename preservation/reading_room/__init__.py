"""The reading room: the archive's public face, served by ``kho serve`` beside the API (decision 0030).

Server-rendered pages (Jinja2), Vietnamese first and English available, no script and nothing fetched from
another site (the page works in a reading room without internet): search with facets over the public
records, a record page (its public description, its documents, how many are withheld and why), downloads of
public access copies, a request slip for what is withheld, and the archivists' page behind a login with
their API token (review queue, hand-over deadlines, disposal proposals, access requests).

``pages`` is the public side, ``staff`` the archivists', ``security`` the CSRF tokens, sessions and headers,
``render`` the templates and forms, ``i18n`` the words.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from preservation.reading_room import pages, security, staff
from preservation.reading_room.render import MAX_FORM_BYTES, STATIC

PATH = security.PATH
__all__ = ["MAX_FORM_BYTES", "PATH", "mount"]


def mount(app: FastAPI) -> None:
    """Add the reading room's pages and its stylesheet to ``app`` (outside the OpenAPI document)."""
    app.mount(f"{PATH}/static", StaticFiles(directory=STATIC), name="reading-room-static")
    app.include_router(pages.router)
    app.include_router(staff.router)

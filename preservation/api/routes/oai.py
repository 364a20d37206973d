"""``/oai``: the OAI-PMH 2.0 provider (decision 0025), anonymous, publishing what a reader may see.

The protocol lives in ``preservation.oai``; this module hands it the request's arguments and serves the
document as ``text/xml``. OAI-PMH allows POST (``application/x-www-form-urlencoded``) as well as GET, without
credentials, but ``BodyGuard`` answers every POST without a bearer token with 401 before any route runs (it
must not read an anonymous body). :class:`FormPost`, outside it, turns an OAI POST of at most
:data:`MAX_FORM_BYTES` into the equivalent GET (the form as the query string), so the guard lets it pass and
never reads an anonymous body of any other kind or size.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from preservation.api.deps import CatalogDep, SettingsDep
from preservation.oai.provider import Repository, repository_identifier, respond

PATH = "/oai"
MAX_FORM_BYTES = 8192  # six verbs' arguments and a token fit many times over
EAD_TT05_XSD = Path(__file__).resolve().parents[3] / "schemas" / "oai-pmh" / "ead_tt05.xsd"
FORM = "application/x-www-form-urlencoded"

router = APIRouter(tags=["oai-pmh"])


def _base_url(request: Request) -> str:
    return str(request.url.replace(query="", fragment="")).rstrip("/")


@router.get(PATH, response_class=Response, include_in_schema=False)
def oai(request: Request, catalog: CatalogDep, settings: SettingsDep) -> Response:
    """Every verb, by GET or (turned into GET by :class:`FormPost`) by POST."""
    identifier = settings.oai_repository_identifier or repository_identifier(settings.archive_code,
                                                                              settings.organization)
    repo = Repository(
        catalog=catalog, home=settings.home, name=settings.organization, identifier=identifier,
        admin_email=settings.oai_admin_email or f"admin@{identifier}", archive_code=settings.archive_code)
    body = respond(repo, request.query_params.multi_items(), _base_url(request))
    return Response(body, media_type="text/xml; charset=utf-8")


@router.get(f"{PATH}/ead_tt05.xsd", response_class=FileResponse, include_in_schema=False)
def ead_tt05_schema() -> FileResponse:
    """The schema of the ``ead_tt05`` format, named in ListMetadataFormats."""
    return FileResponse(EAD_TT05_XSD, media_type="text/xml; charset=utf-8")


class FormPost:
    """ASGI middleware: ``POST /oai`` with a form body becomes ``GET /oai?<form>`` (see the module's note)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != PATH:
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        kind = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        body = b""
        if kind == FORM:
            more = True
            while more and len(body) <= MAX_FORM_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
            if len(body) > MAX_FORM_BYTES:
                body = b"verb=&verb="  # answered as badVerb, without reading the rest
        else:
            body = b"verb=&verb="  # OAI-PMH defines no other body: badVerb

        async def no_body() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        rewritten = {**scope, "method": "GET", "query_string": body,
                     "headers": [(k, v) for k, v in scope.get("headers", [])
                                 if k.lower() not in (b"content-length", b"content-type", b"authorization")]}
        await self.app(rewritten, no_body, send)

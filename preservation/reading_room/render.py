"""Pages from Jinja2 templates, in the visitor's language, with the reading room's cookies and headers.

Autoescaping is on for every template (all of them are HTML), so a title or a query a reader typed is text,
never markup. Nothing here knows the catalog: the routes hand over plain values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from preservation.reading_room import security
from preservation.reading_room.i18n import DEFAULT, LANGUAGES, translator

HERE = Path(__file__).parent
STATIC = HERE / "static"
MAX_FORM_BYTES = 16 * 1024  # the largest form (a request slip) is a few kilobytes

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def language(request: Request) -> str:
    """``?lang=`` when given, else the remembered choice, else Vietnamese."""
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        return asked
    kept = request.cookies.get(security.LANG_COOKIE, "")
    return kept if kept in LANGUAGES else DEFAULT


def url(path: str, **params: Any) -> str:
    """``path`` with the query ``params`` that are not None/empty."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return f"{count} B"


def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """Render ``template`` for this visitor; sets the CSRF and language cookies when they are new."""
    lang = language(request)
    secret = security.key(request.app.state.settings.home)
    cookie, new_cookie = security.csrf_cookie(request)
    other = "en" if lang == "vi" else "vi"
    here = request.url.path
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    html = _env.get_template(template).render(
        t=translator(lang), lang=lang, csrf=security.csrf_token(secret, cookie), url=url, size=size,
        switch_language=url(here, **query, lang=other), staff=context.pop("staff", None), **context)
    response = HTMLResponse(html, status_code=status)
    if new_cookie:
        security.set_cookie(response, security.CSRF_COOKIE, cookie)
    if request.query_params.get("lang") in LANGUAGES:
        security.set_cookie(response, security.LANG_COOKIE, lang, max_age=365 * 86400)
    return security.secure(response)


async def form(request: Request) -> dict[str, str] | None:
    """The fields of a URL-encoded form (first value of each), or None when it is not one or is too large."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in parsed.items()}


async def checked_form(request: Request) -> dict[str, str] | None:
    """The fields of a posted form whose CSRF token is the visitor's own (``security.csrf_ok``), else None:
    every POST of the reading room reads its form through here, so none can forget the check."""
    fields = await form(request)
    secret = security.key(request.app.state.settings.home)
    if fields is None or not security.csrf_ok(request, secret, fields.get("csrf", "")):
        return None
    return fields

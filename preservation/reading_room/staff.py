"""The archivists' pages of the reading room, behind a login with their API token.

One page of work: packages flagged for review and why, hand-over deadlines (overdue and due first), records
whose retention has expired (disposal proposals awaiting a decision), and readers' access requests, which an
archivist approves or refuses here. Everything is read with the same functions as ``kho aip list
--needs-review``, ``kho transfer list`` and ``kho disposal list``. Every form carries the CSRF token.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from preservation import access_requests
from preservation.aip_views import aip_rows
from preservation.api.auth import find_requester
from preservation.disposal import review_list
from preservation.reading_room import security
from preservation.reading_room.render import form, page
from preservation.transfer import hand_over_list

log = logging.getLogger("kho.reading_room")

SHOWN = 50  # rows a section shows; the total is always given
HAND_OVER_SHOWN = ("overdue", "due")

router = APIRouter(prefix=f"{security.PATH}/staff", include_in_schema=False)


def _session(request: Request) -> security.Session | None:
    secret = security.key(request.app.state.settings.home)
    return security.session_of(request, secret, request.app.state.tokens)


def _to_login() -> Response:
    return RedirectResponse(f"{security.PATH}/staff/login", status_code=303)


@router.get("/login")
def login_form(request: Request) -> Response:
    return page(request, "login.html", failed=False)


@router.post("/login")
async def login(request: Request) -> Response:
    fields = await form(request)
    secret = security.key(request.app.state.settings.home)
    if fields is None or not security.csrf_ok(request, secret, fields.get("csrf", "")):
        return page(request, "message.html", status=403, title_key="error_title", message_key="csrf")
    who = find_requester(request.app.state.tokens, fields.get("token", "").strip() or None)
    if who is None or who.role not in security.STAFF_ROLES:
        log.warning("reading room: a staff login was refused")  # never the token, not even a part of it
        return page(request, "login.html", status=401, failed=True)
    log.info("reading room: %s (%s) logged in", who.name, who.role)
    response = RedirectResponse(f"{security.PATH}/staff", status_code=303)
    security.set_cookie(response, security.SESSION_COOKIE, security.session_value(secret, who),
                        max_age=security.SESSION_SECONDS)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    fields = await form(request)
    secret = security.key(request.app.state.settings.home)
    if fields is None or not security.csrf_ok(request, secret, fields.get("csrf", "")):
        return page(request, "message.html", status=403, title_key="error_title", message_key="csrf")
    response = RedirectResponse(security.PATH, status_code=303)
    response.delete_cookie(security.SESSION_COOKIE, path=security.PATH)
    return response


@router.get("")
def dashboard(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login()
    catalog = request.app.state.catalog
    review = aip_rows(catalog, needs_review=True)
    due = [d for d in hand_over_list(catalog) if d.status in HAND_OVER_SHOWN]
    disposal = review_list(catalog)
    waiting, requests = access_requests.pending(catalog, SHOWN)
    number, _, status = request.query_params.get("done", "").partition(":")
    notice = (number, status) if status in ("approved", "refused") and len(number) <= 40 else None
    return page(request, "staff.html", staff=session.requester, review=review[:SHOWN], review_total=len(review),
                due=due[:SHOWN], due_total=len(due), disposal=disposal[:SHOWN], disposal_total=len(disposal),
                requests=requests, requests_total=waiting, shown=SHOWN, notice=notice)


@router.post("/requests/{number}")
async def decide(request: Request, number: Annotated[str, PathParam(max_length=40, pattern=r"^YC-[0-9A-F-]+$")]
                 ) -> Response:
    session = _session(request)
    if session is None:
        return _to_login()
    fields = await form(request)
    secret = security.key(request.app.state.settings.home)
    if fields is None or not security.csrf_ok(request, secret, fields.get("csrf", "")):
        return page(request, "message.html", status=403, title_key="error_title", message_key="csrf")
    try:
        decided = access_requests.decide(request.app.state.catalog, number, fields.get("decision", ""),
                                         session.requester.token_id)
    except access_requests.RequestError as exc:
        return page(request, "message.html", status=409, title_key="error_title", message_key=str(exc),
                    staff=session.requester)
    log.info("reading room: request %s %s by %s", number, decided.status, session.requester.name)
    return RedirectResponse(f"{security.PATH}/staff?done={number}:{decided.status}", status_code=303)

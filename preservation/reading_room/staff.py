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
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from preservation import access_requests
from preservation.aip_views import aip_rows
from preservation.api.auth import find_requester
from preservation.api.errors import ApiError
from preservation.api.routes.dips import dip_archive, dips_dir, record_dip
from preservation.dip import DipError, build_dip
from preservation.disposal import review_list
from preservation.reading_room import security
from preservation.reading_room.pages import facet_label
from preservation.reading_room.render import checked_form, page
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
    fields = await checked_form(request)
    if fields is None:
        return page(request, "message.html", status=403, title_key="error_title", message_key="csrf")
    who = find_requester(request.app.state.tokens, fields.get("token", "").strip() or None)
    if who is None or who.role not in security.STAFF_ROLES:
        log.warning("reading room: a staff login was refused")  # never the token, not even a part of it
        return page(request, "login.html", status=401, failed=True)
    log.info("reading room: %s (%s) logged in", who.name, who.role)
    response = RedirectResponse(f"{security.PATH}/staff", status_code=303)
    secret = security.key(request.app.state.settings.home)
    security.set_cookie(response, security.SESSION_COOKIE, security.session_value(secret, who),
                        max_age=security.SESSION_SECONDS)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    fields = await checked_form(request)
    if fields is None:
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
    decided = access_requests.get(catalog, number) if status in ("approved", "refused") and len(number) <= 40 \
        else None
    notice = (decided.number, decided.status, decided.dip_name) if decided and decided.status == status else None
    return page(request, "staff.html", staff=session.requester, review=review[:SHOWN], review_total=len(review),
                due=due[:SHOWN], due_total=len(due), disposal=disposal[:SHOWN], disposal_total=len(disposal),
                requests=requests, requests_total=waiting, shown=SHOWN, notice=notice,
                maintenance_name=lambda code: facet_label("maintenance", code))


@router.post("/requests/{number}")
async def decide(request: Request, number: Annotated[str, PathParam(max_length=40, pattern=r"^YC-[0-9A-F-]+$")]
                 ) -> Response:
    session = _session(request)
    if session is None:
        return _to_login()
    fields = await checked_form(request)
    if fields is None:
        return page(request, "message.html", status=403, title_key="error_title", message_key="csrf")
    catalog, settings, who = request.app.state.catalog, request.app.state.settings, session.requester
    decision = fields.get("decision", "")
    asked = access_requests.get(catalog, number)
    if asked is None or asked.status != "pending" or decision not in ("approved", "refused"):
        return page(request, "message.html", status=409, title_key="error_title", message_key="not_pending",
                    staff=who)
    dip_name = None
    if decision == "approved" and asked.aip_id:
        # the dossier's DIP within the archivist's rights, for them to check and hand to the reader; the
        # slip's number is its request id (PREMIS), the reader's name stays in the catalog's request row
        try:
            result = await run_in_threadpool(build_dip, catalog, asked.aip_id, requester=who.name, role=who.role,
                                             purpose=asked.purpose, out_dir=dips_dir(settings), request_id=number)
        except DipError:
            log.exception("reading room: the DIP for request %s failed", number)
            return page(request, "message.html", status=503, title_key="error_title", message_key="storage_error",
                        staff=who)
        record_dip(settings, asked.aip_id, result, who, asked.purpose, number)
        dip_name = result.directory.name
    try:
        decided = access_requests.decide(catalog, number, decision, who.token_id, dip_name=dip_name)
    except access_requests.RequestError:  # decided by someone else meanwhile
        return page(request, "message.html", status=409, title_key="error_title", message_key="not_pending",
                    staff=who)
    log.info("reading room: request %s %s by %s%s", number, decided.status, who.name,
             f", DIP {dip_name}" if dip_name else "")
    return RedirectResponse(f"{security.PATH}/staff?done={number}:{decided.status}", status_code=303)


@router.get("/dips/{dip_name}")
def download_dip(request: Request, dip_name: Annotated[str, PathParam(max_length=100)]) -> Response:
    """A DIP built for an approved request, to the archivist who approved it (as ``GET /dips/…/download``
    gives it to the holder of the same token)."""
    session = _session(request)
    if session is None:
        return _to_login()
    try:
        archive = dip_archive(request.app.state.settings, session.requester, dip_name)
    except ApiError as exc:
        return page(request, "message.html", status=exc.status, title_key="error_title", message_key="not_found",
                    staff=session.requester)
    return FileResponse(archive, media_type="application/zip", filename=archive.name)

"""The public side of the reading room: search, a record, its public access copies, the request slip.

Every page is what an anonymous reader may know — the ``reader`` role of ``packages.access``, judged today —
built by the same functions as the API (``aip_views``, the search index, ``dip.choose_copy``): a record the
API hides from a reader is not found, not shown and not downloadable here either, and withheld documents
are only counted, never named.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.responses import FileResponse

from packages.access import may_see
from packages.tt05 import HOSO_FIELDS, MAINTENANCE
from preservation import access_requests
from preservation.aip_views import AipDetail, aip_detail, file_rule, today
from preservation.catalog import Catalog
from preservation.dip import RESTRICTED_FIELDS, SYSTEM_FIELDS, choose_copy
from preservation.reading_room import security
from preservation.reading_room.render import checked_form, language, page
from preservation.retrieval import RetrievalError, fetch_object
from preservation.search import QueryError, open_index, parse

log = logging.getLogger("kho.reading_room")

PAGE_SIZE = 20
FACET_FIELDS = {"agency": "agency", "year": "year"}  # facets a reader can click: the query language's fields
HIDDEN_FIELDS = RESTRICTED_FIELDS | SYSTEM_FIELDS | {"payload-oxum", "bag-size"}

router = APIRouter(prefix=security.PATH, include_in_schema=False)


BAG_LABELS = {"source-organization": ("Cơ quan, tổ chức nộp lưu", "Agency"),
              "external-identifier": ("Mã định danh", "Identifier"),
              "organization-address": ("Địa chỉ", "Address")}


def describe(bag_info: dict[str, str | list[str]], lang: str) -> list[tuple[str, str]]:
    """The public fields of a record for a person: TT 05 fields in the circular's order with their names in
    ``lang`` and code values with their official names ("01 — Vĩnh viễn"), then any other public label."""
    english = lang == "en"
    values = {label.lower(): (label, value if isinstance(value, str) else "; ".join(value))
              for label, value in bag_info.items() if label.lower() not in HIDDEN_FIELDS}
    shown: list[tuple[str, str]] = []
    for spec in HOSO_FIELDS:
        found = values.pop(spec.tag.lower(), None)
        if found is None:
            continue
        value = found[1]
        if spec.codes:
            value = "; ".join(f"{code.strip()} — {spec.codes[code.strip()]}" if code.strip() in spec.codes else code
                              for code in value.split(","))
        shown.append((spec.name_en if english else spec.name_vi, value))
    for key, (label, value) in values.items():
        names = BAG_LABELS.get(key)
        shown.append(((names[1] if english else names[0]) if names else label, value))
    return shown


def facet_label(name: str, value: str) -> str:
    """A facet value as a person reads it: retention codes with their names."""
    if name == "maintenance" and value in MAINTENANCE:
        return f"{MAINTENANCE[value]} ({value})"
    return value


def _facet_query(query: str, name: str, value: str) -> str:
    """``query`` narrowed to one facet value, in the query language a reader can read and edit."""
    if name == "year":
        return f"{query} year:{value}".strip()
    return f'{query} {name}:"{value.replace(chr(34), " ")}"'.strip()


@router.get("")
def search_page(request: Request, q: Annotated[str, Query(max_length=200)] = "",
                page_number: Annotated[int, Query(alias="page", ge=1, le=500)] = 1) -> Response:
    """Search with facets; without words, every public record, newest ranking first."""
    catalog = request.app.state.catalog
    error = None
    result = None
    try:
        result = open_index(catalog).search(parse(q), role="reader", on=today(), limit=PAGE_SIZE,
                                            offset=(page_number - 1) * PAGE_SIZE, facets=True)
    except QueryError as exc:
        error = str(exc)
    facets = []
    if result is not None:
        for name in ("agency", "year", "record_type", "maintenance"):
            values = [(facet_label(name, value), count,
                       _facet_query(q, name, value) if name in FACET_FIELDS and value else None)
                      for value, count in result.facets.get(name, []) if value]
            if values:
                facets.append((name, values))
    pages = 0 if result is None else (result.total + PAGE_SIZE - 1) // PAGE_SIZE
    return page(request, "search.html", q=q, error=error, result=result, facets=facets, page_number=page_number,
                pages=pages)


def public_detail(catalog: Catalog, aip_id: str, on: date | None = None) -> AipDetail | None:
    """The record as a reader may see it, or None: not there, not public, or disposed of (its files are gone;
    OAI-PMH reports it deleted)."""
    aip = catalog.get_aip(aip_id)
    if aip is None or aip.deleted_at is not None:
        return None
    return aip_detail(catalog, "reader", aip_id, on)


@router.get("/records/{aip_id}")
def record_page(request: Request, aip_id: Annotated[str, PathParam(max_length=64)]) -> Response:
    """A record as a reader may see it: its public description, its documents, and how many are withheld."""
    detail = public_detail(request.app.state.catalog, aip_id)
    if detail is None:
        return page(request, "message.html", status=404, title_key="not_found_title", message_key="not_found")
    fields = describe(detail.bag_info, language(request))
    originals = [f for f in detail.files if f.role == "original"]
    # documents withheld: originals only (``withheld_count`` also counts a withheld original's derivatives)
    catalog, on = request.app.state.catalog, today()
    aip = catalog.get_aip(aip_id)
    withheld = sum(1 for f in catalog.files(aip_id)
                   if f.role == "original" and not may_see("reader", file_rule(aip, f), on)[0])
    return page(request, "record.html", record=detail, fields=fields, documents=originals, withheld=withheld)


@router.get("/records/{aip_id}/files/{file_sha}")
def download(request: Request, aip_id: Annotated[str, PathParam(max_length=64)],
             file_sha: Annotated[str, PathParam(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")]
             ) -> Response:
    """The access copy of one public original (the policy's choice, as in a DIP), fetched from storage and
    verified against the catalog's SHA-256 before a byte is sent."""
    catalog = request.app.state.catalog
    on = today()
    aip = catalog.get_aip(aip_id)
    detail = public_detail(catalog, aip_id, on)
    if aip is None or detail is None:
        return page(request, "message.html", status=404, title_key="not_found_title", message_key="not_found")
    rows = catalog.files(aip_id)
    original = next((f for f in rows if f.role == "original" and f.sha256 == file_sha
                     and may_see("reader", file_rule(aip, f), on)[0]), None)
    if original is None:
        return page(request, "message.html", status=404, title_key="not_found_title", message_key="not_found")
    chosen = choose_copy(original, [f for f in rows if f.source_id == original.id])
    spool = Path(tempfile.mkdtemp(prefix="kho-reading-room-"))
    target = spool / "copy"
    try:
        fetch_object(catalog, aip_id, chosen, target)
    except RetrievalError as exc:
        log.error("reading room: %s of AIP %s could not be fetched: %s", chosen.path, aip_id, exc)
        _remove(spool)
        return page(request, "message.html", status=503, title_key="error_title", message_key="storage_error")
    name = PurePosixPath(original.original_path).name
    if chosen is not original:
        name = str(PurePosixPath(name).with_suffix(PurePosixPath(chosen.path).suffix))
    log.info("reading room: public copy %s of AIP %s delivered", chosen.path, aip_id)
    response = FileResponse(target, media_type=chosen.mime or "application/octet-stream",
                            background=BackgroundTask(_remove, spool))
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace("?", "_").replace('"', "_")
    response.headers["Content-Disposition"] = (f"attachment; filename=\"{ascii_name}\"; "
                                               f"filename*=UTF-8''{quote(name)}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _remove(directory: Path) -> None:
    for item in directory.iterdir():
        item.unlink()
    directory.rmdir()


@router.get("/request")
def request_form(request: Request, record: Annotated[str, Query(max_length=64)] = "") -> Response:
    """The request slip, about a record when ``record`` names one the reader can see."""
    detail = public_detail(request.app.state.catalog, record) if record else None
    return page(request, "request.html", record=detail, values={}, errors={}, form_error=None)


@router.post("/request")
async def submit_request(request: Request) -> Response:
    fields = await checked_form(request)
    if fields is None:
        return page(request, "message.html", status=403, title_key="error_title", message_key="csrf")
    catalog = request.app.state.catalog
    record = fields.get("record", "")[:64]
    detail = public_detail(catalog, record) if record else None
    new = access_requests.NewRequest(
        requester=fields.get("requester", ""), organisation=fields.get("organisation", ""),
        contact=fields.get("contact", ""), purpose=fields.get("purpose", ""), documents=fields.get("documents", ""),
        aip_id=detail.aip_id if detail else None, language=language(request))
    try:
        saved = access_requests.submit(catalog, new)
    except access_requests.RequestError as exc:
        return page(request, "request.html", status=422, record=detail, values=fields,
                    errors={exc.field: str(exc)}, form_error="form_errors")
    log.info("reading room: access request %s received%s", saved.number,
             f" about AIP {saved.aip_id}" if saved.aip_id else "")
    # after a POST, a GET: reloading the confirmation does not send the slip again
    return RedirectResponse(f"{security.PATH}/request/{saved.number}", status_code=303)


@router.get("/request/{number}")
def request_done(request: Request, number: Annotated[str, PathParam(max_length=40, pattern=r"^YC-[0-9A-F-]+$")]
                 ) -> Response:
    """The confirmation: the slip's number, only if such a slip exists (nothing else of it is shown)."""
    if not access_requests.exists(request.app.state.catalog, number):
        return page(request, "message.html", status=404, title_key="not_found_title", message_key="not_found")
    return page(request, "message.html", title_key="request_title", message_key="request_done", number=number,
                more_key="request_done_more")

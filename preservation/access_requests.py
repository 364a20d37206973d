"""Readers' requests for records they may not receive: made in the reading room, decided by an archivist.

TT 05's reading-room slip asks who (name, organisation, contact), why (purpose) and what (the dossier and the
documents). A reader never sees the names of withheld documents, so "what" is their own description plus the
dossier they were looking at. The request is kept in the catalog (table ``access_requests``, decision 0030);
an archivist approves or refuses it, and an approved one is served as a DIP within the archivist's rights
(``POST /aips/{id}/dips`` with the slip's number as ``request_id``). Text is stored NFC, bounded, without
control characters: it is shown again in HTML and may end up in a DIP's METS.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from preservation.catalog import Catalog
from preservation.catalog.models import AccessRequest

LIMITS = {"requester": 200, "organisation": 300, "contact": 200, "purpose": 1000, "documents": 2000}
REQUIRED = ("requester", "contact", "purpose", "documents")
STATUSES = ("pending", "approved", "refused")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class RequestError(ValueError):
    """The request cannot be accepted; ``field`` names the form field, ``message`` says why in both languages."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewRequest:
    requester: str
    contact: str
    purpose: str
    documents: str
    organisation: str = ""
    aip_id: str | None = None
    language: str = "vi"


def clean(field: str, value: str) -> str:
    """``value`` as stored: NFC, no control characters (a newline stays in the long fields), trimmed, bounded."""
    text = _CONTROL.sub("", unicodedata.normalize("NFC", value)).strip()
    if field not in ("purpose", "documents"):
        text = " ".join(text.split())
    if len(text) > LIMITS[field]:
        raise RequestError(field, f"at most {LIMITS[field]} characters / tối đa {LIMITS[field]} ký tự")
    return text


def submit(catalog: Catalog, request: NewRequest, now: datetime | None = None) -> AccessRequest:
    """Store a reader's request as pending and return it (its ``number`` is what the reader is told)."""
    values = {name: clean(name, getattr(request, name)) for name in LIMITS}
    for name in REQUIRED:
        if not values[name]:
            raise RequestError(name, "required / bắt buộc")
    now = now or datetime.now(UTC)
    # unguessable: the number is all a reader has, and must not let one reader enumerate others' requests
    number = f"YC-{now:%Y%m%d}-{secrets.token_hex(4).upper()}"
    row = AccessRequest(number=number, aip_id=request.aip_id, language=request.language if request.language in
                        ("vi", "en") else "vi", status="pending", created_at=now, **values)
    with catalog.session() as session:
        session.add(row)
        session.flush()
        session.expunge(row)
    return row


def exists(catalog: Catalog, number: str) -> bool:
    with catalog.session(readonly=True) as session:
        return session.scalar(select(AccessRequest.id).where(AccessRequest.number == number)) is not None


def pending(catalog: Catalog, limit: int = 100) -> tuple[int, list[AccessRequest]]:
    """(how many are pending, the oldest ``limit`` of them)."""
    with catalog.session(readonly=True) as session:
        total = session.scalar(select(func.count()).select_from(AccessRequest)
                               .where(AccessRequest.status == "pending")) or 0
        rows = list(session.scalars(select(AccessRequest).where(AccessRequest.status == "pending")
                                    .order_by(AccessRequest.created_at, AccessRequest.id).limit(limit)))
    return int(total), rows


def get(catalog: Catalog, number: str) -> AccessRequest | None:
    with catalog.session(readonly=True) as session:
        return session.scalar(select(AccessRequest).where(AccessRequest.number == number))


def decide(catalog: Catalog, number: str, decision: str, decided_by: str, now: datetime | None = None,
           dip_name: str | None = None) -> AccessRequest:
    """Approve or refuse a pending request; ``decided_by`` is the archivist's token id, ``dip_name`` the DIP
    that serves an approved one."""
    if decision not in ("approved", "refused"):
        raise RequestError("decision", f"unknown decision {decision!r} / quyết định không hợp lệ")
    with catalog.session() as session:
        row = session.scalar(select(AccessRequest).where(AccessRequest.number == number))
        if row is None:
            raise RequestError("number", f"no request {number} / không có phiếu {number}")
        if row.status != "pending":
            raise RequestError("number", f"{number} is already {row.status} / phiếu đã được xử lý")
        row.status, row.decided_at, row.decided_by = decision, now or datetime.now(UTC), decided_by
        row.dip_name = dip_name
        session.flush()
        session.expunge(row)
    return row

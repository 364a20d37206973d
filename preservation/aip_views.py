"""What the catalog says about AIPs, as typed results: one place builds them, the API and ``kho … --json`` print them.

Before this module the API built its answers inside its route functions and ``kho aip list|show --json`` built
dictionaries of its own by hand, so a field added to one was missed by the other and the access rule (who may see
which AIP, file and bag-info label) lived in the API alone. Here every view is a pydantic model made by a function
over a :class:`~preservation.catalog.Catalog`; the callers only serialise. No FastAPI here: the CLI imports this
module and must stay quick to start.

Two audiences, whose JSON keys differ and stay as they were (scripts and tests read both):

- **Requesters** of the HTTP API, judged by their role (``packages.access``): :func:`aip_page` (``GET /aips``,
  model :class:`AipPage` of :class:`AipSummary`) and :func:`aip_detail` (``GET /aips/{id}``, model
  :class:`AipDetail` with :class:`FileOut`). Files a role may not receive are only counted (``withheld_count``),
  and ``file_count``/``total_bytes`` count only the originals it may receive (see :func:`receivable`).
- **The operator** at the command line, who runs Kho and sees everything (the administrator's view, nothing
  withheld, plus what only the operator needs: review flags, storage copies, events): :func:`aip_rows`
  (``kho aip list --json``, one :class:`AipRow` a line: ``files``/``bytes`` are the AIP's own counts of its
  originals) and :func:`aip_record` (``kho aip show --json``, model :class:`AipRecord` with
  :class:`FileRecord`, :class:`CopyRecord`, :class:`EventRecord`). Times are printed as ``datetime.isoformat()``
  of the stored value, as before.

Model names and fields are the OpenAPI document's (``AipSummary``…): renaming one changes the published schema.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer
from sqlalchemy import func, select

from packages.access import AccessRule, may_see, mode_from_code
from preservation.catalog import Aip, Catalog, File, as_utc
from preservation.dip import RESTRICTED_FIELDS

# bag-info labels that state the size of the whole payload as submitted, withheld files included: like
# ``total_bytes``, only an administrator (who is withheld nothing) receives them
SIZE_FIELDS = frozenset({"payload-oxum", "bag-size"})

# the command line's times: ``isoformat()`` of the stored value (naive on SQLite), as ``kho`` always printed them
IsoDateTime = Annotated[datetime, PlainSerializer(lambda moment: moment.isoformat(), return_type=str,
                                                  when_used="json")]


# -- requesters (the HTTP API) ----------------------------------------------------------------------


class AipSummary(BaseModel):
    aip_id: str
    sip_name: str
    title: str | None
    status: str
    access_mode: str = Field(description="public | restricted | confidential (TT 05 mode 01 | 02 | 03)")
    embargo_until: date | None
    file_count: int = Field(ge=0, description="Original files the requester's role may receive")
    total_bytes: int = Field(ge=0, description="Their size in bytes; files the role may not receive are not "
                                               "counted, so their sizes are not disclosed either")
    stored_at: datetime


class AipPage(BaseModel):
    total: int = Field(description="AIPs matching the query that the requester may see")
    limit: int
    offset: int
    items: list[AipSummary]


class FileOut(BaseModel):
    path: str
    role: str = Field(description="original | preservation | access | metadata")
    puid: str | None
    mime: str | None
    size: int
    sha256: str


class AipDetail(AipSummary):
    previous_version: str | None
    access_basis: str | None = Field(description="Legal basis of the regime; not shown to readers")
    bag_info: dict[str, str | list[str]] = Field(description="Personal data and internal notes dropped for readers")
    files: list[FileOut] = Field(description="Files the requester's role may receive")
    withheld_count: int = Field(ge=0, description="How many files the role may not receive; their names, "
                                                  "reasons and legal bases are not disclosed")


def today() -> date:
    """The date embargoes are judged by: UTC, as ``build_dip`` judges them."""
    return datetime.now(UTC).date()


def aip_rule(aip: Aip) -> AccessRule:
    # mode_from_code: an unexpected stored value is treated as restricted, never as public
    return AccessRule(mode_from_code(aip.access_mode), aip.embargo_until, aip.access_basis or "")


def file_rule(aip: Aip, item: File) -> AccessRule:
    """A file's own regime when it has one, else its AIP's."""
    if item.access_mode:
        return AccessRule(mode_from_code(item.access_mode), item.embargo_until, item.access_basis or "")
    return aip_rule(aip)


def visible(role: str, aip: Aip, on: date) -> bool:
    """Whether ``role`` may know the AIP exists on the date ``on`` (readers: public and not embargoed)."""
    return may_see(role, aip_rule(aip), on)[0]


def bag_info_for(role: str, aip: Aip) -> dict[str, Any]:
    """bag-info as ``role`` may read it (and search it: :func:`matches` looks only here): readers lose
    personal data and internal notes, everyone but administrators the payload's declared size."""
    return {k: v for k, v in (aip.bag_info or {}).items()
            if (role != "reader" or k.lower() not in RESTRICTED_FIELDS)
            and (role == "administrator" or k.lower() not in SIZE_FIELDS)}


def fold(value: str) -> str:
    """Text as searched: NFC (Vietnamese typed either way compares equal), case folded."""
    return unicodedata.normalize("NFC", value).casefold()


def matches(terms: Sequence[str], role: str, aip: Aip) -> bool:
    """Every (folded) query word occurs in a field ``role`` may read (so a hidden field never matches)."""
    values: list[str] = [aip.id, aip.sip_name, aip.title or ""]
    for value in bag_info_for(role, aip).values():
        values.extend(value if isinstance(value, list) else [str(value)])
    haystack = fold("\n".join(values))
    return all(term in haystack for term in terms)


def receivable(catalog: Catalog, role: str, aips: Sequence[Aip], on: date) -> dict[str, tuple[int, int]]:
    """(count, bytes) of the originals of each AIP that ``role`` may receive, by the same rule as
    :func:`aip_detail`'s file list and ``build_dip`` (``may_see`` of each file's own rule, else its AIP's).

    Not ``aip.file_count``/``aip.total_bytes``: those count every original, and a reader of a public dossier
    holding one confidential file could subtract what they receive and learn that file's exact size.
    One grouped query for a whole page: a file's rule depends only on its mode and embargo date (the legal
    basis is only a reason), so the originals of an AIP fall into a few groups, each wholly visible or not."""
    totals = {aip.id: (0, 0) for aip in aips}
    if not aips:
        return totals
    by_id = {aip.id: aip for aip in aips}
    query = (select(File.aip_id, File.access_mode, File.embargo_until, func.count(),
                    func.coalesce(func.sum(File.size), 0))
             .where(File.aip_id.in_(list(by_id)), File.role == "original")
             .group_by(File.aip_id, File.access_mode, File.embargo_until))
    with catalog.session(readonly=True) as session:
        groups = session.execute(query).all()
    for aip_id, mode, embargo, count, size in groups:
        aip = by_id[aip_id]
        rule = AccessRule(mode_from_code(mode), embargo) if mode else aip_rule(aip)
        if may_see(role, rule, on)[0]:
            seen_count, seen_size = totals[aip_id]
            totals[aip_id] = (seen_count + int(count), seen_size + int(size))
    return totals


def _summary_fields(aip: Aip, counted: tuple[int, int]) -> dict[str, Any]:
    count, size = counted
    return {"aip_id": aip.id, "sip_name": aip.sip_name, "title": aip.title, "status": aip.status,
            "access_mode": mode_from_code(aip.access_mode), "embargo_until": aip.embargo_until,
            "file_count": count, "total_bytes": size, "stored_at": as_utc(aip.stored_at)}


def find_aips(catalog: Catalog, role: str, query: str | None, on: date) -> list[Aip]:
    """The AIPs ``role`` may see whose searchable fields match ``query`` (every AIP without one), oldest first.

    A query goes through the search index (``preservation.search``, decision 0027): accent-insensitive words,
    "phrases" and ``field:value``, matched only in fields ``role`` may read. The index filters by access
    itself; each AIP found is judged again here with :func:`visible`, the rule every other view uses."""
    if not query or not query.strip():
        return [a for a in catalog.list_aips() if visible(role, a, on)]
    return _load_visible(catalog, role, _search_ids(catalog, role, query, on), on)


def _search_ids(catalog: Catalog, role: str, query: str, on: date) -> list[str]:
    from preservation.search import QueryError, open_index, parse

    try:
        parsed = parse(query)
    except QueryError:  # a malformed year or too many words: the API answers "nothing found", the CLI says why
        return []
    if parsed.empty:  # only punctuation: nothing to match on, so no AIP matches (as no word occurred)
        return []
    return open_index(catalog).matching_ids(parsed, role=role, on=on)


def _load_visible(catalog: Catalog, role: str, ids: Sequence[str], on: date) -> list[Aip]:
    """The catalog rows of ``ids``, in that order, that ``role`` may see (a stale index entry is dropped)."""
    rows: dict[str, Aip] = {}
    with catalog.session(readonly=True) as session:
        for start in range(0, len(ids), 500):
            rows.update((a.id, a) for a in session.scalars(select(Aip).where(Aip.id.in_(ids[start:start + 500]))))
    return [rows[i] for i in ids if i in rows and rows[i].deleted_at is None and visible(role, rows[i], on)]


def aip_page(catalog: Catalog, role: str, *, query: str | None = None, limit: int = 50, offset: int = 0,
             on: date | None = None) -> AipPage:
    """``GET /aips``: one page of :func:`find_aips`, each AIP counted as ``role`` may receive it. With a
    query only the page's rows are loaded: the index gives the matching ids and their total."""
    on = on or today()
    if query and query.strip():
        ids = _search_ids(catalog, role, query, on)
        total, page = len(ids), _load_visible(catalog, role, ids[offset:offset + limit], on)
    else:
        found = find_aips(catalog, role, query, on)
        total, page = len(found), found[offset:offset + limit]
    counted = receivable(catalog, role, page, on)
    return AipPage(total=total, limit=limit, offset=offset,
                   items=[AipSummary(**_summary_fields(a, counted[a.id])) for a in page])


def aip_detail(catalog: Catalog, role: str, aip_id: str, on: date | None = None) -> AipDetail | None:
    """``GET /aips/{id}``: one AIP as ``role`` sees it; None when it does not exist or ``role`` may not see it
    (the caller answers both alike, so a hidden AIP's existence is not given away)."""
    on = on or today()
    aip = catalog.get_aip(aip_id)
    if aip is None or not visible(role, aip, on):
        return None
    files: list[FileOut] = []
    withheld = 0
    for item in catalog.files(aip.id):
        if may_see(role, file_rule(aip, item), on)[0]:
            files.append(FileOut(path=item.path, role=item.role, puid=item.puid, mime=item.mime, size=item.size,
                                 sha256=item.sha256))
        else:
            withheld += 1
    originals = [f for f in files if f.role == "original"]  # what file_count/total_bytes count, as in aip_page
    counted = (len(originals), sum(f.size for f in originals))
    return AipDetail(**_summary_fields(aip, counted), previous_version=aip.previous_version,
                     access_basis=None if role == "reader" else aip.access_basis,
                     bag_info=bag_info_for(role, aip), files=files, withheld_count=withheld)


# -- the operator (the command line) ----------------------------------------------------------------


class AipRow(BaseModel):
    """One line of ``kho aip list --json``."""

    aip_id: str
    sip_name: str
    title: str | None
    status: str
    files: int = Field(description="Original files of the AIP (all of them: the operator is withheld nothing)")
    bytes: int = Field(description="Their size in bytes")
    needs_review: bool
    review_reasons: list[str]
    stored_at: IsoDateTime


class FileRecord(BaseModel):
    """A file of ``kho aip show --json``: the catalog row, key names as the command always printed them."""

    path: str
    role: str
    representation: str | None
    validation: str | None
    validator: str | None
    source_id: str | None
    id: str
    puid: str | None
    format: str | None
    mime: str | None
    method: str | None
    size: int
    sha256: str


class CopyRecord(BaseModel):
    """A stored copy of the AIP and when it was last verified."""

    location: str
    status: str
    verified_at: IsoDateTime


class EventRecord(BaseModel):
    """A PREMIS event of the AIP, in the order the catalog recorded them."""

    type: str
    datetime: IsoDateTime
    outcome: str
    detail: str
    outcome_detail: str


class AipRecord(BaseModel):
    """``kho aip show --json``: everything the catalog holds about one AIP."""

    aip_id: str
    sip_name: str
    title: str | None
    status: str
    payload_hash: str
    previous_version: str | None
    stored_at: IsoDateTime
    needs_review: bool
    review_reasons: list[str]
    bag_info: dict[str, Any] | None
    files: list[FileRecord]
    locations: list[CopyRecord]
    events: list[EventRecord]


def aip_rows(catalog: Catalog, *, needs_review: bool = False) -> list[AipRow]:
    """``kho aip list``: every AIP, oldest first (only those flagged for review with ``needs_review``)."""
    return [AipRow(aip_id=a.id, sip_name=a.sip_name, title=a.title, status=a.status, files=a.file_count,
                   bytes=a.total_bytes, needs_review=a.needs_review, review_reasons=a.review_reasons or [],
                   stored_at=a.stored_at)
            for a in catalog.list_aips() if a.needs_review or not needs_review]


def aip_record(catalog: Catalog, aip_id: str) -> AipRecord | None:
    """``kho aip show``: one AIP with its files, stored copies and events; None when the catalog has no such AIP."""
    aip = catalog.get_aip(aip_id)
    if aip is None:
        return None
    files = [FileRecord(path=f.path, role=f.role, representation=f.representation, validation=f.validation_status,
                        validator=f.validator, source_id=f.source_id, id=f.id, puid=f.puid, format=f.format_name,
                        mime=f.mime, method=f.id_method, size=f.size, sha256=f.sha256)
             for f in catalog.files(aip.id)]
    copies = [CopyRecord(location=c.location, status=c.status, verified_at=c.verified_at)
              for c in catalog.copies(aip.id)]
    events = [EventRecord(type=e.event_type, datetime=e.event_datetime, outcome=e.outcome, detail=e.detail,
                          outcome_detail=e.outcome_detail)
              for e in catalog.events(aip.id)]
    return AipRecord(aip_id=aip.id, sip_name=aip.sip_name, title=aip.title, status=aip.status,
                     payload_hash=aip.payload_hash, previous_version=aip.previous_version, stored_at=aip.stored_at,
                     needs_review=aip.needs_review, review_reasons=aip.review_reasons or [], bag_info=aip.bag_info,
                     files=files, locations=copies, events=events)

"""Which records the OAI-PMH provider publishes, with their datestamps and sets, read from the catalog.

The provider is anonymous: it publishes exactly what the HTTP API shows a ``reader`` (``aip_views.visible``:
mode 01 and no running embargo), with the bag-info a reader may read (``aip_views.bag_info_for``: no contact
person, no internal notes, no payload size) and without the bagging system's own fields. A disposed AIP is
published as a *deleted* record (its catalog row is the tombstone, ``preservation.disposal``) only when its
last regime would have let a reader see it, so a disposal never reveals that a restricted record existed.

Datestamps are the record's last change: when it was stored, or the last event that changed it (a
disposal, a migration, a metadata update). Checks that change nothing (fixity audits, DIPs made from it)
are left out, or every audit would make harvesters fetch the whole archive again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import func, or_, select

from preservation.aip_views import bag_info_for, visible
from preservation.catalog import Aip, Catalog, Event, as_utc
from preservation.dip import SYSTEM_FIELDS

# events that record a look at the AIP, not a change to it: they do not move its datestamp
UNCHANGING_EVENTS = frozenset({"fixity check", "dissemination", "virus check"})
# how many years one dossier may put in ``year:`` sets (a mistyped 0001–9999 range must not make 9,999 sets)
MAX_YEARS = 200
AGENCY, YEAR = "agency", "year"
_PUBLIC = ("public", "01")  # Aip.access_mode as stored: the regime name (``mode_from_code`` also reads a code)
_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})$|(\d{4})(?:-\d{2}(?:-\d{2})?)?$")


@dataclass(frozen=True)
class Record:
    """One OAI item: an AIP as the public may know it."""

    aip_id: str
    datestamp: datetime  # UTC, to the second
    deleted: bool
    sets: tuple[str, ...]
    title: str | None = None
    fields: dict[str, str | list[str]] = field(default_factory=dict)  # bag-info a reader may read
    stored_at: datetime | None = None


def slug(text: str) -> str:
    """ASCII setSpec part for a Vietnamese name: accents folded (đ too), lower case, runs of anything else
    a single ``-``. "Ủy ban nhân dân tỉnh Hà Tĩnh" → ``uy-ban-nhan-dan-tinh-ha-tinh``."""
    folded = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


def field_value(fields: dict[str, str | list[str]], label: str) -> str | None:
    """The first value of a bag-info label, case-insensitive (bag-info labels are)."""
    for key, value in fields.items():
        if key.lower() == label.lower():
            if isinstance(value, list):
                return str(value[0]) if value else None
            return str(value)
    return None


def _year(text: str | None) -> int | None:
    match = _DATE.match(text.strip()) if text else None
    if match is None:
        return None
    return int(match.group(3) or match.group(4))


def record_sets(fields: dict[str, str | list[str]], stored_at: datetime) -> tuple[str, ...]:
    """``agency:<slug of Source-Organization>`` and ``year:YYYY`` for every year from startDate to endDate
    (TT 05, DD/MM/YYYY), or the year it was stored when the dossier gives no dates."""
    sets: list[str] = []
    agency = slug(field_value(fields, "Source-Organization") or "")
    if agency:
        sets.append(f"{AGENCY}:{agency}")
    start, end = _year(field_value(fields, "startDate")), _year(field_value(fields, "endDate"))
    first, last = (start or end), (end or start)
    if first is None or last is None:
        years = [stored_at.year]
    else:
        first, last = min(first, last), max(first, last)
        years = list(range(first, min(last, first + MAX_YEARS - 1) + 1))
    sets.extend(f"{YEAR}:{y:04d}" for y in years)
    return tuple(sets)


def published_fields(aip: Aip) -> dict[str, str | list[str]]:
    """bag-info as the public may read it: the reader's view, less the bagging tool's bookkeeping."""
    return {k: v for k, v in bag_info_for("reader", aip).items() if k.lower() not in SYSTEM_FIELDS}


def _second(moment: datetime) -> datetime:
    return as_utc(moment).astimezone(UTC).replace(microsecond=0)


def _last_changes(catalog: Catalog, aip_ids: list[str]) -> dict[str, datetime]:
    """When each AIP last changed by an event. Over many AIPs, one grouped pass over every event (a list of
    thousands of ids would pass SQLite's limit on bound parameters); over a few, only theirs."""
    if not aip_ids:
        return {}
    query = (select(Event.aip_id, func.max(Event.event_datetime))
             .where(Event.aip_id.is_not(None), Event.event_type.not_in(UNCHANGING_EVENTS))
             .group_by(Event.aip_id))
    if len(aip_ids) <= 100:
        query = query.where(Event.aip_id.in_(aip_ids))
    with catalog.session(readonly=True) as session:
        return {str(aip_id): as_utc(moment) for aip_id, moment in session.execute(query).all()
                if aip_id is not None and moment is not None}


def _candidates(catalog: Catalog, on: date) -> list[Aip]:
    """Rows that may be public (a prefilter in SQL; ``visible`` decides)."""
    query = (select(Aip).where(Aip.access_mode.in_(_PUBLIC),
                               or_(Aip.embargo_until.is_(None), Aip.embargo_until <= on))
             .order_by(Aip.id))
    with catalog.session(readonly=True) as session:
        return list(session.scalars(query))


def public_records(catalog: Catalog, on: date) -> list[Record]:
    """Every record the public may know of on the date ``on``, by AIP id (the order of every list)."""
    return list(public_records_of(catalog, [a for a in _candidates(catalog, on) if visible("reader", a, on)], on))


def public_record(catalog: Catalog, aip_id: str, on: date) -> Record | None:
    """One record, or None when it does not exist or the public may not know it (answered alike)."""
    aip = catalog.get_aip(aip_id)
    if aip is None or not visible("reader", aip, on):
        return None
    return next((r for r in public_records_of(catalog, [aip], on)), None)


def public_records_of(catalog: Catalog, aips: Iterable[Aip], on: date) -> Iterator[Record]:
    """The records of these (already visible) AIPs."""
    rows = list(aips)
    changed = _last_changes(catalog, [a.id for a in rows])
    for aip in rows:
        stamps = [as_utc(aip.stored_at), *([changed[aip.id]] if aip.id in changed else []),
                  *([as_utc(aip.deleted_at)] if aip.deleted_at is not None else [])]
        fields = published_fields(aip)
        yield Record(aip.id, _second(max(stamps)), aip.deleted_at is not None,
                     record_sets(fields, as_utc(aip.stored_at)), aip.title, fields, as_utc(aip.stored_at))

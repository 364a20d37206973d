"""What the index holds about one AIP: its search document, built from the catalog row alone.

The catalog row is the source (the AIP in storage is authoritative, the catalog indexes it, this indexes
the catalog), so the index can be dropped and rebuilt at any time (``kho search reindex``).

Fields are split by who may search them, so that a hidden field never matches (as ``aip_views.matches``
always ruled): ``meta`` holds what a reader may read, ``personal`` the personal data and internal notes
readers lose (``preservation.dip.RESTRICTED_FIELDS``: archivists and administrators), ``sizes`` the declared
payload size only administrators receive. The bag-info bookkeeping of the bagging tool is searchable as
it always was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from packages.access import mode_from_code
from preservation.search.fold import folded_text

# as ``preservation.aip_views.SIZE_FIELDS`` (a unit test keeps them equal; importing it here would be a cycle)
SIZE_FIELDS = frozenset({"payload-oxum", "bag-size"})
# the same labels as ``preservation.dip.RESTRICTED_FIELDS`` (kept equal by a unit test; dip is slow to import)
PERSONAL_FIELDS = frozenset({"contact-name", "contact-email", "contact-phone", "description", "autograph",
                             "internal-sender-description", "accessbasis"})
AGENCY_FIELDS = ("source-organization",)
CODE_FIELDS = ("filecode", "arcfilecode", "external-identifier")
TYPE_FIELDS = ("record-type", "recordtype", "typename")
DOSSIER = "hồ sơ"  # TT 05 packages one dossier an AIP: its record type unless bag-info names another
_YEAR = re.compile(r"(?:^|\D)(\d{4})(?:\D|$)")


@dataclass(frozen=True)
class Document:
    """One AIP as the index stores it: display values as written, ``f_*`` their folded words."""

    aip_id: str
    title: str
    agency: str
    file_code: str
    year: int | None
    record_type: str
    maintenance: str
    access: str  # public | restricted | confidential
    embargo_until: str | None  # ISO date: compared as text on both engines
    stored_at: str  # ISO, UTC: the API's page order
    f_title: str
    f_agency: str
    f_filecode: str
    f_meta: str
    f_personal: str
    f_sizes: str


def _values(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _first(fields: dict[str, Any], labels: tuple[str, ...]) -> str:
    for label in labels:
        for key, value in fields.items():
            if key.lower() == label and value:
                return _values(value)[0].strip()
    return ""


def _year(file_code: str, fields: dict[str, Any]) -> int | None:
    """The year the dossier was formed: the second part of its fileCode (TT 05: agency.year.number), else
    the year of its startDate, else of its endDate."""
    parts = file_code.split(".")
    if len(parts) >= 3 and re.fullmatch(r"\d{4}", parts[1]):
        return int(parts[1])
    for label in ("startdate", "enddate"):
        found = _YEAR.search(_first(fields, (label,)))
        if found:
            return int(found.group(1))
    return None


def build(*, aip_id: str, sip_name: str, title: str | None, bag_info: dict[str, Any] | None,
          access_mode: str | None, embargo_until: date | str | None, stored_at: datetime | str | None) -> Document:
    """The document of one catalog row (an ``Aip`` or, in the migration, a plain row)."""
    fields = dict(bag_info or {})
    shown_title = title or _first(fields, ("title",))
    agency = _first(fields, AGENCY_FIELDS)
    codes = [v for label in CODE_FIELDS for k, value in fields.items() if k.lower() == label for v in _values(value)]
    meta: list[str] = [aip_id, sip_name]
    personal: list[str] = []
    sizes: list[str] = []
    for key, value in fields.items():
        label = key.lower()
        if label in ("title", *AGENCY_FIELDS, *CODE_FIELDS):
            continue
        (sizes if label in SIZE_FIELDS else personal if label in PERSONAL_FIELDS else meta).extend(_values(value))
    file_code = _first(fields, ("filecode", "arcfilecode"))
    embargo = embargo_until.isoformat() if isinstance(embargo_until, date) else embargo_until
    return Document(
        aip_id=aip_id, title=shown_title, agency=agency, file_code=file_code, year=_year(file_code, fields),
        record_type=_first(fields, TYPE_FIELDS) or DOSSIER, maintenance=_first(fields, ("maintenance",)),
        access=mode_from_code(access_mode), embargo_until=embargo or None, stored_at=_utc(stored_at),
        f_title=folded_text(shown_title), f_agency=folded_text(agency), f_filecode=folded_text(*codes),
        f_meta=folded_text(*meta), f_personal=folded_text(*personal), f_sizes=folded_text(*sizes))


def of_aip(aip: Any) -> Document:
    """The document of an ``Aip`` ORM object."""
    return build(aip_id=aip.id, sip_name=aip.sip_name, title=aip.title, bag_info=aip.bag_info,
                 access_mode=aip.access_mode, embargo_until=aip.embargo_until, stored_at=aip.stored_at)


def _utc(moment: datetime | str | None) -> str:
    """ISO UTC, as the API orders pages (SQLite hands naive datetimes back, or text to a migration)."""
    if not moment:
        return ""
    from preservation.catalog import as_utc  # the catalog imports this module lazily, at its first flush

    return as_utc(moment).isoformat()

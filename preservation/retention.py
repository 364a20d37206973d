"""Retention and hand-over deadlines (Luật Lưu trữ 2024) and disposal review (TT 05/2025 Ch. VII).

Deadlines are computed from the dossier's metadata (``endDate``: the year the work ended;
``maintenance``: the TT 05 retention code) as the archive's catalog holds it:

- current archive (lưu trữ hiện hành): at most 1 year after the work ended (Điều 17);
- historical archive (lưu trữ lịch sử): at most 5 years after entering the current archive, for
  permanent records (maintenance 01) only; Kho counts the date the AIP was stored as that entry;
- Decision 458's target, shown beside: permanent electronic records transferred within 3 years.

Retention runs from the year the work ended (Điều 15): codes 02–06 are 70/50/30/20/10 years; 01 is
permanent; 07 (khác) needs a person. Expired records are only *listed* for review ("Xem xét hủy"); a
disposal needs a decision number and an approver, deletes every copy, and leaves a tombstone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from packages.vn_profile import parse_vn_date

RETENTION_YEARS = {"02": 70, "03": 50, "04": 30, "05": 20, "06": 10}
MAINTENANCE_NAMES = {"01": "Vĩnh viễn", "02": "70 năm", "03": "50 năm", "04": "30 năm", "05": "20 năm",
                     "06": "10 năm", "07": "Khác"}


def _field(bag_info: dict[str, str], name: str) -> str | None:
    for key, value in (bag_info or {}).items():
        if key.lower() == name.lower():
            return value.strip()
    return None


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def work_ended(bag_info: dict[str, str]) -> date | None:
    value = _field(bag_info, "endDate")
    if not value:
        return None
    try:
        return parse_vn_date(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Deadlines:
    maintenance: str | None
    work_ended: date | None
    entered_current_archive: date
    current_archive_due: date | None
    historical_archive_due: date | None
    d458_due: date | None

    @property
    def permanent(self) -> bool:
        return self.maintenance == "01"

    def status(self, today: date, transferred: date | None) -> str:
        if not self.permanent:
            return "not-required"
        if transferred is not None:
            return "transferred"
        if self.historical_archive_due is None:
            return "unknown"
        if today > self.historical_archive_due:
            return "overdue"
        if today > _add_years(self.historical_archive_due, -1):
            return "due"
        return "not-yet-due"


def deadlines(bag_info: dict[str, str], stored_at: datetime) -> Deadlines:
    ended = work_ended(bag_info)
    maintenance = _field(bag_info, "maintenance")
    entered = (stored_at if stored_at.tzinfo else stored_at.replace(tzinfo=UTC)).date()
    current_due = _add_years(ended, 1) if ended else None
    permanent = maintenance == "01"
    return Deadlines(
        maintenance=maintenance,
        work_ended=ended,
        entered_current_archive=entered,
        current_archive_due=current_due,
        historical_archive_due=_add_years(entered, 5) if permanent else None,
        d458_due=_add_years(ended, 3) if ended and permanent else None,
    )


def retention_expires(bag_info: dict[str, str]) -> date | None:
    """The last day the record must be kept, or None (permanent, unknown or 07 "khác")."""
    ended = work_ended(bag_info)
    years = RETENTION_YEARS.get(_field(bag_info, "maintenance") or "")
    if ended is None or years is None:
        return None
    return date(ended.year + years, 12, 31)  # counted in whole years from the year the work ended


def lock_until(bag_info: dict[str, str]) -> datetime | None:
    """Until when storage that locks objects (S3 Object Lock) must keep every object of the record: the
    end of the last day of its retention period; None for a permanent or unknown retention (the
    location's own default then applies). The same for every version of the AIP."""
    expires = retention_expires(bag_info)
    return datetime(expires.year, expires.month, expires.day, 23, 59, 59, tzinfo=UTC) if expires else None

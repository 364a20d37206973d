"""Decision 458/QĐ-TTg indicators computed from the catalog, per agency (Source-Organization).

Only what the catalog can honestly compute is reported; each indicator carries its target and the gap.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from preservation.catalog import Aip, Catalog
from preservation.retention import deadlines

TARGETS = {
    "electronic_records": 0.80,
    "permanent_transferred_within_3_years": 0.90,
    "public_metadata_published": 0.80,
    "paper_digitised": 0.30,
    "records_with_two_copies": 1.0,
    "audited_within_3_years": 1.0,
}
LABELS = {
    "electronic_records": "Hồ sơ tạo lập điện tử (mức độ tin cậy 01) / records created electronically",
    "permanent_transferred_within_3_years": "Hồ sơ vĩnh viễn nộp lưu trong 3 năm / permanent records transferred "
                                            "within 3 years",
    "public_metadata_published": "Dữ liệu đặc tả hồ sơ công khai được công bố / public records' metadata published",
    "paper_digitised": "Hồ sơ giấy được số hóa (mức độ tin cậy 02) / paper records digitised",
    "records_with_two_copies": "Hồ sơ có ≥ 2 bản sao được kiểm tra / records with ≥ 2 verified copies",
    "audited_within_3_years": "Bản sao được kiểm tra trong 3 năm / copies audited within 3 years",
}


@dataclass
class Indicator:
    key: str
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def to_dict(self) -> dict[str, Any]:
        target = TARGETS[self.key]
        value = self.value
        return {"indicator": self.key, "label": LABELS[self.key], "numerator": self.numerator,
                "denominator": self.denominator, "value": None if value is None else round(value, 4),
                "target": target, "gap": None if value is None else round(max(0.0, target - value), 4)}


def _field(aip: Aip, name: str) -> str:
    return next((v.strip() for k, v in (aip.bag_info or {}).items() if k.lower() == name.lower()), "")


def digitised_aips(catalog: Catalog, aips: list[Aip]) -> set[str]:
    """AIPs whose record is a digitised copy of paper: a PREMIS ``imaging`` event (``kho digitise`` SIPs:
    the capture is recorded at ingest) or a dossier declaring TT 05 confidenceLevel 02. Computed from what
    the AIPs hold, never entered by hand (issue #19 E)."""
    from sqlalchemy import select

    from preservation.catalog import Event

    found = {a.id for a in aips if _field(a, "confidenceLevel") == "02"}
    ids = [a.id for a in aips]
    with catalog.session(readonly=True) as session:
        for start in range(0, len(ids), 500):
            found.update(session.scalars(select(Event.aip_id).where(
                Event.event_type == "imaging", Event.aip_id.in_(ids[start:start + 500])).distinct()))
    return found


def indicators_for(catalog: Catalog, aips: list[Aip], now: datetime) -> list[Indicator]:
    confidence = [_field(a, "confidenceLevel") for a in aips]
    digitised = digitised_aips(catalog, aips)
    # a digitised copy counts as 02 whatever its dossier declares; the others by their declared level
    levels = ["02" if a.id in digitised else c for a, c in zip(aips, confidence, strict=True)]
    known = [c for c in levels if c in ("01", "02", "03")]
    permanent = [a for a in aips if _field(a, "maintenance") == "01"]
    due = [(a, deadlines(a.bag_info, a.stored_at)) for a in permanent]
    due = [(a, d) for a, d in due if d.d458_due is not None]
    in_time = sum(
        1 for a, d in due if a.transferred_at is not None and d.d458_due is not None
        and a.transferred_at.date() <= d.d458_due
    )
    public = [a for a in aips if a.access_mode == "public"]
    published = [a for a in public if a.embargo_until is None or a.embargo_until <= now.date()]
    copies = {a.id: catalog.copies(a.id) for a in aips}
    verified = [a for a in aips if sum(c.status == "verified" for c in copies[a.id]) >= 2]
    all_copies = [c for a in aips for c in copies[a.id]]
    cutoff = now - timedelta(days=3 * 365)
    audited = [c for c in all_copies if (c.last_checked_at or c.verified_at).replace(tzinfo=UTC) >= cutoff]
    return [
        Indicator("electronic_records", known.count("01"), len(known)),
        Indicator("permanent_transferred_within_3_years", in_time, len(due)),
        Indicator("public_metadata_published", len(published), len(public)),
        Indicator("paper_digitised", known.count("02"), len(known)),
        Indicator("records_with_two_copies", len(verified), len(aips)),
        Indicator("audited_within_3_years", len(audited), len(all_copies)),
    ]


def d458_report(catalog: Catalog, year: int | None = None, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    aips = [a for a in catalog.list_aips() if a.deleted_at is None]
    if year is not None:
        aips = [a for a in aips if a.stored_at.year == year]
    agencies: dict[str, list[Aip]] = {}
    for aip in aips:
        agencies.setdefault(_field(aip, "Source-Organization") or "(không rõ / unknown)", []).append(aip)
    return {
        "report": "Decision 458/QĐ-TTg indicators", "generated_at": now.isoformat(), "year": year,
        "records": len(aips),
        "overall": [i.to_dict() for i in indicators_for(catalog, aips, now)],
        "agencies": {name: [i.to_dict() for i in indicators_for(catalog, group, now)]
                     for name, group in sorted(agencies.items())},
    }


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=1)
    rows = [("(all)", item) for item in report["overall"]] + [
        (agency, item) for agency, items in report["agencies"].items() for item in items]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["agency", "indicator", "label", "numerator", "denominator", "value", "target", "gap"])
        for agency, item in rows:
            writer.writerow([agency, item["indicator"], item["label"], item["numerator"], item["denominator"],
                             item["value"], item["target"], item["gap"]])
        return buffer.getvalue()
    if fmt == "html":
        return _html(report)
    raise ValueError(f"unknown format {fmt!r}")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _bar(value: float | None, target: float) -> str:
    width = 300
    filled = 0 if value is None else int(width * min(value, 1.0))
    mark = int(width * min(target, 1.0))
    colour = "#2e7d32" if value is not None and value >= target else "#c62828"
    return (f'<svg width="{width + 2}" height="18" role="img" aria-label="{value} vs {target}">'
            f'<rect x="1" y="3" width="{width}" height="12" fill="#eee"/>'
            f'<rect x="1" y="3" width="{filled}" height="12" fill="{colour}"/>'
            f'<line x1="{mark + 1}" x2="{mark + 1}" y1="0" y2="18" stroke="#000" stroke-width="2"/></svg>')


def _html(report: dict[str, Any]) -> str:
    e = html.escape
    sections = []
    for agency, items in [("Toàn bộ / all agencies", report["overall"]), *report["agencies"].items()]:
        rows = "".join(
            f"<tr><td>{e(i['label'])}</td><td>{i['numerator']}/{i['denominator']}</td>"
            f"<td>{_percent(i['value'])}</td><td>{i['target']:.0%}</td>"
            f"<td>{_bar(i['value'], i['target'])}</td></tr>" for i in items)
        sections.append(f"<h2>{e(agency)}</h2><table><tr><th>Chỉ tiêu / indicator</th><th>n</th><th>Đạt / value</th>"
                        f"<th>Mục tiêu / target</th><th></th></tr>{rows}</table>")
    return (f'<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8"><title>Báo cáo Quyết định 458</title>'
            f"</head><body><h1>Báo cáo chỉ tiêu Quyết định 458/QĐ-TTg</h1>"
            f"<p>{report['records']} hồ sơ · {e(report['generated_at'])}"
            f"{' · năm ' + str(report['year']) if report['year'] else ''}</p>{''.join(sections)}</body></html>\n")

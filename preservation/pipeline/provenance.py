"""Provenance a SIP brings that becomes PREMIS events at ingest: the record of its digitisation.

Why: a SIP made by ``kho digitise`` (issue #19, decision 0026) carries ``metadata/digitisation.json``: for
each document, every page's capture (resolution, colour mode, scanner and software where the image says),
the OCR engine and language, and the PDF/A check. Those are preservation events in their own right — the
paper became images (``imaging``, the Library of Congress event type for producing an image of an analog
object), the images became the two-layer PDF/A (``normalization``), and the text was recognised
(``metadata extraction``) — and the AIP's PREMIS must say so, about the files they produced, not only keep
the JSON. The report is read with size and shape checks; anything unexpected is skipped, never fatal:
the SIP was already validated, and this is description.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from packages import agents

REPORT = "metadata/digitisation.json"
MAX_REPORT_BYTES = 16 * 1024 * 1024


def digitisation_events(sip_dir: Path, ids: dict[str, str], aip_id: str) -> Iterator[dict[str, Any]]:
    """The events a digitised SIP's report gives (none for other SIPs). ``ids``: SIP path -> file id."""
    from packages import premis

    report = _read(sip_dir / REPORT)
    if report is None:
        return
    created = _when(report.get("created"), premis.now_iso())
    for document in report.get("documents") or []:
        if not isinstance(document, dict):
            continue
        label = str(document.get("document") or document.get("docCode") or "?")
        pdf = ids.get(str(document.get("file") or ""))
        text = ids.get(str(document.get("text") or ""))
        masters = [ids[m] for m in document.get("masters") or [] if isinstance(m, str) and m in ids]
        pages = [p for p in document.get("pages") or [] if isinstance(p, dict)]
        ocr: dict[str, Any] = document["ocr"] if isinstance(document.get("ocr"), dict) else {}
        capture = _capture_summary(pages)
        tool = agents.tool(str(ocr.get("engine") or "OCRmyPDF + Tesseract"),
                           f"OCRmyPDF {ocr.get('ocrmypdf', '?')}, Tesseract {ocr.get('tesseract', '?')}")
        kho = agents.link(agents.kho(), "executing program")
        if masters:
            yield _event(premis, "imaging", aip_id, masters, [kho], created,
                         f"document {label}: {len(pages)} page(s) digitised from paper", capture)
        if pdf:
            check: dict[str, Any] = document["pdfa_check"] if isinstance(document.get("pdfa_check"), dict) else {}
            yield _event(premis, "normalization", aip_id, [pdf, *masters], [kho, agents.link(tool, "software")],
                         created, f"document {label}: page images to a two-layer PDF/A-2b (TT 05/2025 Điều 8)",
                         f"PDF/A check: {check.get('status', '?')} ({check.get('validator', '?')})")
        if text or pdf:
            yield _event(premis, "metadata extraction", aip_id, [i for i in (text, pdf) if i], [kho,
                         agents.link(tool, "software")], created,
                         f"document {label}: text recognised (OCR, language {ocr.get('language', '?')})",
                         f"{document.get('characters_recognised', '?')} characters; deskew "
                         f"{ocr.get('deskew', False)}, clean {ocr.get('clean', False)}")


def digitisation_agents(sip_dir: Path) -> list[dict[str, str]]:
    report = _read(sip_dir / REPORT)
    found = {}
    for document in (report or {}).get("documents") or []:
        ocr = document.get("ocr") if isinstance(document, dict) and isinstance(document.get("ocr"), dict) else None
        if ocr:
            tool = agents.tool(str(ocr.get("engine") or "OCRmyPDF + Tesseract"),
                               f"OCRmyPDF {ocr.get('ocrmypdf', '?')}, Tesseract {ocr.get('tesseract', '?')}")
            found[tool["value"]] = tool
    return list(found.values())


def _read(path: Path) -> dict[str, Any] | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_REPORT_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("documents"), list) else None


def _capture_summary(pages: list[dict[str, Any]]) -> str:
    """e.g. ``300×300 dpi, RGB 24-bit; scanner Fujitsu fi-7160, software PaperStream`` (what the pages say)."""
    dpis = sorted({f"{round(p['dpi'][0])}×{round(p['dpi'][1])} dpi" for p in pages
                   if isinstance(p.get("dpi"), list) and len(p["dpi"]) == 2})
    modes = sorted({f"{p.get('mode')} {p.get('bits_per_pixel')}-bit" for p in pages if p.get("mode")})
    captures = sorted({", ".join(f"{k} {v}" for k, v in sorted(p["capture"].items()))
                       for p in pages if isinstance(p.get("capture"), dict) and p["capture"]})
    return "; ".join(x for x in (", ".join(dpis), ", ".join(modes), " | ".join(captures)) if x)[:4000]


def _event(premis: Any, event_type: str, aip_id: str, objects: list[str], links: list[dict[str, str]],
           when: str, detail: str, outcome_detail: str) -> dict[str, Any]:
    event: dict[str, Any] = premis.new_event(event_type, "success", aip_id=aip_id, object_ids=objects, agents=links,
                                             detail=detail, outcome_detail=outcome_detail)
    event["event_datetime"] = when  # when the digitisation happened, not when the SIP was received
    return event


def _when(value: Any, fallback: str) -> str:
    """The report's ``created`` if it is an aware ISO 8601 time (it comes from the SIP), else ``fallback``."""
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return fallback
    return parsed.isoformat() if parsed.utcoffset() is not None else fallback

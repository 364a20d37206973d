"""A digitised SIP's report becomes PREMIS events about the files it produced (issue #19 G)."""

from __future__ import annotations

import json
from pathlib import Path

from preservation.pipeline.provenance import REPORT, digitisation_agents, digitisation_events

REPORT_DATA = {
    "created": "2026-12-01T08:30:00+00:00",
    "documents": [{
        "document": "tài liệu 1", "docCode": "TL01", "file": "data/TL01/TL01.pdf", "text": "data/TL01/TL01.txt",
        "masters": ["data/TL01/masters/p1.tif", "data/TL01/masters/p2.tif"],
        "pages": [{"page": 1, "dpi": [300.0, 300.0], "mode": "RGB", "bits_per_pixel": 24,
                   "capture": {"make": "Fujitsu", "model": "fi-7160"}},
                  {"page": 2, "dpi": [300.0, 300.0], "mode": "RGB", "bits_per_pixel": 24}],
        "ocr": {"engine": "OCRmyPDF + Tesseract", "ocrmypdf": "17.13.0", "tesseract": "5.3.0", "language": "vie",
                "deskew": False, "clean": False},
        "pdfa_check": {"validator": "kho-pdfa", "status": "well-formed"},
        "characters_recognised": 1234,
    }],
}
IDS = {"data/TL01/TL01.pdf": "id-pdf", "data/TL01/TL01.txt": "id-txt", "data/TL01/masters/p1.tif": "id-m1",
       "data/TL01/masters/p2.tif": "id-m2"}


def _sip(tmp_path: Path, report: object) -> Path:
    (tmp_path / "metadata").mkdir()
    (tmp_path / REPORT).write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    return tmp_path


def test_each_document_gives_imaging_normalization_and_metadata_extraction(tmp_path: Path) -> None:
    events = list(digitisation_events(_sip(tmp_path, REPORT_DATA), IDS, "aip-1"))
    assert [e["event_type"] for e in events] == ["imaging", "normalization", "metadata extraction"]
    imaging, normalization, extraction = events
    assert imaging["object_ids"] == ["id-m1", "id-m2"] and "2 page(s)" in imaging["detail"]
    assert "300×300 dpi" in imaging["outcome_detail"] and "fi-7160" in imaging["outcome_detail"]
    assert normalization["object_ids"][0] == "id-pdf" and "PDF/A-2b" in normalization["detail"]
    assert extraction["object_ids"] == ["id-txt", "id-pdf"] and "vie" in extraction["detail"]
    assert all(e["event_datetime"] == "2026-12-01T08:30:00+00:00" and e["aip_id"] == "aip-1" for e in events)
    assert any("Tesseract 5.3.0" in a["value"] for a in digitisation_agents(tmp_path))


def test_other_sips_and_hostile_reports_give_nothing_or_safe_values(tmp_path: Path) -> None:
    assert list(digitisation_events(tmp_path, IDS, "aip-1")) == []  # no report: not a digitised SIP
    hostile = {"created": "not a date", "documents": ["x", {"file": "../../etc/passwd", "ocr": "nope",
                                                            "pages": "many", "masters": [1, None]}]}
    events = list(digitisation_events(_sip(tmp_path, hostile), IDS, "aip-1"))
    assert events == []  # names no file of the SIP: nothing to describe
    (tmp_path / REPORT).write_text("{", encoding="utf-8")
    assert list(digitisation_events(tmp_path, IDS, "aip-1")) == []

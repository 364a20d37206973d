"""Step 5: every original is validated during ingest; `kho validate` reports without judging."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import CORPORA, FIXTURE_SIPS, json_lines, run_kho
from tests.helpers import rewrite_manifest
from tests.stored import stored_file


def test_ingest_records_a_validation_event_per_file(kho_home: Path) -> None:
    out = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json", check=True).stdout)
    shown = json.loads(run_kho("aip", "show", str(out["aip_id"]), "--json", check=True).stdout)
    originals = {f["path"]: f for f in shown["files"] if f["role"] == "original"}
    assert originals["representations/rep-01/data/Quyết định 123-QĐ-UBND.pdf"]["validation"] == "valid"
    assert originals["representations/rep-01/data/Quyết định 123-QĐ-UBND.pdf"]["validator"] == "pikepdf"
    assert originals["representations/rep-01/data/Danh mục.xml"]["validation"] == "well-formed"
    validations = [e for e in shown["events"] if e["type"] == "validation" and "format validation" in e["detail"]]
    assert len(validations) == 6
    assert shown["needs_review"] is False
    # the verdicts are in the METS too: one techMD per original, linked from its file entry
    from lxml import etree

    from tests.helpers import mets_schema

    mets = etree.parse(str(stored_file(kho_home / "storage", str(out["aip_id"]), "METS.xml")))
    assert mets_schema().validate(mets)
    ns = {"m": "http://www.loc.gov/METS/", "k": "https://kho.example/ns/validation"}
    pdf = next(f for f in mets.iterfind(".//m:file", ns)
               if f.find("m:FLocat", ns).get("{http://www.w3.org/1999/xlink}href").endswith("123-QĐ-UBND.pdf")
               and "rep-01" in f.find("m:FLocat", ns).get("{http://www.w3.org/1999/xlink}href"))
    tech = mets.find(f".//m:techMD[@ID='{pdf.get('ADMID')}']", ns)
    assert tech.find(".//k:validation", ns).get("status") == "valid"
    assert tech.find(".//k:validation", ns).get("validator") == "pikepdf"


def test_invalid_original_is_kept_and_flags_review(kho_home: Path, sample_sip: Path) -> None:
    shutil.copy(CORPORA / "formats/png/small_png-truncated.png", sample_sip / "data" / "ảnh" / "hỏng.png")
    rewrite_manifest(sample_sip)
    out = json.loads(run_kho("ingest", str(sample_sip), "--json", check=True).stdout)
    shown = json.loads(run_kho("aip", "show", str(out["aip_id"]), "--json", check=True).stdout)
    broken = next(f for f in shown["files"] if f["path"].endswith("hỏng.png"))
    assert broken["validation"] == "invalid" and broken["role"] == "original"
    assert shown["needs_review"] is True and any("hỏng.png" in r for r in shown["review_reasons"])
    failures = [e for e in shown["events"] if e["type"] == "validation" and e["outcome"] == "failure"]
    assert len(failures) == 1


def test_kho_validate_reports_and_exits_0(tmp_path: Path) -> None:
    broken = CORPORA / "formats/png/small_png-truncated.png"
    rows = json_lines(run_kho("validate", "--json", str(broken), str(FIXTURE_SIPS / "hoso-2024-ubnd-01/data"),
                              check=True).stdout)
    by_name = {Path(str(r["path"])).name: r for r in rows}
    assert by_name["small_png-truncated.png"]["status"] == "invalid"
    assert by_name["Quyết định 123-QĐ-UBND.pdf"]["status"] == "valid"
    assert all(r["validator"] and "tool_version" in r for r in rows)
    assert run_kho("validate", str(tmp_path / "missing.pdf")).returncode == 2

"""TT 05/2025 metadata through ingest: checked, kept in its canonical form, TT 02/2019 converted."""

from __future__ import annotations

import json
from pathlib import Path

from lxml import etree

from tests.conftest import FIXTURE_SIPS, ROOT, run_kho
from tests.stored import stored_aip, stored_file


def test_tt05_dossier_is_described_by_its_ead(kho_home: Path) -> None:
    out = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "tt05-hoso-xml"), "--json",
                             env={"KHO_ARCHIVE_CODE": "TTLT-HT"}, check=True).stdout)
    aip_id = str(out["aip_id"])
    mets = etree.parse(str(stored_file(kho_home / "storage", aip_id, "METS.xml")))
    ns = {"m": "http://www.loc.gov/METS/"}
    assert mets.findtext(".//m:altRecordID[@TYPE='arcFileCode']", namespaces=ns) == "TTLT-HT.H40.2024.01-VP"
    stored = stored_aip(kho_home / "storage", aip_id, kho_home / "head") / "metadata" / "descriptive"
    schema = etree.XMLSchema(etree.parse(str(ROOT / "schemas" / "tt05.xsd")))
    assert schema.validate(etree.parse(str(stored / "EAD.xml"))), schema.error_log
    assert len(list((stored / "EAD_doc").glob("*.xml"))) == 3
    schemas = kho_home / "head" / aip_id / "schemas"
    assert {p.name for p in schemas.iterdir()} == {"tt05.xsd", "tt05-hoso.schema.json", "tt05-document.schema.json"}
    assert (schemas / "tt05.xsd").read_bytes() == (ROOT / "schemas" / "tt05.xsd").read_bytes()
    assert json.loads((stored / "tt05.json").read_text(encoding="utf-8"))["hoso"]["fileCode"] == "H40.2024.01-VP"
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    assert shown["title"] == "Hồ sơ về việc khánh thành cầu Cửa Hội"
    assert shown["bag_info"]["maintenance"] == "01" and shown["bag_info"]["confidenceLevel"] == "03"
    listed = json.loads(run_kho("transfer", "list", "--json", check=True).stdout.splitlines()[0])
    assert listed["aip_id"] == aip_id and listed["maintenance"] == "01"


def test_tt02_metadata_is_converted_and_the_conversion_recorded(kho_home: Path) -> None:
    out = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "tt02-hoso"), "--json", check=True).stdout)
    shown = json.loads(run_kho("aip", "show", str(out["aip_id"]), "--json", check=True).stdout)
    conversions = [e for e in shown["events"] if e["type"] == "metadata modification"]
    assert len(conversions) == 1 and "TT 02/2019" in conversions[0]["detail"]
    tt05_json = stored_file(kho_home / "storage", str(out["aip_id"]), "metadata/descriptive/tt05.json")
    assert json.loads(tt05_json.read_text(encoding="utf-8"))["hoso"]["maintenance"] == "01"


def test_invalid_tt05_metadata_rejects_the_sip_naming_the_field(kho_home: Path) -> None:
    result = run_kho("ingest", str(FIXTURE_SIPS / "tt05-bad-code"), "--json")
    assert result.returncode == 1
    reason = json.loads(result.stdout)["reason"]
    assert 'maintenance (Thời hạn lưu trữ): "8" không thuộc danh mục 01–07 / not in code list 01–07' in reason
    assert not (kho_home / "storage").exists() or not any((kho_home / "storage").iterdir())

"""E-ARK SIPs are ingested beside BagIt ones: detected by themselves, folder or ZIP, failures by requirement id."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

from lxml import etree

from tests.conftest import FIXTURE_SIPS, run_kho
from tests.helpers import mets_schema
from tests.stored import stored_aip

EARK_SIP = FIXTURE_SIPS / "eark-hoso-2025-001"


def test_eark_folder_is_detected_validated_and_ingested(kho_home: Path) -> None:
    valid = run_kho("sip", "validate", str(EARK_SIP))
    assert valid.returncode == 0, valid.stderr
    assert "E-ARK" in valid.stdout
    out = json.loads(run_kho("ingest", str(EARK_SIP), "--json", check=True).stdout)
    assert out["status"] == "stored" and out["files"] == 3
    aip_id = str(out["aip_id"])
    stored = stored_aip(kho_home / "storage", aip_id, kho_home / "head")
    assert (stored / "representations/rep1/data/Quyết định 123-QĐ-UBND.pdf").is_file()
    assert (stored / "metadata/other/METS.xml").is_file(), "the SIP's own METS is kept"
    schema = mets_schema()
    assert schema.validate(etree.parse(str(stored / "METS.xml")))
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    assert shown["title"] == "Hồ sơ về việc khánh thành cầu Cửa Hội (E-ARK)"
    validation = next(e for e in shown["events"] if e["type"] == "validation")
    assert validation["outcome"] == "warning" and "E-ARK SIP" in validation["detail"]
    # The fixture leaves out the empty Documentation and Schemas groups and divisions CSIP 2.2 asks for; a received
    # package is let through such a MUST breach with a warning the archivist sees (packages.eark, STRICT_ONLY).
    assert set(re.findall(r"; (\w+): ", validation["outcome_detail"])) == {"CSIP60", "CSIP113", "CSIP95", "CSIP99"}
    uses = {g.get("USE") for g in etree.parse(str(stored / "METS.xml")).iter("{http://www.loc.gov/METS/}fileGrp")}
    assert "Representations/rep1" in uses and "Representations/rep-01" not in uses, "the SIP's folder name (CSIP64)"
    originals = [f for f in shown["files"] if f["role"] == "original"]
    assert {f["representation"] for f in originals} == {"rep1"}, "the catalog names it as the METS does"


def test_zipped_eark_package_is_ingested(kho_home: Path, tmp_path: Path) -> None:
    archive = tmp_path / "eark-hoso-2025-001.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(EARK_SIP.rglob("*")):
            handle.write(path, f"eark-hoso-2025-001/{path.relative_to(EARK_SIP).as_posix()}")
    assert run_kho("sip", "validate", str(archive)).returncode == 0
    out = json.loads(run_kho("ingest", str(archive), "--json", check=True).stdout)
    assert out["status"] == "stored" and out["files"] == 3


def test_invalid_eark_package_is_rejected_with_requirement_ids(kho_home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "eark-hoso-2025-001"
    shutil.copytree(EARK_SIP, broken)
    (broken / "representations/rep1/data/Ghi chú.txt").write_text("đã bị sửa", encoding="utf-8")
    mets = broken / "METS.xml"
    mets.write_text(mets.read_text(encoding="utf-8").replace(' OBJID="eark-hoso-2025-001"', ""), encoding="utf-8")
    checked = run_kho("sip", "validate", "--profile", "eark", str(broken))
    assert checked.returncode == 1
    lines = checked.stderr.splitlines()
    assert any(line.startswith("CSIP1: ") for line in lines)
    result = run_kho("ingest", str(broken), "--json")
    assert result.returncode == 1
    report = json.loads((kho_home / "failed" / "eark-hoso-2025-001" / "report.json").read_text(encoding="utf-8"))
    assert {f["requirement"] for f in report["failures"]} >= {"CSIP1"}


def test_zip_with_path_traversal_is_rejected_and_nothing_escapes(kho_home: Path, tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(EARK_SIP / "METS.xml", "evil/METS.xml")
        handle.writestr("evil/../../escaped.txt", "x")
    result = run_kho("ingest", str(archive), "--json")
    assert result.returncode == 1
    assert not (tmp_path.parent / "escaped.txt").exists() and not (kho_home.parent / "escaped.txt").exists()
    assert "KHO-ZIP" in result.stdout + result.stderr

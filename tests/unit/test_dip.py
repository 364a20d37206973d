"""preservation/dip.py: dissemination packages within the requester's rights, never a bad copy.

A reader asking for a restricted dossier gets none of its files and learns no file's name; an archivist gets
every file, each verified against the catalog's SHA-256; a copy that does not verify is never delivered; a
DIP that cannot be made leaves nothing behind. The AIPs are ingested in-process (tests/unit/conftest.py).
"""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from preservation.catalog import Catalog
from preservation.dip import DipError, DipResult, build_dip
from tests.conftest import FIXTURE_SIPS
from tests.helpers import Ingest, mets_schema
from tests.stored import stored_file

M = "{http://www.loc.gov/METS/}"
SIP = FIXTURE_SIPS / "hoso-2023-sotnmt-02"  # restricted (mode 02); Contact-Name: Trần Thị Bình
NAMES = ("Công văn 56-STNMT", "Ghi chú", "Sơ đồ khu mỏ")
PDF = "representations/rep-01/data/Công văn 56-STNMT.pdf"


def every_text(result_dir: Path, zip_path: Path) -> str:
    """Everything a requester receives: each file of the DIP folder and the zip's entry names."""
    texts = [p.read_bytes().decode("utf-8", "replace") for p in result_dir.rglob("*") if p.is_file()]
    with zipfile.ZipFile(zip_path) as archive:
        texts.extend(archive.namelist())
    return "\n".join(texts)


def dip(catalog: Catalog, aip_id: str, role: str, out: Path, **kwargs: Any) -> DipResult:
    return build_dip(catalog, aip_id, requester="Nguyễn Thị Mai", role=role, purpose="01 nghiên cứu",
                     out_dir=out, **kwargs)


def test_a_reader_gets_nothing_of_a_restricted_dossier_and_learns_no_name(
    ingest: Ingest, catalog: Catalog, tmp_path: Path
) -> None:
    aip_id = ingest()
    result = dip(catalog, aip_id, "reader", tmp_path / "dips")
    assert result.delivered == [] and result.withheld_count == 3
    received = every_text(result.directory, result.zip_path) + json.dumps(result.to_dict(), ensure_ascii=False)
    for name in NAMES:
        assert name not in received, f"a withheld file's name ({name}) reached the requester"
    assert "Trần Thị Bình" not in received, "no personal data for a reader"
    with zipfile.ZipFile(result.zip_path) as archive:
        assert not [n for n in archive.namelist() if "/representations/" in n]
    withheld = list(csv.reader((result.directory / "withheld.csv").open(encoding="utf-8")))
    assert withheld[0] == ["withheld_files", "note"] and withheld[1][0] == "3"
    [event] = [e for e in catalog.events(aip_id) if e.event_type == "dissemination"]
    originals = {f.id for f in catalog.files(aip_id) if f.role == "original"}
    assert "0 files delivered, 3 withheld" in event.outcome_detail
    assert all(i in event.outcome_detail for i in originals), "withheld files named by object id in PREMIS"
    assert not any(name in event.outcome_detail for name in NAMES)


def test_an_archivist_gets_every_file_verified_in_a_valid_dip(
    ingest: Ingest, catalog: Catalog, tmp_path: Path
) -> None:
    aip_id = ingest()
    result = dip(catalog, aip_id, "archivist", tmp_path / "dips", request_id="YC-2025-01")
    assert result.withheld_count == 0 and not (result.directory / "withheld.csv").exists()
    delivered = {Path(d["path"]).stem: result.directory / d["path"] for d in result.delivered}
    assert set(delivered) == set(NAMES)
    for path in delivered.values():  # byte for byte what the agency submitted
        assert path.read_bytes() == (SIP / "data" / path.name).read_bytes()
    catalog_sha = {f.sha256 for f in catalog.files(aip_id) if f.role == "original"}
    assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in delivered.values()} == catalog_sha

    mets = etree.parse(str(result.directory / "METS.xml"))
    assert mets_schema().validate(mets), [str(e) for e in mets_schema().error_log][:5]
    header = mets.getroot().find(f"{M}metsHdr")
    assert header.findtext(f"{M}altRecordID[@TYPE='AIP']") == f"urn:uuid:{aip_id}"
    assert header.findtext(f"{M}altRecordID[@TYPE='requestID']") == "YC-2025-01"
    assert header.get("{https://DILCIS.eu/XML/METS/CSIPExtensionMETS}OAISPACKAGETYPE") == "DIP"
    with zipfile.ZipFile(result.zip_path) as archive:
        names = set(archive.namelist())
    on_disk = {f"{result.directory.name}/{p.relative_to(result.directory).as_posix()}"
               for p in result.directory.rglob("*") if p.is_file()}
    assert names == on_disk
    for path in [result.zip_path, *delivered.values()]:
        assert path.stat().st_mode & 0o777 == 0o640, f"{path}: only the owner and group read a DIP"
    assert result.directory.stat().st_mode & 0o777 == 0o750
    metadata = (result.directory / "metadata.csv").read_text(encoding="utf-8")
    assert "Trần Thị Bình" in metadata, "an archivist reads the contact person"


def test_a_public_dossier_for_a_reader_without_personal_data_or_formulas(
    ingest: Ingest, catalog: Catalog, tmp_path: Path
) -> None:
    aip_id = ingest(mode="01", Note="=HYPERLINK(\"http://x\",\"bấm\")")
    result = dip(catalog, aip_id, "reader", tmp_path / "dips", files=["data/Ghi chú.txt"])
    assert [Path(d["path"]).name for d in result.delivered] == ["Ghi chú.txt"], "only the file asked for"
    assert result.withheld_count == 0
    rows = list(csv.DictReader((result.directory / "metadata.csv").open(encoding="utf-8")))
    assert "Contact-Name" not in rows[0] and rows[0]["Note"].startswith("'="), "never run as a formula"
    assert "Trần Thị Bình" not in every_text(result.directory, result.zip_path)


def test_unknown_aips_and_files_are_refused(ingest: Ingest, catalog: Catalog, tmp_path: Path) -> None:
    aip_id = ingest()
    with pytest.raises(DipError, match="not found"):
        dip(catalog, "00000000-0000-0000-0000-000000000000", "administrator", tmp_path / "dips")
    with pytest.raises(DipError, match=r"data/không có\.pdf"):
        dip(catalog, aip_id, "administrator", tmp_path / "dips", files=["data/không có.pdf"])
    with pytest.raises(ValueError, match="unknown role"):
        dip(catalog, aip_id, "guest", tmp_path / "dips")


def test_a_bad_copy_is_never_delivered(
    kho_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Two locations: the first copy of the PDF has one flipped byte; the DIP takes the second's, and the
    audit the DIP starts repairs the first."""
    a, b = kho_home / "storage-a", kho_home / "storage-b"
    monkeypatch.setenv("KHO_STORAGE", f"{a.as_uri()},{b.as_uri()}")
    catalog: Catalog = request.getfixturevalue("catalog")  # its settings read now, with both locations
    aip_id = request.getfixturevalue("ingest")()
    good = stored_file(a, aip_id, PDF).read_bytes()
    damaged = bytearray(good)
    damaged[100] ^= 0x01
    stored_file(a, aip_id, PDF).write_bytes(bytes(damaged))
    result = dip(catalog, aip_id, "administrator", tmp_path / "dips")
    pdf = next(d for d in result.delivered if d["original"] == PDF)
    assert (result.directory / pdf["path"]).read_bytes() == good
    assert pdf["fetched_from"] == b.as_uri() and result.repaired
    assert stored_file(a, aip_id, PDF).read_bytes() == good, "the bad copy was repaired"


@pytest.mark.storage_left_damaged("the only copy of the PDF is damaged on purpose")
def test_no_verified_copy_no_dip_and_nothing_left_behind(
    ingest: Ingest, catalog: Catalog, kho_home: Path, tmp_path: Path
) -> None:
    aip_id = ingest()
    path = stored_file(kho_home / "storage", aip_id, PDF)
    path.write_bytes(path.read_bytes()[:-1])
    out = tmp_path / "dips"
    with pytest.raises(DipError):
        dip(catalog, aip_id, "administrator", out)
    assert list(out.iterdir()) == [], "no half-made DIP folder or zip"
    assert not [e for e in catalog.events(aip_id) if e.event_type == "dissemination"]
    assert [c.status for c in catalog.copies(aip_id)] == ["damaged"], "the audit it started recorded the damage"

"""End to end through the CLI on the real sample SIPs: the AIP, its METS/PREMIS, storage, catalog."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest
from lxml import etree

from preservation.catalog import Catalog, event_hash
from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.helpers import mets_schema, premis_schema
from tests.reference.ocfl import assert_valid_ocfl
from tests.stored import stored_aip, stored_file


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def schemas() -> dict[str, etree.XMLSchema]:
    return {
        "mets": mets_schema(),
        "premis": premis_schema(),
    }


def ingest(sip: Path, *extra: str) -> dict[str, object]:
    result = run_kho("ingest", str(sip), "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_ingest_stores_a_verified_eark_aip(
    kho_home: Path, schemas: dict[str, etree.XMLSchema], tmp_path: Path
) -> None:
    sip = FIXTURE_SIPS / "hoso-2024-ubnd-01"
    before = tree_digest(sip)
    out = ingest(sip)
    assert out["status"] == "stored" and out["files"] == 6
    assert out["locations"] == [(kho_home / "storage").as_uri()]
    aip_id = str(out["aip_id"])
    assert tree_digest(sip) == before, "kho ingest must never change the SIP"

    assert_valid_ocfl(kho_home / "storage")  # the independent validator, on the whole storage root
    stored = stored_aip(kho_home / "storage", aip_id, tmp_path / "head")
    for relpath in ("METS.xml", "metadata/descriptive/dc.xml", "metadata/preservation/premis.xml",
                    "metadata/other/bag-info.txt", "metadata/other/manifest-sha256.txt",
                    "representations/rep-01/data/ảnh/Lễ khánh thành.jpg"):
        assert (stored / relpath).is_file(), relpath
    # originals are byte-identical to the SIP payload
    for relpath, digest in before.items():
        if relpath.startswith("data/"):
            assert hashlib.sha256((stored / "representations/rep-01" / relpath).read_bytes()).hexdigest() == digest

    mets = etree.parse(str(stored / "METS.xml"))
    assert schemas["mets"].validate(mets), schemas["mets"].error_log
    premis_doc = etree.parse(str(stored / "metadata/preservation/premis.xml"))
    assert schemas["premis"].validate(premis_doc), schemas["premis"].error_log

    ns = {"m": "http://www.loc.gov/METS/", "x": "http://www.w3.org/1999/xlink"}
    assert mets.getroot().get("OBJID") == f"urn:uuid:{aip_id}"
    listed = {f.find("m:FLocat", ns).get("{http://www.w3.org/1999/xlink}href"): f.get("CHECKSUM")
              for f in mets.iterfind(".//m:fileSec//m:file", ns)}
    on_disk = {p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file()} - {"METS.xml"}
    assert set(listed) == on_disk, "METS lists every file of the AIP but itself"
    for href, checksum in listed.items():
        assert hashlib.sha256((stored / href).read_bytes()).hexdigest() == checksum

    # the stored AIP is itself a valid E-ARK CSIP/AIP package (Thông tư 05/2025)
    from packages.eark import validate_eark

    eark_report = validate_eark(stored)
    assert eark_report.valid, [f.text for f in eark_report.failures]
    assert eark_report.kind == "AIP"
    # the CSIP structMap points at every file of the fileSec
    file_ids = [f.get("ID") for f in mets.iterfind(".//m:fileSec//m:file", ns)]
    pointers = [p.get("FILEID") for p in mets.iterfind(".//m:structMap[@TYPE='PHYSICAL']//m:fptr", ns)]
    assert sorted(p for p in pointers if not p.startswith("grp-")) == sorted(file_ids)


def test_catalog_rows_and_cli_views(kho_home: Path) -> None:
    aip_id = str(ingest(FIXTURE_SIPS / "hoso-2024-ubnd-01")["aip_id"])
    listing = json_lines(run_kho("aip", "list", "--json", check=True).stdout)
    assert [row["aip_id"] for row in listing] == [aip_id]
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    originals = {f["path"]: f for f in shown["files"] if f["role"] == "original"}
    assert originals["representations/rep-01/data/Quyết định 123-QĐ-UBND.pdf"]["puid"] == "fmt/18"
    assert originals["representations/rep-01/data/Tờ trình.docx"]["puid"] == "fmt/412"
    assert originals["representations/rep-01/data/ảnh/Lễ khánh thành.jpg"]["mime"] == "image/jpeg"
    assert originals["representations/rep-01/data/ảnh/Bản đồ.tif"]["puid"] == "fmt/353"
    assert shown["locations"][0]["status"] == "verified"
    types = [e["type"] for e in shown["events"]]
    for expected in ("ingestion start", "validation", "virus check", "format identification",
                     "message digest calculation", "information package creation", "replication",
                     "fixity check", "ingestion end"):
        assert expected in types
    assert types[0] == "ingestion start" and types[-1] == "ingestion end"
    assert run_kho("aip", "show", "no-such-aip").returncode == 1


def test_event_chain_is_intact(kho_home: Path) -> None:
    aip_id = str(ingest(FIXTURE_SIPS / "hoso-2024-ubnd-01")["aip_id"])
    catalog = Catalog(f"sqlite:///{kho_home / 'catalog.sqlite'}")
    events = catalog.events(aip_id)
    previous = "0" * 64
    for event in events:
        fields = {c: getattr(event, c) for c in ("id", "aip_id", "object_ids", "event_type", "event_datetime",
                                                 "detail", "outcome", "outcome_detail", "agents")}
        assert event.prev_hash == previous
        assert event.hash == event_hash(fields, previous)
        previous = event.hash


def test_events_export_premis_json_csv(kho_home: Path, tmp_path: Path,
                                       schemas: dict[str, etree.XMLSchema]) -> None:
    aip_id = str(ingest(FIXTURE_SIPS / "hoso-2023-sotnmt-02")["aip_id"])
    target = tmp_path / "events.xml"
    run_kho("events", "export", aip_id, "--format", "premis", "-o", str(target), check=True)
    document = etree.parse(str(target))
    assert schemas["premis"].validate(document), schemas["premis"].error_log
    ns = {"p": "http://www.loc.gov/premis/v3"}
    assert len(document.findall(".//p:event", ns)) >= 10
    assert document.findall(".//p:agent", ns)
    as_json = json_lines(run_kho("events", "export", aip_id, "--format", "json", check=True).stdout)
    assert {e["aip_id"] for e in as_json} == {aip_id}
    as_csv = list(csv.DictReader(io.StringIO(run_kho("events", "export", aip_id, "--format", "csv",
                                                     check=True).stdout)))
    assert len(as_csv) == len(as_json)
    assert as_csv[0]["event_type"] == "ingestion start"


def test_rejected_sip_goes_to_failed_with_report_and_nothing_stored(kho_home: Path) -> None:
    result = run_kho("ingest", str(FIXTURE_SIPS / "bad-checksum"), "--json")
    assert result.returncode == 1
    out = json.loads(result.stdout)
    assert out["status"] == "rejected" and "checksum" in out["reason"]
    failed = kho_home / "failed" / "bad-checksum"
    report = json.loads((failed / "report.json").read_text(encoding="utf-8"))
    assert report["valid"] is False and report["problems"][0]["code"] == "checksum-mismatch"
    reason = (failed / "REASON.txt").read_text(encoding="utf-8")
    assert "checksum mismatch" in reason and "sai giá trị băm" in reason
    assert (failed / "sip" / "bagit.txt").is_file()
    assert not any((kho_home / "storage").rglob("*")) if (kho_home / "storage").exists() else True
    assert json_lines(run_kho("aip", "list", "--json").stdout) == []
    events = json_lines(run_kho("events", "export", out["aip_id"], "--format", "json", check=True).stdout)
    assert [e["outcome"] for e in events if e["event_type"] == "validation"] == ["failure"]
    assert list((kho_home / "workspaces").iterdir()) == []


def test_duplicate_submission_refused_or_new_version(kho_home: Path) -> None:
    first = ingest(FIXTURE_SIPS / "hoso-2023-sotnmt-02")
    again = run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json")
    assert again.returncode == 1
    assert "duplicate" in json.loads(again.stdout)["reason"] and str(first["aip_id"]) in again.stdout
    version = run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json",
                      env={"KHO_DUPLICATES": "new-version"})
    assert version.returncode == 0, version.stderr
    new_id = json.loads(version.stdout)["aip_id"]
    shown = json.loads(run_kho("aip", "show", new_id, "--json", check=True).stdout)
    assert shown["previous_version"] == first["aip_id"]


def test_two_homes_never_mix(tmp_path: Path) -> None:
    one, two = {"KHO_HOME": str(tmp_path / "one")}, {"KHO_HOME": str(tmp_path / "two")}
    run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), env=one, check=True)
    assert json_lines(run_kho("aip", "list", "--json", env=two).stdout) == []
    assert len(json_lines(run_kho("aip", "list", "--json", env=one).stdout)) == 1


def test_sha512_when_configured(kho_home: Path) -> None:
    out = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json",
                             env={"KHO_DIGESTS": "sha256,sha512"}, check=True).stdout)
    premis_xml = stored_file(kho_home / "storage", str(out["aip_id"]), "metadata/preservation/premis.xml").read_text()
    document = etree.fromstring(premis_xml.encode())
    ns = {"p": "http://www.loc.gov/premis/v3"}
    files = document.xpath("//p:object[@xsi:type='premis:file']",
                           namespaces={**ns, "xsi": "http://www.w3.org/2001/XMLSchema-instance"})
    assert len(files) >= 3
    for obj in files:
        assert obj.xpath("count(.//p:messageDigestAlgorithm[.='SHA-512'])", namespaces=ns) == 1


def test_identify_command_json(tmp_path: Path) -> None:
    lines = json_lines(run_kho("identify", str(FIXTURE_SIPS / "hoso-2024-ubnd-01" / "data"), "--json",
                               check=True).stdout)
    by_name = {Path(str(row["path"])).name: row for row in lines}
    assert by_name["Quyết định 123-QĐ-UBND.pdf"]["puid"] == "fmt/18"
    assert by_name["Quyết định 123-QĐ-UBND.pdf"]["method"] == "signature"
    assert by_name["Tờ trình.docx"]["method"] == "container"
    assert by_name["Ghi chú.txt"]["puid"] == "x-fmt/111"
    assert run_kho("identify", str(tmp_path / "missing")).returncode == 1


def test_failed_copy_is_independent_of_the_submitted_files(kho_home: Path, tmp_path: Path) -> None:
    import shutil

    sip = tmp_path / "bad-checksum"
    shutil.copytree(FIXTURE_SIPS / "bad-checksum", sip)
    assert run_kho("ingest", str(sip)).returncode == 1
    failed_file = kho_home / "failed" / "bad-checksum" / "sip" / "data" / "Ghi chú.txt"
    original = (sip / "data" / "Ghi chú.txt").read_bytes()
    with open(failed_file, "r+b") as handle:  # an archivist fixing the failed copy in place
        handle.write(b"X")
    assert (sip / "data" / "Ghi chú.txt").read_bytes() == original

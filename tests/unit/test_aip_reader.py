"""packages/aip_reader.py: a package's metadata read back as ``packages.aip_builder`` wrote it.

What matters: whatever the builder writes (files with their checksums, sizes, formats and derivations;
events; agents; the SIP's description) comes back equal, from ``premis.xml`` or from the PREMIS embedded in
METS, so that the catalog rebuild (the one reader that must get it right, decision 0018) describes an AIP as
ingest did. A METS Kho did not write (the E-ARK corpus) is read too, and hostile XML is never expanded.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from packages import agents, premis
from packages import aip as layout
from packages.access import ACCESS_RULES_FILE, AccessRule
from packages.aip_builder import PackageMetadata, describe_file, write_package_metadata
from packages.aip_reader import read_package, read_package_dir
from tests.conftest import CORPORA

AIP_ID = "5d1c1f3e-3f7a-4b7e-9a43-0c1f3c2b9a10"
CREATED = "2025-06-01T09:00:00+07:00"
ORIGINAL = "representations/rep-01/data/Quyết định số 1.tif"
DERIVATIVE = "representations/rep-02/data/Quyết định số 1.pdf"
BAG_INFO = "Source-Organization: UBND tỉnh Hà Tĩnh\ntitle: Hồ sơ khánh thành cầu\nkeyword: cầu\nkeyword: giao thông\n"
EARK_MINIMAL = CORPORA / "eark-sample" / "corpus/CSIP/CSIP1/valid/minimal_IP_with_1_representation"


def _object(root: Path, path: str, **extra: Any) -> dict[str, Any]:
    data = (root / path).read_bytes()
    return {"id": str(uuid.uuid5(uuid.UUID(AIP_ID), path)), "aip_path": path, "representation": "rep-01",
            "size": len(data), "digests": {"sha256": hashlib.sha256(data).hexdigest(),
                                           "sha512": hashlib.sha512(data).hexdigest()},
            "original_name": path, **extra}


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, list[dict[str, Any]], list[dict[str, Any]], list[dict[str, str]]]:
    """An AIP's metadata as ingest writes it: an original TIFF, its PDF/A preservation copy, events, agents."""
    root = tmp_path / "aip"
    for path, data in ((ORIGINAL, b"II*\x00 tiff"), (DERIVATIVE, b"%PDF-1.7\n% pdf/a\n")):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    other = root / layout.OTHER_DIR
    other.mkdir(parents=True)
    (other / "bag-info.txt").write_text(BAG_INFO, encoding="utf-8")
    (other / ACCESS_RULES_FILE).write_text("path,mode,embargo_until,basis\ndata/Quyết định số 1.tif,02,,Điều 5\n",
                                           encoding="utf-8")
    layout.write_dublin_core(root / layout.DC_PATH, AIP_ID, {"title": "Hồ sơ khánh thành cầu", "keyword": "cầu"})
    original = _object(root, ORIGINAL, original_name="data/Quyết định số 1.tif", mime="image/tiff",
                       puid="fmt/353", format_name="Tagged Image File Format", format_version="6.0")
    derivative = _object(root, DERIVATIVE, representation="rep-02", mime="application/pdf", puid="fmt/480",
                         format_name="PDF/A", format_version="2b", source_id=original["id"])
    objects = [original, derivative]
    kho, tool = agents.kho(), agents.tool("LibreOffice", "7.6")
    events = [
        premis.new_event("ingestion start", "success", aip_id=AIP_ID, object_ids=[AIP_ID],
                         agents=[agents.link(kho, "executing program")], detail="SIP received"),
        premis.new_event("normalization", "success", aip_id=AIP_ID, object_ids=[original["id"], derivative["id"]],
                         object_roles=["source", "outcome"], agents=[agents.link(tool, "executing program")],
                         detail="TIFF → PDF/A", outcome_detail="1 copy made"),
    ]
    agent_rows = [kho, tool, agents.organization("Trung tâm Lưu trữ tỉnh")]
    write_package_metadata(
        PackageMetadata(
            aip_id=AIP_ID, sip_name="HS-2024-01", label="Hồ sơ khánh thành cầu", organization="Trung tâm Lưu trữ tỉnh",
            created=CREATED, objects=lambda: objects, events=lambda: events, agents=agent_rows,
            descriptive=describe_file(root, layout.DC_PATH, "text/xml"),
            describe_premis=lambda _path: describe_file(root, layout.PREMIS_PATH, "text/xml"),
            file_created=lambda _obj: CREATED,
            other_metadata=[describe_file(root, f"{layout.OTHER_DIR}/bag-info.txt", "text/plain")],
            technical={f"file-{original['id']}": {"status": "valid", "validator": "jpylyzer", "tool_version": "2.2",
                                                  "messages": [{"severity": "info", "text": "well-formed"}]}},
            alt_record_ids={"arcFileCode": "H40.2024.01-VP"},
        ),
        premis_path=root / layout.PREMIS_PATH, mets_path=root / layout.METS_NAME,
    )
    return root, objects, events, agent_rows


def test_what_the_builder_writes_comes_back_equal(built: Any) -> None:
    root, objects, events, agent_rows = built
    package = read_package_dir(root)

    assert (package.objid, package.label, package.package_type, package.record_status, package.created) == (
        f"urn:uuid:{AIP_ID}", "Hồ sơ khánh thành cầu", "AIP", "NEW", CREATED)
    assert package.organization == "Trung tâm Lưu trữ tỉnh"
    assert package.software == f"Kho {agents.KHO_VERSION}"
    assert package.alt_record_ids == {"arcFileCode": "H40.2024.01-VP"}
    assert (package.entity_id, package.sip_name, package.premis_source) == (AIP_ID, "HS-2024-01", "file")

    assert [(f.id, f.path, f.sha256, f.size, f.mime, f.puid, f.format_name, f.format_version, f.original_name,
             f.source_id, f.representation, f.role, f.created) for f in package.files] == [
        (o["id"], o["aip_path"], o["digests"]["sha256"], o["size"], o["mime"], o["puid"], o["format_name"],
         o["format_version"], o["original_name"], o.get("source_id"), o["representation"],
         "derivative" if o.get("source_id") else "original", CREATED) for o in objects]
    assert package.objects[objects[1]["id"]].digests == objects[1]["digests"]
    verdict = package.files[0].validation
    assert verdict is not None
    assert (verdict.status, verdict.validator, verdict.tool_version, verdict.messages) == (
        "valid", "jpylyzer", "2.2", (("info", "well-formed"),))
    assert package.files[1].validation is None
    assert [f.path for f in package.originals()] == [ORIGINAL]

    assert [e.record(AIP_ID) for e in package.events] == events
    assert [a.record() for a in package.agents] == agent_rows

    assert {f.href for f in package.metadata_files} == {
        layout.DC_PATH, layout.PREMIS_PATH, f"{layout.OTHER_DIR}/bag-info.txt"}
    for listed in package.metadata_files:  # what METS says of each is what is on disk
        data = (root / listed.href).read_bytes()
        assert (listed.size, listed.sha256) == (len(data), hashlib.sha256(data).hexdigest())

    assert package.bag_info == {"Source-Organization": "UBND tỉnh Hà Tĩnh", "title": "Hồ sơ khánh thành cầu",
                                "keyword": "cầu; giao thông"}
    assert package.dublin_core["title"] == ["Hồ sơ khánh thành cầu"]
    assert package.dublin_core["identifier"] == [f"urn:uuid:{AIP_ID}"]
    assert package.access_rules == {"data/Quyết định số 1.tif": AccessRule("restricted", None, "Điều 5")}


def test_the_premis_embedded_in_mets_is_read_when_premis_xml_is_not_given(built: Any) -> None:
    root, _objects, events, agent_rows = built
    from_file = read_package_dir(root)
    embedded = read_package(root / layout.METS_NAME)
    assert embedded.premis_source == "embedded"
    assert embedded.files == from_file.files
    assert [e.record(AIP_ID) for e in embedded.events] == events
    assert [a.record() for a in embedded.agents] == agent_rows
    assert embedded.bag_info == {} and embedded.access_rules == {}  # only what was asked for is read


def test_a_package_without_premis_is_described_from_mets_alone(built: Any) -> None:
    root, objects, _events, _agents = built
    (root / layout.METS_NAME).write_bytes((root / layout.METS_NAME).read_bytes().replace(
        b'MDTYPE="PREMIS" MDTYPEVERSION="3.0"', b'MDTYPE="OTHER" MDTYPEVERSION="3.0"'))
    package = read_package(root / layout.METS_NAME)
    assert package.premis_source is None and package.events == [] and package.sip_name is None
    assert [(f.path, f.size, f.sha256, f.original_name, f.role) for f in package.files] == [
        (o["aip_path"], o["size"], o["digests"]["sha256"], None, "original") for o in objects]


@pytest.mark.skipif(not (EARK_MINIMAL / "METS.xml").is_file(), reason="E-ARK sample corpus not present")
def test_a_mets_kho_did_not_write_is_read() -> None:
    package = read_package_dir(EARK_MINIMAL)
    assert (package.objid, package.package_type, package.software) == (
        "minimal_IP_with_1_representation", "SIP", "E-ARK Corpus Team 1.0")
    assert [(f.path, f.representation, f.size, f.mime, f.role) for f in package.files] == [
        ("representations/rep1/data/plain_text_document.txt", "rep1", 12, "text/plain", "original")]
    listed = package.files[0].listed
    assert (listed.checksum_type, listed.checksum, listed.sha256) == ("MD5", "a9308bde501cfd1d91ce4e5e861c8971", None)
    assert {f.group for f in package.metadata_files} == {"Documentation", "Schemas"}
    assert package.premis_source is None and package.events == []


def test_entities_are_never_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the archive's secret")
    mets = tmp_path / "METS.xml"
    mets.write_text(f"""<?xml version="1.0"?>
<!DOCTYPE mets [<!ENTITY leak SYSTEM "{secret.as_uri()}"><!ENTITY lol "lol">]>
<mets xmlns="http://www.loc.gov/METS/" OBJID="x"><metsHdr CREATEDATE="2025-01-01T00:00:00">
<agent ROLE="PRESERVATION" TYPE="ORGANIZATION"><name>&leak;&lol;</name></agent></metsHdr></mets>""")
    package = read_package(mets)
    assert "secret" not in (package.organization or "") and "lol" not in (package.organization or "")

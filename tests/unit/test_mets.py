"""packages/mets.py: the one METS writer of AIPs, hand-over SIPs and DIPs.

What matters to whoever reads the package in fifty years: the METS is valid METS 1.12.1 (with the PREMIS it
embeds), it follows the E-ARK CSIP structure (file groups, structMap divisions), and every file it lists is
there with the size and SHA-256 it states. Validated against the repo's copy of the schemas, offline.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from packages import agents, premis
from packages.eark import validate_eark
from packages.mets import (
    AIP_PROFILE,
    DIP_PROFILE,
    SIP_PROFILE,
    MetsFile,
    representation_files,
    representation_of,
    write_aip_mets,
    xml_id,
)
from tests.helpers import mets_schema

M = "{http://www.loc.gov/METS/}"
XLINK = "{http://www.w3.org/1999/xlink}"
CSIP = "{https://DILCIS.eu/XML/METS/CSIPExtensionMETS}"
CREATED = "2025-06-01T09:00:00+07:00"
AIP_ID = "5d1c1f3e-3f7a-4b7e-9a43-0c1f3c2b9a10"

FILES = {  # a tiny package: metadata, documentation, a schema, two representations (one with a Vietnamese name)
    "metadata/descriptive/dc.xml": '<dc xmlns="http://purl.org/dc/elements/1.1/"><title>Hồ sơ</title></dc>'.encode(),
    "metadata/preservation/premis.xml": b'<premis xmlns="http://www.loc.gov/premis/v3" version="3.0"/>',
    "documentation/Hướng dẫn.txt": "Hướng dẫn.\n".encode(),
    "schemas/tt05.xsd": b"<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'/>",
    "representations/rep-01/data/Quyết định số 1.pdf": b"%PDF-1.4\n% original\n",
    "representations/rep-01/data/ảnh/Lễ.jpg": b"\xff\xd8\xff\xe0 jpeg",
    "representations/Bản sao/data/Quyết định số 1.pdf": b"%PDF-1.4\n% copy\n",
}


def described(root: Path, href: str, mime: str = "application/octet-stream", admid: str | None = None) -> MetsFile:
    data = (root / href).read_bytes()
    return MetsFile(file_id=xml_id("file", hashlib.sha256(href.encode()).hexdigest()[:16]), href=href,
                    size=len(data), sha256=hashlib.sha256(data).hexdigest(), mime=mime, created=CREATED, admid=admid)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    for href, data in FILES.items():
        (root / href).parent.mkdir(parents=True, exist_ok=True)
        (root / href).write_bytes(data)
    return root


def write(root: Path, *, package_type: str = "AIP", record_status: str = "NEW", with_premis: bool = True,
          organization: str | None = "Trung tâm Lưu trữ tỉnh", representations: Any = None,
          technical: dict[str, dict[str, Any]] | None = None) -> etree._ElementTree:
    """The package's METS.xml as Kho writes it, parsed back."""
    content = [href for href in FILES if href.startswith("representations/")]
    if representations is None:
        groups: dict[str, list[MetsFile]] = {}
        for href in content:
            item = described(root, href)
            admid = f"tech-{item.file_id}" if technical and item.file_id in technical else None
            groups.setdefault(representation_of(href, "rep-01"), []).append(described(root, href, admid=admid))
        representations = sorted(groups.items())
    event = premis.new_event("ingestion start", "success", aip_id=AIP_ID, object_ids=[AIP_ID],
                             agents=[agents.link(agents.kho(), "executing program")], detail="SIP received")

    def embedded(xf: Any) -> None:
        premis.write_premis(xf, entity=premis.entity_element(AIP_ID, "Hồ sơ"), files=[], events=[event],
                            agents=[agents.kho()], schema_location=False)

    write_aip_mets(
        root / "METS.xml", aip_id=AIP_ID, label="Hồ sơ khánh thành cầu", created=CREATED, software_version="1.0",
        organization=organization, descriptive=described(root, "metadata/descriptive/dc.xml", "text/xml"),
        preservation=described(root, "metadata/preservation/premis.xml", "text/xml") if with_premis else None,
        write_embedded_premis=embedded if with_premis else None,
        other_metadata=[described(root, "documentation/Hướng dẫn.txt", "text/plain"),
                        described(root, "schemas/tt05.xsd", "text/xml")],
        representations=representations, record_status=record_status, package_type=package_type,
        alt_record_ids={"arcFileCode": "H40.2024.01-VP"}, technical=technical,
    )
    return etree.parse(str(root / "METS.xml"))


def groups(tree: etree._ElementTree) -> dict[str, list[etree._Element]]:
    return {g.get("USE"): g.findall(f"{M}file") for g in tree.iter(f"{M}fileGrp")}


def test_aip_mets_is_valid_mets_with_premis_and_lists_every_file_as_it_is(package: Path) -> None:
    tree = write(package)
    schema = mets_schema()
    assert schema.validate(tree), [str(e) for e in schema.error_log][:5]
    listed = {f.find(f"{M}FLocat").get(f"{XLINK}href"): f for f in tree.iter(f"{M}file")}
    assert set(listed) == set(FILES), "every file of the package, metadata included, is in the fileSec"
    for href, element in listed.items():  # what a reader checks the bytes against, decades later
        data = (package / href).read_bytes()
        assert element.get("SIZE") == str(len(data))
        assert (element.get("CHECKSUMTYPE"), element.get("CHECKSUM")) == ("SHA-256", hashlib.sha256(data).hexdigest())
    refs = {r.get(f"{XLINK}href"): r for r in tree.iter(f"{M}mdRef")}
    assert refs["metadata/descriptive/dc.xml"].get("MDTYPE") == "DC"
    assert refs["metadata/preservation/premis.xml"].get("MDTYPE") == "PREMIS"
    embedded = tree.find(f".//{M}digiprovMD[@ID='digiprov-premis-embedded']/{M}mdWrap")
    assert embedded.get("MDTYPE") == "PREMIS" and embedded.find(f"{M}xmlData")[0].tag.endswith("}premis")


def test_aip_mets_has_the_eark_csip_structure(package: Path) -> None:
    tree = write(package)
    mets = tree.getroot()
    assert mets.get("OBJID") == f"urn:uuid:{AIP_ID}" and mets.get("PROFILE") == AIP_PROFILE
    assert mets.get(f"{CSIP}CONTENTINFORMATIONTYPE") == "MIXED"
    header = mets.find(f"{M}metsHdr")
    assert header.get(f"{CSIP}OAISPACKAGETYPE") == "AIP" and header.get("RECORDSTATUS") == "NEW"
    assert header.get("LASTMODDATE") is None, "a package never modified has no LASTMODDATE (CSIP8)"
    roles = [(a.get("ROLE"), a.get("TYPE"), a.findtext(f"{M}name")) for a in header.findall(f"{M}agent")]
    assert roles == [("CREATOR", "OTHER", "Kho"), ("PRESERVATION", "ORGANIZATION", "Trung tâm Lưu trữ tỉnh")]
    assert header.findtext(f"{M}altRecordID[@TYPE='arcFileCode']") == "H40.2024.01-VP"

    by_use = groups(tree)
    assert list(by_use) == ["Metadata", "Documentation", "Schemas", "Representations/Bản sao",
                            "Representations/rep-01"]
    hrefs = {use: sorted(f.find(f"{M}FLocat").get(f"{XLINK}href") for f in files) for use, files in by_use.items()}
    assert hrefs["Documentation"] == ["documentation/Hướng dẫn.txt"] and hrefs["Schemas"] == ["schemas/tt05.xsd"]
    assert hrefs["Representations/rep-01"] == ["representations/rep-01/data/Quyết định số 1.pdf",
                                               "representations/rep-01/data/ảnh/Lễ.jpg"]
    assert hrefs["Representations/Bản sao"] == ["representations/Bản sao/data/Quyết định số 1.pdf"]

    struct = mets.find(f"{M}structMap")
    assert (struct.get("TYPE"), struct.get("LABEL")) == ("PHYSICAL", "CSIP")
    root_div = struct.find(f"{M}div")
    assert root_div.get("LABEL") == f"urn:uuid:{AIP_ID}"
    labels = [d.get("LABEL") for d in root_div.findall(f"{M}div")]
    assert labels == ["Metadata", "Metadata/files", "Documentation", "Schemas", "Representations"]
    metadata = root_div.find(f"{M}div[@LABEL='Metadata']")
    assert metadata.get("DMDID") == "dmd-dc"
    assert metadata.get("ADMID").split() == ["digiprov-premis-file", "digiprov-premis-embedded"]
    pointed = {p.get("FILEID") for p in struct.iter(f"{M}fptr")}
    every_file = {f.get("ID") for f in tree.iter(f"{M}file")}
    group_ids = {g.get("ID") for g in tree.iter(f"{M}fileGrp")} - {"grp-metadata"}
    assert every_file - {f.get("ID") for f in by_use["Documentation"] + by_use["Schemas"]} <= pointed
    assert group_ids <= pointed, "the Documentation, Schemas and representation groups each have their division"
    assert all(ident for ident in (d.get("ID") for d in struct.iter(f"{M}div"))), "every division has an ID"


def test_a_package_with_this_mets_passes_kho_s_eark_check(package: Path) -> None:
    """Kho's own CSIP validator (packages/eark.py) reads what the writer wrote: no failure."""
    write(package)
    report = validate_eark(package)
    assert not report.failures, [p.line() for p in report.failures]
    assert {f.path for f in report.files} >= set(FILES) and all(f.verified for f in report.files)


def test_a_file_that_changed_after_the_mets_was_written_is_caught(package: Path) -> None:
    write(package)
    path = package / "representations/rep-01/data/ảnh/Lễ.jpg"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    codes = {(p.path, p.code) for p in validate_eark(package).failures}
    assert ("representations/rep-01/data/ảnh/Lễ.jpg", "checksum-mismatch") in codes


def test_revision_dip_and_sip_headers(package: Path) -> None:
    revised = write(package, record_status="REVISED").getroot().find(f"{M}metsHdr")
    assert revised.get("RECORDSTATUS") == "REVISED" and revised.get("LASTMODDATE") == CREATED

    sip = write(package, package_type="SIP").getroot()
    assert sip.get("PROFILE") == SIP_PROFILE
    assert [a.get("ROLE") for a in sip.find(f"{M}metsHdr").findall(f"{M}agent")] == ["CREATOR", "CREATOR"]

    dip = write(package, package_type="DIP", with_premis=False, organization=None)
    assert mets_schema().validate(dip), [str(e) for e in mets_schema().error_log][:5]
    assert dip.getroot().get("PROFILE") == DIP_PROFILE
    assert dip.find(f"{M}amdSec") is None, "a DIP has no PREMIS of its own"
    assert dip.find(f".//{M}div[@LABEL='Metadata']").get("ADMID") is None
    assert [a.get("ROLE") for a in dip.find(f"{M}metsHdr").findall(f"{M}agent")] == ["CREATOR"]


def test_validation_verdicts_are_techmd_linked_from_their_file(package: Path) -> None:
    pdf = described(package, "representations/rep-01/data/Quyết định số 1.pdf")
    verdict = {"status": "invalid", "validator": "jhove", "tool_version": "1.32",
               "messages": [{"severity": "error", "text": "PDF-HUL-38 " + "x" * 600}] * 12}
    tree = write(package, technical={pdf.file_id: verdict})
    assert mets_schema().validate(tree), [str(e) for e in mets_schema().error_log][:5]
    tech = tree.find(f".//{M}techMD[@ID='tech-{pdf.file_id}']")
    validation = tech.find(f"{M}mdWrap/{M}xmlData")[0]
    assert (validation.get("status"), validation.get("validator")) == ("invalid", "jhove")
    assert len(validation) == 10 and all(len(m.text) == 500 for m in validation), "bounded: 10 messages, 500 chars"
    assert tree.find(f".//{M}file[@ID='{pdf.file_id}']").get("ADMID") == f"tech-{pdf.file_id}"
    amd = tree.find(f"{M}amdSec")
    assert amd[0].tag == f"{M}techMD", "techMD precedes digiprovMD (METS order)"


def test_representations_stream_from_a_generator_once(package: Path) -> None:
    """The writer takes each representation's files from a generator, read once: 5,000 files never
    have to be held as a list."""
    pulled = []

    def many() -> Iterator[MetsFile]:
        for n in range(5000):
            pulled.append(n)
            yield MetsFile(file_id=f"file-{n}", href=f"representations/rep-01/data/{n}.txt", size=1,
                           sha256="0" * 64, mime="text/plain", created=CREATED)

    tree = write(package, representations=[("rep-01", many())])
    assert len(pulled) == 5000
    assert len(groups(tree)["Representations/rep-01"]) == 5000
    content = tree.find(f".//{M}div[@LABEL='Representations']")
    assert len(content.findall(f"{M}fptr")) == 5001  # the group, then every file
    assert mets_schema().validate(tree)


def test_ids_and_representation_names() -> None:
    assert xml_id("grp", "rep-01") == "grp-rep-01"
    vietnamese = xml_id("grp", "Bản sao")
    assert vietnamese == xml_id("grp", "Bản sao") and vietnamese.startswith("grp-") and " " not in vietnamese
    assert vietnamese != xml_id("grp", "Bản chính"), "distinct names, distinct IDs"
    assert representation_of("representations/rep1/data/a.pdf", "rep-01") == "rep1", "the folder, not the label"
    assert representation_of("data/a.pdf", "rep-01") == "rep-01"
    objects = [{"id": str(uuid.uuid4()), "aip_path": f"representations/{rep}/data/{n}", "representation": "rep-01",
                "size": 3, "digests": {"sha256": "ab" * 32}, "mime": None} for rep, n in
               (("rep-02", "b.tif"), ("rep-01", "a.pdf"), ("rep-01", "c.pdf"))]
    grouped = representation_files(objects, lambda _o: CREATED, technical={f"file-{objects[1]['id']}": {}})
    assert [(name, [f.href.rsplit("/", 1)[1] for f in files]) for name, files in grouped] == [
        ("rep-01", ["a.pdf", "c.pdf"]), ("rep-02", ["b.tif"])]
    first = grouped[0][1][0]
    assert first.mime == "application/octet-stream" and first.admid == f"tech-file-{objects[1]['id']}"

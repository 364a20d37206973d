"""Every METS Kho writes — the AIP at ingest, the AIP revision at migration, the hand-over SIP — is valid
METS 1.12.1 + PREMIS 3 + XLink, lists every file of its package with size and SHA-256, and carries the
CSIP Documentation and Schemas file groups and structMap divisions (CSIP60, CSIP113, CSIP95, CSIP99),
empty when the package has none (DILCIS Board, E-ARK-CSIP issue #752)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from functools import cache
from pathlib import Path

import pytest
import yaml
from lxml import etree

from fixtures import generate_eark
from format_registry.policy import DEFAULT_POLICY
from packages.eark import EarkProblem, EarkReport, parse_xml, validate_eark
from tests.conftest import FIXTURE_SIPS, SCHEMAS, run_kho
from tests.stored import stored_aip

M = "{http://www.loc.gov/METS/}"
HREF = "{http://www.w3.org/1999/xlink}href"
KEY = {"KHO_TRANSFER_KEY": "shared-secret-between-the-two-archives"}
TT05_SCHEMAS = {"schemas/tt05.xsd", "schemas/tt05-hoso.schema.json", "schemas/tt05-document.schema.json"}
TT05_DESCRIPTIVE = {"metadata/descriptive/EAD.xml", "metadata/descriptive/tt05.json"}


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "mets-premis-combined.xsd")))


def _groups(mets: etree._Element, use: str) -> list[etree._Element]:
    return [g for g in mets.iter(f"{M}fileGrp") if g.get("USE") == use]


def _listed(mets: etree._Element) -> dict[str, etree._Element]:
    return {f.find(f"{M}FLocat").get(HREF): f for f in mets.iter(f"{M}file")}


def _failures_but_empty_groups(report: EarkReport, mets: etree._Element) -> list[EarkProblem]:
    """Failures of Kho's validator other than CSIP66 on an empty Documentation/Schemas group (see
    ``test_kho_validator_accepts_empty_documentation_and_schemas_groups``)."""
    empty = {g.get("USE") for use in ("Documentation", "Schemas") for g in _groups(mets, use) if len(g) == 0}
    return [f for f in report.failures if not (f.requirement == "CSIP66" and f.detail in empty)]


def check_written(root: Path) -> etree._Element:
    """The package at ``root`` as Kho wrote it: the checks of this module; returns its METS root."""
    tree = parse_xml(root / "METS.xml")
    schema = _schema()
    assert schema.validate(tree), [str(e) for e in schema.error_log][:5]
    mets = tree.getroot()
    for data in mets.iter(f"{M}xmlData"):
        assert len(data) > 0, "xmlData holds its metadata, never empty"

    listed = _listed(mets)
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {"METS.xml"}
    assert on_disk - set(listed) == set(), "every file of the package is in its METS fileSec"
    assert set(listed) - on_disk == set(), "METS lists no file the package lacks"
    for href, entry in listed.items():
        data = (root / href).read_bytes()
        assert entry.get("SIZE") == str(len(data)), href
        assert entry.get("CHECKSUMTYPE") == "SHA-256", href
        assert (entry.get("CHECKSUM") or "").lower() == hashlib.sha256(data).hexdigest(), href

    divisions = {d.get("LABEL"): d for d in mets.find(f"{M}structMap[@LABEL='CSIP']/{M}div").findall(f"{M}div")}
    for use in ("Documentation", "Schemas"):
        groups = _groups(mets, use)
        assert groups, f"fileGrp USE={use!r} (CSIP60, CSIP113)"
        assert use in divisions, f"structMap div LABEL={use!r} (CSIP95, CSIP99)"
        pointed = {p.get("FILEID") for p in divisions[use].findall(f"{M}fptr")}
        assert {g.get("ID") for g in groups} <= pointed, f"the {use} division points at its groups (CSIP96, CSIP100)"
    in_schemas = {f.find(f"{M}FLocat").get(HREF) for g in _groups(mets, "Schemas") for f in g.iter(f"{M}file")}
    assert in_schemas == {href for href in listed if href.startswith("schemas/")}, "schemas in the Schemas group"

    report = validate_eark(root)
    assert _failures_but_empty_groups(report, mets) == [], [f.line() for f in report.failures]
    return mets


def _ingest(name: str, env: dict[str, str] | None = None) -> str:
    return str(json.loads(run_kho("ingest", str(FIXTURE_SIPS / name), "--json", env=env, check=True).stdout)["aip_id"])


@pytest.mark.parametrize("sip", ["hoso-2024-ubnd-01", "eark-hoso-2025-001", "tt05-hoso-xml"])
def test_aip_written_at_ingest(kho_home: Path, sip: str) -> None:
    aip_id = _ingest(sip)
    stored = stored_aip(kho_home / "storage", aip_id, kho_home / "head")
    mets = check_written(stored)
    if sip.startswith("tt05"):
        assert set(_listed(mets)) >= TT05_SCHEMAS
        in_metadata = {f.find(f"{M}FLocat").get(HREF) for g in _groups(mets, "Metadata") for f in g.iter(f"{M}file")}
        assert not in_metadata & TT05_SCHEMAS, "TT 05 schemas are not listed as Metadata"


def test_handover_sip(kho_home: Path, tmp_path: Path) -> None:
    ids = {sip: _ingest(sip) for sip in ("hoso-2024-ubnd-01", "tt05-hoso-xml", "eark-hoso-2025-001")}
    out = tmp_path / "handover"
    exported = run_kho("transfer", "export", *ids.values(), "--to", "Trung tâm Lưu trữ lịch sử tỉnh", "-o", str(out),
                       env=KEY)
    assert exported.returncode == 0, exported.stderr
    unpacked = tmp_path / "unpacked"
    for sip, aip_id in ids.items():
        with zipfile.ZipFile(out / f"transfer-{aip_id}.zip") as handle:
            handle.extractall(unpacked)
        mets = check_written(unpacked / f"transfer-{aip_id}")
        assert mets.find(f"{M}metsHdr").get("{https://DILCIS.eu/XML/METS/CSIPExtensionMETS}OAISPACKAGETYPE") == "SIP"
        if sip.startswith("tt05"):
            listed = set(_listed(mets))
            assert listed >= TT05_DESCRIPTIVE | TT05_SCHEMAS, "EAD, tt05.json and the schemas travel with a checksum"
            assert any(href.startswith("metadata/descriptive/EAD_doc/") for href in listed)


def _policy(tmp_path: Path, **changes: dict[str, str]) -> dict[str, str]:
    data = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    for entry in data["formats"]:
        if entry["id"] in changes:
            entry["preservation"] = changes[entry["id"]]
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return {"KHO_POLICY": str(path)}


def test_aip_revision_written_at_migration(kho_home: Path, tmp_path: Path) -> None:
    aip_id = _ingest("hoso-2023-sotnmt-02")
    policy = _policy(tmp_path, png={"action": "normalise", "target": "TIFF", "tool": "pillow-tiff"})
    assert json.loads(run_kho("migrate", "--json", env=policy, check=True).stdout)["migrated"] == [aip_id]
    mets = check_written(stored_aip(kho_home / "storage", aip_id, kho_home / "head"))
    assert mets.find(f"{M}metsHdr").get("RECORDSTATUS") == "REVISED"


def test_tt05_aip_revision_lists_every_file(kho_home: Path, tmp_path: Path) -> None:
    aip_id = _ingest("tt05-hoso-xml")
    policy = _policy(tmp_path, tiff={"action": "normalise", "target": "TIFF", "tool": "pillow-tiff"})
    assert json.loads(run_kho("migrate", "--json", env=policy, check=True).stdout)["migrated"] == [aip_id]
    check_written(stored_aip(kho_home / "storage", aip_id, kho_home / "head"))


def test_kho_validator_accepts_empty_documentation_and_schemas_groups(kho_home: Path) -> None:
    report = validate_eark(stored_aip(kho_home / "storage", _ingest("hoso-2024-ubnd-01"), kho_home / "head"))
    assert report.valid, [f.line() for f in report.failures]


def test_eark_fixture_is_schema_valid_and_regenerated(tmp_path: Path) -> None:
    fixture = FIXTURE_SIPS / generate_eark.NAME
    fresh = generate_eark.generate(tmp_path)
    for mets in ("METS.xml", "representations/rep1/METS.xml"):
        assert (fresh / mets).read_bytes() == (fixture / mets).read_bytes(), "run: python fixtures/generate_eark.py"
        schema = _schema()
        assert schema.validate(parse_xml(fixture / mets)), [str(e) for e in schema.error_log][:5]
    assert validate_eark(fixture).valid

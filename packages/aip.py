"""The AIP layout (E-ARK CSIP/AIP 2.x, as Thông tư 05/2025/TT-BNV prescribes) and its Dublin Core."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from lxml import etree

REPRESENTATION = "rep-01"
METS_NAME = "METS.xml"
DESCRIPTIVE_DIR = "metadata/descriptive"
PRESERVATION_DIR = "metadata/preservation"
OTHER_DIR = "metadata/other"
SCHEMAS_DIR = "schemas"  # CSIPSTR15: the XML (and JSON) schemas the package's metadata follows
DOCUMENTATION_DIR = "documentation"  # CSIPSTR16
DC_PATH = f"{DESCRIPTIVE_DIR}/dc.xml"
REPRESENTATION_DATA = re.compile(r"^representations/[^/]+/data/")
PREMIS_PATH = f"{PRESERVATION_DIR}/premis.xml"
# the validation reports and evidence (certificates, CRLs, OCSP responses) of the originals' digital signatures
SIGNATURES_DIR = f"{PRESERVATION_DIR}/signatures"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"

# bag-info label (TT 05 tag names, case-insensitive) -> Dublin Core element
DC_MAPPING = (
    ("title", "title"),
    ("External-Description", "description"),
    ("Source-Organization", "creator"),
    ("Contact-Name", "contributor"),
    ("fileCode", "identifier"),
    ("External-Identifier", "identifier"),
    ("language", "language"),
    ("keyword", "subject"),
)


def payload_aip_path(sip_relpath: str, representation: str = REPRESENTATION) -> str:
    """Where an original goes in the AIP: a BagIt ``data/a/b.pdf`` becomes
    ``representations/rep-01/data/a/b.pdf``; an E-ARK SIP's ``representations/<rep>/data/...`` keeps
    its place."""
    if sip_relpath.startswith("data/"):
        return f"representations/{representation}/{sip_relpath}"
    if REPRESENTATION_DATA.match(sip_relpath):
        return sip_relpath
    raise ValueError(f"not a payload path: {sip_relpath}")


def payload_relative(relpath: str) -> PurePosixPath:
    """The path inside a representation's ``data`` folder (BagIt or E-ARK form)."""
    match = REPRESENTATION_DATA.match(relpath)
    if match:
        return PurePosixPath(relpath[match.end():])
    return PurePosixPath(relpath).relative_to("data")


def write_dublin_core(target: Path, aip_id: str, bag_info: dict[str, str]) -> None:
    lowered = {k.lower(): v for k, v in bag_info.items()}
    root = etree.Element(f"{{{OAI_DC_NS}}}dc", nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS})
    seen: set[tuple[str, str]] = set()
    for label, element in DC_MAPPING:
        value = lowered.get(label.lower())
        if value and (element, value) not in seen:
            seen.add((element, value))
            etree.SubElement(root, f"{{{DC_NS}}}{element}").text = value
    start, end = lowered.get("startdate"), lowered.get("enddate")
    if start or end:
        etree.SubElement(root, f"{{{DC_NS}}}date").text = "/".join(v for v in (start, end) if v)
    etree.SubElement(root, f"{{{DC_NS}}}identifier").text = f"urn:uuid:{aip_id}"
    etree.SubElement(root, f"{{{DC_NS}}}type").text = "Collection"
    target.parent.mkdir(parents=True, exist_ok=True)
    etree.ElementTree(root).write(str(target), xml_declaration=True, encoding="UTF-8", pretty_print=True)

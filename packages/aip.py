"""The AIP layout (E-ARK CSIP/AIP 2.x, as Thông tư 05/2025/TT-BNV prescribes) and its Dublin Core."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

REPRESENTATION = "rep-01"
METS_NAME = "METS.xml"
DESCRIPTIVE_DIR = "metadata/descriptive"
PRESERVATION_DIR = "metadata/preservation"
OTHER_DIR = "metadata/other"
DC_PATH = f"{DESCRIPTIVE_DIR}/dc.xml"
PREMIS_PATH = f"{PRESERVATION_DIR}/premis.xml"
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


def payload_aip_path(bag_relpath: str, representation: str = REPRESENTATION) -> str:
    """``data/a/b.pdf`` in the SIP becomes ``representations/rep-01/data/a/b.pdf`` in the AIP."""
    if not bag_relpath.startswith("data/"):
        raise ValueError(f"not a payload path: {bag_relpath}")
    return f"representations/{representation}/{bag_relpath}"


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

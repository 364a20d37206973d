"""The root ``METS.xml`` of every package Kho writes — AIP, hand-over SIP, DIP — (METS 1.12.1, E-ARK CSIP 2.2
profile with the AIP, SIP or DIP profile on top), written as a stream.

metsrw builds the whole document in memory and cannot express the CSIP attributes that
Thông tư 05/2025 packages need (``csip:OAISPACKAGETYPE``, ``csip:CONTENTINFORMATIONTYPE``),
so Kho writes METS with lxml's incremental ``xmlfile``: memory stays flat however many files
the package holds (see docs/decisions/0002-mets-writer.md). Every file of the package is
listed with its size and SHA-256; PREMIS is both referenced (``metadata/preservation/
premis.xml``, as CSIP asks) and embedded in ``amdSec`` for METS-only consumers. The Documentation
and Schemas file groups and structMap divisions are always written (CSIP60, CSIP113, CSIP95,
CSIP99), empty when the package has none (DILCIS Board, E-ARK-CSIP issue #752).

A representation's file group is named after the folder its files are in (``USE="Representations/rep1"``
for ``representations/rep1/data/...``), never after a label the catalog keeps beside it: CSIP64 makes the
name the path to the files. One writer serves all three package types so that each gets every CSIP MUST
part (decision 0015).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from packages.aip import DOCUMENTATION_DIR, SCHEMAS_DIR

METS_NS = "http://www.loc.gov/METS/"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
CSIP_NS = "https://DILCIS.eu/XML/METS/CSIPExtensionMETS"
METS_SCHEMA = "http://www.loc.gov/METS/ http://www.loc.gov/standards/mets/mets.xsd"
AIP_PROFILE = "https://earkaip.dilcis.eu/profile/E-ARK-AIP.xml"
# mets/@PROFILE as each 2.2 profile states it: SIP2 names the versioned SIP profile, DIP2 the unversioned DIP one.
SIP_PROFILE = "https://earksip.dilcis.eu/profile/E-ARK-SIP-v2-2-0.xml"
DIP_PROFILE = "https://earkdip.dilcis.eu/profile/E-ARK-DIP.xml"
PROFILES = {"AIP": AIP_PROFILE, "SIP": SIP_PROFILE, "DIP": DIP_PROFILE}
REPRESENTATION_FOLDER = re.compile(r"^representations/(?P<name>[^/]+)/")
SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")


def _m(tag: str) -> str:
    return f"{{{METS_NS}}}{tag}"


def _x(tag: str) -> str:
    return f"{{{XLINK_NS}}}{tag}"


@dataclass(frozen=True)
class MetsFile:
    """One file of the package as METS lists it."""

    file_id: str  # XML ID, e.g. "file-<uuid>"
    href: str  # path inside the package
    size: int
    sha256: str
    mime: str
    created: str  # ISO 8601
    admid: str | None = None  # the techMD holding this file's validation verdict


KHO_NS = "https://kho.example/ns/validation"


def representation_of(href: str, fallback: str) -> str:
    """The representation a content file belongs to: the folder it is in (``representations/<name>/``).

    The catalog's representation label is only the fallback: an E-ARK SIP keeps its own folder names
    (``rep1``) while the label says Kho's default (``rep-01``), and CSIP64/CSIP107 want the folder."""
    match = REPRESENTATION_FOLDER.match(href)
    return match.group("name") if match else fallback


def xml_id(prefix: str, name: str) -> str:
    """An xs:ID for a group or division named after ``name``: readable when the name is plain ASCII, else a
    stable hash (a representation folder may hold spaces or Vietnamese letters, which an ID cannot)."""
    return f"{prefix}-{name}" if SAFE_ID.match(name) else f"{prefix}-{uuid.uuid5(uuid.NAMESPACE_URL, name).hex}"


def representation_files(
    objects: Iterable[dict[str, Any]], created: Callable[[dict[str, Any]], str], technical: dict[str, Any] | None = None
) -> list[tuple[str, list[MetsFile]]]:
    """The content files grouped by representation folder, as ``write_aip_mets`` takes them; a file with a
    validation verdict in ``technical`` points at its techMD."""
    groups: dict[str, list[MetsFile]] = {}
    for obj in objects:
        file_id = f"file-{obj['id']}"
        groups.setdefault(representation_of(obj["aip_path"], obj["representation"]), []).append(MetsFile(
            file_id=file_id, href=obj["aip_path"], size=obj["size"], sha256=obj["digests"]["sha256"],
            mime=obj["mime"] or "application/octet-stream", created=created(obj),
            admid=f"tech-{file_id}" if technical and file_id in technical else None,
        ))
    return sorted(groups.items())


def _tech_md(file_id: str, verdict: dict[str, Any]) -> etree._Element:
    """A file's format validation verdict as a METS techMD (the PREMIS events carry the detail)."""
    tech = etree.Element(_m("techMD"), {"ID": f"tech-{file_id}", "STATUS": "CURRENT"})
    wrap = etree.SubElement(tech, _m("mdWrap"), {"MDTYPE": "OTHER", "OTHERMDTYPE": "KHO-VALIDATION"})
    data = etree.SubElement(wrap, _m("xmlData"))
    element = etree.SubElement(
        data,
        f"{{{KHO_NS}}}validation",
        {
            "status": verdict["status"],
            "validator": verdict.get("validator") or "",
            "toolVersion": verdict.get("tool_version") or "",
        },
        nsmap={"kho": KHO_NS},
    )
    for message in verdict.get("messages", [])[:10]:
        etree.SubElement(element, f"{{{KHO_NS}}}message", {"severity": message.get("severity", "")}).text = message.get(
            "text", ""
        )[:500]
    return tech


def _md_ref(xf: Any, wrapper: str, md_id: str, md_type: str, item: MetsFile) -> None:
    with xf.element(_m(wrapper), {"ID": md_id, "STATUS": "CURRENT", "CREATED": item.created}):
        xf.write(
            etree.Element(
                _m("mdRef"),
                {
                    "LOCTYPE": "URL",
                    _x("type"): "simple",
                    _x("href"): item.href,
                    "MDTYPE": md_type,
                    "MIMETYPE": item.mime,
                    "SIZE": str(item.size),
                    "CREATED": item.created,
                    "CHECKSUM": item.sha256,
                    "CHECKSUMTYPE": "SHA-256",
                },
            )
        )


def _file(item: MetsFile) -> etree._Element:
    element = etree.Element(
        _m("file"),
        {
            "ID": item.file_id,
            "MIMETYPE": item.mime,
            "SIZE": str(item.size),
            "CREATED": item.created,
            "CHECKSUM": item.sha256,
            "CHECKSUMTYPE": "SHA-256",
            **({"ADMID": item.admid} if item.admid else {}),
        },
    )
    etree.SubElement(element, _m("FLocat"), {"LOCTYPE": "URL", _x("type"): "simple", _x("href"): item.href})
    return element


def _split_metadata(items: Iterable[MetsFile]) -> tuple[list[MetsFile], list[MetsFile], list[MetsFile]]:
    """The package's non-content files by CSIP file group: Metadata, Documentation (``documentation/``)
    and Schemas (``schemas/``)."""
    metadata: list[MetsFile] = []
    documentation: list[MetsFile] = []
    schemas: list[MetsFile] = []
    for item in items:
        if item.href.startswith(f"{SCHEMAS_DIR}/"):
            schemas.append(item)
        elif item.href.startswith(f"{DOCUMENTATION_DIR}/"):
            documentation.append(item)
        else:
            metadata.append(item)
    return metadata, documentation, schemas


def write_aip_mets(
    target: Path,
    *,
    aip_id: str,
    label: str,
    created: str,
    software_version: str,
    organization: str | None,
    descriptive: MetsFile,
    preservation: MetsFile | None = None,
    write_embedded_premis: Callable[[Any], None] | None = None,
    other_metadata: Iterable[MetsFile] = (),
    representations: Iterable[tuple[str, Iterable[MetsFile]]] = (),
    record_status: str = "NEW",
    package_type: str = "AIP",
    objid: str | None = None,
    alt_record_ids: dict[str, str] | None = None,
    technical: dict[str, dict[str, Any]] | None = None,
    documentation: Iterable[MetsFile] = (),
) -> None:
    """Write ``target`` in one pass; each representation's files may come from a generator.

    ``aip_id`` is the package's UUID (the DIP's own for a DIP); ``objid`` overrides ``urn:uuid:<aip_id>``
    as mets/@OBJID, and the structMap's main division carries the same label. ``preservation`` (the
    PREMIS file, also embedded through ``write_embedded_premis``) and ``organization`` (the archive, as
    preservation agent, or as submitting agent of a SIP: SIP15) may be left out: a DIP has neither.
    ``documentation`` lists files for the Documentation group wherever they are (a DIP's ``index.html``
    at its root); files under ``documentation/`` and ``schemas/`` are sorted into their groups anyway.
    """
    metadata, documented, schemas = _split_metadata(
        [descriptive, *([preservation] if preservation is not None else []), *other_metadata]
    )
    documented = [*documented, *documentation]
    sections = (("Documentation", "grp-documentation", documented), ("Schemas", "grp-schemas", schemas))
    nsmap = {"mets": METS_NS, "xlink": XLINK_NS, "xsi": XSI_NS, "csip": CSIP_NS}
    identifier = objid or f"urn:uuid:{aip_id}"
    payload_ids: dict[str, list[str]] = {}  # the structMap points at every content file too: ids only
    digiprov = ["digiprov-premis-file", "digiprov-premis-embedded"] if preservation is not None else []
    with etree.xmlfile(str(target), encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(
            _m("mets"),
            {
                "OBJID": identifier,
                "LABEL": label,
                "TYPE": "Mixed",
                "PROFILE": PROFILES[package_type],
                f"{{{CSIP_NS}}}CONTENTINFORMATIONTYPE": "MIXED",
                f"{{{XSI_NS}}}schemaLocation": METS_SCHEMA,
            },
            nsmap=nsmap,
        ):
            xf.write(_header(created, record_status, package_type, software_version, organization, alt_record_ids))
            _md_ref(xf, "dmdSec", "dmd-dc", "DC", descriptive)
            if technical or preservation is not None:
                with xf.element(_m("amdSec"), {"ID": "amd"}):
                    for file_id, verdict in (technical or {}).items():  # techMD precedes digiprovMD (METS order)
                        xf.write(_tech_md(file_id, verdict))
                    if preservation is not None:
                        _md_ref(xf, "digiprovMD", "digiprov-premis-file", "PREMIS", preservation)
                        if write_embedded_premis is not None:
                            with (
                                xf.element(_m("digiprovMD"), {"ID": "digiprov-premis-embedded", "STATUS": "CURRENT"}),
                                xf.element(_m("mdWrap"), {"MDTYPE": "PREMIS", "MDTYPEVERSION": "3.0"}),
                                xf.element(_m("xmlData")),
                            ):
                                write_embedded_premis(xf)
                        else:
                            digiprov.remove("digiprov-premis-embedded")
            with xf.element(_m("fileSec"), {"ID": "filesec"}):
                with xf.element(_m("fileGrp"), {"ID": "grp-metadata", "USE": "Metadata"}):
                    for item in metadata:
                        xf.write(_file(item))
                for use, group_id, items in sections:  # present even when empty: "none" (CSIP60, CSIP113)
                    with xf.element(_m("fileGrp"), {"ID": group_id, "USE": use}):
                        for item in items:
                            xf.write(_file(item))
                for name, files in representations:
                    ids = payload_ids.setdefault(name, [])
                    with xf.element(
                        _m("fileGrp"),
                        {
                            "ID": xml_id("grp", name),
                            "USE": f"Representations/{name}",
                            f"{{{CSIP_NS}}}CONTENTINFORMATIONTYPE": "MIXED",
                        },
                    ):
                        for item in files:
                            ids.append(item.file_id)
                            xf.write(_file(item))
            xf.write(_struct_map(identifier, metadata, sections, payload_ids, digiprov))


def _header(created: str, record_status: str, package_type: str, software_version: str, organization: str | None,
            alt_record_ids: dict[str, str] | None) -> etree._Element:
    """metsHdr: the creating software (CSIP10-CSIP16) and the archive; a SIP names the archive as its
    submitting agent (SIP15-SIP18), an AIP as preservation agent (SIP26-SIP29 carried over)."""
    header = etree.Element(
        _m("metsHdr"),
        {
            "CREATEDATE": created,
            **({"LASTMODDATE": created} if record_status != "NEW" else {}),
            "RECORDSTATUS": record_status,
            f"{{{CSIP_NS}}}OAISPACKAGETYPE": package_type,
        },
    )
    creator = etree.SubElement(header, _m("agent"), {"ROLE": "CREATOR", "TYPE": "OTHER", "OTHERTYPE": "SOFTWARE"})
    etree.SubElement(creator, _m("name")).text = "Kho"
    etree.SubElement(creator, _m("note"), {f"{{{CSIP_NS}}}NOTETYPE": "SOFTWARE VERSION"}).text = software_version
    if organization is not None:
        role = "CREATOR" if package_type == "SIP" else "PRESERVATION"
        archive = etree.SubElement(header, _m("agent"), {"ROLE": role, "TYPE": "ORGANIZATION"})
        etree.SubElement(archive, _m("name")).text = organization
    for kind, value in (alt_record_ids or {}).items():  # e.g. arcFileCode (TT 05/2025), a DIP's request
        etree.SubElement(header, _m("altRecordID"), {"TYPE": kind}).text = value
    return header


def _struct_map(identifier: str, metadata: list[MetsFile], sections: Iterable[tuple[str, str, list[MetsFile]]],
                representations: dict[str, list[str]], digiprov: list[str]) -> etree._Element:
    """The CSIP structMap (CSIP80-CSIP119): every division has an ID, the main one is labelled with the
    package identifier, and the Metadata division (CSIP88-CSIP92) is always there.

    Kho writes no representation METS, so its representations are described as CSIP 2.2's fileSec/structMap
    example 1 and the E-ARK test corpus's minimal package do it: the representation file groups list the
    files, and one content division ``Representations`` points at each group (CSIP104, CSIP119) and then at each
    content file, so that a reader of the structMap alone finds every file. ``Representations/<name>`` divisions
    are for representations that have their own METS, which they must point at (CSIP105-CSIP109).
    """
    struct = etree.Element(_m("structMap"), {"ID": "structmap-csip", "TYPE": "PHYSICAL", "LABEL": "CSIP"})
    root_div = etree.SubElement(struct, _m("div"), {"ID": "div-root", "LABEL": identifier})
    admid = {"ADMID": " ".join(digiprov)} if digiprov else {}
    etree.SubElement(root_div, _m("div"), {"ID": "div-metadata", "LABEL": "Metadata", "DMDID": "dmd-dc", **admid})
    metadata_files = etree.SubElement(root_div, _m("div"), {"ID": "div-metadata-files", "LABEL": "Metadata/files"})
    for item in metadata:
        etree.SubElement(metadata_files, _m("fptr"), {"FILEID": item.file_id})
    for use, group_id, _items in sections:  # CSIP95, CSIP99: the division is there, pointing at its group
        division = etree.SubElement(root_div, _m("div"), {"ID": f"div-{use.lower()}", "LABEL": use})
        etree.SubElement(division, _m("fptr"), {"FILEID": group_id})
    if representations:  # the content division (CSIP101-CSIP104, CSIP119): one fptr per representation group
        content = etree.SubElement(root_div, _m("div"), {"ID": "div-representations", "LABEL": "Representations"})
        for name in representations:
            etree.SubElement(content, _m("fptr"), {"FILEID": xml_id("grp", name)})
        for ids in representations.values():
            for file_id in ids:
                etree.SubElement(content, _m("fptr"), {"FILEID": file_id})
    return struct

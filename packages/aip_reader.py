"""One reader of a package's metadata: ``METS.xml``, ``premis.xml``, ``bag-info.txt``, ``dc.xml`` and
``access-rules.csv`` read back into typed records.

Why one: ``packages.aip_builder`` writes these documents the same way for ingest, migration and hand-over,
but each consumer that read them back (the catalog rebuild, above all) walked the XML with its own XPath
and its own idea of what a missing size or an unknown checksum type meant. Reading lives here, beside the
writer, so that the two agree on one vocabulary (``MetsFile`` in, ``ListedFile``/``AipFile`` out) and a
round trip can be tested without storage or a catalog.

It reads local files only: fetching them (verified against an inventory, from whichever location holds
them) is the caller's business. Every document goes through ``format_registry.safexml`` (no entities, no
DTD, no network): a package's metadata may come from another archive, and even Kho's own may have been
altered in storage. Nothing here judges what it reads (that is validation's job, ``packages.eark``): a
missing element is ``None`` or empty, never an exception; only XML that is not well-formed raises
``etree.XMLSyntaxError``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from format_registry import safexml
from packages import access
from packages import aip as layout
from packages.bagit_reader import TagFileError, parse_tag_text
from packages.mets import KHO_NS, METS_NS, XLINK_NS
from packages.premis import PREMIS_NS, XSI_NS

_M = {"m": METS_NS, "xlink": XLINK_NS}
_P = {"p": PREMIS_NS}
_HREF = f"{{{XLINK_NS}}}href"
_CSIP_PACKAGE_TYPE = "{https://DILCIS.eu/XML/METS/CSIPExtensionMETS}OAISPACKAGETYPE"
REPRESENTATIONS = "Representations/"
# PREMIS messageDigestAlgorithm -> the names Kho keys digests by (packages.premis.file_element writes these)
DIGEST_NAMES = {"SHA-256": "sha256", "SHA-512": "sha512", "SHA-1": "sha1", "MD5": "md5"}


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


@dataclass(frozen=True)
class ListedFile:
    """One ``mets:file`` as METS lists it, in the group (``fileGrp/@USE``) it is in. ``href`` is the
    ``FLocat`` as written (Kho writes package paths unencoded; another archive may not)."""

    file_id: str
    href: str
    group: str
    size: int | None
    mime: str | None
    created: str | None
    checksum: str | None
    checksum_type: str | None
    admid: str | None

    @property
    def sha256(self) -> str | None:
        """The listed SHA-256 (lower case), or None when METS gives another algorithm or none."""
        return self.checksum.lower() if self.checksum and self.checksum_type == "SHA-256" else None


@dataclass(frozen=True)
class Validation:
    """A content file's format validation verdict, as the METS techMD Kho writes carries it."""

    status: str | None
    validator: str | None
    tool_version: str | None
    messages: tuple[tuple[str, str], ...] = ()  # (severity, text), the first ten


@dataclass(frozen=True)
class PremisObject:
    """A PREMIS file object: what PREMIS alone knows of a content file (its name in the SIP, format, source)."""

    id: str
    original_name: str | None
    size: int | None
    digests: dict[str, str]
    puid: str | None
    format_name: str | None
    format_version: str | None
    source_id: str | None  # the original a derivative was made from ("derivation" / "has source")


@dataclass(frozen=True)
class AgentLink:
    type: str
    value: str
    role: str


@dataclass(frozen=True)
class PremisEvent:
    id: str
    event_type: str
    event_datetime: str
    detail: str
    outcome: str
    outcome_detail: str
    object_ids: tuple[str, ...]
    agents: tuple[AgentLink, ...]
    object_roles: tuple[str, ...] = ()

    def record(self, aip_id: str | None) -> dict[str, Any]:
        """The event as ``packages.premis.new_event`` makes it (and the catalog takes it)."""
        return {
            "id": self.id, "aip_id": aip_id, "object_ids": list(self.object_ids), "event_type": self.event_type,
            "event_datetime": self.event_datetime, "detail": self.detail, "outcome": self.outcome,
            "outcome_detail": self.outcome_detail,
            "agents": [{"type": a.type, "value": a.value, "role": a.role} for a in self.agents],
            **({"object_roles": list(self.object_roles)} if any(self.object_roles) else {}),
        }


@dataclass(frozen=True)
class PremisAgent:
    type: str
    value: str
    name: str
    agent_type: str
    version: str | None = None

    def record(self) -> dict[str, str]:
        """The agent as ``packages.agents`` makes it."""
        return {"type": self.type, "value": self.value, "name": self.name, "agent_type": self.agent_type,
                **({"version": self.version} if self.version else {})}


@dataclass(frozen=True)
class AipFile:
    """A content file of a representation: its METS listing joined with its PREMIS object (by identifier:
    Kho's ``file-<uuid>`` METS ID names the PREMIS object ``<uuid>``)."""

    id: str
    path: str
    representation: str  # the folder, ``Representations/<name>``
    size: int  # PREMIS's, else METS's, else 0
    sha256: str | None
    mime: str | None
    created: str | None
    original_name: str | None
    puid: str | None
    format_name: str | None
    format_version: str | None
    source_id: str | None
    validation: Validation | None
    listed: ListedFile

    @property
    def role(self) -> str:
        """``original``, or ``derivative`` when PREMIS names the file it was made from."""
        return "derivative" if self.source_id else "original"


@dataclass
class AipDescription:
    """What a package's metadata says about it. Fields a document does not give are None or empty."""

    objid: str | None
    label: str | None
    profile: str | None
    package_type: str | None  # csip:OAISPACKAGETYPE
    record_status: str | None
    created: str | None
    last_modified: str | None
    software: str | None  # the creating software's name and version, "Kho 0.1.0"
    organization: str | None  # the archive (AIP: PRESERVATION agent) or the submitter (SIP: CREATOR)
    alt_record_ids: dict[str, str] = field(default_factory=dict)
    files: list[AipFile] = field(default_factory=list)  # in METS order
    metadata_files: list[ListedFile] = field(default_factory=list)  # Metadata, Documentation, Schemas groups
    entity_id: str | None = None  # the PREMIS intellectual entity
    sip_name: str | None = None  # its original name
    objects: dict[str, PremisObject] = field(default_factory=dict)
    events: list[PremisEvent] = field(default_factory=list)  # in PREMIS order
    agents: list[PremisAgent] = field(default_factory=list)
    bag_info: dict[str, str] = field(default_factory=dict)  # repeated labels joined with "; ", NFC
    dublin_core: dict[str, list[str]] = field(default_factory=dict)  # element name -> values
    access_rules: dict[str, access.AccessRule] = field(default_factory=dict)  # original path -> rule
    premis_source: str | None = None  # "file", "embedded" or None (no PREMIS read)

    def originals(self) -> list[AipFile]:
        return [f for f in self.files if f.role == "original"]


# -- METS ---------------------------------------------------------------------------------------------


def _listed(item: etree._Element, group: str) -> ListedFile:
    locat = item.find("m:FLocat", _M)
    return ListedFile(
        file_id=item.get("ID", ""), href=locat.get(_HREF, "") if locat is not None else "", group=group,
        size=_int(item.get("SIZE")), mime=item.get("MIMETYPE"), created=item.get("CREATED"),
        checksum=item.get("CHECKSUM"), checksum_type=item.get("CHECKSUMTYPE"), admid=item.get("ADMID"),
    )


def read_file_section(root: etree._Element) -> list[ListedFile]:
    """Every file of ``mets:fileSec``, group by group, in document order."""
    return [_listed(item, group.get("USE", ""))
            for group in root.iterfind("m:fileSec/m:fileGrp", _M) for item in group.iterfind("m:file", _M)]


def read_validations(root: etree._Element) -> dict[str, Validation]:
    """The techMD sections Kho writes (``packages.mets._tech_md``), by their ID."""
    found = {}
    for tech in root.iterfind("m:amdSec/m:techMD", _M):
        verdict = tech.find(f"m:mdWrap/m:xmlData/{{{KHO_NS}}}validation", _M)
        if verdict is not None:
            found[tech.get("ID", "")] = Validation(
                status=verdict.get("status"), validator=verdict.get("validator") or None,
                tool_version=verdict.get("toolVersion") or None,
                messages=tuple((m.get("severity", ""), m.text or "") for m in verdict.iterfind(f"{{{KHO_NS}}}message")),
            )
    return found


def _header(root: etree._Element) -> dict[str, Any]:
    header = root.find("m:metsHdr", _M)
    if header is None:
        return {"record_status": None, "created": None, "last_modified": None, "software": None,
                "organization": None, "package_type": None, "alt_record_ids": {}}
    software = organization = None
    for agent in header.iterfind("m:agent", _M):
        name = agent.findtext("m:name", namespaces=_M)
        if agent.get("OTHERTYPE") == "SOFTWARE" and software is None:
            note = agent.findtext("m:note", namespaces=_M)
            software = " ".join(v for v in (name, note) if v) or None
        elif agent.get("TYPE") == "ORGANIZATION" and agent.get("ROLE") in ("PRESERVATION", "CREATOR") and (
                organization is None):
            organization = name
    return {
        "record_status": header.get("RECORDSTATUS"), "created": header.get("CREATEDATE"),
        "last_modified": header.get("LASTMODDATE"), "software": software, "organization": organization,
        "package_type": header.get(_CSIP_PACKAGE_TYPE),
        "alt_record_ids": {e.get("TYPE", ""): e.text or "" for e in header.iterfind("m:altRecordID", _M)},
    }


def _embedded_premis(root: etree._Element) -> etree._Element | None:
    return root.find("m:amdSec/m:digiprovMD/m:mdWrap[@MDTYPE='PREMIS']/m:xmlData/p:premis", {**_M, **_P})


# -- PREMIS -------------------------------------------------------------------------------------------


def _text(node: etree._Element, path: str) -> str:
    return node.findtext(path, namespaces=_P) or ""


def read_premis_objects(premis: etree._Element) -> tuple[etree._Element | None, dict[str, PremisObject]]:
    """The intellectual entity (or None) and the file objects by identifier."""
    entity = None
    objects = {}
    for element in premis.iterfind("p:object", _P):
        kind = element.get(f"{{{XSI_NS}}}type", "")
        if kind.endswith("intellectualEntity"):
            entity = entity if entity is not None else element
            continue
        if not kind.endswith("file"):
            continue
        identifier = _text(element, "p:objectIdentifier/p:objectIdentifierValue")
        characteristics = "p:objectCharacteristics"
        digests = {}
        for fixity in element.iterfind(f"{characteristics}/p:fixity", _P):
            algorithm = _text(fixity, "p:messageDigestAlgorithm")
            digests[DIGEST_NAMES.get(algorithm, algorithm)] = _text(fixity, "p:messageDigest")
        objects[identifier] = PremisObject(
            id=identifier,
            original_name=element.findtext("p:originalName", namespaces=_P),
            size=_int(element.findtext(f"{characteristics}/p:size", namespaces=_P)),
            digests=digests,
            puid=element.findtext(f"{characteristics}/p:format/p:formatRegistry/p:formatRegistryKey", namespaces=_P),
            format_name=element.findtext(f"{characteristics}/p:format/p:formatDesignation/p:formatName",
                                         namespaces=_P),
            format_version=element.findtext(f"{characteristics}/p:format/p:formatDesignation/p:formatVersion",
                                            namespaces=_P),
            source_id=element.findtext("p:relationship/p:relatedObjectIdentifier/p:relatedObjectIdentifierValue",
                                       namespaces=_P),
        )
    return entity, objects


def read_premis_events(premis: etree._Element) -> list[PremisEvent]:
    """Every event, in document order, incomplete ones included (the caller decides what it can use)."""
    events = []
    for element in premis.iterfind("p:event", _P):
        links = element.findall("p:linkingObjectIdentifier", _P)
        events.append(PremisEvent(
            id=_text(element, "p:eventIdentifier/p:eventIdentifierValue"),
            event_type=_text(element, "p:eventType"),
            event_datetime=_text(element, "p:eventDateTime"),
            detail=_text(element, "p:eventDetailInformation/p:eventDetail"),
            outcome=_text(element, "p:eventOutcomeInformation/p:eventOutcome"),
            outcome_detail=_text(element, "p:eventOutcomeInformation/p:eventOutcomeDetail/p:eventOutcomeDetailNote"),
            object_ids=tuple(_text(link, "p:linkingObjectIdentifierValue") for link in links),
            agents=tuple(AgentLink(_text(a, "p:linkingAgentIdentifierType"), _text(a, "p:linkingAgentIdentifierValue"),
                                   _text(a, "p:linkingAgentRole"))
                         for a in element.iterfind("p:linkingAgentIdentifier", _P)),
            object_roles=tuple(_text(link, "p:linkingObjectRole") for link in links),
        ))
    return events


def read_premis_agents(premis: etree._Element) -> list[PremisAgent]:
    return [PremisAgent(type=_text(a, "p:agentIdentifier/p:agentIdentifierType"),
                        value=_text(a, "p:agentIdentifier/p:agentIdentifierValue"), name=_text(a, "p:agentName"),
                        agent_type=_text(a, "p:agentType"), version=a.findtext("p:agentVersion", namespaces=_P))
            for a in premis.iterfind("p:agent", _P)]


# -- the other documents ------------------------------------------------------------------------------


def read_bag_info(path: Path) -> dict[str, str]:
    """The SIP's ``bag-info.txt`` as the AIP keeps it (``metadata/other/``): labels as written, repeated
    values joined with "; ", NFC (as the catalog keeps them); {} when it is not a tag file."""
    try:
        parsed = parse_tag_text(path.read_bytes().decode("utf-8-sig", "replace"))
    except TagFileError:
        return {}
    return {k: unicodedata.normalize("NFC", "; ".join(v) if isinstance(v, list) else v)
            for k, v in parsed.values.items()}


def read_dublin_core(path: Path) -> dict[str, list[str]]:
    """``dc.xml`` (``packages.aip.write_dublin_core``): each Dublin Core element's values, in order."""
    values: dict[str, list[str]] = {}
    for element in safexml.parse(path).getroot():
        if isinstance(element.tag, str) and element.tag.startswith(f"{{{layout.DC_NS}}}") and element.text:
            values.setdefault(etree.QName(element).localname, []).append(element.text)
    return values


# -- the package --------------------------------------------------------------------------------------


def _content_files(listed: list[ListedFile], objects: dict[str, PremisObject],
                   validations: dict[str, Validation]) -> list[AipFile]:
    files = []
    for item in listed:
        if not item.group.startswith(REPRESENTATIONS):
            continue
        identifier = item.file_id.removeprefix("file-")
        obj = objects.get(identifier)
        size = obj.size if obj is not None and obj.size is not None else item.size
        files.append(AipFile(
            id=identifier, path=item.href, representation=item.group.removeprefix(REPRESENTATIONS),
            size=size or 0, sha256=item.sha256 or (obj.digests.get("sha256") if obj is not None else None),
            mime=item.mime, created=item.created, original_name=obj.original_name if obj is not None else None,
            puid=obj.puid if obj is not None else None, format_name=obj.format_name if obj is not None else None,
            format_version=obj.format_version if obj is not None else None,
            source_id=obj.source_id if obj is not None else None,
            validation=validations.get(item.admid or ""), listed=item,
        ))
    return files


def read_package(mets: Path, premis: Path | None = None, *, bag_info: Path | None = None,
                 dublin_core: Path | None = None, access_rules: Path | None = None) -> AipDescription:
    """Read a package's metadata from local files. Without ``premis``, the PREMIS embedded in METS is read
    (a package always has one or the other when Kho wrote it; a DIP has neither). ``access_rules`` is an
    ``access-rules.csv``; its rules are kept for the original files the package lists, keyed by their path
    in the SIP (PREMIS originalName), and lines that cannot be used are left out."""
    root = safexml.parse(mets).getroot()
    listed = read_file_section(root)
    premis_root: etree._Element | None = None
    source = None
    if premis is not None:
        premis_root, source = safexml.parse(premis).getroot(), "file"
    else:
        premis_root = _embedded_premis(root)
        source = "embedded" if premis_root is not None else None
    entity, objects = read_premis_objects(premis_root) if premis_root is not None else (None, {})
    description = AipDescription(
        objid=root.get("OBJID"), label=root.get("LABEL"), profile=root.get("PROFILE"), **_header(root),
        files=_content_files(listed, objects, read_validations(root)),
        metadata_files=[f for f in listed if not f.group.startswith(REPRESENTATIONS)],
        entity_id=(_text(entity, "p:objectIdentifier/p:objectIdentifierValue") or None) if entity is not None else None,
        sip_name=entity.findtext("p:originalName", namespaces=_P) if entity is not None else None,
        objects=objects,
        events=read_premis_events(premis_root) if premis_root is not None else [],
        agents=read_premis_agents(premis_root) if premis_root is not None else [],
        bag_info=read_bag_info(bag_info) if bag_info is not None else {},
        dublin_core=read_dublin_core(dublin_core) if dublin_core is not None else {},
        premis_source=source,
    )
    if access_rules is not None:
        if access_rules.name != access.ACCESS_RULES_FILE:
            raise ValueError(f"{access_rules}: access rules are read from a file named {access.ACCESS_RULES_FILE}")
        payload = {f.original_name or f.path for f in description.originals()}
        description.access_rules, _problems = access.parse_access_rules(access_rules.parent, payload)
    return description


def read_package_dir(root: Path) -> AipDescription:
    """Read the package laid out under ``root`` (an AIP version's content, an unpacked SIP or DIP): its
    METS, and PREMIS, bag-info, Dublin Core and access rules where the AIP layout puts them and they exist."""

    def optional(relpath: str) -> Path | None:
        path = root / relpath
        return path if path.is_file() else None

    other = f"{layout.OTHER_DIR}/"
    return read_package(
        root / layout.METS_NAME, optional(layout.PREMIS_PATH), bag_info=optional(f"{other}bag-info.txt"),
        dublin_core=optional(layout.DC_PATH), access_rules=optional(f"{other}{access.ACCESS_RULES_FILE}"),
    )


# -- the records' text (decision 0029) ---------------------------------------------------------------

# the text extracted from the originals at ingest: <file id>.txt (UTF-8, NFC) and the index below
TEXT_DIR = f"{layout.PRESERVATION_DIR}/text"
TEXT_INDEX = f"{TEXT_DIR}/text.json"
TEXT_FORMAT = "kho-text/1"


@dataclass(frozen=True)
class TextEntry:
    """One original's line in ``text.json``: its id and SIP path, how its text was read, and where the
    text is in the AIP (``text`` is None when there is none; ``reason`` says why)."""

    file_id: str
    path: str
    method: str
    chars: int
    truncated: bool
    reason: str
    text: str | None


def read_text_index(data: bytes) -> list[TextEntry]:
    """The entries of a ``text.json``; one that is not Kho's format (or not JSON) gives none."""
    import json

    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return []
    if not isinstance(document, dict) or document.get("format") != TEXT_FORMAT:
        return []
    entries = []
    for item in document.get("files", []):
        if not isinstance(item, dict) or not item.get("file_id"):
            continue
        text = item.get("text")
        if text is not None and not (isinstance(text, str) and text.startswith(TEXT_DIR + "/")
                                     and ".." not in text):
            text = None  # only a file of the text folder is read back
        entries.append(TextEntry(str(item["file_id"]), str(item.get("path", "")), str(item.get("method", "")),
                                 int(item.get("chars", 0) or 0), bool(item.get("truncated")),
                                 str(item.get("reason", "")), text))
    return entries

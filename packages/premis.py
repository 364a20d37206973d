"""PREMIS 3 events, agents and objects: in-memory records and a streaming XML writer.

Events are plain dicts while an ingest runs (they live in the workspace as JSON and go to
the catalog at the end); the writer turns them into PREMIS 3.0 XML with lxml's incremental
``xmlfile`` so a package of 100k files never needs its whole tree in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from lxml import etree

PREMIS_NS = "http://www.loc.gov/premis/v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
PREMIS_SCHEMA = "http://www.loc.gov/premis/v3 http://www.loc.gov/standards/premis/v3/premis.xsd"
EVENT_TYPE_AUTHORITY = "http://id.loc.gov/vocabulary/preservation/eventType"

# Library of Congress preservation event types used by Kho.
EVENT_TYPES = {
    "ingestion start",
    "ingestion end",
    "validation",
    "fixity check",
    "virus check",
    "format identification",
    "message digest calculation",
    "information package creation",
    "replication",
    "normalization",
    "metadata extraction",
    "migration",
    "dissemination",
    "deletion",
    "transfer",
    "metadata modification",
    "digital signature validation",
    "imaging",  # LoC: producing an image of an analog object (a paper record's digitisation)
}
OUTCOMES = ("success", "failure", "warning", "not performed")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# The longest text an event keeps (detail, outcome detail). Events live in the append-only catalog and
# in every PREMIS file an AIP stores; a million-line report must not become one 112 MB event. Longer
# texts are cut with a note; the full text stays where it came from (the failed SIP's report.json,
# the package's own metadata).
MAX_EVENT_TEXT = 16 * 1024


def bounded_text(text: str, limit: int, where: str) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut and where the rest is."""
    if len(text) <= limit:
        return text
    note = f" … [{len(text) - limit} more characters; the full text is in {where}]"
    return text[: max(0, limit - len(note))] + note


def new_event(
    event_type: str,
    outcome: str,
    *,
    aip_id: str | None,
    detail: str,
    outcome_detail: str = "",
    object_ids: Iterable[str] = (),
    agents: Iterable[dict[str, str]] = (),
    object_roles: Iterable[str] = (),
) -> dict[str, Any]:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown PREMIS event type {event_type!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown event outcome {outcome!r}")
    return {
        "id": str(uuid.uuid4()),
        "aip_id": aip_id,
        "object_ids": list(object_ids),
        "event_type": event_type,
        "event_datetime": now_iso(),
        "detail": bounded_text(detail, MAX_EVENT_TEXT, "the package"),
        "outcome": outcome,
        "outcome_detail": bounded_text(outcome_detail, MAX_EVENT_TEXT, "the report of this step"),
        "agents": [
            {"type": a["type"], "value": a["value"], "role": a.get("role", "executing program")} for a in agents
        ],
        **({"object_roles": list(object_roles)} if object_roles else {}),
    }


def _q(tag: str) -> str:
    return f"{{{PREMIS_NS}}}{tag}"


def _leaf(parent: etree._Element, tag: str, text: str | None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, _q(tag), attrs)
    element.text = text
    return element


def _identifier(parent: etree._Element, kind: str, id_type: str, value: str) -> None:
    holder = etree.SubElement(parent, _q(f"{kind}Identifier"))
    _leaf(holder, f"{kind}IdentifierType", id_type)
    _leaf(holder, f"{kind}IdentifierValue", value)


def entity_element(aip_id: str, label: str) -> etree._Element:
    obj = etree.Element(_q("object"), {f"{{{XSI_NS}}}type": "premis:intellectualEntity"}, nsmap={"premis": PREMIS_NS})
    _identifier(obj, "object", "UUID", aip_id)
    _leaf(obj, "originalName", label)
    return obj


def file_element(item: dict[str, Any]) -> etree._Element:
    """``item``: id, original_name, size, digests{alg: hex}, puid, format_name, format_version."""
    obj = etree.Element(_q("object"), {f"{{{XSI_NS}}}type": "premis:file"}, nsmap={"premis": PREMIS_NS})
    _identifier(obj, "object", "UUID", item["id"])
    characteristics = etree.SubElement(obj, _q("objectCharacteristics"))
    _leaf(characteristics, "compositionLevel", "0")
    for algorithm, digest in item["digests"].items():
        fixity = etree.SubElement(characteristics, _q("fixity"))
        _leaf(fixity, "messageDigestAlgorithm", {"sha256": "SHA-256", "sha512": "SHA-512"}.get(algorithm, algorithm))
        _leaf(fixity, "messageDigest", digest)
        _leaf(fixity, "messageDigestOriginator", "Kho")
    _leaf(characteristics, "size", str(item["size"]))
    fmt = etree.SubElement(characteristics, _q("format"))
    designation = etree.SubElement(fmt, _q("formatDesignation"))
    _leaf(designation, "formatName", item.get("format_name") or item.get("mime") or "Unknown")
    if item.get("format_version"):
        _leaf(designation, "formatVersion", item["format_version"])
    if item.get("puid"):
        registry = etree.SubElement(fmt, _q("formatRegistry"))
        _leaf(registry, "formatRegistryName", "PRONOM")
        _leaf(registry, "formatRegistryKey", item["puid"])
        _leaf(registry, "formatRegistryRole", "identification")
    _leaf(obj, "originalName", item["original_name"])
    if item.get("source_id"):
        relationship = etree.SubElement(obj, _q("relationship"))
        _leaf(relationship, "relationshipType", "derivation", authority="relationshipType")
        _leaf(relationship, "relationshipSubType", "has source", authority="relationshipSubType")
        related = etree.SubElement(relationship, _q("relatedObjectIdentifier"))
        _leaf(related, "relatedObjectIdentifierType", "UUID")
        _leaf(related, "relatedObjectIdentifierValue", item["source_id"])
    return obj


def event_element(event: dict[str, Any]) -> etree._Element:
    element = etree.Element(_q("event"), nsmap={"premis": PREMIS_NS})
    _identifier(element, "event", "UUID", event["id"])
    _leaf(element, "eventType", event["event_type"], authority="eventType", authorityURI=EVENT_TYPE_AUTHORITY)
    _leaf(element, "eventDateTime", event["event_datetime"])
    if event.get("detail"):
        info = etree.SubElement(element, _q("eventDetailInformation"))
        _leaf(info, "eventDetail", event["detail"])
    outcome = etree.SubElement(element, _q("eventOutcomeInformation"))
    _leaf(outcome, "eventOutcome", event["outcome"])
    if event.get("outcome_detail"):
        detail = etree.SubElement(outcome, _q("eventOutcomeDetail"))
        _leaf(detail, "eventOutcomeDetailNote", event["outcome_detail"])
    for agent in event.get("agents", []):
        link = etree.SubElement(element, _q("linkingAgentIdentifier"))
        _leaf(link, "linkingAgentIdentifierType", agent["type"])
        _leaf(link, "linkingAgentIdentifierValue", agent["value"])
        _leaf(link, "linkingAgentRole", agent.get("role", "executing program"))
    roles = event.get("object_roles") or []
    for index, object_id in enumerate(event.get("object_ids", [])):
        link = etree.SubElement(element, _q("linkingObjectIdentifier"))
        _leaf(link, "linkingObjectIdentifierType", "UUID")
        _leaf(link, "linkingObjectIdentifierValue", object_id)
        if index < len(roles) and roles[index]:
            _leaf(link, "linkingObjectRole", roles[index])
    return element


def agent_element(agent: dict[str, str]) -> etree._Element:
    element = etree.Element(_q("agent"), nsmap={"premis": PREMIS_NS})
    _identifier(element, "agent", agent["type"], agent["value"])
    _leaf(element, "agentName", agent["name"])
    _leaf(element, "agentType", agent["agent_type"])
    if agent.get("version"):
        _leaf(element, "agentVersion", agent["version"])
    return element


def write_premis(
    xf: Any,
    *,
    entity: etree._Element | list[etree._Element] | None,
    files: Iterable[dict[str, Any] | etree._Element],
    events: Iterable[dict[str, Any] | etree._Element],
    agents: Iterable[dict[str, str]],
    schema_location: bool = True,
) -> None:
    """Write one ``premis:premis`` element into an open ``etree.xmlfile`` (streaming)."""
    attrs = {"version": "3.0"}
    if schema_location:
        attrs[f"{{{XSI_NS}}}schemaLocation"] = PREMIS_SCHEMA
    with xf.element(_q("premis"), attrs, nsmap={"premis": PREMIS_NS, "xsi": XSI_NS}):
        for element in entity if isinstance(entity, list) else [entity] if entity is not None else []:
            xf.write(element)
        for item in files:  # dicts, or elements built once for the several documents that carry them
            xf.write(item if isinstance(item, etree._Element) else file_element(item))
        for event in events:
            xf.write(event if isinstance(event, etree._Element) else event_element(event))
        for agent in agents:
            xf.write(agent_element(agent))

"""The OAI-PMH 2.0 response document and the two metadata formats, built with lxml.

Every text put into a response goes through :func:`text`: NFC (Vietnamese typed with combining marks
compares and displays as the precomposed form harvesters index), and the characters XML 1.0 cannot
carry dropped, so no producer's bag-info can make a response unserialisable. The schemas these follow
are kept in ``schemas/oai-pmh`` (SOURCE.txt there); the tests validate every response against them.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

from lxml import etree

from packages.aip import DC_MAPPING, DC_NS, OAI_DC_NS
from packages.tt05 import HOSO_FIELDS
from preservation.oai.records import Record, field_value

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_XSD = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_DC_XSD = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
# Kho's own namespace for the TT 05 dossier record (schemas/oai-pmh/ead_tt05.xsd, served at /oai/ead_tt05.xsd):
# OAI-PMH needs metadata in a namespace, and TT 05's EAD.xml has none
EAD_TT05_NS = "urn:kho:oai:ead_tt05:1"
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
# characters XML 1.0 allows (the rest, e.g. a stray U+0001 in a bag-info value, cannot be serialised)
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# the TT 05 dossier fields ead_tt05 carries, in TT 05 order: all but the internal notes (never public)
_EAD_FIELDS = tuple(spec.tag for spec in HOSO_FIELDS if spec.tag != "description")


def text(value: object) -> str:
    return _NOT_XML.sub("", unicodedata.normalize("NFC", str(value)))


def stamp(moment: datetime) -> str:
    """A UTC datestamp at the repository's granularity (seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def q(name: str) -> str:
    return f"{{{OAI_NS}}}{name}"


def sub(parent: etree._Element, name: str, value: object | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, q(name), {k: text(v) for k, v in attributes.items()})
    if value is not None:
        element.text = text(value)
    return element


def envelope(base_url: str, request_args: dict[str, str], now: datetime) -> tuple[etree._Element, etree._Element]:
    """The root and its ``request`` element; ``request_args`` only when the request was well formed (the
    protocol asks for the bare base URL in answer to badVerb and badArgument)."""
    root = etree.Element(q("OAI-PMH"), nsmap={None: OAI_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_NS} {OAI_XSD}")
    sub(root, "responseDate", stamp(now))
    request = sub(root, "request", base_url, **request_args)
    return root, request


def serialise(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def header(parent: etree._Element, record: Record, identifier: str) -> etree._Element:
    element = sub(parent, "header", **({"status": "deleted"} if record.deleted else {}))
    sub(element, "identifier", identifier)
    sub(element, "datestamp", stamp(record.datestamp))
    for spec in record.sets:
        sub(element, "setSpec", spec)
    return element


def _iso(value: str) -> str:
    """``02/01/2024`` → ``2024-01-02``; anything else as it is."""
    match = re.fullmatch(r"\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*", value)
    return f"{match[3]}-{int(match[2]):02d}-{int(match[1]):02d}" if match else value


def _values(value: str | list[str]) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def oai_dc(record: Record, identifier: str, publisher: str) -> etree._Element:
    """Dublin Core as ``packages.aip.write_dublin_core`` maps bag-info, from the fields a reader may read
    (so never a Contact-Name as contributor), plus the repository's identifier, publisher and the rights."""
    root = etree.Element(f"{{{OAI_DC_NS}}}dc", nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_DC_NS} {OAI_DC_XSD}")
    lowered: dict[str, str | list[str]] = {k.lower(): v for k, v in record.fields.items()}
    seen: set[tuple[str, str]] = set()

    def add(element: str, value: str) -> None:
        value = text(value).strip()
        if value and (element, value) not in seen:
            seen.add((element, value))
            etree.SubElement(root, f"{{{DC_NS}}}{element}").text = value

    if "title" not in lowered and record.title:
        add("title", record.title)
    for label, element in DC_MAPPING:
        if label.lower() in lowered:
            for value in _values(lowered[label.lower()]):
                add(element, value)
    # TT 05 dates are DD/MM/YYYY; Dublin Core's are W3CDTF, an interval written start/end
    dates = [_iso(v) for v in (field_value(record.fields, "startDate"), field_value(record.fields, "endDate")) if v]
    if dates:
        add("date", "/".join(dict.fromkeys(dates)))
    add("publisher", publisher)
    add("identifier", identifier)
    add("identifier", f"urn:uuid:{record.aip_id}")
    add("type", "Collection")
    add("rights", "Công khai (TT 05 chế độ sử dụng 01) / Public (TT 05 access regime 01)")
    return root


def ead_tt05(record: Record, identifier: str, arc_file_code: str | None, schema_url: str) -> etree._Element:
    """The TT 05 dossier (hồ sơ) fields of ``EAD.xml`` a reader may read, in TT 05 order, under Kho's
    namespace (``schemas/oai-pmh/ead_tt05.xsd``). Built from the catalog's bag-info, which holds the
    dossier's fields; the documents' records (EAD_doc) live only in the stored package and are not listed."""
    root = etree.Element(f"{{{EAD_TT05_NS}}}hoSo", nsmap={"tt05": EAD_TT05_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{EAD_TT05_NS} {schema_url}")
    root.set("identifier", text(identifier))
    if arc_file_code:
        root.set("arcFileCode", text(arc_file_code))
    for name in _EAD_FIELDS:
        value = field_value(record.fields, name)
        if name == "title" and not value:
            value = record.title
        if value:
            etree.SubElement(root, f"{{{EAD_TT05_NS}}}{name}").text = text(value)
    return root

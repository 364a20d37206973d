"""XML well-formedness with lxml's parser locked down, and XSD validation only against schemas we hold.

The parser expands no entities, loads no DTD and touches no network, so a billion-laughs document or
an external-entity probe is parsed, not executed. Without a schema the best verdict is
"well-formed": a ``schemaLocation`` URL is a claim, and fetching it would make validation depend
on the network. ``schema_catalog`` maps a namespace URI to a local XSD path; when the root element's
namespace is in it, the document is validated against that schema (valid / well-formed with the
schema errors as warnings).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lxml import etree

from format_registry import safexml

from .results import VALID, WELL_FORMED, Message, ValidationResult, not_validated, status_from_messages

XSI = "http://www.w3.org/2001/XMLSchema-instance"
# libxml2 errors that mean "too big or too amplified to parse safely" (entity bombs, excessive depth).
_PARSER_LIMITS = ("XML_PARSE_HUGE", "amplification", "Excessive depth", "xmlCtxtSetMax")
MAX_SCHEMA_MESSAGES = 50

_schemas: dict[tuple[str, float], Any] = {}
_schemas_lock = threading.Lock()


def _version() -> str:
    return f"{'.'.join(map(str, etree.LXML_VERSION[:3]))} (libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))})"


def _load_schema(path: Path) -> Any:
    key = (str(path.resolve()), path.stat().st_mtime)
    with _schemas_lock:
        if key not in _schemas:
            _schemas[key] = safexml.schema(path)
        return _schemas[key]


def _schema_locations(root: Any) -> dict[str, str]:
    pairs = (root.get(f"{{{XSI}}}schemaLocation") or "").split()
    found = dict(zip(pairs[::2], pairs[1::2], strict=False))
    no_ns = root.get(f"{{{XSI}}}noNamespaceSchemaLocation")
    if no_ns:
        found[""] = no_ns
    return found


def validate_xml(
    path: str | os.PathLike[str], *, schema_catalog: Mapping[str, str | os.PathLike[str]] | None = None
) -> ValidationResult:
    """Well-formedness always; XSD validation when ``schema_catalog`` holds the root namespace's schema."""
    path = Path(path)
    parser = safexml.parser()  # no entities, no DTD, no network, libxml2's default size limits
    details: dict[str, Any] = {}
    messages: list[Message] = []
    try:
        tree = safexml.parse(path, parser)
    except etree.XMLSyntaxError as exc:
        text = str(exc)
        if any(limit in text for limit in _PARSER_LIMITS):  # libxml2's safety limits, not a well-formedness verdict
            return not_validated(
                f"not performed: document exceeds parser limits ({text})",
                validator="lxml",
                tool_version=_version(),
                module="XML",
            )
        line, column = exc.position if exc.position else (None, None)
        messages.append(Message("xml.not-well-formed", "error", exc.msg or text, None, f"line {line}, column {column}"))
        return ValidationResult(status_from_messages(messages), "lxml", _version(), "XML", tuple(messages), details)
    except OSError as exc:
        # libxml2 reports bytes that contradict the declared encoding as a read error ("Invalid bytes in
        # character encoding"); the file itself is readable, so that is a well-formedness verdict, not a crash.
        with open(path, "rb") as fh:  # a genuinely unreadable file still raises here, for the caller
            fh.read(1)
        text = str(exc).replace(f"'{path}'", "").replace("Error reading file :", "").strip()
        messages.append(Message("xml.encoding", "error", f"bytes do not decode as the declared encoding: {text}"))
        return ValidationResult(status_from_messages(messages), "lxml", _version(), "XML", tuple(messages), details)
    for entry in parser.error_log:
        messages.append(Message("xml.parser", "info", entry.message, None, f"line {entry.line}, column {entry.column}"))
    root = tree.getroot()
    qname = etree.QName(root)
    namespace = qname.namespace or ""
    locations = _schema_locations(root)
    details.update(
        root=qname.localname,
        namespace=namespace or None,
        xml_version=tree.docinfo.xml_version,
        encoding=tree.docinfo.encoding,
        doctype_system_id=tree.docinfo.system_url,
        schema_locations=locations,
    )
    schema_path = (schema_catalog or {}).get(namespace)
    if schema_path is None:
        where = f"namespace {namespace}" if namespace else "documents without a namespace"
        messages.append(Message("xml.no-schema", "info", f"no schema held for {where}: well-formedness only"))
        unique = tuple(dict.fromkeys(messages))
        return ValidationResult(status_from_messages(unique, WELL_FORMED), "lxml", _version(), "XML", unique, details)
    details["schema"] = str(schema_path)
    try:
        schema = _load_schema(Path(schema_path))
    except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        messages.append(Message("xml.schema.unusable", "info", f"schema {schema_path} cannot be loaded: {exc}"))
        unique = tuple(dict.fromkeys(messages))
        return ValidationResult(status_from_messages(unique, WELL_FORMED), "lxml", _version(), "XML", unique, details)
    with _schemas_lock:  # a compiled schema and its error log are shared state
        errors = [] if schema.validate(tree) else list(schema.error_log)[:MAX_SCHEMA_MESSAGES]
    for entry in errors:
        messages.append(
            Message("xml.schema", "warning", entry.message, None, f"line {entry.line}, column {entry.column}")
        )
    unique = tuple(dict.fromkeys(messages))
    return ValidationResult(status_from_messages(unique, VALID), "lxml", _version(), "XSD", unique, details)

"""SIARD 2.x packages (eCH-0165): the archive of a relational database, checked against its own XSDs.

A SIARD file is a ZIP (checked by :mod:`.container` first) holding ``header/metadata.xml`` (with its XSD
``header/metadata.xsd``), an empty folder ``header/siardversion/<version>/`` and, per table,
``content/<schema>/<table>/<table>.xml`` with the table's XSD beside it. The checks here:

* ``metadata.xml`` is well-formed, in the SIARD 2 namespace, valid against the package's
  ``metadata.xsd``, and its ``version`` attribute agrees with the ``siardversion`` folder;
* every table listed in ``metadata.xml`` has its XML and XSD; the XML is well-formed and valid against
  that XSD; it holds as many rows as ``<rows>`` says and its XSD as many columns as are listed;
* each column's SQL:2008 type (``<type>`` in ``metadata.xml``) maps onto the XML Schema type its table
  XSD gives the column (eCH-0165 2.1 section 5.3: INTEGER -> xs:integer, CHARACTER VARYING -> xs:string
  ...): a table declared INTEGER whose XSD and data are strings is a "schema error";
* the file is named ``*.siard`` (eCH-0165 2.1 section 4.1).

A package's XSDs are its own claim, so only the versions whose rules these checks implement (2.1 and
2.2, PRONOM fmt/1196 and fmt/1777) can be "valid"; SIARD 1.0/2.0 or an unknown version is
"well-formed" at best. Tables larger than ``MAX_TABLE_BYTES`` are counted (streamed), not validated.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from lxml import etree

from format_registry import safexml

from .results import Message

NS_METADATA = "http://www.bar.admin.ch/xmlns/siard/2/metadata.xsd"
VALIDATED_VERSIONS = frozenset({"2.1", "2.2"})
MAX_TABLE_BYTES = 64 * 1024 * 1024
MAX_TABLES = 2000
MAX_SCHEMA_MESSAGES = 20
_XS = "http://www.w3.org/2001/XMLSchema"
# SQL:2008 type (first words, upper case) -> XML Schema type names its column may have (eCH-0165 2.1, 5.3).
_TYPE_FAMILIES: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = tuple(
    (re.compile(pattern), frozenset(names))
    for pattern, names in (
        (r"^(BIGINT|INTEGER|INT|SMALLINT)\b", {"integer"}),
        (r"^(DECIMAL|NUMERIC|DEC)\b", {"decimal"}),
        (r"^(REAL|FLOAT|DOUBLE PRECISION|DOUBLE)\b", {"float", "double"}),
        (r"^BOOLEAN\b", {"boolean"}),
        (r"^(CHARACTER LARGE OBJECT|CLOB|NCLOB|NATIONAL CHARACTER LARGE OBJECT|XML)\b", {"clobType", "string"}),
        (r"^(BINARY LARGE OBJECT|BLOB)\b", {"blobType", "hexBinary"}),
        (r"^(BINARY VARYING|VARBINARY|BINARY)\b", {"hexBinary", "blobType"}),
        (r"^(CHARACTER|CHAR|VARCHAR|NATIONAL CHARACTER|NCHAR|NATIONAL CHAR)\b", {"string", "clobType"}),
        (r"^DATE\b", {"dateType", "date"}),
        (r"^TIMESTAMP\b", {"dateTimeType", "dateTime"}),
        (r"^TIME\b", {"timeType", "time"}),
        (r"^INTERVAL\b", {"duration"}),
    )
)


class _Resolver(etree.Resolver):
    """Schema imports/includes resolve inside the package only (never the file system or network)."""

    def __init__(self, archive: zipfile.ZipFile, base: str) -> None:
        super().__init__()
        self.archive, self.base = archive, base

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        name = f"{self.base}/{Path(system_url).name}"
        if name in self.archive.namelist():
            return self.resolve_string(self.archive.read(name), context)
        return self.resolve_string(b"<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'/>", context)


def _parser(archive: zipfile.ZipFile | None = None, base: str = "") -> etree.XMLParser:
    parser = safexml.parser()
    if archive is not None:
        parser.resolvers.add(_Resolver(archive, base))
    return parser


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _text(element: Any, name: str) -> str | None:
    found = next((c for c in element if _local(c.tag) == name), None)
    return found.text.strip() if found is not None and found.text else None


def _schema(archive: zipfile.ZipFile, name: str) -> tuple[Any, str | None]:
    try:
        base = name.rsplit("/", 1)[0]
        return etree.XMLSchema(safexml.fromstring(archive.read(name), _parser(archive, base))), None
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, KeyError, zipfile.BadZipFile, OSError) as exc:
        return None, str(exc)


def _xsd_columns(xsd: Any) -> list[tuple[str, str]]:
    """(element name, XML Schema type local name) of the row type's columns, in order."""
    root = xsd if xsd is not None else None
    if root is None:
        return []
    row_type = next(
        (e for e in root.iter(f"{{{_XS}}}complexType") if e.get("name") in ("recordType", "rowType")), None
    )
    if row_type is None:
        return []
    columns = []
    for element in row_type.iter(f"{{{_XS}}}element"):
        kind = element.get("type") or ""
        columns.append((element.get("name") or "", kind.split(":")[-1]))
    return columns


def _version_folder(names: list[str]) -> str | None:
    for name in names:
        found = re.match(r"^header/siardversion/([^/]+)/", name)
        if found:
            return found.group(1)
    return None


def siard_rules(archive: zipfile.ZipFile, path: Path, details: dict[str, Any]) -> tuple[list[Message], bool]:
    """Messages for a SIARD package, and whether its version is one these checks can call valid."""
    messages: list[Message] = []
    names = archive.namelist()
    if path.suffix.lower() != ".siard":
        messages.append(Message("siard.extension", "warning", f"named {path.name!r}: SIARD files end in .siard"))
    if "header/metadata.xml" not in names:
        return [*messages, Message("siard.metadata", "error", "header/metadata.xml missing")], False
    folder = _version_folder(names)
    details["siard_version_folder"] = folder
    try:
        metadata = safexml.fromstring(archive.read("header/metadata.xml"), _parser())
    except etree.XMLSyntaxError as exc:
        return [*messages, Message("siard.metadata", "error", f"metadata.xml is not well-formed: {exc}")], False
    namespace = etree.QName(metadata).namespace
    version = (metadata.get("version") or "").strip()
    details.update(siard_version=version or None, siard_namespace=namespace)
    if namespace != NS_METADATA or _local(metadata.tag) != "siardArchive":
        text = f"metadata.xml root is {{{namespace}}}{_local(metadata.tag)}, not SIARD 2 siardArchive"
        return [*messages, Message("siard.metadata", "error", text)], False
    if folder is None:
        messages.append(Message("siard.version", "error", "no header/siardversion/<version>/ folder"))
    elif folder != version:
        text = f"metadata.xml says version {version!r}, the siardversion folder {folder!r}"
        messages.append(Message("siard.version", "error", text))
    validated = version in VALIDATED_VERSIONS and folder == version
    if not validated:
        messages.append(Message("siard.scope", "info", f"SIARD {version or '?'}: Kho validates SIARD 2.1 and 2.2"))
    if "header/metadata.xsd" not in names:
        messages.append(Message("siard.xsd", "warning", "header/metadata.xsd missing: metadata.xml not validated"))
    else:
        schema, problem = _schema(archive, "header/metadata.xsd")
        if schema is None:
            messages.append(Message("siard.xsd", "warning", f"header/metadata.xsd unusable: {problem}"))
        elif not schema.validate(etree.ElementTree(metadata)):
            for entry in list(schema.error_log)[:MAX_SCHEMA_MESSAGES]:
                messages.append(Message("siard.metadata.schema", "warning", f"metadata.xml line {entry.line}: "
                                        f"{entry.message}"))
    messages += _tables(archive, metadata, set(names), details)
    return messages, validated


def _tables(archive: zipfile.ZipFile, metadata: Any, names: set[str], details: dict[str, Any]) -> list[Message]:
    messages: list[Message] = []
    checked = 0
    for schema_el in (e for e in metadata.iter() if _local(e.tag) == "schema"):
        schema_folder = _text(schema_el, "folder")
        tables = next((c for c in schema_el if _local(c.tag) == "tables"), None)
        if schema_folder is None or tables is None:
            continue
        for table in (t for t in tables if _local(t.tag) == "table"):
            if checked >= MAX_TABLES:
                messages.append(Message("siard.capped", "info", f"tables after the first {MAX_TABLES} not checked"))
                details["tables_checked"] = checked
                return messages
            checked += 1
            messages += _table(archive, schema_folder, table, names)
    details["tables_checked"] = checked
    return messages


def _table(archive: zipfile.ZipFile, schema_folder: str, table: Any, names: set[str]) -> list[Message]:
    folder = _text(table, "folder") or ""
    label = f"table {schema_folder}/{folder}"
    base = f"content/{schema_folder}/{folder}/{folder}"
    missing = [n for n in (f"{base}.xml", f"{base}.xsd") if n not in names]
    if missing:
        return [Message("siard.table.missing", "error", f"{label}: {', '.join(missing)} missing")]
    messages: list[Message] = []
    declared_rows = _text(table, "rows")
    columns_el = next((c for c in table if _local(c.tag) == "columns"), None)
    columns = [c for c in columns_el if _local(c.tag) == "column"] if columns_el is not None else []
    try:
        xsd_tree = safexml.fromstring(archive.read(f"{base}.xsd"), _parser())
    except etree.XMLSyntaxError as exc:
        return [Message("siard.table.xsd", "error", f"{label}: XSD is not well-formed: {exc}")]
    xsd_columns = _xsd_columns(xsd_tree)
    if xsd_columns and len(xsd_columns) != len(columns):
        text = f"{label}: metadata.xml lists {len(columns)} columns, the table XSD {len(xsd_columns)}"
        messages.append(Message("siard.table.columns", "warning", text))
    for index, (column, (element, xsd_type)) in enumerate(zip(columns, xsd_columns, strict=False), start=1):
        sql = (_text(column, "type") or _text(column, "typeName") or "").upper()
        family = next((allowed for pattern, allowed in _TYPE_FAMILIES if pattern.match(sql)), None)
        if family is not None and xsd_type and xsd_type not in family:
            name = _text(column, "name") or element
            text = f"{label} column {index} ({name}): SQL type {sql} but XSD type {xsd_type}"
            messages.append(Message("siard.table.type", "warning", text))
    info = archive.getinfo(f"{base}.xml")
    if info.file_size > MAX_TABLE_BYTES:
        messages.append(Message("siard.table.capped", "info", f"{label}: {info.file_size} bytes, not validated"))
        return messages
    try:
        data = safexml.fromstring(archive.read(info), _parser())
    except etree.XMLSyntaxError as exc:
        return [*messages, Message("siard.table.xml", "error", f"{label}: table XML is not well-formed: {exc}")]
    rows = sum(1 for e in data if _local(e.tag) == "row")
    if declared_rows is not None and declared_rows.isdigit() and int(declared_rows) != rows:
        text = f"{label}: {rows} rows, metadata.xml says {declared_rows}"
        messages.append(Message("siard.table.rows", "warning", text))
    schema, problem = _schema(archive, f"{base}.xsd")
    if schema is None:
        messages.append(Message("siard.table.xsd", "warning", f"{label}: XSD unusable: {problem}"))
    elif not schema.validate(etree.ElementTree(data)):
        for entry in list(schema.error_log)[:MAX_SCHEMA_MESSAGES]:
            messages.append(Message("siard.table.schema", "warning", f"{label} line {entry.line}: {entry.message}"))
    return messages


__all__ = ["NS_METADATA", "VALIDATED_VERSIONS", "siard_rules"]

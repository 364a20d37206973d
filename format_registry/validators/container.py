"""ZIP container integrity (plain ZIP, OOXML, ODF, EPUB) with :mod:`zipfile`, guarded against zip bombs.

Every entry is decompressed in chunks so that ``zipfile`` verifies its CRC-32; a bad central
directory, a CRC mismatch or overlapping entries make the file invalid. Decompression stops at
``max_uncompressed`` bytes in total, and entries with an absurd compression ratio are not inflated:
what was not read is reported, and the file cannot then be "valid". ``zipfile`` never yields more
than an entry's declared size, so a lying header cannot inflate past the cap.

Package rules on top: OOXML needs ``[Content_Types].xml`` and ``_rels/.rels``; ODF and EPUB need a
first, stored, extra-field-free ``mimetype`` entry with the right media type, plus their manifest
(``META-INF/manifest.xml``) or container (``META-INF/container.xml`` -> OPF -> manifest items). Package
XML is parsed with the secure parser; every XML part of an OOXML, ODF or EPUB package must be
well-formed (content.xml or word/document.xml that is not is a broken document, not a warning), and an
OOXML package's main part (the ``officeDocument`` relationship of ``_rels/.rels``) must exist. SIARD
packages get :mod:`.siard`'s rules.

A file identified only as a generic ZIP is looked into first: a ``mimetype`` entry naming an ODF or EPUB
type, ``[Content_Types].xml`` or a SIARD ``header/`` makes it that kind of package, judged by that
kind's rules (identification by signature can miss a damaged package). A plain ZIP whose entries all
check out is "valid"; an empty one is "well-formed" (nothing in it to check); for OOXML, ODF and EPUB
the best verdict is "well-formed", since the documents inside are not validated.
"""

from __future__ import annotations

import itertools
import lzma
import os
import posixpath
import struct
import sys
import zipfile
import zlib
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from .results import VALID, WELL_FORMED, Message, ValidationResult, status_from_messages

DEFAULT_MAX_UNCOMPRESSED = 8 * 1024**3  # bytes inflated per container, in total
MAX_RATIO = 1000  # entries expanding more than this (and beyond MIN_RATIO_SIZE) are not inflated
MIN_RATIO_SIZE = 64 * 1024**2
MAX_XML_PART = 64 * 1024**2
CHUNK = 1024 * 1024
KINDS = ("zip", "epub", "odf", "ooxml", "siard")

_LOCAL_HEADER = struct.Struct("<4s5H3I2H")
_ODF_MANIFEST = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
_XML_SUFFIXES = (".xml", ".rels", ".opf", ".ncx", ".xhtml", ".svg")
# What reading a damaged entry raises: bad CRC, corrupt deflate/LZMA data, truncated file.
_READ_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, zlib.error, lzma.LZMAError)


def _version() -> str:
    return f"Python {sys.version.split()[0]}"


def _check_entries(archive: zipfile.ZipFile, max_uncompressed: int, details: dict[str, Any]) -> list[Message]:
    """CRC of every entry (within the budget), names, encryption, duplicates and overlaps."""
    messages: list[Message] = []
    infos = archive.infolist()
    for name in sorted(n for n, count in Counter(i.filename for i in infos).items() if count > 1):
        messages.append(Message("zip.duplicate", "warning", f"duplicate entry name {name!r}"))
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for current, following in itertools.pairwise(ordered):
        if following.header_offset < current.header_offset + _LOCAL_HEADER.size + current.compress_size:
            messages.append(
                Message(
                    "zip.overlap",
                    "error",
                    f"entries {current.filename!r} and {following.filename!r} overlap",
                    following.header_offset,
                )
            )
    budget = max_uncompressed
    checked = encrypted = 0
    for info in infos:
        name = info.filename
        if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
            messages.append(Message("zip.path.absolute", "warning", f"absolute path {name!r}"))
        elif ".." in PurePosixPath(name).parts:
            messages.append(Message("zip.path.parent", "info", f"{name!r} climbs out of the archive when extracted"))
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            encrypted += 1
            continue
        if info.file_size > MIN_RATIO_SIZE and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            messages.append(
                Message(
                    "zip.ratio",
                    "warning",
                    f"{name!r} not inflated: {info.file_size} bytes from {info.compress_size} (zip bomb?)",
                    info.header_offset,
                )
            )
            continue
        if info.file_size > budget:
            messages.append(
                Message(
                    "zip.capped",
                    "info",
                    f"{name!r} and later entries not checked: {max_uncompressed}-byte decompression cap reached",
                )
            )
            details["unchecked_from"] = name
            break
        try:
            with archive.open(info) as entry:
                while chunk := entry.read(CHUNK):
                    budget -= len(chunk)
        except NotImplementedError as exc:
            messages.append(Message("zip.method", "info", f"{name!r} not checked: {exc}"))
            continue
        except _READ_ERRORS as exc:
            messages.append(Message("zip.entry", "error", f"{name!r}: {exc}", info.header_offset))
            continue
        checked += 1
    details.update(entries=len(infos), entries_checked=checked, bytes_inflated=max_uncompressed - budget)
    if encrypted:
        details["encrypted_entries"] = encrypted
        messages.append(Message("zip.encrypted", "info", f"{encrypted} encrypted entries: CRC not checked"))
    return messages


def _local_extra_length(path: Path, info: zipfile.ZipInfo) -> int:
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size:
        return 0
    return int(_LOCAL_HEADER.unpack(header)[-1])


def _mimetype_rules(archive: zipfile.ZipFile, path: Path, expected: str, details: dict[str, Any]) -> list[Message]:
    """ODF/OCF: ``mimetype`` first, stored, no extra field, holding the media type in ASCII."""
    infos = archive.infolist()
    if not infos or infos[0].filename != "mimetype":
        where = "missing" if "mimetype" not in archive.namelist() else "not the first entry"
        return [Message("package.mimetype", "error", f"mimetype entry {where}")]
    first = infos[0]
    messages = []
    if first.compress_type != zipfile.ZIP_STORED:
        messages.append(Message("package.mimetype", "error", "mimetype entry is compressed", first.header_offset))
    if first.extra or _local_extra_length(path, first):
        messages.append(Message("package.mimetype", "warning", "mimetype has an extra field", first.header_offset))
    try:
        media_type = archive.read(first)[:200].decode("ascii").strip()
    except (UnicodeDecodeError, *_READ_ERRORS) as exc:
        return [*messages, Message("package.mimetype", "error", f"mimetype unreadable: {exc}")]
    details["package_mimetype"] = media_type
    if not media_type.startswith(expected):
        messages.append(Message("package.mimetype", "error", f"mimetype is {media_type!r}, expected {expected}"))
    return messages


def _parse_part(archive: zipfile.ZipFile, name: str) -> tuple[Any, str | None]:
    info = archive.getinfo(name)
    if info.file_size > MAX_XML_PART or info.file_size == 0:  # LibreOffice writes empty placeholder parts
        return None, None
    from lxml import etree

    from format_registry import safexml  # lxml only when a package's XML part is read

    try:
        return safexml.fromstring(archive.read(info)), None
    except (etree.XMLSyntaxError, ValueError) as exc:
        return None, str(exc)
    except _READ_ERRORS as exc:  # already reported by the CRC pass
        return None, f"unreadable: {exc}"


def _xml_parts(archive: zipfile.ZipFile, required: set[str]) -> list[Message]:
    """Every XML part must be well-formed; ``required`` parts must also be there (and not empty)."""
    messages = []
    names = set(archive.namelist())
    for name in sorted(required - names):
        messages.append(Message("package.part", "error", f"{name} missing"))
    for name in archive.namelist():
        if not name.lower().endswith(_XML_SUFFIXES):
            continue
        _, error = _parse_part(archive, name)
        if error:
            messages.append(Message("package.xml", "error", f"{name} is not well-formed XML: {error}"))
    return messages


def sniff(archive: zipfile.ZipFile) -> str:
    """The package kind a ZIP's own entries say it is (zip when none)."""
    infos = archive.infolist()
    names = {i.filename for i in infos}
    if infos and infos[0].filename == "mimetype":
        try:
            media_type = archive.read(infos[0])[:200].decode("ascii", "replace").strip()
        except _READ_ERRORS:
            media_type = ""
        if media_type.startswith("application/vnd.oasis.opendocument."):
            return "odf"
        if media_type == "application/epub+zip":
            return "epub"
    if "[Content_Types].xml" in names:
        return "ooxml"
    if "header/metadata.xml" in names and any(n.startswith("header/siardversion/") for n in names):
        return "siard"
    return "zip"


def _epub_rules(archive: zipfile.ZipFile, path: Path, details: dict[str, Any]) -> list[Message]:
    messages = _mimetype_rules(archive, path, "application/epub+zip", details)
    names = set(archive.namelist())
    container_name = "META-INF/container.xml"
    if container_name not in names:
        return [*messages, Message("epub.container", "error", "META-INF/container.xml missing")]
    container, error = _parse_part(archive, container_name)
    if container is None:
        return [*messages, Message("epub.container", "error", f"META-INF/container.xml unusable: {error}")]
    rootfiles = [e.get("full-path") for e in container.iter() if isinstance(e.tag, str) and e.tag.endswith("rootfile")]
    opf_name = next((r for r in rootfiles if r), None)
    if opf_name is None or opf_name not in names:
        return [*messages, Message("epub.opf", "error", f"package document {opf_name!r} (container.xml) missing")]
    details["package_document"] = opf_name
    required = {container_name, opf_name}
    messages += _xml_parts(archive, required)
    opf, _ = _parse_part(archive, opf_name)
    if opf is None:
        return messages
    base = posixpath.dirname(opf_name)
    items = [e for e in opf.iter() if isinstance(e.tag, str) and e.tag.endswith("}item") and e.get("href")]
    details["manifest_items"] = len(items)
    for item in items:
        href = unquote(item.get("href", "").split("#", 1)[0])
        if "://" in href:
            continue
        target = posixpath.normpath(posixpath.join(base, href))
        if target not in names:
            messages.append(Message("epub.manifest", "warning", f"manifest item {href!r} not in the container"))
    return messages


def _odf_rules(archive: zipfile.ZipFile, path: Path, details: dict[str, Any]) -> list[Message]:
    messages = _mimetype_rules(archive, path, "application/vnd.oasis.opendocument.", details)
    names = set(archive.namelist())
    if "META-INF/manifest.xml" not in names:
        messages.append(Message("odf.manifest", "error", "META-INF/manifest.xml missing"))
    if "content.xml" not in names:
        messages.append(Message("odf.content", "warning", "content.xml missing: the package holds no document body"))
    manifest, _ = _parse_part(archive, "META-INF/manifest.xml") if "META-INF/manifest.xml" in names else (None, None)
    if manifest is not None:
        for entry in manifest.iter():
            full_path = entry.get(f"{{{_ODF_MANIFEST}}}full-path") if isinstance(entry.tag, str) else None
            if full_path and full_path != "/" and not full_path.endswith("/") and full_path not in names:
                messages.append(Message("odf.manifest", "warning", f"manifest lists {full_path!r}, not in the package"))
    return messages + _xml_parts(archive, set())


def _ooxml_rules(archive: zipfile.ZipFile, details: dict[str, Any]) -> list[Message]:
    messages = _xml_parts(archive, {"[Content_Types].xml", "_rels/.rels"})
    names = set(archive.namelist())
    rels, _ = _parse_part(archive, "_rels/.rels") if "_rels/.rels" in names else (None, None)
    if rels is None:
        return messages
    main = next((r.get("Target") for r in rels.iter() if isinstance(r.tag, str)
                 and (r.get("Type") or "").endswith("/officeDocument")), None)
    if main is None:
        return [*messages, Message("ooxml.main", "error", "_rels/.rels names no officeDocument (main) part")]
    part = posixpath.normpath(unquote(main).lstrip("/"))
    details["main_part"] = part
    if part not in names:
        messages.append(Message("ooxml.main", "error", f"main part {part} missing"))
    return messages


def validate_container(
    path: str | os.PathLike[str], *, kind: str = "zip", max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED
) -> ValidationResult:
    """Check a ZIP-based file; ``kind`` (zip, epub, odf, ooxml) selects the package rules."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    path = Path(path)
    details: dict[str, Any] = {"package": kind}
    messages: list[Message] = []
    best = VALID if kind in ("zip", "siard") else WELL_FORMED
    try:
        with zipfile.ZipFile(path) as archive:
            messages += _check_entries(archive, max_uncompressed, details)
            if kind == "zip":
                kind = sniff(archive)
                if kind != "zip":
                    details.update(package=kind, identified_as="zip")
                    text = f"a generic ZIP by identification, but its entries make it a {kind} package"
                    messages.append(Message("package.sniffed", "info", text))
                    best = VALID if kind == "siard" else WELL_FORMED
                elif not archive.infolist():
                    messages.append(Message("zip.empty", "info", "the archive holds no entries: nothing to check"))
                    best = WELL_FORMED
            if kind == "epub":
                messages += _epub_rules(archive, path, details)
            elif kind == "odf":
                messages += _odf_rules(archive, path, details)
            elif kind == "ooxml":
                messages += _ooxml_rules(archive, details)
            elif kind == "siard":
                from .siard import siard_rules

                siard_messages, validated = siard_rules(archive, path, details)
                messages += siard_messages
                best = best if validated else WELL_FORMED
    except (*_READ_ERRORS, zipfile.LargeZipFile, UnicodeDecodeError, NotImplementedError, struct.error) as exc:
        messages.append(Message("zip.structure", "error", f"not a readable ZIP: {type(exc).__name__}: {exc}"))
    module = {"zip": "ZIP", "epub": "EPUB", "odf": "ODF", "ooxml": "OOXML", "siard": "SIARD"}[kind]
    if kind not in ("zip", "siard"):
        messages.append(Message("package.scope", "info", f"{module} package checked; documents inside not validated"))
    if any(m.id in ("zip.capped", "zip.encrypted", "zip.method") for m in messages):
        best = WELL_FORMED  # something was not read, so nothing can vouch for it
    unique = tuple(dict.fromkeys(messages))
    return ValidationResult(status_from_messages(unique, best), "zipfile", _version(), module, unique, details)

"""PDF validation with pikepdf/qpdf plus checks qpdf does not make because it repairs silently.

qpdf opens almost anything: it reconstructs a broken cross-reference table, overrides wrong /Type
keys and recovers stream lengths, reporting each repair as a warning. Those warnings are sorted here:
structural repairs (damaged xref, missing header or trailer, wrong catalog/page-tree types) make the file
``invalid``; other deviations (stream length recovered, CR-only ``stream`` EOL, content problems) make it
``well-formed``; linearization hint-table mismatches are informational (readers ignore hint tables).
On top come byte-level header/trailer checks, page-tree /Count, resources used by page content that
the page does not define, /Type values that are not names, malformed Info dates and image dimensions
that contradict their JPEG data, and a header version older than a feature the file needs (FlateDecode
under ``%PDF-1.0``, object streams under 1.4: ``pdf.version.content``). A PDF/A claim in XMP is reported,
with a few blatant contradictions, but PDF/A conformance of originals is not verified here (copies Kho
makes are: see ``pdfa.py``).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pikepdf

from .results import Message, ValidationResult, status_from_messages

KNOWN_VERSIONS = frozenset({"1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "2.0"})
MAX_OBJECTS_LINTED = 500_000
MAX_PAGES_LINTED = 2_000
MAX_IMAGE_BYTES_CHECKED = 64 * 1024 * 1024

_HEADER = re.compile(rb"%PDF-(\d+)\.(\d+)")
_STARTXREF = re.compile(rb"startxref\s*(\d*)\s*%%EOF", re.S)
_OFFSET = re.compile(r"offset (\d+)")
# D:YYYYMMDDHHmmSSOHH'mm' with optional tail; "Z'" (OpenOffice) and "Z00'00'" are common and tolerated.
_DATE = re.compile(r"^(D:)?\d{4}(\d{2}){0,5}([Zz+\-]'?(\d{2}'?(\d{2}'?)?)?)?$")

# qpdf warnings that mean it had to repair the file's structure: the file is not well-formed.
_STRUCTURAL = re.compile(
    r"file is damaged|xref not found|reconstruct|can't find PDF header|can't find startxref|expected n n obj"
    r"|unable to find|recovered trailer|trailer dictionary|/Type key should be|\bCatalog:|loop detected"
    r"|parse error while reading object|unknown token while reading object|invalid xref|/Size key"
    r"|dictionary ended prematurely|object has offset 0|xref stream|treating as null|unexpected EOF",
    re.I,
)
# Linearization (fast web view) hint tables are wrong in many real files and ignored by readers; a
# reference to an object missing from the xref is the null object by ISO 32000-1 7.3.10, not an error.
_INFO_ONLY = re.compile(
    r"hint table|linearization|linearized file|shared object|page length mismatch|end of first page section"
    r"|object count mismatch for page|outline hints|shared identifier entries|first page|no xref table entry for",
    re.I,
)
_DEVICE_SPACES = frozenset({"/DeviceGray", "/DeviceRGB", "/DeviceCMYK", "/Pattern"})
_RESOURCE_OPS = {"Tf": "/Font", "Do": "/XObject", "gs": "/ExtGState", "sh": "/Shading"}


def _version() -> str:
    return f"{pikepdf.__version__} (libqpdf {pikepdf.__libqpdf_version__})"


def _clean(text: str, path: Path) -> tuple[str, int | None]:
    """qpdf message without the file name, and the byte offset it names."""
    text = text.replace(str(path), "").lstrip(":, ").strip()
    found = _OFFSET.search(text)
    return text, int(found.group(1)) if found else None


def _qpdf_message(raw: str, path: Path, source: str) -> Message:
    text, offset = _clean(raw, path)
    level = "warning"
    if text.startswith("WARNING:"):
        text = text[len("WARNING:") :].strip()
    elif text.startswith("ERROR:"):
        text = text[len("ERROR:") :].strip()
    if _INFO_ONLY.search(text):
        return Message("pdf.linearization" if "xref" not in text else "pdf.reference.null", "info", text, offset)
    if _STRUCTURAL.search(text):
        level = "error"
    return Message(f"pdf.{source}", level, text, offset)


def _check_bytes(path: Path, size: int, details: dict[str, Any]) -> list[Message]:
    """Header at byte 0 with a known version, and ``startxref N %%EOF`` at the end."""
    messages = []
    with open(path, "rb") as fh:
        head = fh.read(1024)
        fh.seek(max(0, size - 2048))
        tail = fh.read()
    found = _HEADER.search(head)
    if found is None:
        messages.append(Message("pdf.header.missing", "error", "no %PDF-n.m header in the first 1024 bytes", 0))
    else:
        version = f"{int(found.group(1))}.{int(found.group(2))}"
        details["header_version"] = version
        if found.start() != 0:
            messages.append(
                Message("pdf.header.offset", "warning", f"header starts at byte {found.start()}, not 0", found.start())
            )
        if version not in KNOWN_VERSIONS:  # JHOVE: unknown 1.x is well-formed, any other version is not
            level = "warning" if version.startswith("1.") else "error"
            messages.append(Message("pdf.header.version", level, f"unknown PDF version {version} in header", 0))
    if b"%%EOF" not in tail:
        messages.append(Message("pdf.eof.missing", "error", "no %%EOF marker at the end of the file", size))
    else:
        found_all = list(_STARTXREF.finditer(tail))
        match = found_all[-1] if found_all else None
        if match is None:
            messages.append(Message("pdf.startxref.missing", "error", "no startxref before the final %%EOF", size))
        elif not match.group(1):
            messages.append(Message("pdf.startxref.offset", "error", "startxref gives no byte offset", size))
    return messages


def _is_name(value: Any) -> bool:
    return isinstance(value, pikepdf.Name)


def _dict_of(obj: Any) -> Any:
    if isinstance(obj, pikepdf.Stream):
        return obj.stream_dict
    if isinstance(obj, pikepdf.Dictionary):
        return obj
    return None


def _lint_objects(pdf: pikepdf.Pdf) -> Iterator[Message]:
    """/Type and /Subtype must be names; image /Width and /Height must match JPEG data."""
    for index, obj in enumerate(pdf.objects):
        if index >= MAX_OBJECTS_LINTED:
            yield Message("pdf.lint.capped", "info", f"object checks stopped after {MAX_OBJECTS_LINTED} objects")
            return
        mapping = _dict_of(obj)
        if mapping is None:
            continue
        for key in ("/Type", "/Subtype"):
            value = mapping.get(key)
            if value is not None and not _is_name(value):
                num, gen = obj.objgen
                yield Message("pdf.object.type", "warning", f"object {num} {gen}: {key} is not a name")
        if isinstance(obj, pikepdf.Stream) and mapping.get("/Subtype") == pikepdf.Name.Image:
            yield from _check_jpeg_image(obj)


def _check_jpeg_image(obj: Any) -> Iterator[Message]:
    filters = obj.stream_dict.get("/Filter")
    names = [filters] if _is_name(filters) else list(filters) if isinstance(filters, pikepdf.Array) else []
    if names != [pikepdf.Name.DCTDecode]:
        return
    length = obj.stream_dict.get("/Length")
    if not isinstance(length, int) or length > MAX_IMAGE_BYTES_CHECKED:
        return
    from PIL import Image

    label = f"image object {obj.objgen[0]} {obj.objgen[1]}"
    try:
        with Image.open(io.BytesIO(obj.read_raw_bytes())) as image:
            width, height = image.size
    except Exception as exc:  # Pillow raises many types for undecodable data
        yield Message("pdf.image.jpeg", "warning", f"{label}: JPEG data cannot be read ({exc})")
        return
    declared = (obj.stream_dict.get("/Width"), obj.stream_dict.get("/Height"))
    if declared != (width, height):
        yield Message(
            "pdf.image.size", "warning", f"{label}: /Width /Height {declared} differ from the JPEG's {width}x{height}"
        )


def _check_page_tree(pdf: pikepdf.Pdf) -> Iterator[Message]:
    """Empty intermediate nodes and /Count values that disagree with the leaves below them."""
    seen: set[tuple[int, int]] = set()

    def leaves(node: Any) -> Iterator[Message | int]:
        key = node.objgen
        label = f"{key[0]} {key[1]}"
        if key != (0, 0):
            if key in seen:
                return
            seen.add(key)
        kids = node.get("/Kids")
        if node.get("/Type") != pikepdf.Name.Pages and kids is None:
            yield 1
            return
        if not isinstance(kids, pikepdf.Array) or len(kids) == 0:
            yield Message("pdf.pagetree.empty", "warning", f"page tree node {label} has no /Kids")
            yield 0
            return
        total = 0
        for kid in kids:
            if not isinstance(kid, pikepdf.Dictionary):
                yield Message("pdf.pagetree.kid", "warning", f"page tree node {label} has a non-dictionary kid")
                continue
            for item in leaves(kid):
                if isinstance(item, Message):
                    yield item
                else:
                    total += item
        count = node.get("/Count")
        if count != total:
            yield Message(
                "pdf.pagetree.count", "warning", f"page tree node {label}: /Count {count}, {total} pages below"
            )
        yield total

    root = pdf.Root.get("/Pages")
    if isinstance(root, pikepdf.Dictionary):
        for item in leaves(root):
            if isinstance(item, Message):
                yield item


def _check_page_content(pdf: pikepdf.Pdf) -> Iterator[Message]:
    """Resources used by page content must be defined; BT/ET must pair up."""
    for number, page in enumerate(pdf.pages, start=1):
        if number > MAX_PAGES_LINTED:
            yield Message("pdf.lint.capped", "info", f"content checks stopped after {MAX_PAGES_LINTED} pages")
            return
        resources = page.obj.get("/Resources")
        try:
            instructions = pikepdf.parse_content_stream(page)
        except Exception as exc:  # PdfParsingError and qpdf's own errors
            yield Message("pdf.content.parse", "warning", f"page {number}: content stream cannot be parsed ({exc})")
            continue
        in_text = False
        missing: set[tuple[str, str]] = set()
        for instruction in instructions:
            if not isinstance(instruction, pikepdf.ContentStreamInstruction):
                continue  # inline images
            op = str(instruction.operator)
            operands = instruction.operands
            if op == "BT":
                if in_text:
                    yield Message("pdf.content.text", "warning", f"page {number}: BT inside a text object")
                in_text = True
            elif op == "ET":
                if not in_text:
                    yield Message("pdf.content.text", "warning", f"page {number}: ET without BT")
                in_text = False
            category = _RESOURCE_OPS.get(op)
            if op in ("cs", "CS") and operands and str(operands[0]) not in _DEVICE_SPACES:
                category = "/ColorSpace"
            if category and operands and _is_name(operands[0]):
                name = str(operands[0])
                table = resources.get(category) if isinstance(resources, pikepdf.Dictionary) else None
                if (not isinstance(table, pikepdf.Dictionary) or name not in table) and (category, name) not in missing:
                    missing.add((category, name))
                    yield Message(
                        "pdf.content.resource", "warning", f"page {number}: {op} uses {name}, not in {category}"
                    )
        if in_text:
            yield Message("pdf.content.text", "warning", f"page {number}: text object not closed (BT without ET)")


# Features and the PDF version that introduced them (ISO 32000-1 and the PDF 1.x references). A file whose
# header (or catalog /Version, which overrides a lower header from 1.4 on) is older than a feature a reader
# must understand to read it (a filter, object or xref streams, an encryption method, CID fonts)
# contradicts itself. Additions an older reader simply ignores (XMP metadata, transparency keys, optional
# content) are common in files written "for compatibility" and are reported as information only.
_IGNORABLE = frozenset({"an XMP metadata stream", "optional content", "transparency (graphics state)",
                        "transparency (soft masks)"})
_FILTER_VERSIONS = {"/FlateDecode": "1.2", "/JBIG2Decode": "1.4", "/JPXDecode": "1.5"}
_XREF_STREAM = re.compile(rb"/Type\s*/(ObjStm|XRef)\b")
MAX_VERSION_SCAN = 64 * 1024 * 1024


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _features(pdf: pikepdf.Pdf, path: Path) -> dict[str, str]:
    """What the file uses that a PDF version introduced: feature description -> version."""
    found: dict[str, str] = {}
    root = pdf.Root
    if isinstance(root.get("/Metadata"), pikepdf.Stream):
        found["an XMP metadata stream"] = "1.4"
    if "/OCProperties" in root:
        found["optional content"] = "1.5"
    encrypt = pdf.trailer.get("/Encrypt")
    if isinstance(encrypt, pikepdf.Dictionary):
        filters = encrypt.get("/CF")
        methods = {str(v.get("/CFM")) for v in filters.values()} if isinstance(filters, pikepdf.Dictionary) else set()
        if "/AESV2" in methods:
            found["AES-128 encryption"] = "1.6"
    for index, obj in enumerate(pdf.objects):
        if index >= MAX_OBJECTS_LINTED:
            break
        mapping = _dict_of(obj)
        if mapping is None:
            continue
        if isinstance(obj, pikepdf.Stream):
            filters = mapping.get("/Filter")
            for name in filters if isinstance(filters, pikepdf.Array) else [filters]:
                if str(name) in _FILTER_VERSIONS:
                    found[f"the {str(name)[1:]} filter"] = _FILTER_VERSIONS[str(name)]
            if mapping.get("/Subtype") == pikepdf.Name.Image and "/SMask" in mapping:
                found["transparency (soft masks)"] = "1.4"
        subtype = mapping.get("/Subtype")
        if mapping.get("/Type") == pikepdf.Name.Font and subtype == pikepdf.Name.Type0:
            found["Type 0 (CID) fonts"] = "1.2"
        if mapping.get("/Type") == pikepdf.Name.ExtGState:
            smask = mapping.get("/SMask")
            if (smask is not None and smask != pikepdf.Name("/None")) or "/ca" in mapping or "/CA" in mapping:
                found["transparency (graphics state)"] = "1.4"
        if subtype == pikepdf.Name.OpenType:
            found["OpenType font programs"] = "1.6"
    if path.stat().st_size <= MAX_VERSION_SCAN:
        with open(path, "rb") as fh:
            if _XREF_STREAM.search(fh.read()):
                found["object or cross-reference streams"] = "1.5"
    return found


def _check_version(pdf: pikepdf.Pdf, path: Path, details: dict[str, Any]) -> Iterator[Message]:
    """The header version (raised by a catalog /Version) must be at least that of every feature used."""
    header = details.get("header_version")
    if header is None or header not in KNOWN_VERSIONS:
        return
    declared = header
    catalog = pdf.Root.get("/Version")
    if isinstance(catalog, pikepdf.Name) and str(catalog)[1:] in KNOWN_VERSIONS:
        details["catalog_version"] = str(catalog)[1:]
        if _version_key(str(catalog)[1:]) > _version_key(declared):
            declared = str(catalog)[1:]
    newer = {f: v for f, v in _features(pdf, path).items() if _version_key(v) > _version_key(declared)}
    if newer:
        details["content_version"] = max(newer.values(), key=_version_key)
    required = {f: v for f, v in newer.items() if f not in _IGNORABLE}
    ignorable = {f: v for f, v in newer.items() if f in _IGNORABLE}
    if required:
        uses = ", ".join(f"{feature} (PDF {version})" for feature, version in sorted(required.items()))
        yield Message(
            "pdf.version.content", "warning", f"declares PDF {declared} but uses {uses}: the version contradicts it"
        )
    if ignorable:
        uses = ", ".join(f"{feature} (PDF {version})" for feature, version in sorted(ignorable.items()))
        text = f"declares PDF {declared}; also has {uses}, which older readers ignore"
        yield Message("pdf.version.later", "info", text)


def _check_info_dates(pdf: pikepdf.Pdf) -> Iterator[Message]:
    info = pdf.trailer.get("/Info")
    if not isinstance(info, pikepdf.Dictionary):
        return
    for key in ("/CreationDate", "/ModDate"):
        value = info.get(key)
        if value is None:
            continue
        text = str(value).strip() if isinstance(value, pikepdf.String) else None
        if text is None or (text and not _DATE.match(text)):
            yield Message("pdf.info.date", "warning", f"Info {key} {str(value)[:40]!r} is not a PDF date (D:YYYYMMDD)")


def _pdfa_claim(pdf: pikepdf.Pdf, details: dict[str, Any]) -> Iterator[Message]:
    try:
        meta = pdf.open_metadata()
        part, conformance = meta.get("pdfaid:part"), meta.get("pdfaid:conformance")
    except Exception as exc:  # broken XMP must not stop validation
        yield Message("pdf.xmp", "warning", f"XMP metadata cannot be read ({exc})")
        return
    if not part:
        return
    details["pdfa"] = {"part": str(part), "conformance": str(conformance or ""), "verified": False}
    label = f"PDF/A-{part}{(conformance or '').lower()}"
    yield Message("pdf.pdfa.claim", "info", f"claims {label} (XMP pdfaid); conformance not verified")
    if pdf.is_encrypted:
        yield Message("pdf.pdfa.encrypted", "warning", f"claims {label} but is encrypted")
    used: set[str] = set()
    for index, obj in enumerate(pdf.objects):
        if index >= MAX_OBJECTS_LINTED:
            break
        mapping = _dict_of(obj)
        if mapping is None:
            continue
        filters = mapping.get("/Filter") if isinstance(obj, pikepdf.Stream) else None
        if filters is not None:
            used.update(str(f) for f in (filters if isinstance(filters, pikepdf.Array) else [filters]))
        if "/JS" in mapping or mapping.get("/S") == pikepdf.Name.JavaScript:
            used.add("JavaScript")
        if mapping.get("/Type") == pikepdf.Name.EmbeddedFile:
            used.add("EmbeddedFile")
    forbidden = {"/LZWDecode", "JavaScript"}
    if str(part) == "1":
        forbidden |= {"/JPXDecode", "EmbeddedFile"}
    for item in sorted(used & forbidden):
        yield Message("pdf.pdfa.forbidden", "warning", f"claims {label} but uses {item.lstrip('/')}, which it forbids")


def _encryption_details(pdf: pikepdf.Pdf, details: dict[str, Any]) -> Iterator[Message]:
    details["encrypted"] = bool(pdf.is_encrypted)
    if not pdf.is_encrypted:
        return
    enc = pdf.encryption
    details["encryption"] = {"R": enc.R, "V": enc.V, "bits": enc.bits, "stream_method": str(enc.stream_method)}
    denied = sorted(k for k, v in pdf.allow._asdict().items() if not v)
    details["permissions_denied"] = denied
    denies = f"; denies {', '.join(denied)}" if denied else ""
    yield Message("pdf.encrypted", "info", f"encrypted, opened without a password{denies}")


@contextlib.contextmanager
def _streams_kept() -> Iterator[None]:
    """Put ``sys.stdout``/``sys.stderr`` back after a qpdf check.

    pikepdf 10.x's ``check_pdf_syntax`` checks a linearized file's hint tables through
    ``check_linearization(StringIO())``, which leaves ``sys.stderr`` pointing at that StringIO: every
    later message of the process (``kho validate``'s own errors, tracebacks) would vanish silently.
    """
    saved = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def validate_pdf(path: str | os.PathLike[str]) -> ValidationResult:
    """Validate one PDF; see the module docstring for what each status means here."""
    path = Path(path)
    details: dict[str, Any] = {}
    size = path.stat().st_size
    messages = _check_bytes(path, size, details)
    try:
        pdf = pikepdf.open(path, suppress_warnings=True)
    except pikepdf.PasswordError:
        details["encrypted"] = True
        details["password_required"] = True
        messages.append(
            Message(
                "pdf.encrypted.password",
                "warning",
                "encrypted: does not open without a password (or its encryption data is damaged); "
                "header, trailer and xref read, objects and content not checked",
            )
        )
        return _result(messages, details)
    except Exception as exc:  # pikepdf.PdfError and anything qpdf raises on garbage
        text, offset = _clean(str(exc), path)
        messages.append(Message("pdf.parse", "error", f"qpdf cannot open the file: {text}", offset))
        return _result(messages, details)
    with pdf:
        messages += [_qpdf_message(w, path, "open") for w in pdf.get_warnings()]
        details.update(pdf_version=pdf.pdf_version, page_count=len(pdf.pages), linearized=bool(pdf.is_linearized))
        messages += list(_encryption_details(pdf, details))
        checker = getattr(pdf, "check_pdf_syntax", None) or getattr(pdf, "check", None)  # pikepdf >= 10 / 9
        try:
            with _streams_kept():
                problems = checker() if checker is not None else []
        except Exception as exc:  # a stream that cannot be decoded at all
            problems = [f"WARNING: check aborted: {exc}"]
        messages += [_qpdf_message(p, path, "check") for p in problems]
        for check in (_check_page_tree, _check_page_content, _lint_objects, _check_info_dates):
            try:
                messages += list(check(pdf))
            except Exception as exc:  # a lint must never crash validation
                messages.append(Message("pdf.lint.failed", "warning", f"{check.__name__.lstrip('_')} failed: {exc}"))
        try:
            messages += list(_check_version(pdf, path, details))
        except Exception as exc:  # as above
            messages.append(Message("pdf.lint.failed", "warning", f"check_version failed: {exc}"))
        messages += list(_pdfa_claim(pdf, details))
    return _result(messages, details)


def _result(messages: list[Message], details: dict[str, Any]) -> ValidationResult:
    unique = tuple(dict.fromkeys(messages))
    return ValidationResult(status_from_messages(unique), "pikepdf", _version(), "PDF", unique, details)

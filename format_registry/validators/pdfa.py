"""PDF/A checks for preservation copies: veraPDF where installed, Kho's own pikepdf checks otherwise.

A PDF/A copy is the preservation copy of a document (TT 05/2025 Điều 8), so it is checked before it is
accepted. :func:`check_pdfa` asks veraPDF (``$KHO_VERAPDF``, see :mod:`.verapdf`) when it is there; when
it is not, or it gives no verdict, :func:`check_pdfa_builtin` runs the checks that catch what converters
actually get wrong:

* the file starts with ``%PDF-`` and the binary comment line, has a file identifier and no encryption;
* XMP metadata (an unfiltered ``/Metadata`` stream) claims ``pdfaid:part``/``conformance``, matching the
  level asked for;
* an OutputIntent (``/S /GTS_PDFA1``) with an embedded ``DestOutputProfile`` whenever device colour
  (DeviceRGB/CMYK/Gray, in content streams, images, colour spaces or shadings) is used, of the right
  number of components, and one profile only;
* every font embedded (Type 3 fonts excepted, which are content streams);
* every Info dictionary entry that has an XMP counterpart present there with the same value;
* none of what PDF/A forbids outright: LZW, JavaScript; for PDF/A-1 also transparency, JPEG 2000 and
  embedded files; for levels "a" and "u" Unicode mappings, for "a" the structure tree.

These are necessary conditions, not a conformance check: the built-in verdict is at best
"well-formed" (``details["pdfa"]["verified"]`` is False), an error is "invalid". veraPDF's verdict is
"valid" (compliant) or "invalid" (rules failed).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pikepdf

from .results import (
    DEFAULT_TIMEOUT,
    INVALID,
    NOT_VALIDATED,
    WELL_FORMED,
    Message,
    ValidationResult,
    status_from_messages,
)

MAX_OBJECTS = 500_000
MAX_STREAMS_PARSED = 5_000
_TARGET = re.compile(r"PDF/A-?([1-4])([abuef]?)", re.I)
_DEVICE = {"/DeviceRGB": "RGB", "/DeviceCMYK": "CMYK", "/DeviceGray": "Gray"}
_INLINE_DEVICE = {"/RGB": "RGB", "/CMYK": "CMYK", "/G": "Gray", **_DEVICE}
_OPERATOR_SPACE = {"rg": "RGB", "RG": "RGB", "k": "CMYK", "K": "CMYK", "g": "Gray", "G": "Gray"}
_COMPONENTS = {"RGB": 3, "CMYK": 4}
_STANDARD_ENCODINGS = frozenset({"/WinAnsiEncoding", "/MacRomanEncoding", "/StandardEncoding"})
_XMP_FOR_INFO = {
    "/Title": "dc:title",
    "/Author": "dc:creator",
    "/Subject": "dc:description",
    "/Keywords": "pdf:Keywords",
    "/Creator": "xmp:CreatorTool",
    "/Producer": "pdf:Producer",
    "/CreationDate": "xmp:CreateDate",
    "/ModDate": "xmp:ModifyDate",
}


def parse_target(target: str | None) -> tuple[str, str] | None:
    """("2", "B") for "PDF/A-2b"; None when ``target`` names no PDF/A level (a policy target like "TIFF")."""
    found = _TARGET.search(target or "")
    if found is None:
        return None
    return found.group(1), found.group(2).upper()


def _version() -> str:
    return f"kho-pdfa (pikepdf {pikepdf.__version__})"


def _name(value: Any) -> str | None:
    return str(value) if isinstance(value, pikepdf.Name) else None


def _header_checks(path: Path) -> Iterator[Message]:
    with open(path, "rb") as fh:
        head = fh.read(64)
    if not head.startswith(b"%PDF-"):
        yield Message("pdfa.header", "error", "file does not start with %PDF- (ISO 19005 6.1.2)", 0)
        return
    lines = head.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    comment = lines[1] if len(lines) > 1 else b""
    if not (comment.startswith(b"%") and sum(1 for b in comment[1:5] if b > 127) == 4):
        yield Message("pdfa.header.binary", "error", "no binary comment line (4 bytes > 127) after the header")


def _device_spaces_in(space: Any) -> set[str]:
    """Device colour spaces a colour space object relies on (Indexed/Separation/DeviceN bases included)."""
    name = _name(space)
    if name is not None:
        return {_DEVICE[name]} if name in _DEVICE else set()
    found: set[str] = set()
    if isinstance(space, pikepdf.Array) and len(space) > 0:
        family = _name(space[0])
        if family == "/Indexed" and len(space) > 1:
            found |= _device_spaces_in(space[1])
        elif family in ("/Separation", "/DeviceN") and len(space) > 2:
            found |= _device_spaces_in(space[2])
        elif family == "/Pattern" and len(space) > 1:
            found |= _device_spaces_in(space[1])
    return found


def _content_spaces(stream: Any) -> set[str]:
    """Device colour set by operators in one content stream (rg/k/g, cs with a device name, inline images)."""
    found: set[str] = set()
    for instruction in pikepdf.parse_content_stream(stream):
        if isinstance(instruction, pikepdf.ContentStreamInlineImage):
            mapping = instruction.iimage.obj  # abbreviations (/CS /RGB) already expanded
            space = mapping.get("/ColorSpace", mapping.get("/CS"))
            found |= {_INLINE_DEVICE[str(space)]} if _name(space) in _INLINE_DEVICE else set()
            continue
        op = str(instruction.operator)
        if op in _OPERATOR_SPACE:
            found.add(_OPERATOR_SPACE[op])
        elif op in ("cs", "CS") and instruction.operands:
            found |= _device_spaces_in(instruction.operands[0])
    return found


def _device_colour(pdf: pikepdf.Pdf) -> tuple[set[str], list[Message]]:
    """Every device colour space the document uses, from objects and from parsed content streams."""
    used: set[str] = set()
    messages: list[Message] = []
    parsed = 0
    for index, obj in enumerate(pdf.objects):
        if index >= MAX_OBJECTS:
            messages.append(Message("pdfa.capped", "info", f"colour checks stopped after {MAX_OBJECTS} objects"))
            break
        mapping = obj.stream_dict if isinstance(obj, pikepdf.Stream) else obj
        if not isinstance(mapping, pikepdf.Dictionary):
            continue
        for key in ("/ColorSpace", "/CS"):
            if key in mapping:
                used |= _device_spaces_in(mapping[key])
        if isinstance(mapping.get("/ColorSpace"), pikepdf.Dictionary):  # a resources /ColorSpace table
            for space in mapping["/ColorSpace"].values():
                used |= _device_spaces_in(space)
        is_form = isinstance(obj, pikepdf.Stream) and mapping.get("/Subtype") == pikepdf.Name.Form
        is_tiling = isinstance(obj, pikepdf.Stream) and mapping.get("/PatternType") == 1
        if (is_form or is_tiling) and parsed < MAX_STREAMS_PARSED:
            parsed += 1
            try:
                used |= _content_spaces(obj)
            except Exception as exc:  # pikepdf.PdfParsingError and qpdf errors
                messages.append(Message("pdfa.content", "error", f"content stream cannot be parsed ({exc})"))
    for number, page in enumerate(pdf.pages, start=1):
        if parsed >= MAX_STREAMS_PARSED:
            messages.append(Message("pdfa.capped", "info", f"colour checks stopped after {parsed} content streams"))
            break
        parsed += 1
        try:
            used |= _content_spaces(page)
        except Exception as exc:  # pikepdf.PdfParsingError and qpdf errors
            messages.append(Message("pdfa.content", "error", f"page {number}: content cannot be parsed ({exc})"))
    return used, messages


def _output_intent_checks(pdf: pikepdf.Pdf, used: set[str], details: dict[str, Any]) -> Iterator[Message]:
    intents = pdf.Root.get("/OutputIntents")
    profiles = []
    if isinstance(intents, pikepdf.Array):
        for intent in intents:
            if isinstance(intent, pikepdf.Dictionary) and intent.get("/S") == pikepdf.Name("/GTS_PDFA1"):
                profile = intent.get("/DestOutputProfile")
                if isinstance(profile, pikepdf.Stream):
                    profiles.append(profile)
    details["device_colour"] = sorted(used)
    details["output_intent"] = bool(profiles)
    if len({p.objgen for p in profiles}) > 1:
        yield Message("pdfa.outputintent.many", "error", "more than one DestOutputProfile in the GTS_PDFA1 intents")
    if not used:
        return
    if not profiles:
        yield Message(
            "pdfa.outputintent.missing",
            "error",
            f"device colour ({', '.join(sorted(used))}) used without a PDF/A OutputIntent with a DestOutputProfile",
        )
        return
    components = profiles[0].stream_dict.get("/N")
    details["output_intent_components"] = int(components) if isinstance(components, int) else None
    for space in sorted(used & set(_COMPONENTS)):
        if components != _COMPONENTS[space]:
            yield Message(
                "pdfa.outputintent.space",
                "error",
                f"Device{space} used, but the OutputIntent's profile has {components} components",
            )


def _font_checks(pdf: pikepdf.Pdf, conformance: str | None, details: dict[str, Any]) -> Iterator[Message]:
    fonts = 0
    for index, obj in enumerate(pdf.objects):
        if index >= MAX_OBJECTS:
            break
        if not isinstance(obj, pikepdf.Dictionary) or obj.get("/Type") != pikepdf.Name.Font:
            continue
        subtype = _name(obj.get("/Subtype"))
        if subtype in ("/Type3", "/Type0"):  # Type 0: its descendant CIDFont is checked as a font of its own
            if subtype == "/Type0" and conformance in ("A", "U") and "/ToUnicode" not in obj:
                yield Message("pdfa.font.unicode", "error", f"font {obj.get('/BaseFont')} has no ToUnicode map")
            continue
        fonts += 1
        base = str(obj.get("/BaseFont", "(unnamed)"))
        descriptor = obj.get("/FontDescriptor")
        embedded = isinstance(descriptor, pikepdf.Dictionary) and any(
            k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")
        )
        if not embedded:
            yield Message("pdfa.font.embedded", "error", f"font {base} ({subtype}) is not embedded")
        is_cid = subtype in ("/CIDFontType0", "/CIDFontType2")
        encoding = _name(obj.get("/Encoding"))
        if conformance in ("A", "U") and not is_cid and "/ToUnicode" not in obj and encoding not in _STANDARD_ENCODINGS:
            yield Message("pdfa.font.unicode", "error", f"font {base} has neither ToUnicode nor a standard encoding")
    details["fonts_checked"] = fonts


def _as_text(value: Any) -> str:
    if isinstance(value, list | tuple | set):
        return "; ".join(str(v) for v in value)
    return str(value)


_PDF_DATE = re.compile(
    r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:(Z)|([+-])(\d{2})'?(?:(\d{2})'?)?)?'?"
)


def _pdf_date(text: str) -> dt.datetime:
    """A PDF date string as a datetime; tolerates LibreOffice's ``Z'`` and the missing closing apostrophe."""
    found = _PDF_DATE.match(text.strip())
    if found is None:
        raise ValueError(f"not a PDF date: {text!r}")
    year, month, day, hour, minute, second, zulu, sign, tz_hours, tz_minutes = found.groups()
    zone: dt.tzinfo | None = None
    if zulu:
        zone = dt.UTC
    elif sign:
        offset = dt.timedelta(hours=int(tz_hours), minutes=int(tz_minutes or 0))
        zone = dt.timezone(-offset if sign == "-" else offset)
    return dt.datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                       int(second or 0), tzinfo=zone)


def _same_instant(info_date: str, xmp_date: str) -> bool:
    try:
        left = _pdf_date(info_date)
        right = dt.datetime.fromisoformat(xmp_date.replace("Z", "+00:00"))
    except ValueError:
        return False
    if (left.tzinfo is None) != (right.tzinfo is None):
        left, right = left.replace(tzinfo=None), right.replace(tzinfo=None)
    return left == right


def _metadata_checks(
    pdf: pikepdf.Pdf, part: str | None, conformance: str | None, details: dict[str, Any]
) -> Iterator[Message]:
    stream = pdf.Root.get("/Metadata")
    if not isinstance(stream, pikepdf.Stream):
        yield Message("pdfa.xmp.missing", "error", "no XMP metadata stream in the document catalog")
        return
    if "/Filter" in stream.stream_dict:
        yield Message("pdfa.xmp.filter", "error", "the XMP metadata stream is filtered (compressed)")
    try:
        meta = pdf.open_metadata()
        claimed_part = meta.get("pdfaid:part")
        claimed_conformance = meta.get("pdfaid:conformance")
    except Exception as exc:  # unparseable XMP
        yield Message("pdfa.xmp.unreadable", "error", f"XMP metadata cannot be read ({exc})")
        return
    details["claimed"] = {"part": claimed_part, "conformance": claimed_conformance}
    if not claimed_part:
        yield Message("pdfa.xmp.pdfaid", "error", "XMP has no pdfaid:part: the file does not claim PDF/A")
    elif part and str(claimed_part).strip() != part:
        yield Message("pdfa.xmp.pdfaid", "error", f"claims PDF/A-{claimed_part}, PDF/A-{part} was asked for")
    if claimed_part and str(claimed_part).strip() in ("1", "2", "3") and not claimed_conformance:
        yield Message("pdfa.xmp.pdfaid", "error", "XMP has pdfaid:part but no pdfaid:conformance")
    elif conformance and claimed_conformance and str(claimed_conformance).strip().upper() != conformance:
        yield Message(
            "pdfa.xmp.pdfaid",
            "error",
            f"claims conformance level {claimed_conformance}, level {conformance} was asked for",
        )
    info = pdf.trailer.get("/Info")
    if not isinstance(info, pikepdf.Dictionary):
        return
    for key, xmp_key in _XMP_FOR_INFO.items():
        if key not in info:
            continue
        info_value = str(info[key])
        xmp_value = meta.get(xmp_key)
        if xmp_value in (None, "", []):
            if info_value.strip():
                yield Message("pdfa.info.xmp", "error", f"Info {key} has no XMP counterpart ({xmp_key})")
            continue
        if key in ("/CreationDate", "/ModDate"):
            same = _same_instant(info_value, _as_text(xmp_value))
        else:
            same = info_value == _as_text(xmp_value)
        if not same:
            yield Message(
                "pdfa.info.xmp",
                "error",
                f"Info {key} {info_value[:60]!r} differs from XMP {xmp_key} {_as_text(xmp_value)[:60]!r}",
            )


def _forbidden(pdf: pikepdf.Pdf, part: str | None, conformance: str | None) -> Iterator[Message]:
    found: set[str] = set()
    for index, obj in enumerate(pdf.objects):
        if index >= MAX_OBJECTS:
            break
        mapping = obj.stream_dict if isinstance(obj, pikepdf.Stream) else obj
        if not isinstance(mapping, pikepdf.Dictionary):
            continue
        if isinstance(obj, pikepdf.Stream):
            filters = mapping.get("/Filter")
            names = list(filters) if isinstance(filters, pikepdf.Array) else [filters] if filters is not None else []
            found.update(str(f) for f in names)
            if part == "1" and "/SMask" in mapping:
                found.add("transparency (soft mask)")
        if "/JS" in mapping or mapping.get("/S") == pikepdf.Name.JavaScript:
            found.add("JavaScript")
        if mapping.get("/Type") == pikepdf.Name.EmbeddedFile:
            found.add("embedded files")
        if part == "1":
            group = mapping.get("/Group")
            if isinstance(group, pikepdf.Dictionary) and group.get("/S") == pikepdf.Name.Transparency:
                found.add("transparency (group)")
            smask = mapping.get("/SMask")
            if mapping.get("/Type") == pikepdf.Name.ExtGState and smask is not None and smask != pikepdf.Name("/None"):
                found.add("transparency (soft mask)")
    forbidden = {"/LZWDecode", "JavaScript"}
    if part == "1":
        forbidden |= {"/JPXDecode", "embedded files", "transparency (soft mask)", "transparency (group)"}
    for item in sorted(found & forbidden):
        yield Message("pdfa.forbidden", "error", f"uses {item.lstrip('/')}, which PDF/A-{part or '?'} forbids")
    if conformance == "A":
        mark = pdf.Root.get("/MarkInfo")
        marked = isinstance(mark, pikepdf.Dictionary) and bool(mark.get("/Marked"))
        if not marked or "/StructTreeRoot" not in pdf.Root:
            yield Message("pdfa.tagged", "error", "level A needs a tagged PDF (MarkInfo /Marked true, StructTreeRoot)")


def check_pdfa_builtin(
    path: str | os.PathLike[str], part: str | None = None, conformance: str | None = None
) -> ValidationResult:
    """Kho's own PDF/A checks (module docstring); best verdict "well-formed", an error makes it "invalid"."""
    path = Path(path)
    conformance = conformance.upper() if conformance else None
    label = f"PDF/A-{part or '?'}{(conformance or '').lower()}"
    details: dict[str, Any] = {"pdfa": {"part": part, "conformance": conformance, "verified": False}}
    messages: list[Message] = list(_header_checks(path))
    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError:
        messages.append(Message("pdfa.encrypted", "error", "encrypted with a password (PDF/A forbids encryption)"))
        return _result(messages, details, label)
    except Exception as exc:  # pikepdf.PdfError and whatever qpdf raises on a broken file
        messages.append(Message("pdfa.parse", "error", f"not a readable PDF: {exc}"))
        return _result(messages, details, label)
    with pdf:
        if pdf.is_encrypted or "/Encrypt" in pdf.trailer:
            messages.append(Message("pdfa.encrypted", "error", "the file is encrypted (PDF/A forbids encryption)"))
        if "/ID" not in pdf.trailer:
            messages.append(Message("pdfa.id", "error", "no file identifier (/ID) in the trailer"))
        checks: list[Iterator[Message]] = [
            _metadata_checks(pdf, part, conformance, details),
            _font_checks(pdf, conformance, details),
            _forbidden(pdf, part, conformance),
        ]
        for check in checks:
            try:
                messages += list(check)
            except Exception as exc:  # a check must never crash acceptance: it fails it instead
                messages.append(Message("pdfa.check.failed", "error", f"a PDF/A check could not run: {exc}"))
        try:
            used, colour_messages = _device_colour(pdf)
            messages += colour_messages
            messages += list(_output_intent_checks(pdf, used, details))
        except Exception as exc:  # as above
            messages.append(Message("pdfa.check.failed", "error", f"the colour check could not run: {exc}"))
    messages.append(Message("pdfa.scope", "info", f"{label}: Kho's built-in checks, not a full conformance check"))
    return _result(messages, details, label)


def _result(messages: list[Message], details: dict[str, Any], label: str) -> ValidationResult:
    unique = tuple(dict.fromkeys(messages))
    return ValidationResult(status_from_messages(unique, WELL_FORMED), "kho-pdfa", _version(), label, unique, details)


def check_pdfa(
    path: str | os.PathLike[str],
    part: str,
    conformance: str | None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    use_verapdf: bool = True,
) -> ValidationResult:
    """veraPDF's verdict on PDF/A-``part````conformance`` where installed, else the built-in checks.

    A veraPDF run without a verdict (timeout, crash, a file it cannot parse) falls back to the built-in
    checks, and the reason is kept in ``details["verapdf"]``.
    """
    from .verapdf import find_verapdf, flavour_for, validate_with_verapdf

    executable = find_verapdf() if use_verapdf else None
    failure: str | None = None
    if executable is not None:
        result = validate_with_verapdf(path, flavour_for(part, conformance), executable=executable, timeout=timeout)
        if result.status != NOT_VALIDATED:
            return result
        failure = result.messages[0].text if result.messages else "no verdict"
    builtin = check_pdfa_builtin(path, part, conformance)
    builtin.details["verapdf"] = failure or ("not found" if use_verapdf else "not used")
    return builtin


def accepted(result: ValidationResult) -> bool:
    """Whether a PDF/A check lets a copy be kept: no error, and a verdict was actually reached."""
    return result.status not in (INVALID, NOT_VALIDATED) and not result.errors()


__all__ = ["accepted", "check_pdfa", "check_pdfa_builtin", "parse_target"]

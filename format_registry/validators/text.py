"""Plain-text validation: the bytes must decode in the file's encoding; JSON must also parse.

The encoding is the MIME ``charset`` parameter if given, else a byte-order mark (UTF-8/16/32), else
UTF-8, the only sensible default for an archive. Decoding is incremental, so a file of any size is
read once in fixed memory, and the first bad byte's offset is reported. A clean decode is never
"valid" on its own: files that are not text at all (an SPSS portable file, a SEG-Y header, a fixed-width
export) decode just as well, and "plain text" has no rules beyond its encoding for a checker to vouch
for. So ``text/plain``, CSV, WebVTT and other ``text/*`` types are "well-formed" at best (encoding
checked). JSON is "valid" when it parses under RFC 8259: UTF-8 without a byte-order mark (8.1), no
NaN/Infinity. Bytes that are not UTF-8 in a file with no declared charset make it invalid, unless it was
identified as 8-bit legacy text (x-fmt/282, x-fmt/283), whose undeclared code page cannot be verified.
"""

from __future__ import annotations

import codecs
import json
import os
import sys
from pathlib import Path
from typing import Any

from .results import VALID, WELL_FORMED, Message, ValidationResult, status_from_messages

CHUNK = 1024 * 1024
MAX_JSON_BYTES = 64 * 1024 * 1024
_LEGACY_8BIT_PUIDS = frozenset({"x-fmt/282", "x-fmt/283"})
_PLAIN = frozenset({"", "text/plain"})
_JSON = frozenset({"application/json", "application/ld+json", "application/geo+json"})
_JSON_PUIDS = frozenset({"fmt/817", "fmt/880", "fmt/1367"})
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _charset(mime: str | None) -> str | None:
    for param in (mime or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"').lower()
    return None


def _decode(path: Path, encoding: str, details: dict[str, Any]) -> tuple[UnicodeDecodeError | None, int]:
    """Decode incrementally; count line endings. Returns the first error (if any) and its byte offset."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    consumed = 0
    endings = {"CRLF": 0, "CR": 0, "LF": 0}
    pending_cr = False
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            final = not chunk
            try:
                text = decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                return exc, consumed + exc.start
            consumed += len(chunk)
            if pending_cr and text.startswith("\n"):
                endings["CRLF"] += 1
                endings["CR"] -= 1
                text = text[1:]
            crlf = text.count("\r\n")
            endings["CRLF"] += crlf
            endings["CR"] += text.count("\r") - crlf
            endings["LF"] += text.count("\n") - crlf
            pending_cr = text.endswith("\r")
            if final:
                break
    details["line_endings"] = [k for k, v in endings.items() if v]
    return None, consumed


def validate_text(
    path: str | os.PathLike[str], *, mime: str | None = None, puid: str | None = None
) -> ValidationResult:
    """Check that a text file decodes (and, for JSON, parses)."""
    path = Path(path)
    base = (mime or "").split(";", 1)[0].strip().lower()
    declared = _charset(mime)
    with open(path, "rb") as fh:
        head = fh.read(4)
    bom = next((name for mark, name in _BOMS if head.startswith(mark)), None)
    encoding = declared or bom or "utf-8"
    details: dict[str, Any] = {"encoding": encoding, "declared_charset": declared, "bom": bom is not None}
    messages: list[Message] = []
    try:
        codecs.lookup(encoding)
    except LookupError:
        messages.append(Message("text.charset", "warning", f"unknown charset {encoding!r}: encoding not checked"))
        return _result(messages, details, WELL_FORMED, encoding)
    error, offset = _decode(path, encoding, details)
    is_json = base in _JSON or (puid or "") in _JSON_PUIDS
    if error is not None:
        if declared is None and bom is None and (puid or "") in _LEGACY_8BIT_PUIDS:
            details["encoding"] = None
            messages.append(
                Message(
                    "text.encoding.undeclared",
                    "warning",
                    f"not UTF-8 (byte {offset}); 8-bit text in an undeclared code page",
                    offset,
                )
            )
        else:
            hint = "" if declared else " and no charset declared"
            messages.append(Message("text.encoding", "error", f"not valid {encoding}{hint}: {error.reason}", offset))
        return _result(messages, details, VALID, encoding)
    if is_json:
        return _check_json(path, encoding, messages, details)
    what = "plain text: encoding checked (a decode cannot tell text from other formats)" if base in _PLAIN else (
        f"{base or 'text'}: encoding checked, syntax not validated")
    messages.append(Message("text.scope", "info", what))
    return _result(messages, details, WELL_FORMED, encoding)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (RFC 8259 section 6)")


def _check_json(path: Path, encoding: str, messages: list[Message], details: dict[str, Any]) -> ValidationResult:
    if encoding not in ("utf-8", "utf-8-sig"):
        messages.append(Message("json.encoding", "warning", f"JSON in {encoding}: RFC 8259 (8.1) requires UTF-8"))
    elif encoding == "utf-8-sig":
        messages.append(Message("json.bom", "warning", "byte-order mark before the JSON text (RFC 8259 8.1)"))
    if path.stat().st_size > MAX_JSON_BYTES:
        messages.append(Message("json.capped", "info", f"JSON syntax not checked above {MAX_JSON_BYTES} bytes"))
        return _result(messages, details, WELL_FORMED, "JSON")
    try:
        json.loads(path.read_text(encoding=encoding), parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        messages.append(Message("json.syntax", "error", f"{exc.msg} (line {exc.lineno}, column {exc.colno})"))
    except ValueError as exc:  # NaN / Infinity, refused above
        messages.append(Message("json.syntax", "error", str(exc)))
    except RecursionError:
        messages.append(Message("json.depth", "info", "JSON nesting too deep to check"))
        return _result(messages, details, WELL_FORMED, "JSON")
    return _result(messages, details, VALID, "JSON")


def _result(messages: list[Message], details: dict[str, Any], best: str, module: str) -> ValidationResult:
    version = f"Python {sys.version.split()[0]}"
    unique = tuple(dict.fromkeys(messages))
    return ValidationResult(status_from_messages(unique, best), "python-codecs", version, module, unique, details)

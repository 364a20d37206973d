"""WARC (ISO 28500; drafts 0.17/0.18, 1.0, 1.1), plain or gzip-compressed, read record by record.

Each record must start with a ``WARC/<version>`` line of a known version, have CRLF-terminated named
fields ending in an empty line, carry the mandatory fields (WARC-Record-ID, WARC-Date, WARC-Type,
Content-Length), and be followed, after exactly Content-Length bytes, by the two CRLFs that close it.
``WARC-Block-Digest`` is checked against the block and ``WARC-Payload-Digest`` against the payload (the
HTTP entity after its header for ``application/http`` blocks, except for revisit records, whose digest
names the payload of another record, and chunked HTTP bodies); hex and base32 digests are accepted. A
response or request record with an empty block is reported. The file is streamed: any size, fixed memory.

A clean walk is "valid" (these are the format's rules, as JHOVE's WARC module checks them); a
structural error (bad version line, short block, missing field, wrong digest) is "invalid".
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import sys
import zlib
from pathlib import Path
from typing import IO, Any

from .results import VALID, Message, ValidationResult, status_from_messages

VERSIONS = frozenset({"0.17", "0.18", "1.0", "1.1"})
MANDATORY = ("WARC-Record-ID", "Content-Length", "WARC-Date", "WARC-Type")
MAX_HEADER_BYTES = 1024 * 1024
MAX_RECORDS_REPORTED = 20
CHUNK = 1024 * 1024
_ALGORITHMS = {"sha1": "sha1", "sha256": "sha256", "sha512": "sha512", "md5": "md5"}


class _Stop(Exception):
    """The walk cannot go on: the message says why."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.text)
        self.message = message


def _version() -> str:
    return f"Python {sys.version.split()[0]}"


def _line(stream: IO[bytes], offset: int) -> bytes:
    line = stream.readline(MAX_HEADER_BYTES)
    if line and not line.endswith(b"\r\n"):
        text = "line does not end in CRLF" if line.endswith(b"\n") else "header line too long or cut off"
        raise _Stop(Message("warc.crlf", "error", text, offset))
    return line


def _digest_matches(claim: str, data_hash: dict[str, Any]) -> bool | None:
    """Whether ``algorithm:value`` matches; None for an algorithm Kho does not compute."""
    algorithm, _, value = claim.strip().partition(":")
    hasher = data_hash.get(_ALGORITHMS.get(algorithm.lower(), ""))
    if hasher is None or not value:
        return None
    digest = hasher.digest()
    value = value.strip()
    if value.lower() == digest.hex():
        return True
    try:
        return base64.b32decode(value.upper() + "=" * (-len(value) % 8)) == digest
    except (ValueError, TypeError):
        return False


def _record(stream: IO[bytes], offset: int, number: int, details: dict[str, Any]) -> tuple[list[Message], int]:
    """Check one record starting at ``offset``; returns its messages and the offset after it."""
    messages: list[Message] = []
    first = _line(stream, offset)
    label = f"record {number}"
    version = first[5:].strip().decode("ascii", "replace") if first.startswith(b"WARC/") else None
    if version is None:
        raise _Stop(Message("warc.version", "error", f"{label}: no WARC/<version> line", offset))
    if version not in VERSIONS:
        raise _Stop(Message("warc.version", "error", f"{label}: unknown WARC version {version!r}", offset))
    details.setdefault("versions", set()).add(version)
    position = offset + len(first)
    fields: dict[str, str] = {}
    while True:
        line = _line(stream, position)
        if not line:
            raise _Stop(Message("warc.header", "error", f"{label}: file ends inside the header", position))
        position += len(line)
        if line == b"\r\n":
            break
        name, colon, value = line.decode("utf-8", "replace").partition(":")
        if not colon:
            if line[:1] in (b" ", b"\t") and fields:  # a continuation line
                continue
            raise _Stop(Message("warc.header", "error", f"{label}: header line without a name", position))
        fields[name.strip().lower()] = value.strip()
    for required in MANDATORY:
        if required.lower() not in fields:
            messages.append(Message("warc.field", "error", f"{label}: mandatory field {required} missing", offset))
    try:
        length = int(fields.get("content-length", ""))
    except ValueError:
        raise _Stop(Message("warc.length", "error", f"{label}: Content-Length is not a number", offset)) from None
    record_type = fields.get("warc-type", "")
    block_hashes = {name: hashlib.new(name) for name in _ALGORITHMS.values()}
    payload_hashes = {name: hashlib.new(name) for name in _ALGORITHMS.values()}
    is_http = fields.get("content-type", "").lower().startswith("application/http")
    head = bytearray()  # the HTTP header, until its blank line is seen
    in_payload = not is_http
    chunked = False
    remaining = length
    while remaining:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            raise _Stop(Message("warc.block", "error", f"{label}: file ends inside the block", position + length))
        remaining -= len(chunk)
        for hasher in block_hashes.values():
            hasher.update(chunk)
        if not in_payload:
            head += chunk
            end = head.find(b"\r\n\r\n")
            if end < 0 and len(head) < MAX_HEADER_BYTES:
                continue
            in_payload = True
            chunked = b"transfer-encoding: chunked" in bytes(head[: max(end, 0)]).lower()
            chunk = bytes(head[end + 4 :]) if end >= 0 else bytes(head)
        for hasher in payload_hashes.values():
            hasher.update(chunk)
    if not in_payload:  # an application/http block without an HTTP header: the block is the payload
        for hasher in payload_hashes.values():
            hasher.update(bytes(head))
    position += length
    closing = stream.read(4)
    if closing != b"\r\n\r\n":
        text = f"{label}: block is not followed by CRLF CRLF (Content-Length {length} wrong?)"
        raise _Stop(Message("warc.length", "error", text, position))
    position += 4
    if length == 0 and record_type in ("response", "request", "resource"):
        messages.append(Message("warc.empty", "warning", f"{label}: {record_type} record with an empty block"))
    if "warc-block-digest" in fields and _digest_matches(fields["warc-block-digest"], block_hashes) is False:
        messages.append(Message("warc.digest", "error", f"{label}: WARC-Block-Digest does not match the block"))
    claim = fields.get("warc-payload-digest")
    if claim and record_type != "revisit" and not chunked and _digest_matches(claim, payload_hashes) is False:
        messages.append(Message("warc.digest", "error", f"{label}: WARC-Payload-Digest does not match the payload"))
    return messages, position


def _open(path: Path) -> Any:
    """The decompressed byte stream (gzip members one after another) or the plain file; both can peek."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def validate_warc(path: str | os.PathLike[str]) -> ValidationResult:
    """Walk every record of a WARC file (see the module docstring)."""
    path = Path(path)
    details: dict[str, Any] = {"compressed": False}
    messages: list[Message] = []
    records = 0
    try:
        with _open(path) as stream:
            details["compressed"] = isinstance(stream, gzip.GzipFile)
            offset = 0
            while stream.peek(1):
                records += 1
                found, offset = _record(stream, offset, records, details)
                if len(messages) < MAX_RECORDS_REPORTED:
                    messages += found
                else:
                    messages += [m for m in found if m.severity == "error"][:1]
    except _Stop as stop:
        messages.append(stop.message)
    except (OSError, EOFError, zlib.error) as exc:  # gzip: truncated or corrupt member
        messages.append(Message("warc.gzip", "error", f"compressed data unreadable: {exc}"))
    if records == 0 and not messages:
        messages.append(Message("warc.empty", "error", "no WARC record in the file"))
    details["records"] = records
    details["versions"] = sorted(details.get("versions", set()))
    unique = tuple(dict.fromkeys(messages))
    return ValidationResult(status_from_messages(unique, VALID), "kho-warc", _version(), "WARC", unique, details)


__all__ = ["VERSIONS", "validate_warc"]

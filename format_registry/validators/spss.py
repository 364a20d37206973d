"""SPSS portable files (.por, PRONOM fmt/997): the header and the record layout, as PSPP documents them.

A portable file is text in 80-column lines (line ends are not part of the data): 200 bytes of splash
strings, a 256-byte character translation table, the tag ``SPSSPORT`` written in the file's own
character set, the version ``A``, the creation date and time as strings (``8/yyyymmdd``, ``6/hhmmss``),
then records introduced by tag codes (``1`` product, ``4`` variable count, ``7`` variable ...) up to
``F``, the data, which ends in ``Z`` characters padding the last line.

Checked here: the translation table gives the digits and letters distinct codes, the tag and version
are there, the date and time are well-formed, a variable count precedes the variables, and the data
ends with the ``Z`` end marker (a cut-off file does not). Values are not decoded, so the best verdict is
"well-formed": a decode as text (what "text/plain" identification would do) says nothing about this.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from .results import WELL_FORMED, Message, ValidationResult, status_from_messages

MAX_BYTES = 256 * 1024 * 1024
_PORTABLE = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ."  # positions 64..127
_DATE = re.compile(r"^8/(\d{4})(\d{2})(\d{2})6/(\d{2})(\d{2})(\d{2})")


def _version() -> str:
    from . import av

    return av.kho_version()


def validate_spss_portable(path: str | os.PathLike[str]) -> ValidationResult:
    """Check an SPSS portable file's header and record structure (module docstring)."""
    path = Path(path)
    details: dict[str, Any] = {}
    messages: list[Message] = []
    size = path.stat().st_size
    if size > MAX_BYTES:
        messages.append(Message("por.capped", "info", f"not checked above {MAX_BYTES} bytes"))
        return _result(messages, details)
    raw = path.read_bytes()
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    # lines are 80 columns (writers may drop trailing spaces, readers pad them back); line ends carry nothing
    data = b"".join(line.ljust(80) for line in lines[:-1]) + lines[-1]
    if len(data) < 200 + 256 + 8 + 1:
        messages.append(Message("por.header", "error", f"{len(data)} bytes: too short for the portable header"))
        return _result(messages, details)
    table = data[200:456]
    codes = table[64 : 64 + len(_PORTABLE)]
    if len(set(codes)) != len(codes):
        messages.append(Message("por.table", "error", "translation table gives two characters the same code", 200))
        return _result(messages, details)
    decode = {code: _PORTABLE[i] for i, code in enumerate(codes)}
    rest = "".join(decode.get(b, chr(b)) for b in data[456:])  # punctuation: taken as ASCII
    if not rest.startswith("SPSSPORT"):
        messages.append(Message("por.tag", "error", "no SPSSPORT tag after the translation table", 456))
        return _result(messages, details)
    if rest[8:9] != "A":
        messages.append(Message("por.version", "error", f"version {rest[8:9]!r}, expected 'A'", 464))
    stamp = _DATE.match(rest[9:])
    if stamp is None:
        messages.append(Message("por.date", "error", "creation date/time not in the 8/yyyymmdd 6/hhmmss form", 465))
    else:
        year, month, day, hour, minute, second = (int(g) for g in stamp.groups())
        details["created"] = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
        if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
            messages.append(Message("por.date", "warning", f"creation date/time {details['created']} is impossible"))
    body = rest[9 + (stamp.end() if stamp else 0) :]
    data_at = body.find("F")
    count_at = body.find("4")
    variable_at = body.find("7")
    if "1" not in body[:1] and "1" not in body[:200]:
        messages.append(Message("por.product", "warning", "no product identification record (1)"))
    if count_at < 0 or (variable_at >= 0 and variable_at < count_at):
        messages.append(Message("por.variables", "error", "no variable count record (4) before the variables"))
    if data_at < 0:
        messages.append(Message("por.data", "error", "no data record (F): the file is cut off", size))
    elif not body.rstrip().endswith("Z"):
        messages.append(Message("por.end", "error", "data does not end with the Z end marker (truncated?)", size))
    if any(len(line) > 80 for line in lines):
        messages.append(Message("por.lines", "warning", "lines longer than 80 columns"))
    messages.append(Message("por.scope", "info", "header and record layout checked; values not decoded"))
    return _result(messages, details)


def _result(messages: list[Message], details: dict[str, Any]) -> ValidationResult:
    unique = tuple(dict.fromkeys(messages))
    return ValidationResult(
        status_from_messages(unique, WELL_FORMED), "kho-por", _version(), "SPSS portable", unique, details
    )


__all__ = ["validate_spss_portable"]

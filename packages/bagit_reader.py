"""Kho's own reader of BagIt tag files (RFC 8493): ``bagit.txt``, ``bag-info.txt``, manifests, ``fetch.txt``.

Why not bagit-python (docs/decisions/0011-bagit-reader.md): its tag-file reader goes through
``codecs.open``, whose ``readline`` splits on every Unicode line boundary (``\\v``, ``\\f``, U+0085,
U+2028, ...) and re-scans its buffer for long lines, so a 5 MB ``bag-info.txt`` took seconds and a
50 MB one minutes; and it reads whole files with no bound. Everything here is one pass, with memory
bounded by the caller's limits, and lines end at LF, CR or CRLF only, as RFC 8493 §2 says.

Nothing here knows about ``Problem``: errors are ``TagFileError`` (code, detail), and the SIP
validator (``packages.sip``) turns them into bilingual problems.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# RFC 8493 §2: lines end with LF, CR or CRLF, and nothing else (str.splitlines would also split
# on \v, \f, \x1c-\x1e, U+0085, U+2028 and U+2029, all legal in a file name).
LINE_END = re.compile(r"\r\n|\r|\n")
BAGIT_VERSION = re.compile(r"BagIt-Version: ([0-9]{1,9})\.([0-9]{1,9})")  # int() of 5,000 digits raises
BAGIT_ENCODING = re.compile(r"Tag-File-Character-Encoding: ([A-Za-z0-9._:-]+)")
KNOWN_VERSIONS = ((0, 93), (0, 94), (0, 95), (0, 96), (0, 97), (1, 0))
MANIFEST_LINE = re.compile(r"([0-9A-Fa-f]+)[ \t]+(.*)", re.S)
BOM = "\ufeff"

# Manifest algorithm names (RFC 8493 §2.4: lowercase; the names of the IANA "Hash Function Textual
# Names" registry) and the hashlib name that computes each one. SHAKE is left out: it has no fixed length.
ALGORITHMS: dict[str, str] = {
    "md5": "md5",
    "sha1": "sha1",
    "sha224": "sha224",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
    "sha3-224": "sha3_224",
    "sha3-256": "sha3_256",
    "sha3-384": "sha3_384",
    "sha3-512": "sha3_512",
    "blake2b-512": "blake2b",
    "blake2s-256": "blake2s",
}
WEAK_ALGORITHMS = frozenset({"md5", "sha1"})


@functools.cache
def hex_length(algorithm: str) -> int:
    """Length of a hex digest of the BagIt ``algorithm`` (a key of ALGORITHMS)."""
    return hashlib.new(ALGORITHMS[algorithm]).digest_size * 2


class TagFileError(Exception):
    """A tag file Kho cannot read: ``code`` is a key of ``packages.sip.MESSAGES``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Declaration:
    """What ``bagit.txt`` declares."""

    version: tuple[int, int]
    encoding: str  # a name Python's codecs know

    @property
    def version_text(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def info_file(self) -> str:
        """The bag-info file of this version: package-info.txt before BagIt 0.96."""
        return "package-info.txt" if self.version < (0, 96) else "bag-info.txt"

    @property
    def percent_encoded_paths(self) -> bool:
        """BagIt 1.0 (RFC 8493 §2.1.3) percent-encodes CR, LF and % in manifest and fetch paths."""
        return self.version >= (1, 0)

    @property
    def duplicate_is_error(self) -> bool:
        """A path listed twice with the same checksum: an error from BagIt 1.0, a warning before."""
        return self.version >= (1, 0)


def split_lines(text: str) -> Iterator[tuple[str, str]]:
    """(line, terminator) pairs of ``text``, split at LF, CR and CRLF only; linear in ``len(text)``."""
    start = 0
    for match in LINE_END.finditer(text):
        yield text[start : match.start()], match.group()
        start = match.end()
    if start < len(text):
        yield text[start:], ""


def read_limited(path: Path, max_bytes: int, label: str) -> bytes:
    """The bytes of a tag file Kho parses whole, refused (before reading) above ``max_bytes``."""
    size = path.stat().st_size
    if size > max_bytes:
        raise TagFileError("tag-file-too-large", _too_large(label, f"{size:,} bytes", f"{size:,} byte", max_bytes))
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)  # the file may have grown since stat
    if len(data) > max_bytes:
        raise TagFileError("tag-file-too-large", _too_large(label, f"more than {max_bytes:,} bytes",
                                                           f"hơn {max_bytes:,} byte", max_bytes))
    return data


def _too_large(label: str, found_en: str, found_vi: str, max_bytes: int) -> str:
    """The detail of ``tag-file-too-large``: the file, what was found and the setting to raise, in both
    languages (the producer reads the Vietnamese, the operator the setting name)."""
    return (f"{label}: {found_en} > limit max_tag_file_bytes={max_bytes:,} (KHO_SIP_MAX_TAG_FILE_BYTES) / "
            f"{label}: {found_vi}, vượt giới hạn {max_bytes:,} byte")


def read_declaration(path: Path, max_bytes: int) -> Declaration:
    """Parse ``bagit.txt`` strictly (RFC 8493 §2.1.1): UTF-8 without a byte-order mark, exactly the two
    lines ``BagIt-Version: M.N`` and ``Tag-File-Character-Encoding: ENCODING`` in that order, one
    space after each colon and no other whitespace."""
    data = read_limited(path, max_bytes, "bagit.txt")
    if data.startswith(codecs.BOM_UTF8):
        raise TagFileError("bagit-txt", "starts with a byte-order mark / có BOM ở đầu tệp (RFC 8493 §2.1.1)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TagFileError("bagit-txt", f"not UTF-8 / không phải UTF-8: {exc}") from None
    lines = [line for line, _end in split_lines(text)]
    while lines and lines[-1] == "":
        lines.pop()  # a final empty line is only a second line terminator
    if len(lines) != 2:
        raise TagFileError("bagit-txt", f"{len(lines)} lines, RFC 8493 §2.1.1 requires exactly 2 / cần đúng 2 dòng")
    version = BAGIT_VERSION.fullmatch(lines[0])
    if not version:
        raise TagFileError("bagit-txt", f"line 1 is not 'BagIt-Version: M.N': {lines[0][:80]!r}")
    encoding = BAGIT_ENCODING.fullmatch(lines[1])
    if not encoding:
        raise TagFileError("bagit-txt", f"line 2 is not 'Tag-File-Character-Encoding: ENCODING': {lines[1][:80]!r}")
    number = (int(version.group(1)), int(version.group(2)))
    if number not in KNOWN_VERSIONS:
        known = ", ".join(f"{a}.{b}" for a, b in KNOWN_VERSIONS)
        raise TagFileError("bagit-version", f"BagIt-Version {version.group(1)}.{version.group(2)}; Kho reads {known}")
    try:
        codec = codecs.lookup(encoding.group(1))
    except LookupError:
        raise TagFileError("bagit-txt", f"unknown Tag-File-Character-Encoding {encoding.group(1)!r}") from None
    if not getattr(codec, "_is_text_encoding", True):  # rot13, base64 ... are codecs too
        raise TagFileError("bagit-txt", f"Tag-File-Character-Encoding {encoding.group(1)!r} is not a text encoding")
    try:
        b"".decode(codec.name)  # "undefined" and the like are text encodings that decode nothing
    except (UnicodeError, LookupError, ValueError):
        raise TagFileError("bagit-txt", f"Tag-File-Character-Encoding {encoding.group(1)!r} cannot be read") from None
    return Declaration(version=number, encoding=codec.name)


def decode_tag_text(data: bytes, encoding: str, label: str) -> tuple[str, bool]:
    """Decode a whole tag file; return (text without a leading BOM, whether a UTF-8 BOM was there).

    A BOM is read past as bagit-python does: UTF-16/32 need one, and in UTF-8 it is only unnecessary
    (the caller warns)."""
    try:
        text = data.decode(encoding)
    except UnicodeError as exc:  # UTF-16 without a BOM raises UnicodeError itself, not UnicodeDecodeError
        raise TagFileError("bag-info-encoding", f"{label} is not {encoding} / không mã hóa {encoding}: {exc}") from None
    utf8_bom = text.startswith(BOM) and codecs.lookup(encoding).name == "utf-8"
    return text.removeprefix(BOM), utf8_bom


@dataclass
class TagFile:
    """``bag-info.txt`` as bagit-python reads it: a label seen again becomes a list of values, in order."""

    values: dict[str, str | list[str]] = field(default_factory=dict)
    utf8_bom: bool = False


def parse_tag_text(text: str, label: str = "bag-info.txt") -> TagFile:
    """One pass over ``Label: value`` lines, with bagit-python's semantics: blank lines are skipped, a
    line starting with whitespace continues the previous value (folded, RFC 8493 §2.2.2), the label is
    what precedes the first colon with surrounding whitespace removed, and the value is stripped.

    Linear: continuation lines are gathered in a list and joined once (bagit-python appended to a
    string and re-split its buffer on every read)."""
    result = TagFile()
    name: str | None = None
    pieces: list[str] = []

    def flush() -> None:
        if name is None:
            return
        value = "".join(pieces).strip()
        previous = result.values.get(name)
        if previous is None:
            result.values[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            result.values[name] = [previous, value]

    for number, (line, end) in enumerate(split_lines(text), start=1):
        if not line or line.isspace():
            continue
        if line[0].isspace() and name is not None:
            pieces.append(line + end)  # bagit-python keeps the folded line and its line end, then strips
            continue
        flush()
        if ":" not in line:
            raise TagFileError("tag-file-line", f"{label} line {number}: {line[:120]!r}")
        head, _colon, rest = line.strip().partition(":")
        name, pieces = head.strip(), [rest]
    flush()
    return result


@dataclass
class LineReader:
    """Lines of a text file in any encoding, read incrementally: at most ``max_lines`` lines, none longer
    than ``max_chars`` (a longer one is reported as ``None`` and skipped), split at LF, CR, CRLF only."""

    path: Path
    encoding: str
    max_lines: int
    max_chars: int
    lines_read: int = 0
    utf8_bom: bool = False

    def __iter__(self) -> Iterator[tuple[int, str | None]]:
        with open(self.path, "rb") as raw:
            # newline="": TextIOWrapper recognises \n, \r and \r\n (never U+2028 and the like) and
            # leaves them in place; readline(limit) bounds the memory one line can take.
            text = io.TextIOWrapper(raw, encoding=self.encoding, errors="strict", newline="")
            first = True
            while True:
                try:
                    line = text.readline(self.max_chars + 2)
                except UnicodeError as exc:  # UTF-16 without a BOM: UnicodeError, not UnicodeDecodeError
                    raise TagFileError(
                        "manifest-encoding",
                        f"{self.path.name} is not {self.encoding} (line {self.lines_read + 1}): {exc}",
                    ) from None
                if not line:
                    return
                self.lines_read += 1
                if self.lines_read > self.max_lines:
                    raise TagFileError(
                        "manifest-too-long",
                        f"{self.path.name}: more than {self.max_lines:,} lines "
                        f"(limit max_manifest_lines={self.max_lines:,}) / vượt giới hạn số dòng",
                    )
                if first:
                    first = False
                    if line.startswith(BOM):
                        self.utf8_bom = codecs.lookup(self.encoding).name == "utf-8"
                        line = line[1:]
                if line.endswith("\n"):
                    body = line[:-2] if line.endswith("\r\n") else line[:-1]
                elif line.endswith("\r"):
                    body = line[:-1]  # a lone CR ends the line (a following LF would be read with it)
                else:
                    body = line
                if len(body) > self.max_chars:
                    while line and not line.endswith(("\n", "\r")):  # skip the rest of the long line
                        line = text.readline(self.max_chars + 2)
                    yield self.lines_read, None
                    continue
                yield self.lines_read, body


def decode_path(raw: str, percent_encoded: bool) -> str:
    """A manifest or fetch path as the file system names it. BagIt 1.0 (RFC 8493 §2.1.3) percent-encodes
    CR, LF and % (and only those); earlier versions wrote names as they are."""
    if not percent_encoded or "%" not in raw:
        return raw
    return re.sub(
        r"%(0[AaDd]|25)", lambda m: {"0a": "\n", "0d": "\r", "25": "%"}[m.group(1).lower()], raw
    )


@dataclass(frozen=True)
class ManifestEntry:
    line: int
    digest: str  # lowercase hex
    path: str  # decoded, without a leading "./"
    dot_slash: bool  # written as ./path
    star: bool  # written as *path (md5sum's binary-mode mark)


def parse_manifest_line(body: str, algorithm: str, percent_encoded: bool) -> ManifestEntry | None:
    """One ``checksum filepath`` line (RFC 8493 §2.1.3), or None when it is malformed."""
    match = MANIFEST_LINE.fullmatch(body)
    if not match or len(match.group(1)) != hex_length(algorithm) or not match.group(2):
        return None
    raw = match.group(2)
    star = raw.startswith("*")  # md5sum -b writes "*path"; bagit-python reads past it
    if star:
        raw = raw[1:]
    dot_slash = raw.startswith("./")
    while raw.startswith("./"):
        raw = raw[2:]
    return ManifestEntry(0, match.group(1).lower(), decode_path(raw, percent_encoded), dot_slash, star)


@dataclass(frozen=True)
class FetchEntry:
    line: int
    url: str
    length: str
    path: str


def parse_fetch_line(body: str, percent_encoded: bool) -> FetchEntry | None:
    """``URL LENGTH FILENAME`` (RFC 8493 §2.2.3); LENGTH is a number of octets or ``-``."""
    parts = body.strip(" \t").split(None, 2)
    if len(parts) != 3 or not (parts[1] == "-" or parts[1].isdigit()):
        return None
    return FetchEntry(0, parts[0], parts[1], decode_path(parts[2], percent_encoded))

"""PRONOM container signatures (ZIP, OLE2) matched as DROID matches them.

FIDO reads only the first ``<File>`` of each container signature and only its first subsequence,
so it cannot tell ODF 1.0, 1.1 and 1.2 apart (their first file, ``META-INF/manifest.xml``, is the
same; the version is in ``content.xml``), nor OOXML variants told apart by a second part. Here a
signature matches when *every* one of its files is in the container and, where it has a binary
signature, all of that signature's subsequences match in order within their offsets. Among the
matches, a format that another match has priority over (PRONOM's ``has_priority_over``) is dropped,
as DROID does: an ODF file declaring ``office:version="1.2"`` matches the 1.1 signature (which checks
no version, 1.1 being the default) and the 1.2 one, and is ODF 1.2.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from format_registry import safexml

MAX_PART_BYTES = 16 * 1024 * 1024  # a part bigger than this is read this far (signatures sit near the start)


@dataclass(frozen=True)
class ContainerFile:
    path: str
    patterns: tuple[bytes, ...]  # regexes, any one must match; none: the part's presence is enough


@dataclass(frozen=True)
class ContainerSignature:
    id: str
    kind: str  # "zip" or "ole"
    puids: tuple[str, ...]
    files: tuple[ContainerFile, ...]


def _byte(token: str) -> bytes:
    return re.escape(bytes([int(token, 16)]))


def _class(body: str) -> bytes:
    """``[..]``: ``&01`` (bits set), ``!01`` (not), ``00:FF`` / ``01-04`` (range), ``22 27`` or ``'a' 'b'`` (any of)."""
    body = body.strip()
    if body.startswith("&"):
        mask = int(body[1:], 16)
        return b"[" + b"".join(re.escape(bytes([b])) for b in range(256) if b & mask == mask) + b"]"
    if body.startswith("!"):
        return b"[^" + _byte(body[1:].strip()) + b"]"
    ranged = re.fullmatch(r"([0-9A-Fa-f]{2})\s*[:-]\s*([0-9A-Fa-f]{2})", body)
    if ranged:
        return b"[" + _byte(ranged.group(1)) + b"-" + _byte(ranged.group(2)) + b"]"
    options = [_sequence(part) for part in re.findall(r"'[^']*'|[0-9A-Fa-f]{2}", body)]
    return b"(?:" + b"|".join(options) + b")"


_TOKEN = re.compile(r"\s+|'([^']*)'|\[([^\]]*)\]|\{(\d+)(?:-(\d+|\*))?\}|(\*)|([0-9A-Fa-f]{2})")


def _sequence(text: str) -> bytes:
    """A container ``<Sequence>`` as a regular expression over bytes."""
    out = b""
    pos = 0
    while pos < len(text):
        token = _TOKEN.match(text, pos)
        if token is None:
            raise ValueError(f"unreadable container sequence {text!r} at {pos}")
        quoted, klass, gap_min, gap_max, star, hexbyte = token.groups()
        if quoted is not None:
            out += re.escape(quoted.encode("utf-8"))
        elif klass is not None:
            out += _class(klass)
        elif gap_min is not None:
            out += b".{%d,%s}" % (int(gap_min), b"" if gap_max == "*" else (gap_max or gap_min).encode())
        elif star:
            out += b".*"
        elif hexbyte:
            out += _byte(hexbyte)
        pos = token.end()
    return out


def _offsets(element: Any, low: str, high: str) -> bytes:
    minimum = int(element.get(low) or 0)
    maximum = element.get(high)
    if not maximum:
        return b".{%d,}" % minimum
    return b".{%d,%d}" % (minimum, max(minimum, int(maximum)))  # a few signatures give max < min


def _subsequence(element: Any) -> bytes:
    core = _sequence(element.findtext("Sequence") or "")
    for fragment in element.findall("LeftFragment"):
        core = b"(?:" + _sequence(fragment.text or "") + b")" + _offsets(fragment, "MinOffset", "MaxOffset") + core
    for fragment in element.findall("RightFragment"):
        core = core + _offsets(fragment, "MinOffset", "MaxOffset") + b"(?:" + _sequence(fragment.text or "") + b")"
    return core


def _byte_sequence(element: Any) -> bytes:
    """Subsequences in position order; each offset counts from the end of the one before (or BOF/EOF)."""
    parts = sorted(element.findall("SubSequence"), key=lambda s: int(s.get("Position") or 1))
    chunks = [(_offsets(s, "SubSeqMinOffset", "SubSeqMaxOffset"), _subsequence(s)) for s in parts]
    if element.get("Reference") == "EOFoffset":  # position 1 is nearest the end
        body = b"".join(core + gap for gap, core in reversed(chunks))
        return b"(?s)" + body + b"\\Z"
    return b"(?s)\\A" + b"".join(gap + core for gap, core in chunks)


def load_signatures(path: Path) -> list[ContainerSignature]:
    """The ZIP and OLE2 signatures of a DROID container signature file (a trusted, bundled file)."""
    root = safexml.parse(path).getroot()  # bundled with FIDO, but parsed like any other XML
    puids: dict[str, list[str]] = {}
    for mapping in root.iterfind("FileFormatMappings/FileFormatMapping"):
        puids.setdefault(mapping.get("signatureId") or "", []).append(mapping.get("Puid") or "")
    signatures = []
    for element in root.iterfind("ContainerSignatures/ContainerSignature"):
        kind = {"ZIP": "zip", "OLE2": "ole"}.get(element.get("ContainerType") or "")
        if kind is None or not puids.get(element.get("Id") or ""):
            continue
        files = []
        for file_element in element.iterfind("Files/File"):
            patterns = tuple(
                _byte_sequence(sequence)
                for sequence in file_element.iterfind(
                    "BinarySignatures/InternalSignatureCollection/InternalSignature/ByteSequence"
                )
            )
            files.append(ContainerFile((file_element.findtext("Path") or "").strip(), patterns))
        identifier = element.get("Id") or ""
        signatures.append(ContainerSignature(identifier, kind, tuple(puids[identifier]), tuple(files)))
    return signatures


class _Parts:
    """The parts of one container, each read once and only if a signature asks for it."""

    def __init__(self, names: Iterable[str], read: Callable[[str], bytes]) -> None:
        self.names = set(names)
        self._read = read
        self._cache: dict[str, bytes] = {}

    def resolve(self, path: str) -> str | None:
        if path in self.names:
            return path
        for name in self.names:  # OLE2 stream names may carry a control prefix: \x01CompObj for CompObj
            if name[1:] == path or name.lstrip("\x01\x05") == path:
                return name
        return None

    def data(self, name: str) -> bytes:
        if name not in self._cache:
            self._cache[name] = self._read(name)
        return self._cache[name]


def _zip_parts(path: Path) -> tuple[_Parts, Callable[[], None]]:
    archive = zipfile.ZipFile(path)

    def read(name: str) -> bytes:
        with archive.open(name) as part:
            return part.read(MAX_PART_BYTES)

    return _Parts(archive.namelist(), read), archive.close


def _ole_parts(path: Path) -> tuple[_Parts, Callable[[], None]]:
    import olefile

    ole = olefile.OleFileIO(str(path))

    def read(name: str) -> bytes:
        with ole.openstream(name) as stream:
            return bytes(stream.read(MAX_PART_BYTES))

    return _Parts(("/".join(entry) for entry in ole.listdir()), read), ole.close


class ContainerMatcher:
    def __init__(self, signatures: list[ContainerSignature], priority_over: Callable[[str], frozenset[str]]) -> None:
        self._by_kind: dict[str, list[ContainerSignature]] = {}
        for signature in signatures:
            self._by_kind.setdefault(signature.kind, []).append(signature)
        self._priority_over = priority_over
        self._patterns: dict[bytes, re.Pattern[bytes]] = {}

    def match(self, path: Path, kind: str) -> list[tuple[str, int]]:
        """(PUID, specificity) of each matching container signature, formats outranked by another
        match removed. Specificity counts the parts checked and the parts whose bytes were checked:
        where PRONOM sets no priority (Word 97-2003 against "Word, generic", which only asks for a
        WordDocument stream), the signature that checked more is the better answer."""
        opener = {"zip": _zip_parts, "ole": _ole_parts}[kind]
        try:
            parts, close = opener(path)
        except Exception:  # not a readable container: the outer signature stands
            return []
        found: dict[str, int] = {}
        try:
            for signature in self._by_kind.get(kind, []):
                if self._matches(signature, parts):
                    specificity = len(signature.files) + sum(1 for f in signature.files if f.patterns)
                    for puid in signature.puids:
                        found[puid] = max(found.get(puid, 0), specificity)
        except Exception:  # a part that cannot be read (bad CRC, encrypted): no container answer
            return []
        finally:
            close()
        outranked = {lower for puid in found for lower in self._priority_over(puid)}
        return [(p, specificity) for p, specificity in found.items() if p not in outranked]

    def _matches(self, signature: ContainerSignature, parts: _Parts) -> bool:
        for part in signature.files:
            name = parts.resolve(part.path)
            if name is None:
                return False
            if part.patterns and not any(self._compiled(p).search(parts.data(name)) for p in part.patterns):
                return False
        return True

    def _compiled(self, pattern: bytes) -> re.Pattern[bytes]:
        """Compiled on first use: most signatures never get past their part-name check."""
        found = self._patterns.get(pattern)
        if found is None:
            found = self._patterns[pattern] = re.compile(pattern)
        return found


def from_fido(fido: Any, container_file: Path) -> ContainerMatcher:
    """A matcher over FIDO's bundled container file, with FIDO's loaded ``has_priority_over`` table."""
    table: dict[str, frozenset[str]] = fido.puid_has_priority_over_map
    return ContainerMatcher(load_signatures(container_file), lambda puid: table.get(puid, frozenset()))

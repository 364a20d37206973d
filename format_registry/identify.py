"""Format identification: PRONOM PUIDs from FIDO's signatures, in-process, libmagic as fallback.

FIDO is used as a library (one signature load per process, no process per file). Its
container signatures identify OOXML/ODF/OLE2 documents; when no byte signature matches,
its extension table is narrowed with libmagic's MIME type so that ``notes.txt`` becomes
x-fmt/111 rather than one of three formats that share the extension.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from dataclasses import asdict, dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

METHODS = ("container", "signature", "extension", "magic", "none")


@dataclass(frozen=True)
class FormatIdentification:
    puid: str | None
    format_name: str | None
    format_version: str | None
    mime: str | None
    method: str  # one of METHODS
    tool: str
    candidates: tuple[str, ...] = ()
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["candidates"] = list(self.candidates)
        return data


def _text(element: Any, tag: str) -> str | None:
    found = element.find(tag)
    return found.text if found is not None and found.text else None


class Identifier:
    """A loaded FIDO plus libmagic; create once per process and reuse."""

    def __init__(self) -> None:
        from fido import CONFIG_DIR
        from fido import fido as fido_module
        from fido.versions import get_local_versions

        versions = get_local_versions(CONFIG_DIR)
        fido_module.defaults["containersignature_file"] = versions.pronom_container_signature
        self._matches: list[tuple[Any, str]] = []
        self._matchtype = "fail"
        self._fido = fido_module.Fido(
            quiet=True,
            handle_matches=self._collect,
            nocontainer=True,  # container signatures are matched below, parsed once rather than per file
            format_files=[versions.pronom_signature, versions.fido_extension_signature],
        )
        from xml.etree import ElementTree

        from fido.package import OlePackage, ZipPackage

        container_doc = ElementTree.parse(os.path.join(CONFIG_DIR, versions.pronom_container_signature))  # noqa: S314 - FIDO's own bundled file
        self._containers = {
            "zip": (ZipPackage, self._fido.extract_signatures(container_doc, signature_type="ZIP")),
            "ole": (OlePackage, self._fido.extract_signatures(container_doc, signature_type="OLE2")),
        }
        self.signature_version = versions.pronom_signature
        self.tool = f"fido {package_version('opf-fido')} ({self.signature_version})"
        self._lock = threading.Lock()
        try:
            import magic

            self._magic: Any = magic.Magic(mime=True)
            self.tool += f"; libmagic {magic.version() if hasattr(magic, 'version') else ''}".rstrip()
        except (ImportError, OSError):  # libmagic missing: FIDO alone still identifies
            self._magic = None

    def _collect(self, fullname: str, matches: list[tuple[Any, str]], delta_t: float, matchtype: str = "") -> None:
        self._matches = list(matches)
        self._matchtype = matchtype or "fail"

    def _container_kind(self, path: Path, matches: list[tuple[Any, str]]) -> str | None:
        kind = self._fido.container_type(matches)
        if kind in ("zip", "ole"):
            return str(kind)
        try:
            with open(path, "rb") as handle:
                head = handle.read(8)
        except OSError:
            return None
        if head.startswith(b"PK\x03\x04"):
            return "zip"
        if head == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            return "ole"
        return None

    def _match_container(self, path: Path, kind: str) -> list[tuple[Any, str]]:
        package_class, signatures = self._containers[kind]
        try:
            puids = package_class(os.fspath(path), signatures).detect_formats()
        except Exception:  # a broken container is identified by its outer signature only
            return []
        formats = self._fido.puid_format_map
        return [(formats[p], formats[p].findtext("name")) for p in dict.fromkeys(puids) if p in formats]

    def magic_mime(self, path: Path) -> str | None:
        if self._magic is None:
            return None
        try:
            return str(self._magic.from_file(str(path)))
        except Exception:  # libmagic raises its own error type for unreadable files
            return None

    def identify(self, path: Path | str) -> FormatIdentification:
        path = Path(path)
        with self._lock:
            self._matches, self._matchtype = [], "fail"
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                self._fido.identify_file(os.fspath(path))
            matches, matchtype = self._matches, self._matchtype
            container = self._container_kind(path, matches)
            if container:
                container_matches = self._match_container(path, container)
                if container_matches:
                    matches, matchtype = container_matches, "container"
            mime_magic = self.magic_mime(path)
        if path.stat().st_size == 0:
            return FormatIdentification(
                None, "Empty file", None, "application/x-empty", "none", self.tool, warning="zero-byte file"
            )
        if matchtype == "extension":
            narrowed = [m for m in matches if _text(m[0], "mime") and _text(m[0], "mime") == mime_magic]
            if narrowed:
                matches = narrowed
            elif len(matches) != 1:
                matches = []
        if matches:
            chosen = matches[0]
            if len(matches) > 1 and mime_magic:
                chosen = next((m for m in matches if _text(m[0], "mime") == mime_magic), chosen)
            element = chosen[0]
            method = {"container": "container", "signature": "signature", "extension": "extension"}.get(
                matchtype, "signature"
            )
            return FormatIdentification(
                puid=_text(element, "puid"),
                format_name=_text(element, "name"),
                format_version=_text(element, "version"),
                mime=_text(element, "mime") or mime_magic,
                method=method,
                tool=self.tool,
                candidates=tuple(p for p in (_text(m[0], "puid") for m in matches) if p),
            )
        if mime_magic:
            return FormatIdentification(
                None,
                None,
                None,
                mime_magic,
                "magic",
                self.tool,
                candidates=tuple(p for p in (_text(m[0], "puid") for m in self._matches) if p),
                warning="no single PRONOM format matched",
            )
        return FormatIdentification(None, None, None, None, "none", self.tool, warning="format not identified")


_shared: Identifier | None = None
_shared_lock = threading.Lock()


def shared_identifier() -> Identifier:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Identifier()
        return _shared


def identify(path: Path | str) -> FormatIdentification:
    return shared_identifier().identify(path)

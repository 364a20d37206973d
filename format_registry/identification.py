"""What every identification engine shares: the result (``FormatIdentification``), the engine's
description (``EngineInfo``), the error, and the ``Identifier`` base class with the libmagic fallback.

Why a module of its own: ``identify`` chooses and loads an engine (``siegfried.SiegfriedIdentifier``) and
the engines subclass ``Identifier``; with these types in ``identify`` the two modules imported each other
(an import cycle, issue #17). Both now import this leaf; ``identify`` re-exports every name.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

METHODS = ("container", "signature", "text", "extension", "magic", "none")
ENGINES = ("siegfried", "fido")
DEFAULT_ENGINE = "siegfried"  # measured: docs/decisions/0016-identification-engine.md


class IdentificationEngineError(RuntimeError):
    """The chosen engine or its signature file cannot be used; the message says which and what to do."""


@dataclass(frozen=True)
class EngineInfo:
    """Which program identified a file, and with which signatures: what an audit needs to judge an answer."""

    engine: str  # one of ENGINES
    name: str  # "Siegfried", "FIDO"
    version: str  # the engine's own version
    signatures: str  # e.g. "DROID_SignatureFile_V125 / container-signature-20260119"
    signature_file: str  # the signature file's name (bundled) or path (given)
    signature_created: str | None = None  # when the signature file was built, where the engine says
    libmagic: str | None = None  # the MIME fallback's version; None: libmagic is not installed

    def describe(self) -> str:
        """One line for people and PREMIS events, e.g.
        ``Siegfried 1.11.9, DROID_SignatureFile_V125 / container-signature-20260119 (default.sig)``."""
        return f"{self.name} {self.version}, {self.signatures} ({self.signature_file})"

    @property
    def tool(self) -> str:
        """:meth:`describe` and the libmagic version: ``FormatIdentification.tool``, what PREMIS names."""
        return self.describe() + (f"; libmagic {self.libmagic}" if self.libmagic else "")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "description": self.describe(), "tool": self.tool}


@dataclass(frozen=True)
class FormatIdentification:
    puid: str | None
    format_name: str | None
    format_version: str | None
    mime: str | None
    method: str  # one of METHODS
    tool: str  # engine, version, signature version and libmagic: EngineInfo.describe() + "; libmagic ..."
    candidates: tuple[str, ...] = ()
    warning: str | None = None
    engine: str = ""  # one of ENGINES

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["candidates"] = list(self.candidates)
        return data


def _libmagic_version(magic_module: Any) -> str | None:
    """``5.44`` from python-magic's ``version()`` (544), or None where the binding has no version."""
    try:
        number = int(magic_module.version())
    except (AttributeError, TypeError, ValueError, OSError):
        return None
    return f"{number // 100}.{number % 100:02d}"


class Identifier(ABC):
    """One identification engine plus libmagic: create once per process (:func:`shared_identifier`) and reuse.

    Subclasses say what the engine found; this class owns what both engines share, so their answers
    mean the same: a zero-byte file is never guessed, and libmagic supplies the MIME type where PRONOM
    has none and the answer where no PRONOM format matched."""

    info: EngineInfo

    def __init__(self) -> None:
        self._magic_lock = threading.Lock()
        try:
            import magic

            self._magic: Any = magic.Magic(mime=True)
            self._libmagic_version = _libmagic_version(magic)
        except (ImportError, OSError):  # libmagic missing: the engine alone still identifies
            self._magic = None
            self._libmagic_version = None

    def _set_info(self, info: EngineInfo) -> None:
        self.info = info
        self.tool = info.tool

    def magic_mime(self, path: Path) -> str | None:
        if self._magic is None:
            return None
        try:
            with self._magic_lock:  # one libmagic handle per process: calls must not interleave
                return str(self._magic.from_file(str(path)))
        except Exception:  # libmagic raises its own error type for unreadable files
            return None

    def empty(self) -> FormatIdentification:
        """A zero-byte file: no format, whatever its name says."""
        return FormatIdentification(
            None, "Empty file", None, "application/x-empty", "none", self.tool, warning="zero-byte file",
            engine=self.info.engine,
        )  # fmt: skip

    @abstractmethod
    def identify(self, path: Path | str) -> FormatIdentification:
        """The format of one file (raises ``OSError`` if it cannot be read at all)."""

    def identify_batch(self, paths: Sequence[Path | str], workers: int) -> list[FormatIdentification] | None:
        """Many files in input order using ``workers`` threads inside this process, or None when the engine
        cannot (then :func:`identify_many` spreads the work over worker processes)."""
        return None

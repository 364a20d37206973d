"""Which signatures a file carries, by looking only: no parsing, no validation library imported.

Why a module of its own: every ingest asks this of every original, and most carry no signature; the
validators (pyHanko, signxml, pyhanko-certvalidator) cost about 0.3 s to import, paid only when a signed
file is found (``format_registry.signatures`` loads them on first use)."""

from __future__ import annotations

import os
from pathlib import Path

from format_registry.signatures.model import SignatureKind

SIGNATURE_SUFFIXES = (".p7s", ".sig")
DS = "http://www.w3.org/2000/09/xmldsig#"
_CHUNK = 1 << 20
_PDF_MARKERS = (b"/ByteRange",)
_XML_MARKER = DS.encode("ascii")


def signature_files_for(path: str | os.PathLike[str]) -> list[Path]:
    """The detached signatures beside ``path``: ``path.p7s`` and ``path.sig`` that exist."""
    data = Path(path)
    return [candidate for suffix in SIGNATURE_SUFFIXES
            if (candidate := data.with_name(data.name + suffix)).is_file()]


def signed_file_for(signature_path: str | os.PathLike[str]) -> Path | None:
    """The file a ``.p7s``/``.sig`` file signs (its name without that suffix), or ``None`` if not one."""
    sig = Path(signature_path)
    if sig.suffix.lower() not in SIGNATURE_SUFFIXES or not sig.stem:
        return None
    return sig.with_name(sig.stem)


def find_signatures(path: str | os.PathLike[str]) -> list[SignatureKind]:
    """The kinds of signature ``path`` carries, by looking only (no validation, no parsing).

    - a PDF (``%PDF-`` in its first kilobyte) with a ``/ByteRange`` (every PDF signature has one): ``pades``;
    - a ``.p7s``/``.sig`` file beside it (``x.pdf.p7s`` signs ``x.pdf``): ``cms``. The signature file itself
      gives nothing, so a detached signature is reported once, with the file it signs, unless that file is
      missing: then the orphan signature file gives ``cms`` (and validates as ``signed_data_missing``);
    - an XML document (``<`` first) naming the XMLDSig namespace: ``xmldsig``.
    A file that cannot be read gives ``[]``."""
    target = Path(path)
    kinds: list[SignatureKind] = []
    try:
        if not target.is_file():
            return []
        with open(target, "rb") as handle:
            head = handle.read(1024)
            stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            if b"%PDF-" in head:
                if _contains(handle, head, _PDF_MARKERS):
                    kinds.append(SignatureKind.PADES)
            elif stripped.startswith(b"<") and _contains(handle, head, (_XML_MARKER,)):
                kinds.append(SignatureKind.XMLDSIG)
        if signature_files_for(target):
            kinds.append(SignatureKind.CMS)
        elif target.suffix.lower() in SIGNATURE_SUFFIXES:
            signed = signed_file_for(target)
            if signed is not None and not signed.exists():
                kinds.append(SignatureKind.CMS)
    except OSError:
        return []
    return kinds


def _contains(handle: object, head: bytes, markers: tuple[bytes, ...]) -> bool:
    """Whether any marker occurs in the file, read in chunks that overlap by a marker's length."""
    read = handle.read  # type: ignore[attr-defined]
    overlap = max(len(m) for m in markers)
    window = head
    while True:
        if any(m in window for m in markers):
            return True
        chunk = read(_CHUNK)
        if not chunk:
            return False
        window = window[-overlap:] + chunk



"""Digital signatures of records: find them cheaply, validate them against the archive's trust anchors.

Decision 0022. The public face for a pipeline step::

    anchors = load_trust_anchors(settings.trust_anchors)          # KHO_TRUST_ANCHORS, read by the caller
    for report in validate_file(path, anchors, allow_fetch=False):  # KHO_REVOCATION_FETCH=on -> True
        report.status, report.reason, report.reason_vi, report.to_dict(), report.evidence

:func:`find_signatures` only looks (a few reads, no parsing) so a step can skip unsigned files;
:func:`validate_file` validates every signature found and never raises for what a file contains: a
damaged or hostile file gives an ``invalid`` or ``indeterminate`` report with its reason. The work per
file is bounded (:data:`MAX_SIGNATURES` signatures, size caps on signature files and XML documents).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from format_registry.signatures.cms import (
    SIGNATURE_SUFFIXES,
    signature_files_for,
    signed_file_for,
    validate_detached,
)
from format_registry.signatures.model import (
    REASON_TEXT,
    CertificateInfo,
    Coverage,
    Evidence,
    ModificationLevel,
    Reason,
    SignatureKind,
    SignatureReport,
    SignatureStatus,
    Signer,
)
from format_registry.signatures.pdf import validate_pdf
from format_registry.signatures.report import failure_report
from format_registry.signatures.trust import TrustAnchors, anchors_from_certificates, check_moment, load_trust_anchors
from format_registry.signatures.xml import DS, validate_xml

__all__ = [
    "MAX_SIGNATURES",
    "REASON_TEXT",
    "CertificateInfo",
    "Coverage",
    "Evidence",
    "ModificationLevel",
    "Reason",
    "SignatureKind",
    "SignatureReport",
    "SignatureStatus",
    "Signer",
    "TrustAnchors",
    "anchors_from_certificates",
    "find_signatures",
    "load_trust_anchors",
    "validate_file",
]

MAX_SIGNATURES = 100
_CHUNK = 1 << 20
_PDF_MARKERS = (b"/ByteRange",)
_XML_MARKER = DS.encode("ascii")


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


def validate_file(path: str | os.PathLike[str], anchors: TrustAnchors | str | os.PathLike[str], *,
                  allow_fetch: bool = False, at: datetime | None = None) -> list[SignatureReport]:
    """A report for every signature :func:`find_signatures` sees in ``path`` ([] for an unsigned file).

    ``anchors`` is a :class:`TrustAnchors` (load it once per run with :func:`load_trust_anchors`) or the
    folder to load it from. ``allow_fetch`` lets the validators fetch OCSP responses and CRLs the file does
    not carry (``KHO_REVOCATION_FETCH=on``); when ``False`` nothing touches the network. ``at`` (aware)
    validates at that moment instead of now (a naive one raises ``ValueError``). Never raises for a file's
    content."""
    name = os.fspath(path)
    check_moment(at)
    if not isinstance(anchors, TrustAnchors):
        anchors = load_trust_anchors(anchors)
    reports: list[SignatureReport] = []
    for kind in find_signatures(name):
        try:
            if kind is SignatureKind.PADES:
                found = validate_pdf(name, anchors, allow_fetch=allow_fetch, at=at,
                                     max_signatures=MAX_SIGNATURES)
                reports.extend(found or [_unreadable_pdf_signature(name)])
            elif kind is SignatureKind.XMLDSIG:
                reports.extend(validate_xml(name, anchors, allow_fetch=allow_fetch, at=at,
                                            max_signatures=MAX_SIGNATURES))
            else:
                reports.extend(_validate_cms(name, anchors, allow_fetch=allow_fetch, at=at))
        except Exception as exc:  # the validators catch their own failures: this is the last net
            reports.append(failure_report(kind, name, 0, exc))
    return reports


def _unreadable_pdf_signature(name: str) -> SignatureReport:
    """A PDF with a signature marker in which pyHanko finds no signature: damaged (e.g. a signed PDF cut
    short, whose last whole revision is the unsigned one) or merely naming ``/ByteRange`` in its text.
    Either way the archivist should look, so it is reported, as indeterminate."""
    return SignatureReport(kind=SignatureKind.PADES, path=name, index=0, status=SignatureStatus.INDETERMINATE,
                           reason=Reason.MALFORMED,
                           detail="the PDF has a /ByteRange marker but no signature pyHanko can read")


def _validate_cms(name: str, anchors: TrustAnchors, *, allow_fetch: bool,
                  at: datetime | None) -> list[SignatureReport]:
    signature_files = signature_files_for(name)
    if not signature_files:  # an orphan signature file: its data file is missing
        signed = signed_file_for(name)
        return validate_detached(os.fspath(signed) if signed else name, name, anchors, allow_fetch=allow_fetch, at=at)
    reports: list[SignatureReport] = []
    for signature_file in signature_files:
        found = validate_detached(name, signature_file, anchors, allow_fetch=allow_fetch, at=at,
                                  max_signers=MAX_SIGNATURES)
        reports.extend(found)
    return reports

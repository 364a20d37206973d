"""Validating every signature :func:`~format_registry.signatures.detect.find_signatures` sees in a file."""

from __future__ import annotations

import os
from datetime import datetime

from format_registry.signatures.cms import validate_detached
from format_registry.signatures.detect import find_signatures, signature_files_for, signed_file_for
from format_registry.signatures.model import Reason, SignatureKind, SignatureReport, SignatureStatus
from format_registry.signatures.pdf import validate_pdf
from format_registry.signatures.report import failure_report
from format_registry.signatures.trust import TrustAnchors, check_moment, load_trust_anchors
from format_registry.signatures.xml import validate_xml

MAX_SIGNATURES = 100


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

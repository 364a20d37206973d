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

from typing import TYPE_CHECKING, Any

from format_registry.signatures.detect import find_signatures
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

if TYPE_CHECKING:
    from format_registry.signatures.trust import TrustAnchors, anchors_from_certificates, load_trust_anchors
    from format_registry.signatures.validate import MAX_SIGNATURES, validate_file

# loaded on first use (PEP 562): the validation libraries cost about 0.3 s to import, and every ingest
# imports this package while most ingests carry no signature (find_signatures needs none of them)
_LAZY = {
    "MAX_SIGNATURES": "format_registry.signatures.validate",
    "validate_file": "format_registry.signatures.validate",
    "TrustAnchors": "format_registry.signatures.trust",
    "anchors_from_certificates": "format_registry.signatures.trust",
    "load_trust_anchors": "format_registry.signatures.trust",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


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

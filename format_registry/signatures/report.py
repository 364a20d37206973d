"""Building :class:`SignatureReport` values from pyHanko results and from failures (shared by the validators)."""

from __future__ import annotations

from asn1crypto import x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import StandardCMSSignatureStatus

from format_registry.signatures.model import (
    Coverage,
    ModificationLevel,
    Reason,
    SignatureKind,
    SignatureReport,
    SignatureStatus,
)
from format_registry.signatures.trust import RevocationMaterial, certificate_info, signer_of
from format_registry.signatures.verdict import Verdict, from_subindication


def failure_report(kind: SignatureKind, path: str, index: int, exc: BaseException, *,
                   field_name: str | None = None, signer_cert: x509.Certificate | None = None,
                   signature_path: str | None = None) -> SignatureReport:
    """The report for a signature that could not be validated at all.

    A structure the library could not read (asn1crypto raises ``ValueError`` on bad DER, pyHanko raises
    ``PdfError``, lxml ``XMLSyntaxError``) is ``invalid``/``malformed``, as ETSI's FORMAT_FAILURE; anything
    else (an I/O error, a library bug) is ``indeterminate``/``validation_error``: it says nothing about the
    signature."""
    verdict = None
    indic = getattr(exc, "ades_subindication", None)
    if isinstance(exc, SignatureValidationError) and indic is not None:
        verdict = from_subindication(indic)
    if verdict is None:
        if isinstance(exc, (SignatureValidationError, PdfError, ValueError, SyntaxError, TypeError, KeyError,
                            IndexError)):
            verdict = Verdict(SignatureStatus.INVALID, Reason.MALFORMED)
        else:
            verdict = Verdict(SignatureStatus.INDETERMINATE, Reason.VALIDATION_ERROR)
    detail = getattr(exc, "failure_message", None) or f"{type(exc).__name__}: {exc}"
    return SignatureReport(
        kind=kind, path=path, index=index, status=verdict.status, reason=verdict.reason, detail=str(detail)[:2000],
        signature_path=signature_path, field_name=field_name,
        signer=signer_of(signer_cert) if signer_cert is not None else None,
        chain=(certificate_info(signer_cert),) if signer_cert is not None else (),
    )


def too_many_report(kind: SignatureKind, path: str, index: int, found: int) -> SignatureReport:
    return SignatureReport(kind=kind, path=path, index=index, status=SignatureStatus.INDETERMINATE,
                           reason=Reason.TOO_MANY_SIGNATURES,
                           detail=f"{found} signatures found; only the first {index} were checked")


def report_from_status(kind: SignatureKind, path: str, index: int, status: StandardCMSSignatureStatus,
                       verdict: Verdict, material: RevocationMaterial, *, field_name: str | None = None,
                       signature_path: str | None = None, modification: ModificationLevel | None = None,
                       coverage: Coverage | None = None) -> SignatureReport:
    """A report from a pyHanko status: signer, times, chain (the validation path when one was built, even
    a failing one, else the signer's certificate alone) and the evidence used."""
    if status.validation_path is not None:
        chain_certs = list(status.validation_path.iter_certs(include_root=True))[::-1]
    else:
        chain_certs = [status.signing_cert]
    ts = status.timestamp_validity
    timestamp_time = ts.timestamp if ts is not None and ts.intact and ts.valid else None
    return SignatureReport(
        kind=kind, path=path, index=index, status=verdict.status, reason=verdict.reason, detail=verdict.detail,
        signature_path=signature_path, field_name=field_name, signer=signer_of(status.signing_cert),
        signing_time=status.signer_reported_dt, timestamp_time=timestamp_time,
        validation_time=status.validation_time, digest_algorithm=status.md_algorithm,
        signature_algorithm=status.pkcs7_signature_mechanism,
        chain=tuple(certificate_info(c) for c in chain_certs),
        modification=modification, coverage=coverage,
        evidence=material.evidence(chain_certs),
    )

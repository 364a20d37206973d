"""From a library's result to Kho's verdict: (status, reason) in the terms of ETSI EN 319 102-1.

pyHanko already speaks AdES: its ``trust_problem_indic`` is an ETSI sub-indication. This module maps those,
and the exceptions of pyhanko-certvalidator (the XML path validates chains itself), to
:class:`~format_registry.signatures.model.Reason` codes, so the three validators agree on what each
reason means. The order of the checks matters: a broken integrity says more than an untrusted root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from asn1crypto import x509
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESSubIndic
from pyhanko.sign.validation.status import SignatureCoverageLevel, StandardCMSSignatureStatus
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    RevokedError,
    ValidationError,
)

from format_registry.signatures.model import Reason, SignatureStatus

INVALID = SignatureStatus.INVALID
INDETERMINATE = SignatureStatus.INDETERMINATE

_FAILURES: dict[str, Reason] = {
    "HASH_FAILURE": Reason.DIGEST_MISMATCH,
    "SIG_CRYPTO_FAILURE": Reason.SIGNATURE_MISMATCH,
    "REVOKED": Reason.REVOKED,
    "NOT_YET_VALID": Reason.NOT_YET_VALID,
    "FORMAT_FAILURE": Reason.MALFORMED,
}

_INDETERMINATE: dict[str, Reason] = {
    "REVOKED_NO_POE": Reason.REVOKED,
    "REVOKED_CA_NO_POE": Reason.REVOKED,
    "NO_CERTIFICATE_CHAIN_FOUND": Reason.UNTRUSTED,
    "OUT_OF_BOUNDS_NO_POE": Reason.EXPIRED,
    "OUT_OF_BOUNDS_NOT_REVOKED": Reason.EXPIRED,
    "EXPIRED": Reason.EXPIRED,
    "NOT_YET_VALID": Reason.NOT_YET_VALID,
    "CRYPTO_CONSTRAINTS_FAILURE": Reason.UNSUPPORTED_ALGORITHM,
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": Reason.UNSUPPORTED_ALGORITHM,
    "CHAIN_CONSTRAINTS_FAILURE": Reason.KEY_USAGE,
    "TRY_LATER": Reason.NO_REVOCATION_DATA,
    "REVOCATION_OUT_OF_BOUNDS_NO_POE": Reason.NO_REVOCATION_DATA,
    "NO_SIGNING_CERTIFICATE_FOUND": Reason.NO_SIGNER_CERTIFICATE,
    "SIGNED_DATA_NOT_FOUND": Reason.SIGNED_DATA_MISSING,
}


@dataclass(frozen=True)
class Verdict:
    status: SignatureStatus
    reason: Reason
    detail: str = ""


def from_subindication(indic: AdESSubIndic) -> Verdict | None:
    """The verdict an ETSI sub-indication stands for; ``None`` for the generic chain failure, whose cause
    must be found by re-validating the chain (:func:`chain_verdict`)."""
    name = getattr(indic, "name", str(indic))
    if isinstance(indic, AdESFailure):
        return Verdict(INVALID, _FAILURES.get(name, Reason.VALIDATION_ERROR), f"ETSI sub-indication {name}")
    if isinstance(indic, AdESIndeterminate) and name == "CERTIFICATE_CHAIN_GENERAL_FAILURE":
        return None
    return Verdict(INDETERMINATE, _INDETERMINATE.get(name, Reason.CHAIN_PROBLEM), f"ETSI sub-indication {name}")


def from_chain_error(exc: BaseException) -> Verdict:
    """The verdict for an exception of pyhanko-certvalidator's path validation (most specific type first)."""
    detail = getattr(exc, "failure_msg", None) or str(exc) or type(exc).__name__
    if isinstance(exc, RevokedError):
        return Verdict(INDETERMINATE, Reason.REVOKED, detail)  # no proof the signature predates revocation
    if isinstance(exc, InsufficientRevinfoError):
        return Verdict(INDETERMINATE, Reason.NO_REVOCATION_DATA, detail)
    if isinstance(exc, ExpiredError):
        return Verdict(INDETERMINATE, Reason.EXPIRED, detail)
    if isinstance(exc, NotYetValidError):
        return Verdict(INDETERMINATE, Reason.NOT_YET_VALID, detail)
    if isinstance(exc, DisallowedAlgorithmError):
        return Verdict(INDETERMINATE, Reason.UNSUPPORTED_ALGORITHM, detail)
    if isinstance(exc, PathBuildingError):
        return Verdict(INDETERMINATE, Reason.UNTRUSTED, detail)
    if isinstance(exc, InvalidCertificateError):
        return Verdict(INDETERMINATE, Reason.KEY_USAGE, detail)
    if isinstance(exc, ValidationError):
        return Verdict(INDETERMINATE, Reason.CHAIN_PROBLEM, detail)
    return Verdict(INDETERMINATE, Reason.VALIDATION_ERROR, detail)


async def chain_verdict(cert: x509.Certificate, others: Iterable[x509.Certificate],
                        make_context: Callable[[], ValidationContext]) -> Verdict | None:
    """Validate ``cert``'s path in a fresh context; ``None`` if it validates, else why not."""
    context = make_context()
    try:
        await CertificateValidator(cert, list(others), validation_context=context).async_validate_path()
    except Exception as exc:
        return from_chain_error(exc)
    finally:
        await context.aclose()
    return None


async def cms_verdict(status: StandardCMSSignatureStatus, *, others: Iterable[x509.Certificate],
                      make_context: Callable[[], ValidationContext]) -> Verdict:
    """The verdict for a pyHanko CMS or PDF signature status.

    Integrity first (changed bytes, a wrong signature value), then, for a PDF, what happened after signing,
    then trust, then the timestamp. A generic chain failure is re-examined to name its cause."""
    if not status.intact:
        return Verdict(INVALID, Reason.DIGEST_MISMATCH, "the digest of the signed data differs from the signed one")
    if not status.valid:
        return Verdict(INVALID, Reason.SIGNATURE_MISMATCH, "the signature value does not verify")
    coverage = getattr(status, "coverage", None)
    if coverage is not None and coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        return Verdict(INVALID, Reason.PARTIAL_COVERAGE, f"coverage {coverage.name}")
    if getattr(status, "docmdp_ok", None) is False:
        level = getattr(status, "modification_level", None)
        return Verdict(INVALID, Reason.MODIFIED_AFTER_SIGNING,
                       f"modification level {level.name if level is not None else 'unknown'}")
    if status.trust_problem_indic is not None:
        verdict = from_subindication(status.trust_problem_indic)
        if verdict is None:
            verdict = await chain_verdict(status.signing_cert, others, make_context) or Verdict(
                INDETERMINATE, Reason.CHAIN_PROBLEM, "ETSI sub-indication CERTIFICATE_CHAIN_GENERAL_FAILURE")
        return verdict
    if status.validation_path is None:
        return Verdict(INDETERMINATE, Reason.UNTRUSTED, "no validation path")
    for label, ts in (("signature", status.timestamp_validity), ("content", status.content_timestamp_validity)):
        if ts is not None and not (ts.intact and ts.valid and ts.trusted):
            why = "damaged" if not (ts.intact and ts.valid) else "not trusted"
            return Verdict(INDETERMINATE, Reason.TIMESTAMP_PROBLEM, f"the {label} timestamp is {why}")
    return Verdict(SignatureStatus.VALID, Reason.OK)

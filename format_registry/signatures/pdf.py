"""Every signature in a PDF, validated with pyHanko against the archive's trust anchors.

A PDF signed by the issuer and then by the organisation (Nghị định 30/2020/NĐ-CP) carries several
signatures, each over the revision that existed when it was made; later incremental updates are judged
by pyHanko's difference analysis (what changed after each signature: nothing, form filling, annotations,
or something else such as page content). Document timestamps (``/DocTimeStamp``) are not signatures of a
person and are not reported. Revocation data comes from the document's DSS and from each signature's own
CMS attributes (see :mod:`format_registry.signatures.trust`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel as PyhankoModificationLevel
from pyhanko.sign.validation import DocumentSecurityStore, EmbeddedPdfSignature, async_validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from format_registry.signatures.model import (
    Coverage,
    ModificationLevel,
    Reason,
    SignatureKind,
    SignatureReport,
    SignatureStatus,
)
from format_registry.signatures.report import failure_report, report_from_status, too_many_report
from format_registry.signatures.trust import (
    KEY_USAGE,
    RevocationMaterial,
    TrustAnchors,
    check_moment,
    fetched_material,
    run_sync,
    validation_context,
)
from format_registry.signatures.verdict import Verdict, cms_verdict, from_subindication

MAX_SIGNATURES = 100

_MODIFICATION = {
    PyhankoModificationLevel.NONE: ModificationLevel.NONE,
    PyhankoModificationLevel.LTA_UPDATES: ModificationLevel.LTA_UPDATES,
    PyhankoModificationLevel.FORM_FILLING: ModificationLevel.FORM_FILLING,
    PyhankoModificationLevel.ANNOTATIONS: ModificationLevel.ANNOTATIONS,
    PyhankoModificationLevel.OTHER: ModificationLevel.OTHER,
}
_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: Coverage.ENTIRE_FILE,
    SignatureCoverageLevel.ENTIRE_REVISION: Coverage.ENTIRE_REVISION,
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: Coverage.CONTIGUOUS_BLOCK,
    SignatureCoverageLevel.UNCLEAR: Coverage.UNCLEAR,
}


def validate_pdf(path: str | os.PathLike[str], anchors: TrustAnchors, *, allow_fetch: bool = False,
                 at: datetime | None = None, max_signatures: int = MAX_SIGNATURES) -> list[SignatureReport]:
    """One report per signature of the PDF at ``path`` (in signing order), never an exception.

    An unreadable or encrypted PDF gives one report saying so; past ``max_signatures`` one more report
    says the rest were not checked."""
    name = os.fspath(path)
    check_moment(at)
    try:
        with open(name, "rb") as handle:
            return run_sync(_validate(handle, name, anchors, allow_fetch, at, max_signatures))
    except Exception as exc:  # a damaged PDF is a verdict, not a crash
        return [failure_report(SignatureKind.PADES, name, 0, exc)]


async def _validate(handle: IO[bytes], name: str, anchors: TrustAnchors, allow_fetch: bool,
                    at: datetime | None, max_signatures: int) -> list[SignatureReport]:
    reader = PdfFileReader(handle, strict=False)
    if reader.encrypted and not _open_with_empty_password(reader):
        return [SignatureReport(kind=SignatureKind.PADES, path=name, index=0, status=SignatureStatus.INDETERMINATE,
                                reason=Reason.ENCRYPTED, detail="the PDF is encrypted with a user password")]
    try:
        signatures = list(reader.embedded_regular_signatures)
    except Exception as exc:
        return [failure_report(SignatureKind.PADES, name, 0, exc)]
    dss = _dss_material(reader)
    reports: list[SignatureReport] = []
    for index, embedded in enumerate(signatures[:max_signatures]):
        try:
            reports.append(await _validate_one(embedded, index, name, anchors, dss, allow_fetch, at))
        except Exception as exc:
            reports.append(failure_report(SignatureKind.PADES, name, index, exc, field_name=_field(embedded),
                                          signer_cert=_signer_cert(embedded)))
    if len(signatures) > max_signatures:
        reports.append(too_many_report(SignatureKind.PADES, name, max_signatures, len(signatures)))
    return reports


async def _validate_one(embedded: EmbeddedPdfSignature, index: int, name: str, anchors: TrustAnchors,
                        dss: RevocationMaterial, allow_fetch: bool, at: datetime | None) -> SignatureReport:
    material = RevocationMaterial(dict(dss.certificates), dict(dss.crls), dict(dss.ocsps))
    material.add_signed_data(embedded.signed_data)

    def make_context() -> ValidationContext:
        return validation_context(anchors, material, allow_fetch=allow_fetch, at=at)

    context = make_context()
    try:
        try:
            status: PdfSignatureStatus = await async_validate_pdf_signature(
                embedded, signer_validation_context=context, key_usage_settings=KEY_USAGE)
        except SignatureValidationError as exc:
            indic = getattr(exc, "ades_subindication", None)
            verdict = (from_subindication(indic) if indic is not None else None) or Verdict(
                SignatureStatus.INVALID, Reason.MALFORMED, "")
            return SignatureReport(
                kind=SignatureKind.PADES, path=name, index=index, status=verdict.status, reason=verdict.reason,
                detail=getattr(exc, "failure_message", None) or str(exc), field_name=_field(embedded),
                evidence=material.evidence())
        verdict = await cms_verdict(status, others=material.certificates.values(), make_context=make_context)
        gathered = fetched_material(context, material)
    finally:
        await context.aclose()
    level = status.modification_level
    return report_from_status(
        SignatureKind.PADES, name, index, status, verdict, gathered, field_name=_field(embedded),
        modification=_MODIFICATION.get(level) if level is not None else None,
        coverage=_COVERAGE.get(status.coverage) if status.coverage is not None else None,
    )


def _open_with_empty_password(reader: PdfFileReader) -> bool:
    """Whether an encrypted PDF opens without a password: permission-restricted PDFs (an owner password
    only, common among issued documents) do, and their signatures can be checked."""
    try:
        return reader.decrypt(b"").status != AuthStatus.FAILED
    except Exception:
        return False


def _dss_material(reader: PdfFileReader) -> RevocationMaterial:
    """The certificates, OCSP responses and CRLs of the document security store (PAdES-LT), if any.

    Read through pyHanko's ``DocumentSecurityStore`` (which also resolves an encrypted file's objects);
    an unreadable entry, or a damaged DSS, is skipped: its signatures then say revocation data is missing."""
    material = RevocationMaterial()
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except Exception:  # no DSS (NoDSSFoundError), or one pyHanko cannot read
        return material
    loaders: list[tuple[list[Any], DecodePurpose, Callable[[bytes], None]]] = [
        (list(dss.certs.values()), DecodePurpose.CERTIFICATE,
         lambda der: material.add_certificate(x509.Certificate.load(der))),
        (list(dss.ocsps), DecodePurpose.OCSP_RESPONSE, lambda der: material.add_ocsp(asn1_ocsp.OCSPResponse.load(der))),
        (list(dss.crls), DecodePurpose.CRL, lambda der: material.add_crl(asn1_crl.CertificateList.load(der))),
    ]
    for refs, purpose, add in loaders:
        for ref in refs[:10_000]:
            try:
                add(ref.get_object().read_data(purpose))
            except Exception:  # noqa: S112  (one unreadable entry does not spoil the others)
                continue
    return material


def _field(embedded: EmbeddedPdfSignature) -> str | None:
    try:
        return str(embedded.field_name)
    except Exception:
        return None


def _signer_cert(embedded: EmbeddedPdfSignature) -> x509.Certificate | None:
    try:
        return embedded.signer_cert
    except Exception:
        return None

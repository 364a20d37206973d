"""Detached CMS / CAdES signatures (``x.pdf`` signed by ``x.pdf.p7s`` or ``x.pdf.sig``), validated with pyHanko.

The signature file may be DER or PEM, may hold several signers (each is reported), and may carry its
revocation data (the SignedData ``crls`` field, CAdES ``revocation-values``). A signature whose data file
is absent is reported as ``indeterminate`` / ``signed_data_missing`` (ETSI SIGNED_DATA_NOT_FOUND). A
signature with encapsulated content (an attached ``.p7s``) is validated over that content.
"""

from __future__ import annotations

import os
from datetime import datetime

from asn1crypto import cms, core, pem
from pyhanko.sign.validation import async_validate_detached_cms
from pyhanko.sign.validation.generic_cms import async_validate_cms_signature
from pyhanko.sign.validation.status import StandardCMSSignatureStatus
from pyhanko_certvalidator import ValidationContext

from format_registry.signatures.detect import SIGNATURE_SUFFIXES, signature_files_for, signed_file_for  # noqa: F401
from format_registry.signatures.model import Reason, SignatureKind, SignatureReport, SignatureStatus
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
from format_registry.signatures.verdict import cms_verdict

MAX_SIGNATURE_BYTES = 32 << 20  # a CMS signature with its chain and revocation data is kilobytes
MAX_SIGNERS = 100


def validate_detached(data_path: str | os.PathLike[str], signature_path: str | os.PathLike[str],
                      anchors: TrustAnchors, *, allow_fetch: bool = False, at: datetime | None = None,
                      max_signers: int = MAX_SIGNERS) -> list[SignatureReport]:
    """One report per signer of the CMS signature at ``signature_path`` over the file ``data_path``."""
    data_name, sig_name = os.fspath(data_path), os.fspath(signature_path)
    check_moment(at)
    try:
        signed_data = read_signed_data(sig_name)
    except Exception as exc:  # an unreadable signature file is a verdict
        return [failure_report(SignatureKind.CMS, data_name, 0, exc, signature_path=sig_name)]
    signer_infos = list(signed_data["signer_infos"])
    reports: list[SignatureReport] = []
    for index, signer_info in enumerate(signer_infos[:max_signers]):
        one = cms.SignedData.load(signed_data.untag().dump())
        one["signer_infos"] = cms.SignerInfos([cms.SignerInfo.load(signer_info.dump())])
        try:
            reports.append(run_sync(_validate_one(one, data_name, sig_name, index, anchors, allow_fetch, at)))
        except Exception as exc:
            reports.append(failure_report(SignatureKind.CMS, data_name, index, exc, signature_path=sig_name))
    if not signer_infos:
        reports.append(SignatureReport(kind=SignatureKind.CMS, path=data_name, index=0, signature_path=sig_name,
                                       status=SignatureStatus.INVALID, reason=Reason.MALFORMED,
                                       detail="the SignedData has no signer"))
    if len(signer_infos) > max_signers:
        reports.append(too_many_report(SignatureKind.CMS, data_name, max_signers, len(signer_infos)))
    return reports


def read_signed_data(signature_path: str) -> cms.SignedData:
    """The SignedData of a DER or PEM (``PKCS7``/``CMS``) file; ``ValueError`` if it is none."""
    with open(signature_path, "rb") as handle:
        raw = handle.read(MAX_SIGNATURE_BYTES + 1)
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise ValueError(f"the signature file is larger than {MAX_SIGNATURE_BYTES} bytes")
    if pem.detect(raw):
        _kind, _headers, raw = pem.unarmor(raw)
    info = cms.ContentInfo.load(raw)
    if info["content_type"].native != "signed_data":
        raise ValueError(f"not a CMS SignedData but {info['content_type'].native}")
    signed_data = info["content"]
    # asn1crypto parses lazily: make a damaged outer structure fail here. Not ``.native`` of the whole:
    # attributes asn1crypto does not know (CAdES ones) would fail it though pyHanko reads them well.
    for name in ("version", "digest_algorithms", "encap_content_info"):
        signed_data[name].native  # noqa: B018
    for signer_info in signed_data["signer_infos"]:
        signer_info["sid"].native  # noqa: B018
    return signed_data


async def _validate_one(signed_data: cms.SignedData, data_name: str, sig_name: str, index: int,
                        anchors: TrustAnchors, allow_fetch: bool, at: datetime | None) -> SignatureReport:
    material = RevocationMaterial()
    material.add_signed_data(signed_data)
    attached = signed_data["encap_content_info"]["content"] is not core.VOID
    if not attached and not os.path.isfile(data_name):
        return SignatureReport(kind=SignatureKind.CMS, path=data_name, index=index, signature_path=sig_name,
                               status=SignatureStatus.INDETERMINATE, reason=Reason.SIGNED_DATA_MISSING,
                               detail="the detached signature's data file is missing",
                               evidence=material.evidence())

    def make_context() -> ValidationContext:
        return validation_context(anchors, material, allow_fetch=allow_fetch, at=at)

    context = make_context()
    try:
        status: StandardCMSSignatureStatus
        if attached:
            status = await async_validate_cms_signature(
                signed_data, status_cls=StandardCMSSignatureStatus, validation_context=context,
                key_usage_settings=KEY_USAGE)
        else:
            with open(data_name, "rb") as data:
                status = await async_validate_detached_cms(
                    data, signed_data, signer_validation_context=context, key_usage_settings=KEY_USAGE)
        verdict = await cms_verdict(status, others=material.certificates.values(), make_context=make_context)
        gathered = fetched_material(context, material)
    finally:
        await context.aclose()
    return report_from_status(SignatureKind.CMS, data_name, index, status, verdict, gathered, signature_path=sig_name)

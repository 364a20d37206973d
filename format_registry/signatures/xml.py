"""XML signatures (XMLDSig, XAdES; e.g. edXML documents) checked with signxml, their chain with pyhanko-certvalidator.

The work is split on purpose. signxml verifies what is XML-specific: canonicalisation, every reference's
digest and the signature value, with the certificate the signature names (``x509_cert``), and, for XAdES,
that the signed properties name that certificate. It is told a verification time inside that certificate's
validity, so that it does not judge time or trust: pyhanko-certvalidator does, against the archive's anchors
and with the revocation data the signature carries (``ds:X509CRL``, XAdES ``EncapsulatedCRLValue`` /
``EncapsulatedOCSPValue``), exactly as for PDF and CMS signatures, so the three kinds give the same verdict
for the same certificate.

The document is parsed by :mod:`format_registry.safexml` (no entities, no DTD, no network) and handed to
signxml with that parser. Only the first ``ds:Signature`` of a document is validated; further ones are
reported as not checked.
"""

from __future__ import annotations

import base64
import binascii
import os
from datetime import datetime, timedelta
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509
from cryptography import x509 as pyca_x509
from lxml import etree
from pyhanko_certvalidator import CertificateValidator
from signxml import SignatureConfiguration, XMLVerifier
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

from format_registry import safexml
from format_registry.signatures.detect import DS
from format_registry.signatures.model import Reason, SignatureKind, SignatureReport, SignatureStatus
from format_registry.signatures.report import failure_report, too_many_report
from format_registry.signatures.trust import (
    KEY_USAGE,
    RevocationMaterial,
    TrustAnchors,
    certificate_info,
    check_moment,
    fetched_material,
    run_sync,
    signer_of,
    validation_context,
)
from format_registry.signatures.verdict import Verdict, from_chain_error

XADES = "http://uri.etsi.org/01903/v1.3.2#"
NS = {"ds": DS, "xades": XADES}
MAX_XML_BYTES = 256 << 20
MAX_SIGNATURES = 100


def validate_xml(path: str | os.PathLike[str], anchors: TrustAnchors, *, allow_fetch: bool = False,
                 at: datetime | None = None, max_signatures: int = MAX_SIGNATURES) -> list[SignatureReport]:
    """One report per ``ds:Signature`` of the XML document at ``path`` (the first validated), never an exception."""
    name = os.fspath(path)
    check_moment(at)
    try:
        with open(name, "rb") as handle:
            data = handle.read(MAX_XML_BYTES + 1)
        if len(data) > MAX_XML_BYTES:
            return [SignatureReport(kind=SignatureKind.XMLDSIG, path=name, index=0,
                                    status=SignatureStatus.INDETERMINATE, reason=Reason.UNSUPPORTED_FORM,
                                    detail=f"the XML document is larger than {MAX_XML_BYTES} bytes")]
        root = safexml.fromstring(data)
        signatures = list(root.iter(f"{{{DS}}}Signature"))
        if not signatures:
            return []
        reports = [run_sync(_validate_first(data, signatures[0], name, anchors, allow_fetch, at))]
    except Exception as exc:  # a damaged or hostile document is a verdict
        return [failure_report(SignatureKind.XMLDSIG, name, 0, exc)]
    for index in range(1, min(len(signatures), max_signatures)):
        reports.append(SignatureReport(kind=SignatureKind.XMLDSIG, path=name, index=index,
                                       status=SignatureStatus.INDETERMINATE, reason=Reason.UNSUPPORTED_FORM,
                                       detail="only the first XML signature of a document is validated"))
    if len(signatures) > max_signatures:
        reports.append(too_many_report(SignatureKind.XMLDSIG, name, max_signatures, len(signatures)))
    return reports


def _certificates(signature: Any) -> list[x509.Certificate]:
    certs = []
    for node in signature.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS):
        der = base64.b64decode("".join((node.text or "").split()), validate=True)
        certs.append(x509.Certificate.load(der))
    return certs


def _leaf(certs: list[x509.Certificate]) -> x509.Certificate:
    """The end-entity certificate: the one that issued none of the others (the first, if that is ambiguous)."""
    issuers = {c.issuer.dump() for c in certs if c.subject.dump() != c.issuer.dump()}
    leaves = [c for c in certs if c.subject.dump() not in issuers]
    return leaves[0] if leaves else certs[0]


def _revocation_material(signature: Any, certs: list[x509.Certificate]) -> RevocationMaterial:
    material = RevocationMaterial()
    for cert in certs:
        material.add_certificate(cert)
    for path in ("ds:KeyInfo/ds:X509Data/ds:X509CRL",
                 ".//xades:RevocationValues/xades:CRLValues/xades:EncapsulatedCRLValue"):
        for node in signature.iterfind(path, NS):
            material.add_crl(asn1_crl.CertificateList.load(_b64(node.text)))
    for node in signature.iterfind(".//xades:RevocationValues/xades:OCSPValues/xades:EncapsulatedOCSPValue", NS):
        # XAdES stores the OCSPResponse (ETSI EN 319 132-1, 5.4.2.2)
        material.add_ocsp(asn1_ocsp.OCSPResponse.load(_b64(node.text)))
    return material


def _b64(text: str | None) -> bytes:
    return base64.b64decode("".join((text or "").split()), validate=True)


def _signing_time(signature: Any) -> datetime | None:
    node = signature.find(".//xades:SignedSignatureProperties/xades:SigningTime", NS)
    if node is None or not (node.text or "").strip():
        return None
    try:
        return datetime.fromisoformat(node.text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _signxml_verdict(exc: Exception) -> Verdict:
    detail = str(exc)[:2000]
    if isinstance(exc, InvalidDigest):
        if detail.startswith(("Digest mismatch for certificate digest", "Digest mismatch for signing certificate")):
            # XAdES: the signed properties name another certificate than the one that signed
            return Verdict(SignatureStatus.INVALID, Reason.SIGNATURE_MISMATCH, detail)
        return Verdict(SignatureStatus.INVALID, Reason.DIGEST_MISMATCH, detail)
    if isinstance(exc, InvalidCertificate):
        return Verdict(SignatureStatus.INDETERMINATE, Reason.CHAIN_PROBLEM, detail)
    if isinstance(exc, InvalidSignature):
        return Verdict(SignatureStatus.INVALID, Reason.SIGNATURE_MISMATCH, detail)
    if isinstance(exc, InvalidInput) and "forbidden by configuration" in detail:
        return Verdict(SignatureStatus.INDETERMINATE, Reason.UNSUPPORTED_ALGORITHM, detail)
    if isinstance(exc, (InvalidInput, ValueError, etree.LxmlError)):
        return Verdict(SignatureStatus.INVALID, Reason.MALFORMED, detail)
    return Verdict(SignatureStatus.INDETERMINATE, Reason.VALIDATION_ERROR, detail)


async def _validate_first(data: bytes, signature: Any, name: str, anchors: TrustAnchors, allow_fetch: bool,
                          at: datetime | None) -> SignatureReport:
    try:
        certs = _certificates(signature)
    except (ValueError, binascii.Error) as exc:
        return SignatureReport(kind=SignatureKind.XMLDSIG, path=name, index=0, status=SignatureStatus.INVALID,
                               reason=Reason.MALFORMED, detail=f"unreadable X509Certificate: {exc}")
    if not certs:
        return SignatureReport(kind=SignatureKind.XMLDSIG, path=name, index=0,
                               status=SignatureStatus.INDETERMINATE, reason=Reason.NO_SIGNER_CERTIFICATE,
                               detail="the signature carries no X509Certificate")
    leaf = _leaf(certs)
    try:
        material = _revocation_material(signature, certs)
    except (ValueError, binascii.Error):  # unreadable revocation values: the chain check reports them missing
        material = RevocationMaterial()
        for cert in certs:
            material.add_certificate(cert)

    verdict = _verify_xml(data, leaf, xades=signature.find(".//xades:QualifyingProperties", NS) is not None)
    chain_certs = [leaf]
    context = validation_context(anchors, material, allow_fetch=allow_fetch, at=at)
    try:
        if verdict is None:  # intact: now the chain, as for PDF and CMS signatures
            try:
                path = await CertificateValidator(leaf, certs, validation_context=context).async_validate_path()
                chain_certs = list(path.iter_certs(include_root=True))[::-1]
                KEY_USAGE.validate(leaf)
                verdict = Verdict(SignatureStatus.VALID, Reason.OK)
            except Exception as exc:  # every chain failure is a verdict
                verdict = from_chain_error(exc)
                original = getattr(exc, "original_path", None)
                if original is not None:
                    chain_certs = list(original.iter_certs(include_root=True))[::-1]
        gathered = fetched_material(context, material)
    finally:
        await context.aclose()
    return SignatureReport(
        kind=SignatureKind.XMLDSIG, path=name, index=0, status=verdict.status, reason=verdict.reason,
        detail=verdict.detail, signer=signer_of(leaf), signing_time=_signing_time(signature),
        validation_time=context.moment,
        signature_algorithm=_algorithm(signature, "ds:SignedInfo/ds:SignatureMethod"),
        digest_algorithm=_algorithm(signature, "ds:SignedInfo/ds:Reference/ds:DigestMethod"),
        chain=tuple(certificate_info(c) for c in chain_certs), evidence=gathered.evidence(chain_certs),
    )


def _verify_xml(data: bytes, leaf: x509.Certificate, *, xades: bool) -> Verdict | None:
    """signxml's check of references and signature value with ``leaf``; ``None`` when they hold."""
    cert = pyca_x509.load_der_x509_certificate(leaf.dump())
    # inside the certificate's validity: signxml must not judge time, pyhanko-certvalidator does (at ``at``)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    inside = cert.not_valid_before_utc + min(timedelta(seconds=1), lifetime / 2)
    try:
        if xades:
            XAdESVerifier().verify(data, x509_cert=cert, parser=safexml.parser(),
                                   expect_config=XAdESSignatureConfiguration(expect_references=True,
                                                                             verification_time=inside))
        else:
            XMLVerifier().verify(data, x509_cert=cert, parser=safexml.parser(),
                                 expect_config=SignatureConfiguration(expect_references=True,
                                                                      verification_time=inside))
    except Exception as exc:
        return _signxml_verdict(exc)
    return None


def _algorithm(signature: Any, path: str) -> str | None:
    node = signature.find(path, NS)
    value = node.get("Algorithm") if node is not None else None
    return value.rsplit("#", 1)[-1] if value else None

"""The archive's trust anchors and the validation context every signature is checked in.

Trust is the archive's decision, not the operating system's: only the root certificates in the folder the
archive supplies (``KHO_TRUST_ANCHORS``, read by the caller) are trusted, and an empty folder trusts
nothing (pyhanko-certvalidator would otherwise fall back to the system's TLS roots, which say nothing
about who may sign a Vietnamese state record).

Revocation information is *required* for every certificate below the anchor (ETSI EN 319 102-1: without
it a signature is indeterminate). It comes from the signed file itself (a PDF's DSS, the CMS revocation
attributes, an XML signature's encapsulated values) and, only when the caller passes ``allow_fetch=True``,
from the OCSP responders and CRL distribution points the certificates name. With ``allow_fetch=False`` no
fetcher is even built, so validation cannot reach the network. What was used is returned as
:class:`~format_registry.signatures.model.Evidence`, to be stored with the AIP.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from asn1crypto import cms, core, crl, ocsp, pem, x509
from asn1crypto import pdf as asn1_pdf  # noqa: F401  (registers the Adobe revocation attribute with asn1crypto)
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy

from format_registry.signatures.model import CertificateInfo, Evidence, Signer

T = TypeVar("T")

MAX_ANCHOR_FILES = 1000
MAX_ANCHOR_BYTES = 1 << 20  # a root certificate is a few kilobytes; anything bigger is not one

# The signer's certificate must allow signing: non-repudiation (what pyHanko asks by default, and what
# Vietnamese signing certificates carry) or digital signature, one of them being enough.
KEY_USAGE = KeyUsageConstraints(key_usage={"non_repudiation", "digital_signature"}, match_all_key_usages=False)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, also when the caller already runs an event
    loop in this thread (then in a worker thread with its own loop): the validators are asynchronous,
    their callers (pipeline steps, the CLI) are not."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass(frozen=True)
class TrustAnchors:
    """The root certificates the archive trusts, and the files of the folder that were not certificates."""

    certificates: tuple[x509.Certificate, ...]
    folder: str | None = None
    skipped: tuple[tuple[str, str], ...] = ()  # (file name, why)
    # validation material kept from an earlier validation (the evidence stored with an AIP): intermediate
    # certificates, CRLs and OCSP responses offered to every validation besides what the file carries
    stored: Evidence | None = None

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return tuple(c.sha256.hex() for c in self.certificates)

    def with_evidence(self, *evidence: Evidence) -> TrustAnchors:
        """These anchors plus stored ``evidence``: how a later re-check validates without the network what
        was validated (with fetched revocation data, perhaps) at ingest. Evidence never adds a trust anchor:
        a root certificate in it is only an intermediate candidate, trusted only if it is an anchor."""
        merged = Evidence(
            certificates=tuple(dict.fromkeys(c for e in (self.stored, *evidence) if e for c in e.certificates)),
            ocsp_responses=tuple(dict.fromkeys(o for e in (self.stored, *evidence) if e for o in e.ocsp_responses)),
            crls=tuple(dict.fromkeys(c for e in (self.stored, *evidence) if e for c in e.crls)),
        )
        return TrustAnchors(self.certificates, self.folder, self.skipped, merged)


def load_trust_anchors(folder: str | os.PathLike[str]) -> TrustAnchors:
    """Every certificate (PEM, several per file allowed, or DER) in ``folder``, not recursing.

    A missing folder raises ``FileNotFoundError``: an archive that configured anchors and lost them must
    hear about it, not silently trust nothing. Files that are not certificates are listed in ``skipped``."""
    base = Path(folder)
    if not base.is_dir():
        raise FileNotFoundError(f"trust anchor folder not found: {base}")
    certs: dict[bytes, x509.Certificate] = {}
    skipped: list[tuple[str, str]] = []
    for entry in sorted(base.iterdir())[:MAX_ANCHOR_FILES]:
        if not entry.is_file():
            continue
        if entry.stat().st_size > MAX_ANCHOR_BYTES:
            skipped.append((entry.name, "too large for a certificate"))
            continue
        try:
            found = parse_certificates(entry.read_bytes())
        except (ValueError, TypeError) as exc:
            skipped.append((entry.name, f"not a certificate: {exc}"))
            continue
        if not found:
            skipped.append((entry.name, "no certificate in the file"))
        for cert in found:
            certs.setdefault(cert.sha256, cert)
    return TrustAnchors(tuple(certs.values()), str(base), tuple(skipped))


def anchors_from_certificates(certificates: Iterable[bytes | x509.Certificate]) -> TrustAnchors:
    """Anchors given in memory (DER/PEM bytes or parsed certificates), for callers that hold them already."""
    found: list[x509.Certificate] = []
    for item in certificates:
        found.extend([item] if isinstance(item, x509.Certificate) else parse_certificates(item))
    return TrustAnchors(tuple(found))


def parse_certificates(data: bytes) -> list[x509.Certificate]:
    """The certificates in PEM (any number of blocks) or DER ``data``; ``ValueError`` if unreadable."""
    if pem.detect(data):
        blocks = [der for kind, _headers, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
    else:
        blocks = [data]
    certs = []
    for der in blocks:
        cert = x509.Certificate.load(der)
        cert.native  # noqa: B018  (asn1crypto parses lazily: force the whole structure now)
        certs.append(cert)
    return certs


@dataclass
class RevocationMaterial:
    """Certificates, CRLs and OCSP responses found in a signed file (or fetched), deduplicated."""

    certificates: dict[bytes, x509.Certificate] = field(default_factory=dict)
    crls: dict[bytes, crl.CertificateList] = field(default_factory=dict)
    ocsps: dict[bytes, ocsp.OCSPResponse] = field(default_factory=dict)

    def add_certificate(self, cert: x509.Certificate) -> None:
        self.certificates.setdefault(cert.sha256, cert)

    def add_crl(self, value: crl.CertificateList) -> None:
        self.crls.setdefault(_sha(value.dump()), value)

    def add_ocsp(self, value: ocsp.OCSPResponse) -> None:
        self.ocsps.setdefault(_sha(value.dump()), value)

    def add_signed_data(self, signed_data: cms.SignedData) -> None:
        """The certificates and revocation values a CMS SignedData carries: its ``certificates`` and
        ``crls`` fields, the Adobe revocation attribute (signed, PDF signatures) and the CAdES
        ``revocation-values`` attribute (unsigned, CAdES-X-L) of each signer."""
        for choice in signed_data["certificates"] or ():
            if choice.name == "certificate":
                self.add_certificate(choice.chosen)
        for choice in signed_data["crls"] or ():
            if choice.name == "crl":
                self.add_crl(choice.chosen)
            elif choice.name == "other" and choice.chosen["other_rev_info_format"].native == "ocsp_response":
                self.add_ocsp(choice.chosen["other_rev_info"].parsed)
        for signer_info in signed_data["signer_infos"]:
            for attrs_name in ("signed_attrs", "unsigned_attrs"):
                attrs = signer_info[attrs_name]
                if attrs is core.VOID or not attrs:
                    continue
                for attr in attrs:
                    try:
                        self._add_attribute(attr)
                    except (ValueError, TypeError, KeyError):  # a damaged attribute adds nothing
                        continue

    def _add_attribute(self, attr: cms.CMSAttribute) -> None:
        oid = attr["type"].dotted
        if oid == ADOBE_REVINFO_OID:
            for archival in attr["values"]:
                for value in archival["crl"] or ():
                    self.add_crl(value)
                for value in archival["ocsp"] or ():
                    self.add_ocsp(value)
        elif oid == CADES_REVOCATION_VALUES_OID:
            for raw in attr["values"]:
                values = RevocationValues.load(raw.dump())
                for value in values["crl_vals"] or ():
                    self.add_crl(value)
                for basic in values["ocsp_vals"] or ():
                    self.add_ocsp(ocsp_from_basic(basic))

    def evidence(self, extra_certificates: Iterable[x509.Certificate] = ()) -> Evidence:
        certs = dict(self.certificates)
        for cert in extra_certificates:
            certs.setdefault(cert.sha256, cert)
        return Evidence(certificates=tuple(c.dump() for c in certs.values()),
                        ocsp_responses=tuple(o.dump() for o in self.ocsps.values()),
                        crls=tuple(c.dump() for c in self.crls.values()))


ADOBE_REVINFO_OID = "1.2.840.113583.1.1.8"
CADES_REVOCATION_VALUES_OID = "1.2.840.113549.1.9.16.2.24"  # id-aa-ets-revocationValues (RFC 5126)


class _CertificateLists(core.SequenceOf):
    _child_spec = crl.CertificateList


class _BasicOCSPResponses(core.SequenceOf):
    _child_spec = ocsp.BasicOCSPResponse


class RevocationValues(core.Sequence):
    """RFC 5126 RevocationValues (asn1crypto does not define it)."""

    _fields = [  # noqa: RUF012  (asn1crypto's class-level schema)
        ("crl_vals", _CertificateLists, {"explicit": 0, "optional": True}),
        ("ocsp_vals", _BasicOCSPResponses, {"explicit": 1, "optional": True}),
        ("other_rev_vals", core.Any, {"explicit": 2, "optional": True}),
    ]


def ocsp_from_basic(basic: ocsp.BasicOCSPResponse) -> ocsp.OCSPResponse:
    """Wrap a BasicOCSPResponse (how CAdES and XAdES store them) in the OCSPResponse validators expect."""
    return ocsp.OCSPResponse({
        "response_status": "successful",
        "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
    })


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def check_moment(at: datetime | None) -> None:
    """Refuse a naive validation time before any work: a caller's mistake, not a property of a file."""
    if at is not None and at.utcoffset() is None:
        raise ValueError("the validation time must be timezone-aware")


def validation_context(anchors: TrustAnchors, material: RevocationMaterial, *, allow_fetch: bool = False,
                       at: datetime | None = None) -> ValidationContext:
    """A pyhanko-certvalidator context: the archive's anchors only, revocation data required, the embedded
    material preloaded, fetching only if ``allow_fetch``.

    ``at`` validates at that moment (timezone-aware) instead of now: a later re-check with the stored
    evidence uses the moment of the first validation, when that evidence was fresh."""
    check_moment(at)
    if anchors.stored is not None:
        material = RevocationMaterial(dict(material.certificates), dict(material.crls), dict(material.ocsps))
        for der in anchors.stored.certificates:
            material.add_certificate(x509.Certificate.load(der))
        for der in anchors.stored.crls:
            material.add_crl(crl.CertificateList.load(der))
        for der in anchors.stored.ocsp_responses:
            material.add_ocsp(ocsp.OCSPResponse.load(der))
    return ValidationContext(
        trust_roots=list(anchors.certificates),  # a list, even empty: None would mean the system's TLS roots
        other_certs=list(material.certificates.values()),
        crls=list(material.crls.values()),
        ocsps=list(material.ocsps.values()),
        moment=at,
        allow_fetching=allow_fetch,
        revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
    )


def fetched_material(context: ValidationContext, material: RevocationMaterial) -> RevocationMaterial:
    """``material`` plus what the context fetched (nothing when fetching was off)."""
    result = RevocationMaterial(dict(material.certificates), dict(material.crls), dict(material.ocsps))
    if context.fetching_allowed:
        for value in context.crls:
            result.add_crl(value)
        for response in context.ocsps:
            result.add_ocsp(response)
        for cert in context.revinfo_manager.new_revocation_certs:
            result.add_certificate(cert)
    return result


def _name_part(name: x509.Name, part: str) -> str | None:
    value = name.native.get(part)
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value) if value is not None else None


def certificate_info(cert: x509.Certificate) -> CertificateInfo:
    validity = cert["tbs_certificate"]["validity"]
    return CertificateInfo(
        sha256=cert.sha256.hex(), subject=name_text(cert.subject), issuer=name_text(cert.issuer),
        serial=format(cert.serial_number, "x"),
        not_before=validity["not_before"].native, not_after=validity["not_after"].native,
    )


def name_text(name: x509.Name) -> str:
    """A distinguished name as one line (asn1crypto's human-friendly form, most specific part first)."""
    return str(name.human_friendly)


def signer_of(cert: x509.Certificate) -> Signer:
    return Signer(
        common_name=_name_part(cert.subject, "common_name"),
        organisation=_name_part(cert.subject, "organization_name"),
        serial=format(cert.serial_number, "x"), subject=name_text(cert.subject), issuer=name_text(cert.issuer),
        certificate_sha256=cert.sha256.hex(),
    )

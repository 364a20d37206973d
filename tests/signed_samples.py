"""Signed samples on a PKI of their own (Vietnamese names), for the signature tests: real pyHanko and signxml.

Built with ``cryptography``: root and intermediate CA, a signer, an organisation, a revoked signer with the
CRL that says so, an expired signer, and a second root the archive does not trust with its own signer;
then PDFs signed with pyHanko, detached CMS files and enveloped XML (XMLDSig, XAdES) signed with signxml.
Shared by ``tests/unit/test_signatures.py`` (the library) and ``tests/integration/test_signature_ingest.py``
(the pipeline step and ``kho authenticity verify``).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pikepdf
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from signxml import XMLSigner
from signxml.xades import XAdESSigner

from format_registry.signatures import (
    TrustAnchors,
    load_trust_anchors,
)
from format_registry.signatures.trust import CADES_REVOCATION_VALUES_OID, RevocationValues

NOW = datetime.now(UTC).replace(microsecond=0)
YEAR = timedelta(days=365)


# ---------------------------------------------------------------- the test PKI


@dataclass
class Identity:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def asn1(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.der)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(common_name: str, organisation: str, issuer: Identity | None, *, ca: bool,
           not_before: datetime = NOW - YEAR, not_after: datetime = NOW + 20 * YEAR,
           crl_url: str | None = None, time_stamping: bool = False) -> Identity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = _name(common_name, organisation)
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    usage = dict(digital_signature=not ca, content_commitment=not ca, key_encipherment=False, data_encipherment=False,
                 key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False)
    builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    if time_stamping:
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]),
                                        critical=True)
    if crl_url is not None:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Identity(key, cert)


def _crl(issuer: Identity, revoked: list[tuple[Identity, datetime]]) -> bytes:
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
               .last_update(NOW - timedelta(hours=1)).next_update(NOW + 10 * YEAR)
               .add_extension(x509.CRLNumber(1), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                              critical=False))
    for who, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(who.cert.serial_number).revocation_date(when).build())
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@dataclass
class Pki:
    root: Identity
    intermediate: Identity
    signer: Identity
    organisation: Identity
    revoked: Identity
    expired: Identity
    other_root: Identity
    stranger: Identity
    online: Identity  # its certificate names a CRL distribution point (a server on 127.0.0.1)
    tsa: Identity
    crls: list[bytes]
    anchors_dir: Path

    @property
    def anchors(self) -> TrustAnchors:
        return load_trust_anchors(self.anchors_dir)


def _make_pki(folder: Path, crl_url: str) -> Pki:
    root = _issue("Root CA Chuyên dùng Chính phủ (thử nghiệm)", "Ban Cơ yếu Chính phủ", None, ca=True,
                  not_after=NOW + 30 * YEAR)
    intermediate = _issue("CA Bộ Nội vụ (thử nghiệm)", "Bộ Nội vụ", root, ca=True)
    signer = _issue("Nguyễn Văn An", "Sở Tài nguyên và Môi trường", intermediate, ca=False)
    organisation = _issue("Sở Tài nguyên và Môi trường tỉnh Hà Nam", "Sở Tài nguyên và Môi trường", intermediate,
                          ca=False)
    revoked = _issue("Trần Thị Bình", "Sở Tài nguyên và Môi trường", intermediate, ca=False)
    expired = _issue("Lê Văn Cường", "Sở Tài nguyên và Môi trường", intermediate, ca=False,
                     not_before=NOW - 3 * YEAR, not_after=NOW - YEAR)
    other_root = _issue("Root CA không tin cậy", "Tổ chức lạ", None, ca=True)
    stranger = _issue("Phạm Văn Dũng", "Tổ chức lạ", other_root, ca=False)
    online = _issue("Hoàng Thị Giang", "Sở Tài nguyên và Môi trường", intermediate, ca=False, crl_url=crl_url)
    tsa = _issue("Dịch vụ cấp dấu thời gian (thử nghiệm)", "Ban Cơ yếu Chính phủ", intermediate, ca=False,
                 time_stamping=True)
    crls = [_crl(root, []), _crl(intermediate, [(revoked, NOW - timedelta(days=1))])]
    anchors_dir = folder / "anchors"
    anchors_dir.mkdir()
    (anchors_dir / "root.pem").write_bytes(root.pem)  # the archive trusts the government root only
    (anchors_dir / "README.txt").write_text("not a certificate")
    return Pki(root, intermediate, signer, organisation, revoked, expired, other_root, stranger, online, tsa,
               crls, anchors_dir)


# ---------------------------------------------------------------- signing


def _minimal_pdf(text: str) -> bytes:
    """A one-page PDF with a classic xref table (what a scanner or a word processor writes)."""
    content = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _private_key(who: Identity) -> asn1_keys.PrivateKeyInfo:
    return asn1_keys.PrivateKeyInfo.load(who.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def _signer(who: Identity, pki: Pki, issuer: Identity) -> signers.SimpleSigner:
    key = _private_key(who)
    chain = [issuer.asn1] if issuer is not who else []
    return signers.SimpleSigner(signing_cert=who.asn1, signing_key=key,
                                cert_registry=SimpleCertificateStore.from_certs(chain))


def _sign_pdf(data: bytes, signer: signers.SimpleSigner, field: str, pki: Pki, *,
              subfilter: SigSeedSubFilter = SigSeedSubFilter.PADES, owner_password: str | None = None,
              timestamped: bool = False) -> bytes:
    context = ValidationContext(trust_roots=[pki.root.asn1], crls=pki.crls, allow_fetching=False)
    meta = signers.PdfSignatureMetadata(field_name=field, subfilter=subfilter, embed_validation_info=True,
                                        validation_context=context, md_algorithm="sha256")
    writer = IncrementalPdfFileWriter(BytesIO(data))
    if owner_password is not None:
        writer.encrypt(owner_password)
    timestamper = None
    if timestamped:  # pyHanko's in-process TSA: a real RFC 3161 token, no server
        timestamper = DummyTimeStamper(tsa_cert=pki.tsa.asn1, tsa_key=_private_key(pki.tsa),
                                       certs_to_embed=SimpleCertificateStore.from_certs([pki.intermediate.asn1]))
    out = signers.sign_pdf(writer, meta, signer=signer, timestamper=timestamper)
    return out.getvalue()


def _encrypted(data: bytes, user_password: str) -> bytes:
    pdf = pikepdf.open(BytesIO(data))
    out = BytesIO()
    pdf.save(out, encryption=pikepdf.Encryption(owner="chu-so-huu", user=user_password, aes=True, R=6))
    return out.getvalue()


def _change_page(data: bytes, text: str) -> bytes:
    """An incremental update that replaces the page's content: what the signer did not sign."""
    writer = IncrementalPdfFileWriter(BytesIO(data))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    stream = generic.StreamObject(stream_data=f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode())
    page["/Contents"] = writer.add_object(stream)
    writer.update_container(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _sign_cms(data: bytes, signer: signers.SimpleSigner, crls: list[bytes], *, pem: bool = False,
              cades_revocation_values: bool = False) -> bytes:
    info = asyncio.run(signer.async_sign_general_data(data, "sha256", detached=True))
    if cades_revocation_values:  # CAdES-X-L: the CRLs in the signer's unsigned revocation-values attribute
        values = RevocationValues({"crl_vals": [asn1_crl.CertificateList.load(c) for c in crls]})
        info["content"]["signer_infos"][0]["unsigned_attrs"] = asn1_cms.CMSAttributes([asn1_cms.CMSAttribute(
            {"type": CADES_REVOCATION_VALUES_OID, "values": [asn1_core.Any.load(values.dump())]})])
    elif crls:
        info["content"]["crls"] = asn1_cms.RevocationInfoChoices(
            [asn1_cms.RevocationInfoChoice(name="crl", value=asn1_crl.CertificateList.load(c)) for c in crls])
    der = info.dump(force=True)
    if pem:
        from asn1crypto import pem as asn1_pem

        return asn1_pem.armor("PKCS7", der)
    return der


EDXML = """<?xml version="1.0" encoding="UTF-8"?>
<edXMLEnvelope xmlns="http://www.e-doc.vn/Schema/"><edXMLHeader><MessageHeader>
<From><OrganId>000.00.00.H23</OrganId><OrganName>Sở Tài nguyên và Môi trường</OrganName></From>
<Code><CodeNumber>123</CodeNumber><CodeNotation>QĐ-STNMT</CodeNotation></Code>
<Subject>Quyết định phê duyệt hồ sơ lưu trữ</Subject>
</MessageHeader></edXMLHeader></edXMLEnvelope>"""


def _sign_xml(who: Identity, issuer: Identity, crls: list[bytes], *, xades: bool = False) -> bytes:
    root = etree.fromstring(EDXML.encode())
    signer_class = XAdESSigner if xades else XMLSigner
    signed = signer_class(signature_algorithm="rsa-sha256", digest_algorithm="sha256").sign(
        root, key=who.key_pem, cert=[who.pem.decode(), issuer.pem.decode()])
    import base64

    if xades:  # XAdES signs KeyInfo too: the CRLs go in the unsigned properties (XAdES-X-L RevocationValues)
        ns = "{http://uri.etsi.org/01903/v1.3.2#}"
        qualifying = signed.find(f".//{ns}QualifyingProperties")
        values = etree.SubElement(etree.SubElement(etree.SubElement(etree.SubElement(
            qualifying, f"{ns}UnsignedProperties"), f"{ns}UnsignedSignatureProperties"), f"{ns}RevocationValues"),
            f"{ns}CRLValues")
        for der in crls:
            etree.SubElement(values, f"{ns}EncapsulatedCRLValue").text = base64.b64encode(der).decode()
    else:  # KeyInfo is outside what this enveloped signature signs: adding CRLs keeps it valid
        x509_data = signed.find(".//{http://www.w3.org/2000/09/xmldsig#}X509Data")
        for der in crls:
            etree.SubElement(x509_data, "{http://www.w3.org/2000/09/xmldsig#}X509CRL").text = (
                base64.b64encode(der).decode())
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------- fixtures


@dataclass
class Samples:
    pki: Pki
    files: dict[str, Path]
    crl_requests: list[str]
    # when the samples were signed: a long test session imports this module (NOW) long before it builds them
    made_at: datetime


class _CrlServer(http.server.ThreadingHTTPServer):
    crl: bytes = b""
    requests: list[str]


class _CrlHandler(http.server.BaseHTTPRequestHandler):
    server: _CrlServer

    def do_GET(self) -> None:  # the intermediate CA's CRL distribution point
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/pkix-crl")
        self.send_header("Content-Length", str(len(self.server.crl)))
        self.end_headers()
        self.wfile.write(self.server.crl)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def signed_samples(folder: Path) -> Iterator[Samples]:
    """Build the PKI and every sample in ``folder``, with the intermediate CA's CRL served on 127.0.0.1
    while the context is open (the one sample that needs fetching: ``online.txt``)."""
    server = _CrlServer(("127.0.0.1", 0), _CrlHandler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield _make_samples(folder, server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _make_samples(folder: Path, server: _CrlServer) -> Samples:
    made_at = datetime.now(UTC)
    pki = _make_pki(folder, f"http://127.0.0.1:{server.server_address[1]}/intermediate.crl")
    server.crl = pki.crls[1]
    files: dict[str, Path] = {}

    def put(name: str, data: bytes) -> Path:
        path = folder / name
        path.write_bytes(data)
        files[name] = path
        return path

    base = _minimal_pdf("Hello, Kho")
    signer = _signer(pki.signer, pki, pki.intermediate)
    organisation = _signer(pki.organisation, pki, pki.intermediate)
    one = _sign_pdf(base, signer, "NguoiKy", pki)
    put("one.pdf", one)
    put("adobe.pdf", _sign_pdf(base, signer, "NguoiKy", pki, subfilter=SigSeedSubFilter.ADOBE_PKCS7_DETACHED))
    put("two.pdf", _sign_pdf(one, organisation, "CoQuan", pki))
    put("changed-page.pdf", _change_page(one, "Forged text"))
    adobe = (folder / "adobe.pdf").read_bytes()
    at = adobe.index(b"Hello, Kho")
    put("flipped.pdf", adobe[:at] + b"J" + adobe[at + 1:])
    put("timestamped.pdf", _sign_pdf(base, signer, "NguoiKy", pki, timestamped=True))
    put("unsigned.pdf", base)
    for label, user_password in (("restricted", ""), ("locked", "mat-khau")):  # owner password only / both
        put(f"{label}.pdf", _sign_pdf(_encrypted(base, user_password), signer, "NguoiKy", pki,
                                      owner_password="chu-so-huu"))
    put("truncated.pdf", one[: one.index(b"/ByteRange") + 100])  # cut short inside the signature revision

    record = "Biên bản giao nộp hồ sơ\n".encode() * 100
    put("record.txt", record)
    put("record.txt.p7s", _sign_cms(record, signer, pki.crls))
    put("pem.txt", record)
    put("pem.txt.sig", _sign_cms(record, signer, pki.crls, pem=True))
    put("changed.txt", record)
    put("changed.txt.p7s", _sign_cms(record, signer, pki.crls))
    files["changed.txt"].write_bytes(record + b"!")
    put("revoked.txt", record)
    put("revoked.txt.p7s", _sign_cms(record, _signer(pki.revoked, pki, pki.intermediate), pki.crls))
    put("expired.txt", record)
    put("expired.txt.p7s", _sign_cms(record, _signer(pki.expired, pki, pki.intermediate), pki.crls))
    put("cades.txt", record)
    put("cades.txt.p7s", _sign_cms(record, signer, pki.crls, cades_revocation_values=True))
    put("norevinfo.txt", record)
    put("norevinfo.txt.p7s", _sign_cms(record, signer, []))
    put("stranger.txt", record)
    put("stranger.txt.p7s", _sign_cms(record, _signer(pki.stranger, pki, pki.other_root), []))
    put("orphan.txt.p7s", _sign_cms(record, signer, pki.crls))
    put("online.txt", record)  # carries the root's CRL; the intermediate's is on the CRL server
    put("online.txt.p7s", _sign_cms(record, _signer(pki.online, pki, pki.intermediate), pki.crls[:1]))
    put("garbage.txt", record)
    put("garbage.txt.p7s", b"\x30\x82\xff\xff not a signature")

    put("valid.xml", _sign_xml(pki.signer, pki.intermediate, pki.crls))
    tampered = (folder / "valid.xml").read_bytes().replace("phê duyệt".encode(), "hủy bỏ".encode())
    put("tampered.xml", tampered)
    put("untrusted.xml", _sign_xml(pki.stranger, pki.other_root, []))
    put("xades.xml", _sign_xml(pki.signer, pki.intermediate, pki.crls, xades=True))
    put("revoked.xml", _sign_xml(pki.revoked, pki.intermediate, pki.crls))
    put("expired.xml", _sign_xml(pki.expired, pki.intermediate, pki.crls))
    put("norevinfo.xml", _sign_xml(pki.signer, pki.intermediate, []))
    put("broken.xml", tampered[: len(tampered) - 200])
    put("plain.xml", EDXML.encode())
    put("entities.xml", b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<d xmlns:ds="http://www.w3.org/2000/09/xmldsig#">&b;<ds:Signature/></d>')
    return Samples(pki, files, server.requests, made_at)



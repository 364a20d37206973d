"""A test PKI with Vietnamese names, built with ``cryptography``: a root CA, organisation certificates under
it, PKCS#12 files with a password (what ``KHO_SIGNING_KEY`` points at), and a self-made certificate that
copies an organisation's name (the forger's). Everything is valid until 2045, so the tests do not expire.

Any test may build one: ``build_pki(folder)``, or the session fixture of a test module calling it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2045, 12, 31, 23, 59, 59, tzinfo=UTC)
PASSWORD = "mật-khẩu-thử-nghiệm"  # non-ASCII on purpose: PKCS#12 passwords are UTF-8
ROOT_NAME = "Cơ quan chứng thực gốc (thử nghiệm)"
RECEIVER_NAME = "Trung tâm Lưu trữ lịch sử tỉnh Hà Tĩnh"
SENDER_NAME = "Lưu trữ hiện hành UBND tỉnh Hà Tĩnh"


@dataclass(frozen=True)
class Identity:
    """One certificate with its key: the PKCS#12 file (and password) Kho is given, the certificate as PEM
    (what the other archive is given)."""

    name: str
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey
    p12: Path
    cert_pem: Path
    password: str = PASSWORD

    def env(self) -> dict[str, str]:
        """The settings that make Kho sign with this identity."""
        return {"KHO_SIGNING_KEY": str(self.p12), "KHO_SIGNING_KEY_PASSWORD": self.password}


@dataclass
class Pki:
    folder: Path
    root: Identity
    identities: dict[str, Identity] = field(default_factory=dict)

    def organisation(self, name: str, *, issuer: Identity | None = None) -> Identity:
        """An organisation's signing certificate (O and CN ``name``), issued by ``issuer`` (default: the root)."""
        if name not in self.identities or issuer is not None:
            self.identities[name] = _identity(self.folder, name, issuer or self.root, ca=False)
        return self.identities[name]

    def self_made(self, name: str) -> Identity:
        """A self-signed certificate with the same name as a real organisation: what a forger can make."""
        return _identity(self.folder, name, None, ca=False, stem="forged")


def _name(common: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, common),
        x509.NameAttribute(NameOID.COMMON_NAME, common),
    ])


def _identity(folder: Path, name: str, issuer: Identity | None, *, ca: bool, stem: str | None = None) -> Identity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = _name(name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(
            digital_signature=not ca, content_commitment=not ca, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False),
            critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    folder.mkdir(parents=True, exist_ok=True)
    base = f"{stem or ('ca' if ca else 'org')}-{certificate.serial_number:x}"
    p12 = folder / f"{base}.p12"
    chain = [issuer.certificate] if issuer is not None else None
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        name.encode(), key, certificate, chain,
        serialization.BestAvailableEncryption(PASSWORD.encode())))
    p12.chmod(0o600)
    cert_pem = folder / f"{base}.pem"
    cert_pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return Identity(name, certificate, key, p12, cert_pem)


def build_pki(folder: Path) -> Pki:
    """The root CA and the two archives of a hand-over, under ``folder``."""
    root = _identity(folder, ROOT_NAME, None, ca=True)
    pki = Pki(folder, root)
    pki.organisation(RECEIVER_NAME)
    pki.organisation(SENDER_NAME)
    return pki

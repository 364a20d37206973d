"""The archive's own signature: detached CMS (PKCS #7) signatures made with its X.509 key, and their check.

Why CMS with a certificate and not a shared secret: a hand-over receipt signed with a key both archives hold
(the old HMAC) proves nothing to a third party, since either side could have made it; event-chain
checkpoints must be signed by the archive alone, so that whoever can write the catalog database cannot
write a checkpoint that agrees with a rewritten trail. A detached CMS ``SignedData`` (RFC 5652) is what
every PKI tool reads (``openssl cms -verify``), it carries the signer's certificate, and the same
structure later takes an RFC 3161 timestamp (decision 0023).

Signing uses ``cryptography`` (``PKCS7SignatureBuilder``, SHA-256, the signed attributes content type,
signing time and message digest); checking uses pyHanko's CMS validation (integrity, the signature, and
the certificate path to the certificates the caller trusts), never the network.

The key comes from a PKCS#12 file (``KHO_SIGNING_KEY`` and ``KHO_SIGNING_KEY_PASSWORD``); a PKCS#11 token
could stand behind the same ``Signer`` later.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from pydantic import SecretStr

from preservation.config import Settings

# pyHanko logs a traceback for every certificate path it cannot build; the verdict below carries the reason
for _name in ("pyhanko", "pyhanko_certvalidator"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

MAX_CERTIFICATE_BYTES = 1024 * 1024
T = TypeVar("T")


class SigningError(ValueError):
    """The archive's key cannot be used (missing file, wrong password, no certificate); bilingual message."""


@dataclass(frozen=True)
class Signer:
    """The archive's private key and certificate (and the certificates above it, sent along)."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def name(self) -> str:
        return subject_name(self.certificate)

    def sign(self, data: bytes) -> bytes:
        """A detached CMS signature (DER) over ``data``: the content is not inside, the certificate is."""
        builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(self.certificate, self.key, hashes.SHA256())
        for extra in self.chain:
            builder = builder.add_certificate(extra)
        # Binary: the bytes as they are (without it, line ends are turned into CRLF before signing)
        return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature,
                                                         pkcs7.PKCS7Options.Binary])

    def certificate_pem(self) -> str:
        return certificate_pem(self.certificate)


_LOADED: dict[tuple[str, int, int], Signer] = {}


def load_signer(path: Path, password: SecretStr | str | None) -> Signer:
    """The key and certificate of a PKCS#12 file; cached per file version (a checkpoint is signed after
    every journal flush, and an RSA key takes a few milliseconds to load)."""
    try:
        stat = path.stat()
        cache_key = (str(path), stat.st_mtime_ns, stat.st_size)
        if cache_key in _LOADED:
            return _LOADED[cache_key]
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"the signing key {path} cannot be read ({exc.strerror or exc}) / không đọc được tệp khóa "
                           f"ký {path}") from exc
    secret = password.get_secret_value() if isinstance(password, SecretStr) else password
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, secret.encode() if secret else None)
    except ValueError as exc:
        raise SigningError(f"the signing key {path} cannot be opened: wrong KHO_SIGNING_KEY_PASSWORD or not a "
                           f"PKCS#12 file / không mở được tệp khóa ký {path}: sai mật khẩu hoặc không phải tệp "
                           "PKCS#12") from exc
    if certificate is None or not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise SigningError(f"{path} holds no RSA or EC key with its certificate / tệp {path} không chứa khóa RSA/EC "
                           "kèm chứng thư số")
    signer = Signer(key, certificate, tuple(chain or ()))
    _LOADED[cache_key] = signer
    return signer


def signer_from_settings(settings: Settings) -> Signer | None:
    """The archive's signer when ``KHO_SIGNING_KEY`` is set, else None; SigningError when it is set but unusable."""
    if settings.signing_key is None:
        return None
    return load_signer(settings.signing_key, settings.signing_key_password)


# -- certificates --------------------------------------------------------------------------------------


def subject_name(certificate: x509.Certificate) -> str:
    """The certificate's subject as RFC 4514 text (Vietnamese kept as is)."""
    return certificate.subject.rfc4514_string()


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def parse_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of PEM text (one or more) or of one DER certificate; ValueError if none."""
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def load_certificates(paths: Iterable[Path]) -> list[x509.Certificate]:
    """The certificates of files (PEM or DER) and of the files directly in folders (``KHO_TRUST_ANCHORS``).
    A file that holds no certificate is refused when named, skipped when found in a folder."""
    found: list[x509.Certificate] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.is_file() and child.stat().st_size <= MAX_CERTIFICATE_BYTES:
                    try:
                        found.extend(parse_certificates(child.read_bytes()))
                    except ValueError:
                        continue
            continue
        try:
            if path.stat().st_size > MAX_CERTIFICATE_BYTES:
                raise ValueError("too large")
            found.extend(parse_certificates(path.read_bytes()))
        except (OSError, ValueError) as exc:
            raise SigningError(f"{path}: no certificate could be read ({exc}) / không đọc được chứng thư số "
                               f"trong {path}") from exc
    return found


# -- checking --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """What a detached signature says about some bytes."""

    intact: bool  # the signature is cryptographically valid and covers exactly these bytes
    trusted: bool  # and its signer's certificate is, or chains to, one the caller trusts
    signer: str  # the signer certificate's subject ("" when the signature could not be read)
    certificate: x509.Certificate | None
    reason: str  # bilingual; "" when intact and trusted

    @property
    def ok(self) -> bool:
        return self.intact and self.trusted


def verify_detached(data: bytes, signature: bytes, trusted: Sequence[x509.Certificate]) -> Verification:
    """Check a detached CMS ``signature`` over ``data`` against the ``trusted`` certificates (trust anchors:
    the signer's own certificate pinned, or a CA above it). With no trusted certificate only integrity is
    checked (``trusted`` is then False). Offline: no revocation data is fetched."""
    from asn1crypto import cms
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko_certvalidator import ValidationContext

    try:
        content = cms.ContentInfo.load(signature)
        if content["content_type"].native != "signed_data":
            raise ValueError("not a CMS SignedData")
        signed_data = content["content"]
        roots = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in trusted]
        context = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
        usage = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False)
        status = _run(async_validate_detached_cms(data, signed_data, signer_validation_context=context,
                                                  key_usage_settings=usage))
        certificate = x509.load_der_x509_certificate(status.signing_cert.dump())
        signer = subject_name(certificate)  # parsed lazily: a damaged name fails here
    except Exception as exc:  # a damaged or foreign signature is a verdict, not a crash
        return Verification(False, False, "", None,
                            f"the signature cannot be read ({type(exc).__name__}: {exc}) / không đọc được chữ ký")
    intact = bool(status.intact and status.valid)
    if not intact:
        return Verification(False, False, signer, certificate,
                            "the signature does not match the content (altered after signing, or signed with another "
                            "key) / chữ ký không khớp nội dung (bị sửa sau khi ký hoặc ký bằng khóa khác)")
    if not trusted:
        return Verification(True, False, signer, certificate,
                            "no certificate to check the signer against / không có chứng thư số để đối chiếu người ký")
    if not status.trusted:
        return Verification(True, False, signer, certificate,
                            f"signed by {signer}, a certificate that is not the expected one nor issued under it "
                            f"({status.trust_problem_indic}) / được ký bởi {signer}, không phải chứng thư số đã biết")
    return Verification(True, True, signer, certificate, "")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run pyHanko's coroutine to its end from synchronous code, even under a running event loop (the API)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def private_write(path: Path, data: bytes) -> None:
    """Write a file only its owner and group may read (``KHO_FILE_MODE``, never world-readable), replacing it."""
    from storage_adapters import local

    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    descriptor = local.create_file(partial)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)

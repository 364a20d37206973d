"""A real RFC 3161 time-stamping authority on 127.0.0.1 for the tests, with its own test PKI.

The PKI (``TsaPki``) is made with ``cryptography``: a root with Vietnamese names valid to 2045, a TSA
certificate under it (id-kp-timeStamping, critical, as RFC 3161 §2.3 requires) valid to 2045, a second TSA
certificate that expires within 30 days (what ``kho authenticity renew`` must notice), and a root no
archive trusts with a TSA of its own. Tokens are signed by pyHanko's ``DummyTimeStamper`` (a real TSA
implementation: TSTInfo, CMS SignedData, ESS signing-certificate) behind ``http.server``: the client under
test speaks HTTP to it exactly as to a public TSA.

Paths on the server choose the TSA or a fault: ``/tsa`` (long-lived), ``/short`` (expires soon),
``/untrusted`` (unknown root), ``/refuse`` (status rejection), ``/wrong-nonce``, ``/wrong-imprint``,
``/huge`` (an over-long answer), ``/http-500``. ``server.down()`` stops answering at all (connection refused).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import core, keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

UNTIL_2045 = datetime(2045, 12, 31, 23, 59, 59, tzinfo=UTC)


def _name(common: str, organisation: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COMMON_NAME, common),
    ])


@dataclass
class Issued:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def asn1(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))

    @property
    def asn1_key(self) -> keys.PrivateKeyInfo:
        return keys.PrivateKeyInfo.load(self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _root(common: str, organisation: str, not_before: datetime) -> Issued:
    key = _key()
    name = _name(common, organisation)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(UNTIL_2045)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def _tsa(issuer: Issued, common: str, organisation: str, not_before: datetime, not_after: datetime) -> Issued:
    key = _key()
    cert = (
        x509.CertificateBuilder().subject_name(_name(common, organisation)).issuer_name(issuer.cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    return Issued(cert, key)


@dataclass
class TsaPki:
    """The test PKI; ``anchors_dir(path)`` writes the trusted root where ``KHO_TRUST_ANCHORS`` can name it."""

    root: Issued
    tsa: Issued
    short_tsa: Issued
    other_root: Issued
    other_tsa: Issued
    short_days: int = 20

    @classmethod
    def make(cls, short_days: int = 20) -> TsaPki:
        start = datetime.now(UTC) - timedelta(days=1)
        root = _root("Tổ chức chứng thực gốc thử nghiệm Kho", "Cục Văn thư và Lưu trữ nhà nước (thử nghiệm)", start)
        other = _root("Tổ chức chứng thực không được tin cậy", "Công ty Chứng thực Lạ (thử nghiệm)", start)
        return cls(
            root=root,
            tsa=_tsa(root, "Máy chủ cấp dấu thời gian thử nghiệm", "Trung tâm Lưu trữ quốc gia (thử nghiệm)",
                     start, UNTIL_2045),
            short_tsa=_tsa(root, "Máy chủ cấp dấu thời gian sắp hết hạn", "Trung tâm Lưu trữ quốc gia (thử nghiệm)",
                           start, datetime.now(UTC) + timedelta(days=short_days)),
            other_root=other,
            other_tsa=_tsa(other, "Máy chủ cấp dấu thời gian lạ", "Công ty Chứng thực Lạ (thử nghiệm)", start,
                           UNTIL_2045),
            short_days=short_days,
        )

    def anchors_dir(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        (path / "root.pem").write_bytes(self.root.pem())
        return path

    def stamper(self, which: Issued, issuer: Issued, fixed: datetime | None = None) -> DummyTimeStamper:
        return DummyTimeStamper(tsa_cert=which.asn1, tsa_key=which.asn1_key, certs_to_embed=[issuer.asn1],
                                fixed_dt=fixed)


@dataclass
class TsaServer:
    """A TSA over HTTP on 127.0.0.1 (``url(path)``); ``requests`` counts the requests each path answered."""

    pki: TsaPki
    port: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    _httpd: ThreadingHTTPServer | None = None
    _refusing: bool = False

    def url(self, path: str = "/tsa") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def down(self) -> None:
        """Stop listening: a connection to the TSA is refused from now on (``up`` starts it again)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def up(self) -> None:
        if self._httpd is not None:
            return
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet test output
                return

            def do_POST(self) -> None:
                path = self.path
                server.requests[path] = server.requests.get(path, 0) + 1
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if path == "/http-500":
                    self.send_error(500, "broken")
                    return
                if path == "/huge":
                    self._reply(b"\x30" * (1024 * 1024))
                    return
                request = tsp.TimeStampReq.load(body)
                pki = server.pki
                if path == "/refuse":
                    status = tsp.PKIStatusInfo({
                        "status": tsp.PKIStatus("rejection"), "status_string": ["policy refuses / từ chối"],
                        "fail_info": tsp.PKIFailureInfo({"unaccepted_policy"}),
                    }).dump()
                    # a TimeStampResp with no token (asn1crypto's class cannot leave the token out)
                    self._reply(core.Sequence(contents=status).dump())
                    return
                if path in ("/tsa", "/wrong-nonce", "/wrong-imprint"):
                    stamper = pki.stamper(pki.tsa, pki.root)
                elif path == "/short":
                    stamper = pki.stamper(pki.short_tsa, pki.root)
                elif path == "/untrusted":
                    stamper = pki.stamper(pki.other_tsa, pki.other_root)
                else:
                    self.send_error(404)
                    return
                if path == "/wrong-nonce":
                    request = tsp.TimeStampReq({**_fields(request), "nonce": 12345})
                if path == "/wrong-imprint":
                    imprint = request["message_imprint"]
                    request = tsp.TimeStampReq({**_fields(request), "message_imprint": tsp.MessageImprint({
                        "hash_algorithm": imprint["hash_algorithm"],
                        "hashed_message": bytes(len(imprint["hashed_message"].native)),
                    })})
                self._reply(stamper.request_tsa_response(request).dump())

            def _reply(self, data: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, name="test-tsa", daemon=True).start()


def _fields(request: tsp.TimeStampReq) -> dict[str, object]:
    names = [spec[0] for spec in request._fields]
    return {name: request[name] for name in names if request[name].native is not None}


@contextmanager
def running_tsa(pki: TsaPki) -> Iterator[TsaServer]:
    server = TsaServer(pki)
    server.up()
    try:
        yield server
    finally:
        server.down()

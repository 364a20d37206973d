"""RFC 3161 time-stamps: asking a time-stamping authority (TSA) to seal a digest, and checking a token later.

Why: a digest alone proves that bytes did not change only to someone who trusts where the digest was kept
(Kho's own catalog and storage). A time-stamp token is the TSA's signature over the digest and the time,
so it proves to a third party that the bytes existed, as they are, at that time. Kho stamps the digest of
each AIP version's OCFL ``inventory.json`` (which names every file's SHA-512), and renews the stamps before
the TSA's certificate expires (``preservation.evidence``, docs/decisions/0024).

The request and its checks are Kho's own, small and bounded (``request_timestamp``): one HTTP POST of an
``application/timestamp-query`` with a fresh nonce, a timeout, a cap on the response size, and a response
accepted only when its status is granted, its nonce is ours and its message imprint is exactly the digest
sent. The token's signature and the TSA's certificate path are checked by pyHanko and
pyhanko-certvalidator (``verify_timestamp``), against the archive's trust anchors only (never the
operating system's TLS roots) and at a chosen moment: an earlier stamp of an evidence record is checked at
the time the next stamp covered it (RFC 4998), not today.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import hashlib
import logging
import secrets
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from asn1crypto import algos, cms, core, pem, tsp, x509

T = TypeVar("T")

ALGORITHMS = ("sha256", "sha384", "sha512")  # what a TSA is asked to stamp with; SHA-1 is long retired
DEFAULT_TIMEOUT = 10.0  # seconds: a TSA answers in well under a second; a dead one must not hold a store up
MAX_RESPONSE_BYTES = 256 * 1024  # a token with its certificate chain is a few kilobytes
MAX_ANCHOR_FILES = 1000
MAX_ANCHOR_BYTES = 1 << 20

Status = Literal["valid", "invalid", "indeterminate"]


class TimestampError(Exception):
    """The TSA could not be asked, refused, or answered with something that is not a stamp of our digest.
    The message is in English and Vietnamese."""


@dataclass(frozen=True)
class TimestampInfo:
    """What a token says and whether it holds: ``valid`` (the signature is sound, the imprint is the digest,
    the TSA's certificate chains to a trust anchor at the moment checked), ``invalid`` (the token is not a
    stamp of this digest, or its signature is wrong: no later evidence can repair it) or ``indeterminate``
    (sound, but not trusted: unknown root, TSA certificate expired or not yet valid at that moment…)."""

    status: Status
    reason: str
    gen_time: datetime | None = None
    tsa: str | None = None  # the TSA's name as the token gives it, else its certificate's subject
    serial: int | None = None
    hash_algorithm: str | None = None
    imprint: str | None = None  # hex
    policy: str | None = None
    tsa_certificate: str | None = None  # subject
    tsa_certificate_not_after: datetime | None = None
    chain: list[str] = field(default_factory=list)  # subjects, from the TSA's certificate to the anchor
    checked_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("gen_time", "tsa_certificate_not_after", "checked_at"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        if data["serial"] is not None:
            data["serial"] = str(data["serial"])  # 64+ bits: JSON readers in other languages lose precision
        return data


def digest(data: bytes, algorithm: str) -> bytes:
    """``data``'s digest with one of ``ALGORITHMS``."""
    if algorithm not in ALGORITHMS:
        raise TimestampError(f"hash algorithm {algorithm!r} is not one of {ALGORITHMS} / "
                             "thuật toán băm không được hỗ trợ")
    return hashlib.new(algorithm, data).digest()


def _check_url(tsa_url: str) -> None:
    parts = urlsplit(tsa_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TimestampError(f"KHO_TSA_URL={tsa_url!r} is not an http(s) URL / địa chỉ máy chủ cấp dấu thời gian "
                             "không phải là URL http(s)")


def request_timestamp(
    digest_value: bytes, algorithm: str, tsa_url: str, *, timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> bytes:
    """The DER ``TimeStampToken`` (a CMS ``ContentInfo``) the TSA at ``tsa_url`` gives for ``digest_value``
    (made with ``algorithm``). Raises ``TimestampError`` when the TSA cannot be reached within ``timeout``,
    answers with an HTTP error, more than ``max_bytes``, a refusal, another nonce or another imprint."""
    _check_url(tsa_url)
    if algorithm not in ALGORITHMS:
        raise TimestampError(f"hash algorithm {algorithm!r} is not one of {ALGORITHMS} / "
                             "thuật toán băm không được hỗ trợ")
    if len(digest_value) != hashlib.new(algorithm).digest_size:
        raise TimestampError(f"a {algorithm} digest has {hashlib.new(algorithm).digest_size} bytes, not "
                             f"{len(digest_value)} / độ dài mã băm không đúng")
    nonce = secrets.randbits(63) | (1 << 62)  # positive, and of a fixed width
    request = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": tsp.MessageImprint({
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
            "hashed_message": digest_value,
        }),
        "nonce": nonce,
        "cert_req": True,  # the TSA's certificate in the token: the token verifies on its own
    })
    http_request = urllib.request.Request(  # noqa: S310 (the scheme is checked above: http or https only)
        tsa_url, data=request.dump(), method="POST",
        headers={"Content-Type": "application/timestamp-query", "Accept": "application/timestamp-reply"},
    )
    try:
        with urllib.request.urlopen(http_request, timeout=timeout) as response:  # noqa: S310
            body = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise TimestampError(f"the TSA at {tsa_url} answered HTTP {exc.code} {exc.reason} / máy chủ cấp dấu "
                             f"thời gian trả lời lỗi HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TimestampError(f"the TSA at {tsa_url} cannot be reached ({reason}) / không kết nối được máy chủ "
                             "cấp dấu thời gian") from exc
    if len(body) > max_bytes:
        raise TimestampError(f"the TSA at {tsa_url} answered more than {max_bytes} bytes: not a time-stamp "
                             "response / câu trả lời quá lớn, không phải dấu thời gian")
    return _accepted_token(body, tsa_url, nonce, algorithm, digest_value)


class _TimeStampResp(core.Sequence):
    """RFC 3161's ``TimeStampResp``, whose token is OPTIONAL (absent from a refusal); asn1crypto's class
    requires it, so a refusal could not even be read to say why."""

    _fields = [("status", tsp.PKIStatusInfo), ("time_stamp_token", cms.ContentInfo, {"optional": True})]  # noqa: RUF012


def _accepted_token(body: bytes, tsa_url: str, nonce: int, algorithm: str, digest_value: bytes) -> bytes:
    """The token of a TSA's response, once it is known to be a granted stamp of our digest and nonce."""
    try:
        response = _TimeStampResp.load(body)
        status = response["status"]
        granted = status["status"].native
        if granted not in ("granted", "granted_with_mods"):
            said = "; ".join(status["status_string"].native or []) or "-"
            fail = ", ".join(sorted(status["fail_info"].native or [])) or "-"
            raise TimestampError(f"the TSA at {tsa_url} refused the request ({granted}: {said}; {fail}) / "
                                 "máy chủ cấp dấu thời gian từ chối yêu cầu")
        token = response["time_stamp_token"]
        if token.native is None:
            raise TimestampError(f"the TSA at {tsa_url} granted the request but sent no token / máy chủ không "
                                 "gửi dấu thời gian")
        info = tst_info(token)
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError(f"the TSA at {tsa_url} did not answer with an RFC 3161 response ({exc}) / câu trả "
                             "lời không phải là dấu thời gian RFC 3161") from exc
    if info["nonce"].native != nonce:
        raise TimestampError(f"the TSA at {tsa_url} answered another request (nonce {info['nonce'].native}, "
                             f"sent {nonce}) / câu trả lời dành cho yêu cầu khác (mã nonce không khớp)")
    imprint = info["message_imprint"]
    if imprint["hash_algorithm"]["algorithm"].native != algorithm or imprint["hashed_message"].native != digest_value:
        raise TimestampError(f"the TSA at {tsa_url} stamped another digest than the one sent / dấu thời gian "
                             "không phải của mã băm đã gửi")
    return bytes(token.dump())


def tst_info(token: cms.ContentInfo) -> tsp.TSTInfo:
    """The ``TSTInfo`` a token signs; ValueError when it is not a time-stamp token."""
    if token["content_type"].native != "signed_data":
        raise ValueError("not CMS SignedData")
    content = token["content"]["encap_content_info"]
    if content["content_type"].native != "tst_info":
        raise ValueError("the SignedData does not hold a TSTInfo")
    parsed = content["content"].parsed
    if not isinstance(parsed, tsp.TSTInfo):
        raise ValueError("the SignedData does not hold a TSTInfo")
    return parsed


def _general_name(name: x509.GeneralName | None) -> str | None:
    if name is None or name.native is None:
        return None
    if name.name == "directory_name":
        return str(name.chosen.human_friendly)
    return str(name.native)


def describe(token_der: bytes) -> TimestampInfo:
    """What the token says, without checking it (``status`` ``indeterminate``, reason ``not checked``); a
    token that cannot be read is ``invalid``."""
    try:
        token = cms.ContentInfo.load(token_der)
        info = tst_info(token)
        signed = token["content"]
        tsa_cert = _signer_certificate(signed)
        imprint = info["message_imprint"]
        return TimestampInfo(
            status="indeterminate", reason="not checked / chưa kiểm tra",
            gen_time=info["gen_time"].native,
            tsa=_general_name(info["tsa"] if info["tsa"].native is not None else None)
            or (tsa_cert.subject.human_friendly if tsa_cert else None),
            serial=info["serial_number"].native,
            hash_algorithm=imprint["hash_algorithm"]["algorithm"].native,
            imprint=imprint["hashed_message"].native.hex(),
            policy=info["policy"].dotted,
            tsa_certificate=tsa_cert.subject.human_friendly if tsa_cert else None,
            tsa_certificate_not_after=tsa_cert["tbs_certificate"]["validity"]["not_after"].native if tsa_cert else None,
        )
    except (ValueError, TypeError, KeyError) as exc:
        return TimestampInfo(status="invalid", reason=f"not a time-stamp token ({exc}) / không phải dấu thời gian")


def _signer_certificate(signed: cms.SignedData) -> x509.Certificate | None:
    infos = signed["signer_infos"]
    if len(infos) != 1:
        return None
    sid = infos[0]["sid"]
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if cert.issuer == wanted["issuer"] and cert.serial_number == wanted["serial_number"].native:
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None


def load_anchors(folder: str | Path | None) -> list[x509.Certificate]:
    """The root certificates in ``folder`` (``KHO_TRUST_ANCHORS``: PEM, several a file, or DER; not
    recursing). None: no anchor, so every stamp is at best indeterminate. A folder that is set but missing
    raises ``TimestampError``: an archive that lost its anchors must hear of it, not silently trust nothing."""
    if folder is None:
        return []
    base = Path(folder)
    if not base.is_dir():
        raise TimestampError(f"the trust anchor folder {base} does not exist (KHO_TRUST_ANCHORS) / không tìm thấy "
                             "thư mục chứng thư gốc tin cậy")
    found: dict[bytes, x509.Certificate] = {}
    for path in sorted(base.iterdir())[:MAX_ANCHOR_FILES]:
        if not path.is_file() or path.stat().st_size > MAX_ANCHOR_BYTES:
            continue
        for cert in _certificates(path.read_bytes()):
            found.setdefault(cert.sha256, cert)
    return list(found.values())


def _certificates(data: bytes) -> Iterable[x509.Certificate]:
    try:
        if pem.detect(data):
            return [x509.Certificate.load(der) for kind, _headers, der in pem.unarmor(data, multiple=True)
                    if kind == "CERTIFICATE"]
        cert = x509.Certificate.load(data)
        cert.native  # noqa: B018 (parses the whole structure: a file that is not a certificate fails here)
        return [cert]
    except (ValueError, TypeError):
        return []


# pyHanko logs a path it could not build, with a traceback, before returning the verdict Kho reports itself
# (indeterminate, with the reason): while Kho validates, those lines are dropped, elsewhere they are left alone.
_QUIET: ContextVar[bool] = ContextVar("kho_quiet_pyhanko", default=False)


class _WhileQuiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _QUIET.get()


for _name in ("pyhanko.sign.validation.generic_cms", "pyhanko_certvalidator.validate"):
    logging.getLogger(_name).addFilter(_WhileQuiet())


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """pyHanko's validation is asynchronous; Kho's callers are not. In a thread of its own when the caller
    already runs an event loop (the API)."""
    token = _QUIET.set(True)
    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(contextvars.copy_context().run, asyncio.run, coro).result()
    finally:
        _QUIET.reset(token)


_REASONS = {
    "NO_CERTIFICATE_CHAIN_FOUND": "the TSA's certificate does not chain to a trust anchor / chứng thư của máy chủ "
                                  "cấp dấu thời gian không dẫn tới chứng thư gốc tin cậy",
    "EXPIRED": "the TSA's certificate had expired at the moment checked / chứng thư của máy chủ cấp dấu thời gian "
               "đã hết hạn",
    "OUT_OF_BOUNDS_NO_POE": "the TSA's certificate was not valid at the moment checked (expired or not yet valid) "
                            "/ chứng thư của máy chủ cấp dấu thời gian không còn hiệu lực",
    "NOT_YET_VALID": "the TSA's certificate was not yet valid at the moment checked / chứng thư chưa có hiệu lực",
    "REVOKED_NO_POE": "the TSA's certificate is revoked / chứng thư đã bị thu hồi",
    "CHAIN_CONSTRAINTS_FAILURE": "the TSA's certificate may not issue time-stamps (no id-kp-timeStamping) / chứng "
                                 "thư không được phép cấp dấu thời gian",
    "SIG_CONSTRAINTS_FAILURE": "the TSA's certificate may not issue time-stamps (no id-kp-timeStamping) / chứng "
                               "thư không được phép cấp dấu thời gian",
    "CRYPTO_CONSTRAINTS_FAILURE": "an algorithm of the token is no longer accepted / thuật toán không còn được "
                                  "chấp nhận",
}


def verify_timestamp(
    token_der: bytes, digest_value: bytes, anchors: Sequence[x509.Certificate], *, at: datetime | None = None,
    algorithm: str | None = None,
) -> TimestampInfo:
    """Check that ``token_der`` is a sound time-stamp of ``digest_value`` (made with ``algorithm`` when given)
    by a TSA whose certificate chains to one of ``anchors`` and is valid at ``at`` (default: now). No
    network: revocation is not fetched (a TSA certificate's revocation is the evidence record's renewal
    matter, not a reason to call out at every check)."""
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    moment = at or datetime.now(UTC)
    described = describe(token_der)
    if described.status == "invalid":
        return described
    if algorithm is not None and described.hash_algorithm != algorithm:
        return _with(described, "invalid", f"the token stamps a {described.hash_algorithm} digest, not {algorithm} "
                     "/ thuật toán băm của dấu thời gian không đúng", moment)
    if described.imprint != digest_value.hex():
        return _with(described, "invalid", "the token does not stamp this digest (the data changed, or the token "
                     "is another's) / dấu thời gian không khớp với mã băm của dữ liệu", moment)
    token = cms.ContentInfo.load(token_der)
    context = ValidationContext(
        trust_roots=list(anchors),  # a list, even empty: None would mean the operating system's TLS roots
        moment=moment, allow_fetching=False, revocation_mode="soft-fail",
    )
    try:
        result = _run(validate_tst_signed_data(token["content"], context, lambda _algorithm: digest_value))
    except (SignatureValidationError, ValueError, TypeError, KeyError) as exc:
        return _with(described, "invalid", f"the token's signature cannot be checked ({exc}) / không kiểm tra "
                     "được chữ ký của dấu thời gian", moment)
    path = result.get("validation_path")
    chain = [c.subject.human_friendly for c in reversed(list(path.iter_certs(include_root=True)))] if path else []
    described = _with(described, described.status, described.reason, moment, chain)
    if not (result.get("intact") and result.get("valid")):
        return _with(described, "invalid", "the token's signature does not match its content (altered) / chữ ký "
                     "của dấu thời gian không hợp lệ (đã bị sửa)", moment, chain)
    problem = result.get("trust_problem_indic")
    if problem is not None:
        name = getattr(problem, "name", str(problem))
        reason = _REASONS.get(name, f"the TSA's certificate is not trusted ({name}) / chứng thư của máy chủ cấp "
                                    "dấu thời gian không được tin cậy")
        return _with(described, "indeterminate", reason, moment, chain)
    return _with(described, "valid", "the stamp is sound and its TSA trusted at "
                 f"{moment.isoformat(timespec='seconds')} / dấu thời gian hợp lệ", moment, chain)


def _with(info: TimestampInfo, status: Status, reason: str, moment: datetime,
          chain: list[str] | None = None) -> TimestampInfo:
    return TimestampInfo(**{**asdict(info), "status": status, "reason": reason, "checked_at": moment,
                            "chain": chain if chain is not None else info.chain})

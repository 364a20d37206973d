"""What Kho says about one digital signature: a typed report that survives a JSON round trip.

Why a model of our own and not pyHanko's or signxml's result objects: a report outlives the libraries
that made it. It is stored in the AIP (decision 0022) and read back decades later, by Kho or by an
auditor without Kho, so it holds plain values (text, times, DER bytes as base64) and names every verdict
with the three main statuses of ETSI EN 319 102-1 (``valid`` / ``invalid`` / ``indeterminate``), a
stable reason code and that reason in English and Vietnamese.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class SignatureStatus(StrEnum):
    """The main status of ETSI EN 319 102-1 (TOTAL-PASSED, TOTAL-FAILED, INDETERMINATE)."""

    VALID = "valid"
    INVALID = "invalid"  # integrity broken, a wrong signature value, or a forbidden change after signing
    INDETERMINATE = "indeterminate"  # neither shown: untrusted root, revoked, no revocation data…


class SignatureKind(StrEnum):
    PADES = "pades"  # a signature inside a PDF (PAdES or the older adbe.pkcs7.detached)
    CMS = "cms"  # a detached CMS / CAdES signature file beside the signed file (.p7s, .sig)
    XMLDSIG = "xmldsig"  # an XML signature (XMLDSig, XAdES) enveloped in the document


class Reason(StrEnum):
    """Why a signature got its status. Codes are stable: they are stored, compared and translated."""

    OK = "ok"
    DIGEST_MISMATCH = "digest_mismatch"
    SIGNATURE_MISMATCH = "signature_mismatch"
    MODIFIED_AFTER_SIGNING = "modified_after_signing"
    PARTIAL_COVERAGE = "partial_coverage"
    UNTRUSTED = "untrusted"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    NO_REVOCATION_DATA = "no_revocation_data"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    KEY_USAGE = "key_usage"
    CHAIN_PROBLEM = "chain_problem"
    TIMESTAMP_PROBLEM = "timestamp_problem"
    NO_SIGNER_CERTIFICATE = "no_signer_certificate"
    SIGNED_DATA_MISSING = "signed_data_missing"
    ENCRYPTED = "encrypted"
    MALFORMED = "malformed"
    UNSUPPORTED_FORM = "unsupported_form"
    TOO_MANY_SIGNATURES = "too_many_signatures"
    VALIDATION_ERROR = "validation_error"


# reason code: (English, Vietnamese). Written for an archivist, not a cryptographer.
REASON_TEXT: dict[Reason, tuple[str, str]] = {
    Reason.OK: (
        "the signature is intact and the signer's certificate chains to a trust anchor of the archive",
        "chữ ký nguyên vẹn và chứng thư số của người ký thuộc chuỗi tin cậy của cơ quan lưu trữ",
    ),
    Reason.DIGEST_MISMATCH: (
        "the signed bytes were changed after signing",
        "nội dung đã bị thay đổi sau khi ký",
    ),
    Reason.SIGNATURE_MISMATCH: (
        "the signature value does not match the signer's certificate",
        "giá trị chữ ký không khớp với chứng thư số của người ký",
    ),
    Reason.MODIFIED_AFTER_SIGNING: (
        "the document was modified after signing in a way the signature does not allow",
        "tài liệu đã bị sửa đổi sau khi ký theo cách mà chữ ký không cho phép",
    ),
    Reason.PARTIAL_COVERAGE: (
        "the signature does not cover the whole document revision it signs",
        "chữ ký không bao trùm toàn bộ phiên bản tài liệu được ký",
    ),
    Reason.UNTRUSTED: (
        "the signer's certificate does not chain to a trust anchor of the archive",
        "chứng thư số của người ký không thuộc chuỗi tin cậy của cơ quan lưu trữ",
    ),
    Reason.REVOKED: (
        "the signer's certificate, or a certificate above it, was revoked",
        "chứng thư số của người ký, hoặc của tổ chức cấp phía trên, đã bị thu hồi",
    ),
    Reason.EXPIRED: (
        "the signer's certificate had expired at the validation time",
        "chứng thư số của người ký đã hết hạn tại thời điểm kiểm tra",
    ),
    Reason.NOT_YET_VALID: (
        "the signer's certificate was not yet valid at the validation time",
        "chứng thư số của người ký chưa có hiệu lực tại thời điểm kiểm tra",
    ),
    Reason.NO_REVOCATION_DATA: (
        "no usable revocation information (OCSP response or CRL) was found for the certificate chain",
        "không có thông tin thu hồi (phản hồi OCSP hoặc CRL) dùng được cho chuỗi chứng thư số",
    ),
    Reason.UNSUPPORTED_ALGORITHM: (
        "the signature uses an algorithm that is unsupported or no longer accepted",
        "chữ ký dùng thuật toán không được hỗ trợ hoặc không còn được chấp nhận",
    ),
    Reason.KEY_USAGE: (
        "the signer's certificate is not allowed to make this kind of signature (key usage)",
        "chứng thư số của người ký không được phép dùng để ký loại này (mục đích sử dụng khóa)",
    ),
    Reason.CHAIN_PROBLEM: (
        "the signer's certificate chain could not be validated",
        "không xác thực được chuỗi chứng thư số của người ký",
    ),
    Reason.TIMESTAMP_PROBLEM: (
        "the signature's timestamp is damaged or not trusted",
        "dấu thời gian của chữ ký bị hỏng hoặc không được tin cậy",
    ),
    Reason.NO_SIGNER_CERTIFICATE: (
        "the signer's certificate is not in the signature",
        "chữ ký không kèm chứng thư số của người ký",
    ),
    Reason.SIGNED_DATA_MISSING: (
        "the file signed by this detached signature was not found",
        "không tìm thấy tệp được ký của chữ ký rời này",
    ),
    Reason.ENCRYPTED: (
        "the PDF is encrypted; its signatures cannot be checked without the password",
        "tệp PDF được mã hóa; không thể kiểm tra chữ ký khi không có mật khẩu",
    ),
    Reason.MALFORMED: (
        "the signature could not be read: it is damaged or not a signature",
        "không đọc được chữ ký: chữ ký bị hỏng hoặc không đúng định dạng",
    ),
    Reason.UNSUPPORTED_FORM: (
        "this form of signature is not checked by Kho",
        "Kho chưa kiểm tra được dạng chữ ký này",
    ),
    Reason.TOO_MANY_SIGNATURES: (
        "the file has more signatures than Kho checks; the rest were not checked",
        "tệp có nhiều chữ ký hơn giới hạn kiểm tra; các chữ ký còn lại chưa được kiểm tra",
    ),
    Reason.VALIDATION_ERROR: (
        "the validation could not be completed",
        "không thể hoàn tất việc kiểm tra chữ ký",
    ),
}


class ModificationLevel(StrEnum):
    """What changed in a PDF after the signed revision (pyHanko's difference analysis)."""

    NONE = "none"
    LTA_UPDATES = "lta_updates"  # only validation data / document timestamps added (signature maintenance)
    FORM_FILLING = "form_filling"  # further signatures, form field values
    ANNOTATIONS = "annotations"  # comments, highlights and the like
    OTHER = "other"  # anything else, e.g. page content: not what was signed


class Coverage(StrEnum):
    """How much of a PDF the signature's /ByteRange covers."""

    ENTIRE_FILE = "entire_file"
    ENTIRE_REVISION = "entire_revision"  # later incremental updates exist: see ``modification``
    CONTIGUOUS_BLOCK = "contiguous_block"  # from the start, but not a whole revision
    UNCLEAR = "unclear"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _untime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class CertificateInfo:
    """One certificate of a chain, identified by its SHA-256 (the DER itself is in :class:`Evidence`)."""

    sha256: str
    subject: str
    issuer: str
    serial: str  # hexadecimal
    not_before: datetime | None = None
    not_after: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "subject": self.subject, "issuer": self.issuer, "serial": self.serial,
                "not_before": _time(self.not_before), "not_after": _time(self.not_after)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CertificateInfo:
        return cls(sha256=data["sha256"], subject=data["subject"], issuer=data["issuer"], serial=data["serial"],
                   not_before=_untime(data.get("not_before")), not_after=_untime(data.get("not_after")))


@dataclass(frozen=True)
class Signer:
    """Who signed, as the certificate says (not proven unless the status is ``valid``)."""

    common_name: str | None
    organisation: str | None
    serial: str  # the certificate's serial number, hexadecimal
    subject: str  # the whole subject, RFC 4514
    issuer: str
    certificate_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"common_name": self.common_name, "organisation": self.organisation, "serial": self.serial,
                "subject": self.subject, "issuer": self.issuer, "certificate_sha256": self.certificate_sha256}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signer:
        return cls(common_name=data.get("common_name"), organisation=data.get("organisation"),
                   serial=data["serial"], subject=data["subject"], issuer=data["issuer"],
                   certificate_sha256=data["certificate_sha256"])


@dataclass(frozen=True)
class Evidence:
    """The validation material gathered (embedded in the file, or fetched when allowed), as DER bytes.

    Stored with the AIP, it lets a later check re-validate without the network (issue #18, B)."""

    certificates: tuple[bytes, ...] = ()
    ocsp_responses: tuple[bytes, ...] = ()
    crls: tuple[bytes, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"certificates": [_b64(c) for c in self.certificates],
                "ocsp_responses": [_b64(o) for o in self.ocsp_responses],
                "crls": [_b64(c) for c in self.crls]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        return cls(certificates=tuple(_unb64(c) for c in data.get("certificates", ())),
                   ocsp_responses=tuple(_unb64(o) for o in data.get("ocsp_responses", ())),
                   crls=tuple(_unb64(c) for c in data.get("crls", ())))

    @staticmethod
    def digest(der: bytes) -> str:
        return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class SignatureReport:
    """The verdict on one signature, with what it rests on.

    ``path`` is the signed file (for a detached CMS signature, the data file; ``signature_path`` is the
    ``.p7s``/``.sig``). ``index`` counts the signatures of one file from 0, in signing order for a PDF.
    ``signing_time`` is what the signer claims; ``timestamp_time`` is set only from a signature timestamp
    token whose own signature verified. ``detail`` is the library's technical message, in English."""

    kind: SignatureKind
    path: str
    index: int
    status: SignatureStatus
    reason: Reason
    detail: str = ""
    signature_path: str | None = None
    field_name: str | None = None
    signer: Signer | None = None
    signing_time: datetime | None = None
    timestamp_time: datetime | None = None
    validation_time: datetime | None = None
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    chain: tuple[CertificateInfo, ...] = ()
    modification: ModificationLevel | None = None
    coverage: Coverage | None = None
    evidence: Evidence = field(default_factory=Evidence)

    @property
    def reason_en(self) -> str:
        return REASON_TEXT[self.reason][0]

    @property
    def reason_vi(self) -> str:
        return REASON_TEXT[self.reason][1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the reason texts are included so a reader without Kho understands it."""
        return {
            "kind": self.kind.value, "path": self.path, "index": self.index, "status": self.status.value,
            "reason": self.reason.value, "reason_en": self.reason_en, "reason_vi": self.reason_vi,
            "detail": self.detail, "signature_path": self.signature_path, "field_name": self.field_name,
            "signer": self.signer.to_dict() if self.signer else None,
            "signing_time": _time(self.signing_time), "timestamp_time": _time(self.timestamp_time),
            "validation_time": _time(self.validation_time),
            "digest_algorithm": self.digest_algorithm, "signature_algorithm": self.signature_algorithm,
            "chain": [c.to_dict() for c in self.chain],
            "modification": self.modification.value if self.modification else None,
            "coverage": self.coverage.value if self.coverage else None,
            "evidence": self.evidence.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignatureReport:
        """The inverse of :meth:`to_dict` (the reason texts are derived from the code, not read back)."""
        return cls(
            kind=SignatureKind(data["kind"]), path=data["path"], index=int(data["index"]),
            status=SignatureStatus(data["status"]), reason=Reason(data["reason"]), detail=data.get("detail", ""),
            signature_path=data.get("signature_path"), field_name=data.get("field_name"),
            signer=Signer.from_dict(data["signer"]) if data.get("signer") else None,
            signing_time=_untime(data.get("signing_time")), timestamp_time=_untime(data.get("timestamp_time")),
            validation_time=_untime(data.get("validation_time")),
            digest_algorithm=data.get("digest_algorithm"), signature_algorithm=data.get("signature_algorithm"),
            chain=tuple(CertificateInfo.from_dict(c) for c in data.get("chain", ())),
            modification=ModificationLevel(data["modification"]) if data.get("modification") else None,
            coverage=Coverage(data["coverage"]) if data.get("coverage") else None,
            evidence=Evidence.from_dict(data.get("evidence") or {}),
        )

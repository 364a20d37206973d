"""format_registry.signatures on a PKI of its own: real pyHanko and signxml, signed and validated here.

The session fixture builds, with ``cryptography``, a Vietnamese-named PKI (root and intermediate CA, a
signer, a revoked signer with the CRL that says so, an expired signer, and a second root the archive does
not trust, with its own signer), then signs PDFs with pyHanko, detached CMS files and enveloped XML with
signxml. Revocation data travels inside the signed files (PDF DSS or the signature's revocation attribute,
the CMS ``crls`` field, ``ds:X509CRL``), so every validation runs with ``allow_fetch=False`` and a guard
that fails the test if anything opens a network connection. Each case asserts the exact status and reason.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from format_registry.signatures import (
    Coverage,
    ModificationLevel,
    Reason,
    SignatureKind,
    SignatureReport,
    SignatureStatus,
    find_signatures,
    load_trust_anchors,
    validate_file,
)
from tests.signed_samples import NOW, Samples, signed_samples


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Samples]:
    with signed_samples(tmp_path_factory.mktemp("signatures")) as built:
        yield built


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every way out of the machine raises and is recorded: a validation with allow_fetch=False must not try."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network access attempted during signature validation")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts
    assert attempts == [], "validation with allow_fetch=False touched the network"


def _only(reports: list[SignatureReport]) -> SignatureReport:
    assert len(reports) == 1, [r.to_dict() for r in reports]
    return reports[0]


def _verdicts(reports: list[SignatureReport]) -> list[tuple[str, str]]:
    return [(r.status.value, r.reason.value) for r in reports]


# ---------------------------------------------------------------- PDF


def test_one_pades_signature_is_valid(samples: Samples, no_network: list[object]) -> None:
    report = _only(validate_file(samples.files["one.pdf"], samples.pki.anchors))
    assert (report.kind, report.status, report.reason) == (SignatureKind.PADES, SignatureStatus.VALID, Reason.OK)
    assert report.signer is not None and report.signer.common_name == "Nguyễn Văn An"
    assert report.signer.organisation == "Sở Tài nguyên và Môi trường"
    assert report.signer.serial == format(samples.pki.signer.cert.serial_number, "x")
    assert report.field_name == "NguoiKy"
    assert report.signing_time is not None and abs(report.signing_time - samples.made_at) < timedelta(minutes=10)
    assert [c.sha256 for c in report.chain] == [
        samples.pki.signer.cert.fingerprint(hashes.SHA256()).hex(),
        samples.pki.intermediate.cert.fingerprint(hashes.SHA256()).hex(),
        samples.pki.root.cert.fingerprint(hashes.SHA256()).hex()]
    # PAdES puts the revocation data in the DSS, an incremental update of signature maintenance only
    assert report.coverage is Coverage.ENTIRE_REVISION
    assert report.modification is ModificationLevel.LTA_UPDATES
    assert set(samples.pki.crls) <= set(report.evidence.crls)
    assert samples.pki.signer.der in report.evidence.certificates


def test_revocation_data_in_the_signature_attribute(samples: Samples, no_network: list[object]) -> None:
    report = _only(validate_file(samples.files["adobe.pdf"], samples.pki.anchors))
    assert (report.status, report.reason) == (SignatureStatus.VALID, Reason.OK)
    assert (report.coverage, report.modification) == (Coverage.ENTIRE_FILE, ModificationLevel.NONE)
    assert set(samples.pki.crls) <= set(report.evidence.crls)


def test_timestamped_signature(samples: Samples, no_network: list[object]) -> None:
    report = _only(validate_file(samples.files["timestamped.pdf"], samples.pki.anchors))
    assert (report.status, report.reason) == (SignatureStatus.VALID, Reason.OK), report.detail
    assert report.timestamp_time is not None and abs(report.timestamp_time - samples.made_at) < timedelta(minutes=10)


def test_two_signatures_with_an_incremental_update(samples: Samples, no_network: list[object]) -> None:
    reports = validate_file(samples.files["two.pdf"], samples.pki.anchors)
    assert _verdicts(reports) == [("valid", "ok"), ("valid", "ok")]
    assert [r.signer.common_name for r in reports if r.signer] == [
        "Nguyễn Văn An", "Sở Tài nguyên và Môi trường tỉnh Hà Nam"]
    assert [r.index for r in reports] == [0, 1]
    assert reports[0].modification is ModificationLevel.FORM_FILLING  # the second signature was added after it


def test_page_content_changed_after_signing(samples: Samples, no_network: list[object]) -> None:
    report = _only(validate_file(samples.files["changed-page.pdf"], samples.pki.anchors))
    assert (report.status, report.reason) == (SignatureStatus.INVALID, Reason.MODIFIED_AFTER_SIGNING)
    assert report.modification is ModificationLevel.OTHER
    assert report.reason_vi == "tài liệu đã bị sửa đổi sau khi ký theo cách mà chữ ký không cho phép"


def test_byte_flipped_inside_the_signed_range(samples: Samples, no_network: list[object]) -> None:
    report = _only(validate_file(samples.files["flipped.pdf"], samples.pki.anchors))
    assert (report.status, report.reason) == (SignatureStatus.INVALID, Reason.DIGEST_MISMATCH)
    assert report.reason_en == "the signed bytes were changed after signing"
    assert report.reason_vi == "nội dung đã bị thay đổi sau khi ký"


def test_untrusted_when_the_archive_trusts_another_root(samples: Samples, no_network: list[object],
                                                        tmp_path: Path) -> None:
    (tmp_path / "other.der").write_bytes(samples.pki.other_root.der)
    report = _only(validate_file(samples.files["one.pdf"], load_trust_anchors(tmp_path)))
    assert (report.status, report.reason) == (SignatureStatus.INDETERMINATE, Reason.UNTRUSTED)
    assert report.reason_vi == "chứng thư số của người ký không thuộc chuỗi tin cậy của cơ quan lưu trữ"


def test_encrypted_pdfs(samples: Samples, no_network: list[object]) -> None:
    """A permission-restricted PDF (no user password) is checked; one that needs a password cannot be."""
    assert _verdicts(validate_file(samples.files["restricted.pdf"], samples.pki.anchors)) == [("valid", "ok")]
    assert _verdicts(validate_file(samples.files["locked.pdf"], samples.pki.anchors)) == [
        ("indeterminate", "encrypted")]


def test_unsigned_and_damaged_pdfs(samples: Samples, no_network: list[object]) -> None:
    assert find_signatures(samples.files["unsigned.pdf"]) == []
    assert validate_file(samples.files["unsigned.pdf"], samples.pki.anchors) == []
    report = _only(validate_file(samples.files["truncated.pdf"], samples.pki.anchors))
    assert report.status in (SignatureStatus.INVALID, SignatureStatus.INDETERMINATE)
    assert report.reason in (Reason.MALFORMED, Reason.VALIDATION_ERROR)


# ---------------------------------------------------------------- detached CMS


@pytest.mark.parametrize(("name", "status", "reason"), [
    ("record.txt", "valid", "ok"),
    ("pem.txt", "valid", "ok"),
    ("cades.txt", "valid", "ok"),
    ("changed.txt", "invalid", "digest_mismatch"),
    ("revoked.txt", "indeterminate", "revoked"),
    ("expired.txt", "indeterminate", "expired"),
    ("norevinfo.txt", "indeterminate", "no_revocation_data"),
    ("stranger.txt", "indeterminate", "untrusted"),
    ("orphan.txt.p7s", "indeterminate", "signed_data_missing"),
    ("garbage.txt", "invalid", "malformed"),
])
def test_detached_cms(samples: Samples, no_network: list[object], name: str, status: str, reason: str) -> None:
    report = _only(validate_file(samples.files[name], samples.pki.anchors))
    assert report.kind is SignatureKind.CMS
    assert (report.status.value, report.reason.value) == (status, reason), report.detail
    assert report.signature_path is not None and report.signature_path.endswith((".p7s", ".sig"))


def test_the_signature_file_itself_reports_nothing(samples: Samples) -> None:
    """x.txt.p7s is reported with x.txt, once: the pipeline sees both files."""
    assert find_signatures(samples.files["record.txt.p7s"]) == []
    assert find_signatures(samples.files["record.txt"]) == [SignatureKind.CMS]
    assert find_signatures(samples.files["orphan.txt.p7s"]) == [SignatureKind.CMS]


def test_revoked_report_names_the_signer(samples: Samples, no_network: list[object]) -> None:
    report = _only(validate_file(samples.files["revoked.txt"], samples.pki.anchors))
    assert report.signer is not None and report.signer.common_name == "Trần Thị Bình"
    assert report.reason_vi.startswith("chứng thư số của người ký")


# ---------------------------------------------------------------- XML


@pytest.mark.parametrize(("name", "status", "reason"), [
    ("valid.xml", "valid", "ok"),
    ("tampered.xml", "invalid", "digest_mismatch"),
    ("untrusted.xml", "indeterminate", "untrusted"),
    ("xades.xml", "valid", "ok"),
    ("revoked.xml", "indeterminate", "revoked"),
    ("expired.xml", "indeterminate", "expired"),
    ("norevinfo.xml", "indeterminate", "no_revocation_data"),
    ("entities.xml", "indeterminate", "no_signer_certificate"),  # parsed, not expanded, nothing to check
    ("broken.xml", "invalid", "malformed"),
])
def test_xml_signatures(samples: Samples, no_network: list[object], name: str, status: str, reason: str) -> None:
    report = _only(validate_file(samples.files[name], samples.pki.anchors))
    assert report.kind is SignatureKind.XMLDSIG
    assert (report.status.value, report.reason.value) == (status, reason), report.detail


def test_valid_xml_report(samples: Samples, no_network: list[object]) -> None:
    report = _only(validate_file(samples.files["valid.xml"], samples.pki.anchors))
    assert report.signer is not None and report.signer.common_name == "Nguyễn Văn An"
    assert len(report.chain) == 3 and "Root CA Chuyên dùng Chính phủ (thử nghiệm)" in report.chain[-1].subject
    assert set(samples.pki.crls) <= set(report.evidence.crls)
    assert report.signature_algorithm == "rsa-sha256"


def test_xades_signing_time(samples: Samples, no_network: list[object]) -> None:
    report = _only(validate_file(samples.files["xades.xml"], samples.pki.anchors))
    assert report.signing_time is not None and abs(report.signing_time - samples.made_at) < timedelta(minutes=10)


def test_unsigned_xml(samples: Samples) -> None:
    assert find_signatures(samples.files["plain.xml"]) == []


# ---------------------------------------------------------------- model, anchors


def test_reports_round_trip_through_json(samples: Samples) -> None:
    reports = []
    for name in ("two.pdf", "record.txt", "valid.xml", "revoked.txt", "garbage.txt"):
        reports.extend(validate_file(samples.files[name], samples.pki.anchors))
    for report in reports:
        text = json.dumps(report.to_dict(), ensure_ascii=False)
        again = SignatureReport.from_dict(json.loads(text))
        assert again == report
        assert json.loads(text)["reason_vi"] == report.reason_vi


def test_trust_anchor_folder(samples: Samples, tmp_path: Path) -> None:
    anchors = samples.pki.anchors
    assert len(anchors.certificates) == 1
    assert [name for name, _why in anchors.skipped] == ["README.txt"]
    with pytest.raises(FileNotFoundError):
        load_trust_anchors(tmp_path / "missing")
    empty = load_trust_anchors(tmp_path)  # trusts nothing (not the system's TLS roots)
    report = _only(validate_file(samples.files["record.txt"], empty))
    assert (report.status, report.reason) == (SignatureStatus.INDETERMINATE, Reason.UNTRUSTED)


def test_validation_at_a_given_time(samples: Samples, no_network: list[object]) -> None:
    """The expired signer's certificate was valid two years ago (and the CRL then did not exist yet)."""
    report = _only(validate_file(samples.files["record.txt"], samples.pki.anchors, at=NOW + timedelta(minutes=5)))
    assert (report.status, report.reason) == (SignatureStatus.VALID, Reason.OK)
    assert report.validation_time == NOW + timedelta(minutes=5)


# ---------------------------------------------------------------- revocation fetched, work bounded


def test_revocation_is_fetched_only_when_allowed(samples: Samples, monkeypatch: pytest.MonkeyPatch) -> None:
    """The signer's certificate names a CRL on 127.0.0.1: without allow_fetch nothing connects and the
    verdict says revocation data is missing; with it the CRL is fetched and returned as evidence."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def recording_connect(self: socket.socket, address: object) -> None:
        attempts.append(address)
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    offline = _only(validate_file(samples.files["online.txt"], samples.pki.anchors))
    assert (offline.status, offline.reason) == (SignatureStatus.INDETERMINATE, Reason.NO_REVOCATION_DATA)
    assert attempts == [] and samples.crl_requests == []

    online = _only(validate_file(samples.files["online.txt"], samples.pki.anchors, allow_fetch=True))
    assert (online.status, online.reason) == (SignatureStatus.VALID, Reason.OK), online.detail
    assert samples.crl_requests == ["/intermediate.crl"]
    assert attempts, "the guard saw the connection: it would have seen one in the offline run too"
    assert samples.pki.crls[1] in online.evidence.crls


def test_signatures_per_file_are_capped(samples: Samples, no_network: list[object]) -> None:
    from format_registry.signatures.pdf import validate_pdf

    reports = validate_pdf(samples.files["two.pdf"], samples.pki.anchors, max_signatures=1)
    assert _verdicts(reports) == [("valid", "ok"), ("indeterminate", "too_many_signatures")]


def test_a_naive_validation_time_is_a_caller_error(samples: Samples) -> None:
    with pytest.raises(ValueError, match="timezone"):
        validate_file(samples.files["record.txt"], samples.pki.anchors, at=datetime(2026, 1, 1))


@pytest.mark.parametrize("name", ["one.pdf", "record.txt.p7s", "valid.xml"])
def test_damaged_files_give_a_verdict_not_an_exception(samples: Samples, no_network: list[object], tmp_path: Path,
                                                       name: str) -> None:
    """Bytes overwritten across the file (deterministically): every signature found still gets a report."""
    original = samples.files[name].read_bytes()
    for step in range(12):
        at = (len(original) * (2 * step + 1)) // 24
        damaged = original[:at] + bytes(b ^ 0x5A for b in original[at:at + 16]) + original[at + 16:]
        if name.endswith(".p7s"):
            (tmp_path / "record.txt").write_bytes(samples.files["record.txt"].read_bytes())
            (tmp_path / "record.txt.p7s").write_bytes(damaged)
            target = tmp_path / "record.txt"
        else:
            target = tmp_path / name
            target.write_bytes(damaged)
        for report in validate_file(target, samples.pki.anchors):
            assert report.status in SignatureStatus
            assert report.reason_en and report.reason_vi
            SignatureReport.from_dict(json.loads(json.dumps(report.to_dict())))

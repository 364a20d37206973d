"""Malformed and unusual bags: each gets a clear error (CLI exit 1, reason on stderr) or, for the
unusual-but-valid ones, a clean pass."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path

import pytest

from packages.sip import path_is_safe, validate_sip
from tests.conftest import FIXTURE_SIPS, run_kho
from tests.helpers import rewrite_manifest


def codes(bag: Path, profile: str = "bagit") -> list[str]:
    return [p.code for p in validate_sip(bag, profile=profile).problems]


def test_valid_fixture_bags_pass() -> None:
    for name in ("hoso-2024-ubnd-01", "hoso-2023-sotnmt-02"):
        report = validate_sip(FIXTURE_SIPS / name, profile="vn")
        assert report.valid, report.problems
        assert report.payload_hash and len(report.files) >= 3
        assert all(len(f.digests["sha256"]) == 64 for f in report.files)


def test_cli_valid_exit_0_and_invalid_exit_1_with_reasons() -> None:
    ok = run_kho("sip", "validate", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--profile", "vn")
    assert ok.returncode == 0, ok.stderr
    bad = run_kho("sip", "validate", str(FIXTURE_SIPS / "bad-checksum"))
    assert bad.returncode == 1
    assert "checksum-mismatch" in bad.stderr and "Ghi chú.txt" in bad.stderr
    assert "sai giá trị băm" in bad.stderr  # the Vietnamese half of the message
    usage = run_kho("sip", "validate")
    assert usage.returncode == 2


def test_path_traversal_in_manifest_is_refused() -> None:
    assert codes(FIXTURE_SIPS / "bad-path-traversal") == ["unsafe-path"]


@pytest.mark.parametrize("path,safe", [
    ("data/a.txt", True), ("data/ảnh/Lễ.jpg", True), ("data/../x", False), ("/etc/passwd", False),
    ("data//x", False), ("C:/x", False), ("data\\x", False), ("~/x", False), ("data/./x", False),
])
def test_path_is_safe(path: str, safe: bool) -> None:
    assert path_is_safe(path) is safe


def test_missing_bagit_txt(sample_sip: Path) -> None:
    (sample_sip / "bagit.txt").unlink()
    assert codes(sample_sip) == ["not-a-bag"]


def test_bad_manifest_line(sample_sip: Path) -> None:
    manifest = sample_sip / "manifest-sha256.txt"
    manifest.write_text(manifest.read_text(encoding="utf-8") + "not-a-checksum data/x.txt\n", encoding="utf-8")
    assert "manifest-line" in codes(sample_sip)


def test_truncated_checksum_is_a_bad_line(sample_sip: Path) -> None:
    manifest = sample_sip / "manifest-sha256.txt"
    lines = manifest.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0][:20] + lines[0][64:]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert "manifest-line" in codes(sample_sip)


def test_checksum_mismatch_after_payload_change(sample_sip: Path) -> None:
    target = sample_sip / "data" / "Ghi chú.txt"
    target.write_bytes(target.read_bytes().replace(b"a", b"b", 1))
    assert "checksum-mismatch" in codes(sample_sip)


def test_missing_payload_file(sample_sip: Path) -> None:
    (sample_sip / "data" / "Danh mục.xml").unlink()
    found = codes(sample_sip)
    assert "file-missing" in found


def test_extra_payload_file(sample_sip: Path) -> None:
    (sample_sip / "data" / "thêm.txt").write_text("không có trong manifest", encoding="utf-8")
    assert "file-unexpected" in codes(sample_sip)


def test_undecodable_bag_info(sample_sip: Path) -> None:
    info = sample_sip / "bag-info.txt"
    info.write_bytes(info.read_bytes() + b"Ghi-Chu: H\xf4 s\xf5 \xff\xfe\n")  # Latin-1 bytes, not UTF-8
    found = codes(sample_sip)
    assert found and found[0] in {"bag-info-encoding", "not-a-bag"}


def test_zero_byte_file_is_accepted_with_a_warning(sample_sip: Path) -> None:
    (sample_sip / "data" / "rỗng.txt").write_bytes(b"")
    rewrite_manifest(sample_sip)
    report = validate_sip(sample_sip)
    assert report.valid, report.problems
    assert [w.code for w in report.warnings] == ["zero-byte"]


def test_hundred_level_deep_folders(sample_sip: Path) -> None:
    deep = sample_sip / "data" / Path(*["d"] * 100)
    deep.mkdir(parents=True)
    (deep / "sâu.txt").write_text("tệp ở độ sâu 100", encoding="utf-8")
    rewrite_manifest(sample_sip)
    report = validate_sip(sample_sip)
    assert report.valid, report.problems
    assert any(f.path.count("/") == 101 for f in report.files)


def test_vietnamese_names_in_nfc_pass() -> None:
    report = validate_sip(FIXTURE_SIPS / "hoso-2024-ubnd-01")
    names = [f.path for f in report.files]
    assert "data/ảnh/Lễ khánh thành.jpg" in names
    assert all(unicodedata.is_normalized("NFC", n) for n in names)


def test_nfd_file_name_is_reported_clearly(sample_sip: Path) -> None:
    source = sample_sip / "data" / "Ghi chú.txt"
    source.rename(source.with_name(unicodedata.normalize("NFD", "Ghi chú.txt")))
    report = validate_sip(sample_sip)
    assert not report.valid
    problem = report.problems[0]
    assert problem.code == "name-not-nfc"
    assert "NFC form: data/Ghi chú.txt" in problem.detail


def test_symlink_in_payload_is_refused(sample_sip: Path) -> None:
    os.symlink("/etc/passwd", sample_sip / "data" / "link.txt")
    assert "symlink" in codes(sample_sip)


def test_fifo_in_payload_is_refused(sample_sip: Path) -> None:
    os.mkfifo(sample_sip / "data" / "pipe")
    assert "special-file" in codes(sample_sip)


def test_payload_oxum_mismatch(sample_sip: Path) -> None:
    info = sample_sip / "bag-info.txt"
    text = info.read_text(encoding="utf-8")
    assert "Payload-Oxum" in text
    lines = [("Payload-Oxum: 1.1" if line.startswith("Payload-Oxum") else line) for line in text.splitlines()]
    info.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rewrite_tag = (sample_sip / "tagmanifest-sha256.txt")
    rewrite_tag.write_text("".join(
        f"{hashlib.sha256((sample_sip / n).read_bytes()).hexdigest()}  {n}\n"
        for n in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")), encoding="utf-8")
    assert "oxum" in codes(sample_sip)


def test_not_a_directory(tmp_path: Path) -> None:
    file = tmp_path / "x.zip"
    file.write_bytes(b"PK")
    assert codes(file) == ["not-a-directory"]


def test_vn_profile_names_field_rule_and_value(sample_sip: Path) -> None:
    info = sample_sip / "bag-info.txt"
    text = info.read_text(encoding="utf-8").replace("maintenance: 01", "maintenance: 8")
    text = text.replace("startDate: 02/01/2024", "startDate: 2024-01-02")
    info.write_text(text, encoding="utf-8")
    (sample_sip / "tagmanifest-sha256.txt").write_text("".join(
        f"{hashlib.sha256((sample_sip / n).read_bytes()).hexdigest()}  {n}\n"
        for n in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")), encoding="utf-8")
    assert validate_sip(sample_sip, profile="bagit").valid
    result = run_kho("sip", "validate", "--profile", "vn", str(sample_sip))
    assert result.returncode == 1
    assert 'maintenance: "8" không thuộc danh mục 01–07 / not in code list 01–07' in result.stderr
    assert "startDate" in result.stderr and "DD/MM/YYYY" in result.stderr

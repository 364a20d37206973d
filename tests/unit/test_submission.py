"""packages/submission.py: a BagIt SIP and an E-ARK SIP reported in one shape, so that ingest validates both
along one path."""

from __future__ import annotations

import shutil
from pathlib import Path

from packages.sip import SipReport
from packages.submission import BAGIT, EARK, read_submission
from tests.conftest import FIXTURE_SIPS
from tests.helpers import build_package, with_bag_info


def test_a_bagit_dossier_and_an_eark_package_read_into_the_same_shape(tmp_path: Path) -> None:
    bagit = read_submission(FIXTURE_SIPS / "hoso-2023-sotnmt-02", "bagit", keep_digests=("sha256", "sha512"))
    eark = read_submission(build_package(tmp_path), "eark", keep_digests=("sha256", "sha512"), package_name="p")
    assert (bagit.kind, eark.kind) == (BAGIT, EARK)
    for report in (bagit, eark):
        assert report.valid, report.reason()
        assert report.files and all(set(f.digests) == {"sha256", "sha512"} for f in report.files)
        assert report.payload_hash and report.verified_files >= len(report.files)
        assert report.description.get("title") and report.fixity_detail
        assert report.dossier_access.get("mode")
    assert all(f.path.startswith("data/") for f in bagit.files)
    # only the records are the payload of an E-ARK package: not its METS, metadata, schemas or documentation
    assert sorted(f.path for f in eark.files) == [
        "representations/rep1/data/Công văn số 01.pdf", "representations/rep1/data/ảnh.jpg"]
    assert eark.description["Source-Organization"] == "UBND tỉnh Thử Nghiệm"
    assert eark.dossier_access["mode"] == "restricted", "an E-ARK SIP states no TT 05 access rule: closed"


def test_a_problem_found_outside_the_reader_is_told_in_the_reader_s_vocabulary(tmp_path: Path) -> None:
    bagit = read_submission(FIXTURE_SIPS / "hoso-2023-sotnmt-02", "bagit")
    bagit.refuse("duplicate", "AIP 123")
    assert not bagit.valid and isinstance(bagit.source, SipReport)
    assert bagit.reason().startswith("duplicate") and "AIP 123" in bagit.reason()
    eark = read_submission(build_package(tmp_path), "eark")
    eark.refuse("duplicate", "AIP 123", requirement="KHO-DUPLICATE")
    assert not eark.valid and eark.problem_lines()[0].startswith("KHO-DUPLICATE:")


def test_what_intake_could_not_copy_or_unpack_is_listed_first(tmp_path: Path) -> None:
    sip = shutil.copytree(FIXTURE_SIPS / "hoso-2023-sotnmt-02", tmp_path / "sip")
    with_bag_info(sip, **{"Bagging-Date": "2024-01-01"})
    bagit = read_submission(sip, "bagit", found_before=[("unreadable", "Permission denied", "data/x.pdf")])
    assert not bagit.valid and bagit.reason().startswith("unreadable")
    package = build_package(tmp_path)
    eark = read_submission(package, "eark", found_before=[("zip-unreadable", "entry a.pdf: bad CRC", None)])
    assert not eark.valid and eark.problem_lines()[0].startswith("KHO-ZIP:")
    assert eark.payload_hash is None, "an invalid package has no payload digest to compare with the catalog"


def test_an_eark_package_sent_twice_is_refused_as_a_duplicate_not_a_crash(kho_home: Path, tmp_path: Path) -> None:
    """Found while unifying the two paths: the E-ARK duplicate problem had no message, so its report raised
    KeyError inside the validation step (neither stored nor rejected)."""
    from preservation.config import load_settings
    from preservation.pipeline import Context, ingest_path

    package = build_package(tmp_path)
    with Context(load_settings()) as ctx:
        first = ingest_path(ctx, package)
        second = ingest_path(ctx, shutil.copytree(package, tmp_path / "again" / package.name))
    assert first.status == "stored", first
    assert second.status == "rejected" and second.reason.startswith("KHO-DUPLICATE"), second
    assert first.aip_id in second.reason and "đã được lưu trữ" in second.reason

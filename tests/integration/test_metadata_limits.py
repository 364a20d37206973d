"""Values kept in the catalog and in events are bounded; the whole value stays in the AIP. The tag files
Kho reads whole besides bag-info.txt (access-rules.csv, the TT 05 / TT 02 metadata) are bounded by the same
setting, KHO_SIP_MAX_TAG_FILE_BYTES, at and just over its value."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from packages import access, premis, tt05
from packages.sip import SipReport, validate_sip
from preservation.config import load_settings
from preservation.pipeline import MAX_TITLE
from tests.conftest import FIXTURE_SIPS, run_kho
from tests.helpers import PACKAGE_METS, build_package
from tests.stored import stored_aip

pytestmark = pytest.mark.timeout(300)


def test_a_huge_eark_label_does_not_become_the_catalog_title(kho_home: Path, tmp_path: Path) -> None:
    """The finding: a 9.4 MB LABEL became the catalog title, and `kho aip list` printed 9.4 MB."""
    label = "Hồ sơ " * 700_000  # 6.3 MB of UTF-8 (lxml refuses attribute values near 10 MB itself)
    package = build_package(tmp_path, {PACKAGE_METS: [('LABEL="Hồ sơ thử nghiệm"', f'LABEL="{label}"')]})
    result = json.loads(run_kho("ingest", str(package), "--json", check=True).stdout)
    listed = run_kho("aip", "list", "--json", check=True).stdout
    assert len(listed) < 10_000
    title = json.loads(listed)["title"]
    assert len(title) <= MAX_TITLE and title.startswith("Hồ sơ Hồ sơ") and "more characters" in title
    stored = stored_aip(kho_home / "storage", str(result["aip_id"]), kho_home / "head") / "metadata/other"
    kept = next(p for p in stored.rglob("METS.xml"))
    assert label.strip() in kept.read_text(encoding="utf-8"), "the whole value is kept in the AIP"


def test_event_texts_are_bounded_with_a_note() -> None:
    event = premis.new_event("validation", "failure", aip_id=None, detail="x", outcome_detail="e" * 10**6)
    assert len(event["outcome_detail"]) <= premis.MAX_EVENT_TEXT
    assert event["outcome_detail"].endswith("the full text is in the report of this step]")
    short = premis.new_event("validation", "success", aip_id=None, detail="x", outcome_detail="ok")
    assert short["outcome_detail"] == "ok"


# --------------------------------------------------------------------------- tag files read whole

LIMIT = 4000  # bigger than any other tag file of the fixtures used below


def _padded_bag(tmp_path: Path, fixture: str, relpath: str, filler: bytes, size: int) -> Path:
    """A copy of ``fixture`` whose ``relpath`` is padded with ``filler`` (which its parser ignores) to
    exactly ``size`` bytes, its tag manifest updated to match."""
    bag = shutil.copytree(FIXTURE_SIPS / fixture, tmp_path / fixture)
    target = bag / relpath
    data = target.read_bytes() if target.exists() else b"path,mode,embargo_until,basis\ndata/Ghi ch\xc3\xba.txt,03,,\n"
    assert len(data) + len(filler) <= size
    data += filler * ((size - len(data)) // len(filler))
    target.write_bytes(data + b" " * (size - len(data)))
    assert target.stat().st_size == size
    manifest = bag / "tagmanifest-sha256.txt"
    lines = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        name = line.split(None, 1)[1]
        lines.append(f"{hashlib.sha256((bag / name).read_bytes()).hexdigest()}  {name}\n")
    manifest.write_text("".join(lines), encoding="utf-8")
    return bag


def _validate(bag: Path, tmp_path: Path, limit: int) -> SipReport:
    """validate_sip with the limits of the settings, as ``kho ingest`` and ``kho sip validate`` call it."""
    settings = load_settings({"KHO_HOME": str(tmp_path / "home"), "KHO_SIP_MAX_TAG_FILE_BYTES": str(limit)})
    return validate_sip(bag, **settings.sip_limits())


TAG_FILES = [
    ("tt05-hoso-json", "metadata/hoso.json", b"\n"),
    ("tt05-hoso-xml", "metadata/EAD.xml", b"<!-- x -->\n"),
    ("tt05-hoso-xml", "metadata/EAD_doc/2.xml", b"<!-- x -->\n"),
    ("tt02-hoso", "metadata/EAD.xml", b"<!-- x -->\n"),
    ("tt02-hoso", "metadata/EAD_doc/3.xml", b"<!-- x -->\n"),
    ("hoso-2024-ubnd-01", "access-rules.csv", b"\n"),
]


@pytest.mark.parametrize(("fixture", "relpath", "filler"), TAG_FILES, ids=[f"{f}:{p}" for f, p, _ in TAG_FILES])
def test_metadata_tag_files_at_and_just_over_the_limit(tmp_path: Path, fixture: str, relpath: str,
                                                       filler: bytes) -> None:
    bag = _padded_bag(tmp_path, fixture, relpath, filler, LIMIT)
    at = _validate(bag, tmp_path, LIMIT)
    assert at.valid, at.problems
    assert at.tt05 is not None if relpath.startswith("metadata/") else at.file_access["data/Ghi chú.txt"]["mode"]

    over = _validate(bag, tmp_path, LIMIT - 1)
    assert [(p.code, p.path) for p in over.problems] == [("tag-file-too-large", relpath)]
    problem = over.problems[0]
    assert problem.message_en == "tag file larger than the limit" and problem.message_vi
    assert f"{LIMIT:,} bytes > limit max_tag_file_bytes={LIMIT - 1:,} (KHO_SIP_MAX_TAG_FILE_BYTES)" in problem.detail
    assert f"vượt giới hạn {LIMIT - 1:,} byte" in problem.detail
    assert over.tt05 is None and not over.file_access


def test_ead_doc_files_beyond_the_line_limit_are_not_read(tmp_path: Path) -> None:
    """Each EAD_doc file must be in a tag manifest of at most max_manifest_lines lines: more cannot be valid."""
    bag = shutil.copytree(FIXTURE_SIPS / "tt05-hoso-xml", tmp_path / "bag")
    payload = {p.relative_to(bag).as_posix() for p in (bag / "data").rglob("*") if p.is_file()}
    meta, findings = tt05.check_bag(bag, payload, max_lines=8)  # 3 EAD_doc files, a tag manifest of 7 lines
    assert meta is not None and len(meta.documents) == 3 and not findings.problems

    meta, findings = tt05.check_bag(bag, payload, max_lines=2)
    assert meta is not None and len(meta.documents) == 2  # the first two, in natural order
    limit = [p for p in findings.problems if p.path == "metadata/EAD_doc" and "max_manifest_lines=2" in p.detail]
    assert len(limit) == 1 and "3 files" in limit[0].detail and "vượt giới hạn" in limit[0].detail


def test_access_rules_file_is_never_followed_through_a_link(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("path,mode\ndata/a.txt,01\n", encoding="utf-8")
    (tmp_path / "bag").mkdir()
    (tmp_path / "bag" / access.ACCESS_RULES_FILE).symlink_to(outside)
    assert access.parse_access_rules(tmp_path / "bag", {"data/a.txt"}) == ({}, [])

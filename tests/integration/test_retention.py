"""Hand-over deadlines, disposal review (never automatic) and the Decision 458 report."""

from __future__ import annotations

import json
import signal
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from preservation.retention import deadlines, retention_expires
from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.helpers import with_bag_info
from tests.stored import object_dir, stored_file


def test_deadlines_follow_the_law() -> None:
    info = {"maintenance": "01", "endDate": "28/12/2020"}
    due = deadlines(info, datetime(2021, 3, 1, tzinfo=UTC))
    assert due.current_archive_due == date(2021, 12, 28)  # ≤ 1 year after the work ended
    assert due.historical_archive_due == date(2026, 3, 1)  # ≤ 5 years after entering the current archive
    assert due.d458_due == date(2023, 12, 28)  # Decision 458: within 3 years
    assert due.status(date(2025, 6, 1), None) == "due"
    assert due.status(date(2026, 3, 2), None) == "overdue"
    assert due.status(date(2026, 3, 2), date(2025, 1, 1)) == "transferred"
    assert deadlines({"maintenance": "04", "endDate": "01/01/2020"}, datetime.now(UTC)).status(
        date.today(), None) == "not-required"
    assert retention_expires({"maintenance": "06", "endDate": "15/06/2010"}) == date(2020, 12, 31)
    assert retention_expires({"maintenance": "01", "endDate": "15/06/2010"}) is None
    assert retention_expires({"maintenance": "07", "endDate": "15/06/2010"}) is None


@pytest.fixture
def expired_aip(kho_home: Path, sample_sip: Path) -> str:
    with_bag_info(sample_sip, maintenance="06", startDate="02/01/2010", endDate="28/12/2010")
    return str(json.loads(run_kho("ingest", str(sample_sip), "--json", check=True).stdout)["aip_id"])


def test_disposal_is_listed_then_needs_decision_and_leaves_a_tombstone(kho_home: Path, expired_aip: str) -> None:
    permanent = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json",
                                   check=True).stdout)["aip_id"]
    listed = json_lines(run_kho("disposal", "list", "--json", check=True).stdout)
    assert [c["aip_id"] for c in listed] == [expired_aip]
    assert listed[0]["expired_on"] == "2020-12-31" and "Xem xét hủy" in listed[0]["status"]
    assert stored_file(kho_home / "storage", expired_aip, "METS.xml").is_file(), "listing deletes nothing"
    refused = run_kho("disposal", "approve", permanent, "--decision", "QĐ 1", "--approver", "A")
    assert refused.returncode == 1 and "thời hạn" in refused.stderr + "không thuộc diện hủy"
    done = run_kho("disposal", "approve", expired_aip, "--decision", "QĐ số 12/QĐ-UBND", "--approver",
                   "Lê Văn Hùng")
    assert done.returncode == 0, done.stderr
    assert not any(p.is_file() for p in object_dir(kho_home / "storage", expired_aip).rglob("*"))
    shown = json.loads(run_kho("aip", "show", expired_aip, "--json", check=True).stdout)
    assert shown["status"] == "deleted"
    deletion = [e for e in shown["events"] if e["type"] == "deletion"]
    assert len(deletion) == 1 and "QĐ số 12/QĐ-UBND" in deletion[0]["detail"] and "Lê Văn Hùng" in deletion[0][
        "detail"]
    assert json_lines(run_kho("disposal", "list", "--json").stdout) == []
    assert run_kho("dip", expired_aip, "--requester", "x", "--role", "administrator").returncode == 1
    assert json.loads(run_kho("fixity", "--json", check=True).stdout)["checked"] == 1  # tombstones are not audited
    assert run_kho("events", "verify").returncode == 0


@pytest.mark.parametrize("point", ["dispose:after-delete:1", "dispose:after-delete:5"])
def test_a_disposal_killed_part_way_finishes_when_run_again(kho_home: Path, expired_aip: str, point: str) -> None:
    """Killed after deleting some objects (the root inventory first: the object no longer claims a
    head), the decision is run again: every object goes, one tombstone, one deletion event."""
    approve = ("disposal", "approve", expired_aip, "--decision", "QĐ số 12/QĐ-UBND", "--approver", "Lê Văn Hùng")
    killed = run_kho(*approve, env={"KHO_FAULT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (object_dir(kho_home / "storage", expired_aip) / "inventory.json").exists(), "uncommitted first"
    assert json.loads(run_kho("aip", "show", expired_aip, "--json", check=True).stdout)["status"] == "stored"
    assert run_kho(*approve).returncode == 0
    assert not object_dir(kho_home / "storage", expired_aip).exists()
    shown = json.loads(run_kho("aip", "show", expired_aip, "--json", check=True).stdout)
    assert shown["status"] == "deleted" and len([e for e in shown["events"] if e["type"] == "deletion"]) == 1
    assert run_kho("events", "verify").returncode == 0


def test_transfer_list_and_d458_report(kho_home: Path, tmp_path: Path) -> None:
    json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json", check=True).stdout)
    listed = json_lines(run_kho("transfer", "list", "--json", check=True).stdout)
    assert len(listed) == 1 and listed[0]["maintenance"] == "01" and listed[0]["status"] == "not-yet-due"
    assert listed[0]["current_archive_due"] == "2025-12-28" and listed[0]["d458_due"] == "2027-12-28"
    report = json.loads(run_kho("report", "d458", "--format", "json", check=True).stdout)
    overall = {i["indicator"]: i for i in report["overall"]}
    assert overall["public_metadata_published"]["value"] == 1.0
    assert overall["records_with_two_copies"]["value"] == 0.0 and overall["records_with_two_copies"]["gap"] == 1.0
    assert "Ủy ban nhân dân tỉnh Hà Tĩnh" in report["agencies"]
    html_path = tmp_path / "d458.html"
    run_kho("report", "d458", "--format", "html", "-o", str(html_path), check=True)
    page = html_path.read_text(encoding="utf-8")
    assert "<svg" in page and "Quyết định 458" in page
    csv_text = run_kho("report", "d458", "--format", "csv", check=True).stdout
    assert csv_text.splitlines()[0].startswith("agency,indicator")

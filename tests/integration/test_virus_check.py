"""The virus check with the real ClamAV scanner (Debian ``clamav``, installed by the Makefile).

No network here, so no freshclam: each test gives clamscan a signature database of its own, one MD5
signature of the EICAR anti-virus test file (the industry's harmless test "virus"), through
``KHO_CLAMAV_DB``. The engine, the scan and the verdict are ClamAV's own."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_SIPS, run_kho
from tests.helpers import rewrite_manifest

pytestmark = [
    pytest.mark.skipif(shutil.which("clamscan") is None, reason="ClamAV not installed (make install installs clamav)"),
    pytest.mark.timeout(300),
]

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIGNATURE = "Kho.Test.EICAR"


@pytest.fixture
def clam_db(tmp_path: Path) -> Path:
    folder = tmp_path / "clamav-db"
    folder.mkdir()
    (folder / "kho-test.hdb").write_text(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:{SIGNATURE}\n")
    return folder


def _env(kho_home: Path, database: Path) -> dict[str, str]:
    return {"KHO_HOME": str(kho_home), "KHO_CLAMAV_DB": str(database)}


def _events(env: dict[str, str], aip_id: str) -> list[dict[str, str]]:
    return [e for e in json.loads(run_kho("aip", "show", aip_id, "--json", env=env, check=True).stdout)["events"]
            if e["type"] == "virus check"]


def test_a_clean_sip_is_scanned_and_the_engine_named(kho_home: Path, clam_db: Path) -> None:
    env = _env(kho_home, clam_db)
    result = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json", env=env,
                                check=True).stdout)
    [event] = _events(env, result["aip_id"])
    assert event["outcome"] == "success" and "no virus found (ClamAV " in event["outcome_detail"]


def test_an_infected_sip_is_rejected_naming_file_and_signature(kho_home: Path, clam_db: Path, tmp_path: Path) -> None:
    sip = shutil.copytree(FIXTURE_SIPS / "hoso-2023-sotnmt-02", tmp_path / "hoso-nhiem")
    (sip / "data" / "đính kèm.com").write_bytes(EICAR)
    rewrite_manifest(sip)
    env = _env(kho_home, clam_db)
    completed = run_kho("ingest", str(sip), "--json", env=env)
    result = json.loads(completed.stdout)
    assert result["status"] == "rejected", completed.stdout + completed.stderr
    assert "data/đính kèm.com" in result["reason"] and SIGNATURE in result["reason"]
    reason = (Path(result["failed_path"]) / "REASON.txt").read_text(encoding="utf-8")
    assert "virus" in reason and "data/đính kèm.com" in reason
    assert run_kho("aip", "list", "--json", env=env, check=True).stdout.strip() == ""


def test_an_eark_package_is_scanned_whole(kho_home: Path, clam_db: Path, tmp_path: Path) -> None:
    """E-ARK payload lives under representations/, not data/: scanning only data/ made clamscan fail."""
    env = _env(kho_home, clam_db)
    result = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "eark-hoso-2025-001"), "--json", env=env,
                                check=True).stdout)
    [event] = _events(env, result["aip_id"])
    assert event["outcome"] == "success"


def test_no_signature_database_is_a_warning_not_a_stuck_ingest(kho_home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "no-signatures"
    empty.mkdir()
    env = _env(kho_home, empty)
    completed = run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json", env=env, check=True)
    [event] = _events(env, json.loads(completed.stdout)["aip_id"])
    assert event["outcome"] == "not performed" and "no virus database" in event["outcome_detail"]
    assert "virus check not performed" in completed.stderr  # a warning, shown without -v


def test_a_failing_scanner_leaves_the_ingest_resumable(kho_home: Path, clam_db: Path) -> None:
    (clam_db / "broken.hdb").write_text("this is not a signature\n")
    env = _env(kho_home, clam_db)
    failed = run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json", env=env)
    assert failed.returncode != 0 and "clamscan failed" in failed.stderr
    assert "Traceback" not in failed.stderr
    (clam_db / "broken.hdb").unlink()
    resumed = run_kho("resume", env=env, check=True)
    assert "stored AIP" in resumed.stdout

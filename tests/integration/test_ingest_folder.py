"""The watched ingest folder: E-ARK ZIPs are taken (they were skipped in silence), symbolic links never
are (one was followed and the bag it pointed to, outside the folder, was ingested)."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_SIPS, json_lines, run_kho

pytestmark = pytest.mark.timeout(300)
EARK = FIXTURE_SIPS / "eark-hoso-2025-001"


def _zip(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for path in sorted(folder.rglob("*")):
            handle.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    return archive


def _watch_once(kho_home: Path) -> list[dict[str, object]]:
    completed = run_kho("watch", "--once", "--json", env={"KHO_HOME": str(kho_home), "KHO_SETTLE_SECONDS": "0"})
    assert completed.returncode == 0 and "Traceback" not in completed.stderr, completed.stderr
    return json_lines(completed.stdout)


def test_an_eark_zip_dropped_in_the_folder_is_ingested(kho_home: Path, tmp_path: Path) -> None:
    ingest = kho_home / "ingest"
    ingest.mkdir(parents=True)
    _zip(EARK, ingest / "eark-hoso-2025-001.zip")
    [result] = _watch_once(kho_home)
    assert result["status"] == "stored", result
    assert not list(ingest.iterdir())
    aips = json_lines(run_kho("aip", "list", "--json", env={"KHO_HOME": str(kho_home)}).stdout)
    assert len(aips) == 1 and aips[0]["sip_name"] == "eark-hoso-2025-001.zip"


def test_a_broken_zip_is_rejected_and_kept_with_its_report(kho_home: Path) -> None:
    ingest = kho_home / "ingest"
    ingest.mkdir(parents=True)
    (ingest / "hong.zip").write_bytes(b"PK\x03\x04 not really a zip")
    [result] = _watch_once(kho_home)
    assert result["status"] == "rejected" and "ZIP" in str(result["reason"])
    failed = Path(str(result["failed_path"]))
    assert (failed / "submitted.zip").read_bytes() == b"PK\x03\x04 not really a zip"
    assert json.loads((failed / "report.json").read_text(encoding="utf-8"))["valid"] is False


def test_a_symbolic_link_in_the_folder_is_never_followed(kho_home: Path, tmp_path: Path) -> None:
    elsewhere = shutil.copytree(FIXTURE_SIPS / "hoso-2024-ubnd-01", tmp_path / "outside" / "hoso")
    ingest = kho_home / "ingest"
    ingest.mkdir(parents=True)
    os.symlink(elsewhere, ingest / "hoso-link")
    os.symlink(tmp_path / "outside", ingest / "folder-link")
    completed = run_kho("watch", "--once", "--json", env={"KHO_HOME": str(kho_home), "KHO_SETTLE_SECONDS": "0"})
    assert completed.stdout.strip() == "" and "symbolic link" in completed.stderr
    assert (elsewhere / "bagit.txt").is_file() and (ingest / "hoso-link").is_symlink()
    assert json_lines(run_kho("aip", "list", "--json", env={"KHO_HOME": str(kho_home)}).stdout) == []


def test_ingest_of_a_missing_path_does_not_suggest_resume(kho_home: Path, tmp_path: Path) -> None:
    completed = run_kho("ingest", str(tmp_path / "khong-co"))
    assert completed.returncode != 0 and "does not exist" in completed.stderr
    assert "kho resume" not in completed.stderr and "Traceback" not in completed.stderr

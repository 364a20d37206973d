"""A process killed (SIGKILL) mid-ingest, then run again: exactly one AIP, stored and catalogued."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.stored import stored_aip_ids

SIP = FIXTURE_SIPS / "hoso-2024-ubnd-01"


def assert_exactly_one_aip(kho_home: Path) -> str:
    aips = json_lines(run_kho("aip", "list", "--json").stdout)
    assert len(aips) == 1, aips
    aip_id = str(aips[0]["aip_id"])
    assert stored_aip_ids(kho_home / "storage") == [aip_id]
    assert [p for p in (kho_home / "workspaces").iterdir()] == []
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    assert [e["type"] for e in shown["events"]].count("ingestion start") == 1
    assert [e["type"] for e in shown["events"]].count("ingestion end") == 1
    return aip_id


@pytest.mark.parametrize("point", [
    "after:receive",          # claimed and AIP id assigned, nothing else
    "identify:file:3",        # in the middle of a step
    "after:describe",         # METS written, not yet packaged
    "store:after-put:4",      # objects stored (a local batch is durable at once), store step not finished
    "index:committed",        # catalogued, workspace not yet removed
])
def test_kill_then_ingest_again_finishes_the_same_aip(kho_home: Path, point: str) -> None:
    killed = run_kho("ingest", str(SIP), "--json", env={"KHO_FAULT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    workspace = next((kho_home / "workspaces").iterdir())
    aip_id = json.loads((workspace / "state.json").read_text())["aip_id"]
    again = run_kho("ingest", str(SIP), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["aip_id"] == aip_id
    assert assert_exactly_one_aip(kho_home) == aip_id


def test_kho_resume_finishes_interrupted_ingests(kho_home: Path) -> None:
    killed = run_kho("ingest", str(SIP), env={"KHO_FAULT": "after:fixity"})
    assert killed.returncode == -signal.SIGKILL
    resumed = run_kho("resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    results = json_lines(resumed.stdout)
    assert [r["status"] for r in results] == ["stored"]
    assert assert_exactly_one_aip(kho_home) == results[0]["aip_id"]
    assert json_lines(run_kho("resume", "--json").stdout) == []


def test_watch_claims_by_rename_and_ingests_once(kho_home: Path) -> None:
    ingest_dir = kho_home / "ingest"
    ingest_dir.mkdir(parents=True)
    dropped = ingest_dir / "hoso-2024-ubnd-01"
    shutil.copytree(SIP, dropped)
    for path in [dropped, *dropped.rglob("*")]:
        os.utime(path)  # just written
    fresh = run_kho("watch", "--once", "--json", env={"KHO_SETTLE_SECONDS": "3600"})
    assert fresh.returncode == 0 and json_lines(fresh.stdout) == [] and dropped.exists(), "still settling"
    old = time.time() - 60
    for path in [dropped, *dropped.rglob("*")]:
        os.utime(path, (old, old))
    first = run_kho("watch", "--once", "--json", env={"KHO_SETTLE_SECONDS": "10"})
    assert [r["status"] for r in json_lines(first.stdout)] == ["stored"]
    assert not dropped.exists()
    second = run_kho("watch", "--once", "--json", env={"KHO_SETTLE_SECONDS": "10"})
    assert json_lines(second.stdout) == []
    assert_exactly_one_aip(kho_home)


def test_watch_resumes_a_claimed_sip_killed_mid_ingest(kho_home: Path) -> None:
    ingest_dir = kho_home / "ingest"
    ingest_dir.mkdir(parents=True)
    shutil.copytree(SIP, ingest_dir / "hoso")
    old = time.time() - 60
    for path in [ingest_dir / "hoso", *(ingest_dir / "hoso").rglob("*")]:
        os.utime(path, (old, old))
    killed = run_kho("watch", "--once", env={"KHO_FAULT": "after:validate_sip", "KHO_SETTLE_SECONDS": "1"})
    assert killed.returncode == -signal.SIGKILL
    again = run_kho("watch", "--once", "--json", env={"KHO_SETTLE_SECONDS": "1"})
    assert again.returncode == 0, again.stderr
    assert_exactly_one_aip(kho_home)

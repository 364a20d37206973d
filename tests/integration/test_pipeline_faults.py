"""Storage failures and concurrent claims: failed-but-resumable, never half-catalogued."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from preservation.config import load_settings
from preservation.pipeline import Context, claim
from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.reference.ocfl import assert_valid_ocfl
from tests.stored import stored_key


def test_storage_failure_leaves_a_resumable_ingest_and_no_catalog_row(kho_home: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the storage root should be")
    broken = {"KHO_STORAGE": (blocker / "storage").as_uri()}
    failed = run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), env=broken)
    assert failed.returncode == 1
    assert "kho resume" in failed.stderr and "storing at" in failed.stderr
    assert json_lines(run_kho("aip", "list", "--json").stdout) == []
    workspace = next((kho_home / "workspaces").iterdir())
    state = json.loads((workspace / "state.json").read_text())
    assert "store" not in state["done"] and state["failures"][0]["event_type"] == "replication"
    resumed = json_lines(run_kho("resume", "--json", check=True).stdout)
    assert [r["status"] for r in resumed] == ["stored"]
    shown = json.loads(run_kho("aip", "show", str(resumed[0]["aip_id"]), "--json", check=True).stdout)
    outcomes = [(e["type"], e["outcome"]) for e in shown["events"]]
    assert ("replication", "failure") in outcomes and ("replication", "success") in outcomes


def test_two_locations_are_both_written_and_verified(kho_home: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    env = {"KHO_STORAGE": f"{first.as_uri()},{second.as_uri()}"}
    out = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json", env=env,
                             check=True).stdout)
    assert out["locations"] == [first.as_uri(), second.as_uri()]
    aip = str(out["aip_id"])
    listing = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert listing == sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    assert stored_key(first, aip, "METS.xml") in listing
    assert_valid_ocfl(first) and assert_valid_ocfl(second)


def test_unknown_storage_scheme_is_a_clear_error(kho_home: Path) -> None:
    result = run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), env={"KHO_STORAGE": "ftp://x/y"})
    assert result.returncode == 1 and "unsupported storage URL scheme" in result.stderr


def test_bad_configuration_exits_2(kho_home: Path) -> None:
    result = run_kho("aip", "list", env={"KHO_DIGESTS": "md4"})
    assert result.returncode == 2 and "KHO_DIGESTS" in result.stderr


def test_concurrent_claims_of_one_sip_yield_one_workspace(kho_home: Path) -> None:
    settings = load_settings()
    settings.ensure_dirs()
    dropped = settings.ingest_dir / "hoso"
    shutil.copytree(FIXTURE_SIPS / "hoso-2023-sotnmt-02", dropped)
    won: list[object] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        ctx = Context(settings)
        barrier.wait()
        workspace = claim(ctx, dropped)
        if workspace is not None:
            won.append(workspace)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert [p for p in settings.workspaces_dir.iterdir() if not p.name.startswith(".")] == [won[0].path]  # type: ignore[attr-defined]
    assert not dropped.exists()


@pytest.mark.timeout(300)  # opening the FIFO would block for ever: the ingest ending at all shows it was not opened
def test_special_file_in_sip_is_rejected_on_ingest(kho_home: Path, tmp_path: Path) -> None:
    sip = tmp_path / "sip"
    shutil.copytree(FIXTURE_SIPS / "hoso-2023-sotnmt-02", sip)
    os.mkfifo(sip / "data" / "pipe")
    result = run_kho("ingest", str(sip), "--json", timeout=240)  # a blocked copy: TimeoutExpired, the test fails
    assert result.returncode == 1, result.stdout
    reason = json.loads(result.stdout)["reason"] if result.stdout else result.stderr
    assert "special-file" in reason or "pipe" in reason

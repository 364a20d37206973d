"""Every ingest ends: stored, rejected with its reason, or resumable with a stated reason; never a
workspace that `kho resume` retries forever, never a traceback."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from preservation import workspace as workspace_module
from preservation.config import Settings
from preservation.pipeline import (
    STEPS,
    Context,
    IngestError,
    SipRejected,
    run_pipeline,
    run_step,
    start_copy,
)
from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.helpers import rewrite_manifest

pytestmark = pytest.mark.timeout(300)


def test_a_file_changed_after_validation_rejects_the_sip(settings: Settings, tmp_path: Path) -> None:
    """The finding: the store's read-back caught it, and the ingest then stayed stuck for ever."""
    sip = shutil.copytree(FIXTURE_SIPS / "hoso-2023-sotnmt-02", tmp_path / "hoso-doi")
    ctx = Context(settings)
    try:
        ws = start_copy(ctx, sip)
        for step in STEPS[: STEPS.index("store")]:
            run_step(ctx, ws, step)
        key = next(item["key"] for item in ws.output("package")["files"] if "/data/" in item["key"])
        with open(ws.aip_dir / key, "r+b") as handle:  # edited in place, as through a hard link
            handle.write(b"X")
        with pytest.raises(SipRejected) as rejected:
            run_step(ctx, ws, "store")
        result = rejected.value.result
        assert "changed after validation" in result.reason and key in result.reason
        assert result.failed_path and (Path(result.failed_path) / "REASON.txt").is_file()
        assert not ws.path.exists(), "nothing left for `kho resume` to retry"
        assert ctx.catalog.list_aips() == []
    finally:
        ctx.close()


def test_a_sip_name_of_250_bytes_is_rejected_twice_without_a_traceback(kho_home: Path, tmp_path: Path) -> None:
    name = ("hồ-sơ-" * 60).encode()[:250].decode("utf-8", "ignore")
    sip = shutil.copytree(FIXTURE_SIPS / "bad-checksum", tmp_path / name)
    for _ in range(2):
        completed = run_kho("ingest", str(sip), "--json")
        assert completed.returncode == 1 and "Traceback" not in completed.stderr, completed.stderr
        assert json.loads(completed.stdout)["status"] == "rejected"
    failed = sorted((kho_home / "failed").iterdir())
    assert len(failed) == 2 and all(len(p.name.encode()) <= 255 for p in failed)
    resumed = run_kho("resume")
    assert resumed.returncode == 0 and "Traceback" not in resumed.stderr


def test_a_full_kho_home_is_a_stated_fault_and_resumes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = Context(settings)
    real = workspace_module.write_json_atomic

    def full(path: Path, data: Any) -> None:
        if path.name == "identify.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(workspace_module, "write_json_atomic", full)
    try:
        ws = start_copy(ctx, FIXTURE_SIPS / "hoso-2024-ubnd-01")
        with pytest.raises(IngestError, match="no space left") as raised:
            run_pipeline(ctx, ws)
        assert "kho resume" in str(raised.value)
        assert ws.path.exists() and not ws.is_done("identify")
        monkeypatch.setattr(workspace_module, "write_json_atomic", real)
        assert run_pipeline(ctx, ws).status == "stored"
    finally:
        ctx.close()


def test_a_rejected_sparse_file_stays_sparse_in_failed(kho_home: Path, tmp_path: Path) -> None:
    """The finding: a 2 GiB sparse file with a wrong digest became 2.1 GB in failed/."""
    sip = shutil.copytree(FIXTURE_SIPS / "hoso-2023-sotnmt-02", tmp_path / "hoso-thua")
    big = sip / "data" / "sparse.bin"
    with open(big, "wb") as handle:
        handle.truncate(1024**3)
    rewrite_manifest(sip)
    manifest = sip / "manifest-sha256.txt"
    wrong = hashlib.sha256(b"not these bytes").hexdigest()
    lines = [f"{wrong}  data/sparse.bin" if line.endswith("data/sparse.bin") else line
             for line in manifest.read_text(encoding="utf-8").splitlines()]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    completed = run_kho("ingest", str(sip), "--json")
    assert json.loads(completed.stdout)["status"] == "rejected", completed.stdout
    [failed] = (kho_home / "failed").iterdir()
    copy = failed / "sip" / "data" / "sparse.bin"
    assert copy.stat().st_size == 1024**3
    assert copy.stat().st_blocks * 512 < 1024**2, "the copy keeps the hole"
    assert json_lines(run_kho("aip", "list", "--json").stdout) == []
    assert not os.listdir(kho_home / "workspaces")


def test_a_second_run_on_a_finished_workspace_has_nothing_to_do(settings: Settings) -> None:
    """A scan may restart an ingest whose first run was only queued; the later run must not fail when the
    first one already stored (or rejected) the SIP and removed the workspace."""
    from preservation.workspace import Workspace

    ctx = Context(settings)
    try:
        ws = start_copy(ctx, FIXTURE_SIPS / "hoso-2024-ubnd-01")
        assert run_pipeline(ctx, ws).status == "stored"
        finished = Workspace(ws.path)
        for step in STEPS:
            run_step(ctx, finished, step)  # no error: this ingest already ended
        with pytest.raises(IngestError, match="does not exist"):
            run_step(ctx, Workspace(ws.path.with_name("00000000-0000-0000-0000-000000000000")), "identify")
    finally:
        ctx.close()


def test_the_same_payload_with_other_metadata_is_a_new_submission(kho_home: Path) -> None:
    """The finding: tt05-hoso-json was refused as a "byte-identical SIP" of tt02-hoso: only their payload
    is identical; their metadata and bag-info differ."""
    first = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "tt02-hoso"), "--json", check=True).stdout)
    second = run_kho("ingest", str(FIXTURE_SIPS / "tt05-hoso-json"), "--json")
    assert json.loads(second.stdout)["status"] == "stored", second.stdout + second.stderr
    again = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "tt02-hoso"), "--json").stdout)
    assert again["status"] == "rejected" and first["aip_id"] in again["reason"], "a true resubmission still is"

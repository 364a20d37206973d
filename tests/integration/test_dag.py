"""The real Airflow DAGs, run with `airflow dags test` on one shared SQLite metadata DB."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import BIN, FIXTURE_SIPS, json_lines, run_kho
from tests.stored import stored_file

pytestmark = pytest.mark.airflow


def dags_test(
    env: dict[str, str], dag_id: str, conf: dict[str, object] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "airflow"), "dags", "test", dag_id]
    if conf is not None:
        command += ["-c", json.dumps(conf)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_ingest_dag_stores_an_aip(airflow_env: dict[str, str], kho_home: Path) -> None:
    env = {**airflow_env, "KHO_HOME": str(kho_home)}
    result = dags_test(env, "ingest", {"sip_path": str(FIXTURE_SIPS / "hoso-2024-ubnd-01")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    aips = json_lines(run_kho("aip", "list", "--json", env={"KHO_HOME": str(kho_home)}).stdout)
    assert len(aips) == 1 and aips[0]["files"] == 6
    output = result.stdout + result.stderr
    for step in ("receive", "validate_sip", "identify", "fixity", "describe", "package", "store", "index"):
        assert f"task_id={step}" in output, step


def test_ingest_dag_rejects_a_bad_sip_without_storing(airflow_env: dict[str, str], kho_home: Path) -> None:
    env = {**airflow_env, "KHO_HOME": str(kho_home)}
    result = dags_test(env, "ingest", {"sip_path": str(FIXTURE_SIPS / "bad-path-traversal")})
    output = result.stdout + result.stderr
    assert "SIP rejected" in output and "unsafe-path" in output
    assert (kho_home / "failed" / "bad-path-traversal" / "report.json").is_file()
    assert json_lines(run_kho("aip", "list", "--json", env={"KHO_HOME": str(kho_home)}).stdout) == []


def test_scan_dag_claims_a_dropped_sip_and_ingest_finishes_it(airflow_env: dict[str, str], kho_home: Path) -> None:
    env = {**airflow_env, "KHO_HOME": str(kho_home), "KHO_SETTLE_SECONDS": "0"}
    ingest_dir = kho_home / "ingest"
    ingest_dir.mkdir(parents=True)
    dropped = ingest_dir / "hoso-2023-sotnmt-02"
    shutil.copytree(FIXTURE_SIPS / "hoso-2023-sotnmt-02", dropped)
    old = time.time() - 60
    for path in [dropped, *dropped.rglob("*")]:
        os.utime(path, (old, old))
    result = dags_test(env, "ingest_scan")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not dropped.exists(), "the SIP is claimed (renamed) out of the ingest folder"
    workspaces = [p for p in (kho_home / "workspaces").iterdir() if not p.name.startswith(".")]
    assert len(workspaces) == 1
    assert "start_ingest" in result.stdout + result.stderr
    finish = dags_test(env, "ingest", {"workspace": str(workspaces[0])})
    assert finish.returncode == 0, finish.stdout[-3000:]
    assert len(json_lines(run_kho("aip", "list", "--json", env={"KHO_HOME": str(kho_home)}).stdout)) == 1


def test_fixity_audit_dag_repairs_a_damaged_copy(airflow_env: dict[str, str], kho_home: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    kho = {"KHO_HOME": str(kho_home), "KHO_STORAGE": f"{first.as_uri()},{second.as_uri()}"}
    aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json", env=kho,
                                check=True).stdout)["aip_id"]
    target = stored_file(second, aip_id, "METS.xml")
    target.write_bytes(target.read_bytes()[:-10])
    result = dags_test({**airflow_env, **kho}, "fixity_audit")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert target.read_bytes() == stored_file(first, aip_id, "METS.xml").read_bytes()
    events = json.loads(run_kho("aip", "show", aip_id, "--json", env=kho, check=True).stdout)["events"]
    assert any(e["type"] == "replication" and "repair" in e["detail"] and e["outcome"] == "success" for e in events)


def test_dip_request_dag_builds_a_dip(airflow_env: dict[str, str], kho_home: Path) -> None:
    kho = {"KHO_HOME": str(kho_home)}
    aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json", env=kho,
                                check=True).stdout)["aip_id"]
    conf = {"aip_id": aip_id, "requester": "Trần Văn Bình", "role": "reader", "purpose": "01"}
    result = dags_test({**airflow_env, **kho}, "dip_request", conf)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    zips = list((kho_home / "dips").glob(f"DIP-{aip_id}-*.zip"))
    assert len(zips) == 1
    events = json.loads(run_kho("aip", "show", aip_id, "--json", env=kho, check=True).stdout)["events"]
    assert any(e["type"] == "dissemination" and "Trần Văn Bình" in e["detail"] for e in events)


def test_format_migration_dag_dry_run_and_run(airflow_env: dict[str, str], kho_home: Path, tmp_path: Path) -> None:
    import yaml

    from format_registry.policy import DEFAULT_POLICY

    data = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    next(e for e in data["formats"] if e["id"] == "png")["preservation"] = {
        "action": "normalise", "target": "TIFF", "tool": "pillow-tiff"}
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    kho = {"KHO_HOME": str(kho_home)}
    aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json", env=kho,
                                check=True).stdout)["aip_id"]
    changed = {**airflow_env, **kho, "KHO_POLICY": str(policy)}  # the policy changes after ingest
    dry = dags_test(changed, "format_migration", {"dry_run": True})
    assert dry.returncode == 0 and "would migrate 1 files in 1 AIPs" in dry.stdout + dry.stderr
    real = dags_test(changed, "format_migration", {"dry_run": False})
    assert real.returncode == 0, real.stdout[-3000:] + real.stderr[-3000:]
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", env=kho, check=True).stdout)
    assert any(f["path"].endswith("Sơ đồ khu mỏ.tif") and f["role"] == "preservation" for f in shown["files"])


def test_transfer_dag_lists_and_exports(airflow_env: dict[str, str], kho_home: Path, tmp_path: Path) -> None:
    kho = {"KHO_HOME": str(kho_home)}
    aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json", env=kho,
                                check=True).stdout)["aip_id"]
    out = tmp_path / "handover"
    result = dags_test({**airflow_env, **kho}, "transfer",
                       {"export": [aip_id], "to": "Trung tâm Lưu trữ lịch sử", "output": str(out)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (out / f"transfer-{aip_id}.zip").is_file() and (out / "transfer-manifest.json").is_file()


def test_ingest_dag_with_nothing_to_normalise(airflow_env: dict[str, str], kho_home: Path, tmp_path: Path) -> None:
    """No conversion: the mapped batch task expands to nothing and the ingest still completes."""
    import shutil

    from tests.helpers import rewrite_manifest

    sip = tmp_path / "chi-van-ban"
    shutil.copytree(FIXTURE_SIPS / "hoso-2023-sotnmt-02", sip)
    for name in ("Công văn 56-STNMT.pdf", "Sơ đồ khu mỏ.png"):
        (sip / "data" / name).unlink()
    rewrite_manifest(sip)
    result = dags_test({**airflow_env, "KHO_HOME": str(kho_home)}, "ingest", {"sip_path": str(sip)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert len(json_lines(run_kho("aip", "list", "--json", env={"KHO_HOME": str(kho_home)}).stdout)) == 1


def test_a_second_run_on_a_busy_workspace_steps_aside(airflow_env: dict[str, str], kho_home: Path) -> None:
    """A scan may start a second run for a workspace whose first run is still queued or running: the
    second one skips (not a red run that retries and fails), the first one finishes the ingest."""
    from preservation.config import load_settings
    from preservation.pipeline import Context, start_copy

    env = {**airflow_env, "KHO_HOME": str(kho_home)}
    ctx = Context(load_settings({"KHO_HOME": str(kho_home)}))
    try:
        ws = start_copy(ctx, FIXTURE_SIPS / "hoso-2024-ubnd-01")
        with ws.locked():  # a live process (this test) is on it
            busy = dags_test(env, "ingest", {"workspace": str(ws.path)})
        output = busy.stdout + busy.stderr
        assert "another process is ingesting this SIP" in output, output[-3000:]
        assert busy.returncode == 0, "skipped, not a failed (red) run"
        assert json_lines(run_kho("aip", "list", "--json", env={"KHO_HOME": str(kho_home)}).stdout) == []
        finish = dags_test(env, "ingest", {"workspace": str(ws.path)})
        assert finish.returncode == 0, finish.stdout[-3000:]
        assert len(json_lines(run_kho("aip", "list", "--json", env={"KHO_HOME": str(kho_home)}).stdout)) == 1
    finally:
        ctx.close()

"""Ingest and fixity audit against real S3-compatible endpoints over HTTP: each test runs against a
moto server and against Ceph RGW (conftest's ``s3_server``, ids ``moto`` and ``rgw``)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

from format_registry.policy import DEFAULT_POLICY
from packages import ocfl
from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.reference.ocfl import assert_valid_ocfl
from tests.s3_server import FaultyProxy, S3Server
from tests.stored import download_bucket, inventory, v1_key


@pytest.fixture
def s3_env(s3_server: S3Server, kho_home: Path, tmp_path: Path) -> dict[str, str]:
    bucket = f"kho-{uuid.uuid4().hex[:12]}"
    return {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_ENDPOINT_URL": s3_server.endpoint_url, "KHO_STORAGE": f"s3://{bucket}/aips", "BUCKET": bucket,
    }


def client(s3_server: S3Server) -> object:
    return boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_bucket_is_never_created_silently_then_init_check_and_ingest(s3_env: dict[str, str],
                                                                     s3_server: S3Server, tmp_path: Path) -> None:
    refused = run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), env=s3_env)
    assert refused.returncode == 1 and "kho storage init" in refused.stderr
    assert json_lines(run_kho("aip", "list", "--json", env=s3_env).stdout) == []
    assert run_kho("storage", "init", env=s3_env).returncode == 0
    check = json_lines(run_kho("storage", "check", "--json", env=s3_env, check=True).stdout)[0]
    assert check["reachable"] and check["writable"] and check["versioning"] == "Enabled"
    resumed = json_lines(run_kho("resume", "--json", env=s3_env, check=True).stdout)
    assert [r["status"] for r in resumed] == ["stored"]
    aip_id = resumed[0]["aip_id"]
    s3 = client(s3_server)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=s3_env["BUCKET"], Prefix="aips/")["Contents"]}  # type: ignore[attr-defined]
    assert f"aips/{v1_key(aip_id, 'METS.xml')}" in keys
    assert f"aips/{v1_key(aip_id, 'representations/rep-01/data/Sơ đồ khu mỏ.png')}" in keys
    assert_valid_ocfl(download_bucket(s3, s3_env["BUCKET"], "aips/", tmp_path / "bucket"))


def test_endpoint_down_at_store_time_is_resumable(s3_env: dict[str, str], s3_server: S3Server) -> None:
    run_kho("storage", "init", env=s3_env, check=True)
    with FaultyProxy(s3_server.port) as proxy:
        proxy.refuse()  # the endpoint is down
        down = {**s3_env, "AWS_ENDPOINT_URL": proxy.endpoint_url, "AWS_MAX_ATTEMPTS": "2"}
        failed = run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), env=down, timeout=300)
    assert failed.returncode == 1 and "kho resume" in failed.stderr
    assert json_lines(run_kho("aip", "list", "--json", env=s3_env).stdout) == []
    stored = json_lines(run_kho("resume", "--json", env=s3_env, check=True).stdout)
    assert [r["status"] for r in stored] == ["stored"]


def test_audit_finds_and_repairs_an_object_corrupted_through_the_s3_api(s3_env: dict[str, str],
                                                                        s3_server: S3Server,
                                                                        tmp_path: Path) -> None:
    local = tmp_path / "local-copy"
    env = {**s3_env, "KHO_STORAGE": f"{s3_env['KHO_STORAGE']},{local.as_uri()}"}
    run_kho("storage", "init", env=env, check=True)
    aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json", env=env,
                                check=True).stdout)["aip_id"]
    s3 = client(s3_server)
    key = f"aips/{v1_key(aip_id, 'representations/rep-01/data/Ghi chú.txt')}"
    s3.put_object(Bucket=s3_env["BUCKET"], Key=key, Body=b"altered behind Kho's back")  # type: ignore[attr-defined]
    summary = json.loads(run_kho("fixity", "--json", env=env).stdout)
    assert (summary["failed"], summary["repaired"]) == (1, 1)
    bad = next(c for c in summary["copies"] if not c["ok"])
    assert bad["location"].startswith("s3://") and bad["bad"][0]["path"].endswith("Ghi chú.txt")
    body = s3.get_object(Bucket=s3_env["BUCKET"], Key=key)["Body"].read()  # type: ignore[attr-defined]
    assert body == (FIXTURE_SIPS / "hoso-2023-sotnmt-02/data/Ghi chú.txt").read_bytes()
    assert json.loads(run_kho("fixity", "--json", env=env, check=True).stdout)["failed"] == 0
    assert_valid_ocfl(download_bucket(s3, s3_env["BUCKET"], "aips/", tmp_path / "bucket"))  # after the repair
    assert_valid_ocfl(local)


def test_object_lock_retention_follows_the_record(s3_env: dict[str, str], s3_server: S3Server,
                                                  sample_sip: Path, tmp_path: Path) -> None:
    from tests.helpers import with_bag_info

    env = {**s3_env, "KHO_STORAGE": f"{s3_env['KHO_STORAGE']}?object_lock=GOVERNANCE&retention_days=1"}
    assert run_kho("storage", "init", env=env).returncode == 0
    with_bag_info(sample_sip, maintenance="06", endDate="28/12/2024")  # 10 years: kept until 31/12/2034
    aip_id = json.loads(run_kho("ingest", str(sample_sip), "--json", env=env, check=True).stdout)["aip_id"]
    head = client(s3_server).head_object(Bucket=s3_env["BUCKET"], Key=f"aips/{v1_key(aip_id, 'METS.xml')}")  # type: ignore[attr-defined]
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"].year == 2034
    # a migration campaign adds v2: its new objects are locked for the record's retention too, and the
    # bucket holds valid OCFL objects
    data = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    next(e for e in data["formats"] if e["id"] == "jpeg")["preservation"] = {
        "action": "normalise", "target": "TIFF", "tool": "pillow-tiff"}
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    migrated = json.loads(run_kho("migrate", "--json", env={**env, "KHO_POLICY": str(policy)}, check=True).stdout)
    assert migrated["migrated"] == [aip_id]
    s3 = client(s3_server)
    v2_mets = f"aips/{ocfl.object_root(aip_id)}/v2/content/METS.xml"
    head = s3.head_object(Bucket=s3_env["BUCKET"], Key=v2_mets)  # type: ignore[attr-defined]
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockRetainUntilDate"].year == 2034
    bucket = download_bucket(s3, s3_env["BUCKET"], "aips/", tmp_path / "bucket")
    assert_valid_ocfl(bucket)
    assert inventory(bucket, aip_id)["head"] == "v2"

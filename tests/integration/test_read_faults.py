"""Faults on the read side: a GET cut mid-body, a slow response, an HTTP 500, a missing object, an
unreachable location. Each is retried or reported; nothing unverified is ever served or counted good."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from storage_adapters.base import StorageError, failure_kind
from storage_adapters.local import LocalStorage
from storage_adapters.replicated import ReplicatedStorage, UnverifiedError
from storage_adapters.s3 import S3Storage
from tests.conftest import FIXTURE_SIPS, run_kho
from tests.s3_server import FaultyProxy, S3Server

KEY = "aip-1/representations/rep-01/data/Quyết định.pdf"
DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
# Short timeouts and few retries, so a fault costs seconds (botocore: 2 attempts per request).
FAST: dict[str, Any] = {"max_attempts": 2, "part_retries": 1, "retry_backoff": 0.05, "connect_timeout": 2,
                        "read_timeout": 5}


@pytest.fixture
def bucket(s3_server: S3Server, aws_env: None) -> str:
    name = f"kho-read-{uuid.uuid4().hex[:12]}"
    S3Storage(name, "", endpoint_url=s3_server.endpoint_url, **FAST).init()
    return name


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[FaultyProxy]:
    with FaultyProxy(s3_server.port) as running:
        yield running


@pytest.fixture
def raw(s3_server: S3Server, aws_env: None) -> Any:
    return boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1")


def two_locations(s3_server: S3Server, proxy: FaultyProxy, bucket: str, tmp_path: Path,
                  **first_options: Any) -> tuple[S3Storage, S3Storage]:
    """The same object in two locations (two prefixes of one bucket); the first reached through the proxy."""
    source = tmp_path / "source.bin"
    source.write_bytes(DATA)
    first = S3Storage(bucket, "first", endpoint_url=proxy.endpoint_url, **{**FAST, **first_options})
    second = S3Storage(bucket, "second", endpoint_url=s3_server.endpoint_url, **FAST)
    for location in (first, second):
        location.put(KEY, source)
        assert location.verify(KEY, SHA)
    return first, second


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".kho-"))


@pytest.mark.parametrize("fault, problem", [
    ("cut", "error"), ("http-500", "error"), ("slow", "error"), ("wrong-bytes", "mismatch"),
    ("missing", "missing"), ("refused", "unreachable"),
])
def test_read_falls_back_to_the_next_location_and_returns_only_verified_bytes(
    s3_server: S3Server, proxy: FaultyProxy, bucket: str, raw: Any, tmp_path: Path, fault: str, problem: str
) -> None:
    first, second = two_locations(s3_server, proxy, bucket, tmp_path, read_timeout=1)
    if fault == "cut":
        proxy.cut_responses_after(64 * 1024)  # every GET, mid-body
    elif fault == "http-500":
        proxy.fail_requests(500)
    elif fault == "slow":
        proxy.delay_responses(3, method="GET")  # longer than the 1 s read timeout
    elif fault == "wrong-bytes":
        raw.put_object(Bucket=bucket, Key=f"first/{KEY}", Body=DATA[:-1] + b"!")
    elif fault == "missing":
        raw.delete_object(Bucket=bucket, Key=f"first/{KEY}")
    else:
        proxy.refuse()
    out = tmp_path / "out"
    out.mkdir()

    read = ReplicatedStorage([first, second]).get_verified(KEY, SHA, out / "object")

    assert (out / "object").read_bytes() == DATA and read.size == len(DATA)
    assert read.source == second.url
    assert [(b.location, b.problem) for b in read.bad] == [(first.url, problem)]
    assert leftovers(out) == []
    if fault == "cut":
        assert proxy.response_cuts >= 2  # the cut read was tried again before moving on
    if fault == "http-500":
        assert proxy.failures >= 2 and "InternalError" in read.bad[0].detail


def test_transient_read_faults_are_retried_on_the_same_location(
    s3_server: S3Server, proxy: FaultyProxy, bucket: str, tmp_path: Path
) -> None:
    first, second = two_locations(s3_server, proxy, bucket, tmp_path)
    storage = ReplicatedStorage([first, second])
    for arm in (lambda: proxy.cut_responses_after(64 * 1024, times=1), lambda: proxy.fail_requests(500, times=1),
                lambda: proxy.delay_responses(0.5, times=1, method="GET")):
        proxy.heal()
        arm()
        read = storage.get_verified(KEY, SHA, tmp_path / "object")
        assert (read.source, read.bad) == (first.url, [])
        assert (tmp_path / "object").read_bytes() == DATA
    assert (proxy.response_cuts, proxy.failures, proxy.delays) == (1, 1, 1)


def test_nothing_is_served_when_no_location_has_the_right_bytes(
    s3_server: S3Server, proxy: FaultyProxy, bucket: str, raw: Any, tmp_path: Path
) -> None:
    first, second = two_locations(s3_server, proxy, bucket, tmp_path)
    raw.put_object(Bucket=bucket, Key=f"second/{KEY}", Body=b"not the archived file")
    proxy.cut_responses_after(64 * 1024)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnverifiedError) as info:
        ReplicatedStorage([first, second]).get_verified(KEY, SHA, out / "object")
    assert [(b.location, b.problem) for b in info.value.bad] == [(first.url, "error"), (second.url, "mismatch")]
    assert KEY in str(info.value) and isinstance(info.value, StorageError)
    assert list(out.iterdir()) == []  # not even a partial file
    with pytest.raises(StorageError):
        ReplicatedStorage([first, second]).get(KEY, out / "object", sha256=SHA)
    proxy.heal()
    ReplicatedStorage([first, second]).get(KEY, out / "object", sha256=SHA)
    assert (out / "object").read_bytes() == DATA


def test_local_locations_are_verified_too(tmp_path: Path) -> None:
    first, second = LocalStorage(tmp_path / "a"), LocalStorage(tmp_path / "b")
    source = tmp_path / "source.bin"
    source.write_bytes(DATA)
    for location in (first, second):
        location.put(KEY, source)
    damaged = first.path_of(KEY)
    damaged.write_bytes(DATA[:1000])  # truncated
    read = ReplicatedStorage([first, second]).get_verified(KEY, SHA, tmp_path / "object")
    assert read.source == second.url and read.bad[0].problem == "mismatch"
    damaged.unlink()
    read = ReplicatedStorage([first, second]).get_verified(KEY, SHA, tmp_path / "object")
    assert read.bad[0].problem == "missing"
    assert failure_kind(OSError("anything")) == "error"


# -- the audit (kho fixity) against faults on the read side ---------------------------------------


def s3_env(s3_server: S3Server, proxy: FaultyProxy, tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A local copy first, an S3 copy reached through the proxy second; storage initialised."""
    local = (tmp_path / "local").resolve()
    bucket = f"kho-{uuid.uuid4().hex[:12]}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "KHO_STORAGE": f"{local.as_uri()},s3://{bucket}/aips?endpoint_url={proxy.endpoint_url}",
    }
    run_kho("storage", "init", env=env, check=True)
    return env, local


def ingest(env: dict[str, str]) -> str:
    sip = FIXTURE_SIPS / "hoso-2024-ubnd-01"
    return str(json.loads(run_kho("ingest", str(sip), "--json", env=env, check=True).stdout)["aip_id"])


def copies(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["location"].split(":")[0]: c for c in summary["copies"]}


def test_audit_reports_a_copy_whose_reads_are_cut_mid_body(
    s3_server: S3Server, proxy: FaultyProxy, kho_home: Path, tmp_path: Path
) -> None:
    env, _local = s3_env(s3_server, proxy, tmp_path)
    aip_id = ingest(env)
    proxy.cut_responses_after(1500)  # every GET response, after 1500 bytes (headers included)

    result = run_kho("fixity", "--json", env=env)

    assert result.returncode == 1, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    by_scheme = copies(summary)
    assert by_scheme["file"]["ok"] and by_scheme["file"]["status"] == "ok"
    s3 = by_scheme["s3"]
    assert not s3["ok"] and s3["status"] == "damaged" and not s3["repaired"]
    bad = {b["path"]: b for b in s3["bad"]}
    assert "representations/rep-01/data/ảnh/Bản đồ.tif" in bad  # 9 KB: cut; the small ones get through
    assert {b["problem"] for b in bad.values()} == {"unreadable"}
    assert all(b["found"] is None and b["repaired_from"] is None for b in bad.values())  # never from itself
    assert summary["unrepaired"] == 1 and summary["unreachable"] == 0
    assert proxy.response_cuts >= 3 * len(bad)  # each read tried three times before it was reported
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", env=env, check=True).stdout)
    assert {loc["location"].split(":")[0]: loc["status"] for loc in shown["locations"]} == {
        "file": "verified", "s3": "damaged"}
    checks = [e for e in shown["events"] if e["type"] == "fixity check" and e["detail"].startswith("audit")]
    assert sorted(e["outcome"] for e in checks) == ["failure", "success"]

    proxy.heal()  # the network is mended: the copy verifies again
    healed = json.loads(run_kho("fixity", "--json", env=env, check=True).stdout)
    assert healed["failed"] == 0 and healed["unrepaired"] == 0


def test_audit_reports_an_unreachable_location_as_unreachable(
    s3_server: S3Server, proxy: FaultyProxy, kho_home: Path, tmp_path: Path
) -> None:
    env, _local = s3_env(s3_server, proxy, tmp_path)
    aip_id = ingest(env)
    proxy.refuse()

    result = run_kho("fixity", "--json", env=env)

    assert result.returncode == 1, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert (summary["checked"], summary["failed"], summary["unreachable"], summary["unrepaired"]) == (2, 0, 1, 1)
    s3 = copies(summary)["s3"]
    assert s3["status"] == "unreachable" and s3["bad"] == [] and not s3["ok"] and s3["unreachable"]
    assert copies(summary)["file"]["ok"]
    table = run_kho("fixity", env=env)
    assert table.returncode == 1 and "UNREACHABLE" in table.stdout and "DAMAGED" not in table.stdout
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", env=env, check=True).stdout)
    assert {loc["status"] for loc in shown["locations"]} == {"verified"}  # not called damaged
    checks = [e for e in shown["events"] if e["type"] == "fixity check" and e["detail"].startswith("audit")]
    assert sorted(e["outcome"] for e in checks) == ["not performed", "not performed", "success", "success"]
    assert all("unreachable" in e["outcome_detail"] for e in checks if e["outcome"] == "not performed")
    assert not [e for e in shown["events"] if e["type"] == "replication" and e["detail"].startswith("repair")]

    proxy.resume()
    assert json.loads(run_kho("fixity", "--json", env=env, check=True).stdout)["failed"] == 0


def test_audit_rides_out_a_500_and_slow_responses(
    s3_server: S3Server, proxy: FaultyProxy, kho_home: Path, tmp_path: Path
) -> None:
    env, _local = s3_env(s3_server, proxy, tmp_path)
    ingest(env)
    proxy.fail_requests(500, times=2)
    proxy.delay_responses(0.3, times=4)
    summary = json.loads(run_kho("fixity", "--json", env=env, check=True).stdout)
    assert summary["failed"] == 0 and summary["checked"] == 2
    assert (proxy.failures, proxy.delays) == (2, 4)


def test_audit_reports_a_lost_local_volume_as_unreachable_and_does_not_recreate_it(
    kho_home: Path, tmp_path: Path
) -> None:
    first, second = (tmp_path / "a").resolve(), (tmp_path / "b").resolve()
    env = {"KHO_STORAGE": f"{first.as_uri()},{second.as_uri()}"}
    ingest(env)
    second.rename(tmp_path / "b-unmounted")
    result = run_kho("fixity", "--json", env=env)
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    statuses = {c["location"]: c["status"] for c in summary["copies"]}
    assert statuses == {first.as_uri(): "ok", second.as_uri(): "unreachable"}
    assert not second.exists()  # nothing was "repaired" into an empty mount point

"""S3Storage against real S3 servers over HTTP, with network faults from a TCP proxy.

Every test that talks to a server runs twice (``s3_server``, ids ``moto`` and ``rgw``): against a
moto server process and against Ceph's RADOS Gateway on a throw-away cluster (tests/ceph_rgw.py).
Where a server differs from AWS the test says so for that server, with the reason (RGW_* below);
Kho's own read-back verification is what must catch damage on every one of them.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from storage_adapters.base import StorageError, StorageLocation
from storage_adapters.local import LocalStorage
from storage_adapters.registry import open_location
from storage_adapters.replicated import ReplicatedStorage
from storage_adapters.s3 import MIN_PART_SIZE, S3Storage
from tests.s3_server import FaultyProxy, S3Server

PART = MIN_PART_SIZE  # 5 MiB, the smallest part S3 accepts
VIETNAMESE_KEY = unicodedata.normalize("NFC", "aip/representations/rep-01/data/Quyết định.pdf")
# botocore's max_attempts counts retries: 2 means three attempts per request, then one more
# round from Kho's own part retry. Short timeouts so a hang fails the test instead of stalling it.
FAST: dict[str, Any] = {
    "part_size": PART,
    "max_attempts": 2,
    "part_retries": 1,
    "retry_backoff": 0.05,
    "connect_timeout": 2,
    "read_timeout": 10,
}
# Where Ceph RGW 16 (Debian 12) is not AWS; see /work/shared/reference/ceph-rgw.md.
RGW_NO_CHECKSUMS = "RGW 16 ignores x-amz-checksum-sha256 (a wrong one too) and returns none"
RGW_NO_SSE_S3 = "RGW 16 accepts x-amz-server-side-encryption: AES256 and stores the object in clear"
# Both RGW 16 and moto 5 ignore the Object Lock headers of CreateMultipartUpload: S3Storage locks
# a completed multipart object itself (test_object_lock_compliance, test_multipart_object_that_...).
# Where moto 5 is not AWS.
MOTO_RETENTION = "moto 5 lets a COMPLIANCE retention be shortened or turned into GOVERNANCE; AWS and RGW refuse"


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_aws(aws_env: None) -> None:
    """Every test here talks to the S3 server with dummy credentials (conftest's ``aws_env``)."""


@pytest.fixture
def raw(s3_server: S3Server, aws_env: None) -> Any:
    """A plain boto3 client straight to the server: Kho's view is checked against it, and it plays
    the operator who changes things behind Kho's back."""
    return boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1")


@pytest.fixture
def bucket_name() -> str:
    return f"kho-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def location(s3_server: S3Server, bucket_name: str) -> S3Storage:
    store = S3Storage(bucket_name, "archive", endpoint_url=s3_server.endpoint_url, **FAST)
    store.init()
    return store


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[FaultyProxy]:
    with FaultyProxy(s3_server.port) as running:
        yield running


@pytest.fixture
def proxied(proxy: FaultyProxy, location: S3Storage) -> S3Storage:
    """The same bucket as ``location``, reached through the fault-injecting proxy."""
    return S3Storage(location.bucket, location.prefix, endpoint_url=proxy.endpoint_url, **FAST)


@pytest.fixture(scope="session")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~11 MiB: three 5 MiB parts, the last one short."""
    path = tmp_path_factory.mktemp("s3-data") / "big.bin"
    path.write_bytes(os.urandom(2 * PART + 1024 * 1024 + 123))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def calls(client: Any) -> list[str]:
    """Record the S3 operations a client sends from now on."""
    seen: list[str] = []
    client.meta.events.register("before-call.s3", lambda model, **_: seen.append(model.name))
    return seen


def no_uploads(raw: Any, bucket: str) -> bool:
    return not raw.list_multipart_uploads(Bucket=bucket).get("Uploads")


def known_gap(request: pytest.FixtureRequest, server: S3Server, name: str, reason: str) -> None:
    """This test shows where ``server`` is not AWS: expected to fail there (strict: it must fail)."""
    if server.name == name:
        request.applymarker(pytest.mark.xfail(reason=f"{name}: {reason}", strict=True))


def locked_store(server: S3Server, bucket: str, query: str) -> S3Storage:
    store = S3Storage.from_url(f"s3://{bucket}/locked?endpoint_url={server.endpoint_url}&{query}", **FAST)
    report = store.init()
    assert report["ok"], report
    assert report["object_lock"]["enabled"] is True and report["versioning"] == "Enabled"
    return store


def denied(call: Any) -> bool:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "AccessDenied"
    return False


# -- round trips ---------------------------------------------------------------------------------


def test_multipart_round_trip(
    s3_server: S3Server, location: S3Storage, raw: Any, big_file: Path, tmp_path: Path
) -> None:
    key = "9f1c2d3e-aip/representations/rep-01/data/big.bin"
    digest = sha256(big_file)
    location.put(key, big_file)

    head = raw.head_object(Bucket=location.bucket, Key=f"archive/{key}", ChecksumMode="ENABLED")
    assert head["ETag"].endswith('-3"')  # three parts
    assert head["Metadata"]["sha256"] == digest
    assert head["ContentLength"] == big_file.stat().st_size
    if s3_server.name == "rgw":
        assert "ChecksumSHA256" not in head  # RGW_NO_CHECKSUMS: only Kho's read-back checks the bytes
    else:
        assert "ChecksumSHA256" in head  # per-part SHA-256 checksums went with the upload
    assert no_uploads(raw, location.bucket)

    assert location.exists(key)
    assert location.verify(key, digest)
    assert not location.verify(key, "0" * 64)

    target = tmp_path / "out" / "big.bin"
    target.parent.mkdir()
    location.get(key, target)
    assert sha256(target) == digest
    assert [p.name for p in target.parent.iterdir()] == ["big.bin"]  # no temporary file left

    with location.open(key) as stream:
        assert stream.read(10) == big_file.read_bytes()[:10]
        rest = stream.read()
    assert hashlib.sha256(big_file.read_bytes()[:10] + rest).hexdigest() == digest

    assert list(location.list()) == [key]
    assert list(location.list("9f1c2d3e-aip")) == [key]
    location.delete(key)
    assert not location.exists(key)
    assert not location.verify(key, digest)
    assert list(location.list()) == []


def test_small_and_empty_files_use_single_put(location: S3Storage, raw: Any, tmp_path: Path) -> None:
    seen = calls(location.client)
    small = write(tmp_path / "small.xml", b"<mets/>\n")
    empty = write(tmp_path / "empty", b"")
    location.put("aip-1/METS.xml", small)
    location.put("aip-1/empty", empty)
    assert seen.count("PutObject") == 2 and "CreateMultipartUpload" not in seen
    head = raw.head_object(Bucket=location.bucket, Key="archive/aip-1/METS.xml", ChecksumMode="ENABLED")
    assert head["Metadata"]["sha256"] == sha256(small)
    assert location.verify("aip-1/METS.xml", sha256(small))
    assert location.verify("aip-1/empty", hashlib.sha256(b"").hexdigest())
    assert sorted(location.list("aip-1")) == ["aip-1/METS.xml", "aip-1/empty"]


def test_vietnamese_keys(location: S3Storage, raw: Any, tmp_path: Path) -> None:
    source = write(tmp_path / "qd.pdf", "%PDF-1.7 Quyết định số 12/QĐ-UBND".encode())
    location.put(VIETNAMESE_KEY, source)
    stored = [o["Key"] for o in raw.list_objects_v2(Bucket=location.bucket)["Contents"]]
    assert stored == [f"archive/{VIETNAMESE_KEY}"]  # byte-exact NFC, below the location prefix
    assert list(location.list("aip")) == [VIETNAMESE_KEY]
    assert location.exists(VIETNAMESE_KEY)
    assert location.verify(VIETNAMESE_KEY, sha256(source))
    target = tmp_path / "Quyết định (bản sao).pdf"
    location.get(VIETNAMESE_KEY, target)
    assert target.read_bytes() == source.read_bytes()


def test_list_is_scoped_paginated_and_relative(location: S3Storage, raw: Any, tmp_path: Path) -> None:
    source = write(tmp_path / "f", b"x")
    keys = [f"aip-1/f{i}" for i in range(5)] + ["aip-10/f", "aip-2/sub/f"]
    for key in keys:
        location.put(key, source)
    raw.put_object(Bucket=location.bucket, Key="elsewhere/aip-1/f", Body=b"not ours")
    location._page_size = 2  # force several ListObjectsV2 pages
    seen = calls(location.client)
    assert sorted(location.list()) == sorted(keys)
    assert seen.count("ListObjectsV2") == 4
    assert sorted(location.list("aip-1")) == [f"aip-1/f{i}" for i in range(5)]  # not aip-10
    assert list(location.list("aip-2/sub/")) == ["aip-2/sub/f"]
    assert list(location.list("nothing-here")) == []


def test_reading_one_file_touches_only_that_object(location: S3Storage, big_file: Path, tmp_path: Path) -> None:
    for name in ("a.bin", "b.bin", "c.bin"):
        location.put(f"aip-9/data/{name}", big_file)
    seen = calls(location.client)
    with location.open("aip-9/data/b.bin") as stream:
        assert stream.read(4) == big_file.read_bytes()[:4]
    location.get("aip-9/data/c.bin", tmp_path / "c.bin")
    assert seen == ["GetObject", "GetObject"]  # no listing, nothing else downloaded


def test_unsafe_keys_rejected(location: S3Storage, tmp_path: Path) -> None:
    source = write(tmp_path / "f", b"x")
    for key in ("../x", "/abs", "a//b", "a/./b", ""):
        with pytest.raises(StorageError, match="unsafe"):
            location.put(key, source)
        with pytest.raises(StorageError, match="unsafe"):
            location.exists(key)
    with pytest.raises(StorageError, match="longer than"):
        location.put("a/" + "ệ" * 400, source)


def test_missing_source_leaves_nothing(location: S3Storage, raw: Any, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="aip-1/gone"):
        location.put("aip-1/gone", tmp_path / "does-not-exist")
    assert not location.exists("aip-1/gone")
    assert no_uploads(raw, location.bucket)


def test_source_changed_during_upload_is_aborted(location: S3Storage, raw: Any, tmp_path: Path) -> None:
    source = write(tmp_path / "moving.bin", os.urandom(2 * PART + 10))

    def tamper(params: dict[str, Any], **_: Any) -> None:
        if params.get("PartNumber") == 2:
            with open(source, "r+b") as handle:
                handle.seek(PART + 5)
                handle.write(b"!")

    location.client.meta.events.register("before-parameter-build.s3.UploadPart", tamper)
    with pytest.raises(StorageError, match="changed during the upload"):
        location.put("aip-1/moving.bin", source)
    assert not location.exists("aip-1/moving.bin")
    assert no_uploads(raw, location.bucket)


# -- bucket setup --------------------------------------------------------------------------------


def test_missing_bucket_is_an_error_not_a_new_bucket(s3_server: S3Server, raw: Any, tmp_path: Path) -> None:
    name = f"kho-missing-{uuid.uuid4().hex[:8]}"
    store = S3Storage(name, endpoint_url=s3_server.endpoint_url, **FAST)
    source = write(tmp_path / "f", b"x")
    for attempt in (
        lambda: store.put("aip/f", source),
        lambda: store.exists("aip/f"),
        lambda: store.verify("aip/f", "0" * 64),
        lambda: list(store.list()),
        lambda: store.get("aip/f", tmp_path / "out"),
    ):
        with pytest.raises(StorageError, match="kho storage init") as info:
            attempt()
        assert name in str(info.value)
    report = store.check()
    assert report["reachable"] and not report["bucket_exists"] and not report["ok"]
    assert "kho storage init" in report["problems"][0]
    assert name not in [b["Name"] for b in raw.list_buckets()["Buckets"]]


def test_init_and_check(s3_server: S3Server, raw: Any, bucket_name: str) -> None:
    store = S3Storage(bucket_name, "kho", endpoint_url=s3_server.endpoint_url, **FAST)
    report = store.init()
    assert report["created"] is True
    assert report["ok"] and report["problems"] == []
    assert report["reachable"] and report["bucket_exists"] and report["writable"]
    assert report["versioning"] == "Enabled"
    assert report["object_lock"]["enabled"] is False
    assert report["url"] == store.url and report["endpoint"] == s3_server.endpoint_url
    rules = raw.get_bucket_lifecycle_configuration(Bucket=bucket_name)["Rules"]
    assert rules[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] > 0
    # The probe object is gone, including its version: check() leaves no trace.
    versions = raw.list_object_versions(Bucket=bucket_name)
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")

    again = store.init()
    assert again["created"] is False and again["ok"]
    assert store.check()["ok"]


# -- versioning, Object Lock, encryption -----------------------------------------------------------


def test_versioning_keeps_overwritten_and_deleted_versions(location: S3Storage, raw: Any, tmp_path: Path) -> None:
    first = write(tmp_path / "v1", b"first version")
    second = write(tmp_path / "v2", b"second version")
    location.put("aip/f", first)
    location.put("aip/f", second)
    assert location.verify("aip/f", sha256(second)) and not location.verify("aip/f", sha256(first))
    location.delete("aip/f")  # a delete marker: gone for Kho, still there for an operator
    assert not location.exists("aip/f") and list(location.list()) == []
    listing = raw.list_object_versions(Bucket=location.bucket, Prefix="archive/aip/f")
    assert len(listing["DeleteMarkers"]) == 1
    bodies = {
        raw.get_object(Bucket=location.bucket, Key="archive/aip/f", VersionId=v["VersionId"])["Body"].read()
        for v in listing["Versions"]
    }
    assert bodies == {b"first version", b"second version"}


def test_object_lock_governance(s3_server: S3Server, raw: Any, bucket_name: str, tmp_path: Path) -> None:
    store = locked_store(s3_server, bucket_name, "object_lock=GOVERNANCE&retention_days=30")
    source = write(tmp_path / "f", b"kept for thirty days")
    store.put("aip/f", source)
    head = raw.head_object(Bucket=bucket_name, Key="locked/aip/f")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert timedelta(days=29) < until - datetime.now(UTC) <= timedelta(days=30)
    assert store.verify("aip/f", sha256(source))
    version = {"Bucket": bucket_name, "Key": "locked/aip/f", "VersionId": head["VersionId"]}
    assert denied(lambda: raw.delete_object(**version))
    raw.delete_object(**version, BypassGovernanceRetention=True)  # an operator with the bypass right can
    assert not store.exists("aip/f")


def test_object_lock_compliance(s3_server: S3Server, raw: Any, bucket_name: str, big_file: Path) -> None:
    """A multipart object locked in COMPLIANCE mode: no one removes the version, Kho's delete only
    hides it behind a delete marker, and the locked bytes still read back intact."""
    store = locked_store(s3_server, bucket_name, "object_lock=COMPLIANCE&retention_days=1")
    store.put("aip/big.bin", big_file)
    head = raw.head_object(Bucket=bucket_name, Key="locked/aip/big.bin")
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ETag"].endswith('-3"')
    assert timedelta(hours=23) < head["ObjectLockRetainUntilDate"] - datetime.now(UTC) <= timedelta(days=1)
    version = {"Bucket": bucket_name, "Key": "locked/aip/big.bin", "VersionId": head["VersionId"]}
    assert denied(lambda: raw.delete_object(**version))
    assert denied(lambda: raw.delete_object(**version, BypassGovernanceRetention=True))
    store.delete("aip/big.bin")
    assert not store.exists("aip/big.bin")
    kept = raw.get_object(**version)["Body"].read()
    assert hashlib.sha256(kept).hexdigest() == sha256(big_file)


def test_multipart_object_that_cannot_be_locked_is_not_left_behind(
    s3_server: S3Server, raw: Any, bucket_name: str, big_file: Path
) -> None:
    """moto and RGW ignore the lock headers of CreateMultipartUpload, so Kho sets the retention
    afterwards (AWS needs no second call). If that fails, the unlocked version is removed: a resume
    must upload and lock it again, not accept an unprotected copy."""
    store = locked_store(s3_server, bucket_name, "object_lock=COMPLIANCE&retention_days=1")

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no s3:PutObjectRetention"}},
                          "PutObjectRetention")

    store.client.meta.events.register("before-call.s3.PutObjectRetention", refuse)
    with pytest.raises(StorageError, match=r"cannot lock aip/big\.bin: AccessDenied"):
        store.put("aip/big.bin", big_file)
    assert not store.exists("aip/big.bin")
    assert not raw.list_object_versions(Bucket=bucket_name, Prefix="locked/aip/").get("Versions")

    store.client.meta.events.unregister("before-call.s3.PutObjectRetention", refuse)
    store.put("aip/big.bin", big_file)
    assert raw.head_object(Bucket=bucket_name, Key="locked/aip/big.bin")["ObjectLockMode"] == "COMPLIANCE"


def test_compliance_retention_cannot_be_shortened(
    request: pytest.FixtureRequest, s3_server: S3Server, raw: Any, bucket_name: str, tmp_path: Path
) -> None:
    known_gap(request, s3_server, "moto", MOTO_RETENTION)
    store = locked_store(s3_server, bucket_name, "object_lock=COMPLIANCE&retention_days=1")
    store.put("aip/f", write(tmp_path / "f", b"x"))
    head = raw.head_object(Bucket=bucket_name, Key="locked/aip/f")
    version = {"Bucket": bucket_name, "Key": "locked/aip/f", "VersionId": head["VersionId"]}
    until = head["ObjectLockRetainUntilDate"]
    assert denied(lambda: raw.put_object_retention(
        **version, Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(hours=1)}))
    assert denied(lambda: raw.put_object_retention(
        **version, Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until}))


def test_sse_s3_is_applied_or_reported(s3_server: S3Server, raw: Any, bucket_name: str, tmp_path: Path) -> None:
    """sse=AES256: the object is encrypted, or ``check`` says the server did not do it (RGW_NO_SSE_S3)
    instead of letting an operator believe the archive is encrypted."""
    store = S3Storage.from_url(f"s3://{bucket_name}/enc?endpoint_url={s3_server.endpoint_url}&sse=AES256", **FAST)
    report = store.init()
    source = write(tmp_path / "f", b"secret")
    store.put("aip/f", source)
    head = raw.head_object(Bucket=bucket_name, Key="enc/aip/f")
    assert store.verify("aip/f", sha256(source))
    if s3_server.name == "rgw":
        assert "ServerSideEncryption" not in head  # RGW_NO_SSE_S3: stored in clear
        assert not report["ok"]
        assert any("sse=AES256" in problem for problem in report["problems"]), report
    else:
        assert head["ServerSideEncryption"] == "AES256"
        assert report["ok"], report


def test_sse_kms(s3_server: S3Server, raw: Any, bucket_name: str, big_file: Path) -> None:
    """sse=aws:kms (RGW: its ``testing`` KMS back end, key ``kho-test-key``, see tests/ceph_rgw.py)."""
    url = f"s3://{bucket_name}/kms?endpoint_url={s3_server.endpoint_url}&sse=aws:kms&kms_key_id=kho-test-key"
    store = S3Storage.from_url(url, **FAST)
    assert store.init()["ok"]
    store.put("aip/big.bin", big_file)
    head = raw.head_object(Bucket=bucket_name, Key="kms/aip/big.bin")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == "kho-test-key"
    assert store.verify("aip/big.bin", sha256(big_file))


def test_object_lock_on_an_unlocked_bucket_is_reported(s3_server: S3Server, location: S3Storage, raw: Any) -> None:
    store = S3Storage(
        location.bucket,
        location.prefix,
        endpoint_url=s3_server.endpoint_url,
        object_lock="COMPLIANCE",
        retention_days=1,
        **FAST,
    )
    report = store.check()
    assert not report["ok"]
    assert any("Object Lock" in problem for problem in report["problems"])


# -- fixity --------------------------------------------------------------------------------------


def test_verify_reads_back_and_catches_tampering(location: S3Storage, raw: Any, tmp_path: Path) -> None:
    source = write(tmp_path / "f", b"original content")
    digest = sha256(source)
    location.put("aip/f", source)
    assert location.verify("aip/f", digest)

    # Overwritten behind Kho's back, metadata forged to look right: only a read-back notices.
    raw.put_object(Bucket=location.bucket, Key="archive/aip/f", Body=b"original cOntent", Metadata={"sha256": digest})
    assert location.exists("aip/f")
    assert not location.verify("aip/f", digest)

    raw.delete_object(Bucket=location.bucket, Key="archive/aip/f")
    assert not location.exists("aip/f")
    assert not location.verify("aip/f", digest)


def test_server_checksum_behaviour(s3_server: S3Server, raw: Any, location: S3Storage) -> None:
    """What the servers do with S3 checksums, so a server upgrade that changes it is noticed. AWS
    answers BadDigest to a wrong x-amz-checksum-sha256; moto 5 and RGW 16 store the object anyway,
    which is why Kho never trusts a server-side check and reads every copy back."""
    wrong = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # SHA-256 of b""
    raw.put_object(Bucket=location.bucket, Key="archive/wrong", Body=b"not empty", ChecksumSHA256=wrong)
    assert raw.get_object(Bucket=location.bucket, Key="archive/wrong")["Body"].read() == b"not empty"
    upload = raw.create_multipart_upload(Bucket=location.bucket, Key="archive/mp", ChecksumAlgorithm="SHA256")
    ids = {"Bucket": location.bucket, "Key": "archive/mp", "UploadId": upload["UploadId"]}
    part = raw.upload_part(**ids, PartNumber=1, Body=b"part", ChecksumSHA256=wrong)
    done = raw.complete_multipart_upload(
        **ids, MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1, "ChecksumSHA256": wrong}]}
    )
    head = raw.head_object(Bucket=location.bucket, Key="archive/mp", ChecksumMode="ENABLED")
    if s3_server.name == "rgw":
        assert done["ETag"] == ""  # the ETag is only in head_object; Kho uses neither
        assert "ChecksumSHA256" not in head  # RGW_NO_CHECKSUMS
        with pytest.raises(ClientError, match="500"):  # Kho never calls GetObjectAttributes
            raw.get_object_attributes(Bucket=location.bucket, Key="archive/mp", ObjectAttributes=["Checksum"])
    else:
        assert done["ETag"] == head["ETag"]


@pytest.mark.parametrize("size", [256 * 1024, 2 * PART + 17], ids=["single-put", "multipart"])
def test_damage_in_transit_never_counts_as_stored(
    s3_server: S3Server, proxy: FaultyProxy, proxied: S3Storage, location: S3Storage, raw: Any, tmp_path: Path,
    size: int,
) -> None:
    """One byte flipped on the wire. Over plain HTTP botocore signs the payload's SHA-256
    (x-amz-content-sha256): RGW checks it and refuses the request; moto checks nothing and keeps
    the damaged bytes, and then Kho's read-back refuses the copy. Either way the store fails and
    the next one (what ``kho resume`` does) puts a good copy in place."""
    source = write(tmp_path / "f", os.urandom(size))
    digest = sha256(source)
    replicated = ReplicatedStorage([proxied])
    proxied.exists("warm-up")  # bucket checked before the fault is armed
    proxy.corrupt_uploads_at(100 * 1024, times=1)  # inside the first body on that connection
    with pytest.raises(StorageError, match="aip/f") as info:
        replicated.store("aip/f", source, digest)
    assert proxy.corruptions == 1
    if s3_server.name == "rgw":
        assert "XAmzContentSHA256Mismatch" in str(info.value)
        assert not location.exists("aip/f")
    else:
        assert "read back with a different SHA-256" in str(info.value)
        assert location.exists("aip/f") and not location.verify("aip/f", digest)  # moto took it
    assert no_uploads(raw, location.bucket)

    replicated.store("aip/f", source, digest)
    assert location.verify("aip/f", digest)
    assert proxy.corruptions == 1


@pytest.mark.parametrize(("size", "operation"), [(256 * 1024, "PutObject"), (2 * PART + 17, "UploadPart")],
                         ids=["single-put", "multipart"])
def test_bytes_that_do_not_match_their_checksum_are_refused_by_the_read_back(
    location: S3Storage, tmp_path: Path, size: int, operation: str
) -> None:
    """Damage after Kho computed the SHA-256 but before the request was signed (bad memory, a bug):
    the bytes no longer match their x-amz-checksum-sha256. AWS answers BadDigest; RGW_NO_CHECKSUMS
    (and moto) store them. Kho's read-back is what refuses the copy, and a second store repairs it."""
    source = write(tmp_path / "f", os.urandom(size))
    digest = sha256(source)
    damaged: list[int] = []

    def damage(params: dict[str, Any], **_: Any) -> None:
        if not damaged and params.get("PartNumber", 1) == 1:
            data = bytearray(source.read_bytes()[: params["ContentLength"]])
            data[1000] ^= 0xFF
            params["Body"] = bytes(data)
            damaged.append(1)

    location.client.meta.events.register(f"before-parameter-build.s3.{operation}", damage)
    replicated = ReplicatedStorage([location])
    with pytest.raises(StorageError, match="aip/f read back with a different SHA-256"):
        replicated.store("aip/f", source, digest)
    assert damaged and location.exists("aip/f") and not location.verify("aip/f", digest)
    replicated.store("aip/f", source, digest)
    assert location.verify("aip/f", digest)


# -- network faults ------------------------------------------------------------------------------


@pytest.mark.timeout(120)  # a call that retried without end would hang here
def test_endpoint_down(proxy: FaultyProxy, proxied: S3Storage, location: S3Storage, tmp_path: Path) -> None:
    source = write(tmp_path / "f", b"x")
    location.put("aip/f", source)
    proxy.refuse()
    sent: list[str] = []  # every HTTP attempt botocore makes, retries included
    proxied.client.meta.events.register("before-send.s3", lambda request, **_: sent.append(request.method))
    most = (FAST["max_attempts"] + 1) * (FAST["part_retries"] + 1)  # botocore's attempts, times Kho's own rounds
    for attempt in (
        lambda: proxied.put("aip/g", source),
        lambda: proxied.exists("aip/f"),
        lambda: proxied.verify("aip/f", sha256(source)),
        lambda: list(proxied.list()),
        lambda: proxied.open("aip/f"),
    ):
        before = len(sent)
        with pytest.raises(StorageError) as info:
            attempt()
        assert proxied.url in str(info.value)
        assert 1 <= len(sent) - before <= most, f"gives up after a bounded number of attempts: {sent[before:]}"
    report = proxied.check()
    assert not report["reachable"] and not report["ok"]

    proxy.resume()
    assert proxied.exists("aip/f")  # the same location object recovers once the endpoint is back
    assert sorted(proxied.list()) == ["aip/f"]


def test_list_fails_loudly_when_endpoint_goes_down(proxy: FaultyProxy, proxied: S3Storage, tmp_path: Path) -> None:
    proxied.put("aip/f", write(tmp_path / "f", b"x"))  # bucket checked while reachable
    proxy.refuse()
    with pytest.raises(StorageError, match="cannot list"):
        list(proxied.list())


@pytest.mark.parametrize("cuts", [1, 3], ids=["botocore-retry", "kho-part-retry"])
def test_upload_cut_is_retried(proxy: FaultyProxy, proxied: S3Storage, raw: Any, big_file: Path, cuts: int) -> None:
    """One drop is absorbed by botocore; three exhaust botocore's attempts for that part, and
    Kho's own part retry sends the part again from its start."""
    proxied.exists("warm-up")  # bucket check done before the fault is armed
    proxy.cut_uploads_after(1024 * 1024, times=cuts)
    proxied.put("aip/big.bin", big_file)
    assert proxy.cuts == cuts
    assert proxied.verify("aip/big.bin", sha256(big_file))
    assert no_uploads(raw, proxied.bucket)


@pytest.mark.parametrize("size", [2 * 1024 * 1024, 2 * PART + 17], ids=["single-put", "multipart"])
def test_upload_cut_every_time_fails_cleanly(
    proxy: FaultyProxy, proxied: S3Storage, location: S3Storage, raw: Any, tmp_path: Path, size: int
) -> None:
    source = write(tmp_path / "f", os.urandom(size))
    proxied.exists("warm-up")
    proxy.cut_uploads_after(1024 * 1024)  # small requests (create, abort) still go through
    with pytest.raises(StorageError, match=r"cannot store aip/f") as info:
        proxied.put("aip/f", source)
    assert proxied.url in str(info.value)
    assert proxy.cuts >= 2  # botocore's retry and Kho's part retry both tried
    assert no_uploads(raw, location.bucket)
    assert not location.exists("aip/f")
    assert list(location.list()) == []


# -- URLs and the registry -----------------------------------------------------------------------


def test_from_url_parameters() -> None:
    url = (
        "s3://kho-archive/national/2024?endpoint_url=http://127.0.0.1:9000&region=ap-southeast-1"
        "&sse=aws:kms&kms_key_id=alias/kho&object_lock=COMPLIANCE&retention_days=3650&addressing_style=path"
    )
    store = S3Storage.from_url(url)
    assert (store.bucket, store.prefix) == ("kho-archive", "national/2024")
    assert store.endpoint_url == "http://127.0.0.1:9000"
    assert store.client.meta.region_name == "ap-southeast-1"
    assert (store.sse, store.kms_key_id) == ("aws:kms", "alias/kho")
    assert (store.object_lock, store.retention_days) == ("COMPLIANCE", 3650)
    assert store.url == url
    plain = S3Storage("kho-archive")
    assert plain.url == "s3://kho-archive" and plain.prefix == ""
    built = S3Storage("kho-archive", "x/y", endpoint_url="http://h:1", sse="AES256")
    assert S3Storage.from_url(built.url).url == built.url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://AKIAXXX:hunter2@kho-archive/p", "credentials do not belong"),
        ("s3://kho-archive?endpoint_url=http://user:hunter2@host:9000", "credentials do not belong"),
        ("s3://kho-archive?colour=blue", "unknown S3 URL parameter"),
        ("s3://kho-archive?endpoint_url=http://u:hunter2@h:9&colour=blue", "unknown S3 URL parameter"),
        ("s3://kho-archive?endpoint_url=http%3A%2F%2Fu%3Ahunter2%40h&colour=blue", "unknown S3 URL parameter"),
        ("s3://kho-archive?sse=rot13", "sse must be"),
        ("s3://kho-archive?object_lock=GOVERNANCE", "go together"),
        ("s3://kho-archive?object_lock=FOREVER&retention_days=1", "object_lock must be"),
        ("s3://kho-archive?retention_days=ten&object_lock=GOVERNANCE", "whole number"),
        ("s3://kho-archive?region=a&region=b", "more than once"),
        ("s3://Not_A_Bucket/p", "not a valid bucket name"),
        ("s3://kho-archive/../up", "unsafe key prefix"),
        ("s3:///no-bucket", "names no bucket"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message) as info:
        S3Storage.from_url(url)
    assert "hunter2" not in str(info.value)


def test_endpoint_from_environment(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, bucket_name: str, tmp_path: Path
) -> None:
    """Without ?endpoint_url, boto3's own AWS_ENDPOINT_URL applies (how MinIO users configure it)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    store = open_location(f"s3://{bucket_name}/p")
    assert isinstance(store, S3Storage)
    assert store.init()["ok"]
    source = write(tmp_path / "f", b"x")
    store.put("aip/f", source)
    assert store.verify("aip/f", sha256(source))


def test_registry(tmp_path: Path) -> None:
    assert isinstance(open_location(tmp_path.as_uri()), LocalStorage)
    s3 = open_location("s3://kho-archive/p?endpoint_url=http://127.0.0.1:9")
    assert isinstance(s3, S3Storage)
    assert isinstance(s3, StorageLocation)
    with pytest.raises(StorageError, match="unsupported storage URL scheme 'ftp'") as info:
        open_location("ftp://user:hunter2@example.org/x")
    assert "hunter2" not in str(info.value)


def test_storage_init_and_check_fail_when_the_server_ignores_encryption(
    s3_server: S3Server, bucket_name: str, kho_home: Path
) -> None:
    """`kho storage init` said "ready" (exit 0) even when the bucket would store records in clear."""
    from tests.conftest import run_kho

    env = {"KHO_STORAGE": f"s3://{bucket_name}/enc?endpoint_url={s3_server.endpoint_url}&sse=AES256",
           "KHO_HOME": str(kho_home)}
    init, check = run_kho("storage", "init", env=env), run_kho("storage", "check", env=env)
    if s3_server.name == "rgw":  # RGW_NO_SSE_S3
        assert init.returncode == 1 and "NOT READY" in init.stderr and "sse=AES256" in init.stderr
        assert check.returncode == 1 and "PROBLEMS" in check.stdout
    else:
        assert init.returncode == 0 and "ready" in init.stdout, init.stderr
        assert check.returncode == 0 and ": ok" in check.stdout, check.stdout

"""Repair object by object: copies damaged in different objects are all made whole from whichever
location holds a verified copy of each object; an object bad everywhere is named, and the rest is
still repaired. Bytes that do not hash right are never copied into a location."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import FIXTURE_SIPS, run_kho
from tests.reference.ocfl import assert_valid_ocfl, validate
from tests.s3_server import S3Server
from tests.stored import object_dir, stored_file, stored_key

SIP = FIXTURE_SIPS / "hoso-2024-ubnd-01"
METS = "METS.xml"
DC = "metadata/descriptive/dc.xml"
DOCX = "representations/rep-01/data/Tờ trình.docx"
TIF = "representations/rep-01/data/ảnh/Bản đồ.tif"


def ingest(env: dict[str, str]) -> str:
    return str(json.loads(run_kho("ingest", str(SIP), "--json", env=env, check=True).stdout)["aip_id"])


def locations(tmp_path: Path, count: int) -> tuple[dict[str, str], list[Path]]:
    roots = [(tmp_path / f"copy-{n}").resolve() for n in range(count)]
    return {"KHO_STORAGE": ",".join(root.as_uri() for root in roots)}, roots


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def fixity(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = run_kho("fixity", "--json", *args, env=env)
    return result.returncode, json.loads(result.stdout)


def events(env: dict[str, str], aip_id: str, kind: str) -> list[dict[str, Any]]:
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", env=env, check=True).stdout)
    return [e for e in shown["events"] if e["type"] == kind]


def bad_paths(summary: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """location -> path -> the bad-object record."""
    return {c["location"]: {b["path"]: b for b in c["bad"]} for c in summary["copies"]}


def test_a_repair_killed_part_way_is_finished_by_the_next_audit(kho_home: Path, tmp_path: Path) -> None:
    """Killed right after the first object was replaced (before any event or catalog change), the
    next audit finds the rest still damaged and repairs it; every object ends byte-identical at both
    locations, and the OCFL objects are valid."""
    env, (a, b) = locations(tmp_path, 2)
    aip_id = ingest(env)
    originals = {p: stored_file(a, aip_id, p).read_bytes() for p in (DC, METS)}
    flip(stored_file(a, aip_id, DC))
    flip(stored_file(b, aip_id, METS))
    killed = run_kho("fixity", "--json", env={**env, "KHO_FAULT": f"fixity:after-repair:{DC}"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert stored_file(a, aip_id, DC).read_bytes() == originals[DC], "the object replaced before the kill"
    code, summary = fixity(env)
    assert code == 0 and (summary["repaired"], summary["unrepaired"]) == (1, 0), summary
    for root in (a, b):
        for path, data in originals.items():
            assert stored_file(root, aip_id, path).read_bytes() == data
        assert_valid_ocfl(root)
    assert fixity(env)[1]["failed"] == 0 and run_kho("events", "verify", env=env).returncode == 0


def test_a_damaged_or_missing_ocfl_inventory_is_audited_and_repaired(kho_home: Path, tmp_path: Path) -> None:
    """The object's root inventory.json and its sidecar are checked like every file (the catalog keeps their
    digests) and replaced from a location whose copy verifies: the object is valid OCFL again."""
    env, (a, b) = locations(tmp_path, 2)
    aip_id = ingest(env)
    good = (object_dir(a, aip_id) / "inventory.json").read_bytes()
    flip(object_dir(a, aip_id) / "inventory.json")
    (object_dir(b, aip_id) / "inventory.json.sha512").unlink()
    assert not validate(a)[0] and not validate(b)[0]
    code, summary = fixity(env)
    assert code == 0 and (summary["failed"], summary["repaired"]) == (2, 2), summary
    assert {p for c in summary["copies"] for p in bad_paths(summary)[c["location"]]} == {
        "inventory.json", "inventory.json.sha512"}
    assert (object_dir(a, aip_id) / "inventory.json").read_bytes() == good
    assert_valid_ocfl(a) and assert_valid_ocfl(b)
    assert fixity(env)[1]["failed"] == 0


def test_two_copies_damaged_in_different_objects_are_both_repaired(kho_home: Path, tmp_path: Path) -> None:
    env, (a, b) = locations(tmp_path, 2)
    aip_id = ingest(env)
    originals = {p: stored_file(a, aip_id, p).read_bytes() for p in (DC, METS)}
    flip(stored_file(a, aip_id, DC))
    flip(stored_file(b, aip_id, METS))

    code, summary = fixity(env)

    assert code == 0, summary
    assert (summary["failed"], summary["repaired"], summary["unrepaired"]) == (2, 2, 0)
    bad = bad_paths(summary)
    assert bad[a.as_uri()][DC]["repaired_from"] == b.as_uri()
    assert bad[b.as_uri()][METS]["repaired_from"] == a.as_uri()
    assert {bad[a.as_uri()][DC]["problem"], bad[b.as_uri()][METS]["problem"]} == {"damaged"}
    for root in (a, b):
        for path, data in originals.items():
            assert stored_file(root, aip_id, path).read_bytes() == data
    repairs = [e for e in events(env, aip_id, "replication") if e["detail"].startswith("repair")]
    assert [(e["outcome"], e["detail"]) for e in repairs] == [
        ("success", f"repair of {DC} at {a.as_uri()} from {b.as_uri()}"),
        ("success", f"repair of {METS} at {b.as_uri()} from {a.as_uri()}"),
    ]
    exported = [json.loads(line) for line in run_kho("events", "export", aip_id, "--format", "json", env=env,
                                                      check=True).stdout.splitlines() if line.strip()]
    objects = [e["object_ids"] for e in exported if e["event_type"] == "replication" and
               e["detail"].startswith("repair")]
    assert len(objects) == 2 and all(ids[0] == aip_id and len(ids) == 2 for ids in objects)  # the AIP, the file
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", env=env, check=True).stdout)
    assert {loc["status"] for loc in shown["locations"]} == {"verified"}
    code, again = fixity(env)
    assert code == 0 and again["failed"] == 0  # and it stays repaired: no damage on the next run


def test_three_copies_damaged_and_missing_in_different_objects(kho_home: Path, tmp_path: Path) -> None:
    """Each object keeps one good copy somewhere, never the same location twice."""
    env, (a, b, c) = locations(tmp_path, 3)
    aip_id = ingest(env)
    originals = {p: stored_file(a, aip_id, p).read_bytes() for p in (DC, METS, DOCX, TIF)}
    flip(stored_file(a, aip_id, DC))
    stored_file(a, aip_id, DOCX).unlink()
    stored_file(b, aip_id, METS).unlink()
    flip(stored_file(b, aip_id, DOCX))
    stored_file(c, aip_id, DC).unlink()
    flip(stored_file(c, aip_id, TIF))  # good at a and b
    # DOCX is good only at c, DC only at b, METS at a and c.

    code, summary = fixity(env)

    assert code == 0, summary
    assert (summary["failed"], summary["repaired"], summary["unrepaired"]) == (3, 3, 0)
    bad = bad_paths(summary)
    assert bad[a.as_uri()][DOCX]["problem"] == "missing" and bad[a.as_uri()][DOCX]["repaired_from"] == c.as_uri()
    assert bad[a.as_uri()][DC]["repaired_from"] == b.as_uri()
    assert bad[b.as_uri()][METS]["problem"] == "missing" and bad[b.as_uri()][METS]["repaired_from"] == a.as_uri()
    assert bad[b.as_uri()][DOCX]["repaired_from"] == c.as_uri()
    assert bad[c.as_uri()][DC]["repaired_from"] == b.as_uri()
    assert bad[c.as_uri()][TIF]["repaired_from"] == a.as_uri()
    for root in (a, b, c):
        for path, data in originals.items():
            assert stored_file(root, aip_id, path).read_bytes() == data, (root, path)
    repairs = [e for e in events(env, aip_id, "replication") if e["detail"].startswith("repair")]
    assert len(repairs) == 6 and {e["outcome"] for e in repairs} == {"success"}
    assert fixity(env)[0] == 0


@pytest.mark.storage_left_damaged("one object is damaged at every location on purpose")
def test_object_bad_everywhere_is_named_and_the_rest_still_repaired(kho_home: Path, tmp_path: Path) -> None:
    env, (a, b) = locations(tmp_path, 2)
    aip_id = ingest(env)
    good_dc = stored_file(b, aip_id, DC).read_bytes()
    flip(stored_file(a, aip_id, METS))
    tampered = stored_file(b, aip_id, METS)
    tampered.write_bytes(tampered.read_bytes() + b"<!-- tampered -->")  # bad differently
    damaged_a = stored_file(a, aip_id, METS).read_bytes()
    damaged_b = stored_file(b, aip_id, METS).read_bytes()
    stored_file(a, aip_id, DC).unlink()

    result = run_kho("fixity", env=env)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "METS.xml: damaged" in result.stdout and "NOT REPAIRED" in result.stdout
    assert "no other location holds a verified copy" in result.stdout
    assert f"{DC}: missing" in result.stdout and f"repaired from {b.as_uri()}" in result.stdout
    assert stored_file(a, aip_id, DC).read_bytes() == good_dc  # the other object was still repaired
    # Neither damaged METS.xml was copied over the other: unverified bytes never go anywhere.
    assert stored_file(a, aip_id, METS).read_bytes() == damaged_a
    assert stored_file(b, aip_id, METS).read_bytes() == damaged_b
    repairs = [e for e in events(env, aip_id, "replication") if e["detail"].startswith("repair")]
    failed = [e for e in repairs if e["outcome"] == "failure"]
    assert len(failed) == 2 and all(METS in e["outcome_detail"] and "not repaired" in e["outcome_detail"]
                                    for e in failed)
    assert [e["detail"] for e in repairs if e["outcome"] == "success"] == [
        f"repair of {DC} at {a.as_uri()} from {b.as_uri()}"]

    code, summary = fixity(env)
    assert code == 1 and summary["unrepaired"] == 2  # every run says so, by name
    bad = bad_paths(summary)
    assert set(bad[a.as_uri()]) == set(bad[b.as_uri()]) == {METS}
    assert "no other location holds a verified copy" in bad[a.as_uri()][METS]["repair_error"]
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", env=env, check=True).stdout)
    assert {loc["status"] for loc in shown["locations"]} == {"damaged"}


@pytest.mark.storage_left_damaged("copies outside the audited location stay as the test damaged them")
def test_audit_of_one_location_repairs_from_an_unchecked_copy_only_after_verifying_it(
    kho_home: Path, tmp_path: Path
) -> None:
    """``--location`` audits one copy; the others are sources only if their bytes hash right."""
    env, (a, b) = locations(tmp_path, 2)
    aip_id = ingest(env)
    original = stored_file(b, aip_id, DC).read_bytes()
    flip(stored_file(a, aip_id, DC))
    flip(stored_file(a, aip_id, METS))
    stored_file(b, aip_id, METS).unlink()

    code, summary = fixity(env, "--location", a.as_uri())

    assert code == 1 and [c["location"] for c in summary["copies"]] == [a.as_uri()]
    bad = bad_paths(summary)[a.as_uri()]
    assert bad[DC]["repaired_from"] == b.as_uri() and stored_file(a, aip_id, DC).read_bytes() == original
    assert bad[METS]["repaired_from"] is None and f"{b.as_uri()}: missing" in bad[METS]["repair_error"]


@pytest.mark.storage_left_damaged("--no-repair: the damage is reported and left")
def test_no_repair_only_reports(kho_home: Path, tmp_path: Path) -> None:
    env, (a, _b) = locations(tmp_path, 2)
    aip_id = ingest(env)
    stored_file(a, aip_id, DC).unlink()
    code, summary = fixity(env, "--no-repair")
    assert code == 1 and (summary["failed"], summary["repaired"], summary["unrepaired"]) == (1, 0, 1)
    assert not stored_file(a, aip_id, DC).exists()
    assert [e for e in events(env, aip_id, "replication") if e["detail"].startswith("repair")] == []


def test_local_and_s3_copies_damaged_in_different_objects(
    s3_server: S3Server, kho_home: Path, tmp_path: Path
) -> None:
    bucket = f"kho-{uuid.uuid4().hex[:12]}"
    local = (tmp_path / "local").resolve()
    env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_ENDPOINT_URL": s3_server.endpoint_url, "KHO_STORAGE": f"s3://{bucket}/aips,{local.as_uri()}",
    }
    run_kho("storage", "init", env=env, check=True)
    aip_id = ingest(env)
    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    original_dc = stored_file(local, aip_id, DC).read_bytes()
    s3.put_object(Bucket=bucket, Key=f"aips/{stored_key(local, aip_id, DC)}", Body=b"altered behind Kho's back")
    s3.delete_object(Bucket=bucket, Key=f"aips/{stored_key(local, aip_id, DOCX)}")
    flip(stored_file(local, aip_id, METS))

    code, summary = fixity(env)

    assert code == 0, summary
    assert (summary["failed"], summary["repaired"], summary["unrepaired"]) == (2, 2, 0)
    copies = {c["location"].split(":")[0]: c for c in summary["copies"]}
    s3_bad = {b["path"]: b for b in copies["s3"]["bad"]}
    assert s3_bad[DC]["problem"] == "damaged" and s3_bad[DOCX]["problem"] == "missing"
    assert {b["repaired_from"] for b in s3_bad.values()} == {local.as_uri()}
    assert [b["repaired_from"] for b in copies["file"]["bad"]] == [copies["s3"]["location"]]
    assert s3.get_object(Bucket=bucket, Key=f"aips/{stored_key(local, aip_id, DC)}")["Body"].read() == original_dc
    assert fixity(env)[0] == 0


@pytest.fixture(autouse=True)
def _no_aws_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)

"""Fixity audit on real stored copies: damage is found, recorded, and repaired from a good copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_SIPS, run_kho
from tests.stored import stored_file


@pytest.fixture
def two_copies(kho_home: Path, tmp_path: Path) -> tuple[dict[str, str], str, Path, Path]:
    first, second = tmp_path / "copy-a", tmp_path / "copy-b"
    env = {"KHO_STORAGE": f"{first.as_uri()},{second.as_uri()}"}
    out = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json", env=env,
                             check=True).stdout)
    return env, str(out["aip_id"]), first, second


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_clean_audit_records_success_per_copy(two_copies: tuple[dict[str, str], str, Path, Path]) -> None:
    env, aip_id, _, _ = two_copies
    result = run_kho("fixity", "--json", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["checked"], summary["failed"], summary["repaired"]) == (2, 0, 0)
    assert summary["bytes"] > 2 * 14728
    events = json.loads(run_kho("aip", "show", aip_id, "--json", env=env, check=True).stdout)["events"]
    audits = [e for e in events if e["type"] == "fixity check" and e["detail"].startswith("audit")]
    assert len(audits) == 2 and {e["outcome"] for e in audits} == {"success"}


def test_flipped_byte_is_found_and_repaired(two_copies: tuple[dict[str, str], str, Path, Path]) -> None:
    env, aip_id, first, second = two_copies
    damaged = stored_file(second, aip_id, "representations/rep-01/data/Tờ trình.docx")
    good = stored_file(first, aip_id, "representations/rep-01/data/Tờ trình.docx").read_bytes()
    flip_a_byte(damaged)
    stored_file(second, aip_id, "metadata/descriptive/dc.xml").unlink()
    result = run_kho("fixity", "--aip", aip_id, "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert (summary["failed"], summary["repaired"], summary["unrepaired"]) == (1, 1, 0)
    bad = {b["path"]: b for c in summary["copies"] for b in c["bad"]}
    assert bad["representations/rep-01/data/Tờ trình.docx"]["found"] not in (None, bad[
        "representations/rep-01/data/Tờ trình.docx"]["expected"])
    assert bad["metadata/descriptive/dc.xml"]["error"] == "missing"
    assert damaged.read_bytes() == good
    assert stored_file(second, aip_id, "metadata/descriptive/dc.xml").is_file()
    events = json.loads(run_kho("aip", "show", aip_id, "--json", env=env, check=True).stdout)["events"]
    failures = [e for e in events if e["type"] == "fixity check" and e["outcome"] == "failure"]
    assert len(failures) == 1 and "found sha256:" in failures[0]["outcome_detail"]
    repairs = [e for e in events if e["type"] == "replication" and "repair" in e["detail"]]
    assert [e["outcome"] for e in repairs] == ["success", "success"]  # one event per object repaired
    assert {e["detail"] for e in repairs} == {
        f"repair of {path} at {second.as_uri()} from {first.as_uri()}"
        for path in ("representations/rep-01/data/Tờ trình.docx", "metadata/descriptive/dc.xml")}
    assert json.loads(run_kho("fixity", "--json", env=env).stdout)["failed"] == 0


@pytest.mark.storage_left_damaged("the only copy is damaged on purpose: nothing can repair it")
def test_single_damaged_copy_cannot_be_repaired_exit_1(kho_home: Path) -> None:
    out = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json", check=True).stdout)
    aip_id = str(out["aip_id"])
    flip_a_byte(stored_file(kho_home / "storage", aip_id, "METS.xml"))
    result = run_kho("fixity")
    assert result.returncode == 1
    assert "DAMAGED" in result.stdout and "METS.xml" in result.stdout
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    assert shown["locations"][0]["status"] == "damaged"


def test_share_per_run_resumes_with_the_least_recently_checked(kho_home: Path) -> None:
    ids = []
    for name in ("hoso-2023-sotnmt-02", "hoso-2024-ubnd-01"):
        ids.append(json.loads(run_kho("ingest", str(FIXTURE_SIPS / name), "--json", check=True).stdout)["aip_id"])
    first = json.loads(run_kho("fixity", "--max-aips", "1", "--json", check=True).stdout)
    second = json.loads(run_kho("fixity", "--max-aips", "1", "--json", check=True).stdout)
    assert {first["copies"][0]["aip_id"], second["copies"][0]["aip_id"]} == set(ids)
    none_due = json.loads(run_kho("fixity", "--older-than-days", "1", "--json", check=True).stdout)
    assert none_due["checked"] == 0


def test_storage_init_and_check(kho_home: Path, tmp_path: Path) -> None:
    env = {"KHO_STORAGE": (tmp_path / "new-location").as_uri()}
    assert run_kho("storage", "check", env=env).returncode == 1
    assert run_kho("storage", "init", env=env).returncode == 0
    report = json.loads(run_kho("storage", "check", "--json", env=env, check=True).stdout)
    assert report["reachable"] and report["writable"]


def test_local_copy_check_hashes_many_objects_and_names_each_bad_one(tmp_path: Path) -> None:
    """Enough objects for hash_many's worker pool: the damaged, missing and unreadable ones are each
    reported, the others counted with their bytes."""
    import hashlib

    from preservation.catalog import File
    from preservation.fixity import check_copy
    from storage_adapters.local import LocalStorage

    location = LocalStorage(tmp_path / "kho")
    aip_id = "3f1c9a52-0d0e-4c39-9d3b-0a8f4a4f2b11"
    files = []
    for number in range(300):
        data = f"tài liệu {number}\n".encode() * (number + 1)
        path = location.path_of(f"{aip_id}/representations/rep-01/data/tệp-{number:03d}.txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append(File(path=f"representations/rep-01/data/tệp-{number:03d}.txt",
                          sha256=hashlib.sha256(data).hexdigest(), size=len(data)))  # fmt: skip
    flip_a_byte(location.path_of(f"{aip_id}/{files[10].path}"))
    location.path_of(f"{aip_id}/{files[20].path}").unlink()
    unreadable = location.path_of(f"{aip_id}/{files[30].path}")
    unreadable.unlink()
    unreadable.mkdir()

    result = check_copy(location, aip_id, files)

    assert result.files == 300 and not result.ok
    bad = {b.path: b for b in result.bad}
    assert set(bad) == {files[10].path, files[20].path, files[30].path}
    assert bad[files[10].path].error == "checksum mismatch" and bad[files[10].path].found
    assert bad[files[20].path].error == "missing"
    assert bad[files[30].path].found is None and "Is a directory" in bad[files[30].path].error
    assert result.bytes == sum(f.size for i, f in enumerate(files) if i not in (20, 30))

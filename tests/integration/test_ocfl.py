"""AIPs as OCFL 1.1 objects (packages/ocfl.py, preservation/ocfl_store.py, decision 0014), checked by
the independent ``ocfl-validate.py`` of ocfl-py; ``kho storage upgrade`` from the layout before OCFL."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest

from packages import ocfl
from tests.conftest import FIXTURE_SIPS, run_kho
from tests.reference.ocfl import assert_valid_ocfl, validate
from tests.stored import all_stored, inventory, object_dir, stored_files

SIP = FIXTURE_SIPS / "hoso-2024-ubnd-01"


def test_object_root_follows_extension_0003() -> None:
    aip_id = "5675039e-7c20-4e4e-ac8c-558b724ce5ca"
    digest = hashlib.sha256(f"urn:uuid:{aip_id}".encode()).hexdigest()
    assert ocfl.object_root(aip_id) == f"{digest[:3]}/{digest[3:6]}/{digest[6:9]}/urn%3auuid%3a{aip_id}"


def test_next_version_keeps_the_head_and_stores_new_bytes_once() -> None:
    first, placed = ocfl.new_object("x").next_version(
        [ocfl.NewFile("METS.xml", "a" * 128, "1" * 64), ocfl.NewFile("data/b.txt", "b" * 128, "2" * 64),
         ocfl.NewFile("data/copy.txt", "b" * 128, "2" * 64)],
        created="2026-12-05T00:00:00+00:00", message="ingest", user={"name": "Kho", "address": "urn:kho"})
    assert placed["data/copy.txt"] == placed["data/b.txt"], "identical bytes stored once"
    second, placed2 = first.next_version(
        [ocfl.NewFile("METS.xml", "c" * 128, "3" * 64), ocfl.NewFile("revisions/METS.r1.xml", "a" * 128, "1" * 64)],
        created="2026-12-06T00:00:00+00:00", message="migration", user={"name": "Kho", "address": "urn:kho"})
    assert second.head == "v2" and first.head == "v1"
    assert placed2["METS.xml"] == "v2/content/METS.xml"
    assert placed2["revisions/METS.r1.xml"] == "v1/content/METS.xml", "the superseded METS is not stored again"
    assert second.state("v1") == first.state(), "v1's state is unchanged"
    again = ocfl.Inventory.from_json(second.to_json())
    assert again.to_json() == second.to_json()
    with pytest.raises(ocfl.InventoryError):
        first.next_version([ocfl.NewFile("METS.xml/inner", "d" * 128, "4" * 64)], created="x", message="",
                           user={})


@pytest.mark.storage_left_damaged("an extra file is put into an object to prove the validator sees it")
def test_the_validator_wrapper_catches_what_the_storage_root_check_misses(kho_home: Path) -> None:
    """ocfl-py's storage-root check passes a root whose object is broken (tests/reference/ocfl.py):
    the wrapper must not."""
    aip_id = json.loads(run_kho("ingest", str(SIP), "--json", check=True).stdout)["aip_id"]
    root = kho_home / "storage"
    assert_valid_ocfl(root)
    (object_dir(root, aip_id) / "v1" / "content" / "extra.txt").write_text("not in the manifest")
    ok, output = validate(root)
    assert not ok and "E023" in output


def _to_old_layout(home: Path, roots: list[Path], aip_id: str) -> dict[str, bytes]:
    """Turn an OCFL AIP back into the layout Kho wrote before OCFL, as an archive upgraded from an
    earlier release has it: ``<aip id>/<path>`` keys, no content paths or head in the catalog."""
    files = {path: source.read_bytes() for path, source in stored_files(roots[0], aip_id).items()}
    for root in roots:
        for path, data in files.items():
            target = root / aip_id / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        shutil.rmtree(root / ocfl.object_root(aip_id).split("/")[0])
        shutil.rmtree(root / "extensions")
        for name, _text in ocfl.storage_root_files():
            (root / name).unlink(missing_ok=True)
    with sqlite3.connect(home / "catalog.sqlite") as db:
        db.execute("UPDATE aips SET ocfl_head = NULL")
        db.execute("UPDATE files SET content_path = NULL, sha512 = NULL")
        db.execute("UPDATE storage_copies SET ocfl_head = NULL")
    return files


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kill", [None, "upgrade:after-location:1", "upgrade:after-commit", "upgrade:after-delete:3"])
def test_storage_upgrade_moves_old_aips_into_ocfl(tmp_path: Path, kill: str | None) -> None:
    home = tmp_path / "home"
    roots = [tmp_path / "a", tmp_path / "b"]
    env = {"KHO_HOME": str(home), "KHO_STORAGE": ",".join(r.as_uri() for r in roots)}
    aip_id = json.loads(run_kho("ingest", str(SIP), "--json", env=env, check=True).stdout)["aip_id"]
    files = _to_old_layout(home, roots, aip_id)
    assert run_kho("fixity", env=env).returncode == 0, "the old layout is still read and audited"
    planned = json.loads(run_kho("storage", "upgrade", "--dry-run", "--json", env=env, check=True).stdout)
    assert planned["pending"] == [aip_id] and not any((r / "0=ocfl_1.1").exists() for r in roots)

    if kill:
        killed = run_kho("storage", "upgrade", env={**env, "KHO_FAULT": kill})
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = json.loads(run_kho("storage", "upgrade", "--json", env=env, check=True).stdout)
    assert done["failed"] == {} and done["old_keys_kept"] == {}
    assert done["upgraded"] == ([] if kill in ("upgrade:after-commit", "upgrade:after-delete:3") else [aip_id])
    for root in roots:
        assert not (root / aip_id).exists(), "the old keys are gone"
        assert_valid_ocfl(root)
        assert inventory(root, aip_id)["head"] == "v1"
        assert {p: s.read_bytes() for p, s in stored_files(root, aip_id).items()} == files
        in_versions = [p for p in all_stored(root, aip_id)  # logs/ is the catalog journal (decision 0018)
                       if p.relative_to(object_dir(root, aip_id)).parts[0] != "logs"]
        assert len(in_versions) == len({hashlib.sha512(d).hexdigest() for d in files.values()}) + 5
    audit = json.loads(run_kho("fixity", "--json", env=env, check=True).stdout)
    assert audit["failed"] == 0 and audit["checked"] == 2
    assert run_kho("events", "verify", env=env).returncode == 0
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", env=env, check=True).stdout)
    upgrades = [e for e in shown["events"] if "kho storage upgrade" in e["detail"]]
    assert len(upgrades) == 1


@pytest.mark.storage_left_damaged("the inventory is edited behind Kho's back on purpose")
def test_a_commit_cut_between_inventory_and_sidecar_is_recognised_and_a_damaged_one_is_not(
    kho_home: Path, tmp_path: Path
) -> None:
    """The root inventory is written before its sidecar: killed in between, the new inventory equals the
    head version's own copy, whose sidecar matches, so it is the committed head. Any other mismatch is
    damage, reported with the object named."""
    from preservation import ocfl_store
    from storage_adapters.local import LocalStorage

    aip_id = json.loads(run_kho("ingest", str(SIP), "--json", check=True).stdout)["aip_id"]
    location = LocalStorage(kho_home / "storage")
    root = object_dir(kho_home / "storage", aip_id)
    (root / "inventory.json.sha512").write_text(f"{'0' * 128} inventory.json\n")  # the old head's sidecar
    assert ocfl_store.read_inventory(location, aip_id).head == "v1"
    data = json.loads((root / "inventory.json").read_text())
    data["versions"]["v1"]["message"] = "edited behind Kho's back"
    (root / "inventory.json").write_text(json.dumps(data))
    with pytest.raises(ocfl.InventoryError, match="does not match its sidecar"):
        ocfl_store.read_inventory(location, aip_id)
    assert ocfl_store.read_inventory(location, "00000000-0000-4000-8000-000000000000") is None


def test_staging_never_rewrites_a_committed_version(kho_home: Path, tmp_path: Path) -> None:
    from preservation import ocfl_store
    from storage_adapters.base import StorageError
    from storage_adapters.local import LocalStorage

    aip_id = json.loads(run_kho("ingest", str(SIP), "--json", check=True).stdout)["aip_id"]
    location = LocalStorage(kho_home / "storage")
    committed = ocfl_store.read_inventory(location, aip_id)
    assert committed is not None
    other, _placed = ocfl.new_object(aip_id).next_version(
        [ocfl.NewFile("METS.xml", "e" * 128, "5" * 64)], created="2026-12-05T00:00:00+00:00",
        message="a different v1", user={"name": "x", "address": "urn:x"})
    before = {p: p.read_bytes() for p in all_stored(kho_home / "storage", aip_id)}
    with pytest.raises(StorageError, match="already holds OCFL version v1"):
        ocfl_store.stage_version(location, aip_id, other, [], tmp_path / "scratch")
    assert {p: p.read_bytes() for p in all_stored(kho_home / "storage", aip_id)} == before
    assert ocfl_store.stage_version(location, aip_id, committed, [], tmp_path / "scratch") is True

"""A lost, emptied or damaged catalog is loud: every command that needs it stops and says what happened,
and nothing is ingested (a second AIP of the same SIP was made before)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_SIPS, run_kho
from tests.stored import object_dir

pytestmark = pytest.mark.timeout(300)
SIP = FIXTURE_SIPS / "hoso-2023-sotnmt-02"


def _stored(kho_home: Path) -> str:
    return str(json.loads(run_kho("ingest", str(SIP), "--json", check=True).stdout)["aip_id"])


@pytest.mark.parametrize("damage", ["deleted", "zero-bytes"])
def test_a_lost_catalog_stops_every_command(kho_home: Path, damage: str) -> None:
    aip_id = _stored(kho_home)
    catalog = kho_home / "catalog.sqlite"
    for extra in (catalog.with_name("catalog.sqlite-wal"), catalog.with_name("catalog.sqlite-shm")):
        extra.unlink(missing_ok=True)
    if damage == "deleted":
        catalog.unlink()
    else:
        catalog.write_bytes(b"")
    for command in (["aip", "list"], ["events", "verify"], ["fixity"], ["ingest", str(SIP)]):
        completed = run_kho(*command)
        assert completed.returncode == 1, (command, completed.stdout, completed.stderr)
        assert "knows no AIPs" in completed.stderr and aip_id in completed.stderr, completed.stderr
        assert "Traceback" not in completed.stderr
    objects = sorted({p.parent.name for p in (kho_home / "storage").rglob("0=ocfl_object_1.1")})
    assert objects == [object_dir(kho_home / "storage", aip_id).name], "no second AIP of the SIP"


def test_a_damaged_catalog_is_a_clear_error_not_a_traceback(kho_home: Path) -> None:
    _stored(kho_home)
    catalog = kho_home / "catalog.sqlite"
    run_kho("events", "verify", check=True)  # checkpoints the WAL into the file
    for extra in (catalog.with_name("catalog.sqlite-wal"), catalog.with_name("catalog.sqlite-shm")):
        extra.unlink(missing_ok=True)
    size = catalog.stat().st_size
    with open(catalog, "r+b") as handle:
        handle.truncate(size // 2)
        handle.seek(0)
        handle.write(os.urandom(100))  # the header too: not a database any more
    completed = run_kho("aip", "list")
    assert completed.returncode == 1 and "cannot be read" in completed.stderr, completed.stderr
    assert "backup" in completed.stderr and "Traceback" not in completed.stderr


def test_a_new_installation_with_empty_storage_just_works(kho_home: Path) -> None:
    assert run_kho("aip", "list").returncode == 0
    assert run_kho("events", "verify").returncode == 0

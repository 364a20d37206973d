"""A storage location with no space left (a real small tmpfs, so the kernel's own ENOSPC): ingest and
migration give a clear error, leave nothing half-stored (the object never committed is cleared, the
AIP keeps its committed version, valid), and finish when space returns."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_SIPS, run_kho
from tests.reference.ocfl import assert_valid_ocfl
from tests.stored import inventory, object_dir

SIP = FIXTURE_SIPS / "hoso-2023-sotnmt-02"


def _mount_small_tmpfs(where: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` at ``where``; the reason when this machine cannot."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    where.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                          capture_output=True, text=True, timeout=30, check=False)
    return None if done.returncode == 0 else f"mount -t tmpfs refused: {done.stderr.strip()}"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / f"small-{uuid.uuid4().hex[:8]}"
    why = _mount_small_tmpfs(where, "1m")
    if why:
        pytest.skip(why)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30, check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` until about ``leave`` bytes are free; returns the filler file."""
    filler = disk / "filler"
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    return filler


@pytest.mark.timeout(300)
def test_ingest_onto_a_full_location_is_resumable_and_leaves_nothing_behind(
    small_disk: Path, kho_home: Path
) -> None:
    storage = small_disk / "storage"
    env = {"KHO_STORAGE": storage.as_uri()}
    run_kho("storage", "init", env=env, check=True)
    filler = fill(small_disk, 16 * 1024)
    failed = run_kho("ingest", str(SIP), "--json", env=env)
    assert failed.returncode == 1
    assert "No space left on device" in failed.stderr and "kho resume" in failed.stderr, failed.stderr
    assert not [p for p in storage.rglob("*") if p.is_file() and "urn%3auuid" in p.as_posix()], \
        "the uncommitted object is cleared"
    assert run_kho("aip", "list", "--json", env=env).stdout.strip() == ""
    filler.unlink()  # space returns
    resumed = [json.loads(line) for line in run_kho("resume", "--json", env=env, check=True).stdout.splitlines()]
    assert [r["status"] for r in resumed] == ["stored"]
    assert_valid_ocfl(storage)
    assert json.loads(run_kho("fixity", "--json", env=env, check=True).stdout)["failed"] == 0


@pytest.mark.timeout(300)
def test_migration_onto_a_full_location_keeps_the_aip_and_finishes_later(
    small_disk: Path, kho_home: Path, png_to_tiff_policy: dict[str, str]
) -> None:
    storage = small_disk / "storage"
    env = {"KHO_STORAGE": storage.as_uri()}
    run_kho("storage", "init", env=env, check=True)
    aip_id = json.loads(run_kho("ingest", str(SIP), "--json", env=env, check=True).stdout)["aip_id"]
    filler = fill(small_disk, 8 * 1024)
    failed = json.loads(run_kho("migrate", "--json", env={**env, **png_to_tiff_policy}).stdout)
    assert "No space left on device" in failed["failed"][aip_id], failed
    assert inventory(storage, aip_id)["head"] == "v1"
    assert not (object_dir(storage, aip_id) / "v2").exists(), "the half-staged version is cleared"
    assert_valid_ocfl(storage)
    assert json.loads(run_kho("fixity", "--json", env=env, check=True).stdout)["failed"] == 0
    filler.unlink()
    done = json.loads(run_kho("migrate", "--json", env={**env, **png_to_tiff_policy}, check=True).stdout)
    assert done["migrated"] == [aip_id]
    assert inventory(storage, aip_id)["head"] == "v2"
    assert_valid_ocfl(storage)

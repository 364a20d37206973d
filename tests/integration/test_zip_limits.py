"""ZIP limits of E-ARK packages, each at and just over the limit: unpacked size, entry count,
compression ratio (a real 1 GiB-of-zeros bomb in a 1 MiB ZIP), and free space (a fault that passes,
never a rejection)."""

from __future__ import annotations

import errno
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from packages import eark
from packages.eark import ZIP_RATIO_FLOOR, ZipSpaceError, unpack_package, validate_eark
from tests.helpers import NAME, NOW, build_package, zip_folder


def _codes(report: eark.EarkReport) -> list[str]:
    return [p.code for p in report.failures]


def _bomb(path: Path, size: int) -> Path:
    """A package folder with one file of ``size`` zero bytes, deflated (about 1:1000)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as handle:
        handle.writestr(f"{NAME}/METS.xml", b"<mets/>")
        with handle.open(f"{NAME}/representations/rep1/data/zeros.bin", "w", force_zip64=True) as sink:
            block = bytes(1024 * 1024)
            for _ in range(size // len(block)):
                sink.write(block)
    return path


def test_entry_count_at_and_over_the_limit(tmp_path: Path) -> None:
    archive = zip_folder(build_package(tmp_path / "src"), tmp_path / "p.zip", f"{NAME}/")
    entries = len(zipfile.ZipFile(archive).infolist())
    assert "zip-too-many" not in _codes(validate_eark(archive, now=NOW, max_zip_entries=entries, workdir=tmp_path))
    assert _codes(validate_eark(archive, now=NOW, max_zip_entries=entries - 1, workdir=tmp_path)) == ["zip-too-many"]


def test_unpacked_size_at_and_over_the_limit(tmp_path: Path) -> None:
    archive = zip_folder(build_package(tmp_path / "src"), tmp_path / "p.zip", f"{NAME}/")
    size = sum(i.file_size for i in zipfile.ZipFile(archive).infolist())
    assert validate_eark(archive, now=NOW, max_zip_bytes=size, workdir=tmp_path).valid
    assert _codes(validate_eark(archive, now=NOW, max_zip_bytes=size - 1, workdir=tmp_path)) == ["zip-too-large"]


@pytest.mark.timeout(300)
def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path: Path) -> None:
    """The finding: 1 MiB of ZIP holding 1 GiB of zeros was unpacked in full and called valid."""
    archive = _bomb(tmp_path / "bomb.zip", 1024**3)
    assert archive.stat().st_size < 2 * 1024**2
    work = tmp_path / "work"
    work.mkdir()
    report = validate_eark(archive, now=NOW, workdir=work)
    assert _codes(report) == ["zip-ratio"]
    assert "KHO_ZIP_MAX_RATIO" in report.failures[0].detail and "1029:1" in report.failures[0].detail
    assert list(work.iterdir()) == []  # nothing written
    target = tmp_path / "sip"
    assert _codes(unpack_package(archive, target)) == ["zip-ratio"] and not target.exists()


def test_ratio_at_and_over_the_limit(tmp_path: Path) -> None:
    archive = _bomb(tmp_path / "bomb.zip", ZIP_RATIO_FLOOR + 1024**2)
    infos = zipfile.ZipFile(archive).infolist()
    ratio = sum(i.file_size for i in infos) / sum(i.compress_size for i in infos)
    at = unpack_package(archive, tmp_path / "at", max_ratio=ratio)
    assert "zip-ratio" not in _codes(at) and (tmp_path / "at").is_dir()
    over = unpack_package(archive, tmp_path / "over", max_ratio=ratio - 1)
    assert _codes(over) == ["zip-ratio"] and not (tmp_path / "over").exists()


def test_small_compressible_packages_are_not_refused_for_their_ratio(tmp_path: Path) -> None:
    archive = _bomb(tmp_path / "small.zip", 16 * 1024**2)  # 1000:1, but below the 64 MiB floor
    assert "zip-ratio" not in _codes(unpack_package(archive, tmp_path / "sip"))


def test_too_little_free_space_is_a_fault_that_passes_not_a_rejection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = zip_folder(build_package(tmp_path / "src"), tmp_path / "p.zip", f"{NAME}/")
    real = shutil.disk_usage

    def full(path: Any) -> Any:
        usage = real(path)
        return type(usage)(usage.total, usage.total, 1024)

    monkeypatch.setattr(eark.shutil, "disk_usage", full)
    with pytest.raises(ZipSpaceError) as raised:
        unpack_package(archive, tmp_path / "sip")
    assert raised.value.errno == errno.ENOSPC and "free" in str(raised.value)
    assert not (tmp_path / "sip").exists()
    monkeypatch.setattr(eark.shutil, "disk_usage", real)
    assert unpack_package(archive, tmp_path / "sip").valid  # room again: the same package unpacks


def test_disk_full_while_writing_is_a_fault_not_an_unreadable_zip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = zip_folder(build_package(tmp_path / "src"), tmp_path / "p.zip", f"{NAME}/")
    real_open = open

    def failing_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode == "xb":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing_open)
    with pytest.raises(ZipSpaceError):
        unpack_package(archive, tmp_path / "sip")


def test_an_ingest_on_a_full_disk_stays_resumable_and_rejects_nothing(
    kho_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preservation.config import load_settings
    from preservation.pipeline import Context, IngestError, ingest_path

    archive = zip_folder(build_package(tmp_path / "src"), tmp_path / f"{NAME}.zip", f"{NAME}/")
    real = shutil.disk_usage
    monkeypatch.setattr(eark.shutil, "disk_usage", lambda path: type(real(path))(10**12, 10**12, 1024))
    ctx = Context(load_settings())
    try:
        with pytest.raises(IngestError, match="free space"):
            ingest_path(ctx, archive)
        assert not any((kho_home / "failed").iterdir()), "a full disk is no reason to reject a package"
        assert not [p for p in (kho_home / "workspaces").iterdir()], "nothing half-made is left"
        monkeypatch.setattr(eark.shutil, "disk_usage", real)
        assert ingest_path(ctx, archive).status == "stored"
    finally:
        ctx.close()


def test_sip_validate_unpacks_inside_kho_home(kho_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The finding: `kho sip validate` unpacked into a kho-eark-* folder of the system's /tmp."""
    from preservation import cli

    archive = zip_folder(build_package(tmp_path / "src"), tmp_path / f"{NAME}.zip", f"{NAME}/")
    targets: list[Path] = []
    real = eark._unpack_zip

    def spy(archive: Path, target: Path, *args: Any) -> Any:
        targets.append(target)
        return real(archive, target, *args)

    monkeypatch.setattr(eark, "_unpack_zip", spy)
    assert cli.main(["sip", "validate", str(archive)]) == 0
    assert targets and all(t.is_relative_to(kho_home / "tmp") for t in targets), targets
    assert (kho_home / "tmp").stat().st_mode & 0o077 == 0

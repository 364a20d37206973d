"""Intake: SIPs become workspaces, by copy (``kho ingest PATH``) or by claiming them from the watched
ingest folder (an atomic rename, so that of several scanners exactly one takes a SIP)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import time
import uuid
from pathlib import Path
from typing import Any

from packages import eark, premis
from preservation.config import Settings
from preservation.pipeline.context import Context
from preservation.pipeline.recording import log
from preservation.pipeline.results import IngestError
from preservation.workspace import (
    Workspace,
    find_workspace_for_source,
    remove_stale_partials,
)


def _new_state(aip_id: str, sip_name: str, source: Path, mode: str, profile: str) -> dict[str, Any]:
    return {
        "aip_id": aip_id,
        "sip_name": sip_name,
        "source": str(source),
        "mode": mode,
        "profile": profile,
        "created_at": premis.now_iso(),
        "done": [],
        "failures": [],
    }


def start_copy(
    ctx: Context, source: Path, profile: str = "bagit", hold: contextlib.ExitStack | None = None
) -> Workspace:
    """Workspace for ``kho ingest PATH``: the SIP is copied, never changed. An interrupted
    ingest of the same PATH is continued rather than started again.

    With ``hold``, the new workspace's lock stays held (released when ``hold`` closes), so that no
    ``kho resume`` can take the workspace between its creation and the first step."""
    source = source.resolve()
    existing = find_workspace_for_source(ctx.settings, source)
    if existing is not None:
        log.info("continuing the interrupted ingest of %s in workspace %s", source, existing.path.name)
        return existing
    remove_stale_partials(ctx.settings)
    aip_id = str(uuid.uuid4())
    partial = ctx.settings.workspaces_dir / f".new-{aip_id}"
    partial.mkdir(parents=True)
    workspace = Workspace(partial)
    with contextlib.ExitStack() as local:
        (hold or local).enter_context(workspace.locked())
        state = _new_state(aip_id, source.name, source, "copy", profile)
        state["kind"] = "eark" if eark.is_eark_package(source) else "bagit"
        if source.is_file():
            if state["kind"] != "eark":
                shutil.rmtree(partial, ignore_errors=True)
                raise IngestError(
                    f"{source} is neither a BagIt folder nor an E-ARK package (folder or ZIP) / "
                    "không phải gói BagIt hay gói E-ARK", resumable=False)
            try:
                unpacked = eark.unpack_package(
                    source, workspace.sip_dir, max_bytes=ctx.settings.zip_max_bytes,
                    max_entries=ctx.settings.zip_max_entries, max_ratio=ctx.settings.zip_max_ratio,
                )
            except eark.ZipSpaceError as exc:
                # the disk, not the package: nothing is rejected, the same command works once there is room
                shutil.rmtree(partial, ignore_errors=True)
                raise IngestError(f"{exc}; free space and run the same command again / giải phóng dung lượng "
                                  "rồi chạy lại lệnh", resumable=False) from exc
            state["unpack_failures"] = [p.text for p in unpacked.failures]
            workspace.sip_dir.mkdir(exist_ok=True)
        try:
            if not source.is_file():
                shutil.copytree(source, workspace.sip_dir, symlinks=True, copy_function=_link_or_copy)
        except shutil.Error as exc:
            # Special files or unreadable entries were not copied: validation must name them, so
            # the copy is never mistaken for the SIP that was submitted.
            state["copy_problems"] = [_copy_problem(source, Path(src), str(why)) for src, _dst, why in exc.args[0]]
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise IngestError(f"cannot read SIP {source}: {exc}", resumable=False) from exc
        workspace.save_state(state)
        final = ctx.settings.workspaces_dir / aip_id
        os.rename(partial, final)
    return Workspace(final)


def _link_or_copy(source: str, target: str) -> None:
    """Hard-link a SIP file into the workspace when it is on the same file system (no bytes copied;
    Kho only ever reads it, and any later change is caught by the manifest check or the store's
    read-back), else copy it."""
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, target, follow_symlinks=False)


def _copy_problem(root: Path, path: Path, why: str) -> dict[str, str]:
    try:
        mode = path.lstat().st_mode
        code = "unreadable" if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode) else "special-file"
    except OSError:
        code = "unreadable"
    return {
        "code": code,
        "path": path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path),
        "detail": why,
    }


def claim(ctx: Context, sip_path: Path, profile: str = "bagit") -> Workspace | None:
    """Take a SIP out of the watched ingest folder by renaming it (atomic): of several
    scanners racing for the same SIP exactly one wins; the others get ``None``."""
    aip_id = str(uuid.uuid4())
    staging = sip_path.parent / f".kho-claimed-{aip_id}"
    try:
        os.rename(sip_path, staging)
    except FileNotFoundError:
        return None
    target = ctx.settings.workspaces_dir / aip_id
    target.mkdir(parents=True)
    workspace = Workspace(target)
    state = _new_state(aip_id, sip_path.name, staging, "claim", profile)
    state["kind"] = "eark" if eark.is_eark_package(staging) else "bagit"
    if staging.is_file():  # an E-ARK ZIP (or a file that is not a package: validation says so)
        state["kind"] = "eark"
        state["submitted"] = SUBMITTED_ZIP
        workspace.save_state(state)
        _move_claimed(staging, workspace.path / SUBMITTED_ZIP)
        try:
            _unpack_claimed(ctx, workspace)
        except IngestError as exc:  # no room: the run's first step unpacks again (and says why it cannot)
            log.warning("claimed %s but could not unpack it yet: %s", sip_path.name, exc)
        return workspace
    workspace.save_state(state)
    _move_claimed(staging, workspace.sip_dir)
    return workspace


SUBMITTED_ZIP = "submitted.zip"


def _unpack_claimed(ctx: Context, ws: Workspace) -> None:
    """Unpack a claimed ZIP into the workspace's SIP folder; the ZIP stays beside it (it is what was
    submitted, and goes to ``failed/`` with the report if the package is rejected)."""
    try:
        unpacked = eark.unpack_package(
            ws.path / SUBMITTED_ZIP, ws.sip_dir, max_bytes=ctx.settings.zip_max_bytes,
            max_entries=ctx.settings.zip_max_entries, max_ratio=ctx.settings.zip_max_ratio,
        )
    except eark.ZipSpaceError as exc:
        raise IngestError(f"{exc}; free space, the ingest resumes / giải phóng dung lượng để tiếp tục") from exc
    state = ws.state()
    state["unpack_failures"] = [p.text for p in unpacked.failures]
    ws.save_state(state)
    ws.sip_dir.mkdir(exist_ok=True)


def _move_claimed(staging: Path, destination: Path) -> None:
    try:
        os.rename(staging, destination)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        if staging.is_file():
            shutil.copy2(staging, destination)
            staging.unlink()
            return
        shutil.copytree(staging, destination, symlinks=True)
        shutil.rmtree(staging)


def finish_claim(ctx: Context, ws: Workspace) -> None:
    """A crash between the two renames of ``claim`` leaves the SIP in staging: move it on; a claimed ZIP
    not unpacked yet (crash, or no room then) is unpacked now."""
    state = ws.state()
    staging = Path(state["source"])
    if state.get("submitted") == SUBMITTED_ZIP:
        if not (ws.path / SUBMITTED_ZIP).exists() and staging.exists():
            _move_claimed(staging, ws.path / SUBMITTED_ZIP)
        if not ws.sip_dir.exists():
            _unpack_claimed(ctx, ws)
        return
    if state["mode"] == "claim" and not ws.sip_dir.exists() and staging.exists():
        _move_claimed(staging, ws.sip_dir)


def ready_sips(settings: Settings, now: float | None = None) -> list[Path]:
    """Folders (BagIt or E-ARK) and ``.zip`` files (E-ARK) in the ingest folder that nobody wrote to for
    ``settle_seconds``; symbolic links are never taken."""
    now = time.time() if now is None else now
    ready: list[Path] = []
    if not settings.ingest_dir.is_dir():
        return ready
    for entry in sorted(settings.ingest_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            # never followed: a link would ingest (and move away) whatever it points to, anywhere
            log.warning("ingest folder: %s is a symbolic link, not taken / là liên kết tượng trưng, bỏ qua", entry)
            continue
        if not entry.is_dir() and not (entry.is_file() and entry.suffix.lower() == ".zip"):
            continue
        newest = entry.lstat().st_mtime
        for dirpath, dirnames, filenames in os.walk(entry):
            for name in dirnames + filenames:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
        if now - newest >= settings.settle_seconds:
            ready.append(entry)
    return ready


# -- steps ----------------------------------------------------------------------------------------

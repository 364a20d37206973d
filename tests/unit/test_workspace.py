"""preservation/workspace.py: what makes an ingest resumable and keeps two processes off one AIP.

A step's completion is atomic (a crash leaves the step not done, never half-recorded) and idempotent (doing
it again leaves one record); the workspace lock excludes a second holder, in this process or another, and
is free again once its holder is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from preservation import workspace as ws_module
from preservation.config import Settings
from preservation.workspace import (
    Workspace,
    WorkspaceBusy,
    copy_sparse,
    find_workspace_for_source,
    fitting_name,
    iter_workspaces,
    remove_stale_partials,
    source_lock_path,
    source_locked,
    write_json_atomic,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(settings: Settings) -> Workspace:
    path = settings.workspaces_dir / "aip-1"
    path.mkdir(parents=True)
    workspace = Workspace(path)
    workspace.save_state({"aip_id": "aip-1", "source": "/sips/a", "done": []})
    return workspace


def in_thread(action: Any) -> BaseException | None:
    """Run ``action`` in another thread; what it raised (None if nothing)."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return raised[0] if raised else None


def take(lock: Any) -> None:
    """Take and release a lock (a context manager)."""
    with lock:
        pass


def test_a_completed_step_is_recorded_once_with_its_output_and_events(ws: Workspace) -> None:
    events = [{"id": "e1", "event_type": "virus check"}]
    ws.complete_step("virus_check", events, {"files": ["data/Quyết định.pdf"]})
    ws.complete_step("virus_check", events, {"files": ["data/Quyết định.pdf"]})  # a rerun after a crash
    assert ws.is_done("virus_check") and ws.state()["done"] == ["virus_check"]
    assert ws.output("virus_check") == {"files": ["data/Quyết định.pdf"]}
    ws.complete_step("identify", [{"id": "e2"}])
    ws.record_failure({"id": "f1"})
    assert [e["id"] for e in ws.events(["virus_check", "identify", "store"])] == ["e1", "e2", "f1"]
    assert ws.aip_id == "aip-1" and ws.state()["updated_at"] > 0


def test_a_crash_before_the_state_is_saved_leaves_the_step_not_done(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def crash_on_state(src: Any, dst: Any) -> None:
        if Path(dst).name == "state.json":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(ws_module.os, "replace", crash_on_state)
    with pytest.raises(OSError):
        ws.complete_step("identify", [{"id": "e1"}], {"formats": {}})
    monkeypatch.setattr(ws_module.os, "replace", real_replace)
    assert not ws.is_done("identify"), "the output was written, but the step is not done"
    assert json.loads(ws.state_path.read_text(encoding="utf-8"))["done"] == [], "state.json whole, as before"
    ws.complete_step("identify", [{"id": "e2"}], {"formats": {"fmt/18": 1}})  # the rerun overwrites both
    assert ws.is_done("identify") and ws.output("identify") == {"formats": {"fmt/18": 1}}
    assert [e["id"] for e in ws.events(["identify"])] == ["e2"]


def test_an_atomic_write_is_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "state.json"
    write_json_atomic(target, {"v": 1})

    def failing_fsync(_fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(ws_module.os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        write_json_atomic(target, {"v": 2, "big": "x" * 1_000_000})
    assert json.loads(target.read_text(encoding="utf-8")) == {"v": 1}


def test_the_lock_excludes_a_second_holder_in_another_thread(ws: Workspace) -> None:
    with ws.locked():
        with ws.locked():  # re-entrant in the thread that holds it (a step inside run_pipeline)
            pass
        raised = in_thread(lambda: take(ws.locked()))
        assert isinstance(raised, WorkspaceBusy)
        assert "aip-1" in str(raised) and "gói đang được" in str(raised), "English and Vietnamese"
    assert in_thread(lambda: take(ws.locked())) is None, "free once released"


@pytest.fixture
def holder(ws: Workspace) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the workspace lock until its stdin closes."""
    code = ("import sys; from pathlib import Path; from preservation.workspace import Workspace\n"
            "with Workspace(Path(sys.argv[1])).locked():\n    print('held', flush=True); sys.stdin.read()\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(ws.path)], cwd=ROOT, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline() == "held\n"
        yield process
    finally:
        process.kill()
        process.wait(timeout=30)


@pytest.mark.timeout(60)
def test_the_lock_excludes_another_process_and_names_it(ws: Workspace, holder: subprocess.Popen[str]) -> None:
    with pytest.raises(WorkspaceBusy) as busy, ws.locked():
        pass
    assert busy.value.holder["pid"] == holder.pid and str(holder.pid) in str(busy.value)
    assert ws.is_locked() and ws.holder()["pid"] == holder.pid  # type: ignore[index]


@pytest.mark.timeout(60)
def test_a_killed_holder_does_not_keep_the_workspace(ws: Workspace, holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.wait(timeout=30)
    assert not ws.is_locked() and ws.holder() is None
    with ws.locked():
        assert ws.holder()["pid"] == os.getpid()  # type: ignore[index]


def test_one_ingest_per_source_path(settings: Settings) -> None:
    source = Path("/sips/hồ sơ 01")
    with source_locked(settings, source):
        raised = in_thread(lambda: take(source_locked(settings, source)))
        assert isinstance(raised, WorkspaceBusy) and "already being ingested" in str(raised)
        assert "đang được nạp" in str(raised)
        assert in_thread(lambda: take(source_locked(settings, Path("/sips/khác")))) is None, "another SIP is free"
    assert not source_lock_path(settings, source).exists(), "the lock file goes with its holder"


def test_finding_workspaces(settings: Settings, ws: Workspace) -> None:
    (settings.workspaces_dir / ".new-x").mkdir()
    (settings.workspaces_dir / "no-state").mkdir()
    broken = settings.workspaces_dir / "broken"
    broken.mkdir()
    (broken / "state.json").write_text("{not json", encoding="utf-8")
    assert [w.path.name for w in iter_workspaces(settings)] == ["aip-1", "broken"]
    found = find_workspace_for_source(settings, Path("/sips/a"))
    assert found is not None and found.path == ws.path, "a broken state.json is skipped, not fatal"
    assert find_workspace_for_source(settings, Path("/sips/b")) is None


def test_stale_partial_workspaces_go_only_when_old_and_free(settings: Settings) -> None:
    old, young, held = (settings.workspaces_dir / f".new-{n}" for n in ("old", "young", "held"))
    for path in (old, young, held):
        path.mkdir(parents=True)
        (path / "sip").mkdir()
    long_ago = time.time() - 3600
    for path in (old, held):
        os.utime(path, (long_ago, long_ago))
    with Workspace(held).locked():
        os.utime(held, (long_ago, long_ago))  # taking the lock wrote its holder file into the folder
        assert in_thread(lambda: remove_stale_partials(settings)) is None
    assert not old.exists(), "an abandoned copy is cleaned up"
    assert young.exists(), "a copy that may be between mkdir and its lock is left alone"
    assert held.exists(), "a copy in progress is never deleted under its owner"


def test_copy_sparse_keeps_holes_and_refuses_special_files(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse.bin"
    with open(sparse, "wb") as handle:
        handle.write(b"head")
        handle.seek(64 * 1024 * 1024)
        handle.write(b"tail")
    target = tmp_path / "copy.bin"
    copy_sparse(str(sparse), str(target))
    assert target.stat().st_size == sparse.stat().st_size
    with open(sparse, "rb") as a, open(target, "rb") as b:
        assert a.read(4) == b.read(4) == b"head"
        a.seek(-4, os.SEEK_END)
        b.seek(-4, os.SEEK_END)
        assert a.read() == b.read() == b"tail"
    assert target.stat().st_blocks * 512 < 8 * 1024 * 1024, "64 MiB of holes did not become 64 MiB of zeros"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(shutil.SpecialFileError):
        copy_sparse(str(fifo), str(tmp_path / "never"))  # opening it would block for ever


def test_fitting_name_cuts_at_a_character_boundary() -> None:
    name = "Quyết định " * 40
    fitted = fitting_name(name, ".partial")
    assert len(fitted.encode("utf-8")) <= 255 and fitted.endswith(".partial")
    assert fitted[:-len(".partial")] == name[:len(fitted) - len(".partial")], "a prefix of whole characters"
    assert fitting_name("ngắn", ".x") == "ngắn.x"

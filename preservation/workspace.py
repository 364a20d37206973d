"""Ingest workspaces: one directory per AIP being built, holding its state between steps.

A workspace is what makes an ingest resumable: the AIP UUID, the steps already done and
each step's events are persisted here (atomically, by write-then-rename), so a process
killed at any point leaves something the next ``kho resume`` (or DAG run) can finish.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from preservation.config import Settings
from preservation.procutil import LockBusy, describe_holder, hold_lock, lock_holder

STATE = "state.json"
LOCK = ".lock"
PARTIAL_GRACE_SECONDS = 120.0  # a ``.new-*`` folder younger than this may still be between mkdir and lock


class WorkspaceBusy(RuntimeError):
    """Another process holds this workspace (or is ingesting the same source); ``holder`` names it."""

    def __init__(self, message: str, holder: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.holder = holder or {}


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))  # no indent: the C encoder, 10x faster
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """``data`` at ``path`` whole or not at all (a temporary file, flushed, renamed into place)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_lines_atomic(path: Path, records: Iterable[Any]) -> None:
    """``records`` as JSON lines at ``path``, whole or not at all."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
            handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_lines(path: Path) -> Iterator[Any]:
    """The records of a JSON-lines file, one at a time."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


@runtime_checkable
class SpooledEvents(Protocol):
    """Events a step wrote to a file of its own as it went (the pipeline's event recorder)."""

    def commit_to(self, target: Path) -> None: ...


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@dataclass
class Workspace:
    path: Path

    @property
    def sip_dir(self) -> Path:
        return self.path / "sip"

    @property
    def work_dir(self) -> Path:
        return self.path / "work"

    @property
    def aip_dir(self) -> Path:
        return self.path / "aip"

    @property
    def events_dir(self) -> Path:
        return self.path / "events"

    @property
    def state_path(self) -> Path:
        return self.path / STATE

    def state(self) -> dict[str, Any]:
        return dict(read_json(self.state_path))

    def save_state(self, state: dict[str, Any]) -> None:
        state["updated_at"] = time.time()
        write_json_atomic(self.state_path, state)

    @property
    def aip_id(self) -> str:
        return str(self.state()["aip_id"])

    def is_done(self, step: str) -> bool:
        return step in self.state().get("done", [])

    def complete_step(self, step: str, events: Iterable[dict[str, Any]] | SpooledEvents, output: Any = None) -> None:
        """Persist a step's output and events, then mark it done (in that order: a crash in
        between leaves the step not done, and re-running it overwrites both files).

        Events are JSON lines; a step's recorder that spooled them to disk hands over its file."""
        self.work_dir.mkdir(exist_ok=True)
        self.events_dir.mkdir(exist_ok=True)
        if output is not None:
            write_json_atomic(self.work_dir / f"{step}.json", output)
        target = self.events_dir / f"{step}.jsonl"
        if isinstance(events, SpooledEvents):
            events.commit_to(target)
        else:
            write_lines_atomic(target, events)
        state = self.state()
        if step not in state.setdefault("done", []):
            state["done"].append(step)
        self.save_state(state)

    def output(self, step: str) -> Any:
        return read_json(self.work_dir / f"{step}.json")

    def iter_events(self, steps: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Committed events of the given steps, in pipeline order, then any recorded failures, one at a time.
        (A workspace of an earlier Kho kept each step's events as one JSON array: read too.)"""
        for step in steps:
            lines = self.events_dir / f"{step}.jsonl"
            if lines.exists():
                yield from read_lines(lines)
            elif (self.events_dir / f"{step}.json").exists():
                yield from read_json(self.events_dir / f"{step}.json")
        yield from self.state().get("failures", [])

    def events(self, steps: Iterable[str]) -> list[dict[str, Any]]:
        """Committed events of the given steps, in pipeline order, then any recorded failures."""
        return list(self.iter_events(steps))

    def committed_events(self) -> list[dict[str, Any]]:
        """Events of every step done so far, in the order the steps ran, then any recorded failures: what
        a rejection or the final index puts in the catalog."""
        return self.events(list(self.state().get("done", [])))

    def record_failure(self, event: dict[str, Any]) -> None:
        state = self.state()
        state.setdefault("failures", []).append(event)
        self.save_state(state)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive, non-blocking lock: one process works on a workspace at a time.

        Re-entrant in the thread that holds it (``run_pipeline`` holds it across all steps, each step
        takes it again), never inherited by forked pool workers, and the lock file names its holder,
        so that ``WorkspaceBusy`` can say who is working on it (see ``preservation.procutil``)."""
        try:
            with hold_lock(self.path / LOCK):
                yield
        except LockBusy as exc:
            raise WorkspaceBusy(
                f"workspace {self.path.name} is being processed by {describe_holder(exc.holder)} / "
                "gói đang được một tiến trình khác xử lý",
                exc.holder,
            ) from None
        except FileNotFoundError:
            if self.path.exists():
                raise
            raise WorkspaceBusy(
                f"workspace {self.path.name} no longer exists: another process finished or rejected it / "
                "gói đã được một tiến trình khác xử lý xong"
            ) from None

    def holder(self) -> dict[str, Any] | None:
        """Who holds the workspace (PID, host, start time, command), or ``None`` if nobody (alive) does."""
        return lock_holder(self.path / LOCK)

    def is_locked(self) -> bool:
        """Held by another process right now (without taking the lock, so no holder record is written)."""
        return self.holder() is not None


def iter_workspaces(settings: Settings) -> Iterator[Workspace]:
    root = settings.workspaces_dir
    if not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not entry.name.startswith(".") and (entry / STATE).is_file():
            yield Workspace(entry)


def find_workspace_for_source(settings: Settings, source: Path) -> Workspace | None:
    for workspace in iter_workspaces(settings):
        try:
            if workspace.state().get("source") == str(source):
                return workspace
        except (OSError, ValueError):
            continue
    return None


def remove_stale_partials(settings: Settings, grace_seconds: float = PARTIAL_GRACE_SECONDS) -> None:
    """Workspaces whose creation never finished (``.new-*``) hold nothing worth keeping — but only once
    nobody holds them: a ``.new-*`` folder is another ``kho ingest`` copying its SIP in, locked for the
    whole copy. One younger than ``grace_seconds`` is left alone too (its creator may be between
    ``mkdir`` and taking the lock). We take the lock ourselves before deleting, so no one can start on
    it while it goes."""
    root = settings.workspaces_dir
    if not root.is_dir():
        return
    now = time.time()
    for entry in root.iterdir():
        if not entry.name.startswith(".new-"):
            continue
        try:
            if now - entry.stat().st_mtime < grace_seconds:
                continue
            with Workspace(entry).locked():
                shutil.rmtree(entry, ignore_errors=True)
        except (WorkspaceBusy, OSError):
            continue


def source_lock_path(settings: Settings, source: Path) -> Path:
    """One lock file per SIP path (in ``$KHO_HOME/locks``, not among the workspaces)."""
    digest = hashlib.sha256(str(source).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return settings.home / "locks" / f"source-{digest}.lock"


@contextmanager
def source_locked(settings: Settings, source: Path) -> Iterator[None]:
    """Held for a whole ``kho ingest PATH``: a second ingest of the same PATH while the first runs would
    otherwise either build a second AIP or collide with the first in its workspace."""
    path = source_lock_path(settings, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with hold_lock(path, remove_on_release=True):
            yield
    except LockBusy as exc:
        who = describe_holder(exc.holder)
        raise WorkspaceBusy(
            f"{source} is already being ingested by {who}; wait for it to finish / "
            "gói này đang được nạp bởi một tiến trình khác; hãy chờ tiến trình đó hoàn tất",
            exc.holder,
        ) from None


def copy_sparse(source: str, target: str) -> None:
    """``shutil.copy2`` that keeps holes: only the data extents are copied (``SEEK_DATA``/``SEEK_HOLE``),
    so a rejected SIP holding a 50 GB sparse file does not become 50 GB of zeros in ``failed/``.
    Like ``shutil.copyfile`` it refuses FIFOs and devices (opening a FIFO would block for ever)."""
    if not stat.S_ISREG(os.stat(source, follow_symlinks=False).st_mode):
        raise shutil.SpecialFileError(f"{source} is not a regular file")
    with open(source, "rb") as src, open(target, "wb") as dst:
        size = os.fstat(src.fileno()).st_size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(src.fileno(), offset, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left (or the file system cannot say: copy densely)
                break
            end = os.lseek(src.fileno(), start, os.SEEK_HOLE)
            src.seek(start)
            dst.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = src.read(min(remaining, 8 * 1024 * 1024))
                if not chunk:
                    break
                dst.write(chunk)
                remaining -= len(chunk)
            offset = end
        dst.truncate(size)
    shutil.copystat(source, target)


def fitting_name(name: str, suffix: str = "", max_bytes: int = 255) -> str:
    """``name + suffix`` cut (at a character boundary) to what one file name may hold, in UTF-8 bytes."""
    room = max_bytes - len(suffix.encode("utf-8"))
    cut = name.encode("utf-8")[:room].decode("utf-8", "ignore")
    return cut + suffix

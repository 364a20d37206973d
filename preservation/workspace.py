"""Ingest workspaces: one directory per AIP being built, holding its state between steps.

A workspace is what makes an ingest resumable: the AIP UUID, the steps already done and
each step's events are persisted here (atomically, by write-then-rename), so a process
killed at any point leaves something the next ``kho resume`` (or DAG run) can finish.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preservation.config import Settings

STATE = "state.json"


class WorkspaceBusy(RuntimeError):
    """Another process holds this workspace."""


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))  # no indent: the C encoder, 10x faster
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


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

    def complete_step(self, step: str, events: list[dict[str, Any]], output: Any = None) -> None:
        """Persist a step's output and events, then mark it done (in that order: a crash in
        between leaves the step not done, and re-running it overwrites both files)."""
        self.work_dir.mkdir(exist_ok=True)
        self.events_dir.mkdir(exist_ok=True)
        if output is not None:
            write_json_atomic(self.work_dir / f"{step}.json", output)
        write_json_atomic(self.events_dir / f"{step}.json", events)
        state = self.state()
        if step not in state.setdefault("done", []):
            state["done"].append(step)
        self.save_state(state)

    def output(self, step: str) -> Any:
        return read_json(self.work_dir / f"{step}.json")

    def events(self, steps: list[str]) -> list[dict[str, Any]]:
        """Committed events of the given steps, in pipeline order, then any recorded failures."""
        collected: list[dict[str, Any]] = []
        for step in steps:
            path = self.events_dir / f"{step}.json"
            if path.exists():
                collected.extend(read_json(path))
        collected.extend(self.state().get("failures", []))
        return collected

    def record_failure(self, event: dict[str, Any]) -> None:
        state = self.state()
        state.setdefault("failures", []).append(event)
        self.save_state(state)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive, non-blocking lock: one process works on a workspace at a time."""
        handle = open(self.path / ".lock", "a")  # noqa: SIM115 - held for the whole block
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise WorkspaceBusy(f"workspace {self.path.name} is being processed by another process") from exc
            yield
        finally:
            handle.close()

    def is_locked(self) -> bool:
        try:
            with self.locked():
                return False
        except WorkspaceBusy:
            return True


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


def remove_stale_partials(settings: Settings) -> None:
    """Workspaces whose creation never finished (``.new-*``) hold nothing worth keeping."""
    root = settings.workspaces_dir
    if root.is_dir():
        for entry in root.iterdir():
            if entry.name.startswith(".new-"):
                shutil.rmtree(entry, ignore_errors=True)

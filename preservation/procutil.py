"""Process hygiene for parallel work: lock files that say who holds them, locks that forked children
never keep, and pool workers that die with their parent (docs/decisions/0009-parallel-work.md).

Why this exists: ``flock`` locks belong to an *open file description*, which ``fork`` shares with the
child. A ``ProcessPoolExecutor`` forked while a workspace was locked therefore kept the lock alive in
its workers; after a ``kill -9`` of the ingest those workers lived on (parent PID 1) for many minutes
and ``kho resume`` saw the workspace as busy. Three measures, each enough for the common case:

- every lock taken here is closed in a forked child (``os.register_at_fork``);
- pool workers ask the kernel for SIGKILL when their parent dies (``prctl(PR_SET_PDEATHSIG)``) and
  also watch their parent PID, so an orphaned worker exits within a second (``format_registry.pool``,
  re-exported here);
- the lock file records the holder (PID, host, process start time); a lock whose recorded holder is
  a dead process on this host is taken over (by replacing the lock file), whoever still holds the
  old file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The pool helpers (workers that die with their parent) live in the lowest layer that runs pools,
# format_registry.pool: identification, validation and hashing may not import this module (DESIGN.md
# layers, checked by import-linter). Re-exported here for the engine's callers.
from format_registry.pool import pool_worker_init as pool_worker_init
from format_registry.pool import worker_pool_kwargs as worker_pool_kwargs

GUARD_WAIT_SECONDS = 30.0  # the guard is held for a few system calls; this only bounds a pathology


class LockBusy(RuntimeError):
    """The lock is held by another live process (``holder`` says which, when it is known)."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        super().__init__(f"{path} is locked by {describe_holder(holder)}")
        self.path = path
        self.holder = holder


def describe_holder(holder: dict[str, Any]) -> str:
    """``pid 123 on host h since 2025-01-01T10:00:00+00:00 (kho ingest ...)`` or ``an unknown process``."""
    if not holder.get("pid"):
        return "an unknown process"
    text = f"pid {holder['pid']} on host {holder.get('host', '?')}"
    if holder.get("started_at"):
        text += f" since {holder['started_at']}"
    if holder.get("command"):
        text += f" ({holder['command']})"
    return text


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22): with the PID,
    it names one process even after PIDs wrap around. ``None`` if there is no such (living) process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError:
        return -1  # exists but unreadable: treat as alive with an unknown start
    fields = data[data.rfind(b")") + 2 :].split()  # the command name may contain spaces and parentheses
    if fields[0] == b"Z":  # a zombie holds no files
        return None
    return int(fields[19])


def process_alive(pid: int, start_ticks: int | None = None) -> bool:
    """Is ``pid`` a living process on this host (and the same one that had ``start_ticks``)?"""
    if not Path("/proc/self/stat").exists():  # no procfs: fall back to a signal-0 probe
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    ticks = _start_ticks(pid)
    if ticks is None:
        return False
    return start_ticks is None or ticks in (-1, start_ticks)


def _command_line() -> str:
    try:
        words = Path("/proc/self/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    text = " ".join(Path(w.decode(errors="replace")).name if i == 0 else w.decode(errors="replace")
                    for i, w in enumerate(words[:5]) if w)
    return " ".join(text.split())[:100]  # one line, short: it ends up in a message to a person


def _holder_record() -> dict[str, Any]:
    """What a busy message needs to name the holder, and what a takeover needs to prove it is dead."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "start_ticks": _start_ticks(os.getpid()),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": _command_line(),
    }


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _holder_is_dead(holder: dict[str, Any]) -> bool:
    """Only a holder known to be gone counts as dead: another host, or no record, is presumed alive."""
    pid = holder.get("pid")
    if not isinstance(pid, int) or holder.get("host") != socket.gethostname() or pid == os.getpid():
        return False
    ticks = holder.get("start_ticks")
    return not process_alive(pid, ticks if isinstance(ticks, int) else None)


# -- the registry of held locks (what a forked child must close) -------------------------------------


@dataclass
class _Held:
    fd: int
    path: Path
    owner: int  # thread id: the lock is re-entrant for that thread only
    depth: int = 1
    remove_on_release: bool = False


_registry: dict[tuple[int, int], _Held] = {}
_guard_fds: set[int] = set()  # directory guards being held right now (a few system calls long)
_registry_lock = threading.Lock()


def _before_fork() -> None:
    _registry_lock.acquire()


def _after_fork_in_parent() -> None:
    _registry_lock.release()


def _after_fork_in_child() -> None:
    """A forked child (pool worker) must never keep a lock alive: close its copies of the lock fds.
    The parent's descriptors, and so its locks, are untouched."""
    global _registry_lock
    for fd in [*(held.fd for held in _registry.values()), *_guard_fds]:
        with contextlib.suppress(OSError):
            os.close(fd)
    _registry.clear()
    _guard_fds.clear()
    _registry_lock = threading.Lock()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


def held_lock_fds() -> list[int]:
    """Descriptors of the locks this process holds (tests check that a forked child has none)."""
    with _registry_lock:
        return [held.fd for held in _registry.values()]


@contextlib.contextmanager
def _guard(directory: Path) -> Iterator[None]:
    """A short exclusive section per lock directory (``flock`` on the directory itself, no extra file).

    Taking a lock and writing the holder record happen inside it, and so does a takeover's check of
    the record: a takeover can then never read the record of a holder that has not written it yet."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    with _registry_lock:
        _guard_fds.add(fd)
    try:
        deadline = time.monotonic() + GUARD_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"lock guard on {directory} not free after {GUARD_WAIT_SECONDS} s") from None
                time.sleep(0.005)
        yield
    finally:
        with _registry_lock:
            _guard_fds.discard(fd)
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


@contextlib.contextmanager
def hold_lock(path: Path, *, remove_on_release: bool = False) -> Iterator[None]:
    """Hold the exclusive lock ``path`` (created if missing) for the block; raise ``LockBusy`` at once if
    another live process holds it. Re-entrant within one thread (keyed by the file, so it still works
    after the lock's directory was renamed). ``remove_on_release`` deletes the lock file when done
    (safe: an acquirer checks that the file it locked is still the one at ``path``)."""
    key = _acquire(path, remove_on_release)
    try:
        yield
    finally:
        _release(key)


def _acquire(path: Path, remove_on_release: bool) -> tuple[int, int]:
    me = threading.get_ident()
    with contextlib.suppress(FileNotFoundError):
        info = os.stat(path)
        with _registry_lock:
            held = _registry.get((info.st_dev, info.st_ino))
            if held is not None:
                if held.owner != me:
                    raise LockBusy(path, {**_holder_record(), "command": "another thread of this process"})
                held.depth += 1
                return (info.st_dev, info.st_ino)
    for _attempt in range(100):  # each retry means the file was replaced under us: a bounded number of them
        with _guard(path.parent):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                if _holder_is_dead(holder) and _same_file(fd, path):
                    # the recorded holder is gone, yet the lock is held: by a child that inherited it
                    # (a pool worker of a killed process). Replace the file; that child keeps a lock on
                    # an inode nobody uses any more.
                    os.unlink(path)
                    os.close(fd)
                    continue
                os.close(fd)
                raise LockBusy(path, holder) from None
            except BaseException:
                os.close(fd)
                raise
            if not _same_file(fd, path):  # unlinked by its previous holder between our open and flock
                os.close(fd)
                continue
            record = json.dumps(_holder_record(), ensure_ascii=False).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
            stat = os.fstat(fd)
            key = (stat.st_dev, stat.st_ino)
            with _registry_lock:
                _registry[key] = _Held(fd, path, me, remove_on_release=remove_on_release)
            return key
    raise LockBusy(path, {})


def _release(key: tuple[int, int]) -> None:
    with _registry_lock:
        held = _registry.get(key)
        if held is None:
            return
        held.depth -= 1
        if held.depth > 0:
            return
        del _registry[key]
    if held.remove_on_release and _same_file(held.fd, held.path):
        with contextlib.suppress(OSError):
            os.unlink(held.path)  # while still locked: a waiter sees the file is gone and retries
    with contextlib.suppress(OSError):
        os.ftruncate(held.fd, 0)  # no stale holder record for the next reader
    os.close(held.fd)


def lock_holder(path: Path) -> dict[str, Any] | None:
    """The holder record of a lock held by a live process, or ``None`` if it is free (or its recorded
    holder is dead, so that the next ``hold_lock`` takes it over).

    The probe runs under the directory guard, like an acquisition: its brief shared lock can then never
    make a real acquisition fail."""
    try:
        with _guard(path.parent):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                return None if _holder_is_dead(holder) else holder
            finally:
                os.close(fd)
            return None
    except FileNotFoundError:
        return None


"""Pool workers that die with their parent (docs/decisions/0009-parallel-work.md).

Why it lives here: identification and validation (``format_registry``) and hashing (``packages``) run
process pools, and the layers below ``preservation`` may not import it (DESIGN.md, Layout; checked by
import-linter in ``make lint``). ``format_registry`` is the lowest layer all pool users may import, so
the one implementation is here and ``preservation.procutil`` re-exports it beside the locks.

A ``ProcessPoolExecutor`` whose parent is killed (``kill -9`` of an ingest) would otherwise leave its
workers running, orphaned, for many minutes. Each worker therefore asks the kernel for SIGKILL when its
parent dies (``prctl(PR_SET_PDEATHSIG)``) and also watches its parent PID, so it exits within a second.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from typing import Any

PR_SET_PDEATHSIG = 1
WATCH_PARENT_SECONDS = 0.5


def _set_parent_death_signal(sig: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)``: the kernel signals this process when its parent (thread) dies."""
    if not hasattr(os, "sched_getaffinity"):  # not Linux
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the interpreter's own libc: no ldconfig lookup per worker
        return int(libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)  # orphaned: nobody will read our results; exit without cleanup handlers
        time.sleep(WATCH_PARENT_SECONDS)


def _watch_owner(owner: int) -> None:
    """Exit when process ``owner`` ends: a pidfd becomes readable then (Linux 5.3+); otherwise poll."""
    try:
        handle = os.pidfd_open(owner)
    except ProcessLookupError:
        os._exit(1)  # the owner is already gone
    except (OSError, AttributeError):  # no pidfd (an old kernel, not Linux): poll with signal 0
        while True:
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
            time.sleep(WATCH_PARENT_SECONDS)
    import select

    select.select([handle], [], [])
    os._exit(1)


def pool_worker_init(parent: int | None = None, owner: int | None = None) -> None:
    """``initializer`` for every ``ProcessPoolExecutor`` in Kho: the worker dies with its parent.

    PR_SET_PDEATHSIG is immediate but fires when the parent *thread* that forked the worker ends (the
    pools live inside one call, so that thread outlives them); the watcher thread also catches the
    cases the kernel does not cover (a parent that died before the prctl, a non-Linux system).

    ``owner``: the process that made the pool, when it is not the parent (``forkserver``). Its workers
    are children of the fork server, and they hold the server's liveness pipe (multiprocessing passes it
    to each), so the server does not exit while they live, nor they while it lives: killed owner, orphans
    for ever, holding the owner's stdout (found by a ``kill -9`` test whose ``subprocess.run`` then waited
    for the pipe's end). Each worker therefore also watches the owner itself."""
    parent = os.getppid() if parent is None else parent
    _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="kho-watch-parent", daemon=True).start()
    if owner is not None and owner != parent:
        threading.Thread(target=_watch_owner, args=(owner,), name="kho-watch-owner", daemon=True).start()


def worker_pool_kwargs(method: str) -> dict[str, Any]:
    """``mp_context``, ``initializer`` for a ``ProcessPoolExecutor`` whose workers die with this process.

    With ``fork`` the workers' parent is this process; with ``forkserver`` (or ``spawn``) it is another
    process, so each worker watches the PID it actually has as parent and this process as its owner."""
    import multiprocessing

    return {
        "mp_context": multiprocessing.get_context(method),
        "initializer": pool_worker_init,
        "initargs": (os.getpid(),) if method == "fork" else (None, os.getpid()),
    }

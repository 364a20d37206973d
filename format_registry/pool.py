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


def pool_worker_init(parent: int | None = None) -> None:
    """``initializer`` for every ``ProcessPoolExecutor`` in Kho: the worker dies with its parent.

    PR_SET_PDEATHSIG is immediate but fires when the parent *thread* that forked the worker ends (the
    pools live inside one call, so that thread outlives them); the watcher thread also catches the
    cases the kernel does not cover (a parent that died before the prctl, a non-Linux system)."""
    parent = os.getppid() if parent is None else parent
    _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="kho-watch-parent", daemon=True).start()


def worker_pool_kwargs(method: str) -> dict[str, Any]:
    """``mp_context``, ``initializer`` for a ``ProcessPoolExecutor`` whose workers die with this process.

    With ``fork`` the workers' parent is this process; with ``forkserver`` it is the fork server (which
    itself exits when this process does), so each worker watches the PID it actually has as parent."""
    import multiprocessing

    return {
        "mp_context": multiprocessing.get_context(method),
        "initializer": pool_worker_init,
        "initargs": (os.getpid(),) if method == "fork" else (),
    }

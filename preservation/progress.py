"""Progress of the long loops (ingest steps, fixity audit, migration campaign), for whoever shows it.

The engine only says what it is doing::

    with progress.task(len(aips), "fixity audit") as bar:
        for aip_id in aips:
            ...
            bar.advance(note=aip_id)

and does not know who listens. The default listener does nothing, so the engine does not depend on
a terminal library and the API and the DAG tasks pay nothing. The CLI installs its own for the run
(``with progress.reporting(...)``): rich bars when stderr is a terminal (``preservation/cli/bars.py``),
else ``LogProgress`` — one plain log line per advance on ``kho.progress``, shown with ``kho -v`` and in
the JSON logs, never ANSI, never on stdout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Protocol

log = logging.getLogger("kho.progress")


class Task(Protocol):
    """One loop being reported: ``advance`` after each unit of work (``amount`` units at once)."""

    def advance(self, amount: int = 1, note: str = "") -> None: ...


class Reporter(Protocol):
    """Whoever shows progress: ``task`` opens one bar (``total`` None: unknown) until the block ends."""

    def task(self, total: int | None, label: str) -> AbstractContextManager[Task]: ...


class _Silent:
    def advance(self, amount: int = 1, note: str = "") -> None:
        """Nothing to show."""


class NoProgress:
    """The default: nothing shown, nothing done."""

    def task(self, total: int | None, label: str) -> AbstractContextManager[Task]:
        return nullcontext(_Silent())


class _LoggedTask:
    def __init__(self, total: int | None, label: str) -> None:
        self.total, self.label, self.done = total, label, 0

    def advance(self, amount: int = 1, note: str = "") -> None:
        self.done += amount
        of = f"/{self.total}" if self.total is not None else ""
        log.info("%s: %d%s%s", self.label, self.done, of, f" {note}" if note else "")


class LogProgress:
    """Plain lines for logs and pipes: ``label: done/total note`` at INFO on ``kho.progress``, one per
    advance (one per ingest step, per AIP audited, per AIP migrated), so a long run shows it is alive
    in any log without redrawing anything."""

    @contextmanager
    def task(self, total: int | None, label: str) -> Iterator[Task]:
        yield _LoggedTask(total, label)


_SILENT = NoProgress()
_reporter: ContextVar[Reporter | None] = ContextVar("kho_progress", default=None)


def current() -> Reporter:
    """The reporter installed here (``reporting``), else the silent default."""
    return _reporter.get() or _SILENT


def task(total: int | None, label: str) -> AbstractContextManager[Task]:
    """A bar for a loop of ``total`` units, shown by the reporter installed here (none by default)."""
    return current().task(total, label)


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Show the progress of every loop run inside the block with ``reporter``."""
    token = _reporter.set(reporter)
    try:
        yield reporter
    finally:
        _reporter.reset(token)

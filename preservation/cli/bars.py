"""Rich progress bars for ``kho`` on a terminal: the ``preservation.progress`` reporter the CLI installs
when stderr is a terminal (else ``progress.LogProgress``: plain log lines).

The bars are drawn on stderr and vanish when their loop ends (``transient``), so what stays on the screen
is exactly what the command prints. stdout is never redirected (``kho fixity --json | jq`` keeps its JSON
on stdout); stderr is, so warnings and log lines print above the bars instead of through them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from preservation.progress import Task


class _Bar:
    def __init__(self, progress: Progress, task_id: TaskID) -> None:
        self._progress, self._task_id = progress, task_id

    def advance(self, amount: int = 1, note: str = "") -> None:
        self._progress.update(self._task_id, advance=amount, note=note)


class RichProgress:
    """One live display for the whole command; each ``task`` adds a bar to it (an audit inside a DIP
    request gets a second bar under the first) and the display stops with the last bar."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}", markup=False),
            console=console or Console(stderr=True),
            transient=True,
            redirect_stdout=False,
            redirect_stderr=True,
        )
        self._open = 0

    @contextmanager
    def task(self, total: int | None, label: str) -> Iterator[Task]:
        if self._open == 0:
            self._progress.start()
        self._open += 1
        task_id = self._progress.add_task(label, total=total, note="")
        try:
            yield _Bar(self._progress, task_id)
        finally:
            self._progress.remove_task(task_id)
            self._open -= 1
            if self._open == 0:
                self._progress.stop()

"""``kho``: the command line. Runs the same step functions as the Airflow DAGs, in-process.

Exit codes: 0 success, 1 the input was rejected / invalid / not found, 2 usage or configuration error,
3 busy: another process is already working on it (the message names it; try again later).

``kho -v COMMAND`` prints the pipeline's log lines (logger ``kho.*``: one per ingest step, with its
numbers) on stderr; without it only warnings are printed. ``kho --log-json COMMAND`` prints them as JSON
objects, one a line, with the AIP id (``preservation/logs.py``). Long loops (ingest steps, fixity audit,
migration) show rich progress bars when stderr is a terminal, else one log line per step or AIP on
``kho.progress`` (shown with ``-v``; ``preservation/progress.py``).

The commands are Typer commands, one module per group, each handler's options declared in its own
signature: ``sip`` (sip validate, ingest, resume, watch), ``formats`` (identify, validate, policy),
``aip`` (aip, events, dip), ``preserve`` (fixity, migrate), ``records`` (transfer, disposal, report),
``admin`` (storage, catalog, serve); ``base`` holds what they share.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any

import typer

from preservation import progress
from preservation.cli import (  # noqa: F401  (register the commands)
    admin,
    aip,
    authenticity,
    digitise,
    formats,
    harvest,
    preserve,
    records,
    search,
    sip,
)
from preservation.cli.base import EXIT_BUSY, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, app

__all__ = ["EXIT_BUSY", "EXIT_OK", "EXIT_REJECTED", "EXIT_USAGE", "app", "main"]

# Options that take several values after one flag, as argparse's nargs="*" did (README documents
# `kho dip AIP --files data/a.pdf data/b.pdf`); Click takes one value a flag, so the values are spread
# before parsing: `--files a b` becomes `--files a --files b`.
MANY_VALUED = {"dip": ("--files",)}


def _is_option(token: str) -> bool:
    if len(token) < 2 or not token.startswith("-"):
        return False
    try:
        float(token)  # a negative number is a value, as for argparse
    except ValueError:
        return True
    return False


def spread_many(args: list[str]) -> list[str]:
    """``args`` with every ``--files A B ...`` of the commands in ``MANY_VALUED`` written as Click reads
    it (``--files A --files B``); ``--files`` with no value is dropped (argparse's empty list: every file)."""
    start = next((i for i, token in enumerate(args) if not token.startswith("-")), len(args))
    many = MANY_VALUED.get(args[start]) if start < len(args) else None
    if not many:
        return args
    out, rest, i = args[: start + 1], args[start + 1:], 0
    while i < len(rest):
        word = rest[i]
        if word == "--":
            out.extend(rest[i:])
            break
        i += 1
        if word not in many:
            out.append(word)
            continue
        while i < len(rest) and not _is_option(rest[i]) and rest[i] != "--":
            out += [word, rest[i]]
            i += 1
    return out


def _reporter() -> progress.Reporter:
    """Bars on a terminal; plain ``kho.progress`` log lines otherwise (logs, pipes, tests)."""
    try:
        terminal = sys.stderr.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if terminal:
        from preservation.cli.bars import RichProgress

        return RichProgress()
    return progress.LogProgress()


@functools.cache
def _command() -> Any:
    return typer.main.get_command(app)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kho`` with ``argv`` (default: the process's arguments) and return the exit code; the
    console script exits with it. Usage errors print the usage and exit 2, as with argparse."""
    args = spread_many(list(sys.argv[1:] if argv is None else argv))
    with progress.reporting(_reporter()):
        try:
            _command().main(args=args, prog_name="kho", standalone_mode=True)
        except SystemExit as exc:  # standalone mode always ends so: the exit code is ours to return
            code = exc.code
            return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_REJECTED)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

"""What every ``kho`` command shares: the root Typer app, the exit codes, ``--json`` and the
``@command`` decorator that gives a handler its settings and turns its result into the exit code.

A handler is a plain function ``handler(settings, **options) -> int``: its options are declared in its
own signature (``Annotated[..., typer.Option(...)]``), right where they are used, and it can be called
directly in a test. ``@command(group, "name", help=...)`` registers it with Typer without the
``settings`` parameter; when the command runs, the settings are loaded *after* the command line was
parsed (a usage error is reported as such even when the configuration is broken, and ``--help`` needs
no configuration), exactly as with the argparse parser this replaced.
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
import typing
from collections.abc import Callable
from contextvars import ContextVar
from enum import Enum
from typing import Annotated, Any, TypeVar

import typer

from preservation import logs
from preservation.config import ConfigError, Settings, load_settings

if typing.TYPE_CHECKING:  # imported when a command runs: `kho -h` stays quick
    from preservation.catalog import Catalog
    from preservation.service import Service

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3

Json = Annotated[bool, typer.Option("--json", help="print JSON (one object a line) instead of text")]
Handler = TypeVar("Handler", bound=Callable[..., int])

CONTEXT = {"help_option_names": ["-h", "--help"]}


def new_app(help_text: str | None = None) -> typer.Typer:
    """A Typer app (the root or a command group) set up as every ``kho`` group is: plain help and
    usage errors (no colour, no boxes: they end up in logs), ``-h``, no shell-completion options, and
    exceptions left to Python's own hook (a traceback as before, never a framed one)."""
    return typer.Typer(
        help=help_text,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        no_args_is_help=False,
        context_settings=CONTEXT,
    )


app = new_app("Kho — OAIS digital preservation for Vietnamese archives")


@app.callback(help="Kho — OAIS digital preservation for Vietnamese archives")
def root(
    verbose: Annotated[bool, typer.Option(
        "-v", "--verbose", help="print what each step did (files, formats, bytes, AIP id, locations) on stderr",
    )] = False,
    log_json: Annotated[bool, typer.Option(
        "--log-json", help="log lines on stderr as JSON objects, one a line (ts, level, logger, msg, aip_id)",
    )] = False,
) -> None:
    """Log lines of the ``kho.*`` loggers on stderr: every step with ``-v``, else warnings only (a
    virus check not performed must not go unnoticed), as text unless ``--log-json``. Under Airflow the
    task's own logging handlers show the very same lines."""
    logs.configure(level=logging.INFO if verbose else logging.WARNING, json_lines=log_json,
                   hide_results=not verbose)  # without -v a rejection is printed as the result: not twice


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, default=str))


# The service of the command being run (run_handler opens it and closes it when the handler returns):
# every catalog a handler asks for is that one service's, opened on first use, closed once.
_service: ContextVar[Service | None] = ContextVar("kho_cli_service", default=None)


def catalog(settings: Settings) -> Catalog:
    """The catalog of this command's service (``preservation.service``), opened loudly on first use."""
    service = _service.get()
    if service is None or service.settings is not settings:  # a handler called outside run_handler
        from preservation.catalog_guard import open_catalog

        return open_catalog(settings)
    return service.catalog


def value(choice: Enum | None) -> Any:
    """The string of a ``--profile``/``--role``/``--format`` choice (None stays None)."""
    return None if choice is None else choice.value


def run_handler(handler: Callable[..., int], options: dict[str, Any]) -> int:
    """Load the settings, run the handler; the errors every command shares become exit codes."""
    try:
        settings = load_settings()
        settings.adopt_identification()  # kho identify / validate / policy explain have no ingest Context
    except ConfigError as exc:
        print(f"kho: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from format_registry.identify import IdentificationEngineError
    from preservation.catalog_guard import CatalogProblem
    from preservation.service import Service

    try:
        with Service.open(settings) as service:
            token = _service.set(service)
            try:
                return int(handler(settings, **options))
            finally:
                _service.reset(token)
    except CatalogProblem as exc:
        print(f"kho: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except IdentificationEngineError as exc:
        print(f"kho: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def command(group: typer.Typer, name: str, help: str | None = None) -> Callable[[Handler], Handler]:
    """Register ``handler(settings, **options) -> int`` as the command ``name`` of ``group``; the
    handler itself is returned unchanged."""

    def register(handler: Handler) -> Handler:
        hints = typing.get_type_hints(handler, include_extras=True)
        parameters = [p.replace(annotation=hints[p.name])
                      for p in list(inspect.signature(handler).parameters.values())[1:]]  # all but settings

        def run(**options: Any) -> None:
            code = run_handler(handler, options)
            if code != EXIT_OK:
                raise typer.Exit(code)

        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters}
        run.__name__ = run.__qualname__ = handler.__name__
        run.__doc__ = handler.__doc__
        group.command(name, help=help)(run)
        return handler

    return register

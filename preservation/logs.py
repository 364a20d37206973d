"""Log lines of the ``kho.*`` loggers, set up once for the CLI, the API and the DAG tasks.

Two formats, one event a line:

* **JSON lines** (``kho --log-json``, or a service whose stderr is not a terminal): ``{"ts", "level",
  "logger", "msg", "aip_id"?, ...}``, so a log shipper can index an AIP's whole history across CLI runs,
  API requests and Airflow tasks without parsing prose;
* **readable text** (``HH:MM:SS LEVEL logger: message``), the level coloured only when the stream is a
  terminal, so files and test captures never hold ANSI escapes.

The AIP a line is about is known far above the log call (the ingest runner, the audit loop), so it is
bound once in a context variable (``with bind(aip_id=...)``) and a logging filter copies it onto every
record made below, including those of modules that never see the id. Lines that name their AIP in the
ingest style (``AIP <uuid> step: ...``) carry it even where nothing was bound.

The modules keep logging as before (``log = logging.getLogger("kho.…")``); nothing here is needed to log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO

ROOT_LOGGER = "kho"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TEXT_DATE_FORMAT = "%H:%M:%S"
# an ingest-style line names its AIP first: "AIP 0f0e...-... validate_sip: REJECTED ..."
AIP_IN_MESSAGE = re.compile(r"AIP ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
LEVEL_COLOURS = {"WARNING": "\x1b[33m", "ERROR": "\x1b[31m", "CRITICAL": "\x1b[1;31m"}
RESET = "\x1b[0m"

_EMPTY: Mapping[str, str] = MappingProxyType({})
_bound: ContextVar[Mapping[str, str]] = ContextVar("kho_log_fields", default=_EMPTY)


@contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Every ``kho.*`` line logged inside the block carries these fields (``aip_id=...``); nested
    blocks add to (or override) the outer ones, and leaving the block restores them. ``None`` values
    are not bound, so a caller may pass an id it does not know yet."""
    token = _bound.set(MappingProxyType({**_bound.get(), **{k: v for k, v in fields.items() if v is not None}}))
    try:
        yield
    finally:
        _bound.reset(token)


def bound() -> dict[str, str]:
    """The fields bound here (a copy)."""
    return dict(_bound.get())


class ContextFilter(logging.Filter):
    """Copies the bound fields onto the record (``record.aip_id``; all of them as ``record.kho_fields``),
    never overriding a field the log call passed itself (``extra={"aip_id": ...}``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = dict(_bound.get())
        own = getattr(record, "kho_fields", None)
        if isinstance(own, dict):
            fields.update(own)
        for key in list(fields):
            value = getattr(record, key, None)
            if value is not None:
                fields[key] = str(value)
        if "aip_id" not in fields:
            if (passed := getattr(record, "aip_id", None)) is not None:
                fields["aip_id"] = str(passed)
            elif found := AIP_IN_MESSAGE.match(record.getMessage()):
                fields["aip_id"] = found[1]
        record.kho_fields = fields
        for key, value in fields.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts`` (UTC, milliseconds), ``level``, ``logger``, ``msg``, the bound
    fields (``aip_id`` when known) and ``exc`` for a traceback. Non-ASCII stays as is (Vietnamese
    names are read by people too)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "kho_fields", None)
        if isinstance(fields, dict):
            data.update({k: v for k, v in fields.items() if k not in data})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger: message``: what ``kho -v`` always printed; the level in colour only
    when ``colour`` (the stream is a terminal)."""

    def __init__(self, colour: bool = False) -> None:
        super().__init__(TEXT_FORMAT, TEXT_DATE_FORMAT)
        self.colour = colour

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        colour = LEVEL_COLOURS.get(record.levelname) if self.colour else None
        if colour:
            line = line.replace(f" {record.levelname} ", f" {colour}{record.levelname}{RESET} ", 1)
        return line


class _CurrentStderr(logging.StreamHandler):
    """A handler writing to ``sys.stderr`` as it is at each line, not as it was at set-up: while a
    progress display redirects stderr, log lines then print above the bars instead of through them
    (and pytest's capture sees them)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


def configure(
    *,
    level: int = logging.INFO,
    json_lines: bool | None = None,
    stream: TextIO | None = None,
    hide_results: bool = False,
    propagate: bool = True,
) -> logging.Handler:
    """Install (or re-set) Kho's one handler on the ``kho`` logger and return it.

    ``level``: the lowest level printed (the CLI: INFO with ``-v``, else WARNING, so a virus check not
    performed never goes unnoticed). ``json_lines``: JSON lines, or text; ``None`` chooses JSON unless
    the stream is a terminal (services). ``stream``: default stderr, looked up at each line.
    ``hide_results``: drop records marked ``extra={"kho_result": True}`` — lines the caller prints as
    its result already (the CLI without ``-v``). ``propagate=False`` keeps the lines from also reaching
    the root logger's handlers (a host such as Airflow that logs them itself would print them twice).

    Called again (``kho -v`` then another ``main()`` in one process), it re-sets the same handler:
    never two copies of a line."""
    logger = logging.getLogger(ROOT_LOGGER)
    handler = next((h for h in logger.handlers if getattr(h, "kho_handler", False)), None)
    if handler is not None and stream is not None and getattr(handler, "stream", None) is not stream:
        logger.removeHandler(handler)
        handler = None
    if handler is None:
        handler = _CurrentStderr() if stream is None else logging.StreamHandler(stream)
        setattr(handler, "kho_handler", True)  # noqa: B010 (found again by the next call)
        logger.addHandler(handler)
    target = stream if stream is not None else sys.stderr
    terminal = _is_terminal(target)
    as_json = (not terminal) if json_lines is None else json_lines
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter(colour=terminal))
    handler.setLevel(level)
    for old in list(handler.filters):
        handler.removeFilter(old)
    handler.addFilter(ContextFilter())
    if hide_results:
        handler.addFilter(lambda record: not getattr(record, "kho_result", False))
    if not logger.isEnabledFor(level):
        logger.setLevel(level)
    logger.propagate = propagate
    return handler

"""preservation/logs.py: one event a line, JSON or readable text, the AIP id bound once in a context
variable and carried by every line logged below it; never an ANSI escape where no terminal reads it."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from preservation import logs
from tests.conftest import FIXTURE_SIPS

AIP = "0f0e0d0c-0b0a-4908-8706-050403020100"
OTHER = "11111111-2222-4333-8444-555555555555"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def kho_logger() -> Iterator[logging.Logger]:
    """The ``kho`` logger as the test found it, whatever ``configure`` did to it."""
    logger = logging.getLogger("kho")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield logger
    for handler in list(logger.handlers):
        if handler not in saved[0]:
            logger.removeHandler(handler)
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_json_line_parses_and_carries_the_bound_aip_id() -> None:
    out = io.StringIO()
    logs.configure(json_lines=True, stream=out, propagate=False)
    with logs.bind(aip_id=AIP):
        logging.getLogger("kho.fixity").info("audit of %d copies", 2)
    logging.getLogger("kho.fixity").warning("nothing bound here")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "INFO" and first["logger"] == "kho.fixity" and first["msg"] == "audit of 2 copies"
    assert first["aip_id"] == AIP
    assert first["ts"].endswith("+00:00") and "T" in first["ts"]
    assert second["level"] == "WARNING" and "aip_id" not in second


def test_nested_binds_add_and_override_then_restore() -> None:
    out = io.StringIO()
    logs.configure(json_lines=True, stream=out, propagate=False)
    log = logging.getLogger("kho.migrate")
    with logs.bind(aip_id=AIP, campaign="fmt/40"):
        with logs.bind(aip_id=OTHER, request_id=None):  # None: not bound
            assert logs.bound() == {"aip_id": OTHER, "campaign": "fmt/40"}
            log.info("inner")
        log.info("outer")
    assert logs.bound() == {}
    inner, outer = (json.loads(line) for line in out.getvalue().splitlines())
    assert inner["aip_id"] == OTHER and inner["campaign"] == "fmt/40" and "request_id" not in inner
    assert outer["aip_id"] == AIP


def test_an_ingest_style_line_names_its_aip_without_a_bind_and_extra_wins() -> None:
    out = io.StringIO()
    logs.configure(json_lines=True, stream=out, propagate=False)
    log = logging.getLogger("kho.ingest")
    log.info("AIP %s validate_sip: valid", AIP)
    with logs.bind(aip_id=AIP):
        log.info("explicit", extra={"aip_id": OTHER})
    by_message, explicit = (json.loads(line) for line in out.getvalue().splitlines())
    assert by_message["aip_id"] == AIP
    assert explicit["aip_id"] == OTHER


def test_exceptions_keep_their_traceback_in_the_json_line() -> None:
    out = io.StringIO()
    logs.configure(json_lines=True, stream=out, propagate=False)
    try:
        raise ValueError("bad copy")
    except ValueError:
        logging.getLogger("kho.api").exception("incident")
    line = json.loads(out.getvalue())
    assert line["level"] == "ERROR" and "ValueError: bad copy" in line["exc"]


def test_text_has_no_ansi_when_not_a_terminal_and_colour_on_one() -> None:
    plain, terminal = io.StringIO(), Terminal()
    logs.configure(json_lines=False, stream=plain, propagate=False)
    logging.getLogger("kho.fixity").warning("AIP %s fixity audit: DAMAGED", AIP)
    text = plain.getvalue()
    assert "\x1b" not in text
    assert " WARNING kho.fixity: AIP " in text and text.endswith("DAMAGED\n")
    logs.configure(json_lines=False, stream=terminal, propagate=False)
    logging.getLogger("kho.fixity").warning("coloured")
    assert "\x1b[33mWARNING\x1b[0m kho.fixity: coloured" in terminal.getvalue()  # the check can see colour


def test_json_is_the_default_off_a_terminal_and_text_on_one() -> None:
    pipe, terminal = io.StringIO(), Terminal()
    logs.configure(stream=pipe, propagate=False)
    logging.getLogger("kho.api").info("started")
    assert json.loads(pipe.getvalue())["msg"] == "started"
    logs.configure(stream=terminal, propagate=False)
    logging.getLogger("kho.api").info("started")
    assert " INFO kho.api: started" in terminal.getvalue()


def test_one_handler_however_often_configured_with_levels_and_results_hidden(kho_logger: logging.Logger) -> None:
    out = io.StringIO()
    for _ in range(3):
        logs.configure(level=logging.WARNING, json_lines=False, stream=out, hide_results=True, propagate=False)
    assert sum(1 for h in kho_logger.handlers if getattr(h, "kho_handler", False)) == 1
    log = logging.getLogger("kho.ingest")
    log.info("step done")  # below the level
    log.warning("REJECTED, as the command prints it", extra={"kho_result": True})  # printed as the result already
    log.warning("virus check not performed")
    assert [line.split(": ", 1)[1] for line in out.getvalue().splitlines()] == ["virus check not performed"]


def test_the_default_stream_is_stderr_as_it_is_at_each_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A progress display swaps sys.stderr while it runs; log lines must follow it."""
    logs.configure(json_lines=False, propagate=False)
    swapped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", swapped)
    logging.getLogger("kho.migrate").warning("above the bars")
    assert "kho.migrate: above the bars" in swapped.getvalue()


def test_kho_log_json_prints_json_lines_with_the_aip_id(kho_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI end to end (in-process): ``--log-json -v`` turns the pipeline's lines into JSON objects on
    stderr; stdout keeps the command's own output."""
    from preservation import cli

    assert cli.main(["--log-json", "-v", "ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02")]) == cli.EXIT_OK
    stored = capsys.readouterr()
    aip_id = stored.out.strip()
    lines = [json.loads(line) for line in stored.err.splitlines()]
    assert "\x1b" not in stored.err
    ingest = [line for line in lines if line["logger"].startswith("kho.") and line["msg"].startswith("AIP ")]
    assert ingest and all(line["aip_id"] == aip_id for line in ingest)
    assert any(" index: " in line["msg"] for line in ingest)
    assert cli.main(["--log-json", "-v", "fixity", "--aip", aip_id]) == cli.EXIT_OK
    audited = capsys.readouterr()
    fixity = [json.loads(line) for line in audited.err.splitlines()]
    per_aip = [line for line in fixity if line["logger"] == "kho.fixity" and line["msg"].startswith("AIP ")]
    assert [line["aip_id"] for line in per_aip] == [aip_id]
    assert any(line["logger"] == "kho.progress" and line["msg"] == f"fixity audit: 1/1 {aip_id}" for line in fixity)
    assert audited.out.startswith("AIP ")  # the table, on stdout as before

"""Task logs tell an officer what happened: one `kho.*` log line per ingest step, with the real numbers
(files, formats, bytes, AIP id, storage locations) or the reason for a rejection and where the SIP went."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from preservation.config import Settings
from preservation.pipeline import STEPS, Context, ingest_path
from tests.conftest import FIXTURE_SIPS, run_kho

SIP = FIXTURE_SIPS / "hoso-2023-sotnmt-02"  # 3 files: a PDF, a PNG, a text file
LINE = re.compile(r"AIP (?P<aip>[0-9a-f-]{36}) (?P<step>\w+): ")


def step_lines(records: list[logging.LogRecord], aip_id: str) -> dict[str, list[logging.LogRecord]]:
    lines: dict[str, list[logging.LogRecord]] = {}
    for record in records:
        match = LINE.match(record.getMessage())
        if record.name.startswith("kho.") and match and match["aip"] == aip_id:
            lines.setdefault(match["step"], []).append(record)
    return lines


@pytest.fixture
def no_clamav(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without ClamAV, whatever this one has installed."""
    real_which = shutil.which

    def which(name: str, mode: int = os.F_OK | os.X_OK, path: str | None = None) -> str | None:
        return None if name.startswith("clam") else real_which(name, mode, path)

    monkeypatch.setattr(shutil, "which", which)


@pytest.mark.timeout(120)
def test_ingest_logs_one_line_per_step_with_its_numbers(
    settings: Settings, caplog: pytest.LogCaptureFixture, no_clamav: None
) -> None:
    caplog.set_level(logging.INFO, logger="kho")
    ctx = Context(settings)
    try:
        result = ingest_path(ctx, SIP)
    finally:
        ctx.close()
    assert result.status == "stored"
    lines = step_lines(caplog.records, result.aip_id)
    assert Counter({step: len(records) for step, records in lines.items()}) == Counter(dict.fromkeys(STEPS, 1))
    text = {step: records[0].getMessage() for step, records in lines.items()}
    assert "hoso-2023-sotnmt-02" in text["receive"]
    assert "3 files, 1969 bytes" in text["validate_sip"]
    assert "fmt/18×1" in text["identify"] and "fmt/11×1" in text["identify"] and "x-fmt/111×1" in text["identify"]
    assert "3 files:" in text["validate_formats"] and "valid×2" in text["validate_formats"]
    assert "well-formed×1" in text["validate_formats"]  # plain text: decoding is not validating
    assert "digests of 3 files" in text["fixity"]
    location = settings.storage[0]
    assert location in text["store"] and result.locations == [location]
    assert "3 original files, 1969 bytes" in text["index"] and location in text["index"]
    virus = lines["virus_check"][0]
    assert virus.levelno == logging.WARNING
    assert "virus check not performed: ClamAV (clamscan) is not installed" in virus.getMessage()
    assert "install the Debian package clamav" in virus.getMessage()
    assert all(r.levelno == logging.INFO for step, rs in lines.items() if step != "virus_check" for r in rs)


@pytest.mark.timeout(120)
def test_rejection_logs_the_reason_and_the_failed_folder(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kho")
    ctx = Context(settings)
    try:
        result = ingest_path(ctx, FIXTURE_SIPS / "bad-checksum")
    finally:
        ctx.close()
    assert result.status == "rejected" and result.failed_path
    rejected = [r for r in caplog.records if "REJECTED" in r.getMessage()]
    assert len(rejected) == 1 and rejected[0].levelno == logging.WARNING
    message = rejected[0].getMessage()
    assert message.startswith(f"AIP {result.aip_id} validate_sip: REJECTED")
    assert "checksum-mismatch" in message and "Ghi chú.txt" in message
    assert result.failed_path in message and Path(result.failed_path).is_dir()


@pytest.mark.timeout(120)
def test_cli_verbose_prints_the_step_lines_on_stderr(kho_home: Path) -> None:
    stored = run_kho("-v", "ingest", str(SIP), "--json", check=True)
    aip_id = json.loads(stored.stdout)["aip_id"]
    logged = [line for line in stored.stderr.splitlines() if f"AIP {aip_id} " in line]
    assert {LINE.search(line)["step"] for line in logged if LINE.search(line)} == set(STEPS)  # type: ignore[index]
    index_line = next(line for line in logged if " index: " in line)
    assert "INFO kho.ingest" in index_line and "3 original files, 1969 bytes" in index_line
    assert str(kho_home / "storage") in index_line
    quiet = run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), check=True)
    assert " receive: " not in quiet.stderr and " index: " not in quiet.stderr  # without -v: warnings only

    rejected = run_kho("-v", "ingest", str(FIXTURE_SIPS / "bad-checksum"))
    assert rejected.returncode == 1
    reject_line = next(line for line in rejected.stderr.splitlines() if "REJECTED" in line and "kho.ingest" in line)
    assert "checksum-mismatch" in reject_line and str(kho_home / "failed" / "bad-checksum") in reject_line
    plain = run_kho("ingest", str(FIXTURE_SIPS / "bad-checksum"))
    assert plain.returncode == 1
    assert [line for line in plain.stderr.splitlines() if "REJECTED" in line] == [
        line for line in plain.stderr.splitlines() if line.startswith("bad-checksum: REJECTED")
    ]  # without -v the result line only, not the log line as well

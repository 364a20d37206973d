"""preservation/progress.py: the engine reports its long loops through ``progress.task`` without knowing
who shows them; nothing by default, plain ``kho.progress`` log lines, or rich bars (the CLI on a terminal).
The fixity audit and the migration campaign report one advance per AIP (the campaign counts files)."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from rich.console import Console

from preservation import logs, migrate, progress
from preservation.catalog import Catalog
from preservation.cli.bars import RichProgress
from tests.helpers import Ingest


@dataclass
class Recorded:
    label: str
    total: int | None
    advances: list[tuple[int, str]] = field(default_factory=list)
    closed: bool = False

    def advance(self, amount: int = 1, note: str = "") -> None:
        self.advances.append((amount, note))


@pytest.fixture
def kho_logger() -> Iterator[logging.Logger]:
    """The ``kho`` logger as the test found it, whatever ``logs.configure`` did to it."""
    logger = logging.getLogger("kho")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield logger
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


class Recorder:
    """A reporter that keeps what it was told."""

    def __init__(self) -> None:
        self.tasks: list[Recorded] = []

    @contextmanager
    def task(self, total: int | None, label: str) -> Iterator[progress.Task]:
        recorded = Recorded(label, total)
        self.tasks.append(recorded)
        try:
            yield recorded
        finally:
            recorded.closed = True


def test_by_default_nothing_is_shown_nor_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert isinstance(progress.current(), progress.NoProgress)
    with progress.task(3, "fixity audit") as bar:
        bar.advance()
        bar.advance(2, note="done")
    assert caplog.records == []


def test_log_progress_writes_one_plain_line_per_advance(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kho.progress")
    with progress.reporting(progress.LogProgress()), progress.task(3, "migration") as bar:
        bar.advance(2, note="0f0e0d0c")
        bar.advance()
    with progress.reporting(progress.LogProgress()), progress.task(None, "watch") as bar:
        bar.advance(note="hoso-1")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("kho.progress", logging.INFO, "migration: 2/3 0f0e0d0c"),
        ("kho.progress", logging.INFO, "migration: 3/3"),
        ("kho.progress", logging.INFO, "watch: 1 hoso-1"),
    ]


def test_reporting_restores_the_previous_reporter_even_on_an_error() -> None:
    outer, inner = Recorder(), Recorder()
    with progress.reporting(outer):
        with pytest.raises(RuntimeError), progress.reporting(inner):
            assert progress.current() is inner
            raise RuntimeError("a step failed")
        assert progress.current() is outer
    assert isinstance(progress.current(), progress.NoProgress)


def test_rich_bars_nest_vanish_and_leave_stdout_alone() -> None:
    screen = io.StringIO()
    bars = RichProgress(Console(file=screen, force_terminal=True, width=100))
    stdout = sys.stdout
    with bars.task(2, "fixity audit") as audit:
        assert bars._progress.live.is_started
        with bars.task(11, "ingest hoso-1") as steps:
            steps.advance(note="validate_sip")
            assert sys.stdout is stdout  # `kho fixity --json | jq` keeps its JSON on stdout
        audit.advance(note="0f0e0d0c")
        assert [t.description for t in bars._progress.tasks] == ["fixity audit"]
    assert not bars._progress.live.is_started  # stopped with its last bar
    assert bars._progress.tasks == []
    assert "fixity audit" in screen.getvalue()


def test_the_fixity_audit_advances_once_per_aip_and_binds_its_id(catalog: Catalog, ingest: Ingest,
                                                                  kho_logger: logging.Logger) -> None:
    from preservation.fixity import audit

    stored = [ingest("hoso-2023-sotnmt-02"), ingest("hoso-2024-ubnd-01")]
    out = io.StringIO()
    logs.configure(json_lines=True, stream=out, propagate=False)
    recorder = Recorder()
    with progress.reporting(recorder):
        summary = audit(catalog)
    assert summary.unrepaired == 0
    [task] = recorder.tasks
    assert (task.label, task.total, task.closed) == ("fixity audit", 2, True)
    assert sorted(note for _amount, note in task.advances) == sorted(stored)
    assert all(amount == 1 for amount, _note in task.advances)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    per_aip = {line["aip_id"]: line["msg"] for line in lines if line["logger"] == "kho.fixity" and "aip_id" in line}
    assert sorted(per_aip) == sorted(stored)
    assert all(msg.endswith(" ok") for msg in per_aip.values())
    assert lines[-1]["msg"].startswith("fixity audit done: 2 copies of 2 AIPs")


def test_the_migration_campaign_counts_files_and_logs_a_failure(monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    @dataclass
    class Original:
        size: int

    candidates = [migrate.Candidate("aip-1", [Original(10), Original(20)], []),  # type: ignore[list-item]
                  migrate.Candidate("aip-2", [Original(5)], [])]  # type: ignore[list-item]

    def fake_migrate(catalog: Any, policy: Any, candidate: migrate.Candidate, **_kwargs: Any) -> None:
        assert logs.bound() == {"aip_id": candidate.aip_id}
        if candidate.aip_id == "aip-2":
            raise migrate.MigrationError("no verified copy")

    monkeypatch.setattr(migrate, "find_candidates", lambda catalog, policy, puid: candidates)
    monkeypatch.setattr(migrate, "migrate_aip", fake_migrate)
    monkeypatch.setattr(migrate.versions, "publish_pending", lambda catalog, aip_id=None: None)
    caplog.set_level(logging.INFO, logger="kho.migrate")
    recorder = Recorder()
    with progress.reporting(recorder):
        result = migrate.run_campaign(object())  # type: ignore[arg-type]
    assert result.migrated == ["aip-1"] and result.failed == {"aip-2": "no verified copy"}
    [task] = recorder.tasks
    assert (task.label, task.total, task.advances, task.closed) == ("migration", 3, [(2, "aip-1"), (1, "aip-2")], True)
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert messages[0] == (logging.INFO, "migration campaign: 3 files (35 bytes) in 2 AIPs need new copies by "
                                         f"{migrate.cached_policy().path.name}")
    assert (logging.WARNING, "AIP aip-2 migrate: FAILED: no verified copy") in messages
    failed = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert failed.kho_result is True  # printed by the CLI as its result: hidden from the log without -v
    assert messages[-1] == (logging.INFO, "migration campaign done: 1 AIPs migrated, 1 failed")

"""A rejected SIP: moved to ``failed/`` with its report; only its events reach the catalog."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from packages import eark, premis
from packages.sip import SipReport
from preservation.pipeline.context import Context
from preservation.pipeline.intake import SUBMITTED_ZIP
from preservation.pipeline.recording import agents_of, log
from preservation.pipeline.results import IngestResult, SipRejected
from preservation.workspace import (
    Workspace,
    copy_sparse,
    fitting_name,
    write_json_atomic,
)


def reject(
    ctx: Context, ws: Workspace, report: SipReport | eark.EarkReport, events: Iterable[dict[str, Any]], *, step: str
) -> None:
    """Move the SIP to ``failed/<name>/`` with a report; only the events reach the catalog. ``step`` names the
    step that rejected it, for the log line."""
    state = ws.state()
    failed = ctx.settings.failed_dir / fitting_name(state["sip_name"])
    if failed.exists():  # a SIP name may already use all 255 bytes: the suffix must still fit
        failed = failed.with_name(
            fitting_name(state["sip_name"], f"-{datetime.now(UTC):%Y%m%dT%H%M%S}-{state['aip_id'][:8]}")
        )
    failed.mkdir(parents=True)
    all_events = [*ws.committed_events(), *events]
    about = {"aip_id": state["aip_id"], "sip_name": state["sip_name"], "source": state["source"],
             "rejected_at": premis.now_iso()}
    if isinstance(report, SipReport):  # a summary in report.json, the rest streamed to report-problems.jsonl
        report.write_json(failed / "report.json", about, file_mode=ctx.settings.file_mode)
    else:
        write_json_atomic(failed / "report.json", {**report.to_dict(), **about})
    (failed / "REASON.txt").write_text(report.reason() + "\n", encoding="utf-8")
    if ws.sip_dir.exists() and state["mode"] == "copy":
        # the workspace holds hard links to the submitter's files: give the failed folder real copies,
        # so that fixing the failed SIP in place can never change the original at PATH
        with contextlib.suppress(shutil.Error):
            shutil.copytree(ws.sip_dir, failed / "sip", symlinks=True, copy_function=copy_sparse)
    elif ws.sip_dir.exists():
        os.rename(ws.sip_dir, failed / "sip")
    if (ws.path / SUBMITTED_ZIP).exists():  # a claimed ZIP: what the agency sent, kept with the report
        os.rename(ws.path / SUBMITTED_ZIP, failed / SUBMITTED_ZIP)
    with ctx.catalog.session() as session:
        ctx.catalog.ensure_agents(session, agents_of(ws).values())
        ctx.catalog.append_events(session, all_events)
    shutil.rmtree(ws.path, ignore_errors=True)
    log.warning(
        "AIP %s %s: REJECTED: SIP %r: %s; moved to %s", state["aip_id"], step, state["sip_name"], report.reason(),
        failed,
        extra={"kho_result": True},  # the CLI prints the result itself; its log shows this line with -v only
    )
    raise SipRejected(
        IngestResult(
            aip_id=state["aip_id"],
            sip_name=state["sip_name"],
            status="rejected",
            reason=report.reason(),
            failed_path=str(failed),
        )
    )

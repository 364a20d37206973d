"""Step 3, virus check: ClamAV over the whole SIP."""

from __future__ import annotations

from packages import agents
from packages.sip import Problem, SipReport
from preservation import virus
from preservation.pipeline.context import Context
from preservation.pipeline.recording import EventRecorder, log, register_agents
from preservation.pipeline.reject import reject
from preservation.pipeline.results import IngestError
from preservation.workspace import (
    Workspace,
)


def step_virus_check(ctx: Context, ws: Workspace) -> None:
    """ClamAV over the whole SIP (payload and tag files); see ``preservation.virus`` for the outcomes.
    A scan that was not performed is an event and a warning, never a silent "clean"."""
    aip_id = ws.aip_id
    try:
        result = virus.scan(ws.sip_dir, database=ctx.settings.clamav_db)
    except virus.ScanError as exc:
        raise IngestError(f"virus check / quét virus: {exc}") from exc
    events = EventRecorder(ws, "virus_check", aip_id)
    if result.outcome == "not performed":
        events.not_performed("virus check", detail="ClamAV virus scan", outcome_detail=result.message)
        ws.complete_step("virus_check", events)
        log.warning("AIP %s virus_check: %s", aip_id, result.message)
        return
    tool = agents.tool(result.program, result.version)
    register_agents(ws, tool)
    links = [agents.link(tool, "executing program")]
    if result.outcome == "clean":
        events.success("virus check", agents=links, detail="ClamAV virus scan",
                       outcome_detail=f"no virus found ({result.version})")
        ws.complete_step("virus_check", events)
        log.info("AIP %s virus_check: no virus found (%s)", aip_id, result.version)
        return
    events.failure("virus check", agents=links, detail="ClamAV virus scan", outcome_detail=result.message[:4000])
    report = SipReport(path=str(ws.sip_dir), profile="bagit")
    for path, signature in result.found[:100] or [("", result.message[:500])]:
        report.problems.append(Problem("virus-found", detail=signature, path=path or None))
    reject(ctx, ws, report, events, step="virus_check")

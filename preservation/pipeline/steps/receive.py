"""Step 1, receive: the SIP is in the workspace; record where it came from."""

from __future__ import annotations

from packages import agents
from preservation.pipeline.context import Context
from preservation.pipeline.recording import EventRecorder, log, register_agents
from preservation.workspace import Workspace


def step_receive(ctx: Context, ws: Workspace) -> None:
    state = ws.state()
    kho, org = agents.kho(), agents.organization(ctx.settings.organization)
    register_agents(ws, kho, org)
    how = "copied from" if state["mode"] == "copy" else "claimed from the ingest folder as"
    events = EventRecorder(ws, "receive", state["aip_id"])
    events.success(
        "ingestion start",
        detail=f"SIP {state['sip_name']!r} {how} {state['source']}",
        agents=[agents.link(kho, "executing program"), agents.link(org, "implementer")],
    )
    ws.complete_step("receive", events)
    log.info("AIP %s receive: SIP %r %s %s", state["aip_id"], state["sip_name"], how, state["source"])

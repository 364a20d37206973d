"""Step 7, fixity: record the digests computed when the SIP manifest was verified."""

from __future__ import annotations

from packages import agents
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import sip_files
from preservation.pipeline.recording import EventRecorder, log
from preservation.workspace import Workspace


def step_fixity(ctx: Context, ws: Workspace) -> None:
    """Digests were computed in the same read that verified the SIP manifest; record them."""
    events = EventRecorder(ws, "fixity")
    algorithms: set[str] = set()
    for item in sip_files(ws):
        events.success(
            "message digest calculation", objects=[item.id],
            detail=f"program=Kho {agents.KHO_VERSION} (hashlib); algorithms={','.join(item.digests)}",
            outcome_detail="; ".join(f"{alg}:{value}" for alg, value in item.digests.items()),
        )
        algorithms.update(item.digests)
    ws.complete_step("fixity", events)
    log.info(
        "AIP %s fixity: digests of %d files recorded (%s)", events.aip_id, len(events), ", ".join(sorted(algorithms))
    )

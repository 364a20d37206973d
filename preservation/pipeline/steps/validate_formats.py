"""Step 5, validate formats: every original validated or characterised, the verdict recorded as is."""

from __future__ import annotations

from collections import Counter

from format_registry.validators.batch import validate_many
from packages import agents
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import FormatValidation, as_output, identification_map, save_verdicts, sip_files
from preservation.pipeline.recording import EventRecorder, counts, log, register_agents
from preservation.workspace import Workspace

VALIDATION_OUTCOME = {
    "valid": "success",
    "well-formed": "warning",
    "invalid": "failure",
    "not-validated": "not performed",
}


def step_validate_formats(ctx: Context, ws: Workspace) -> None:
    """Validate/characterise every original (JHOVE where installed, built-in validators otherwise).

    An invalid original is still preserved — it is what was submitted — but the AIP is flagged for
    review; "not-validated" is recorded as such, never as valid."""
    aip_id = ws.aip_id
    files = list(sip_files(ws))
    identified = identification_map(ws)
    results = validate_many(
        [(str(ws.sip_dir / item.path), identified[item.path].puid, identified[item.path].mime) for item in files]
    )
    events = EventRecorder(ws, "validate_formats", aip_id)
    review: list[str] = []
    tool_agents: dict[str, dict[str, str]] = {}
    for item, result in zip(files, results, strict=True):
        agent = agents.tool(result["validator"], result["tool_version"] or "unknown")
        tool_agents[agent["value"]] = agent
        messages = "; ".join(f"{m.get('id') or m['severity']}: {m['text']}" for m in result["messages"][:5])
        events.record(
            "validation", VALIDATION_OUTCOME[result["status"]], objects=[item.id],
            agents=[agents.link(agent, "validator")],
            detail=f"format validation with {result['validator']} {result['tool_version']}".strip()
            + (f" (module {result['module']})" if result.get("module") else ""),
            outcome_detail=f"{result['status']}" + (f": {messages}" if messages else ""),
        )
        if result["status"] == "invalid":
            review.append(
                f"{item.path}: not valid as {identified[item.path].puid or 'its format'}"
                f" ({result['validator']}): {messages[:300]}"
            )
    register_agents(ws, *tool_agents.values())
    log.info(
        "AIP %s validate_formats: %d files: %s%s", aip_id, len(files), counts(Counter(r["status"] for r in results)),
        f"; {len(review)} invalid, flagged for review" if review else "",
    )
    save_verdicts(ws, ((item.path, result) for item, result in zip(files, results, strict=True)))
    ws.complete_step("validate_formats", events, as_output(FormatValidation(review=review)))

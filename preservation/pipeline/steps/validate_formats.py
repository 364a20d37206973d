"""Step 5, validate formats: every original validated or characterised, the verdict recorded as is."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from format_registry.validators.batch import validate_many
from packages import agents
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import (
    FormatValidation,
    as_output,
    identifications,
    in_batches,
    save_verdicts,
    sip_files,
)
from preservation.pipeline.recording import EventRecorder, counts, log, register_agents
from preservation.workspace import Workspace

BATCH_FILES = 2000  # files validated per call: both cores busy, one batch's verdicts in memory
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
    events = EventRecorder(ws, "validate_formats", aip_id)
    review: list[str] = []
    tool_agents: dict[str, dict[str, str]] = {}
    statuses: Counter[str] = Counter()

    def validated() -> Iterator[tuple[str, dict[str, Any]]]:
        # a batch at a time: the file list and the verdicts (messages included) are never all in memory
        for batch in in_batches(zip(sip_files(ws), identifications(ws), strict=True), BATCH_FILES):
            for item, (path, _found) in batch:
                if path != item.path:
                    raise ValueError(f"identification of {path!r} where {item.path!r} was expected: workspace damaged")
            results = validate_many([(str(ws.sip_dir / item.path), found.puid, found.mime)
                                     for item, (_path, found) in batch])
            for (item, (_path, found)), result in zip(batch, results, strict=True):
                _record(item.id, item.path, found.puid, result)
                yield item.path, result

    def _record(object_id: str, path: str, puid: str | None, result: dict[str, Any]) -> None:
        agent = agents.tool(result["validator"], result["tool_version"] or "unknown")
        tool_agents[agent["value"]] = agent
        statuses[result["status"]] += 1
        messages = "; ".join(f"{m.get('id') or m['severity']}: {m['text']}" for m in result["messages"][:5])
        events.record(
            "validation", VALIDATION_OUTCOME[result["status"]], objects=[object_id],
            agents=[agents.link(agent, "validator")],
            detail=f"format validation with {result['validator']} {result['tool_version']}".strip()
            + (f" (module {result['module']})" if result.get("module") else ""),
            outcome_detail=f"{result['status']}" + (f": {messages}" if messages else ""),
        )
        if result["status"] == "invalid":
            review.append(f"{path}: not valid as {puid or 'its format'} ({result['validator']}): {messages[:300]}")

    save_verdicts(ws, validated())
    register_agents(ws, *tool_agents.values())
    log.info(
        "AIP %s validate_formats: %d files: %s%s", aip_id, statuses.total(), counts(statuses),
        f"; {len(review)} invalid, flagged for review" if review else "",
    )
    ws.complete_step("validate_formats", events, as_output(FormatValidation(review=review)))

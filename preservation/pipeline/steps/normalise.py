"""Step 6, normalise: preservation and access copies as the format policy says, in batches that
Airflow can map over workers."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

from format_registry.policy import cached_policy
from packages import aip as aip_layout
from preservation import normalise as normalisation
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import Normalisation, as_output, identifications, sip_files
from preservation.pipeline.recording import EventRecorder, counts, log, register_agents
from preservation.pipeline.results import IngestError
from preservation.workspace import (
    Workspace,
    write_json_atomic,
)

NORMALISE_BATCH = 25  # conversions per batch: one Airflow mapped task each (one task per file is too slow)


def normalise_plan(ctx: Context, ws: Workspace) -> list[int]:
    """Decide every conversion the policy asks for and where its output goes; return the batch numbers."""
    if ws.is_done("normalise"):
        return []
    plan_path = ws.work_dir / "normalise-plan.json"
    if not plan_path.exists():
        policy = cached_policy()
        files = [dataclasses.asdict(item) for item in sip_files(ws)]
        identified = {path: found.to_dict() for path, found in identifications(ws)}
        jobs, notes = normalisation.plan(policy, files, identified)
        originals = {aip_layout.payload_aip_path(item["path"]) for item in files}  # never a derivative's place
        targets = normalisation.assign_paths(policy, jobs, set(originals))
        ws.work_dir.mkdir(exist_ok=True)
        write_json_atomic(
            plan_path,
            {
                "jobs": [dataclasses.asdict(job) for job in jobs],
                "targets": targets,
                "notes": notes,
                "policy": str(policy.path),
            },
        )
    jobs_count = len(json.loads(plan_path.read_text(encoding="utf-8"))["jobs"])
    return list(range((jobs_count + NORMALISE_BATCH - 1) // NORMALISE_BATCH))


def normalise_batch(ctx: Context, ws: Workspace, index: int) -> None:
    """Run one batch of conversions (idempotent; batches may run at once on different workers)."""
    result_path = ws.work_dir / f"normalise-batch-{index}.json"
    if ws.is_done("normalise") or result_path.exists():
        return
    plan = json.loads((ws.work_dir / "normalise-plan.json").read_text(encoding="utf-8"))
    part = slice(index * NORMALISE_BATCH, (index + 1) * NORMALISE_BATCH)
    jobs = [normalisation.Job(**job) for job in plan["jobs"][part]]
    derivatives, events, review, tool_agents = normalisation.run_jobs(
        cached_policy(),
        jobs,
        sip_dir=ws.sip_dir,
        derivatives_dir=ws.work_dir / "derivatives",
        aip_id=ws.aip_id,
        digests=ctx.digests,
        validate=ctx.validate_output,
        targets=plan["targets"][part],
    )
    write_json_atomic(
        result_path, {"derivatives": derivatives, "events": events, "review": review, "agents": tool_agents}
    )


def normalise_merge(ctx: Context, ws: Workspace) -> None:
    """Gather the batches into the normalise step's output and events (in plan order)."""
    plan = json.loads((ws.work_dir / "normalise-plan.json").read_text(encoding="utf-8"))
    batches = (len(plan["jobs"]) + NORMALISE_BATCH - 1) // NORMALISE_BATCH
    events = EventRecorder(ws, "normalise")
    derivatives: list[dict[str, Any]] = []
    review: list[str] = []
    tool_agents: list[dict[str, str]] = []
    for index in range(batches):
        path = ws.work_dir / f"normalise-batch-{index}.json"
        if not path.exists():
            raise IngestError(f"normalisation batch {index} has not run yet")
        batch = json.loads(path.read_text(encoding="utf-8"))
        derivatives += batch["derivatives"]
        for event in batch["events"]:
            events.add(event)
        review += batch["review"]
        tool_agents += batch["agents"]
    register_agents(ws, *tool_agents)
    output = Normalisation(derivatives=derivatives, review=review + plan["notes"], policy=plan["policy"])
    ws.complete_step("normalise", events, as_output(output))
    log.info(
        "AIP %s normalise: %d conversions planned, %d copies made (%s), %d bytes; %d notes for review",
        ws.aip_id, len(plan["jobs"]), len(derivatives),
        counts(Counter(f"{d['purpose']} {d['puid'] or d['mime']}" for d in derivatives)),
        sum(int(d["size"]) for d in derivatives), len(review) + len(plan["notes"]),
    )


def step_normalise(ctx: Context, ws: Workspace) -> None:
    """Preservation and access copies as the format policy says (see preservation/normalise.py).

    In-process the batches run one after another (each converting in parallel threads); the Airflow
    DAG maps them over workers instead."""
    for index in normalise_plan(ctx, ws):
        normalise_batch(ctx, ws, index)
    normalise_merge(ctx, ws)

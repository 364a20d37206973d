"""The step runner: each step idempotent, under the workspace lock, in the order of ``STEPS``; the CLI
runs the whole pipeline in-process, the Airflow DAG one task per step."""

from __future__ import annotations

import contextlib
import errno
import time
from collections import Counter
from pathlib import Path

from preservation import logs, progress
from preservation.faults import checkpoint
from preservation.pipeline.context import Context
from preservation.pipeline.intake import claim, finish_claim, ready_sips, start_copy
from preservation.pipeline.recording import log
from preservation.pipeline.results import IngestError, IngestResult, SipRejected
from preservation.pipeline.steps import STEP_FUNCTIONS, STEPS
from preservation.workspace import (
    Workspace,
    WorkspaceBusy,
    iter_workspaces,
    remove_stale_partials,
    source_locked,
)


def run_step(ctx: Context, ws: Workspace, step: str) -> None:
    """Run one step unless done (idempotent); the Airflow tasks call this."""
    if step not in STEP_FUNCTIONS:
        raise ValueError(f"unknown step {step!r}; steps are {STEPS}")
    if not ws.path.exists():
        # Two runs can hold one workspace (a scan restarted an ingest whose run was only queued): the
        # other one finished it, stored or rejected, and left its events in the catalog. Nothing to do.
        if step == "index" or ctx.catalog.has_events(ws.path.name):
            log.info("AIP %s %s: nothing to do, this ingest already ended (stored or rejected)", ws.path.name, step)
            return
        raise IngestError(f"workspace {ws.path} does not exist (already finished or rejected?)")
    with ws.locked(), logs.bind(aip_id=ws.path.name):  # every line of a step names its AIP (the folder's name)
        if ws.is_done(step):
            return
        if ws.state()["mode"] == "claim":
            finish_claim(ctx, ws)
        missing = [s for s in STEPS[: STEPS.index(step)] if not ws.is_done(s)]
        if missing:
            raise IngestError(f"step {step} needs {missing[0]} first")
        try:
            STEP_FUNCTIONS[step](ctx, ws)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            # a full KHO_HOME is a fault that passes: the workspace stays, `kho resume` continues here
            raise IngestError(
                f"step {step}: no space left in {ctx.settings.home} ({exc.strerror}); free space and run "
                f"`kho resume` / hết dung lượng đĩa; giải phóng dung lượng rồi chạy `kho resume`"
            ) from exc
        if ws.path.exists() and step != "index":
            checkpoint(f"after:{step}")


def result_for(ctx: Context, aip_id: str, sip_name: str) -> IngestResult:
    files = [f for f in ctx.catalog.files(aip_id) if f.role == "original"]
    formats = Counter(f.puid or f.mime or "unknown" for f in files)
    return IngestResult(
        aip_id=aip_id,
        sip_name=sip_name,
        status="stored",
        files=len(files),
        locations=[c.location for c in ctx.catalog.copies(aip_id)],
        formats=dict(formats),
    )


def run_pipeline(ctx: Context, ws: Workspace) -> IngestResult:
    """Every step not yet done, holding the workspace lock throughout (each step re-enters it): between
    two steps a ``kho resume`` elsewhere must not see the workspace as free."""
    with ws.locked():
        state = ws.state()
        with progress.task(len(STEPS), f"ingest {state['sip_name']}") as bar:
            try:
                for step in STEPS:
                    run_step(ctx, ws, step)
                    bar.advance(note=step)
            except SipRejected as rejected:
                return rejected.result
    return result_for(ctx, state["aip_id"], state["sip_name"])


def ingest_path(ctx: Context, source: Path, profile: str = "bagit") -> IngestResult:
    """``kho ingest PATH``. Raises ``WorkspaceBusy`` (with the holder) if another process is ingesting
    the same PATH or working on its workspace: the caller says so, and nothing is done twice."""
    if not source.exists():
        raise IngestError(f"{source} does not exist / không tồn tại", resumable=False)
    with source_locked(ctx.settings, source.resolve()), contextlib.ExitStack() as hold:
        return run_pipeline(ctx, start_copy(ctx, source, profile, hold=hold))


def resumable(ctx: Context, *, stale_only: bool) -> list[Workspace]:
    """Interrupted workspaces nobody is working on (with ``stale_only``: idle for
    ``resume_after_seconds``, so a DAG run between two tasks is not taken over)."""
    remove_stale_partials(ctx.settings)
    found = []
    for ws in iter_workspaces(ctx.settings):
        if ws.is_locked():
            continue
        try:
            idle = time.time() - float(ws.state().get("updated_at", 0))
        except (OSError, ValueError):
            continue
        if not stale_only or idle >= ctx.settings.resume_after_seconds:
            found.append(ws)
    return found


def resume_all(ctx: Context) -> list[IngestResult]:
    results = []
    for ws in resumable(ctx, stale_only=False):
        try:
            results.append(run_pipeline(ctx, ws))
        except WorkspaceBusy as busy:
            log.info("not resumed: %s", busy)
            continue
    return results


def scan_ingest_folder(ctx: Context) -> list[Workspace]:
    """Claim every settled SIP in the ingest folder; return the new workspaces."""
    claimed = []
    for sip in ready_sips(ctx.settings):
        ws = claim(ctx, sip)
        if ws is not None:
            claimed.append(ws)
    return claimed

"""Normalisation (DESIGN.md step 6): preservation and access derivatives by the format policy.

Originals are always kept. Each derivative is written to ``work/derivatives/<rep>/data/...`` and
later packaged as a further E-ARK representation (``rep-02`` preservation, ``rep-03`` access),
with its own digests, identification and a PREMIS ``normalization`` event linking source and
outcome. A failed or timed-out conversion is an event with the tool's stderr and flags the AIP
for review; it never stops the ingest.

A copy whose policy target is PDF/A (``PDF/A-2b``) is checked as PDF/A before it is accepted: by veraPDF
where ``$KHO_VERAPDF`` (or ``verapdf`` on PATH) is installed, otherwise by Kho's built-in checks
(``format_registry/validators/pdfa.py``). A copy that fails is a failed normalisation event naming the
failed rules, and it is not kept: a converter's "PDF/A" label is a claim, not a fact.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from format_registry.convert import Conversion, run_tool_batch, tool_version
from format_registry.policy import Policy
from format_registry.validators.pdfa import accepted, check_pdfa, parse_target
from packages import agents, premis
from packages.aip import payload_relative
from packages.checksums import hash_file

PRESERVATION_REP = "rep-02"
ACCESS_REP = "rep-03"
REPRESENTATION_OF = {"preservation": PRESERVATION_REP, "access": ACCESS_REP}
BATCH_TOOL_CHUNK = 25  # files per LibreOffice process


@dataclass(frozen=True)
class Job:
    source_id: str
    source_path: str  # inside the SIP: data/...
    purpose: str  # preservation | access
    tool: str
    target: str


def plan(policy: Policy, files: list[dict[str, Any]], identified: dict[str, Any]) -> tuple[list[Job], list[str]]:
    """Jobs the policy asks for, and notes for files the policy does not know (to review)."""
    jobs, notes = [], []
    for item in files:
        found = identified[item["path"]]
        decision = policy.decide(found.get("puid"), found.get("mime"))
        if decision.matched_by == "default":
            notes.append(f"{item['path']}: format {found.get('puid') or found.get('mime')} is not in the policy")
        for purpose, action in (("preservation", decision.preservation), ("access", decision.access)):
            if action.action == "normalise" and action.tool and action.target:
                jobs.append(Job(item["id"], item["path"], purpose, action.tool, action.target))
    return jobs, notes


def _derivative_path(job: Job, extension: str, taken: set[str]) -> str:
    stem = payload_relative(job.source_path).with_suffix("")
    candidate = f"representations/{REPRESENTATION_OF[job.purpose]}/data/{stem}.{extension}"
    counter = 2
    while candidate in taken:
        candidate = f"representations/{REPRESENTATION_OF[job.purpose]}/data/{stem}-{counter}.{extension}"
        counter += 1
    taken.add(candidate)
    return candidate


def assign_paths(policy: Policy, jobs: list[Job], taken: set[str]) -> list[str]:
    """The AIP path of every job's derivative, decided up front so that batches run apart never collide."""
    return [_derivative_path(job, policy.tools[job.tool].extension, taken) for job in jobs]


def run_jobs(
    policy: Policy,
    jobs: list[Job],
    *,
    sip_dir: Path,
    derivatives_dir: Path,
    aip_id: str,
    digests: tuple[str, ...],
    validate: Callable[[Path, str | None, str | None], dict[str, Any]] | None = None,
    workers: int | None = None,
    event_type: str = "normalization",
    taken: set[str] | None = None,
    targets: list[str] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str], list[dict[str, str]]]:
    """Run the jobs (in parallel: conversions wait on subprocesses). Returns derivatives, events,
    review reasons and the tool agents used."""
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    scratch_root = Path(tempfile.mkdtemp(prefix="kho-normalise-"))
    try:
        conversions = _convert_all(policy, jobs, sip_dir, scratch_root, workers)
        derivatives: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        review: list[str] = []
        tool_agents: dict[str, dict[str, str]] = {}
        taken = set() if taken is None else taken  # AIP paths already in use (a migration adds to an AIP)
        kho = agents.kho()
        for index, (job, conversion) in enumerate(zip(jobs, conversions, strict=True)):
            tool = policy.tools[job.tool]
            agent = tool_agents.get(job.tool) or agents.tool(job.tool, tool_version(tool))
            tool_agents[job.tool] = agent
            links = [agents.link(kho, "executing program"), agents.link(agent, "software")]
            error, checked = _accept(conversion, validate, job.target)
            if error:
                review.append(f"{job.source_path}: {job.purpose} copy ({job.target}) failed: {error}")
                events.append(premis.new_event(
                    event_type, "failure", aip_id=aip_id, object_ids=[job.source_id], object_roles=["source"],
                    agents=links, detail=f"{job.purpose} copy as {job.target} with {job.tool}",
                    outcome_detail=f"{error}; stderr: {conversion.stderr.strip()[-1500:]}".strip()))
                continue
            assert conversion.output is not None and conversion.identification is not None
            aip_path = targets[index] if targets is not None else _derivative_path(job, tool.extension, taken)
            stored = derivatives_dir / aip_path
            stored.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(conversion.output), stored)
            found = conversion.identification
            derivative: dict[str, Any] = {
                "id": str(uuid.uuid4()), "source_id": job.source_id, "source_path": job.source_path,
                "purpose": job.purpose, "representation": REPRESENTATION_OF[job.purpose], "aip_path": aip_path,
                "size": stored.stat().st_size, "digests": hash_file(stored, digests), "puid": found.puid,
                "format_name": found.format_name, "format_version": found.format_version, "mime": found.mime,
                "method": found.method, "tool": job.tool,
            }
            derivatives.append(derivative)
            events.append(premis.new_event(
                event_type, "success", aip_id=aip_id, object_ids=[job.source_id, derivative["id"]],
                object_roles=["source", "outcome"], agents=links,
                detail=f"{job.purpose} copy as {job.target} with {job.tool} ({conversion.seconds:.1f} s)",
                outcome_detail=f"{aip_path}: {found.puid or found.mime} {found.format_name or ''}".strip()
                + (f"; {checked}" if checked else "")))
            events.append(premis.new_event(
                "message digest calculation", "success", aip_id=aip_id, object_ids=[derivative["id"]],
                agents=[agents.link(kho, "executing program")], detail=f"algorithms={','.join(digests)}",
                outcome_detail="; ".join(f"{a}:{v}" for a, v in derivative["digests"].items())))
        return derivatives, events, review, list(tool_agents.values())
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)


def _convert_all(policy: Policy, jobs: list[Job], sip_dir: Path, scratch: Path, workers: int) -> list[Conversion]:
    """Every job's conversion, in job order: jobs of a ``batch`` tool (LibreOffice) go to one process per
    tool and chunk, the others one by one; all of it spread over ``workers`` threads."""
    units: list[tuple[str, list[int]]] = []
    by_tool: dict[str, list[int]] = {}
    for index, job in enumerate(jobs):
        if policy.tools[job.tool].batch:
            by_tool.setdefault(job.tool, []).append(index)
        else:
            units.append((job.tool, [index]))
    for tool, indices in by_tool.items():
        units += [(tool, indices[i:i + BATCH_TOOL_CHUNK]) for i in range(0, len(indices), BATCH_TOOL_CHUNK)]

    def convert(numbered: tuple[int, tuple[str, list[int]]]) -> list[tuple[int, Conversion]]:
        number, (tool, indices) = numbered
        sources = [(sip_dir / jobs[i].source_path).resolve() for i in indices]
        return list(zip(indices, run_tool_batch(policy.tools[tool], sources, scratch / f"unit-{number}"), strict=True))

    done: dict[int, Conversion] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for pairs in pool.map(convert, enumerate(units)):
            done.update(pairs)
    return [done[index] for index in range(len(jobs))]


def _accept(conversion: Conversion, validate: Callable[[Path, str | None, str | None], dict[str, Any]] | None,
            target: str | None = None) -> tuple[str, str]:
    """Why the output cannot be accepted ("" when it can: tool failure, wrong format, invalid file, not the
    PDF/A it should be), and what PDF/A check it passed ("" when none applied)."""
    if not conversion.ok:
        return conversion.error, ""
    if validate is not None and conversion.output is not None and conversion.identification is not None:
        verdict = validate(conversion.output, conversion.identification.puid, conversion.identification.mime)
        if verdict.get("status") == "invalid":
            return f"output is not valid ({verdict.get('validator')}): {verdict.get('summary', '')}".strip(), ""
    level = parse_target(target)
    if level is None or conversion.output is None:
        return "", ""
    result = check_pdfa(conversion.output, *level)
    label = f"PDF/A-{level[0]}{level[1].lower()}"
    by = f"{result.validator} {result.tool_version}".strip()
    if not accepted(result):
        reasons = "; ".join(m.text for m in result.errors()[:8]) or "; ".join(m.text for m in result.messages[:2])
        return f"output is not {label} ({by}): {reasons}", ""
    if result.validator == "verapdf":
        return "", f"{label} verified by veraPDF ({by}, {result.module})"
    verapdf = result.details.get("verapdf", "not used")
    return "", f"{label} checks passed ({by}; veraPDF {verapdf}: not a full validation)"

"""Step 2, validate the SIP: BagIt (with the Vietnamese TT 05 profile) or E-ARK CSIP/SIP; an invalid
SIP is rejected with a report, never half-ingested."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from packages import agents, eark, premis
from packages import aip as aip_layout
from packages.submission import BAGIT, EARK, read_submission
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import SipFile, SipValidation, as_output, save_sip_files
from preservation.pipeline.provenance import digitisation_agents, digitisation_events
from preservation.pipeline.recording import EventRecorder, log, register_agents
from preservation.pipeline.reject import reject
from preservation.workspace import Workspace


def step_validate_sip(ctx: Context, ws: Workspace) -> None:
    """One path for BagIt and E-ARK (``packages.submission``): the reader validates, then the duplicate
    check, the events and the output are the same for both; an E-ARK package's own PREMIS history is kept."""
    state = ws.state()
    aip_id = state["aip_id"]
    kind = "eark" if state.get("kind") == "eark" else "bagit"
    name = Path(state["sip_name"]).stem if state["sip_name"].lower().endswith(".zip") else state["sip_name"]
    found_before = [(p["code"], p["detail"], p["path"]) for p in state.get("copy_problems", [])] + [
        ("zip-unreadable", text, None) for text in state.get("unpack_failures", [])
    ]
    report = read_submission(
        ws.sip_dir, kind, profile=state.get("profile", "bagit"), keep_digests=ctx.digests, package_name=name,
        limits=ctx.settings.sip_limits(), found_before=found_before,
    )
    kho = agents.kho()
    if report.kind == BAGIT:
        reader = agents.tool("kho-bagit-reader (RFC 8493)", agents.KHO_VERSION)
        register_agents(ws, reader, agents.submitter(report.description))
    else:
        reader = kho
        register_agents(ws, kho)
    links = [agents.link(kho, "executing program"), agents.link(reader, "validator")]
    previous_version = None
    if report.valid and report.payload_hash:
        duplicate = ctx.catalog.find_by_payload_hash(report.payload_hash)
        if duplicate is not None and ctx.settings.duplicates == "refuse":
            if report.kind == BAGIT:
                report.refuse("duplicate", f"AIP {duplicate.id} (set KHO_DUPLICATES=new-version to keep a new version)")
            else:
                report.refuse("duplicate", f"AIP {duplicate.id}", requirement="KHO-DUPLICATE")
        elif duplicate is not None:
            previous_version = duplicate.id
    events = EventRecorder(ws, "validate_sip", aip_id)
    if not report.valid:
        events.failure("validation", agents=links, detail=f"SIP validated against {report.standard}",
                       outcome_detail="\n".join(report.problem_lines()))
        reject(ctx, ws, report.source, events, step="validate_sip")
    imported = 0
    if report.kind == EARK:
        register_agents(ws, agents.submitter(report.description))
        new_ids = {f.path: str(uuid.uuid4()) for f in report.files}
        history, history_agents = _imported_history(ctx, ws.sip_dir, aip_id, new_ids)
        register_agents(ws, *history_agents)
        for event in history:
            events.add(event)
        imported = len(history)
        if history:
            events.success(
                "transfer", agents=[agents.link(kho, "executing program")],
                detail=f"custody received: package {report.objid} from "
                f"{report.description.get('Source-Organization', 'sender')}",
                outcome_detail=f"{imported} earlier PREMIS events kept",
            )
    else:
        new_ids = {f.path: str(uuid.uuid4()) for f in report.files}
    total = sum(f.size for f in report.files)
    warnings = report.warning_lines()
    if report.kind == BAGIT:
        summary = f"{len(report.files)} files, {total} bytes" + (f"; {'; '.join(warnings)}" if warnings else "")
    else:
        summary = f"{len(report.files)} files" + "".join(f"; {w}" for w in warnings[:10])
    events.record("validation", "warning" if warnings else "success", agents=links,
                  detail=f"SIP validated against {report.standard}", outcome_detail=summary)
    events.success("fixity check", agents=links, detail=report.fixity_detail,
                   outcome_detail=f"{report.verified_files} files match")
    if report.tt05_standard == "TT 02/2019" and report.tt05:
        events.success(
            "metadata modification", agents=links,
            detail="TT 02/2019 metadata converted to the TT 05/2025 form (kept as submitted in metadata/other)",
            outcome_detail="; ".join(report.tt05_notes)[:8000],
        )
    digitised = list(digitisation_events(ws.sip_dir, new_ids, aip_id))  # a `kho digitise` SIP's capture and OCR
    if digitised:
        register_agents(ws, *digitisation_agents(ws.sip_dir))
        for event in digitised:
            events.add(event)
    save_sip_files(ws, (SipFile(new_ids[f.path], f.path, f.size, f.digests) for f in report.files))
    log.info(
        "AIP %s validate_sip: valid %s package: %d files, %d bytes, %d checksums (%s) match%s%s",
        aip_id, report.kind, len(report.files), total, report.verified_files, ", ".join(report.algorithms),
        f"; {len(warnings)} warnings: {'; '.join(warnings)}" if warnings else "",
        f", {imported} earlier PREMIS events kept" if imported else "",
    )
    ws.complete_step(
        "validate_sip",
        events,
        as_output(SipValidation(
            bag_info=report.description,
            payload_hash=report.payload_hash,
            algorithms=report.algorithms,
            warnings=report.warning_dicts(),
            previous_version=previous_version,
            dossier_access=report.dossier_access,
            file_access=report.file_access,
            tt05=report.tt05,
            tt05_standard=report.tt05_standard,
            package_kind=report.kind,
            objid=report.objid,
            file_count=len(report.files),
        )),
    )


def _imported_history(
    ctx: Context, root: Path, aip_id: str, new_ids: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Events and agents of a package's own PREMIS (an AIP handed over by another archive).

    Object links are rewritten to this AIP's identifiers (matched by path); an event id already in
    the catalog gets a derived id, so the history is kept whole without colliding."""
    path = root / aip_layout.PREMIS_PATH
    if not path.is_file():
        return [], []
    ns = {"p": premis.PREMIS_NS}
    tree = eark.parse_xml(path).getroot()
    by_old_id: dict[str, str] = {}
    for obj in tree.iterfind("p:object", ns):
        old = obj.findtext("p:objectIdentifier/p:objectIdentifierValue", namespaces=ns) or ""
        name = obj.findtext("p:originalName", namespaces=ns) or ""
        kind = obj.get(f"{{{premis.XSI_NS}}}type", "")
        if kind.endswith("intellectualEntity"):
            by_old_id[old] = aip_id
        elif name in new_ids:
            by_old_id[old] = new_ids[name]
    events: list[dict[str, Any]] = []
    for element in tree.iterfind("p:event", ns):
        event_id = element.findtext("p:eventIdentifier/p:eventIdentifierValue", namespaces=ns) or str(uuid.uuid4())
        event_type = element.findtext("p:eventType", namespaces=ns) or ""
        outcome = element.findtext("p:eventOutcomeInformation/p:eventOutcome", namespaces=ns) or "success"
        if event_type not in premis.EVENT_TYPES or outcome not in premis.OUTCOMES:
            continue
        events.append(
            {
                "id": event_id,
                "aip_id": aip_id,
                "event_type": event_type,
                "event_datetime": element.findtext("p:eventDateTime", namespaces=ns) or premis.now_iso(),
                "detail": element.findtext("p:eventDetailInformation/p:eventDetail", namespaces=ns) or "",
                "outcome": outcome,
                "outcome_detail": element.findtext(
                    "p:eventOutcomeInformation/p:eventOutcomeDetail/p:eventOutcomeDetailNote", namespaces=ns
                )
                or "",
                "object_ids": [
                    by_old_id.get(v, v)
                    for v in element.xpath(
                        "p:linkingObjectIdentifier/p:linkingObjectIdentifierValue/text()", namespaces=ns
                    )
                ],
                "agents": [
                    {
                        "type": a.findtext("p:linkingAgentIdentifierType", namespaces=ns) or "",
                        "value": a.findtext("p:linkingAgentIdentifierValue", namespaces=ns) or "",
                        "role": a.findtext("p:linkingAgentRole", namespaces=ns) or "",
                    }
                    for a in element.iterfind("p:linkingAgentIdentifier", ns)
                ],
            }
        )
    known = ctx.catalog.existing_event_ids([str(e["id"]) for e in events])
    for event in events:
        if event["id"] in known:
            event["id"] = str(uuid.uuid5(uuid.UUID(aip_id), event["id"]))
    imported_agents = [
        {
            "type": a.findtext("p:agentIdentifier/p:agentIdentifierType", namespaces=ns) or "",
            "value": a.findtext("p:agentIdentifier/p:agentIdentifierValue", namespaces=ns) or "",
            "name": a.findtext("p:agentName", namespaces=ns) or "",
            "agent_type": a.findtext("p:agentType", namespaces=ns) or "",
        }
        for a in tree.iterfind("p:agent", ns)
    ]
    return events, [a for a in imported_agents if a["type"] and a["value"]]



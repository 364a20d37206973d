"""Step 2, validate the SIP: BagIt (with the Vietnamese TT 05 profile) or E-ARK CSIP/SIP; an invalid
SIP is rejected with a report, never half-ingested."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from packages import aip as aip_layout
from packages import eark
from packages.sip import PayloadFile, Problem, payload_hash, validate_sip
from preservation import agents, premis
from preservation.catalog import Aip
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import SipFile, SipValidation, as_output, save_sip_files
from preservation.pipeline.recording import EventRecorder, log, register_agents
from preservation.pipeline.reject import reject
from preservation.workspace import Workspace


def step_validate_sip(ctx: Context, ws: Workspace) -> None:
    state = ws.state()
    if state.get("kind") == "eark":
        _validate_eark_sip(ctx, ws)
        return
    aip_id = state["aip_id"]
    report = validate_sip(ws.sip_dir, profile=state.get("profile", "bagit"), keep_digests=ctx.digests,
                          **ctx.settings.sip_limits())
    copy_problems = [Problem(p["code"], detail=p["detail"], path=p["path"]) for p in state.get("copy_problems", [])]
    report.problems[:0] = copy_problems
    bagit_agent = agents.tool("kho-bagit-reader (RFC 8493)", agents.KHO_VERSION)
    kho = agents.kho()
    register_agents(ws, bagit_agent, agents.submitter(report.bag_info))
    links = [agents.link(kho, "executing program"), agents.link(bagit_agent, "validator")]
    previous_version = None
    if report.valid and report.payload_hash:
        duplicate = ctx.catalog.find_by_payload_hash(report.payload_hash)
        if duplicate is not None and ctx.settings.duplicates == "refuse":
            report.problems.append(
                Problem(
                    "duplicate", detail=f"AIP {duplicate.id} (set KHO_DUPLICATES=new-version to keep a new version)"
                )
            )
        elif duplicate is not None:
            previous_version = duplicate.id
    profile = "BagIt 1.0" + (" + Vietnamese TT 05 dossier profile" if report.profile == "vn" else "")
    detail = f"SIP validated against {profile}: structure, manifests, safe paths"
    events = EventRecorder(ws, "validate_sip", aip_id)
    if not report.valid:
        events.failure("validation", agents=links, detail=detail,
                       outcome_detail="\n".join(p.line() for p in report.problems))
        reject(ctx, ws, report, events, step="validate_sip")
    total = sum(f.size for f in report.files)
    warnings = "; ".join(w.line() for w in report.warnings)
    events.record(
        "validation", "warning" if report.warnings else "success", agents=links, detail=detail,
        outcome_detail=f"{len(report.files)} files, {total} bytes" + (f"; {warnings}" if warnings else ""),
    )
    events.success(
        "fixity check", agents=links,
        detail=f"every payload file checked against the SIP's manifest ({', '.join(report.algorithms)})",
        outcome_detail=f"{len(report.files)} files match",
    )
    if report.tt05_standard == "TT 02/2019" and report.tt05:
        events.success(
            "metadata modification", agents=links,
            detail="TT 02/2019 metadata converted to the TT 05/2025 form (kept as submitted in metadata/other)",
            outcome_detail="; ".join(report.tt05_notes)[:8000],
        )
    save_sip_files(ws, (SipFile(str(uuid.uuid4()), f.path, f.size, f.digests) for f in report.files))
    log.info(
        "AIP %s validate_sip: valid against %s: %d files, %d bytes, manifests (%s) match%s",
        aip_id, profile, len(report.files), total, ", ".join(report.algorithms),
        f"; {len(report.warnings)} warnings: {warnings}" if warnings else "",
    )
    ws.complete_step(
        "validate_sip",
        events,
        as_output(SipValidation(
            bag_info=report.bag_info,
            payload_hash=report.payload_hash,
            algorithms=report.algorithms,
            warnings=[w.to_dict() for w in report.warnings],
            previous_version=previous_version,
            dossier_access=report.dossier_access,
            file_access=report.file_access,
            tt05=report.tt05,
            tt05_standard=report.tt05_standard,
            file_count=len(report.files),
        )),
    )


def _validate_eark_sip(ctx: Context, ws: Workspace) -> None:
    """An E-ARK CSIP/SIP 2.x package: every failure names its requirement id (CSIP1, CSIP71 ...)."""
    state = ws.state()
    aip_id = state["aip_id"]
    name = Path(state["sip_name"]).stem if state["sip_name"].lower().endswith(".zip") else state["sip_name"]
    report = eark.validate_eark(ws.sip_dir, keep_digests=ctx.digests, package_name=name)
    report.failures[:0] = [
        eark.EarkProblem("KHO-ZIP", "zip-unreadable", text) for text in state.get("unpack_failures", [])
    ]
    kho = agents.kho()
    register_agents(ws, kho)
    links = [agents.link(kho, "executing program"), agents.link(kho, "validator")]
    detail = f"SIP validated against E-ARK {report.specification} 2.x (METS, fileSec checksums, structMap)"
    payload = [f for f in report.files if aip_layout.REPRESENTATION_DATA.match(f.path)]
    if report.valid and not payload:
        report.failures.append(eark.EarkProblem("CSIPSTR9", "no-representation-data"))
    digest: str | None = None
    duplicate: Aip | None = None
    if report.valid:
        # the whole submission (representations, metadata, documentation), as for BagIt: the same
        # records with other metadata are a new submission, not a duplicate
        digest = payload_hash([PayloadFile(f.path, f.size, f.digests) for f in report.files if "sha256" in f.digests])
        duplicate = ctx.catalog.find_by_payload_hash(digest)
        if duplicate is not None and ctx.settings.duplicates == "refuse":
            report.failures.append(eark.EarkProblem("KHO-DUPLICATE", "duplicate", f"AIP {duplicate.id}"))
    events = EventRecorder(ws, "validate_sip", aip_id)
    if not report.valid:
        events.failure("validation", agents=links, detail=detail,
                       outcome_detail="\n".join(p.text for p in report.failures))
        reject(ctx, ws, report, events, step="validate_sip")
    bag_info = _eark_description(ws.sip_dir, report)
    register_agents(ws, agents.submitter(bag_info))
    new_ids = {f.path: str(uuid.uuid4()) for f in payload}
    imported, imported_agents = _imported_history(ctx, ws.sip_dir, aip_id, new_ids)
    register_agents(ws, *imported_agents)
    for event in imported:
        events.add(event)
    if imported:
        events.success(
            "transfer", agents=[agents.link(kho, "executing program")],
            detail=f"custody received: package {report.objid} from {bag_info.get('Source-Organization', 'sender')}",
            outcome_detail=f"{len(imported)} earlier PREMIS events kept",
        )
    events.record(
        "validation", "warning" if report.warnings else "success", agents=links, detail=detail,
        outcome_detail=f"{len(payload)} files" + "".join(f"; {w.text}" for w in report.warnings[:10]),
    )
    events.success(
        "fixity check", agents=links, detail="every file checked against the checksum its METS declares",
        outcome_detail=f"{sum(f.verified for f in report.files)} files match",
    )
    log.info(
        "AIP %s validate_sip: valid E-ARK %s package: %d files, %d bytes%s",
        aip_id, report.specification, len(payload), sum(f.size for f in payload),
        f", {len(imported)} earlier PREMIS events kept" if imported else "",
    )
    save_sip_files(ws, (
        SipFile(new_ids[f.path], f.path, f.size, {k: f.digests[k] for k in ctx.digests if k in f.digests})
        for f in payload
    ))
    ws.complete_step(
        "validate_sip",
        events,
        as_output(SipValidation(
            bag_info=bag_info,
            payload_hash=digest,
            algorithms=["sha256"],
            warnings=[w.to_dict() for w in report.warnings],
            previous_version=duplicate.id if duplicate else None,
            dossier_access={"mode": "restricted", "embargo_until": None, "basis": ""},
            file_access={},
            package_kind="E-ARK",
            objid=report.objid,
            file_count=len(payload),
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


def _eark_description(root: Path, report: eark.EarkReport) -> dict[str, str]:
    """Descriptive fields from the package METS (LABEL, OBJID, submitting organisation)."""
    tree = eark.parse_xml(root / "METS.xml").getroot()
    ns = {"m": "http://www.loc.gov/METS/"}
    info = {"title": tree.get("LABEL") or report.objid or root.name, "External-Identifier": report.objid or ""}
    submitter = tree.findtext("m:metsHdr/m:agent[@TYPE='ORGANIZATION']/m:name", namespaces=ns)
    if submitter:
        info["Source-Organization"] = submitter
    return {k: v for k, v in info.items() if v}

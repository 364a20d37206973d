"""Step 5, validate signatures: every digital signature on the originals checked against the archive's trust
anchors (issue #18 A, docs/decisions/0022-signature-validation.md).

Why at ingest: Decision 458 asks that signed records keep their legal value for their whole retention
period. What a signature proves can only be established while its certificates, revocation data and the
algorithms are current, so the verdict and everything it rests on (the chain, the CRLs and OCSP responses,
the anchors trusted) are kept with the AIP under ``metadata/preservation/signatures/``; ``kho authenticity
verify`` re-checks from them alone. Originals are never changed. A signature that is not ``valid`` keeps the
record and flags the AIP for review, unless ``KHO_SIGNATURE_POLICY=refuse``.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from format_registry.signatures import SignatureReport, SignatureStatus, find_signatures
from packages import agents
from packages import aip as aip_layout
from packages.sip import Problem, SipReport
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import SignatureValidation, as_output, sip_files
from preservation.pipeline.recording import EventRecorder, log, register_agents
from preservation.pipeline.reject import reject
from preservation.pipeline.results import IngestError
from preservation.workspace import Workspace, write_bytes_atomic

if TYPE_CHECKING:
    from format_registry.signatures import TrustAnchors

EVENT_TYPE = "digital signature validation"  # the Library of Congress PREMIS event type vocabulary
OUTCOME = {SignatureStatus.VALID: "success", SignatureStatus.INVALID: "failure",
           SignatureStatus.INDETERMINATE: "warning"}
REPORT_FORMAT = "kho-signatures/1"
EVIDENCE_KINDS = (("certificates", "certs", ".cer"), ("crls", "crls", ".crl"), ("ocsp_responses", "ocsp", ".ocsp"))


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def trust_anchors(ctx: Context) -> TrustAnchors:
    """The archive's anchors (``KHO_TRUST_ANCHORS``); none configured: nothing is trusted, and every
    signature is at best ``indeterminate`` (said in each event, never taken for valid)."""
    from format_registry.signatures import TrustAnchors, load_trust_anchors

    folder = ctx.settings.trust_anchors
    if folder is None:
        return TrustAnchors(())
    try:
        return load_trust_anchors(folder)
    except FileNotFoundError as exc:  # configured and lost: the ingest waits rather than judge without them
        raise IngestError(f"validate signatures / kiểm tra chữ ký số: KHO_TRUST_ANCHORS: {exc} "
                          "(thư mục chứng thư gốc tin cậy không tồn tại)") from exc


def step_validate_signatures(ctx: Context, ws: Workspace) -> None:
    aip_id = ws.aip_id
    signed = [item for item in sip_files(ws) if find_signatures(ws.sip_dir / item.path)]  # looking only
    anchors = trust_anchors(ctx) if signed else None  # the validators are loaded only for signed files
    folder = ws.aip_dir / aip_layout.SIGNATURES_DIR
    shutil.rmtree(folder, ignore_errors=True)  # a re-run writes the same evidence again
    events = EventRecorder(ws, "validate_signatures", aip_id)
    validators = [agents.tool("pyHanko", _version("pyhanko")), agents.tool("signxml", _version("signxml"))]
    links = [agents.link(tool, "validator") for tool in validators]
    output = SignatureValidation()
    statuses: Counter[str] = Counter()
    problems: list[Problem] = []
    for item in signed:
        assert anchors is not None
        from format_registry.signatures import validate_file

        reports = validate_file(ws.sip_dir / item.path, anchors, allow_fetch=ctx.settings.revocation_fetch)
        if not reports:
            continue
        output.signed_files += 1
        for report in reports:
            output.signatures += 1
            statuses[report.status.value] += 1
            events.record(EVENT_TYPE, OUTCOME[report.status], objects=[item.id], agents=links,
                          detail=_detail(item.path, report), outcome_detail=_outcome(report, anchors))
            if report.status is not SignatureStatus.VALID:
                note = (f"{item.path}: signature {report.index + 1} ({report.kind.value}) {report.status.value}: "
                        f"{report.reason_en} / {report.reason_vi}")
                output.review.append(note)
                problems.append(Problem("signature-not-valid", path=item.path,
                                        detail=f"{report.status.value}: {report.reason_en} / {report.reason_vi}"))
        output.evidence += _write_evidence(folder, item.id, item.path, reports, anchors, ws.aip_dir)
    output.statuses = dict(statuses)
    output.evidence = sorted(set(output.evidence))
    if output.signatures:
        register_agents(ws, *validators)
    if problems and ctx.settings.signature_policy == "refuse":
        refused = SipReport(path=str(ws.sip_dir), profile=ws.state().get("profile", "bagit"))
        refused.problems.extend(problems[:100])
        events.failure(EVENT_TYPE, agents=links, detail="signature policy: refuse",
                       outcome_detail=f"{len(problems)} signature(s) not valid; the SIP is refused "
                                      "(KHO_SIGNATURE_POLICY=refuse) / gói bị từ chối")
        reject(ctx, ws, refused, events, step="validate_signatures")  # raises SipRejected
    ws.complete_step("validate_signatures", events, as_output(output))
    if output.signatures:
        log.info("AIP %s validate_signatures: %d signature(s) in %d file(s): %s%s", aip_id, output.signatures,
                 output.signed_files, ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
                 f"; {len(output.review)} flagged for review" if output.review else "")
    else:
        log.info("AIP %s validate_signatures: no signed file", aip_id)


def _detail(path: str, report: SignatureReport) -> str:
    signer = report.signer.common_name or report.signer.subject if report.signer else "unknown signer"
    parts = [f"{report.kind.value} signature {report.index + 1} of {path}", f"signer: {signer}"]
    if report.signer and report.signer.organisation:
        parts.append(f"organisation: {report.signer.organisation}")
    if report.signing_time:
        parts.append(f"claimed signing time {report.signing_time.isoformat()}")
    if report.timestamp_time:
        parts.append(f"timestamp {report.timestamp_time.isoformat()}")
    return "; ".join(parts)


def _outcome(report: SignatureReport, anchors: TrustAnchors) -> str:
    text = f"{report.status.value} ({report.reason.value}): {report.reason_en} / {report.reason_vi}"
    if report.modification and report.modification.value != "none":
        text += f"; changes after signing: {report.modification.value}"
    if not anchors.certificates:
        text += "; no trust anchor configured (KHO_TRUST_ANCHORS) / chưa cấu hình chứng thư gốc tin cậy"
    return text[:4000]


def _write_evidence(folder: Path, file_id: str, path: str, reports: list[SignatureReport], anchors: TrustAnchors,
                    aip_dir: Path) -> list[str]:
    """``<file id>.json`` and ``.xml`` (the reports), and each certificate, CRL and OCSP response once, named by
    its SHA-256 (``certs/``, ``crls/``, ``ocsp/``), plus the anchors trusted (``anchors/``): a re-check later
    needs nothing else. Returns the AIP-relative paths written."""
    written: list[Path] = []
    for report in reports:
        for attribute, sub, suffix in EVIDENCE_KINDS:
            for der in getattr(report.evidence, attribute):
                target = folder / sub / f"{report.evidence.digest(der)}{suffix}"
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_bytes_atomic(target, der)
                written.append(target)
    for cert in anchors.certificates:
        target = folder / "anchors" / f"{cert.sha256.hex()}.cer"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(target, cert.dump())
        written.append(target)
    document = {
        "format": REPORT_FORMAT,
        "file_id": file_id,
        "path": path,
        "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "trust_anchors": list(anchors.fingerprints),
        # the evidence is in the files beside this one; the report keeps only their names
        "signatures": [{**r.to_dict(), "evidence": _evidence_names(r)} for r in reports],
    }
    json_path = folder / f"{file_id}.json"
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(json_path, (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode())
    xml_path = folder / f"{file_id}.xml"
    write_bytes_atomic(xml_path, _as_xml(document))
    written += [json_path, xml_path]
    return [p.relative_to(aip_dir).as_posix() for p in written]


def _evidence_names(report: SignatureReport) -> dict[str, list[str]]:
    return {attribute: [f"{sub}/{report.evidence.digest(der)}{suffix}" for der in getattr(report.evidence, attribute)]
            for attribute, sub, suffix in EVIDENCE_KINDS}


def _as_xml(document: dict[str, Any]) -> bytes:
    """The same report as XML, for readers of the AIP that do not read JSON (one element a field)."""
    root = etree.Element("signatureValidation", format=REPORT_FORMAT)

    def add(parent: etree._Element, name: str, value: Any) -> None:
        if isinstance(value, dict):
            child = etree.SubElement(parent, name)
            for key, inner in value.items():
                add(child, key, inner)
        elif isinstance(value, list):
            child = etree.SubElement(parent, name)
            for inner in value:
                add(child, "item", inner)
        elif value is not None:
            etree.SubElement(parent, name).text = str(value)

    for key, value in document.items():
        if key != "format":
            add(root, key, value)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

"""Re-checking an AIP's digital signatures from what the AIP holds (issue #18 B; decision 0022).

At ingest the signature step validated every signature and stored, under ``metadata/preservation/
signatures/``, each verdict with what it rested on: the certificates, CRLs and OCSP responses (fetched ones
included), and the trust anchors of that day. ``verify`` fetches the signed originals and that evidence from
storage (each object checked against the catalog's SHA-256), and validates every signature again, offline,
at the moment of the first validation: a verdict that no longer holds means the original, the evidence or
the validator changed. The archive's current anchors (``KHO_TRUST_ANCHORS``) are used beside the stored
ones, so an anchor added later can confirm an ``indeterminate`` signature.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from format_registry.signatures import (
    Evidence,
    SignatureReport,
    SignatureStatus,
    TrustAnchors,
    anchors_from_certificates,
    load_trust_anchors,
    validate_file,
)
from packages import aip as aip_layout
from preservation.catalog import Catalog, File
from preservation.config import Settings
from preservation.retrieval import RetrievalError, fetch_object

REPORT_FORMAT = "kho-signatures/1"
EVIDENCE_FOLDERS = {"certificates": "certs", "crls": "crls", "ocsp_responses": "ocsp"}


class AuthenticityError(RuntimeError):
    """The AIP is unknown, or its signature records cannot be read."""


@dataclass
class SignatureCheck:
    """One signature as ``kho authenticity verify`` lists it."""

    path: str  # the signed original, as submitted
    format: str  # pades | cms | xmldsig
    signer: str | None
    signing_time: str | None
    status: str  # this re-check's verdict
    reason: str
    reason_vi: str
    stored_status: str  # the verdict recorded at ingest
    index: int = 0
    organisation: str | None = None
    modification: str | None = None

    @property
    def agrees(self) -> bool:
        return self.status == self.stored_status


@dataclass
class EvidenceProblem:
    path: str
    problem: str


@dataclass
class AuthenticityReport:
    aip_id: str
    signatures: list[SignatureCheck] = field(default_factory=list)
    evidence_problems: list[EvidenceProblem] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)  # SHA-256 of the anchors used

    @property
    def intact(self) -> bool:
        """Every signature valid now as at ingest, and every evidence record present and unchanged."""
        return not self.evidence_problems and all(
            s.status == SignatureStatus.VALID.value and s.agrees for s in self.signatures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "aip_id": self.aip_id,
            "intact": self.intact,
            "signatures": [{**asdict(s), "agrees": s.agrees} for s in self.signatures],
            "evidence_problems": [asdict(p) for p in self.evidence_problems],
            "anchors": self.anchors,
        }


def verify(settings: Settings, catalog: Catalog, aip_id: str) -> AuthenticityReport:
    """Every signature of ``aip_id`` validated again from the AIP's own evidence, without the network."""
    if catalog.get_aip(aip_id) is None:
        raise AuthenticityError(f"no AIP {aip_id} / không có gói AIP {aip_id}")
    files = catalog.files(aip_id)
    prefix = aip_layout.SIGNATURES_DIR + "/"
    by_path = {f.path: f for f in files}
    by_id = {f.id: f for f in files}
    records = sorted(f.path for f in files if f.path.startswith(prefix) and f.path.endswith(".json")
                     and "/" not in f.path[len(prefix):])
    result = AuthenticityReport(aip_id)
    settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kho-authenticity-", dir=settings.scratch_dir) as scratch:
        work = Path(scratch)
        stored_anchors = _stored_anchors(catalog, aip_id, files, prefix, work, result)
        anchors = _anchors(settings, stored_anchors)
        result.anchors = list(anchors.fingerprints)
        for record_path in records:
            document = _read_record(catalog, aip_id, by_path[record_path], work, result)
            if document is None:
                continue
            original = by_id.get(document.get("file_id", ""))
            if original is None:
                result.evidence_problems.append(EvidenceProblem(record_path, "the signed file is not in the AIP"))
                continue
            try:
                local = _fetch_signed(catalog, aip_id, original, files, work)
            except RetrievalError as exc:  # the signed original itself is damaged at every location
                result.evidence_problems.append(EvidenceProblem(original.path, str(exc)))
                continue
            stored = [SignatureReport.from_dict({**s, "evidence": {}}) for s in document.get("signatures", [])]
            evidence = _stored_evidence(catalog, aip_id, document, by_path, prefix, work, result, record_path)
            moment = min((s.validation_time for s in stored if s.validation_time), default=None)
            again = validate_file(local, anchors.with_evidence(evidence), allow_fetch=False, at=moment)
            result.signatures += _compare(original, stored, again, record_path, result)
    return result


def _anchors(settings: Settings, stored: list[bytes]) -> TrustAnchors:
    current = load_trust_anchors(settings.trust_anchors) if settings.trust_anchors else TrustAnchors(())
    return anchors_from_certificates([*(c.dump() for c in current.certificates), *stored])


def _fetch(catalog: Catalog, aip_id: str, item: File, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fetch_object(catalog, aip_id, item, target)  # verified against the catalog's SHA-256, or raises
    return target


def _read_record(catalog: Catalog, aip_id: str, item: File, work: Path,
                 result: AuthenticityReport) -> dict[str, Any] | None:
    try:
        data = json.loads(_fetch(catalog, aip_id, item, work / "records" / PurePosixPath(item.path).name).read_bytes())
    except (OSError, ValueError, RetrievalError) as exc:
        result.evidence_problems.append(EvidenceProblem(item.path, f"unreadable: {exc}"))
        return None
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        result.evidence_problems.append(EvidenceProblem(item.path, f"not a {REPORT_FORMAT} record"))
        return None
    return data


def _fetch_signed(catalog: Catalog, aip_id: str, original: File, files: list[File], work: Path) -> Path:
    """The signed original, and any detached signature beside it (``x.p7s``, ``x.sig``), under the names
    they were submitted with, so the validator finds them together as at ingest."""
    folder = work / "signed" / original.id
    name = PurePosixPath(original.original_path or original.path).name
    local = _fetch(catalog, aip_id, original, folder / name)
    parent = PurePosixPath(original.path).parent
    for item in files:
        candidate = PurePosixPath(item.path)
        if candidate.parent == parent and candidate.name.lower() in (f"{name}.p7s".lower(), f"{name}.sig".lower()):
            _fetch(catalog, aip_id, item, folder / candidate.name)
    return local


def _stored_evidence(catalog: Catalog, aip_id: str, document: dict[str, Any], by_path: dict[str, File],
                     prefix: str, work: Path, result: AuthenticityReport, record_path: str) -> Evidence:
    """The certificates, CRLs and OCSP responses a record names, each checked: present in the AIP, and
    named by its own SHA-256 (they are content-addressed)."""
    found: dict[str, list[bytes]] = {kind: [] for kind in EVIDENCE_FOLDERS}
    for signature in document.get("signatures", []):
        for kind, names in (signature.get("evidence") or {}).items():
            if kind not in found:
                continue
            for name in names:
                item = by_path.get(prefix + name)
                if item is None:
                    result.evidence_problems.append(EvidenceProblem(prefix + name, f"named by {record_path}, "
                                                                    "missing from the AIP / thiếu bằng chứng"))
                    continue
                try:
                    data = _fetch(catalog, aip_id, item, work / "evidence" / name).read_bytes()
                except RetrievalError as exc:  # damaged or lost at every location
                    result.evidence_problems.append(EvidenceProblem(item.path, str(exc)))
                    continue
                if hashlib.sha256(data).hexdigest() != PurePosixPath(name).stem:
                    result.evidence_problems.append(EvidenceProblem(item.path, "content does not match its name "
                                                                    "(SHA-256) / bằng chứng bị thay đổi"))
                    continue
                found[kind].append(data)
    return Evidence(certificates=tuple(found["certificates"]), crls=tuple(found["crls"]),
                    ocsp_responses=tuple(found["ocsp_responses"]))


def _stored_anchors(catalog: Catalog, aip_id: str, files: list[File], prefix: str, work: Path,
                    result: AuthenticityReport) -> list[bytes]:
    anchors = []
    for item in files:
        if item.path.startswith(prefix + "anchors/"):
            try:
                data = _fetch(catalog, aip_id, item, work / "anchors" / PurePosixPath(item.path).name).read_bytes()
            except RetrievalError as exc:
                result.evidence_problems.append(EvidenceProblem(item.path, str(exc)))
                continue
            if hashlib.sha256(data).hexdigest() != PurePosixPath(item.path).stem:
                result.evidence_problems.append(EvidenceProblem(item.path, "anchor does not match its name "
                                                                "(SHA-256) / chứng thư gốc bị thay đổi"))
                continue
            anchors.append(data)
    return anchors


def _compare(original: File, stored: list[SignatureReport], again: list[SignatureReport], record_path: str,
             result: AuthenticityReport) -> list[SignatureCheck]:
    if len(again) != len(stored):
        result.evidence_problems.append(EvidenceProblem(
            record_path, f"{len(stored)} signature(s) recorded at ingest, {len(again)} found now / số chữ ký khác"))
    checks = []
    for before, now in zip(stored, again, strict=False):
        signer = now.signer or before.signer
        checks.append(SignatureCheck(
            path=original.original_path or original.path, format=now.kind.value,
            signer=(signer.common_name or signer.subject) if signer else None,
            signing_time=_iso(now.signing_time or before.signing_time), status=now.status.value,
            reason=now.reason_en, reason_vi=now.reason_vi, stored_status=before.status.value, index=now.index,
            organisation=signer.organisation if signer else None,
            modification=now.modification.value if now.modification else None,
        ))
    return checks


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None

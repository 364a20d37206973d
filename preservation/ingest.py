"""The ingest pipeline: one SIP in, one verified, catalogued AIP out.

Each step is ``step(ctx, ws)``, idempotent, and persists its events with its output before
it is marked done (see ``Workspace.complete_step``). The CLI runs the steps in-process; the
Airflow ``ingest`` DAG runs the very same functions, one task per step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import shutil
import stat
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from format_registry.identify import Identifier, engine_info, identify_many, shared_identifier
from format_registry.policy import cached_policy
from packages import aip as aip_layout
from packages import eark, ocfl
from packages.checksums import hash_file
from packages.sip import PayloadFile, Problem, SipReport, payload_hash, validate_sip
from preservation import agents, ocfl_store, premis, virus
from preservation import normalise as normalisation
from preservation.catalog import Aip, Catalog, File, StorageCopy, content_file_row
from preservation.config import Settings
from preservation.faults import checkpoint
from preservation.mets import MetsFile, representation_files, representation_of, write_aip_mets
from preservation.retention import lock_until
from preservation.workspace import (
    Workspace,
    WorkspaceBusy,
    copy_sparse,
    find_workspace_for_source,
    fitting_name,
    iter_workspaces,
    remove_stale_partials,
    source_locked,
    write_bytes_atomic,
    write_json_atomic,
)
from storage_adapters.base import StorageError, StorageLocation
from storage_adapters.registry import open_location

STEPS = [
    "receive",
    "validate_sip",
    "virus_check",
    "identify",
    "validate_formats",
    "normalise",
    "fixity",
    "describe",
    "package",
    "store",
    "index",
]

# One line per step with the numbers an officer needs (files, formats, bytes, AIP id, locations, or the
# reason for a rejection). Airflow shows stdlib logging of its tasks; ``kho -v`` prints it on stderr.
log = logging.getLogger("kho.ingest")


def _counts(counter: Counter[str] | dict[str, int]) -> str:
    return ", ".join(f"{key}×{value}" for key, value in sorted(counter.items())) or "none"


class IngestError(RuntimeError):
    """A step failed for a reason that may pass (storage down, tool error); the workspace stays
    and ``kho resume`` continues from this step. ``resumable=False``: nothing was started (no such
    path, not a package, no room to unpack it), so there is nothing to resume either."""

    def __init__(self, message: str, *, resumable: bool = True) -> None:
        super().__init__(message)
        self.resumable = resumable


class SipRejected(Exception):
    """The SIP is not acceptable; it was moved to the failed folder with a report."""

    def __init__(self, result: IngestResult) -> None:
        super().__init__(result.reason)
        self.result = result


@dataclass
class IngestResult:
    aip_id: str
    sip_name: str
    status: str  # stored | rejected
    files: int = 0
    locations: list[str] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    failed_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "aip_id": self.aip_id,
            "status": self.status,
            "files": self.files,
            "locations": self.locations,
            "sip": self.sip_name,
        }
        if self.status == "stored":
            data["formats"] = self.formats
        else:
            data["reason"] = self.reason
            data["failed_path"] = self.failed_path
        return data


class Context:
    """What every step needs; the catalog and FIDO are loaded on first use only."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.ensure_dirs()
        self._catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            from preservation.catalog_guard import open_catalog

            self._catalog = open_catalog(self.settings)  # loud if it lost what storage holds
        return self._catalog

    @property
    def digests(self) -> tuple[str, ...]:
        """The digests kept for every file: the configured ones, and always SHA-512, the digest of the
        OCFL inventory the AIP is stored with (computed in the same read as the others)."""
        return tuple(dict.fromkeys((*self.settings.digests, ocfl.DIGEST)))

    @property
    def identifier(self) -> Identifier:
        return shared_identifier()

    def validate_output(self, path: Path, puid: str | None, mime: str | None) -> dict[str, Any]:
        """Validation of a derivative before it is accepted."""
        from format_registry.validators import validate_file

        result = validate_file(path, puid, mime)
        return {
            "status": result.status,
            "validator": result.validator,
            "summary": "; ".join(m.text for m in result.messages[:3]),
        }

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()


# -- creating workspaces --------------------------------------------------------------------------


def _new_state(aip_id: str, sip_name: str, source: Path, mode: str, profile: str) -> dict[str, Any]:
    return {
        "aip_id": aip_id,
        "sip_name": sip_name,
        "source": str(source),
        "mode": mode,
        "profile": profile,
        "created_at": premis.now_iso(),
        "done": [],
        "failures": [],
    }


def start_copy(
    ctx: Context, source: Path, profile: str = "bagit", hold: contextlib.ExitStack | None = None
) -> Workspace:
    """Workspace for ``kho ingest PATH``: the SIP is copied, never changed. An interrupted
    ingest of the same PATH is continued rather than started again.

    With ``hold``, the new workspace's lock stays held (released when ``hold`` closes), so that no
    ``kho resume`` can take the workspace between its creation and the first step."""
    source = source.resolve()
    existing = find_workspace_for_source(ctx.settings, source)
    if existing is not None:
        log.info("continuing the interrupted ingest of %s in workspace %s", source, existing.path.name)
        return existing
    remove_stale_partials(ctx.settings)
    aip_id = str(uuid.uuid4())
    partial = ctx.settings.workspaces_dir / f".new-{aip_id}"
    partial.mkdir(parents=True)
    workspace = Workspace(partial)
    with contextlib.ExitStack() as local:
        (hold or local).enter_context(workspace.locked())
        state = _new_state(aip_id, source.name, source, "copy", profile)
        state["kind"] = "eark" if eark.is_eark_package(source) else "bagit"
        if source.is_file():
            if state["kind"] != "eark":
                shutil.rmtree(partial, ignore_errors=True)
                raise IngestError(
                    f"{source} is neither a BagIt folder nor an E-ARK package (folder or ZIP) / "
                    "không phải gói BagIt hay gói E-ARK", resumable=False)
            try:
                unpacked = eark.unpack_package(
                    source, workspace.sip_dir, max_bytes=ctx.settings.zip_max_bytes,
                    max_entries=ctx.settings.zip_max_entries, max_ratio=ctx.settings.zip_max_ratio,
                )
            except eark.ZipSpaceError as exc:
                # the disk, not the package: nothing is rejected, the same command works once there is room
                shutil.rmtree(partial, ignore_errors=True)
                raise IngestError(f"{exc}; free space and run the same command again / giải phóng dung lượng "
                                  "rồi chạy lại lệnh", resumable=False) from exc
            state["unpack_failures"] = [p.text for p in unpacked.failures]
            workspace.sip_dir.mkdir(exist_ok=True)
        try:
            if not source.is_file():
                shutil.copytree(source, workspace.sip_dir, symlinks=True, copy_function=_link_or_copy)
        except shutil.Error as exc:
            # Special files or unreadable entries were not copied: validation must name them, so
            # the copy is never mistaken for the SIP that was submitted.
            state["copy_problems"] = [_copy_problem(source, Path(src), str(why)) for src, _dst, why in exc.args[0]]
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise IngestError(f"cannot read SIP {source}: {exc}", resumable=False) from exc
        workspace.save_state(state)
        final = ctx.settings.workspaces_dir / aip_id
        os.rename(partial, final)
    return Workspace(final)


def _link_or_copy(source: str, target: str) -> None:
    """Hard-link a SIP file into the workspace when it is on the same file system (no bytes copied;
    Kho only ever reads it, and any later change is caught by the manifest check or the store's
    read-back), else copy it."""
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, target, follow_symlinks=False)


def _copy_problem(root: Path, path: Path, why: str) -> dict[str, str]:
    try:
        mode = path.lstat().st_mode
        code = "unreadable" if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode) else "special-file"
    except OSError:
        code = "unreadable"
    return {
        "code": code,
        "path": path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path),
        "detail": why,
    }


def claim(ctx: Context, sip_path: Path, profile: str = "bagit") -> Workspace | None:
    """Take a SIP out of the watched ingest folder by renaming it (atomic): of several
    scanners racing for the same SIP exactly one wins; the others get ``None``."""
    aip_id = str(uuid.uuid4())
    staging = sip_path.parent / f".kho-claimed-{aip_id}"
    try:
        os.rename(sip_path, staging)
    except FileNotFoundError:
        return None
    target = ctx.settings.workspaces_dir / aip_id
    target.mkdir(parents=True)
    workspace = Workspace(target)
    state = _new_state(aip_id, sip_path.name, staging, "claim", profile)
    state["kind"] = "eark" if eark.is_eark_package(staging) else "bagit"
    if staging.is_file():  # an E-ARK ZIP (or a file that is not a package: validation says so)
        state["kind"] = "eark"
        state["submitted"] = SUBMITTED_ZIP
        workspace.save_state(state)
        _move_claimed(staging, workspace.path / SUBMITTED_ZIP)
        try:
            _unpack_claimed(ctx, workspace)
        except IngestError as exc:  # no room: the run's first step unpacks again (and says why it cannot)
            log.warning("claimed %s but could not unpack it yet: %s", sip_path.name, exc)
        return workspace
    workspace.save_state(state)
    _move_claimed(staging, workspace.sip_dir)
    return workspace


SUBMITTED_ZIP = "submitted.zip"


def _unpack_claimed(ctx: Context, ws: Workspace) -> None:
    """Unpack a claimed ZIP into the workspace's SIP folder; the ZIP stays beside it (it is what was
    submitted, and goes to ``failed/`` with the report if the package is rejected)."""
    try:
        unpacked = eark.unpack_package(
            ws.path / SUBMITTED_ZIP, ws.sip_dir, max_bytes=ctx.settings.zip_max_bytes,
            max_entries=ctx.settings.zip_max_entries, max_ratio=ctx.settings.zip_max_ratio,
        )
    except eark.ZipSpaceError as exc:
        raise IngestError(f"{exc}; free space, the ingest resumes / giải phóng dung lượng để tiếp tục") from exc
    state = ws.state()
    state["unpack_failures"] = [p.text for p in unpacked.failures]
    ws.save_state(state)
    ws.sip_dir.mkdir(exist_ok=True)


def _move_claimed(staging: Path, destination: Path) -> None:
    try:
        os.rename(staging, destination)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        if staging.is_file():
            shutil.copy2(staging, destination)
            staging.unlink()
            return
        shutil.copytree(staging, destination, symlinks=True)
        shutil.rmtree(staging)


def _finish_claim(ctx: Context, ws: Workspace) -> None:
    """A crash between the two renames of ``claim`` leaves the SIP in staging: move it on; a claimed ZIP
    not unpacked yet (crash, or no room then) is unpacked now."""
    state = ws.state()
    staging = Path(state["source"])
    if state.get("submitted") == SUBMITTED_ZIP:
        if not (ws.path / SUBMITTED_ZIP).exists() and staging.exists():
            _move_claimed(staging, ws.path / SUBMITTED_ZIP)
        if not ws.sip_dir.exists():
            _unpack_claimed(ctx, ws)
        return
    if state["mode"] == "claim" and not ws.sip_dir.exists() and staging.exists():
        _move_claimed(staging, ws.sip_dir)


def ready_sips(settings: Settings, now: float | None = None) -> list[Path]:
    """Folders (BagIt or E-ARK) and ``.zip`` files (E-ARK) in the ingest folder that nobody wrote to for
    ``settle_seconds``; symbolic links are never taken."""
    now = time.time() if now is None else now
    ready: list[Path] = []
    if not settings.ingest_dir.is_dir():
        return ready
    for entry in sorted(settings.ingest_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            # never followed: a link would ingest (and move away) whatever it points to, anywhere
            log.warning("ingest folder: %s is a symbolic link, not taken / là liên kết tượng trưng, bỏ qua", entry)
            continue
        if not entry.is_dir() and not (entry.is_file() and entry.suffix.lower() == ".zip"):
            continue
        newest = entry.lstat().st_mtime
        for dirpath, dirnames, filenames in os.walk(entry):
            for name in dirnames + filenames:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
        if now - newest >= settings.settle_seconds:
            ready.append(entry)
    return ready


# -- steps ----------------------------------------------------------------------------------------


def _agents_of(ws: Workspace) -> dict[str, dict[str, str]]:
    return dict(ws.state().get("agents", {}))


def _register_agents(ws: Workspace, *new: dict[str, str] | None) -> None:
    state = ws.state()
    known = state.setdefault("agents", {})
    for agent in new:
        if agent is not None:
            known[f"{agent['type']}|{agent['value']}"] = agent
    ws.save_state(state)


def step_receive(ctx: Context, ws: Workspace) -> None:
    state = ws.state()
    kho, org = agents.kho(), agents.organization(ctx.settings.organization)
    _register_agents(ws, kho, org)
    how = "copied from" if state["mode"] == "copy" else "claimed from the ingest folder as"
    event = premis.new_event(
        "ingestion start",
        "success",
        aip_id=state["aip_id"],
        object_ids=[state["aip_id"]],
        detail=f"SIP {state['sip_name']!r} {how} {state['source']}",
        agents=[agents.link(kho, "executing program"), agents.link(org, "implementer")],
    )
    ws.complete_step("receive", [event])
    log.info("AIP %s receive: SIP %r %s %s", state["aip_id"], state["sip_name"], how, state["source"])


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
    _register_agents(ws, bagit_agent, agents.submitter(report.bag_info))
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
    if not report.valid:
        event = premis.new_event(
            "validation",
            "failure",
            aip_id=aip_id,
            object_ids=[aip_id],
            agents=links,
            detail=f"SIP validated against {profile}: structure, manifests, safe paths",
            outcome_detail="\n".join(p.line() for p in report.problems),
        )
        _reject(ctx, ws, report, [event])
    total = sum(f.size for f in report.files)
    warnings = "; ".join(w.line() for w in report.warnings)
    events = [
        premis.new_event(
            "validation",
            "warning" if report.warnings else "success",
            aip_id=aip_id,
            object_ids=[aip_id],
            agents=links,
            detail=f"SIP validated against {profile}: structure, manifests, safe paths",
            outcome_detail=f"{len(report.files)} files, {total} bytes" + (f"; {warnings}" if warnings else ""),
        ),
        premis.new_event(
            "fixity check",
            "success",
            aip_id=aip_id,
            object_ids=[aip_id],
            agents=links,
            detail=f"every payload file checked against the SIP's manifest ({', '.join(report.algorithms)})",
            outcome_detail=f"{len(report.files)} files match",
        ),
    ]
    if report.tt05_standard == "TT 02/2019" and report.tt05:
        events.append(
            premis.new_event(
                "metadata modification",
                "success",
                aip_id=aip_id,
                object_ids=[aip_id],
                agents=links,
                detail="TT 02/2019 metadata converted to the TT 05/2025 form (kept as submitted in metadata/other)",
                outcome_detail="; ".join(report.tt05_notes)[:8000],
            )
        )
    files = [{"id": str(uuid.uuid4()), "path": f.path, "size": f.size, "digests": f.digests} for f in report.files]
    log.info(
        "AIP %s validate_sip: valid against %s: %d files, %d bytes, manifests (%s) match%s",
        aip_id, profile, len(files), total, ", ".join(report.algorithms),
        f"; {len(report.warnings)} warnings: {warnings}" if warnings else "",
    )
    ws.complete_step(
        "validate_sip",
        events,
        {
            "files": files,
            "bag_info": report.bag_info,
            "payload_hash": report.payload_hash,
            "algorithms": report.algorithms,
            "warnings": [w.to_dict() for w in report.warnings],
            "previous_version": previous_version,
            "dossier_access": report.dossier_access,
            "file_access": report.file_access,
            "tt05": report.tt05,
            "tt05_standard": report.tt05_standard,
        },
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
    _register_agents(ws, kho)
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
    if not report.valid:
        event = premis.new_event(
            "validation",
            "failure",
            aip_id=aip_id,
            object_ids=[aip_id],
            agents=links,
            detail=detail,
            outcome_detail="\n".join(p.text for p in report.failures),
        )
        _reject(ctx, ws, report, [event])
    bag_info = _eark_description(ws.sip_dir, report)
    _register_agents(ws, agents.submitter(bag_info))
    new_ids = {f.path: str(uuid.uuid4()) for f in payload}
    imported, imported_agents = _imported_history(ctx, ws.sip_dir, aip_id, new_ids)
    _register_agents(ws, *imported_agents)
    if imported:
        imported.append(
            premis.new_event(
                "transfer",
                "success",
                aip_id=aip_id,
                object_ids=[aip_id],
                agents=[agents.link(kho, "executing program")],
                detail=f"custody received: package {report.objid} from {bag_info.get('Source-Organization', 'sender')}",
                outcome_detail=f"{len(imported)} earlier PREMIS events kept",
            )
        )
    events = [
        *imported,
        premis.new_event(
            "validation",
            "warning" if report.warnings else "success",
            aip_id=aip_id,
            object_ids=[aip_id],
            agents=links,
            detail=detail,
            outcome_detail=f"{len(payload)} files" + "".join(f"; {w.text}" for w in report.warnings[:10]),
        ),
        premis.new_event(
            "fixity check",
            "success",
            aip_id=aip_id,
            object_ids=[aip_id],
            agents=links,
            detail="every file checked against the checksum its METS declares",
            outcome_detail=f"{sum(f.verified for f in report.files)} files match",
        ),
    ]
    log.info(
        "AIP %s validate_sip: valid E-ARK %s package: %d files, %d bytes%s",
        aip_id, report.specification, len(payload), sum(f.size for f in payload),
        f", {len(imported) - 1} earlier PREMIS events kept" if imported else "",
    )
    ws.complete_step(
        "validate_sip",
        events,
        {
            "files": [
                {
                    "id": new_ids[f.path],
                    "path": f.path,
                    "size": f.size,
                    "digests": {k: f.digests[k] for k in ctx.digests if k in f.digests},
                }
                for f in payload
            ],
            "bag_info": bag_info,
            "payload_hash": digest,
            "algorithms": ["sha256"],
            "warnings": [w.to_dict() for w in report.warnings],
            "previous_version": duplicate.id if duplicate else None,
            "dossier_access": {"mode": "restricted", "embargo_until": None, "basis": ""},
            "file_access": {},
            "package_kind": "E-ARK",
            "objid": report.objid,
        },
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


def _reject(ctx: Context, ws: Workspace, report: SipReport | eark.EarkReport, events: list[dict[str, Any]]) -> None:
    """Move the SIP to ``failed/<name>/`` with a report; only the events reach the catalog."""
    state = ws.state()
    failed = ctx.settings.failed_dir / fitting_name(state["sip_name"])
    if failed.exists():  # a SIP name may already use all 255 bytes: the suffix must still fit
        failed = failed.with_name(
            fitting_name(state["sip_name"], f"-{datetime.now(UTC):%Y%m%dT%H%M%S}-{state['aip_id'][:8]}")
        )
    failed.mkdir(parents=True)
    all_events = ws.events(STEPS) + events
    about = {"aip_id": state["aip_id"], "sip_name": state["sip_name"], "source": state["source"],
             "rejected_at": premis.now_iso()}
    if isinstance(report, SipReport):  # a summary in report.json, the rest streamed to report-problems.jsonl
        report.write_json(failed / "report.json", about, file_mode=ctx.settings.file_mode)
    else:
        write_json_atomic(failed / "report.json", {**report.to_dict(), **about})
    (failed / "REASON.txt").write_text(report.reason() + "\n", encoding="utf-8")
    if ws.sip_dir.exists() and state["mode"] == "copy":
        # the workspace holds hard links to the submitter's files: give the failed folder real copies,
        # so that fixing the failed SIP in place can never change the original at PATH
        with contextlib.suppress(shutil.Error):
            shutil.copytree(ws.sip_dir, failed / "sip", symlinks=True, copy_function=copy_sparse)
    elif ws.sip_dir.exists():
        os.rename(ws.sip_dir, failed / "sip")
    if (ws.path / SUBMITTED_ZIP).exists():  # a claimed ZIP: what the agency sent, kept with the report
        os.rename(ws.path / SUBMITTED_ZIP, failed / SUBMITTED_ZIP)
    with ctx.catalog.session() as session:
        ctx.catalog.ensure_agents(session, _agents_of(ws).values())
        ctx.catalog.append_events(session, all_events)
    shutil.rmtree(ws.path, ignore_errors=True)
    step = next((s for s in STEPS if s not in state.get("done", [])), "validate_sip")
    log.warning(
        "AIP %s %s: REJECTED: SIP %r: %s; moved to %s", state["aip_id"], step, state["sip_name"], report.reason(),
        failed,
        extra={"kho_result": True},  # the CLI prints the result itself; its log shows this line with -v only
    )
    raise SipRejected(
        IngestResult(
            aip_id=state["aip_id"],
            sip_name=state["sip_name"],
            status="rejected",
            reason=report.reason(),
            failed_path=str(failed),
        )
    )


def step_virus_check(ctx: Context, ws: Workspace) -> None:
    """ClamAV over the whole SIP (payload and tag files); see ``preservation.virus`` for the outcomes.
    A scan that was not performed is an event and a warning, never a silent "clean"."""
    aip_id = ws.aip_id
    try:
        result = virus.scan(ws.sip_dir, database=ctx.settings.clamav_db)
    except virus.ScanError as exc:
        raise IngestError(f"virus check / quét virus: {exc}") from exc
    if result.outcome == "not performed":
        event = premis.new_event(
            "virus check",
            "not performed",
            aip_id=aip_id,
            object_ids=[aip_id],
            detail="ClamAV virus scan",
            outcome_detail=result.message,
            agents=[agents.link(agents.kho(), "executing program")],
        )
        ws.complete_step("virus_check", [event])
        log.warning("AIP %s virus_check: %s", aip_id, result.message)
        return
    tool = agents.tool(result.program, result.version)
    _register_agents(ws, tool)
    links = [agents.link(tool, "executing program")]
    if result.outcome == "clean":
        ws.complete_step(
            "virus_check",
            [
                premis.new_event(
                    "virus check",
                    "success",
                    aip_id=aip_id,
                    object_ids=[aip_id],
                    agents=links,
                    detail="ClamAV virus scan",
                    outcome_detail=f"no virus found ({result.version})",
                )
            ],
        )
        log.info("AIP %s virus_check: no virus found (%s)", aip_id, result.version)
        return
    event = premis.new_event(
        "virus check",
        "failure",
        aip_id=aip_id,
        object_ids=[aip_id],
        agents=links,
        detail="ClamAV virus scan",
        outcome_detail=result.message[:4000],
    )
    report = SipReport(path=str(ws.sip_dir), profile="bagit")
    for path, signature in result.found[:100] or [("", result.message[:500])]:
        report.problems.append(Problem("virus-found", detail=signature, path=path or None))
    _reject(ctx, ws, report, [event])


def step_identify(ctx: Context, ws: Workspace) -> None:
    aip_id = ws.aip_id
    files = ws.output("validate_sip")["files"]
    options = ctx.settings.identify_options()
    info = engine_info(**options)  # loads the engine: an unreadable signature file fails here, before any file
    tool = agents.tool(info.name, f"{info.version} ({info.signatures})")
    _register_agents(ws, tool)
    results: dict[str, Any] = {}
    events = []
    identified = identify_many([ws.sip_dir / item["path"] for item in files], **options)  # all cores for large SIPs
    for number, (item, found) in enumerate(zip(files, identified, strict=True), start=1):
        checkpoint(f"identify:file:{number}")
        results[item["path"]] = found.to_dict()
        label = f"{found.puid} {found.format_name}" if found.puid else f"no PUID; MIME {found.mime}"
        events.append(
            premis.new_event(
                "format identification",
                "success" if found.puid else "warning",
                aip_id=aip_id,
                object_ids=[item["id"]],
                agents=[agents.link(tool, "executing program")],
                detail=f"program={found.tool}",
                outcome_detail=f"{label} (method: {found.method})" + (f"; {found.warning}" if found.warning else ""),
            )
        )
    ws.complete_step("identify", events, results)
    puids = Counter(r["puid"] or f"no PUID ({r['mime']})" for r in results.values())
    methods = Counter(r["method"] for r in results.values())
    log.info(
        "AIP %s identify: %d files; formats: %s; methods: %s", aip_id, len(files), _counts(puids), _counts(methods)
    )


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
    from format_registry.validators.batch import validate_many

    aip_id = ws.aip_id
    files = ws.output("validate_sip")["files"]
    identified = ws.output("identify")
    results = validate_many(
        [
            (str(ws.sip_dir / item["path"]), identified[item["path"]]["puid"], identified[item["path"]]["mime"])
            for item in files
        ]
    )
    events, review, tool_agents = [], [], {}
    for item, result in zip(files, results, strict=True):
        agent = agents.tool(result["validator"], result["tool_version"] or "unknown")
        tool_agents[agent["value"]] = agent
        messages = "; ".join(f"{m.get('id') or m['severity']}: {m['text']}" for m in result["messages"][:5])
        events.append(
            premis.new_event(
                "validation",
                VALIDATION_OUTCOME[result["status"]],
                aip_id=aip_id,
                object_ids=[item["id"]],
                agents=[agents.link(agent, "validator")],
                detail=f"format validation with {result['validator']} {result['tool_version']}".strip()
                + (f" (module {result['module']})" if result.get("module") else ""),
                outcome_detail=f"{result['status']}" + (f": {messages}" if messages else ""),
            )
        )
        if result["status"] == "invalid":
            review.append(
                f"{item['path']}: not valid as {identified[item['path']]['puid'] or 'its format'}"
                f" ({result['validator']}): {messages[:300]}"
            )
    _register_agents(ws, *tool_agents.values())
    log.info(
        "AIP %s validate_formats: %d files: %s%s", aip_id, len(files), _counts(Counter(r["status"] for r in results)),
        f"; {len(review)} invalid, flagged for review" if review else "",
    )
    ws.complete_step(
        "validate_formats",
        events,
        {
            "validated": {item["path"]: result for item, result in zip(files, results, strict=True)},
            "review": review,
        },
    )


NORMALISE_BATCH = 25  # conversions per batch: one Airflow mapped task each (one task per file is too slow)


def normalise_plan(ctx: Context, ws: Workspace) -> list[int]:
    """Decide every conversion the policy asks for and where its output goes; return the batch numbers."""
    if ws.is_done("normalise"):
        return []
    plan_path = ws.work_dir / "normalise-plan.json"
    if not plan_path.exists():
        policy = cached_policy()
        files = ws.output("validate_sip")["files"]
        jobs, notes = normalisation.plan(policy, files, ws.output("identify"))
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
    derivatives, events, review, tool_agents = [], [], [], []
    for index in range(batches):
        path = ws.work_dir / f"normalise-batch-{index}.json"
        if not path.exists():
            raise IngestError(f"normalisation batch {index} has not run yet")
        batch = json.loads(path.read_text(encoding="utf-8"))
        derivatives += batch["derivatives"]
        events += batch["events"]
        review += batch["review"]
        tool_agents += batch["agents"]
    _register_agents(ws, *tool_agents)
    ws.complete_step(
        "normalise", events, {"derivatives": derivatives, "review": review + plan["notes"], "policy": plan["policy"]}
    )
    log.info(
        "AIP %s normalise: %d conversions planned, %d copies made (%s), %d bytes; %d notes for review",
        ws.aip_id, len(plan["jobs"]), len(derivatives),
        _counts(Counter(f"{d['purpose']} {d['puid'] or d['mime']}" for d in derivatives)),
        sum(int(d["size"]) for d in derivatives), len(review) + len(plan["notes"]),
    )


def step_normalise(ctx: Context, ws: Workspace) -> None:
    """Preservation and access copies as the format policy says (see preservation/normalise.py).

    In-process the batches run one after another (each converting in parallel threads); the Airflow
    DAG maps them over workers instead."""
    for index in normalise_plan(ctx, ws):
        normalise_batch(ctx, ws, index)
    normalise_merge(ctx, ws)


def step_fixity(ctx: Context, ws: Workspace) -> None:
    """Digests were computed in the same read that verified the SIP manifest; record them."""
    aip_id = ws.aip_id
    files = ws.output("validate_sip")["files"]
    kho = agents.kho()
    events = [
        premis.new_event(
            "message digest calculation",
            "success",
            aip_id=aip_id,
            object_ids=[item["id"]],
            agents=[agents.link(kho, "executing program")],
            detail=f"program=Kho {agents.KHO_VERSION} (hashlib); algorithms={','.join(item['digests'])}",
            outcome_detail="; ".join(f"{alg}:{value}" for alg, value in item["digests"].items()),
        )
        for item in files
    ]
    ws.complete_step("fixity", events)
    algorithms = sorted({alg for item in files for alg in item["digests"]})
    log.info("AIP %s fixity: digests of %d files recorded (%s)", aip_id, len(files), ", ".join(algorithms))


def _mtime_iso(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def _metadata_file(ws: Workspace, relpath: str, mime: str) -> MetsFile:
    full = ws.aip_dir / relpath
    return MetsFile(
        file_id="file-md-" + uuid.uuid5(uuid.NAMESPACE_URL, relpath).hex,
        href=relpath,
        size=full.stat().st_size,
        sha256=hash_file(full, ["sha256"])["sha256"],
        mime=mime,
        created=_mtime_iso(full),
    )


def _file_objects(ws: Workspace) -> list[dict[str, Any]]:
    """Every content file of the AIP: originals (rep-01) then derivatives (rep-02, rep-03)."""
    identified = ws.output("identify")
    objects = []
    for item in ws.output("validate_sip")["files"]:
        found = identified[item["path"]]
        aip_path = aip_layout.payload_aip_path(item["path"])
        objects.append(
            {
                "id": item["id"],
                "original_name": item["path"],
                "aip_path": aip_path,
                "workspace_path": f"sip/{item['path']}",
                "role": "original",
                "representation": representation_of(aip_path, aip_layout.REPRESENTATION),  # rep1 stays rep1
                "source_id": None,
                "size": item["size"],
                "digests": item["digests"],
                "puid": found["puid"],
                "format_name": found["format_name"],
                "format_version": found["format_version"],
                "mime": found["mime"],
                "method": found["method"],
            }
        )
    for derivative in ws.output("normalise")["derivatives"]:
        objects.append(
            {
                **{
                    k: derivative[k]
                    for k in (
                        "id",
                        "aip_path",
                        "representation",
                        "source_id",
                        "size",
                        "digests",
                        "puid",
                        "format_name",
                        "format_version",
                        "mime",
                        "method",
                    )
                },
                "original_name": derivative["aip_path"],
                "role": derivative["purpose"],
                "workspace_path": f"work/derivatives/{derivative['aip_path']}",
            }
        )
    return objects


PREMIS_ELEMENTS_IN_MEMORY = 60_000  # files + events; beyond this PREMIS elements are built per document


def step_describe(ctx: Context, ws: Workspace) -> None:
    """Write Dublin Core, PREMIS and METS for the AIP, and keep the SIP's bag tag files."""
    state = ws.state()
    aip_id = state["aip_id"]
    validation = ws.output("validate_sip")
    root = ws.aip_dir
    aip_layout.write_dublin_core(root / aip_layout.DC_PATH, aip_id, validation["bag_info"])
    other_dir = root / aip_layout.OTHER_DIR
    other_dir.mkdir(parents=True, exist_ok=True)
    payload = {item["path"] for item in validation["files"]}
    other_names = sorted(
        p.relative_to(ws.sip_dir).as_posix()
        for p in ws.sip_dir.rglob("*")
        if p.is_file() and p.relative_to(ws.sip_dir).as_posix() not in payload
    )
    for name in other_names:  # the SIP's own metadata (bag tag files, E-ARK METS, ...) is kept as submitted
        (other_dir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ws.sip_dir / name, other_dir / name)
    descriptive_extra = _write_tt05(ctx, ws, validation, payload)
    objects = _file_objects(ws)
    events = ws.events(STEPS)
    agent_list = list(_agents_of(ws).values())
    # PREMIS goes into premis.xml and into METS: build each element once when they fit in memory
    # comfortably (an element of a few hundred bytes each), else twice, streamed.
    premis_files: list[Any] = objects
    premis_events: list[Any] = events
    if len(objects) + len(events) <= PREMIS_ELEMENTS_IN_MEMORY:
        premis_files = [premis.file_element(o) for o in objects]
        premis_events = [premis.event_element(e) for e in events]
    label = validation["bag_info"].get("title") or state["sip_name"]
    entity = premis.entity_element(aip_id, state["sip_name"])
    premis_path = root / aip_layout.PREMIS_PATH
    premis_path.parent.mkdir(parents=True, exist_ok=True)
    from lxml import etree

    with etree.xmlfile(str(premis_path), encoding="UTF-8") as xf:
        xf.write_declaration()
        premis.write_premis(xf, entity=entity, files=premis_files, events=premis_events, agents=agent_list)

    def embedded(xf: Any) -> None:
        premis.write_premis(
            xf,
            entity=premis.entity_element(aip_id, state["sip_name"]),
            files=premis_files,
            events=premis_events,
            agents=agent_list,
            schema_location=False,
        )

    validated = ws.output("validate_formats").get("validated", {})
    technical = {f"file-{o['id']}": validated[o["original_name"]] for o in objects if o["original_name"] in validated}
    representations = representation_files(
        objects, lambda item: _mtime_iso(ws.path / item["workspace_path"]), technical
    )
    write_aip_mets(
        root / aip_layout.METS_NAME,
        aip_id=aip_id,
        label=label,
        created=premis.now_iso(),
        software_version=agents.KHO_VERSION,
        organization=ctx.settings.organization,
        descriptive=_metadata_file(ws, aip_layout.DC_PATH, "text/xml"),
        preservation=_metadata_file(ws, aip_layout.PREMIS_PATH, "text/xml"),
        write_embedded_premis=embedded,
        other_metadata=[
            _metadata_file(ws, path, "text/xml" if path.endswith((".xml", ".xsd")) else "application/json")
            for path in descriptive_extra
        ]
        + [_metadata_file(ws, f"{aip_layout.OTHER_DIR}/{n}", "text/plain") for n in other_names],
        representations=representations,
        alt_record_ids=_alt_record_ids(ctx, validation["bag_info"]),
        technical=technical,
    )
    ws.complete_step("describe", [])
    log.info(
        "AIP %s describe: METS.xml and PREMIS written: %d content files, %d events, %d agents%s",
        aip_id, len(objects), len(events), len(agent_list), f", {len(descriptive_extra)} TT 05 metadata files"
        if descriptive_extra else "",
    )


def _alt_record_ids(ctx: Context, bag_info: dict[str, str]) -> dict[str, str]:
    """TT 05/2025 identifiers of the AIP: mã hồ sơ, and arcFileCode = mã cơ quan lưu trữ + mã hồ sơ."""
    file_code = next((v for k, v in bag_info.items() if k.lower() == "filecode"), "")
    ids = {"fileCode": file_code} if file_code else {}
    if file_code and ctx.settings.archive_code:
        ids["arcFileCode"] = f"{ctx.settings.archive_code}.{file_code}"
    return ids


def _write_tt05(ctx: Context, ws: Workspace, validation: dict[str, Any], payload: set[str]) -> list[str]:
    """The TT 05/2025 metadata, in its canonical form, under metadata/descriptive (EAD.xml, EAD_doc/, tt05.json)."""
    if not validation.get("tt05"):
        return []
    from packages import tt05

    meta = tt05.load_metadata(ws.sip_dir, payload, max_file_bytes=ctx.settings.sip_max_tag_file_bytes,
                              max_lines=ctx.settings.sip_max_manifest_lines)  # the limits validation used
    if meta is None:
        return []
    descriptive = ws.aip_dir / aip_layout.DESCRIPTIVE_DIR
    shutil.rmtree(descriptive / "EAD_doc", ignore_errors=True)  # a re-run writes the same files again
    written = tt05.write_ead_xml(meta, descriptive / "EAD.xml")
    (descriptive / "tt05.json").write_text(
        json.dumps(validation["tt05"], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    schemas = ws.aip_dir / "schemas"  # E-ARK: the schemas the package's metadata follows travel with it
    schemas.mkdir(exist_ok=True)
    (schemas / "tt05.xsd").write_text(tt05.xsd_text(), encoding="utf-8")
    for kind in ("hoso", "document"):
        (schemas / f"tt05-{kind}.schema.json").write_text(
            json.dumps(tt05.json_schema(kind), ensure_ascii=False, indent=1), encoding="utf-8"
        )
    extra = [*written, descriptive / "tt05.json", *sorted(schemas.iterdir())]
    return sorted(p.relative_to(ws.aip_dir).as_posix() for p in extra)


def step_package(ctx: Context, ws: Workspace) -> None:
    """Place the originals under ``representations/rep-01/data`` (hard links: no copy) and list
    every file of the AIP with its digest for the store step."""
    aip_id = ws.aip_id
    manifest: list[dict[str, Any]] = []
    for item in _file_objects(ws):
        relpath = item["aip_path"]
        target = ws.aip_dir / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        source = ws.path / item["workspace_path"]
        if target.exists() and not os.path.samefile(source, target):
            target.unlink()
        if not target.exists():
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
        digests = item["digests"]
        if ocfl.DIGEST not in digests:  # a workspace begun before AIPs were OCFL objects
            digests = {**digests, **hash_file(target, [ocfl.DIGEST])}
        manifest.append({"key": relpath, "size": item["size"], "sha256": digests["sha256"],
                         "sha512": digests[ocfl.DIGEST]})
    payload_keys = {m["key"] for m in manifest}
    for path in sorted(ws.aip_dir.rglob("*")):
        relpath = path.relative_to(ws.aip_dir).as_posix()
        if path.is_file() and relpath not in payload_keys:
            digests = hash_file(path, ["sha256", ocfl.DIGEST])
            manifest.append({"key": relpath, "size": path.stat().st_size, **digests})
    mets_sha256 = next(m["sha256"] for m in manifest if m["key"] == aip_layout.METS_NAME)
    event = premis.new_event(
        "information package creation",
        "success",
        aip_id=aip_id,
        object_ids=[aip_id],
        agents=[agents.link(agents.kho(), "executing program")],
        detail="E-ARK CSIP/AIP 2.x layout: METS.xml, metadata/, representations/<rep>/data",
        outcome_detail=f"{len(manifest)} files; METS.xml sha256:{mets_sha256}",
    )
    ws.complete_step("package", [event], {"files": manifest, "mets_sha256": mets_sha256})
    log.info(
        "AIP %s package: E-ARK AIP of %d files, %d bytes; METS.xml sha256:%s",
        aip_id, len(manifest), sum(m["size"] for m in manifest), mets_sha256,
    )


def _first_version(ws: Workspace, manifest: list[dict[str, Any]]) -> ocfl.Inventory:
    """The OCFL inventory of the AIP's ``v1``, made once and kept in the workspace: a resumed store
    writes the very same bytes (a location that already committed it is recognised, not rewritten)."""
    saved = ws.work_dir / "ocfl-inventory.json"
    if saved.exists():
        return ocfl.Inventory.from_json(saved.read_bytes())
    state = ws.state()
    inventory, _ = ocfl.new_object(ws.aip_id).next_version(
        [ocfl.NewFile(item["key"], item["sha512"], item["sha256"]) for item in manifest],
        created=premis.now_iso(),
        message=f"Ingest of SIP {state['sip_name']} / tiếp nhận gói SIP",
        user={"name": f"Kho {agents.KHO_VERSION}", "address": "urn:kho:ingest"},
    )
    write_bytes_atomic(saved, inventory.to_json())
    return inventory


def step_store(ctx: Context, ws: Workspace) -> None:
    """Store the AIP at every location as the first version (``v1``) of an OCFL object, each object
    read back before it counts; the object's root inventory, written last, commits it."""
    aip_id = ws.aip_id
    manifest = ws.output("package")["files"]
    kho = agents.kho()
    retain_until = lock_until(ws.output("validate_sip")["bag_info"])  # the record's own retention period
    inventory = _first_version(ws, manifest)
    placed = {path: inventory.content_of(digest) for path, digest in inventory.state().items()}
    by_content = {placed[item["key"]]: item for item in manifest}  # one object per distinct content
    content = [(ocfl_store.content_key(aip_id, path), ws.aip_dir / item["key"], item["sha256"])
               for path, item in sorted(by_content.items())]
    events = []
    stored: list[dict[str, str]] = []
    for url in ctx.settings.storage:
        location: StorageLocation | None = None
        try:
            location = open_location(url)  # one location at a time: events per copy
            ocfl_store.stage_version(
                location, aip_id, inventory, content, ws.work_dir / "ocfl", retain_until,
                on_stored=lambda number: checkpoint(f"store:after-put:{number}"),
            )  # a batch: one flush to disk, parallel read-back, where the location can
            checkpoint("store:before-commit")
            ocfl_store.publish_version(location, aip_id, inventory, ws.work_dir / "ocfl", retain_until)
        except StorageError as exc:
            if location is not None:
                ocfl_store.discard_staged(location, aip_id, inventory.head)  # e.g. a full disk gets its space back
            ws.record_failure(
                premis.new_event(
                    "replication",
                    "failure",
                    aip_id=aip_id,
                    object_ids=[aip_id],
                    agents=[agents.link(kho, "executing program")],
                    detail=f"store AIP at {url}",
                    outcome_detail=str(exc),
                )
            )
            changed = _changed_since_validation(ws, manifest) if "SHA-256" in str(exc) else []
            if changed:
                # the bytes Kho validated are no longer what it holds (a hard-linked original edited in
                # place, a file still being written when it was claimed): no retry can succeed
                report = SipReport(path=str(ws.sip_dir), profile=ws.state().get("profile", "bagit"))
                for key in changed[:100]:
                    report.problems.append(Problem(
                        "checksum-mismatch", path=key,
                        detail="changed after validation: was it still being written, or edited in place? / "
                               "tệp bị thay đổi sau khi kiểm tra",
                    ))
                _reject(ctx, ws, report, [])
            raise IngestError(f"storing at {url} failed: {exc}") from exc
        verified_at = premis.now_iso()
        total = sum(m["size"] for m in manifest)
        events.append(
            premis.new_event(
                "replication",
                "success",
                aip_id=aip_id,
                object_ids=[aip_id],
                agents=[agents.link(kho, "executing program")],
                detail=f"AIP stored at {url} as OCFL object {ocfl.object_root(aip_id)} version {inventory.head}",
                outcome_detail=f"{len(manifest)} files ({len(content)} distinct objects), {total} bytes",
            )
        )
        events.append(
            premis.new_event(
                "fixity check",
                "success",
                aip_id=aip_id,
                object_ids=[aip_id],
                agents=[agents.link(kho, "executing program")],
                detail=f"stored copy at {url} read back, SHA-256 of every object compared",
                outcome_detail=f"{len(manifest)} objects match",
            )
        )
        stored.append({"location": url, "verified_at": verified_at})
    ws.complete_step("store", events, {"copies": stored, "ocfl_head": inventory.head, "content_paths": placed,
                                       "inventory": inventory.digests()})
    log.info(
        "AIP %s store: %d objects, %d bytes stored and read back at %d location(s): %s",
        aip_id, len(manifest), sum(m["size"] for m in manifest), len(stored), ", ".join(c["location"] for c in stored),
    )


# A descriptive value the catalog keeps (and `kho aip list`, search and the API show); the whole value is
# in the AIP (METS, dc.xml, metadata/other). A 9.4 MB E-ARK LABEL became the catalog title before.
MAX_CATALOG_VALUE = 4000
MAX_TITLE = 1000


def _catalog_title(title: str | None) -> str | None:
    return premis.bounded_text(title, MAX_TITLE, "the AIP's metadata") if title else title


def _changed_since_validation(ws: Workspace, manifest: list[dict[str, Any]]) -> list[str]:
    """AIP files whose bytes no longer have the SHA-256 recorded when they were validated and described."""
    return [item["key"] for item in manifest if hash_file(ws.aip_dir / item["key"], ["sha256"])["sha256"]
            != item["sha256"]]


def step_index(ctx: Context, ws: Workspace) -> None:
    """One transaction: AIP, files, agents, events, copies. The workspace goes only after it."""
    state = ws.state()
    aip_id = state["aip_id"]
    catalog = ctx.catalog
    if catalog.get_aip(aip_id) is None:
        validation = ws.output("validate_sip")
        package = ws.output("package")
        stored = ws.output("store")
        copies = stored["copies"]
        content_paths: dict[str, str] = stored["content_paths"]
        end = premis.new_event(
            "ingestion end",
            "success",
            aip_id=aip_id,
            object_ids=[aip_id],
            agents=[agents.link(agents.kho(), "executing program")],
            detail="AIP stored and catalogued",
            outcome_detail=f"{len(copies)} verified copies",
        )
        objects = _file_objects(ws)
        originals = [o for o in objects if o["role"] == "original"]
        review = ws.output("validate_formats").get("review", []) + ws.output("normalise").get("review", [])
        validated = ws.output("validate_formats").get("validated", {})
        dossier_access = validation.get("dossier_access") or {}
        file_access = validation.get("file_access") or {}
        by_id = {o["id"]: o for o in objects}
        now = datetime.now(UTC)
        with catalog.session() as session:
            session.add(
                Aip(
                    id=aip_id,
                    sip_name=state["sip_name"],
                    title=_catalog_title(validation["bag_info"].get("title")),
                    status="stored",
                    payload_hash=validation["payload_hash"],
                    previous_version=validation.get("previous_version"),
                    file_count=len(originals),
                    total_bytes=sum(o["size"] for o in originals),
                    needs_review=bool(review),
                    access_mode=dossier_access.get("mode") or "restricted",
                    embargo_until=_date_or_none(dossier_access.get("embargo_until")),
                    access_basis=dossier_access.get("basis") or None,
                    review_reasons=review,
                    mets_sha256=package["mets_sha256"],
                    bag_info={k[:200]: premis.bounded_text(str(v), MAX_CATALOG_VALUE, "the AIP's metadata")
                              for k, v in validation["bag_info"].items()},
                    created_at=datetime.fromisoformat(state["created_at"]),
                    stored_at=now,
                    ocfl_head=stored["ocfl_head"],
                    inventory_digests=stored.get("inventory"),
                )
            )
            session.flush()
            payload_keys = set()
            rows = []
            for obj in objects:
                key = obj["aip_path"]
                payload_keys.add(key)
                validated_file = validated.get(obj["original_name"]) or {}
                rows.append(
                    content_file_row(
                        aip_id,
                        obj,
                        validation_status=validated_file.get("status"),
                        validator=validated_file.get("validator"),
                        content_path=content_paths[key],
                        **_file_access(file_access, obj, by_id),
                    )
                )
            for item in package["files"]:
                if item["key"] not in payload_keys:
                    rows.append(
                        {
                            "id": str(uuid.uuid5(uuid.UUID(aip_id), item["key"])),
                            "aip_id": aip_id,
                            "path": item["key"],
                            "original_path": item["key"],
                            "role": "metadata",
                            "size": item["size"],
                            "sha256": item["sha256"],
                            "sha512": item.get("sha512"),
                            "content_path": content_paths[item["key"]],
                            "mime": "text/xml" if item["key"].endswith(".xml") else "text/plain",
                        }
                    )
            session.execute(insert(File), rows)  # one executemany instead of an ORM object per file
            for copy in copies:
                session.add(
                    StorageCopy(
                        aip_id=aip_id,
                        location=copy["location"],
                        status="verified",
                        verified_at=datetime.fromisoformat(copy["verified_at"]),
                        ocfl_head=stored["ocfl_head"],
                    )
                )
            catalog.ensure_agents(session, _agents_of(ws).values())
            all_events = [*ws.events(STEPS), end]
            catalog.append_events(session, all_events)
        log.info(
            "AIP %s index: catalogued SIP %r: %d original files, %d bytes, %d files in all, %d events, "
            "%d copies at %s%s",
            aip_id, state["sip_name"], len(originals), sum(o["size"] for o in originals), len(rows),
            len(all_events), len(copies), ", ".join(c["location"] for c in copies),
            "; flagged for review" if review else "",
        )
    checkpoint("index:committed")
    shutil.rmtree(ws.path)


def _date_or_none(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _file_access(
    rules: dict[str, dict[str, Any]], obj: dict[str, Any], by_id: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """A file's own access rule; a derivative inherits its source's."""
    source = by_id.get(obj["source_id"], obj) if obj["source_id"] else obj
    rule = rules.get(source["original_name"])
    if not rule:
        return {}
    return {
        "access_mode": rule["mode"],
        "embargo_until": _date_or_none(rule.get("embargo_until")),
        "access_basis": rule.get("basis") or None,
    }


STEP_FUNCTIONS: dict[str, Callable[[Context, Workspace], None]] = {
    "receive": step_receive,
    "validate_sip": step_validate_sip,
    "virus_check": step_virus_check,
    "identify": step_identify,
    "validate_formats": step_validate_formats,
    "normalise": step_normalise,
    "fixity": step_fixity,
    "describe": step_describe,
    "package": step_package,
    "store": step_store,
    "index": step_index,
}


# -- running --------------------------------------------------------------------------------------


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
    with ws.locked():
        if ws.is_done(step):
            return
        if ws.state()["mode"] == "claim":
            _finish_claim(ctx, ws)
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
        try:
            for step in STEPS:
                run_step(ctx, ws, step)
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


def summary_line(result: IngestResult) -> str:
    if result.status == "stored":
        formats = ", ".join(f"{k}×{v}" for k, v in sorted(result.formats.items()))
        return (
            f"{result.sip_name}: stored AIP {result.aip_id} at {', '.join(result.locations)}; "
            f"{result.files} files ({formats})"
        )
    return f"{result.sip_name}: REJECTED — {result.reason} (see {result.failed_path})"


def result_json(result: IngestResult) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False)

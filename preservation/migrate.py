"""Format migration campaigns: new preservation/access copies where the policy now asks for them.

For each AIP with such files: fetch the originals (verified), convert them (the normalisation tools),
then add a new version to the AIP's OCFL object — the new copies, a new PREMIS file and METS
(``RECORDSTATUS="REVISED"``), the superseded METS listed again as ``metadata/other/revisions/METS.rN.xml``
(OCFL stores those bytes once). Nothing of an earlier version is rewritten: the version is staged at
every location, the catalog commits it, then each location's root inventory is published
(preservation/versions.py). AIPs already migrated have their derivative in the catalog and are skipped,
so an interrupted campaign resumes where it stopped; a version committed but not yet published
everywhere is published first.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from format_registry.policy import Policy, cached_policy
from packages import agents, ocfl, premis
from packages import aip as aip_layout
from packages.aip_builder import PackageMetadata, metadata_file_id, write_package_metadata
from packages.checksums import hash_file, sha256_file
from packages.mets import MetsFile
from packages.ocfl import InventoryError
from preservation import logs, progress, versions
from preservation import normalise as normalisation
from preservation.catalog import Aip, Catalog, File, content_file
from preservation.faults import checkpoint
from preservation.retention import lock_until
from preservation.retrieval import RetrievalError, fetch_object
from storage_adapters.base import StorageError

log = logging.getLogger("kho.migrate")


class MigrationError(RuntimeError):
    """A campaign step failed (storage, catalog); finished AIPs stay migrated, the rest can be rerun."""


@dataclass
class Candidate:
    aip_id: str
    files: list[File]
    jobs: list[normalisation.Job]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class CampaignResult:
    dry_run: bool
    candidates: list[Candidate] = field(default_factory=list)
    migrated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "aips": len(self.candidates),
            "files": sum(len(c.files) for c in self.candidates),
            "bytes": sum(c.bytes for c in self.candidates),
            "plan": [
                {
                    "aip_id": c.aip_id,
                    "files": [
                        {"path": j.source_path, "purpose": j.purpose, "target": j.target, "tool": j.tool}
                        for j in c.jobs
                    ],
                }
                for c in self.candidates
            ],
            "migrated": self.migrated,
            "failed": self.failed,
        }


def find_candidates(catalog: Catalog, policy: Policy, puid: str | None = None) -> list[Candidate]:
    """Originals whose policy now asks for a derivative they do not have yet."""
    with catalog.session(readonly=True) as session:
        query = select(File).where(File.role == "original").order_by(File.aip_id, File.path)
        if puid:
            query = query.where(File.puid == puid)
        originals = list(session.scalars(query))
        existing = {
            (row.source_id, row.role) for row in session.scalars(select(File).where(File.source_id.is_not(None)))
        }
    by_aip: dict[str, Candidate] = {}
    for original in originals:
        decision = policy.decide(original.puid, original.mime)
        for purpose, action in (("preservation", decision.preservation), ("access", decision.access)):
            if action.action != "normalise" or not action.tool or not action.target:
                continue
            if (original.id, purpose) in existing:
                continue
            candidate = by_aip.setdefault(original.aip_id, Candidate(original.aip_id, [], []))
            if original not in candidate.files:
                candidate.files.append(original)
            candidate.jobs.append(
                normalisation.Job(original.id, original.original_path, purpose, action.tool, action.target)
            )
    return list(by_aip.values())


def run_campaign(
    catalog: Catalog,
    *,
    puid: str | None = None,
    dry_run: bool = False,
    digests: tuple[str, ...] = ("sha256",),
    organization: str = "Kho",
) -> CampaignResult:
    policy = cached_policy()
    result = CampaignResult(dry_run=dry_run, candidates=find_candidates(catalog, policy, puid))
    files = sum(len(c.files) for c in result.candidates)
    log.info("migration campaign%s: %d files (%d bytes) in %d AIPs need new copies by %s%s",
             f" of {puid}" if puid else "", files, sum(c.bytes for c in result.candidates), len(result.candidates),
             policy.path.name, " (dry run: nothing changed)" if dry_run else "")
    if dry_run:
        return result
    versions.publish_pending(catalog)  # versions an interrupted campaign committed but did not publish
    with progress.task(files, "migration") as bar:
        for number, candidate in enumerate(result.candidates, start=1):
            with logs.bind(aip_id=candidate.aip_id):
                try:
                    migrate_aip(catalog, policy, candidate, digests=digests, organization=organization)
                    result.migrated.append(candidate.aip_id)
                    log.info("AIP %s migrate: %d files converted into a new version", candidate.aip_id,
                             len(candidate.files))
                except (MigrationError, StorageError) as exc:
                    result.failed[candidate.aip_id] = str(exc)
                    # the CLI prints the failure as its result: marked so, not printed twice without -v
                    log.warning("AIP %s migrate: FAILED: %s", candidate.aip_id, exc, extra={"kho_result": True})
            bar.advance(len(candidate.files), note=candidate.aip_id)
            checkpoint(f"migrate:after-aip:{number}")
    log.info("migration campaign done: %d AIPs migrated, %d failed", len(result.migrated), len(result.failed))
    return result


def _event_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_type": row.event_type,
        "event_datetime": catalog_iso(row.event_datetime),
        "detail": row.detail,
        "outcome": row.outcome,
        "outcome_detail": row.outcome_detail,
        "object_ids": row.object_ids,
        "agents": row.agents,
    }


def catalog_iso(value: datetime) -> str:
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).isoformat()


def migrate_aip(
    catalog: Catalog, policy: Policy, candidate: Candidate, *, digests: tuple[str, ...], organization: str
) -> None:
    aip_id = candidate.aip_id
    aip = catalog.get_aip(aip_id)
    if aip is None:
        raise MigrationError(f"AIP {aip_id} is not in the catalog")
    if not aip.ocfl_head:
        raise MigrationError(f"AIP {aip_id} is stored in the layout before OCFL: run `kho storage upgrade` first "
                             "/ gói AIP còn theo cấu trúc cũ: hãy chạy `kho storage upgrade`")
    digests = tuple(dict.fromkeys((*digests, ocfl.DIGEST)))  # OCFL inventories name files by SHA-512
    rows = catalog.files(aip_id)
    with tempfile.TemporaryDirectory(prefix="kho-migrate-") as scratch_name:
        scratch = Path(scratch_name)
        originals_dir, derivatives_dir, revision_dir = scratch / "sip", scratch / "derivatives", scratch / "revision"
        for original in candidate.files:
            target = originals_dir / original.original_path
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                fetch_object(catalog, aip_id, original, target)
            except RetrievalError as exc:  # no verified copy anywhere
                raise MigrationError(str(exc)) from exc
        derivatives, events, review, tool_agents = normalisation.run_jobs(
            policy,
            candidate.jobs,
            sip_dir=originals_dir,
            derivatives_dir=derivatives_dir,
            aip_id=aip_id,
            digests=digests,
            event_type="migration",
            taken={r.path for r in rows},
        )
        if not derivatives:
            raise MigrationError("; ".join(review) or "no derivative was produced")
        revision = ocfl.version_number(aip.ocfl_head) + 1
        kho = agents.kho()
        events.append(
            premis.new_event(
                "information package creation",
                "success",
                aip_id=aip_id,
                object_ids=[aip_id],
                agents=[agents.link(kho, "executing program")],
                detail=f"AIP revision {revision}: {len(derivatives)} new copies by the format policy "
                f"({policy.path.name})",
                outcome_detail="; ".join(d["aip_path"] for d in derivatives),
            )
        )
        uploads = _write_revision(
            catalog, aip, rows, derivatives, events, tool_agents, revision, derivatives_dir, revision_dir, organization
        )
        try:
            inventory, placed = versions.stage(
                catalog, aip,
                [versions.VersionFile(u["key"], u["source"], u["sha256"], u["sha512"]) for u in uploads],
                created=premis.now_iso(),
                message=f"Format migration, AIP revision {revision}: {len(derivatives)} new copies "
                        "/ chuyển đổi định dạng",
                user={"name": f"Kho {agents.KHO_VERSION}", "address": "urn:kho:migrate"},
                scratch=scratch / "ocfl",
                retain_until=lock_until(aip.bag_info),  # Object Lock: every version as long as the record
                on_stored=lambda number: checkpoint(f"migrate:after-put:{number}"),
            )
        except InventoryError as exc:
            raise MigrationError(f"AIP {aip_id}: {exc}") from exc
        _commit(catalog, aip, derivatives, uploads, events, tool_agents, review, inventory, placed)
        checkpoint("migrate:after-commit")
        versions.publish_pending(catalog, aip_id)


def catalog_objects(rows: list[File]) -> list[dict[str, Any]]:
    """The AIP's content files as the PREMIS and METS writers take them, from catalog rows."""
    return [
        {
            "id": r.id,
            "original_name": r.original_path,
            "aip_path": r.path,
            "representation": r.representation,
            "role": r.role,
            "source_id": r.source_id,
            "size": r.size,
            "digests": {"sha256": r.sha256, **({"sha512": r.sha512} if r.sha512 else {})},
            "puid": r.puid,
            "format_name": r.format_name,
            "format_version": r.format_version,
            "mime": r.mime,
        }
        for r in rows
        if r.role != "metadata"
    ]


def catalog_agents(catalog: Catalog) -> list[dict[str, str]]:
    return [
        {"type": a.identifier_type, "value": a.identifier_value, "name": a.name, "agent_type": a.agent_type}
        for a in catalog.agents()
    ]


def catalog_events(catalog: Catalog, aip_id: str) -> list[dict[str, Any]]:
    return [_event_dict(e) for e in catalog.events(aip_id)]


def _fetch_previous_mets(catalog: Catalog, aip: Aip, rows: list[File], target: Path) -> None:
    """The METS this revision supersedes: the head version's, which OCFL never rewrites; only bytes
    with the catalog's SHA-256 (``Aip.mets_sha256``) are taken."""
    mets = next((r for r in rows if r.path == aip_layout.METS_NAME), None)
    try:
        if mets is None or mets.sha256 != aip.mets_sha256:
            raise RetrievalError(f"the catalog's METS.xml row does not match sha256:{aip.mets_sha256}", [])
        fetch_object(catalog, aip.id, mets, target)
    except RetrievalError as exc:
        raise MigrationError(
            f"AIP {aip.id}: no stored METS.xml matches the catalog's sha256:{aip.mets_sha256} ({exc}); "
            f"run `kho fixity --aip {aip.id}` / không tìm thấy METS hợp lệ"
        ) from exc


def _write_revision(
    catalog: Catalog,
    aip: Aip,
    rows: list[File],
    derivatives: list[dict[str, Any]],
    new_events: list[dict[str, Any]],
    tool_agents: list[dict[str, str]],
    revision: int,
    derivatives_dir: Path,
    revision_dir: Path,
    organization: str,
) -> list[dict[str, Any]]:
    """Write premis.xml, METS.xml and the previous METS copy; return every object to upload."""
    aip_id = aip.id
    previous_mets = revision_dir / "previous-METS.xml"
    revision_dir.mkdir(parents=True)
    previous_key = f"{aip_layout.OTHER_DIR}/revisions/METS.r{revision - 1}.xml"
    _fetch_previous_mets(catalog, aip, rows, previous_mets)
    objects = catalog_objects(rows)
    objects += [{**d, "original_name": d["aip_path"], "role": d["purpose"]} for d in derivatives]
    events = [_event_dict(e) for e in catalog.events(aip_id)] + new_events
    agent_rows = catalog_agents(catalog)
    agent_rows += [
        a for a in tool_agents if (a["type"], a["value"]) not in {(r["type"], r["value"]) for r in agent_rows}
    ]
    premis_path = revision_dir / "premis.xml"
    now = premis.now_iso()
    metadata = {r.path: r for r in rows if r.role == "metadata"}

    def md(path: str, size: int, sha256: str) -> MetsFile:
        return MetsFile(
            file_id=metadata_file_id(path),
            href=path,
            size=size,
            sha256=sha256,
            mime="text/xml" if path.endswith(".xml") else "text/plain",
            created=now,
        )

    previous_sha = sha256_file(previous_mets)
    dc = metadata[aip_layout.DC_PATH]
    # every metadata file of the AIP stays listed (TT 05 EAD, tt05.json, schemas/, metadata/other/...),
    # except the three this revision rewrites
    rewritten = {aip_layout.METS_NAME, aip_layout.DC_PATH, aip_layout.PREMIS_PATH}
    others = [md(p, r.size, r.sha256) for p, r in sorted(metadata.items()) if p not in rewritten]
    others.append(md(previous_key, previous_mets.stat().st_size, previous_sha))
    technical: dict[str, dict[str, Any]] = {  # the validation verdicts stay in the revised METS
        f"file-{r.id}": {"status": r.validation_status, "validator": r.validator, "tool_version": "", "messages": []}
        for r in rows
        if r.validation_status
    }
    mets_path = revision_dir / "METS.xml"
    write_package_metadata(
        PackageMetadata(
            aip_id=aip_id,
            sip_name=aip.sip_name,
            label=aip.title or aip.sip_name,
            organization=organization,
            created=now,
            objects=lambda: objects,
            events=lambda: events,
            agents=agent_rows,
            descriptive=md(aip_layout.DC_PATH, dc.size, dc.sha256),
            describe_premis=lambda path: md(aip_layout.PREMIS_PATH, path.stat().st_size, sha256_file(path)),
            file_created=lambda _obj: now,
            other_metadata=others,
            technical=technical,
            record_status="REVISED",
        ),
        premis_path=premis_path,
        mets_path=mets_path,
    )
    uploads = [
        {
            "key": d["aip_path"],
            "source": derivatives_dir / d["aip_path"],
            "size": d["size"],
            "sha256": d["digests"]["sha256"],
            "sha512": d["digests"][ocfl.DIGEST],
            "role": "derivative",
        }
        for d in derivatives
    ]
    uploads.append(
        {
            "key": previous_key,
            "source": previous_mets,
            "size": previous_mets.stat().st_size,
            "sha256": previous_sha,
            "sha512": hash_file(previous_mets, [ocfl.DIGEST])[ocfl.DIGEST],
            "role": "metadata",
        }
    )
    uploads.append(
        {
            "key": aip_layout.PREMIS_PATH,
            "source": premis_path,
            "size": premis_path.stat().st_size,
            **hash_file(premis_path, ["sha256", ocfl.DIGEST]),
            "role": "metadata",
        }
    )
    uploads.append(
        {
            "key": aip_layout.METS_NAME,
            "source": mets_path,
            "size": mets_path.stat().st_size,
            **hash_file(mets_path, ["sha256", ocfl.DIGEST]),
            "role": "metadata",
        }
    )
    return uploads


def _commit(
    catalog: Catalog,
    aip: Aip,
    derivatives: list[dict[str, Any]],
    uploads: list[dict[str, Any]],
    events: list[dict[str, Any]],
    tool_agents: list[dict[str, str]],
    review: list[str],
    inventory: ocfl.Inventory,
    placed: dict[str, str],
) -> None:
    """One transaction: the new version's files (where OCFL placed their bytes) and events, the AIP's
    head. Storage already holds the version, staged at every location; it is published after this."""
    with catalog.session() as session:
        for derivative in derivatives:
            session.add(content_file(aip.id, {**derivative, "role": derivative["purpose"]},
                                     content_path=placed[derivative["aip_path"]]))
        for upload in uploads:
            if upload["role"] != "metadata":
                continue
            row = session.scalar(select(File).where(File.aip_id == aip.id, File.path == upload["key"]))
            if row is None:
                session.add(
                    File(
                        id=str(uuid.uuid5(uuid.UUID(aip.id), upload["key"])),
                        aip_id=aip.id,
                        path=upload["key"],
                        original_path=upload["key"],
                        role="metadata",
                        size=upload["size"],
                        sha256=upload["sha256"],
                        sha512=upload["sha512"],
                        mime="text/xml",
                        content_path=placed[upload["key"]],
                    )
                )
            else:
                row.size, row.sha256, row.sha512 = upload["size"], upload["sha256"], upload["sha512"]
                row.content_path = placed[upload["key"]]
        stored = session.get(Aip, aip.id)
        assert stored is not None
        stored.ocfl_head = inventory.head
        stored.inventory_digests = inventory.digests()
        stored.mets_sha256 = next(u["sha256"] for u in uploads if u["key"] == aip_layout.METS_NAME)
        if review:
            stored.needs_review = True
            stored.review_reasons = [*(stored.review_reasons or []), *review]
        catalog.ensure_agents(session, tool_agents)
        catalog.append_events(session, events)

"""``kho storage upgrade``: AIPs stored in the layout before OCFL (``<aip id>/<path>``) become OCFL 1.1
objects (``v1`` = the AIP as it is now), and the old keys go.

Per AIP, and safe to kill and run again at any point (decision 0014):

1. every file is read back verified against the catalog's SHA-256 (from any location holding a good
   copy), and its SHA-512 computed;
2. ``v1`` is staged and published at every location. The inventory is deterministic (its date is
   the AIP's ``stored_at``), so a rerun recognises a location that already committed it;
3. the catalog records where each file now is, in one transaction, with a PREMIS event;
4. the old keys are deleted, at every location, once the catalog points at the new ones. A location
   that refuses (S3 Object Lock) keeps them; they are reported, and a later run tries again.

Earlier revisions of an AIP migrated before the upgrade stay what they were: the superseded METS files
kept under ``metadata/other/revisions/`` become part of ``v1``.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packages import agents, ocfl, premis
from packages.checksums import hash_file
from preservation import ocfl_store
from preservation.catalog import Aip, Catalog, File, StorageCopy, as_utc
from preservation.faults import checkpoint
from preservation.retention import lock_until
from preservation.retrieval import RetrievalError, fetch_object
from storage_adapters.base import StorageError
from storage_adapters.registry import open_location

log = logging.getLogger(__name__)


@dataclass
class UpgradeResult:
    """What a run did: AIPs upgraded, AIPs that failed (with why), old keys deleted or kept."""

    dry_run: bool
    pending: list[str] = field(default_factory=list)
    upgraded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    old_keys_deleted: int = 0
    old_keys_kept: dict[str, str] = field(default_factory=dict)  # key at location -> why

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "pending": self.pending, "upgraded": self.upgraded, "failed": self.failed,
            "old_keys_deleted": self.old_keys_deleted, "old_keys_kept": self.old_keys_kept,
        }


def upgrade_storage(catalog: Catalog, *, dry_run: bool = False) -> UpgradeResult:
    """Upgrade every AIP of the old layout (or list them, ``dry_run``); then clear old keys left by an
    earlier, interrupted run."""
    aips = [a for a in catalog.list_aips() if a.deleted_at is None]
    result = UpgradeResult(dry_run=dry_run, pending=[a.id for a in aips if not a.ocfl_head])
    if dry_run:
        return result
    for aip in aips:
        if not aip.ocfl_head:
            try:
                _upgrade_one(catalog, aip)
                result.upgraded.append(aip.id)
            except (StorageError, RetrievalError, ocfl.InventoryError) as exc:
                result.failed[aip.id] = str(exc)
                continue
        if aip.id not in result.failed:
            _delete_old_keys(catalog, aip.id, result)
    return result


def _upgrade_one(catalog: Catalog, aip: Aip) -> None:
    rows = catalog.files(aip.id)
    with tempfile.TemporaryDirectory(prefix="kho-upgrade-") as scratch_name:
        scratch = Path(scratch_name)
        sources: dict[str, Path] = {}
        sha512: dict[str, str] = {}
        for number, row in enumerate(rows):
            target = scratch / "files" / str(number)
            target.parent.mkdir(parents=True, exist_ok=True)
            fetch_object(catalog, aip.id, row, target)  # verified against the catalog's SHA-256
            sources[row.path] = target
            sha512[row.path] = hash_file(target, [ocfl.DIGEST])[ocfl.DIGEST]
        inventory, placed = ocfl.new_object(aip.id).next_version(
            [ocfl.NewFile(r.path, sha512[r.path], r.sha256) for r in rows],
            created=as_utc(aip.stored_at).isoformat(),  # deterministic: a rerun writes the same inventory
            message="Upgrade to the OCFL 1.1 layout of an AIP stored before it / chuyển sang cấu trúc OCFL",
            user={"name": f"Kho {agents.KHO_VERSION}", "address": "urn:kho:storage-upgrade"},
        )
        by_content = {placed[r.path]: r for r in rows}
        content = [(ocfl_store.content_key(aip.id, path), sources[r.path], r.sha256)
                   for path, r in sorted(by_content.items())]
        copies = [c for c in catalog.copies(aip.id) if c.status != "deleted"]
        for number, copy in enumerate(copies, start=1):
            location = open_location(copy.location)
            locked = lock_until(aip.bag_info)
            ocfl_store.stage_version(location, aip.id, inventory, content, scratch / f"ocfl-{number}", locked)
            ocfl_store.publish_version(location, aip.id, inventory, scratch / f"ocfl-{number}", locked)
            checkpoint(f"upgrade:after-location:{number}")
    event = premis.new_event(
        "replication", "success", aip_id=aip.id, object_ids=[aip.id],
        agents=[agents.link(agents.kho(), "executing program")],
        detail=f"AIP copied into the OCFL 1.1 layout as object {ocfl.object_root(aip.id)} version v1 "
               f"(kho storage upgrade)",
        outcome_detail=f"{len(rows)} files read back verified and stored at {len(copies)} locations",
    )
    with catalog.session() as session:
        for row in session.query(File).filter(File.aip_id == aip.id):
            row.content_path = placed[row.path]
            row.sha512 = sha512[row.path]
        stored = session.get(Aip, aip.id)
        assert stored is not None
        stored.ocfl_head = inventory.head
        stored.inventory_digests = inventory.digests()
        for copy_row in session.query(StorageCopy).filter(StorageCopy.aip_id == aip.id):
            if copy_row.status != "deleted":
                copy_row.ocfl_head = inventory.head
        catalog.append_events(session, [event])
    checkpoint("upgrade:after-commit")
    log.info("AIP %s: upgraded to OCFL object %s", aip.id, ocfl.object_root(aip.id))


def _delete_old_keys(catalog: Catalog, aip_id: str, result: UpgradeResult) -> None:
    """Delete the keys of the old layout (``<aip id>/…``) wherever they are left."""
    for copy in catalog.copies(aip_id):
        if copy.status == "deleted":
            continue
        try:
            location = open_location(copy.location)
            for key in list(location.list(f"{aip_id}/")):
                try:
                    location.delete(key)
                    result.old_keys_deleted += 1
                    checkpoint(f"upgrade:after-delete:{result.old_keys_deleted}")
                except StorageError as exc:  # e.g. an Object Lock retention still running
                    result.old_keys_kept[f"{key} at {copy.location}"] = str(exc)
        except StorageError as exc:
            result.old_keys_kept[f"{aip_id}/ at {copy.location}"] = str(exc)

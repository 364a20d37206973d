"""New versions of a stored AIP (a migration campaign now; metadata updates later), on every copy.

The order makes every crash recoverable without losing or rewriting anything (decision 0014):

1. ``stage`` — at every location, the new version's content and its own inventory under ``vN/``; the
   object's head is untouched, so a crash here leaves the AIP exactly as it was (the next attempt
   clears what this one left under ``vN/``);
2. the caller commits the catalog (the new files, ``Aip.ocfl_head = vN``) in one transaction;
3. ``publish_pending`` — at every location, the root inventory becomes ``vN``'s (the OCFL commit) and
   the copy's ``StorageCopy.ocfl_head`` says so. A crash between 2 and 3 leaves copies behind the
   catalog; the next campaign, audit or ``kho storage upgrade`` publishes them from the staged ``vN``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from packages import ocfl
from packages.ocfl import Inventory, InventoryError
from preservation import evidence, ocfl_store
from preservation.catalog import Aip, Catalog, StorageCopy
from preservation.faults import checkpoint
from storage_adapters.base import StorageError, StorageLocation
from storage_adapters.registry import open_location

log = logging.getLogger(__name__)


class VersionError(StorageError):
    """A version could not be read, staged or published; the message says where and what to do."""


@dataclass(frozen=True)
class VersionFile:
    """A file of a new version: its logical path in the AIP, the local file with its bytes, digests."""

    logical_path: str
    source: Path
    sha256: str
    sha512: str


def _locations(catalog: Catalog, aip_id: str) -> list[tuple[StorageCopy, StorageLocation]]:
    found = []
    for copy in catalog.copies(aip_id):
        if copy.status == "deleted":
            continue
        found.append((copy, open_location(copy.location)))
    return found


def head_inventory(catalog: Catalog, aip: Aip) -> Inventory:
    """The inventory of the version the catalog describes, from the first location that holds it
    (committed, or staged and complete when that copy's publication is still pending)."""
    if not aip.ocfl_head:
        raise VersionError(f"AIP {aip.id} is stored in the layout before OCFL: run `kho storage upgrade` first / "
                           "gói AIP còn theo cấu trúc cũ: hãy chạy `kho storage upgrade`")
    problems = []
    for _copy, location in _locations(catalog, aip.id):
        try:
            inventory = ocfl_store.read_inventory(location, aip.id)
            if inventory is not None and inventory.head != aip.ocfl_head:
                inventory = ocfl_store.read_staged_inventory(location, aip.id, aip.ocfl_head)
            if inventory is not None and inventory.head == aip.ocfl_head:
                return inventory
            problems.append(f"{location.url}: no inventory of {aip.ocfl_head}")
        except (StorageError, InventoryError) as exc:
            problems.append(str(exc))
    raise VersionError(f"AIP {aip.id}: no location holds the inventory of {aip.ocfl_head} ("
                       + "; ".join(problems) + f"); run `kho fixity --aip {aip.id}`")


def stage(
    catalog: Catalog,
    aip: Aip,
    files: Sequence[VersionFile],
    *,
    created: str,
    message: str,
    user: dict[str, str],
    scratch: Path,
    retain_until: datetime | None = None,
    on_stored: Callable[[int], None] | None = None,
) -> tuple[Inventory, dict[str, str]]:
    """Stage the next version (the head's state plus ``files``) at every location of the AIP.
    Returns the new inventory and, for every logical path, the content path holding its bytes."""
    base = head_inventory(catalog, aip)
    inventory, placed = base.next_version(
        [ocfl.NewFile(f.logical_path, f.sha512, f.sha256) for f in files],
        created=created, message=message, user=user,
    )
    new_content = {placed[f.logical_path]: f for f in files if placed[f.logical_path].startswith(f"{inventory.head}/")}
    content = [(ocfl_store.content_key(aip.id, path), f.source, f.sha256) for path, f in sorted(new_content.items())]
    staged: list[StorageLocation] = []
    try:
        for number, (_copy, location) in enumerate(_locations(catalog, aip.id), start=1):
            publish_behind(location, aip, scratch / f"publish-{number}")
            staged.append(location)
            ocfl_store.stage_version(location, aip.id, inventory, content, scratch / f"stage-{number}",
                                     retain_until, on_stored)
            checkpoint(f"version:after-stage:{number}")
    except StorageError:
        for location in staged:  # nothing half-written stays behind (a full disk gets its space back)
            ocfl_store.discard_staged(location, aip.id, inventory.head)
        raise
    return inventory, placed


def publish_behind(location: StorageLocation, aip: Aip, scratch: Path) -> None:
    """Publish at ``location`` the catalog's head version when the location committed an earlier one
    (a crash after the catalog commit); refuse to go on when the location is ahead of the catalog."""
    if not aip.ocfl_head:
        return
    try:
        current = ocfl_store.read_inventory(location, aip.id)
    except InventoryError as exc:
        raise VersionError(str(exc)) from exc
    committed = current.head_number if current else 0
    wanted = ocfl.version_number(aip.ocfl_head)
    if committed > wanted:
        raise VersionError(
            f"{location.url}: AIP {aip.id} holds OCFL version {current.head if current else '?'} but the catalog "
            f"knows {aip.ocfl_head}: the catalog is older than storage (restored from a backup?); run "
            "`kho catalog rebuild` / danh mục cũ hơn kho lưu trữ")
    if committed < wanted:
        staged = ocfl_store.read_staged_inventory(location, aip.id, aip.ocfl_head)
        if staged is None:
            raise VersionError(f"{location.url}: AIP {aip.id}: version {aip.ocfl_head} is not staged there; "
                               f"run `kho fixity --aip {aip.id}`")
        ocfl_store.publish_version(location, aip.id, staged, scratch)
        log.info("AIP %s: published OCFL version %s at %s", aip.id, aip.ocfl_head, location.url)


def publish_pending(catalog: Catalog, aip_id: str | None = None) -> list[str]:
    """Publish the catalog's head version at every copy still behind it (all AIPs, or one); returns
    ``"<aip id> at <location>"`` for each copy published. A location that cannot be reached stays
    pending (its error is logged) and is published by a later run."""
    with catalog.session(readonly=True) as session:
        query = (select(Aip, StorageCopy).join(StorageCopy, StorageCopy.aip_id == Aip.id)
                 .where(Aip.ocfl_head.is_not(None), Aip.deleted_at.is_(None),
                        (StorageCopy.ocfl_head.is_(None)) | (StorageCopy.ocfl_head != Aip.ocfl_head)))
        if aip_id:
            query = query.where(Aip.id == aip_id)
        pending = [(aip, copy.id, copy.location) for aip, copy in session.execute(query)]
    done: list[str] = []
    for aip, copy_id, url in pending:
        try:
            with tempfile.TemporaryDirectory(prefix="kho-publish-") as scratch:
                publish_behind(open_location(url), aip, Path(scratch))
        except StorageError as exc:
            log.warning("AIP %s at %s: publication pending: %s", aip.id, url, exc)
            continue
        with catalog.session() as session:
            row = session.get(StorageCopy, copy_id)
            if row is not None:
                row.ocfl_head = aip.ocfl_head
        done.append(f"{aip.id} at {url}")
        checkpoint(f"version:after-publish:{len(done)}")
    for published in dict.fromkeys(aip.id for aip, _copy_id, _url in pending):
        _record_timestamp_events(catalog, published)
    return done


def _record_timestamp_events(catalog: Catalog, aip_id: str) -> None:
    """The PREMIS events of the time-stamps made while publishing (``preservation.evidence``), into the
    catalog. A failure here loses nothing: the events are in the evidence record, and
    ``kho authenticity renew`` adds them."""
    try:
        evidence.record_events(catalog, aip_id, scan=False)
    except Exception as exc:  # the versions are published; the events wait in storage
        log.warning("AIP %s: timestamp events not recorded yet (%s); `kho authenticity renew %s` adds them / "
                    "chưa ghi được sự kiện đóng dấu thời gian", aip_id, exc, aip_id)

"""AIPs as OCFL 1.1 objects on Kho's storage locations: writing a version, committing it, reading the
head inventory back, naming each file's key (decision 0014).

A version is written in two moves, so that a crash leaves either the old head or the new one, never a
mix: ``stage_version`` stores the version's new content and its own copy of the inventory under
``vN/`` (nothing a reader follows points there yet), and ``publish_version`` replaces the object's
root ``inventory.json`` and then its sidecar, the commit point. Content of a committed version is never
written again: staging refuses to touch a version the location already committed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from packages import ocfl
from packages.ocfl import Inventory, InventoryError
from storage_adapters.base import StorageError, StorageLocation, StoreItem, failure_kind
from storage_adapters.replicated import ReplicatedStorage

if TYPE_CHECKING:
    from preservation.config import Settings

MAX_INVENTORY_BYTES = 1024 * 1024 * 1024  # an inventory of a million files is ~300 MB; more is not ours
_OBJECT_KEY = re.compile(r"^[0-9a-f]{3}/[0-9a-f]{3}/[0-9a-f]{3}/urn%3auuid%3a([0-9a-f-]{36})/")


class StoredFile(Protocol):
    """What names a stored file: its logical path in the AIP and, for OCFL objects, its content path."""

    @property
    def path(self) -> str: ...

    @property
    def content_path(self) -> str | None: ...


def object_key(aip_id: str, item: StoredFile) -> str:
    """The storage key of a file of an AIP: ``<object root>/<content path>`` for an OCFL object, else
    ``<aip id>/<path>`` (the layout before OCFL, until ``kho storage upgrade`` converts it)."""
    content = getattr(item, "content_path", None)
    if content:
        return f"{ocfl.object_root(aip_id)}/{content}"
    return f"{aip_id}/{item.path}"


def object_prefix(aip_id: str, ocfl_head: str | None) -> str:
    """The key prefix holding every object of an AIP (its OCFL object root, or the old layout's folder)."""
    return f"{ocfl.object_root(aip_id)}/" if ocfl_head else f"{aip_id}/"


def content_key(aip_id: str, content_path: str) -> str:
    """The storage key of a content path of the AIP's OCFL object."""
    return f"{ocfl.object_root(aip_id)}/{content_path}"


def read_small(location: StorageLocation, key: str, limit: int = MAX_INVENTORY_BYTES) -> bytes | None:
    """The bytes of a small object, or None when the location says it has no such object."""
    try:
        with location.open(key) as stream:
            data = stream.read(limit + 1)
    except StorageError as exc:
        if failure_kind(exc) == "missing":
            return None
        raise
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"{location.url}: cannot read {key}: {exc}") from exc
    if len(data) > limit:
        raise StorageError(f"{location.url}: {key} is larger than {limit} bytes")
    return data


def read_inventory(location: StorageLocation, aip_id: str) -> Inventory | None:
    """The committed head inventory of the AIP's object at ``location`` (None: no object there),
    checked against its sidecar. A commit cut between ``inventory.json`` and its sidecar is recognised
    (the root inventory equals the head version's own copy, whose sidecar matches) and accepted."""
    root = ocfl.object_root(aip_id)
    raw = read_small(location, f"{root}/{ocfl.INVENTORY}")
    if raw is None:
        return None
    digest = hashlib.sha512(raw).hexdigest()
    side = read_small(location, f"{root}/{ocfl.SIDECAR}", 4096)
    inventory = Inventory.from_json(raw)
    if side is not None and ocfl.sidecar_digest(side) == digest:
        return inventory
    version_side = read_small(location, f"{root}/{inventory.head}/{ocfl.SIDECAR}", 4096)
    if version_side is not None and ocfl.sidecar_digest(version_side) == digest:
        return inventory
    raise InventoryError(f"{location.url}: {root}/{ocfl.INVENTORY} does not match its sidecar "
                         f"(sha512:{digest}) / tệp inventory không khớp mã kiểm tra")


def _small_items(scratch: Path, files: Sequence[tuple[str, bytes]]) -> list[StoreItem]:
    """Write small generated files (inventories, NAMASTE) to scratch files the storage can put."""
    scratch.mkdir(parents=True, exist_ok=True)
    items: list[StoreItem] = []
    for number, (key, data) in enumerate(files):
        path = scratch / f"small-{hashlib.sha256(key.encode()).hexdigest()[:16]}-{number}"
        path.write_bytes(data)
        items.append((key, path, hashlib.sha256(data).hexdigest()))
    return items


def stage_version(
    location: StorageLocation,
    aip_id: str,
    inventory: Inventory,
    content: Sequence[StoreItem],
    scratch: Path,
    retain_until: datetime | None = None,
    on_stored: Callable[[int], None] | None = None,
) -> bool:
    """Store everything of version ``inventory.head`` at ``location`` except the root inventory:
    the storage root's and object's declarations (once), the version's new content (``content``: keys
    from ``content_key``), then ``vN/inventory.json`` and its sidecar. Leftovers of an earlier attempt
    at the same uncommitted version that this attempt does not write are deleted first.

    Returns True when the location had already committed exactly this version (a resumed run), False
    when it was staged now. Raises StorageError when the location committed a different version N or
    a later one: a committed version is never rewritten."""
    storage = ReplicatedStorage([location])
    root = ocfl.object_root(aip_id)
    current = read_inventory(location, aip_id)
    if current is not None and current.head_number >= inventory.head_number:
        if current.to_json() == inventory.to_json():
            storage.store_many(content, retain_until, on_stored)  # re-verified, nothing rewritten
            return True
        raise StorageError(
            f"{location.url}: AIP {aip_id} already holds OCFL version {current.head}; version "
            f"{inventory.head} is not written over it / phiên bản đã được ghi, không ghi đè"
        )
    declarations = [(key, data) for key, data in ocfl.storage_root_files()]
    declarations.append((f"{root}/{ocfl.OBJECT_NAMASTE[0]}", ocfl.OBJECT_NAMASTE[1].encode()))
    for item in _small_items(scratch / "declarations", declarations):
        # one by one (exists and verifies, else put + read back), not as a batch: the storage root's
        # declarations are shared by every object, and a batch clears leftovers of interrupted writes of its
        # keys, which would be another ingest's write in progress when several store at once
        storage.store(*item)
    version_prefix = f"{root}/{inventory.head}/"
    wanted = {key for key, _source, _sha in content}
    wanted |= {f"{version_prefix}{ocfl.INVENTORY}", f"{version_prefix}{ocfl.SIDECAR}"}
    for key in [k for k in location.list(version_prefix) if k not in wanted]:
        location.delete(key)  # an earlier, interrupted attempt at this uncommitted version
    storage.store_many(content, retain_until, on_stored)
    raw = inventory.to_json()
    storage.store_many(
        _small_items(scratch / inventory.head, [
            (f"{version_prefix}{ocfl.INVENTORY}", raw),
            (f"{version_prefix}{ocfl.SIDECAR}", ocfl.sidecar(raw)),
        ]),
        retain_until,
    )
    return False


def publish_version(
    location: StorageLocation, aip_id: str, inventory: Inventory, scratch: Path, retain_until: datetime | None = None,
    settings: Settings | None = None,
) -> None:
    """The commit: the object's root ``inventory.json``, then its sidecar (each read back). Idempotent.

    Every version of every AIP is published here (ingest, migration, storage upgrade), so this is where
    the committed inventory is time-stamped when ``KHO_TSA_URL`` is set (``preservation.evidence``,
    decision 0024): after the commit, and never failing it. ``settings``: the caller's (else read afresh)."""
    root = ocfl.object_root(aip_id)
    raw = inventory.to_json()
    storage = ReplicatedStorage([location])
    inventory_item, sidecar_item = _small_items(scratch / f"publish-{inventory.head}", [
        (f"{root}/{ocfl.INVENTORY}", raw), (f"{root}/{ocfl.SIDECAR}", ocfl.sidecar(raw))])
    storage.store(*inventory_item, retain_until=retain_until)
    storage.store(*sidecar_item, retain_until=retain_until)
    from preservation import evidence  # here: the evidence record is read and written through this module

    evidence.after_publish(location, aip_id, inventory.head, raw, scratch, retain_until, settings)


def discard_staged(location: StorageLocation, aip_id: str, version: str) -> int:
    """Delete what a failed attempt staged of ``version`` at ``location`` (and the object's declaration
    when no version was ever committed there): a full disk gets its space back, and no half-written
    version is left for a validator to trip on. Never touches a committed version. Best effort: returns
    the number of keys deleted; a location that cannot be reached keeps its leftovers for the next attempt
    (which deletes what it does not rewrite)."""
    root = ocfl.object_root(aip_id)
    deleted = 0
    try:
        current = read_inventory(location, aip_id)
        if current is not None and current.head_number >= ocfl.version_number(version):
            return 0
        keys = list(location.list(f"{root}/{version}/"))
        if current is None:
            keys.append(f"{root}/{ocfl.OBJECT_NAMASTE[0]}")
        for key in keys:
            location.delete(key)
            deleted += 1
        remove_empty = getattr(location, "remove_empty", None)  # a file system: folders left by a cut write
        if remove_empty is not None:
            remove_empty(f"{root}/{version}/")
    except (StorageError, InventoryError, OSError):
        pass
    return deleted


def read_staged_inventory(location: StorageLocation, aip_id: str, version: str) -> Inventory | None:
    """A version's own inventory copy (``vN/inventory.json``) when it is complete (its sidecar
    matches), else None: what ``publish_version`` makes the head after a crash before the commit."""
    root = ocfl.object_root(aip_id)
    raw = read_small(location, f"{root}/{version}/{ocfl.INVENTORY}")
    side = read_small(location, f"{root}/{version}/{ocfl.SIDECAR}", 4096)
    if raw is None or side is None:
        return None
    if ocfl.sidecar_digest(side) != hashlib.sha512(raw).hexdigest():
        return None
    inventory = Inventory.from_json(raw)
    return inventory if inventory.head == version else None


def object_ids(location: StorageLocation, limit: int | None = None) -> Iterator[str]:
    """AIP ids of the OCFL objects a location holds (from their keys), each once, at most ``limit`` keys
    looked at."""
    seen: set[str] = set()
    for number, key in enumerate(location.list("")):
        if limit is not None and number >= limit:
            return
        found = aip_id_of_key(key)
        if found and found not in seen:
            seen.add(found)
            yield found


def aip_id_of_key(key: str) -> str | None:
    """The AIP id of the OCFL object a storage key belongs to, else None."""
    match = _OBJECT_KEY.match(key)
    return match.group(1) if match else None

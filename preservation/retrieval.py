"""Reading a stored object back for use (a DIP, a migration, a hand-over): only bytes whose SHA-256 is
the catalog's ever leave storage, whichever location they come from.

One place for it, so that DIPs, migration campaigns and transfers (which each had a private copy of
this loop) all read the same way: every location holding a copy, in the catalog's order, through
``ReplicatedStorage.get_verified`` (hashed while copied, renamed into place only when right; cut or
failing reads retried), and the locations whose copy was bad named for an audit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from preservation.catalog import Catalog, File
from preservation.ocfl_store import object_key
from storage_adapters.base import StorageError, StorageLocation
from storage_adapters.registry import open_location
from storage_adapters.replicated import BadCopy, ReplicatedStorage, UnverifiedError


class RetrievalError(StorageError):
    """No location holds a copy of the object that verifies; ``bad`` says what each one did."""

    def __init__(self, message: str, bad: list[BadCopy]) -> None:
        super().__init__(message)
        self.bad = bad


@dataclass
class Retrieved:
    source: str  # the location the verified bytes came from
    bad: list[BadCopy] = field(default_factory=list)  # locations to audit and repair

    @property
    def bad_locations(self) -> list[str]:
        return [b.location for b in self.bad]


def fetch_object(catalog: Catalog, aip_id: str, item: File, target: Path) -> Retrieved:
    """Copy one stored object of ``aip_id`` into ``target``, verified against the catalog's SHA-256."""
    bad: list[BadCopy] = []
    locations: list[StorageLocation] = []
    for copy in catalog.copies(aip_id):
        if getattr(copy, "status", "") == "deleted":
            continue
        try:
            locations.append(open_location(copy.location))
        except StorageError as exc:
            bad.append(BadCopy(copy.location, "unreachable", str(exc)))
    try:
        read = ReplicatedStorage(locations).get_verified(object_key(aip_id, item), item.sha256, target)
    except UnverifiedError as exc:
        every = bad + exc.bad
        raise RetrievalError(
            f"no stored copy of {item.path} matches its SHA-256 / không có bản sao hợp lệ "
            f"({'; '.join(str(b) for b in every) or 'no location'})",
            every,
        ) from exc
    return Retrieved(read.source, bad + read.bad)

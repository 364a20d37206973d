"""N storage locations behaving as one: an object counts as stored only when every location holds a
copy that read back with the expected SHA-256.

Kho's AIP copies are independent (TT 05/2025 asks for at least two backup sets on independent media);
this class fans writes out to all of them and reads from the first location whose copy is good.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from storage_adapters.base import BatchStorageLocation, StorageError, StorageLocation, StoreItem
from storage_adapters.registry import open_location


class ReplicatedStorage:
    def __init__(self, locations: Sequence[StorageLocation]) -> None:
        if not locations:
            raise StorageError("at least one storage location is needed")
        self.locations = list(locations)
        self.url = ",".join(location.url for location in self.locations)

    @classmethod
    def from_urls(cls, urls: Sequence[str]) -> ReplicatedStorage:
        return cls([open_location(url) for url in urls])

    def store(self, key: str, source: Path, sha256: str, retain_until: datetime | None = None) -> None:
        """Put ``source`` everywhere it is not already verified, and verify every copy by reading it back.

        Idempotent: a resumed store re-reads the copies already there instead of rewriting them.
        ``retain_until`` goes to locations that lock objects (S3 Object Lock)."""
        for location in self.locations:
            _store_one(location, key, source, sha256, retain_until)

    def store_many(
        self,
        items: Sequence[StoreItem],
        retain_until: datetime | None = None,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        """``store`` for many (key, source, sha256) items, with the same guarantees, but letting a
        location that can batch (one file-system flush, parallel uploads) do so.

        ``on_stored(n)`` reports that the first n items are stored and verified at every location:
        item by item for locations without ``store_many``, else as the last batching location
        reports them (a local location: all at once, after its batch is durable)."""
        batching = [location for location in self.locations if isinstance(location, BatchStorageLocation)]
        one_by_one = [location for location in self.locations if not isinstance(location, BatchStorageLocation)]
        for number, batch in enumerate(batching, start=1):
            last = number == len(batching) and not one_by_one
            batch.store_many(items, retain_until, on_stored if last else None)
        if not one_by_one:
            return
        for number, (key, source, sha256) in enumerate(items, start=1):
            for location in one_by_one:
                _store_one(location, key, source, sha256, retain_until)
            if on_stored is not None:
                on_stored(number)

    # -- the storage protocol ------------------------------------------------------------------------

    def put(self, key: str, source: Path) -> None:
        for location in self.locations:
            location.put(key, source)

    def get(self, key: str, destination: Path) -> None:
        errors = []
        for location in self.locations:
            try:
                location.get(key, destination)
                return
            except StorageError as exc:
                errors.append(str(exc))
        raise StorageError("; ".join(errors))

    def open(self, key: str) -> BinaryIO:
        errors = []
        for location in self.locations:
            try:
                return location.open(key)
            except StorageError as exc:
                errors.append(str(exc))
        raise StorageError("; ".join(errors))

    def exists(self, key: str) -> bool:
        """True only when every location has the object."""
        return all(location.exists(key) for location in self.locations)

    def list(self, prefix: str = "") -> Iterator[str]:
        seen: set[str] = set()
        for location in self.locations:
            for key in location.list(prefix):
                if key not in seen:
                    seen.add(key)
                    yield key

    def delete(self, key: str) -> None:
        for location in self.locations:
            location.delete(key)

    def verify(self, key: str, sha256: str) -> bool:
        return all(location.verify(key, sha256) for location in self.locations)


def _store_one(location: StorageLocation, key: str, source: Path, sha256: str, retain_until: datetime | None) -> None:
    """Put one object unless a copy that verifies is already there, then read it back."""
    if location.exists(key) and location.verify(key, sha256):
        return
    if retain_until is not None and getattr(location, "object_lock", None):
        location.put(key, source, retain_until=retain_until)  # type: ignore[call-arg]
    else:
        location.put(key, source)
    if not location.verify(key, sha256):
        raise StorageError(f"{location.url}: {key} read back with a different SHA-256")

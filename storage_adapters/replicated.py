"""N storage locations behaving as one: an object counts as stored only when every location holds a
copy that read back with the expected SHA-256.

Kho's AIP copies are independent (TT 05/2025 asks for at least two backup sets on independent media);
this class fans writes out to all of them and reads from the first location whose copy is good.
"""

from __future__ import annotations

import contextlib
import hashlib  # not packages.checksums: storage_adapters imports nothing of ours (DESIGN.md, import-linter)
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from storage_adapters.base import (
    BatchStorageLocation,
    StorageError,
    StorageLocation,
    StoreItem,
    failure_kind,
)
from storage_adapters.registry import open_location

CHUNK = 1024 * 1024
READ_ATTEMPTS = 2  # reads of one location before the next is tried, when a read failed part-way
RETRY_PAUSE = 0.2  # seconds before reading the same location again


@dataclass(frozen=True)
class BadCopy:
    """A location whose copy of an object could not be used, and why."""

    location: str
    problem: str  # "missing" | "mismatch" (read whole, wrong SHA-256) | "unreachable" | "error"
    detail: str

    def __str__(self) -> str:
        return f"{self.location}: {self.problem}: {self.detail}" if self.detail else f"{self.location}: {self.problem}"


@dataclass
class VerifiedRead:
    """The outcome of ``ReplicatedStorage.get_verified``: where the verified bytes came from, how many
    there were, and every location tried before whose copy was missing, wrong or unreadable (to be
    audited and repaired by the caller: ``kho fixity --aip``)."""

    key: str
    source: str
    size: int
    bad: list[BadCopy] = field(default_factory=list)


class UnverifiedError(StorageError):
    """No location returned the object with the expected SHA-256; ``bad`` says what each one did."""

    def __init__(self, key: str, sha256: str, bad: list[BadCopy]) -> None:
        self.key = key
        self.sha256 = sha256
        self.bad = bad
        tried = "; ".join(str(b) for b in bad) or "no location"
        super().__init__(f"no location holds {key} with sha256:{sha256} ({tried})")


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

    def get_verified(
        self, key: str, sha256: str, destination: Path, *, attempts: int = READ_ATTEMPTS
    ) -> VerifiedRead:
        """Copy the object to ``destination`` from the first location, in order, whose bytes hash to
        ``sha256``; the bytes are hashed while they are copied and only a copy that matched is
        renamed into place, so ``destination`` never holds unverified content.

        A location whose read fails part-way (connection cut, HTTP 5xx after botocore's own retries,
        timeout) is read again up to ``attempts`` times; a missing object, a wrong SHA-256 or an
        unreachable location moves on to the next at once. Every location that failed is named in
        ``VerifiedRead.bad``. Raises ``UnverifiedError`` (a StorageError) when none matched."""
        destination = Path(destination)
        expected = sha256.lower()
        bad: list[BadCopy] = []
        for location in self.locations:
            problem = _read_verified(location, key, expected, destination, attempts)
            if isinstance(problem, int):
                return VerifiedRead(key=key, source=location.url, size=problem, bad=bad)
            bad.append(problem)
        raise UnverifiedError(key, expected, bad)

    def get(self, key: str, destination: Path, sha256: str | None = None) -> None:
        """Copy the object from the first location that can serve it. With ``sha256``, only bytes
        that hash to it are accepted (``get_verified``); without, the first readable copy is taken
        as it is, unchecked."""
        if sha256 is not None:
            self.get_verified(key, sha256, destination)
            return
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


def _read_verified(
    location: StorageLocation, key: str, expected: str, destination: Path, attempts: int
) -> int | BadCopy:
    """Stream one location's object into a scratch file beside ``destination`` while hashing it;
    rename it into place and return its size when the SHA-256 matches, else say what went wrong."""
    problem: BadCopy | None = None
    for attempt in range(max(1, attempts)):
        if attempt:
            time.sleep(RETRY_PAUSE * attempt)
        scratch = destination.with_name(f".kho-read-{uuid.uuid4().hex}.partial")
        digest = hashlib.sha256()
        size = 0
        problem = None
        try:
            with open(scratch, "wb") as out:  # an OSError writing here is the destination's: raised
                try:
                    with location.open(key) as source:
                        while chunk := _read_chunk(source, location.url, key):
                            digest.update(chunk)
                            size += len(chunk)
                            out.write(chunk)
                except StorageError as exc:
                    problem = BadCopy(location.url, failure_kind(exc), str(exc))
            if problem is None:
                found = digest.hexdigest()
                if found != expected:
                    problem = BadCopy(location.url, "mismatch", f"read {size} bytes, found sha256:{found}")
                else:
                    os.replace(scratch, destination)
                    return size
        finally:
            with contextlib.suppress(OSError):
                scratch.unlink(missing_ok=True)
        if problem.problem != "error":
            return problem  # missing, wrong or unreachable: reading it again will not help
    assert problem is not None
    return problem


def _read_chunk(source: BinaryIO, where: str, key: str) -> bytes:
    """One chunk of the location's stream; a failing read of the location (a local disk's EIO as
    much as a cut S3 response) is the location's StorageError, not the caller's OSError."""
    try:
        return source.read(CHUNK)
    except StorageError:
        raise
    except OSError as exc:
        raise StorageError(f"{where}: cannot read {key}: {exc}") from exc

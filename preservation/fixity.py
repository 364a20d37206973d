"""Fixity audit: re-read every stored copy, compare with the catalog, repair from a good copy.

Each copy of each AIP gets a PREMIS ``fixity check`` event (success or failure, with the digest
found); a repaired copy gets its own ``replication`` event. Copies are audited oldest-check
first, so a run limited to a share of the archive resumes where the previous one stopped.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from packages.checksums import hash_many
from preservation import agents, premis
from preservation.catalog import Catalog, File, StorageCopy
from storage_adapters.base import StorageError, StorageLocation
from storage_adapters.local import LocalStorage
from storage_adapters.registry import open_location

CHUNK = 1024 * 1024
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # sorts never-audited copies first


@dataclass
class FileCheck:
    path: str
    expected: str
    found: str | None  # None: missing or unreadable
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.found == self.expected


@dataclass
class CopyResult:
    aip_id: str
    location: str
    files: int = 0
    bytes: int = 0
    bad: list[FileCheck] = field(default_factory=list)
    repaired: bool = False
    repair_error: str = ""

    @property
    def ok(self) -> bool:
        return not self.bad

    def to_dict(self) -> dict[str, Any]:
        return {"aip_id": self.aip_id, "location": self.location, "files": self.files, "bytes": self.bytes,
                "ok": self.ok, "repaired": self.repaired, "repair_error": self.repair_error or None,
                "bad": [{"path": b.path, "expected": b.expected, "found": b.found, "error": b.error}
                        for b in self.bad]}


@dataclass
class AuditSummary:
    copies: list[CopyResult] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return len(self.copies)

    @property
    def failed(self) -> int:
        return sum(1 for c in self.copies if not c.ok)

    @property
    def repaired(self) -> int:
        return sum(1 for c in self.copies if c.repaired)

    @property
    def unrepaired(self) -> int:
        return sum(1 for c in self.copies if not c.ok and not c.repaired)

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.copies)

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "failed": self.failed, "repaired": self.repaired,
                "unrepaired": self.unrepaired, "bytes": self.bytes,
                "aips": len({c.aip_id for c in self.copies}), "copies": [c.to_dict() for c in self.copies]}

    def table(self) -> str:
        lines = [f"{'AIP':36}  {'location':40}  {'files':>6}  {'bytes':>12}  result"]
        for c in self.copies:
            result = "ok" if c.ok else ("REPAIRED" if c.repaired else "DAMAGED")
            lines.append(f"{c.aip_id:36}  {c.location[:40]:40}  {c.files:>6}  {c.bytes:>12}  {result}")
            for bad in c.bad:
                lines.append(f"    {bad.path}: expected {bad.expected[:16]}…, found "
                             f"{(bad.found or 'nothing')[:16]} {bad.error}".rstrip())
        lines.append(f"checked {self.checked} copies of {len({c.aip_id for c in self.copies})} AIPs, "
                     f"{self.bytes} bytes read; {self.failed} damaged, {self.repaired} repaired")
        return "\n".join(lines)


def read_digest(location: StorageLocation, key: str) -> tuple[str, int]:
    """Stream the object once: SHA-256 hex and byte count."""
    digest = hashlib.sha256()
    size = 0
    with location.open(key) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_copy(location: StorageLocation, aip_id: str, files: list[File]) -> CopyResult:
    if isinstance(location, LocalStorage):
        return _check_local_copy(location, aip_id, files)
    result = CopyResult(aip_id=aip_id, location=location.url)
    for item in files:
        key = f"{aip_id}/{item.path}"
        result.files += 1
        try:
            if not location.exists(key):
                result.bad.append(FileCheck(item.path, item.sha256, None, "missing"))
                continue
            found, size = read_digest(location, key)
        except StorageError as exc:
            result.bad.append(FileCheck(item.path, item.sha256, None, str(exc)))
            continue
        result.bytes += size
        if found != item.sha256:
            result.bad.append(FileCheck(item.path, item.sha256, found, "checksum mismatch"))
    return result


def _check_local_copy(location: LocalStorage, aip_id: str, files: list[File]) -> CopyResult:
    """``check_copy`` for a file-system location: every object hashed through ``hash_many``, on all
    cores (an audit of many small objects is bound by per-file work, not by the digest)."""
    result = CopyResult(aip_id=aip_id, location=location.url, files=len(files))
    present: list[tuple[File, Path, int]] = []
    for item in files:
        try:
            path = location.path_of(f"{aip_id}/{item.path}")
            found = path.stat()
        except (StorageError, OSError) as exc:
            missing = isinstance(exc, FileNotFoundError)
            result.bad.append(FileCheck(item.path, item.sha256, None, "missing" if missing else str(exc)))
            continue
        present.append((item, path, found.st_size))
    for (item, _path, size), digests in zip(
        present, hash_many([path for _item, path, _size in present], ["sha256"]), strict=True
    ):
        if isinstance(digests, str):
            result.bad.append(FileCheck(item.path, item.sha256, None, f"{location.url}: {digests}"))
            continue
        result.bytes += size
        if digests["sha256"] != item.sha256:
            result.bad.append(FileCheck(item.path, item.sha256, digests["sha256"], "checksum mismatch"))
    return result


def repair_copy(bad: CopyResult, target: StorageLocation, sources: list[StorageLocation]) -> str | None:
    """Replace every bad object from the first source whose object verifies; returns the source URL."""
    used: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="kho-repair-") as scratch:
        for check in bad.bad:
            key = f"{bad.aip_id}/{check.path}"
            fixed = False
            for source in sources:
                temp = Path(scratch) / "object"
                try:
                    source.get(key, temp)
                except StorageError:
                    continue
                if _file_sha256(temp) != check.expected:
                    continue
                target.put(key, temp)
                if target.verify(key, check.expected):
                    fixed = True
                    used.add(source.url)
                    break
            if not fixed:
                raise StorageError(f"no verified copy of {key} to repair {target.url} from")
    return ", ".join(sorted(used)) or None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def select_copies(catalog: Catalog, *, aip_id: str | None, location: str | None, max_aips: int | None,
                  older_than: timedelta | None) -> list[str]:
    """AIP ids to audit, least recently checked first (never-checked first of all)."""
    with catalog.session(readonly=True) as session:
        oldest = func.min(func.coalesce(StorageCopy.last_checked_at, NEVER))
        query = select(StorageCopy.aip_id).where(StorageCopy.status != "deleted").group_by(StorageCopy.aip_id)
        if aip_id:
            query = query.where(StorageCopy.aip_id == aip_id)
        if location:
            query = query.where(StorageCopy.location == location)
        if older_than is not None:
            cutoff = datetime.now(UTC) - older_than
            query = query.where((StorageCopy.last_checked_at.is_(None)) | (StorageCopy.last_checked_at < cutoff))
        query = query.order_by(oldest, StorageCopy.aip_id)
        if max_aips:
            query = query.limit(max_aips)
        return list(session.scalars(query))


def audit(catalog: Catalog, *, aip_id: str | None = None, location: str | None = None,
          max_aips: int | None = None, older_than: timedelta | None = None, repair: bool = True) -> AuditSummary:
    summary = AuditSummary()
    kho = agents.kho()
    for current in select_copies(catalog, aip_id=aip_id, location=location, max_aips=max_aips,
                                 older_than=older_than):
        files = catalog.files(current)
        copies = catalog.copies(current)
        opened: dict[str, StorageLocation] = {}
        results: list[CopyResult] = []
        for copy in copies:
            try:
                opened[copy.location] = open_location(copy.location)
            except StorageError as exc:
                results.append(CopyResult(current, copy.location, bad=[FileCheck("*", "", None, str(exc))]))
                continue
            if location and copy.location != location:
                continue
            results.append(check_copy(opened[copy.location], current, files))
        good = [opened[r.location] for r in results if r.ok and r.location in opened]
        good += [loc for url, loc in opened.items() if url not in {r.location for r in results}]
        events: list[dict[str, Any]] = []
        for result in results:
            events.append(premis.new_event(
                "fixity check", "success" if result.ok else "failure", aip_id=current, object_ids=[current],
                agents=[agents.link(kho, "executing program")],
                detail=f"audit of the copy at {result.location}: {result.files} objects re-read, SHA-256 compared",
                outcome_detail=f"{result.files} objects, {result.bytes} bytes match" if result.ok else "; ".join(
                    f"{b.path}: expected sha256:{b.expected}, found {('sha256:' + b.found) if b.found else b.error}"
                    for b in result.bad)))
            if not result.ok and repair and result.location in opened:
                sources = [g for g in good if g.url != result.location]
                try:
                    used = repair_copy(result, opened[result.location], sources) if sources else None
                    if used is None:
                        raise StorageError("no other verified copy exists")
                    result.repaired = True
                    events.append(premis.new_event(
                        "replication", "success", aip_id=current, object_ids=[current],
                        agents=[agents.link(kho, "executing program")],
                        detail=f"repair of the copy at {result.location} from {used}",
                        outcome_detail=f"{len(result.bad)} objects replaced and verified"))
                except StorageError as exc:
                    result.repair_error = str(exc)
                    events.append(premis.new_event(
                        "replication", "failure", aip_id=current, object_ids=[current],
                        agents=[agents.link(kho, "executing program")],
                        detail=f"repair of the copy at {result.location}", outcome_detail=str(exc)))
        now = datetime.now(UTC)
        with catalog.session() as session:
            for result in results:
                row = session.scalar(select(StorageCopy).where(StorageCopy.aip_id == current,
                                                               StorageCopy.location == result.location))
                if row is not None:
                    row.last_checked_at = now
                    row.last_check_outcome = "ok" if result.ok else ("repaired" if result.repaired else "damaged")
                    row.status = "verified" if result.ok or result.repaired else "damaged"
                    if result.ok or result.repaired:
                        row.verified_at = now
            catalog.append_events(session, events)
        summary.copies.extend(results)
    return summary


def scheduled_share(catalog: Catalog, cycle_days: int) -> int:
    """How many AIPs one daily run must audit so that every AIP is checked once per cycle."""
    with catalog.session(readonly=True) as session:
        total = session.scalar(select(func.count(func.distinct(StorageCopy.aip_id)))) or 0
    return max(1, math.ceil(total / max(1, cycle_days)))

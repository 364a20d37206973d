"""Fixity audit: re-read every stored copy, compare with the catalog, repair from a good copy.

Each copy of each AIP gets a PREMIS ``fixity check`` event (success or failure, with the digest
found); a repaired copy gets its own ``replication`` event. Copies are audited oldest-check
first, so a run limited to a share of the archive resumes where the previous one stopped.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from packages import agents, ocfl, premis
from packages.checksums import hash_bytes, hash_many, hash_stream
from preservation import logs, progress, versions
from preservation.catalog import Aip, Catalog, File, StorageCopy
from preservation.faults import checkpoint
from preservation.ocfl_store import object_key
from storage_adapters.base import StorageError, StorageLocation, failure_kind
from storage_adapters.local import LocalStorage
from storage_adapters.registry import open_location
from storage_adapters.replicated import ReplicatedStorage, UnverifiedError, VerifiedRead

READ_ATTEMPTS = 3  # reads of one object at one location before it is reported unreadable
RETRY_PAUSE = 0.2  # seconds, times the attempt number
NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # sorts never-audited copies first

log = logging.getLogger("kho.fixity")


@dataclass
class FileCheck:
    path: str
    expected: str
    found: str | None  # None: missing or unreadable
    error: str = ""
    repaired_from: str | None = None  # the location the verified replacement came from
    repair_error: str = ""

    @property
    def ok(self) -> bool:
        return self.found == self.expected

    @property
    def problem(self) -> str:
        """``missing``, ``damaged`` (read whole, wrong SHA-256) or ``unreadable`` (the read failed)."""
        if self.error == "missing":
            return "missing"
        return "damaged" if self.found is not None else "unreadable"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "expected": self.expected, "found": self.found, "error": self.error,
                "problem": self.problem, "repaired": self.repaired_from is not None,
                "repaired_from": self.repaired_from, "repair_error": self.repair_error or None}


@dataclass
class CopyResult:
    aip_id: str
    location: str
    files: int = 0
    bytes: int = 0
    bad: list[FileCheck] = field(default_factory=list)
    unreachable: str = ""  # why the location could not be reached (the copy was not, or not fully, checked)

    @property
    def ok(self) -> bool:
        return not self.bad and not self.unreachable

    @property
    def repaired(self) -> bool:
        """Every bad object was replaced by a verified copy (and the location was reachable throughout)."""
        return bool(self.bad) and not self.unreachable and all(b.repaired_from for b in self.bad)

    @property
    def repair_error(self) -> str:
        return "; ".join(f"{b.path}: {b.repair_error}" for b in self.bad if b.repair_error)

    @property
    def status(self) -> str:
        """``ok``, ``repaired``, ``damaged`` (something still bad) or ``unreachable`` (not checked)."""
        if self.ok:
            return "ok"
        if self.repaired:
            return "repaired"
        return "damaged" if any(not b.repaired_from for b in self.bad) else "unreachable"

    def to_dict(self) -> dict[str, Any]:
        return {"aip_id": self.aip_id, "location": self.location, "files": self.files, "bytes": self.bytes,
                "ok": self.ok, "status": self.status, "repaired": self.repaired,
                "repair_error": self.repair_error or None, "unreachable": self.unreachable or None,
                "bad": [b.to_dict() for b in self.bad]}


@dataclass
class AuditSummary:
    copies: list[CopyResult] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return len(self.copies)

    @property
    def failed(self) -> int:
        """Copies found damaged: an object missing, wrong or unreadable."""
        return sum(1 for c in self.copies if c.bad)

    @property
    def repaired(self) -> int:
        return sum(1 for c in self.copies if c.repaired)

    @property
    def unreachable(self) -> int:
        return sum(1 for c in self.copies if c.unreachable)

    @property
    def unrepaired(self) -> int:
        """Copies not known good after the run: damage left unrepaired, or the location unreachable."""
        return sum(1 for c in self.copies if not c.ok and not c.repaired)

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.copies)

    def to_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "failed": self.failed, "repaired": self.repaired,
                "unrepaired": self.unrepaired, "unreachable": self.unreachable, "bytes": self.bytes,
                "aips": len({c.aip_id for c in self.copies}), "copies": [c.to_dict() for c in self.copies]}

    def table(self) -> str:
        lines = [f"{'AIP':36}  {'location':40}  {'files':>6}  {'bytes':>12}  result"]
        for c in self.copies:
            result = c.status if c.ok else c.status.upper()
            lines.append(f"{c.aip_id:36}  {c.location[:40]:40}  {c.files:>6}  {c.bytes:>12}  {result}")
            if c.unreachable:
                lines.append(f"    location unreachable: {c.unreachable}")
            for bad in c.bad:
                found = f"found {bad.found[:16]}…" if bad.found else bad.error
                outcome = (f"repaired from {bad.repaired_from}" if bad.repaired_from
                           else f"NOT REPAIRED: {bad.repair_error}" if bad.repair_error else "not repaired")
                lines.append(f"    {bad.path}: {bad.problem}, expected {bad.expected[:16]}…, {found}; {outcome}")
        lines.append(f"checked {self.checked} copies of {len({c.aip_id for c in self.copies})} AIPs, "
                     f"{self.bytes} bytes read; {self.failed} damaged, {self.repaired} repaired, "
                     f"{self.unreachable} unreachable, {self.unrepaired} not good")
        return "\n".join(lines)


class LocationUnreachable(StorageError):
    """No connection could be made to the location: its copies are reported unreachable, not damaged."""


def read_digest(location: StorageLocation, key: str) -> tuple[str, int]:
    """Stream the object once: SHA-256 hex and byte count."""
    with location.open(key) as handle:
        digests, size = hash_stream(handle, ["sha256"])
    return digests["sha256"], size


def _checked_digest(
    location: StorageLocation, key: str, expected: str, path: str
) -> FileCheck | tuple[str, int]:
    """``read_digest`` of the object ``key`` (the AIP's file ``path``) with the failures sorted out: a
    read cut off part-way (or an HTTP 5xx that outlived botocore's retries) is tried again; a missing
    object is ``missing``; a location that cannot be reached raises LocationUnreachable. Never a
    digest of a partial read."""
    error = ""
    for attempt in range(READ_ATTEMPTS):
        if attempt:
            time.sleep(RETRY_PAUSE * attempt)
        try:
            if not location.exists(key):
                return FileCheck(path, expected, None, "missing")
            return read_digest(location, key)
        except StorageError as exc:
            kind = failure_kind(exc)
            if kind == "unreachable":
                raise LocationUnreachable(str(exc)) from exc
            if kind == "missing":
                return FileCheck(path, expected, None, "missing")
            error = str(exc)
        except OSError as exc:  # a local read failing part-way
            error = f"{location.url}: cannot read {key}: {exc}"
    return FileCheck(path, expected, None, f"unreadable after {READ_ATTEMPTS} attempts: {error}")


def check_copy(location: StorageLocation, aip_id: str, files: list[File]) -> CopyResult:
    """Re-read every object of the AIP at ``location``. A location that cannot be reached yields a
    result with ``unreachable`` set (and the objects checked until then), never "damaged"."""
    if isinstance(location, LocalStorage):
        if not location.root.is_dir():
            return CopyResult(aip_id=aip_id, location=location.url, unreachable=(
                f"{location.root} is not there (an unmounted or lost volume?)"))
        return _check_local_copy(location, aip_id, files)
    result = CopyResult(aip_id=aip_id, location=location.url)
    for item in files:
        key = object_key(aip_id, item)
        try:
            checked = _checked_digest(location, key, item.sha256, item.path)
        except LocationUnreachable as exc:
            result.unreachable = f"{exc} (after {result.files} of {len(files)} objects)"
            break
        result.files += 1
        if isinstance(checked, FileCheck):
            result.bad.append(checked)
            continue
        found, size = checked
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
            path = location.path_of(object_key(aip_id, item))
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


def repair_object(key: str, expected: str, target: StorageLocation, sources: list[StorageLocation],
                  scratch: Path) -> VerifiedRead:
    """Replace one object at ``target`` from the first of ``sources`` whose copy hashes to
    ``expected`` (hashed while it is copied: unverified bytes never reach the target), then read the
    target's copy back. Returns where it came from; raises StorageError (UnverifiedError when no
    source had a verified copy)."""
    temp = scratch / "object"
    read = ReplicatedStorage(sources).get_verified(key, expected, temp)
    try:
        target.put(key, temp)
        if not target.verify(key, expected):
            raise StorageError(f"{target.url}: {key} read back with a different SHA-256 after the repair")
    finally:
        temp.unlink(missing_ok=True)
    return read


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
    """Check the copies of the selected AIPs, then repair object by object: each missing, damaged or
    unreadable object is replaced from any location holding a verified copy of that object, so two
    copies damaged in different objects both end up whole. A location that cannot be reached is
    reported unreachable (and not tried again during this run); its copies are neither called good
    nor damaged, nor used or written to."""
    if repair:  # a version an interrupted campaign committed to the catalog but did not publish everywhere
        versions.publish_pending(catalog, aip_id)
    summary = AuditSummary()
    opened: dict[str, StorageLocation] = {}
    unreachable: dict[str, str] = {}  # location URL -> why; remembered for the whole run
    selected = select_copies(catalog, aip_id=aip_id, location=location, max_aips=max_aips, older_than=older_than)
    log.info("fixity audit: %d AIPs to check%s%s", len(selected), f" at {location}" if location else "",
             "" if repair else " (no repair)")
    with progress.task(len(selected), "fixity audit") as bar:
        for current in selected:
            with logs.bind(aip_id=current):
                copies = _audit_aip(catalog, current, location, repair, opened, unreachable)
                _log_aip(current, copies)
            summary.copies.extend(copies)
            bar.advance(note=current)
    # the CLI prints this summary as its result: marked so, it is not printed twice without -v
    log.log(logging.WARNING if summary.unrepaired else logging.INFO,
            "fixity audit done: %d copies of %d AIPs, %d bytes read; %d damaged, %d repaired, %d unreachable, "
            "%d not good", summary.checked, len(selected), summary.bytes, summary.failed, summary.repaired,
            summary.unreachable, summary.unrepaired, extra={"kho_result": True})
    return summary


def _log_aip(aip_id: str, copies: list[CopyResult]) -> None:
    """One line per AIP audited: each copy's result, a warning while any copy is not good."""
    results = ", ".join(f"{c.location} {c.status}" for c in copies)
    bad = [c for c in copies if not c.ok and not c.repaired]
    log.log(logging.WARNING if bad else logging.INFO, "AIP %s fixity audit: %d copies: %s%s", aip_id, len(copies),
            results, "".join(f"; {c.location}: {c.unreachable or _check_detail(c)}" for c in bad),
            extra={"kho_result": True})


def _open(url: str, opened: dict[str, StorageLocation], unreachable: dict[str, str]) -> StorageLocation | None:
    if url in unreachable:
        return None
    if url not in opened:
        try:
            opened[url] = open_location(url)
        except StorageError as exc:
            unreachable[url] = str(exc)
            return None
    return opened[url]


def _audit_aip(catalog: Catalog, current: str, only: str | None, repair: bool,
               opened: dict[str, StorageLocation], unreachable: dict[str, str]) -> list[CopyResult]:
    kho = agents.kho()
    files = catalog.files(current) + _inventory_files(catalog.get_aip(current))
    by_path = {f.path: f for f in files}
    urls = [c.location for c in catalog.copies(current) if c.status != "deleted"]
    results: list[CopyResult] = []
    for url in urls:
        if only and url != only:
            continue
        target = _open(url, opened, unreachable)
        if target is None:
            results.append(CopyResult(current, url, unreachable=unreachable[url]))
            continue
        result = check_copy(target, current, files)
        if result.unreachable:
            unreachable[url] = result.unreachable
        results.append(result)

    # Where each object is known good: checked this run, or (for copies outside --location) not
    # checked, so only usable after the verified read a repair does anyway.
    checked = {r.location for r in results}
    bad_at = {r.location: {b.path for b in r.bad} for r in results}
    good = {path: [r.location for r in results if not r.unreachable and path not in bad_at[r.location]]
            for path in by_path}
    unchecked = [url for url in urls if url not in checked]

    events: list[dict[str, Any]] = []
    for result in results:
        events.append(premis.new_event(
            "fixity check", _check_outcome(result), aip_id=current, object_ids=[current],
            agents=[agents.link(kho, "executing program")],
            detail=f"audit of the copy at {result.location}: {result.files} objects re-read, SHA-256 compared",
            outcome_detail=_check_detail(result)))
    if repair:
        with tempfile.TemporaryDirectory(prefix="kho-repair-") as scratch:
            for result in results:
                if result.unreachable:
                    for check in result.bad:
                        check.repair_error = "the location became unreachable"
                    continue
                target = opened[result.location]
                for check in result.bad:
                    events.append(_repair_one(current, by_path[check.path], check, target, good, unchecked,
                                              opened, unreachable, Path(scratch), kho))

    now = datetime.now(UTC)
    with catalog.session() as session:
        for result in results:
            row = session.scalar(select(StorageCopy).where(StorageCopy.aip_id == current,
                                                           StorageCopy.location == result.location))
            if row is None:
                continue
            row.last_check_outcome = result.status
            if result.status == "unreachable":
                continue  # not checked: stays first in line for the next run, its status unchanged
            row.last_checked_at = now
            row.status = "verified" if result.ok or result.repaired else "damaged"
            if result.ok or result.repaired:
                row.verified_at = now
        catalog.append_events(session, events)
    return results


def _inventory_files(aip: Aip | None) -> list[File]:
    """The OCFL object's root ``inventory.json`` and its sidecar, audited and repaired like the AIP's files:
    every location holds the same bytes, whose digests the catalog keeps. (Not catalog rows: built here.)"""
    if aip is None or not aip.ocfl_head or not aip.inventory_digests:
        return []
    digests = aip.inventory_digests
    sidecar = f"{digests[ocfl.DIGEST]} {ocfl.INVENTORY}\n".encode()
    return [
        File(id=aip.id, aip_id=aip.id, path=ocfl.INVENTORY, content_path=ocfl.INVENTORY, sha256=digests["sha256"],
             role="ocfl", size=0),
        File(id=aip.id, aip_id=aip.id, path=ocfl.SIDECAR, content_path=ocfl.SIDECAR,
             sha256=hash_bytes(sidecar, ["sha256"])["sha256"], role="ocfl", size=len(sidecar)),
    ]


def _repair_one(aip_id: str, item: File, check: FileCheck, target: StorageLocation,
                good: dict[str, list[str]], unchecked: list[str], opened: dict[str, StorageLocation],
                unreachable: dict[str, str], scratch: Path, kho: dict[str, str]) -> dict[str, Any]:
    """Replace one object at ``target`` from any other location whose copy of it verifies; the
    PREMIS ``replication`` event names the object, the source and the target."""
    key = object_key(aip_id, item)
    candidates = [url for url in [*good[check.path], *unchecked] if url != target.url]
    sources = [loc for url in candidates if (loc := _open(url, opened, unreachable)) is not None]
    try:
        if not sources:
            raise StorageError("no other location holds a verified copy of it")
        read = repair_object(key, check.expected, target, sources, scratch)
    except UnverifiedError as exc:
        check.repair_error = "no other location holds a verified copy of it (" + "; ".join(
            f"{b.location}: {b.problem}" for b in exc.bad) + ")"
        for bad in exc.bad:
            if bad.problem == "unreachable":
                unreachable.setdefault(bad.location, bad.detail)
    except StorageError as exc:
        check.repair_error = str(exc)
    else:
        checkpoint(f"fixity:after-repair:{check.path}")
        check.repaired_from = read.source
        good[check.path].append(target.url)
        return premis.new_event(
            "replication", "success", aip_id=aip_id, object_ids=[aip_id, item.id],
            agents=[agents.link(kho, "executing program")],
            detail=f"repair of {check.path} at {target.url} from {read.source}",
            outcome_detail=(f"{check.path}: {read.size} bytes copied from {read.source} to {target.url}, "
                            f"sha256:{check.expected} verified while copying and read back at {target.url}"
                            + "".join(f"; {b.location} not used: {b.problem}" for b in read.bad)))
    return premis.new_event(
        "replication", "failure", aip_id=aip_id, object_ids=[aip_id, item.id],
        agents=[agents.link(kho, "executing program")],
        detail=f"repair of {check.path} at {target.url}",
        outcome_detail=f"{check.path} ({check.problem}) not repaired: {check.repair_error}")


def _check_outcome(result: CopyResult) -> str:
    if result.bad:
        return "failure"
    return "not performed" if result.unreachable else "success"


def _check_detail(result: CopyResult) -> str:
    if result.ok:
        return f"{result.files} objects, {result.bytes} bytes match"
    parts = [f"{b.path}: expected sha256:{b.expected}, found "
             f"{('sha256:' + b.found) if b.found else b.error}" for b in result.bad]
    if result.unreachable:
        parts.append(f"location unreachable: {result.unreachable}")
    return "; ".join(parts)


def scheduled_share(catalog: Catalog, cycle_days: int) -> int:
    """How many AIPs one daily run must audit so that every AIP is checked once per cycle."""
    with catalog.session(readonly=True) as session:
        total = session.scalar(select(func.count(func.distinct(StorageCopy.aip_id)))) or 0
    return max(1, math.ceil(total / max(1, cycle_days)))

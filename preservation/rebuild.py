"""``kho catalog rebuild``: the catalog restored from the storage locations alone (decision 0018).

Why: the AIPs in storage are the authoritative copy and the catalog is their index (DESIGN, "Data and
state"); an index that is lost must be rebuildable from what it indexes, not only from a backup that may
be a day old. The rebuild reads every location in ``KHO_STORAGE``:

- the storage journal (``preservation.journal``): every event row with its chain values, the agents they
  link, and the last snapshot of each AIP's row, copies and file rows, disposed AIPs included;
- each OCFL object's committed head inventory (checked against its sidecar), which is the authority on
  what the AIP holds: the journal's file rows are checked against it, and each copy's ``ocfl_head`` is
  what its location committed;
- where the journal never received an AIP's latest state (a process killed between its catalog commit
  and its journal flush, and the catalog lost before any later command), the head version's METS and
  PREMIS: the AIP and its files are described from them, flagged for review, and the PREMIS events the
  journal lacks are appended after the journaled chain (their chain values computed afresh).

It only fills an empty catalog: it never merges into, or writes over, a catalog that holds anything.
Everything is inserted in one transaction, then the chain is verified and the new events journaled.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DatabaseError, OperationalError

from packages import access, aip_reader, ocfl, premis
from packages import aip as aip_layout
from packages.ocfl import Inventory, InventoryError
from packages.sip import MANIFEST_NAME, PayloadFile, payload_hash
from preservation import journal, ocfl_store
from preservation.catalog import (
    EVENTS_TABLE,
    GENESIS_HASH,
    Agent,
    Aip,
    Catalog,
    ChainHead,
    Event,
    File,
    JournalMark,
    StorageCopy,
    as_utc,
    event_hash,
)
from preservation.catalog_guard import AIP_ID
from preservation.config import Settings
from preservation.pipeline.steps.index import MAX_CATALOG_VALUE, MAX_TITLE  # as the ingest keeps them
from preservation.service import Service
from storage_adapters.base import StorageError, StorageLocation, redact_url
from storage_adapters.registry import open_location
from storage_adapters.replicated import ReplicatedStorage

ROLE_OF_REPRESENTATION = {"rep-02": "preservation", "rep-03": "access"}  # preservation.normalise

# what the catalog keeps of a journaled file row when its AIP is described from METS/PREMIS instead:
# everything but where the bytes are and what they hash to, which the inventory says
_FROM_INVENTORY = ("content_path", "sha256", "sha512", "size")
_PG_SEQUENCES = (
    "SELECT setval(pg_get_serial_sequence('events', 'seq'), coalesce((SELECT max(seq) FROM events), 0) + 1, false)",
    "SELECT setval(pg_get_serial_sequence('agents', 'id'), coalesce((SELECT max(id) FROM agents), 0) + 1, false)",
)
REVIEW_NOTE = ("catalog rebuilt from the AIP's METS/PREMIS, not from its journal: check access rules, "
               "review reasons and dates / danh mục dựng lại từ METS/PREMIS, cần kiểm tra lại")


class RebuildRefused(RuntimeError):
    """The rebuild cannot start (the catalog is not empty, or unreadable); the message says what to do."""


@dataclass
class RebuildReport:
    """What was restored, from where, and everything that could not be restored as it was."""

    locations: list[str]
    aips: int = 0
    disposed: int = 0
    files: int = 0
    copies: int = 0
    events: int = 0  # restored from the journal, with their chain values
    recovered_events: int = 0  # from a version's PREMIS, never journaled: appended, chain values recomputed
    agents: int = 0
    journal_files: int = 0
    from_metadata: dict[str, str] = field(default_factory=dict)  # AIP -> why METS/PREMIS described it
    left_to_resume: list[str] = field(default_factory=list)  # ingests in progress: `kho resume` indexes them
    problems: list[str] = field(default_factory=list)
    chain: str | None = None  # what ``verify_chain`` found wrong after the rebuild, if anything

    @property
    def exact(self) -> bool:
        """Everything restored as the journal recorded it, nothing missing, the chain intact."""
        return not self.problems and not self.from_metadata and self.chain is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "exact": self.exact, "locations": [redact_url(u) for u in self.locations], "aips": self.aips,
            "disposed": self.disposed, "files": self.files, "copies": self.copies, "events": self.events,
            "recovered_events": self.recovered_events, "agents": self.agents, "journal_files": self.journal_files,
            "from_metadata": self.from_metadata, "left_to_resume": self.left_to_resume,
            "problems": self.problems, "chain": self.chain,
        }

    def lines(self) -> list[str]:
        out = [
            f"catalog rebuilt from {len(self.locations)} location(s) / đã dựng lại danh mục: {self.aips} AIPs "
            f"({self.disposed} disposed of), {self.files} files, {self.copies} copies, {self.events} events from "
            f"{self.journal_files} journal files, {self.agents} agents",
        ]
        if self.recovered_events:
            out.append(f"{self.recovered_events} events were never journaled and were read from the AIPs' PREMIS: "
                       "appended after the journaled chain, their chain values computed afresh / sự kiện lấy từ PREMIS")
        for aip_id, why in sorted(self.from_metadata.items()):
            out.append(f"AIP {aip_id}: described from its METS/PREMIS ({why}); events recorded after that version "
                       "was written and never journaled (its ingestion end, later audits, DIPs) are not restored; "
                       "flagged for review / mô tả lại từ METS/PREMIS, cần xem xét")
        for aip_id in self.left_to_resume:
            out.append(f"AIP {aip_id}: an ingest in progress: `kho resume` finishes and catalogues it")
        out += [f"NOT RESTORED / chưa khôi phục: {p}" for p in self.problems]
        out.append(f"event chain broken / chuỗi sự kiện bị phá vỡ: {self.chain}" if self.chain else
                   "event chain intact / chuỗi sự kiện nguyên vẹn")
        return out


# -- opening: only an empty catalog -------------------------------------------------------------------


def _describe(url: str) -> str:
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else redact_url(url)


def open_empty_catalog(settings: Settings) -> Catalog:
    """The catalog to rebuild into: it must open and hold no AIP, no event and no agent."""
    where = _describe(settings.database_url)
    try:
        catalog = Catalog(settings.database_url)
    except (DatabaseError, OperationalError) as exc:
        reason = str(exc.orig) if getattr(exc, "orig", None) else str(exc).splitlines()[0]
        raise RebuildRefused(
            f"the catalog {where} cannot be read ({reason}); the rebuild never writes over it: move it aside (with "
            "its -wal and -shm files) or point KHO_DATABASE_URL at a new, empty database, then run "
            "`kho catalog rebuild` again / không đọc được danh mục: hãy chuyển tệp sang chỗ khác rồi chạy lại"
        ) from None
    with catalog.session(readonly=True) as session:
        counts = [int(session.scalar(select(func.count()).select_from(t)) or 0) for t in (Aip, Event, Agent)]
    if any(counts):
        catalog.close()
        raise RebuildRefused(
            f"the catalog {where} is not empty ({counts[0]} AIPs, {counts[1]} events, {counts[2]} agents): "
            "a rebuild only fills an empty catalog, it never merges into or writes over one. Move it aside or "
            "point KHO_DATABASE_URL at a new, empty database, then run `kho catalog rebuild` again / danh mục "
            "không trống: hãy chuyển sang chỗ khác hoặc dùng cơ sở dữ liệu mới rồi chạy lại"
        )
    return catalog


# -- reading storage ----------------------------------------------------------------------------------


@dataclass
class _Storage:
    """What the locations hold, from one listing of each."""

    opened: dict[str, StorageLocation] = field(default_factory=dict)
    objects: dict[str, list[str]] = field(default_factory=dict)  # aip id -> urls with keys of its object
    old_layout: dict[str, list[str]] = field(default_factory=dict)  # aip id -> urls (layout before OCFL)
    journal_keys: dict[str, list[str]] = field(default_factory=dict)  # journal file key -> urls

    def locations(self, urls: Iterable[str]) -> list[StorageLocation]:
        return [self.opened[u] for u in urls if u in self.opened]


def _scan(settings: Settings, report: RebuildReport) -> _Storage:
    found = _Storage()
    for url in settings.storage:
        try:
            location = open_location(url)
            keys = location.list("")
            for key in keys:
                if key.startswith(f"{journal.ROOT_DIR}/"):
                    if key.endswith(".json") and key != f"{journal.ROOT_DIR}/config.json":
                        found.journal_keys.setdefault(key, []).append(url)
                    continue
                aip_id = ocfl_store.aip_id_of_key(key)
                if aip_id:
                    parts = key.split("/")
                    if parts[4:6] == journal.OBJECT_LOGS.split("/"):
                        found.journal_keys.setdefault(key, []).append(url)
                    elif url not in found.objects.setdefault(aip_id, []):
                        found.objects[aip_id].append(url)
                    continue
                top = key.split("/", 1)[0]
                if AIP_ID.match(top) and url not in found.old_layout.setdefault(top, []):
                    found.old_layout[top].append(url)
            found.opened[url] = location
        except (StorageError, OSError) as exc:
            report.problems.append(f"{redact_url(url)} could not be read ({exc}): the catalog was rebuilt from the "
                                   "other locations; run `kho fixity` once it is back")
    return found


@dataclass
class _Journal:
    by_aip: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: dict[int, dict[str, Any]] = field(default_factory=dict)  # seq -> row
    agents: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def _read_journal(found: _Storage, report: RebuildReport) -> _Journal:
    read = _Journal()
    for key, urls in sorted(found.journal_keys.items()):
        try:
            _raw, body = journal.read_journal_file(found.locations(urls), key)
        except journal.JournalError as exc:
            report.problems.append(f"journal file {key}: {exc}; the events and state it held are missing")
            continue
        report.journal_files += 1
        if body.get("aip") is not None and body.get("aip_id"):
            read.by_aip.setdefault(str(body["aip_id"]), []).append(body)
        for event in body.get("events", []):
            seq = int(event["seq"])
            if seq in read.events and read.events[seq] != event:
                report.problems.append(f"journal file {key}: event #{seq} differs from another journal file's; "
                                       "the first one read is kept")
                continue
            read.events[seq] = event
        for agent in body.get("agents", []):
            read.agents.setdefault((agent["identifier_type"], agent["identifier_value"]), agent)
    return read


def _check_chain(events: dict[int, dict[str, Any]], report: RebuildReport) -> None:
    """Say where the journaled chain has a hole or a changed event, before anything is inserted."""
    previous, previous_seq = GENESIS_HASH, None
    for seq in sorted(events):
        row = events[seq]
        if row["prev_hash"] != previous:
            after = f"event #{previous_seq}" if previous_seq is not None else "the start of the chain"
            report.problems.append(f"events between {after} and event #{seq} are missing from every copy of the "
                                   "journal: the chain cannot be restored whole")
        if event_hash(row, row["prev_hash"]) != row["hash"]:
            report.problems.append(f"event #{seq} ({row['id']}) in the journal does not match its own hash")
        previous, previous_seq = row["hash"], seq


# -- an AIP described from its head version's METS and PREMIS ---------------------------------------


def _fetch(holders: list[StorageLocation], aip_id: str, inventory: Inventory, logical: str, target: Path) -> Path:
    """A file of the head version, verified against the inventory (SHA-256 of its fixity block)."""
    content = inventory.content_of(inventory.state()[logical])
    sha256 = inventory.sha256_of(content)
    key = ocfl_store.content_key(aip_id, content)
    if sha256 is None:
        raise StorageError(f"{key}: the inventory gives no SHA-256 to verify it with")
    ReplicatedStorage(holders).get_verified(key, sha256, target)
    return target


def _bag_info(values: dict[str, str]) -> dict[str, str]:
    """bag-info.txt as the catalog keeps it: labels and values bounded as the ingest bounds them."""
    return {k[:200]: premis.bounded_text(v, MAX_CATALOG_VALUE, "the AIP's metadata") for k, v in values.items()}


@dataclass
class _Described:
    aip: dict[str, Any]
    files: list[dict[str, Any]]
    events: list[dict[str, Any]]
    agents: list[dict[str, str]]


def _describe_from_metadata(
    aip_id: str, inventory: Inventory, holders: list[StorageLocation], scratch: Path,
    snapshot: dict[str, Any] | None, known_files: list[dict[str, Any]],
) -> _Described:
    """The AIP's catalog rows from its head version: METS (paths, MIME types, representations, validation
    verdicts), PREMIS (identifiers, names, sizes, formats, derivations, events, agents), the SIP's
    bag-info.txt and access-rules.csv, and the inventory (where the bytes are, SHA-512, SHA-256). What a
    journaled snapshot or file row says is kept where the inventory does not contradict it. The documents
    are fetched here (verified against the inventory) and parsed by ``packages.aip_reader``."""
    state = inventory.state()
    scratch.mkdir(parents=True, exist_ok=True)
    other = f"{aip_layout.OTHER_DIR}/"

    def fetched(logical: str, name: str) -> Path | None:
        return _fetch(holders, aip_id, inventory, logical, scratch / name) if logical in state else None

    package = aip_reader.read_package(
        _fetch(holders, aip_id, inventory, aip_layout.METS_NAME, scratch / "METS.xml"),
        _fetch(holders, aip_id, inventory, aip_layout.PREMIS_PATH, scratch / "premis.xml"),
        bag_info=fetched(f"{other}bag-info.txt", "bag-info.txt"),
        access_rules=fetched(f"{other}{access.ACCESS_RULES_FILE}", access.ACCESS_RULES_FILE),
    )
    known = {f["path"]: f for f in known_files}

    def located(path: str) -> dict[str, Any]:
        content = inventory.content_of(state[path])
        return {"content_path": content, "sha512": state[path], "sha256": inventory.sha256_of(content)}

    files: list[dict[str, Any]] = []
    for item in package.files:
        if item.path not in state:
            continue
        verdict = item.validation
        row = {
            "id": item.id, "aip_id": aip_id, "path": item.path, "original_path": item.original_name or item.path,
            "role": "original" if item.role == "original" else ROLE_OF_REPRESENTATION.get(
                item.representation, "preservation"),
            "representation": item.representation, "source_id": item.source_id, "size": item.size,
            "puid": item.puid, "format_name": item.format_name, "format_version": item.format_version,
            "mime": item.mime, "id_method": None, "validation_status": verdict.status if verdict else None,
            "validator": verdict.validator if verdict else None, **located(item.path),
        }
        previous = known.get(item.path)
        if previous is not None and previous.get("id") == item.id:
            row.update({k: v for k, v in previous.items() if k not in _FROM_INVENTORY})
        files.append(row)

    bag_info = (snapshot or {}).get("bag_info") or _bag_info(package.bag_info)
    rules = package.access_rules
    by_id = {f["id"]: f for f in files}
    for row in files:
        if row["path"] in known:
            continue
        source = by_id.get(row["source_id"] or "", row)
        rule = rules.get(source["original_path"])
        if rule is not None:
            row.update(access_mode=rule.mode, embargo_until=rule.embargo_until, access_basis=rule.basis or None)

    content = {f["path"] for f in files}
    for path in sorted(set(state) - content):
        previous = known.get(path)
        if previous is not None and previous.get("sha512") == state[path]:
            files.append({**previous, **located(path)})  # the same bytes as the journal's row
            continue
        size = _fetch(holders, aip_id, inventory, path, scratch / "metadata-file").stat().st_size
        files.append({"id": str(uuid.uuid5(uuid.UUID(aip_id), path)), "aip_id": aip_id, "path": path,
                      "original_path": path, "role": "metadata",
                      "mime": "text/xml" if path.endswith(".xml") else "text/plain",
                      **(previous or {}), "size": size, **located(path)})

    # an event without identifier, type or date cannot take a place in the chain
    events = [e.record(aip_id) for e in package.events if e.id and e.event_type and e.event_datetime]
    agents = [a.record() for a in package.agents if a.type and a.value]
    mets_sha256 = located(aip_layout.METS_NAME)["sha256"]
    originals = [f for f in files if f["role"] == "original"]
    if snapshot is not None:
        row = {**snapshot, "ocfl_head": inventory.head, "inventory_digests": inventory.digests(),
               "mets_sha256": mets_sha256, "needs_review": True,
               "review_reasons": [*(snapshot.get("review_reasons") or []), REVIEW_NOTE]}
        return _Described(row, files, events, agents)

    sip_name = package.sip_name or aip_id
    label = package.label
    title = bag_info.get("title") or (label if label and label != sip_name else None)
    tags = [PayloadFile(p.removeprefix(other), 0, {"sha256": located(p)["sha256"] or ""}) for p in state
            if p.startswith(other) and "/" not in p.removeprefix(other)
            and not MANIFEST_NAME.match(p.removeprefix(other))] if f"{other}bagit.txt" in state else []
    dossier = access.dossier_rule(bag_info) if bag_info else access.AccessRule("restricted")
    first = inventory.versions["v1"]["created"]
    times = sorted(as_utc(e["event_datetime"]) for e in events)
    row = {
        "id": aip_id, "sip_name": sip_name,
        "title": premis.bounded_text(title, MAX_TITLE, "the AIP's metadata") if title else None,
        "status": "stored",
        "payload_hash": payload_hash([*(PayloadFile(f["original_path"], f["size"], {"sha256": f["sha256"]})
                                        for f in originals), *tags]),
        "previous_version": None, "file_count": len(originals), "total_bytes": sum(f["size"] for f in originals),
        "mets_sha256": mets_sha256, "needs_review": True, "review_reasons": [REVIEW_NOTE],
        "access_mode": dossier.mode, "embargo_until": dossier.embargo_until, "access_basis": dossier.basis or None,
        "transferred_at": None, "deleted_at": None, "disposal": None, "bag_info": bag_info,
        "created_at": times[0] if times else as_utc(first), "stored_at": as_utc(first), "ocfl_head": inventory.head,
        "inventory_digests": inventory.digests(),
    }
    return _Described(row, files, events, agents)


# -- the AIPs ---------------------------------------------------------------------------------------


@dataclass
class _Rows:
    aips: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    copies: list[dict[str, Any]] = field(default_factory=list)
    recovered: list[list[dict[str, Any]]] = field(default_factory=list)  # per AIP, in PREMIS order
    agents: list[dict[str, str]] = field(default_factory=list)
    texts: dict[str, list[tuple[aip_reader.TextEntry, Path]]] = field(default_factory=dict)  # fetched to scratch


def _inventories(found: _Storage, aip_id: str, report: RebuildReport) -> dict[str, Inventory]:
    """The committed head inventory at each location holding keys of the object."""
    committed = {}
    for url in found.objects.get(aip_id, []):
        try:
            inventory = ocfl_store.read_inventory(found.opened[url], aip_id)
        except (StorageError, InventoryError) as exc:
            report.problems.append(f"AIP {aip_id} at {redact_url(url)}: its inventory cannot be used ({exc}); "
                                   "run `kho fixity` after the rebuild")
            continue
        if inventory is not None:
            committed[url] = inventory
    return committed


def _version_inventory(found: _Storage, aip_id: str, version: str,
                       committed: dict[str, Inventory]) -> Inventory | None:
    """The inventory of ``version``: committed somewhere, or staged complete (publication pending)."""
    for inventory in committed.values():
        if inventory.head == version:
            return inventory
    for url in found.objects.get(aip_id, []):
        try:
            staged = ocfl_store.read_staged_inventory(found.opened[url], aip_id, version)
        except (StorageError, InventoryError):
            continue
        if staged is not None:
            return staged
    return None


def _check_files(aip_id: str, rows: list[dict[str, Any]], inventory: Inventory, report: RebuildReport) -> None:
    """The journal's file rows against the inventory, the authority on what the version holds."""
    state = inventory.state()
    paths = {r["path"] for r in rows}
    wrong = sorted(paths ^ set(state))
    for row in rows:
        digest = state.get(row["path"])
        if digest is None:
            continue
        content = inventory.content_of(digest)
        if (row.get("sha512") and row["sha512"] != digest) or row.get("content_path") != content or (
                row.get("sha256") != inventory.sha256_of(content)):
            wrong.append(row["path"])
    if wrong:
        report.problems.append(f"AIP {aip_id}: the journal's file rows disagree with inventory {inventory.head} "
                               f"({len(wrong)} paths, e.g. {wrong[0]}); the journal's rows were kept: audit it")


def _copies(aip_id: str, snapshot: dict[str, Any] | None, committed: dict[str, Inventory], found: _Storage,
            default_verified: str) -> list[dict[str, Any]]:
    """Each copy: its audit record from the journal, its committed head from the location itself; a
    location holding the object that the journal does not name is added (never audited yet)."""
    rows = {c["location"]: dict(c) for c in (snapshot or {}).get("copies", [])}
    for url in found.objects.get(aip_id, []):
        rows.setdefault(url, {"location": url, "status": "verified", "verified_at": default_verified,
                              "last_checked_at": None, "last_check_outcome": None, "ocfl_head": None})
    for url, row in rows.items():
        if url in committed:
            row["ocfl_head"] = committed[url].head
        row["aip_id"] = aip_id
    return list(rows.values())


def _restore_aips(settings: Settings, found: _Storage, read: _Journal, report: RebuildReport,
                  scratch: Path) -> _Rows:
    rows = _Rows()
    journaled_ids = {e["id"] for e in read.events.values()}
    in_progress = {p.name for p in settings.workspaces_dir.iterdir()} if settings.workspaces_dir.is_dir() else set()
    for aip_id in sorted(set(found.objects) | set(read.by_aip) | set(found.old_layout)):
        bodies = sorted(read.by_aip.get(aip_id, []), key=lambda b: (b["last_seq"], b["first_seq"]))
        snapshot = bodies[-1]["aip"] if bodies else None
        files_body = next((b["files"] for b in reversed(bodies) if b.get("files")), None)
        copies_snapshot = bodies[-1] if bodies else None
        if snapshot is None and aip_id in in_progress:
            report.left_to_resume.append(aip_id)
            continue
        committed = _inventories(found, aip_id, report)
        newest = max(committed.values(), key=lambda i: i.head_number, default=None)
        holders = found.locations(committed)
        if snapshot is None:
            if newest is None:
                where = "the layout before OCFL" if aip_id in found.old_layout else "an object with no inventory"
                report.problems.append(f"AIP {aip_id}: storage holds {where} and the journal does not know it: "
                                       "not restored (restore the catalog from a backup, or look at the object)")
                continue
            why = "the journal never received it"
            described = _describe_from_metadata(aip_id, newest, holders, scratch / aip_id, None, [])
        elif snapshot.get("deleted_at"):
            rows.aips.append({**snapshot, "journaled_files": files_body["version"] if files_body else None})
            rows.files += files_body["rows"] if files_body else []
            rows.copies += _copies(aip_id, copies_snapshot, {}, _Storage(), snapshot["stored_at"])
            report.disposed += 1
            if found.objects.get(aip_id):
                report.problems.append(f"AIP {aip_id} was disposed of, yet {', '.join(found.objects[aip_id])} still "
                                       "holds part of its object: delete it by hand after checking the decision")
            continue
        else:
            version = snapshot.get("ocfl_head")
            marker = version or journal.PRE_OCFL
            ahead = newest is not None and (not version or newest.head_number > ocfl.version_number(version))
            if files_body is not None and files_body["version"] == marker and not ahead:
                inventory = _version_inventory(found, aip_id, version, committed) if version else None
                if inventory is not None:
                    _check_files(aip_id, files_body["rows"], inventory, report)
                elif version:
                    report.problems.append(f"AIP {aip_id}: no location holds the inventory of {version}: restored "
                                           f"from the journal; `kho fixity --aip {aip_id}` will report the copies")
                rows.aips.append({**snapshot, "journaled_files": marker})
                rows.files += files_body["rows"]
                _collect_text(rows, aip_id, newest, holders, scratch / aip_id, report)
                rows.copies += _copies(aip_id, copies_snapshot, committed, found, snapshot["stored_at"])
                continue
            if newest is None:
                report.problems.append(f"AIP {aip_id}: the journal lacks its file rows of {marker} and no location "
                                       "holds its inventory: restored without files")
                rows.aips.append({**snapshot, "journaled_files": None})
                rows.copies += _copies(aip_id, copies_snapshot, committed, found, snapshot["stored_at"])
                continue
            why = (f"storage holds {newest.head}, the journal only {version or 'the layout before OCFL'}" if ahead
                   else f"the journal lacks its file rows of {marker}")
            described = _describe_from_metadata(aip_id, newest, holders, scratch / aip_id, snapshot,
                                                files_body["rows"] if files_body else [])
        report.from_metadata[aip_id] = why
        rows.aips.append({**described.aip, "journaled_files": None})
        rows.files += described.files
        _collect_text(rows, aip_id, newest, holders, scratch / aip_id, report)
        rows.copies += _copies(aip_id, copies_snapshot, committed, found, newest.versions[newest.head]["created"])
        rows.recovered.append([e for e in described.events if e["id"] not in journaled_ids])
        rows.agents += described.agents
    return rows


def _collect_text(rows: _Rows, aip_id: str, inventory: Inventory | None, holders: list[StorageLocation],
                  scratch: Path, report: RebuildReport) -> None:
    """Fetch the AIP's extracted text (``metadata/preservation/text/``), verified, to scratch."""
    if inventory is None:
        return
    state = inventory.state()
    if aip_reader.TEXT_INDEX not in state:
        return
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        index = _fetch(holders, aip_id, inventory, aip_reader.TEXT_INDEX, scratch / "text.json")
        fetched = []
        for number, entry in enumerate(aip_reader.read_text_index(index.read_bytes())):
            if entry.text and entry.text in state:
                fetched.append((entry, _fetch(holders, aip_id, inventory, entry.text, scratch / f"text-{number}.txt")))
    except (StorageError, OSError) as exc:
        report.problems.append(f"AIP {aip_id}: its extracted text could not be read ({exc}): it is not searchable "
                               "by its text until `kho catalog rebuild` runs again")
        return
    rows.texts[aip_id] = fetched


def _restore_text(catalog: Catalog, rows: _Rows) -> None:
    """Give the search index the text of each restored AIP, with the ingest's access rule: only the text of
    originals no stricter than their dossier."""
    from format_registry.text import MAX_AIP_CHARS
    from preservation.search import index as search_index

    if not rows.texts:
        return
    originals: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows.files:
        if row.get("aip_id") in rows.texts and row.get("role") == "original":
            originals.setdefault(row["aip_id"], {})[row.get("original_path") or row["path"]] = row
    for aip in rows.aips:
        fetched = rows.texts.get(aip["id"])
        if not fetched or aip.get("deleted_at"):
            continue
        files = originals.get(aip["id"], {})
        parts = []
        for entry, path in fetched:
            own = files.get(entry.path, {})
            if search_index.text_joins_dossier(aip.get("access_mode") or "restricted", aip.get("embargo_until"),
                                               own.get("access_mode"), own.get("embargo_until")):
                parts.append(path.read_text(encoding="utf-8"))
        record_text = search_index.joined_text(parts, MAX_AIP_CHARS)
        if record_text:
            search_index.set_text(catalog, aip["id"], record_text)


# -- writing the catalog ------------------------------------------------------------------------------


def _insert(catalog: Catalog, read: _Journal, rows: _Rows) -> None:
    """Everything journaled, in one transaction: agents and events with their ids and chain values, the
    chain head, AIPs, files, copies, and the journal mark (the journal holds every event restored)."""
    events = [read.events[seq] for seq in sorted(read.events)]
    with catalog.session() as session:
        connection = session.connection()
        if read.agents:
            connection.execute(insert(Agent), [dict(a) for a in read.agents.values()])
        if events:
            connection.execute(insert(EVENTS_TABLE), [
                {**e, "event_datetime": as_utc(e["event_datetime"])} for e in events])
            session.add(ChainHead(id=1, last_hash=events[-1]["hash"], count=len(events)))
            session.add(JournalMark(id=1, last_seq=int(events[-1]["seq"])))
        if rows.aips:
            connection.execute(insert(Aip), [
                {**journal.row_values("aips", a), "journaled_files": a.get("journaled_files")} for a in rows.aips])
        if rows.files:
            connection.execute(insert(File), [journal.row_values("files", f) for f in rows.files])
        if rows.copies:
            connection.execute(insert(StorageCopy),
                               [journal.row_values("storage_copies", c, frozenset({"id"})) for c in rows.copies])
        if catalog.engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for statement in _PG_SEQUENCES:
                connection.execute(text(statement))


def _append_recovered(catalog: Catalog, rows: _Rows) -> int:
    """Events a version's PREMIS holds and the journal never received: after the journaled chain, each
    AIP's in its PREMIS order, AIPs in the order their first event happened."""
    groups = [g for g in rows.recovered if g]
    groups.sort(key=lambda g: min(as_utc(e["event_datetime"]) for e in g))
    recovered = [e for g in groups for e in g if e["event_type"] in premis.EVENT_TYPES
                 and e["outcome"] in premis.OUTCOMES]
    with catalog.session() as session:
        catalog.ensure_agents(session, rows.agents)
        catalog.append_events(session, recovered)
    return len(recovered)


def rebuild(settings: Settings) -> RebuildReport:
    """Rebuild the (empty) catalog of ``settings`` from its storage locations; see the module docstring."""
    settings.adopt_scratch_dir()
    with Service.open(settings, open_with=open_empty_catalog) as service:
        catalog = service.catalog  # refused before storage is read when it is not empty
        report = RebuildReport(locations=list(settings.storage))
        found = _scan(settings, report)
        read = _read_journal(found, report)
        _check_chain(read.events, report)
        from preservation.search import index as search_index

        with tempfile.TemporaryDirectory(prefix="kho-rebuild-", dir=settings.scratch_dir) as scratch:
            rows = _restore_aips(settings, found, read, report, Path(scratch))
            _insert(catalog, read, rows)
            report.recovered_events = _append_recovered(catalog, rows)
            report.aips, report.files, report.copies = len(rows.aips), len(rows.files), len(rows.copies)
            report.events, report.agents = len(read.events), len(catalog.agents())
            report.chain = catalog.verify_chain()
            search_index.reindex(catalog)  # rows were inserted directly, past the index's ORM listener
            _restore_text(catalog, rows)  # the records' text, from the AIPs (decision 0029)
        try:
            journal.flush(settings, catalog)  # the recovered events, and the file rows described anew
        except (StorageError, OSError, journal.JournalError) as exc:
            report.problems.append(f"the rebuilt catalog could not be journaled yet ({exc}); the next command "
                                   "retries")
    return report


"""The storage journal: the catalog's history and state that no AIP version holds, written to storage as
it changes, so that ``kho catalog rebuild`` can restore the catalog from the storage locations alone
(docs/decisions/0018-catalog-rebuild.md).

Why: a version of an AIP (its files, METS and PREMIS) is fixed when it is written. What happens to the AIP
afterwards only the catalog knew: the ``ingestion end`` event, fixity checks and repairs, DIP deliveries,
hand-overs and disposals, access and review state, each copy's audit record, the hash-chain values of
every event, and the events of rejected SIPs, which have no AIP at all. With the catalog lost, all of
that was lost with it. The journal keeps it, as JSON files written once and never changed:

- ``<object root>/logs/kho-journal/<first seq>-<last seq>.json`` for an AIP stored as an OCFL object
  (OCFL 1.1 §4.1: an object's ``logs`` directory belongs to no version, and validators ignore it);
- ``extensions/kho-journal/aips/<aip id>/<first>-<last>.json`` at the storage root, for an AIP whose
  object cannot hold it: disposed of (the object is deleted; its journal is copied here first), or still
  in the layout before OCFL;
- ``extensions/kho-journal/events/<first>-<last>.json`` for events of no catalogued AIP (rejected SIPs).

A file holds the full event rows of one AIP from one flush (``seq``, content, ``prev_hash``, ``hash``),
the agents they link, a snapshot of the AIP's row and copies at that moment, and the AIP's file rows
when they changed (a new version: ingest, migration, storage upgrade). Its ``sha256`` covers the rest,
so a damaged copy is told from a good one at another location.

``flush`` writes every event past the catalog's journal mark (``journal_mark``) to every location, each
file read back, and only then moves the mark: a flush killed in between is repeated by the next one
(a file covering the same events again; a rebuild merges them by ``seq``). ``open_catalog`` installs a
``Journal`` on the catalog, which flushes after every committed transaction that appended events
(``Catalog.session``) and once when a catalog is opened with events still unjournaled.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Date as SqlDate
from sqlalchemy import DateTime, Table, func, select, text
from sqlalchemy.orm import Session

from packages import ocfl
from preservation import ocfl_store
from preservation.catalog import Agent, Aip, Catalog, Event, File, JournalMark, StorageCopy, as_utc
from preservation.config import Settings
from preservation.faults import checkpoint, failing
from storage_adapters.base import StorageError, StorageLocation
from storage_adapters.local import LocalStorage, create_file
from storage_adapters.registry import open_location
from storage_adapters.replicated import ReplicatedStorage

log = logging.getLogger("kho.journal")

EXTENSION = "kho-journal"  # the local extension's name (OCFL 1.1 §4.1: storage root and object logs)
FORMAT = "kho-journal/1"
OBJECT_LOGS = f"logs/{EXTENSION}"
ROOT_DIR = f"extensions/{EXTENSION}"
ROOT_AIPS = f"{ROOT_DIR}/aips"
ROOT_EVENTS = f"{ROOT_DIR}/events"
PRE_OCFL = "-"  # ``Aip.journaled_files`` of an AIP in the layout before OCFL (it has no version name)
BATCH_EVENTS = 5000  # events per flush round: bounded memory when a whole old history is journaled at once
RETRY_AFTER_SECONDS = 60.0  # after a failed flush, this process leaves the journal alone for this long
MAX_JOURNAL_BYTES = 1024 * 1024 * 1024

EVENT_COLUMNS = ("seq", "id", "aip_id", "object_ids", "event_type", "event_datetime", "detail", "outcome",
                 "outcome_detail", "agents", "prev_hash", "hash")
AGENT_COLUMNS = ("id", "identifier_type", "identifier_value", "name", "agent_type")
AIP_SKIPPED = frozenset({"journaled_files"})  # the journal's own bookkeeping: restored by the rebuild itself
COPY_SKIPPED = frozenset({"id", "aip_id"})

EXTENSION_CONFIG = {
    "extensionName": EXTENSION,
    "description": (
        "Kho's catalog journal (a local extension): the catalog's event rows with their hash-chain values "
        "and the state no AIP version holds, as JSON files written once. aips/<aip id>/ holds the journal of "
        "AIPs whose object cannot (disposed of, or not yet OCFL); events/ the events of no stored AIP; every "
        "other AIP's journal is in its object's logs/kho-journal/. See Kho's docs/decisions/0018-catalog-rebuild.md."
    ),
    "format": FORMAT,
}

_TABLES: dict[str, Table] = {
    "aips": Aip.__table__,  # type: ignore[dict-item]
    "files": File.__table__,  # type: ignore[dict-item]
    "storage_copies": StorageCopy.__table__,  # type: ignore[dict-item]
}


class JournalError(ValueError):
    """A journal file that is not one Kho wrote, or whose digest does not match its content."""


# -- encoding -----------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A column value as JSON: datetimes in UTC ISO 8601 (as the event hash reads them), dates ISO."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def row_snapshot(row: Any, table: str, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every column of an ORM row (``Aip``, ``File``, ``StorageCopy``) as plain JSON values: the snapshot
    follows the schema, so a column added later is journaled without touching this module."""
    return {c.key: plain(getattr(row, c.key)) for c in _TABLES[table].columns if c.key not in skip}


def row_values(table: str, data: dict[str, Any], skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The inverse of ``row_snapshot``: column values for an INSERT (keys the schema does not know are
    left out; a nullable column the snapshot lacks is NULL, so every row of a bulk insert has the same
    columns)."""
    values: dict[str, Any] = {}
    for column in _TABLES[table].columns:
        if column.key in skip or (column.key not in data and not column.nullable):
            continue
        value = data.get(column.key)
        if value is not None and isinstance(column.type, DateTime):
            value = as_utc(value)
        elif value is not None and isinstance(column.type, SqlDate) and isinstance(value, str):
            value = date.fromisoformat(value)
        values[column.key] = value
    return values


def event_snapshot(event: Event) -> dict[str, Any]:
    return {c: plain(getattr(event, c)) for c in EVENT_COLUMNS}


def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def encode(body: dict[str, Any]) -> bytes:
    """A journal file's bytes: the body and the SHA-256 of its canonical JSON."""
    # compact: json's C encoder (an indent makes it fall back to the pure-Python one, 4 s and 180 MB for the
    # journal of a 20,000-file AIP)
    return (json.dumps({**body, "sha256": _digest(body)}, sort_keys=True, ensure_ascii=False,
                       separators=(",", ":")) + "\n").encode()


class Rows:
    """A list member of a journal body written as it is read (``iter_rows`` runs once, while the file is
    written): an AIP's file rows, which would cost about 4 KB a file held as dicts and again as JSON."""

    def __init__(self, iter_rows: Iterator[dict[str, Any]]) -> None:
        self.iter_rows = iter_rows


def _chunks(value: Any) -> Iterator[str]:
    """``value`` as canonical JSON (``encode``'s: sorted keys, compact, UTF-8), in pieces."""
    if isinstance(value, Rows):
        yield "["
        for number, row in enumerate(value.iter_rows):
            yield ("," if number else "") + json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        yield "]"
    elif isinstance(value, dict) and any(isinstance(v, (Rows, dict)) for v in value.values()):
        yield "{"
        for number, key in enumerate(sorted(value)):
            yield ("," if number else "") + json.dumps(key, ensure_ascii=False) + ":"
            yield from _chunks(value[key])
        yield "}"
    else:
        yield json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write_encoded(body: dict[str, Any], target: Path) -> str:
    """Write ``encode(body)``'s exact bytes to ``target`` without holding them, nor any ``Rows`` member,
    in memory; return the file's SHA-256. The digest member sits among the sorted keys, after members
    that must be hashed first, so the members before and after it are spooled to two files, then joined."""
    parts = (target.with_name(target.name + ".head"), target.with_name(target.name + ".tail"))
    counts = [0, 0]
    try:
        with parts[0].open("w", encoding="utf-8") as head, parts[1].open("w", encoding="utf-8") as tail:
            members = sorted(body)
            if "sha256" in members:
                raise ValueError("a journal body must not hold its own digest")
            for key in members:
                side = 0 if key < "sha256" else 1
                half = (head, tail)[side]
                half.write(("," if counts[side] else "") + json.dumps(key, ensure_ascii=False) + ":")
                counts[side] += 1
                for piece in _chunks(body[key]):
                    half.write(piece)
        body_digest = _braced_digest(parts, counts)
        whole = hashlib.sha256()
        with target.open("wb") as joined:
            def put(data: bytes) -> None:
                whole.update(data)
                joined.write(data)

            put(b"{")
            _copy_into(parts[0], put)
            put((b"," if counts[0] else b"") + f'"sha256":"{body_digest}"'.encode() + (b"," if counts[1] else b""))
            _copy_into(parts[1], put)
            put(b"}\n")
        return whole.hexdigest()
    finally:
        for part in parts:
            part.unlink(missing_ok=True)


def _braced_digest(parts: tuple[Path, Path], counts: list[int]) -> str:
    """SHA-256 of the canonical body ``{head[,tail]}`` read back from the two spooled halves."""
    digest = hashlib.sha256(b"{")
    _copy_into(parts[0], digest.update)
    if counts[0] and counts[1]:
        digest.update(b",")
    _copy_into(parts[1], digest.update)
    digest.update(b"}")
    return digest.hexdigest()


def _copy_into(path: Path, put: Callable[[bytes], object]) -> None:
    with path.open("rb") as source:
        while block := source.read(1024 * 1024):
            put(block)


def decode(raw: bytes, where: str) -> dict[str, Any]:
    """A journal file's body, checked: Kho's format and a matching digest; else JournalError."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JournalError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise JournalError(f"{where}: not a {FORMAT} file")
    stated = data.pop("sha256", None)
    if stated != _digest(data):
        raise JournalError(f"{where}: its content does not match its sha256 (damaged)")
    return data


def file_name(first: int, last: int) -> str:
    """``<first seq>-<last seq>.json``, zero-padded: names sort in chain order."""
    return f"{first:012d}-{last:012d}.json"


def object_journal_prefix(aip_id: str) -> str:
    return f"{ocfl.object_root(aip_id)}/{OBJECT_LOGS}/"


def root_aip_prefix(aip_id: str) -> str:
    return f"{ROOT_AIPS}/{aip_id}/"


# -- flushing -----------------------------------------------------------------------------------------


@dataclass
class _Pending:
    """One journal file to write: its key, where, and its body."""

    key: str
    locations: list[str]
    path: Path  # the file's bytes, written (``write_encoded``) while the catalog snapshot was open
    sha256: str
    aip_id: str | None
    events: int
    files_version: str | None = None  # the AIP's file rows are in this file, as of this version


@dataclass
class FlushResult:
    events: int = 0
    files: list[str] = field(default_factory=list)  # keys written


@contextlib.contextmanager
def _flush_lock(catalog: Catalog) -> Iterator[None]:
    """One flusher at a time per catalog: two writing the same events with different snapshots would
    overwrite each other's file under their read-back. PostgreSQL: a session advisory lock (every
    machine of a cluster); SQLite: an advisory file lock beside the database (one machine)."""
    if catalog.engine.dialect.name == "postgresql":
        with catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            key = "hashtext('kho-journal:' || coalesce(current_schema(), ''))"
            connection.execute(text(f"SELECT pg_advisory_lock({key})"))
            try:
                yield
            finally:
                connection.execute(text(f"SELECT pg_advisory_unlock({key})"))
        return
    database = catalog.url.removeprefix("sqlite:///").partition("?")[0]
    if not catalog.url.startswith("sqlite:///") or database in ("", ":memory:"):
        yield
        return
    lock_path = Path(f"{database}.kho-journal.lock")
    with contextlib.suppress(FileExistsError):
        os.close(create_file(lock_path))
    with open(lock_path, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def journal_mark(session: Session) -> int:
    row = session.get(JournalMark, 1)
    return int(row.last_seq) if row is not None else 0


def pending_count(catalog: Catalog) -> int:
    """Events the journal does not hold yet (cheap: two indexed lookups)."""
    with catalog.session(readonly=True) as session:
        last = session.scalar(select(func.max(Event.seq))) or 0
        mark = journal_mark(session)
        if last <= mark:
            return 0
        return int(session.scalar(select(func.count(Event.seq)).where(Event.seq > mark)) or 0)


def _collect(settings: Settings, catalog: Catalog, scratch: Path) -> tuple[list[_Pending], int]:
    """The next journal files to write (at most ``BATCH_EVENTS`` events), written into ``scratch``, and
    the last seq they hold. One consistent read: PostgreSQL's REPEATABLE READ, SQLite's transaction
    snapshot; an AIP's file rows go from the query to the file one at a time."""
    with catalog.session(readonly=True) as session:
        if catalog.engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        start = journal_mark(session)
        events = list(session.scalars(select(Event).where(Event.seq > start).order_by(Event.seq)
                                      .limit(BATCH_EVENTS)))
        if not events:
            return [], start
        ids = sorted({e.aip_id for e in events if e.aip_id})
        aips = {a.id: a for a in session.scalars(select(Aip).where(Aip.id.in_(ids)))} if ids else {}
        groups: dict[str | None, list[Event]] = {}
        for event in events:
            groups.setdefault(event.aip_id if event.aip_id in aips else None, []).append(event)
        known_agents = {(a.identifier_type, a.identifier_value): a for a in session.scalars(select(Agent))}
        pending: list[_Pending] = []
        for aip_id, group in groups.items():
            linked = {(a.get("type", ""), a.get("value", "")) for e in group for a in (e.agents or [])}
            body: dict[str, Any] = {
                "format": FORMAT,
                "aip_id": aip_id,
                "first_seq": group[0].seq,
                "last_seq": group[-1].seq,
                "written_at": plain(datetime.now(UTC)),
                "events": [event_snapshot(e) for e in group],
                "agents": [{c: getattr(known_agents[k], c) for c in AGENT_COLUMNS}
                           for k in sorted(linked) if k in known_agents],
            }
            name = file_name(group[0].seq, group[-1].seq)
            if aip_id is None:
                pending.append(_written(scratch, len(pending), f"{ROOT_EVENTS}/{name}", list(settings.storage), body))
                continue
            aip = aips[aip_id]
            copies = list(session.scalars(select(StorageCopy).where(StorageCopy.aip_id == aip_id)
                                          .order_by(StorageCopy.id)))
            body["aip"] = row_snapshot(aip, "aips", AIP_SKIPPED)
            body["copies"] = [row_snapshot(c, "storage_copies", COPY_SKIPPED) for c in copies]
            version = aip.ocfl_head or PRE_OCFL
            files_version = None
            if aip.journaled_files != version:
                # plain rows streamed to the file: an AIP of 20,000 files cost 180 MB more as ORM objects,
                # and about 90 MB as a list of dicts and its JSON
                rows = session.execute(select(*_TABLES["files"].columns).where(File.aip_id == aip_id)
                                       .order_by(File.path), execution_options={"yield_per": 2000})
                body["files"] = {"version": version, "rows": Rows(row_snapshot(f, "files") for f in rows)}
                files_version = version
            live = [c.location for c in copies if c.status != "deleted"]
            if aip.deleted_at is None and aip.ocfl_head and live:
                key, locations = f"{object_journal_prefix(aip_id)}{name}", live
            else:  # no object to hold it: disposed of, or the layout before OCFL
                key, locations = f"{root_aip_prefix(aip_id)}{name}", list(settings.storage)
            pending.append(_written(scratch, len(pending), key, locations, body, files_version))
        return pending, events[-1].seq


def _written(scratch: Path, number: int, key: str, locations: list[str], body: dict[str, Any],
             files_version: str | None = None) -> _Pending:
    path = scratch / f"{number}.json"
    digest = write_encoded(body, path)
    return _Pending(key, locations, path, digest, body["aip_id"], len(body["events"]), files_version)


def _store_bytes(settings: Settings, key: str, data: bytes, urls: list[str]) -> None:
    """Put small bytes under ``key`` at every location in ``urls`` (``_store_file``)."""
    with _scratch(settings) as scratch:
        path = scratch / "entry.json"
        path.write_bytes(data)
        _store_file(key, path, hashlib.sha256(data).hexdigest(), urls)


def _store_file(key: str, path: Path, sha256: str, urls: list[str]) -> None:
    """Put the file at ``path`` under ``key`` at every location in ``urls``, each read back (SHA-256). A
    local location whose root is not there (an unmounted volume) is refused, never created afresh: the
    journal belongs beside the objects, not in an empty mount point."""
    locations = [open_location(u) for u in dict.fromkeys(urls)]
    for location in locations:
        if isinstance(location, LocalStorage) and not location.root.is_dir():
            raise StorageError(f"{location.url}: {location.root} is not there (an unmounted or lost volume?)")
    ReplicatedStorage(locations).store(key, path, sha256)


@contextlib.contextmanager
def _scratch(settings: Settings) -> Iterator[Path]:
    settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kho-journal-", dir=settings.scratch_dir) as scratch:
        yield Path(scratch)


def flush(settings: Settings, catalog: Catalog) -> FlushResult:
    """Write every event past the journal mark, with the state it changed, and each round's signed
    checkpoint (``preservation.checkpoints``), then move the mark. Raises StorageError when a location
    refuses a file: the mark stays, the next flush writes them again."""
    result = FlushResult()
    if failing("journal:refused"):
        raise StorageError("the storage journal could not be written (KHO_FAULT=journal:refused)")
    with _flush_lock(catalog), _scratch(settings) as scratch:
        declared = False
        while True:
            with catalog.session(readonly=True) as session:
                start = journal_mark(session)
            pending, last = _collect(settings, catalog, scratch)
            if not pending:
                return result
            for item in pending:
                if item.key.startswith(f"{ROOT_DIR}/") and not declared:
                    config = json.dumps(EXTENSION_CONFIG, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
                    _store_bytes(settings, f"{ROOT_DIR}/config.json", config.encode(), list(settings.storage))
                    declared = True
                _store_file(item.key, item.path, item.sha256, item.locations)
                item.path.unlink()
                result.files.append(item.key)
                result.events += item.events
            # the round's checkpoint (decision 0023), before the mark moves: one that could not be written is
            # written by the next flush. Imported here: the checkpoints module imports this one.
            from preservation import checkpoints

            checkpoints.after_journal_round(settings, catalog, start=start, last=last,
                                            aip_ids=[item.aip_id for item in pending if item.aip_id])
            with catalog.session() as session:
                mark = session.get(JournalMark, 1)
                if mark is None:
                    session.add(JournalMark(id=1, last_seq=last))
                else:
                    mark.last_seq = max(int(mark.last_seq), last)
                for item in pending:
                    if item.files_version is not None:
                        row = session.get(Aip, item.aip_id)
                        if row is not None:
                            row.journaled_files = item.files_version


def copy_to_storage_root(settings: Settings, catalog: Catalog, aip_id: str) -> int:
    """Before an AIP's object is deleted (an approved disposal): flush, then copy every journal file in
    the object's ``logs/`` to ``extensions/kho-journal/aips/<aip id>/`` at every location, so the
    tombstone keeps the AIP's whole history, chain values and file rows. Idempotent; returns the
    number of files copied. Raises StorageError or JournalError: the disposal must not go on without."""
    flush(settings, catalog)
    prefix = object_journal_prefix(aip_id)
    sources: dict[str, list[StorageLocation]] = {}
    for copy in catalog.copies(aip_id):
        location = open_location(copy.location)
        for key in location.list(prefix):
            sources.setdefault(key, []).append(location)
    copied = 0
    for key, holders in sorted(sources.items()):
        data = read_journal_file(holders, key)[0]
        _store_bytes(settings, f"{root_aip_prefix(aip_id)}{key.rsplit('/', 1)[-1]}", data,
                     list(settings.storage))
        copied += 1
    return copied


def read_journal_file(holders: list[StorageLocation], key: str) -> tuple[bytes, dict[str, Any]]:
    """The bytes and body of the first good copy of a journal file among ``holders``; JournalError
    naming every location's problem when none is good."""
    problems = []
    for location in holders:
        try:
            raw = ocfl_store.read_small(location, key, MAX_JOURNAL_BYTES)
            if raw is None:
                problems.append(f"{location.url}: missing")
                continue
            return raw, decode(raw, f"{location.url}/{key}")
        except (StorageError, JournalError) as exc:
            problems.append(str(exc))
    raise JournalError(f"no good copy of {key}: " + "; ".join(problems))


# -- the hook open_catalog installs ---------------------------------------------------------------------


class Journal:
    """The storage journal of one open catalog: ``Catalog.session`` calls ``after_commit`` when a
    transaction that appended events committed; disposal calls ``before_object_deleted``."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self._paused_until = 0.0

    def after_commit(self) -> None:
        """Flush now; a failure is logged, never raised: the catalog commit stands, the events wait in
        the catalog and the next flush (this process after ``RETRY_AFTER_SECONDS``, or the next command)
        writes them. One slow, unreachable location must not cost every later commit its timeout.
        No recursion: a flush's own transaction appends no events. Threads (the API) may flush at once:
        the flush lock serialises them, and whichever runs second writes what the first did not see."""
        if time.monotonic() < self._paused_until:
            return
        checkpoint("journal:before-flush")  # tests: killed between a catalog commit and its journal
        try:
            flush(self.settings, self.catalog)
        except (StorageError, OSError, JournalError) as exc:
            self._paused_until = time.monotonic() + RETRY_AFTER_SECONDS
            log.warning("storage journal not written (%s); the events stay in the catalog and the next command "
                        "writes them / chưa ghi được nhật ký danh mục vào kho lưu trữ, sẽ ghi lại sau", exc)

    def before_object_deleted(self, aip_id: str) -> int:
        return copy_to_storage_root(self.settings, self.catalog, aip_id)


def install(settings: Settings, catalog: Catalog) -> Journal:
    """Give ``catalog`` its journal, and write what an earlier process committed but did not journal
    (it was killed between its commit and its flush)."""
    journal = Journal(settings, catalog)
    catalog.journal = journal
    if pending_count(catalog):
        journal.after_commit()
    return journal

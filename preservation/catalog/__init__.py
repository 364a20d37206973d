"""The catalog: SQLAlchemy 2 over SQLite (default) or PostgreSQL, schema kept by Alembic.

Many processes write to it at once (parallel ingests, a fixity audit, DIP requests). Event-chain
appends are serialised by the database itself (docs/decisions/0009-parallel-work.md): in SQLite every
writing session starts with ``BEGIN IMMEDIATE`` (it waits for the write lock up front instead of
failing when a read transaction later tries to write); in PostgreSQL the chain head row, created
race-free, is locked with ``SELECT ... FOR UPDATE``. Read-only sessions stay deferred.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table, Text, cast, create_engine, event, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from preservation.catalog.models import Agent, Aip, ChainHead, Event, File, JournalMark, StorageCopy

if TYPE_CHECKING:
    from preservation.journal import Journal

MIGRATIONS = Path(__file__).parent / "migrations"
EVENTS_TABLE = typing.cast(Table, Event.__table__)
GENESIS_HASH = "0" * 64
IMMEDIATE = "kho_immediate"  # execution option: this transaction will write (SQLite: BEGIN IMMEDIATE)
APPENDED = "kho_events_appended"  # session info: this transaction appended events (see Catalog.journal)

__all__ = [
    "Agent", "Aip", "Catalog", "Event", "File", "JournalMark", "StorageCopy",
    "as_utc", "content_file", "content_file_row", "event_hash",
]  # fmt: skip


def event_hash(fields: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 over the event's content and the previous event's hash (the tamper-evident chain)."""
    canonical = {
        "id": fields["id"],
        "aip_id": fields.get("aip_id"),
        "object_ids": list(fields.get("object_ids") or []),
        "event_type": fields["event_type"],
        "event_datetime": as_utc(fields["event_datetime"]).isoformat(),
        "detail": fields.get("detail", ""),
        "outcome": fields["outcome"],
        "outcome_detail": fields.get("outcome_detail", ""),
        "agents": list(fields.get("agents") or []),
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def as_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def content_file(aip_id: str, obj: dict[str, Any], **extra: Any) -> File:
    """The catalog row of a content file from the object dict the pipeline carries (original or copy)."""
    return File(**content_file_row(aip_id, obj, **extra))


def content_file_row(aip_id: str, obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``content_file`` as a plain column dict, for bulk inserts (ORM objects cost ~0.1 ms each)."""
    return dict(
        id=obj["id"],
        aip_id=aip_id,
        path=obj["aip_path"],
        original_path=obj.get("original_name", obj["aip_path"]),
        role=obj["role"],
        representation=obj["representation"],
        source_id=obj.get("source_id"),
        size=obj["size"],
        sha256=obj["digests"]["sha256"],
        sha512=obj["digests"].get("sha512"),
        puid=obj["puid"],
        format_name=obj["format_name"],
        format_version=obj["format_version"],
        mime=obj["mime"],
        id_method=obj.get("method"),
        **extra,
    )


APPEND_BATCH = 5000  # events per executemany


class Catalog:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            database = Path(url.removeprefix("sqlite:///").partition("?")[0])
            database.parent.mkdir(parents=True, exist_ok=True)
            _create_private(database)
        connect_args = {"timeout": 60} if url.startswith("sqlite") else {}
        self.engine: Engine = create_engine(url, connect_args=connect_args)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # the search index follows every Aip row the ORM adds, changes or deletes (ingest, migration,
        # disposal…), in the same transaction: decision 0027
        event.listen(self._sessions, "after_flush", _index_changed_aips)
        # Told after every committed transaction that appended events: ``open_catalog`` installs the
        # storage journal here, so every path that adds history (CLI, DAG tasks, the API) writes it to
        # storage without each having to remember (decision 0018). None: a catalog opened directly.
        self.journal: Journal | None = None
        self.upgrade()

    def upgrade(self) -> None:
        """Bring the schema to the newest revision; many processes may open a fresh catalog at once, so
        the upgrade runs under the database's write lock (SQLite) or an advisory lock (PostgreSQL)."""
        from alembic import command  # ~0.1 s of imports, needed only to migrate
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.connect() as connection:
            connection.execution_options(**{IMMEDIATE: True})
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(hashtext('kho-catalog-upgrade:' || "
                             "coalesce(current_schema(), '')))")
                    )
                config.attributes["connection"] = connection
                command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """One transaction. Writers (the default) take SQLite's write lock at BEGIN, so that a concurrent
        writer makes them wait rather than fail; ``readonly=True`` keeps reads concurrent."""
        with self._sessions() as session:
            with session.begin():
                if not readonly:
                    session.connection(execution_options={IMMEDIATE: True})  # the BEGIN is emitted here
                yield session
            appended = session.info.pop(APPENDED, False)
        if appended and self.journal is not None:  # committed: only now may storage be told
            self.journal.after_commit()

    # -- events -------------------------------------------------------------------------------

    def _insert(self, table: Any) -> Any:
        """INSERT with ``on_conflict_do_nothing`` in this catalog's dialect."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def append_events(self, session: Session, events: Iterable[dict[str, Any]]) -> None:
        """Append events to the chain inside the caller's transaction (a ``session()``, not read-only).

        The chain head is locked before the last hash is read: SQLite's write lock is already held
        (BEGIN IMMEDIATE); in PostgreSQL the head row is created if missing (ON CONFLICT DO NOTHING:
        two first appenders do not collide) and then locked FOR UPDATE, so a concurrent appender waits
        for this transaction and then reads the hash it committed. No append fails, none is lost, the
        chain never forks."""
        if self.engine.dialect.name == "sqlite" and session.connection().info.get("kho_begin") != "IMMEDIATE":
            raise RuntimeError("append_events needs a writing Catalog.session() (BEGIN IMMEDIATE), not a read-only one")
        session.execute(
            self._insert(ChainHead)
            .values(id=1, last_hash=GENESIS_HASH, count=0)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        head = session.scalars(
            select(ChainHead).where(ChainHead.id == 1).with_for_update().execution_options(populate_existing=True)
        ).one()
        prev = head.last_hash
        rows: list[dict[str, Any]] = []
        count = 0
        for fields in events:
            digest = event_hash(fields, prev)
            rows.append({
                "id": fields["id"],
                "aip_id": fields.get("aip_id"),
                "object_ids": list(fields.get("object_ids") or []),
                "event_type": fields["event_type"],
                "event_datetime": as_utc(fields["event_datetime"]),
                "detail": fields.get("detail", ""),
                "outcome": fields["outcome"],
                "outcome_detail": fields.get("outcome_detail", ""),
                "agents": list(fields.get("agents") or []),
                "prev_hash": prev,
                "hash": digest,
            })  # fmt: skip
            prev = digest
            if len(rows) >= APPEND_BATCH:
                count += self._insert_events(session, rows)
                rows = []
        count += self._insert_events(session, rows)
        head.count += count
        head.last_hash = prev

    @staticmethod
    def _insert_events(session: Session, rows: list[dict[str, Any]]) -> int:
        """One executemany (thousands of ORM objects per AIP cost more than the hashing), a batch at a time:
        an AIP of 100,000 files has half a million events, which are never all in memory."""
        if rows:
            session.connection().execute(insert(EVENTS_TABLE), rows)  # Core executemany, no ORM pass
            session.info[APPENDED] = True
        return len(rows)

    def ensure_agents(self, session: Session, agents: Iterable[dict[str, str]]) -> None:
        """Insert the agents not yet known, race-free: two processes registering the same agent at once
        both succeed (ON CONFLICT DO NOTHING). Sorted, so that concurrent PostgreSQL transactions take
        the unique-index locks in one order and cannot deadlock."""
        unique = {(a["type"], a["value"]): a for a in agents}
        if not unique:
            return
        rows = [
            {
                "identifier_type": a["type"],
                "identifier_value": a["value"],
                "name": a["name"],
                "agent_type": a["agent_type"],
            }
            for _key, a in sorted(unique.items())
        ]
        session.execute(
            self._insert(Agent).values(rows).on_conflict_do_nothing(
                index_elements=["identifier_type", "identifier_value"]
            )
        )

    # -- queries --------------------------------------------------------------------------------

    def find_by_payload_hash(self, payload_hash: str) -> Aip | None:
        with self.session(readonly=True) as session:
            return session.scalar(select(Aip).where(Aip.payload_hash == payload_hash).order_by(Aip.created_at))

    def get_aip(self, aip_id: str) -> Aip | None:
        with self.session(readonly=True) as session:
            return session.get(Aip, aip_id)

    def list_aips(self) -> list[Aip]:
        with self.session(readonly=True) as session:
            return list(session.scalars(select(Aip).order_by(Aip.stored_at)))

    def files(self, aip_id: str) -> list[File]:
        with self.session(readonly=True) as session:
            return list(session.scalars(select(File).where(File.aip_id == aip_id).order_by(File.path)))

    def copies(self, aip_id: str) -> list[StorageCopy]:
        with self.session(readonly=True) as session:
            return list(session.scalars(select(StorageCopy).where(StorageCopy.aip_id == aip_id)))

    def events(self, aip_id: str | None = None) -> list[Event]:
        with self.session(readonly=True) as session:
            query = select(Event).order_by(Event.seq)
            if aip_id is not None:
                query = query.where(Event.aip_id == aip_id)
            return list(session.scalars(query))

    def has_events(self, aip_id: str) -> bool:
        with self.session(readonly=True) as session:
            return session.scalar(select(Event.seq).where(Event.aip_id == aip_id).limit(1)) is not None

    def existing_event_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        with self.session(readonly=True) as session:
            for start in range(0, len(ids), 500):
                found.update(session.scalars(select(Event.id).where(Event.id.in_(ids[start : start + 500]))))
        return found

    def event_count(self) -> int:
        with self.session(readonly=True) as session:
            return int(session.scalar(select(func.count(Event.seq))) or 0)

    def _event_filter(
        self, query: Any, aip_id: str | None, since: datetime | None, until: datetime | None, agent: str | None
    ) -> Any:
        if aip_id is not None:
            query = query.where(Event.aip_id == aip_id)
        if since is not None:
            query = query.where(
                Event.event_datetime >= as_utc(since).replace(tzinfo=None)
                if self.url.startswith("sqlite")
                else Event.event_datetime >= as_utc(since)
            )
        if until is not None:
            query = query.where(
                Event.event_datetime < as_utc(until).replace(tzinfo=None)
                if self.url.startswith("sqlite")
                else Event.event_datetime < as_utc(until)
            )
        if agent is not None:
            # agents is a JSON list of {type, value, role}; a LIKE on the JSON text keeps this portable
            needle = json.dumps(agent)[1:-1]  # as the JSON column serialises it (ASCII escapes)
            query = query.where(cast(Event.agents, Text).like(f'%"value": "{needle}"%'))
        return query

    def iter_events(
        self,
        *,
        aip_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        agent: str | None = None,
        batch: int = 1000,
    ) -> Iterator[Event]:
        """Events in chain order, streamed in batches (constant memory for millions of rows)."""
        with self._sessions() as session:
            query = self._event_filter(select(Event), aip_id, since, until, agent).order_by(Event.seq)
            yield from session.scalars(query.execution_options(yield_per=batch))

    def event_aip_ids(
        self,
        *,
        aip_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        agent: str | None = None,
    ) -> list[str]:
        with self.session(readonly=True) as session:
            query = self._event_filter(select(Event.aip_id).distinct(), aip_id, since, until, agent)
            return sorted(a for a in session.scalars(query) if a)

    def verify_chain(self) -> str | None:
        """Walk every event in order; describe the first one whose hash or link is wrong, else None."""
        previous = GENESIS_HASH
        previous_seq: int | None = None
        for row in self.iter_events():
            fields = {
                c: getattr(row, c)
                for c in (
                    "id",
                    "aip_id",
                    "object_ids",
                    "event_type",
                    "event_datetime",
                    "detail",
                    "outcome",
                    "outcome_detail",
                    "agents",
                )
            }
            if row.prev_hash != previous:
                after = f"after event #{previous_seq}" if previous_seq is not None else "at the start"
                return (
                    f"event #{row.seq} ({row.id}, {row.event_type}) does not follow {after}: "
                    "an event was deleted, inserted or reordered before it"
                )
            if event_hash(fields, previous) != row.hash:
                return (
                    f"event #{row.seq} ({row.id}, {row.event_type}) was edited: its content no longer matches its hash"
                )
            previous, previous_seq = row.hash, row.seq
        with self.session(readonly=True) as session:
            head = session.get(ChainHead, 1)
        if head is not None and head.last_hash != previous:
            return f"the last event(s) after #{previous_seq} were deleted: the chain head does not match"
        return None

    def agents(self) -> list[Agent]:
        with self.session(readonly=True) as session:
            return list(session.scalars(select(Agent).order_by(Agent.id)))


def _index_changed_aips(session: Session, _context: Any) -> None:
    """After a flush, still inside its transaction: (re)index the AIPs it wrote, drop those it deleted or
    that were disposed of. Rows written with Core (``kho catalog rebuild``) are indexed by ``kho search reindex``."""
    changed = [o for o in (*session.new, *session.dirty) if isinstance(o, Aip) and session.is_modified(o)]
    removed = [o.id for o in session.deleted if isinstance(o, Aip)]
    if changed or removed:
        from preservation.search.index import index_changes  # only when an AIP changed: keeps `kho` quick

        index_changes(session.connection(), changed, removed)


def _create_private(database: Path) -> None:
    """Create a new SQLite file as ``FILE_MODE`` (0640), whatever the umask, before SQLite creates it with
    0644; SQLite gives its -wal and -shm files the mode of the database file. An existing file is left alone."""
    from storage_adapters.local import create_file

    if str(database) in ("", ":memory:") or database.exists():
        return
    with contextlib.suppress(FileExistsError):  # another process created it first (with the same mode)
        os.close(create_file(database))


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """pysqlite's own transaction handling (a deferred BEGIN before the first INSERT) is switched off:
    ``_sqlite_begin`` emits BEGIN itself, IMMEDIATE for writers (SQLAlchemy's documented recipe)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """A writer's transaction takes the write lock at BEGIN and waits for it (busy timeout): a deferred
    transaction that read first and then writes fails at once with SQLITE_BUSY when another process
    committed in between, which is how parallel ingests lost events or agents."""
    mode = "IMMEDIATE" if connection.get_execution_options().get(IMMEDIATE) else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")
    connection.info["kho_begin"] = mode

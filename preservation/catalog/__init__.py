"""The catalog: SQLAlchemy 2 over SQLite (default) or PostgreSQL, schema kept by Alembic."""

from __future__ import annotations

import hashlib
import json
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, Text, cast, create_engine, event, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from preservation.catalog.models import Agent, Aip, ChainHead, Event, File, StorageCopy

MIGRATIONS = Path(__file__).parent / "migrations"
EVENTS_TABLE = typing.cast(Table, Event.__table__)
GENESIS_HASH = "0" * 64

__all__ = [
    "Agent", "Aip", "Catalog", "Event", "File", "StorageCopy",
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


class Catalog:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": 60} if url.startswith("sqlite") else {}
        self.engine: Engine = create_engine(url, connect_args=connect_args)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.upgrade()

    def upgrade(self) -> None:
        from alembic import command  # ~0.1 s of imports, needed only to migrate
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # -- events -------------------------------------------------------------------------------

    def append_events(self, session: Session, events: Iterable[dict[str, Any]]) -> None:
        """Append events to the chain inside the caller's transaction.

        The chain head row is updated *first*: that takes SQLite's write lock or PostgreSQL's row
        lock before the last hash is read, so concurrent appenders cannot fork the chain.
        """
        session.execute(update(ChainHead).where(ChainHead.id == 1).values(count=ChainHead.count))
        head = session.get(ChainHead, 1, with_for_update=True)
        if head is None:
            head = ChainHead(id=1, last_hash=GENESIS_HASH, count=0)
            session.add(head)
            session.flush()
        prev = head.last_hash
        rows = []
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
        if rows:  # one executemany: thousands of ORM objects per AIP cost more than the hashing
            session.connection().execute(insert(EVENTS_TABLE), rows)  # Core executemany, no ORM pass
        head.count += len(rows)
        head.last_hash = prev

    def ensure_agents(self, session: Session, agents: Iterable[dict[str, str]]) -> None:
        for agent in agents:
            exists = session.scalar(
                select(Agent).where(Agent.identifier_type == agent["type"], Agent.identifier_value == agent["value"])
            )
            if exists is None:
                session.add(
                    Agent(
                        identifier_type=agent["type"],
                        identifier_value=agent["value"],
                        name=agent["name"],
                        agent_type=agent["agent_type"],
                    )
                )
                session.flush()

    # -- queries --------------------------------------------------------------------------------

    def find_by_payload_hash(self, payload_hash: str) -> Aip | None:
        with self.session() as session:
            return session.scalar(select(Aip).where(Aip.payload_hash == payload_hash).order_by(Aip.created_at))

    def get_aip(self, aip_id: str) -> Aip | None:
        with self.session() as session:
            return session.get(Aip, aip_id)

    def list_aips(self) -> list[Aip]:
        with self.session() as session:
            return list(session.scalars(select(Aip).order_by(Aip.stored_at)))

    def files(self, aip_id: str) -> list[File]:
        with self.session() as session:
            return list(session.scalars(select(File).where(File.aip_id == aip_id).order_by(File.path)))

    def copies(self, aip_id: str) -> list[StorageCopy]:
        with self.session() as session:
            return list(session.scalars(select(StorageCopy).where(StorageCopy.aip_id == aip_id)))

    def events(self, aip_id: str | None = None) -> list[Event]:
        with self.session() as session:
            query = select(Event).order_by(Event.seq)
            if aip_id is not None:
                query = query.where(Event.aip_id == aip_id)
            return list(session.scalars(query))

    def has_events(self, aip_id: str) -> bool:
        with self.session() as session:
            return session.scalar(select(Event.seq).where(Event.aip_id == aip_id).limit(1)) is not None

    def existing_event_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        with self.session() as session:
            for start in range(0, len(ids), 500):
                found.update(session.scalars(select(Event.id).where(Event.id.in_(ids[start : start + 500]))))
        return found

    def event_count(self) -> int:
        with self.session() as session:
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
        with self.session() as session:
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
        with self.session() as session:
            head = session.get(ChainHead, 1)
        if head is not None and head.last_hash != previous:
            return f"the last event(s) after #{previous_seq} were deleted: the chain head does not match"
        return None

    def agents(self) -> list[Agent]:
        with self.session() as session:
            return list(session.scalars(select(Agent).order_by(Agent.id)))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()

"""Catalog tables. The AIP in storage is authoritative; these rows index it for search and audit."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Aip(Base):
    __tablename__ = "aips"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID
    sip_name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # stored
    payload_hash: Mapped[str] = mapped_column(String(64), index=True)
    previous_version: Mapped[str | None] = mapped_column(String(36))
    file_count: Mapped[int] = mapped_column(Integer)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    mets_sha256: Mapped[str] = mapped_column(String(64))
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    access_mode: Mapped[str] = mapped_column(String(20), default="restricted")  # public|restricted|confidential
    transferred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disposal: Mapped[dict[str, str] | None] = mapped_column(JSON)  # decision number, approver: the tombstone
    embargo_until: Mapped[date | None] = mapped_column(Date)
    access_basis: Mapped[str | None] = mapped_column(Text)
    review_reasons: Mapped[list[str] | None] = mapped_column(JSON, default=list)
    bag_info: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the OCFL version the catalog describes (v1 = the ingest); None: stored in the layout before OCFL
    ocfl_head: Mapped[str | None] = mapped_column(String(12))
    # SHA-256 and SHA-512 of the head's inventory.json, the same bytes at every location: audited like a file
    inventory_digests: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # the version whose file rows the storage journal holds (``ocfl_head``, or "-" for the layout before
    # OCFL); None: not journaled yet. A flush writes the file rows again when this differs (decision 0018)
    journaled_files: Mapped[str | None] = mapped_column(String(12))

    files: Mapped[list[File]] = relationship(back_populates="aip", order_by="File.path")
    copies: Mapped[list[StorageCopy]] = relationship(back_populates="aip")


class File(Base):
    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("aip_id", "path"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # PREMIS object UUID
    aip_id: Mapped[str] = mapped_column(ForeignKey("aips.id"), index=True)
    path: Mapped[str] = mapped_column(Text)  # inside the AIP (the OCFL logical path)
    # where the bytes are, relative to the AIP's OCFL object root (v1/content/...); None: the old layout
    content_path: Mapped[str | None] = mapped_column(Text)
    original_path: Mapped[str] = mapped_column(Text)  # inside the SIP
    role: Mapped[str] = mapped_column(String(20))  # original, preservation, access, metadata
    representation: Mapped[str | None] = mapped_column(String(40))
    source_id: Mapped[str | None] = mapped_column(String(36))  # the original a derivative was made from
    access_mode: Mapped[str | None] = mapped_column(String(20))  # None: the AIP's regime applies
    validation_status: Mapped[str | None] = mapped_column(String(20))  # valid|well-formed|invalid|not-validated
    validator: Mapped[str | None] = mapped_column(String(100))
    embargo_until: Mapped[date | None] = mapped_column(Date)
    access_basis: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sha512: Mapped[str | None] = mapped_column(String(128))
    puid: Mapped[str | None] = mapped_column(String(40))
    format_name: Mapped[str | None] = mapped_column(Text)
    format_version: Mapped[str | None] = mapped_column(String(100))
    mime: Mapped[str | None] = mapped_column(String(255))
    id_method: Mapped[str | None] = mapped_column(String(20))

    aip: Mapped[Aip] = relationship(back_populates="files")


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("identifier_type", "identifier_value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    identifier_type: Mapped[str] = mapped_column(String(100))
    identifier_value: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(Text)
    agent_type: Mapped[str] = mapped_column(String(50))  # software, organization, person


class Event(Base):
    """PREMIS events, append-only; ``hash`` covers the content and ``prev_hash`` (a chain)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_datetime", "event_datetime"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)  # PREMIS eventIdentifier (UUID)
    aip_id: Mapped[str | None] = mapped_column(String(36), index=True)  # no FK: rejected SIPs have events
    object_ids: Mapped[list[str]] = mapped_column(JSON)
    event_type: Mapped[str] = mapped_column(String(100))
    event_datetime: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    detail: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20))
    outcome_detail: Mapped[str] = mapped_column(Text)
    agents: Mapped[list[dict[str, str]]] = mapped_column(JSON)  # [{type, value, role}]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ChainHead(Base):
    """A single row, updated first in every event-appending transaction so appends serialise."""

    __tablename__ = "event_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(BigInteger)


class StorageCopy(Base):
    __tablename__ = "storage_copies"
    __table_args__ = (UniqueConstraint("aip_id", "location"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    aip_id: Mapped[str] = mapped_column(ForeignKey("aips.id"), index=True)
    location: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # verified | damaged | repaired
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    last_check_outcome: Mapped[str | None] = mapped_column(String(20))
    # the OCFL version committed (root inventory published) at this location; behind Aip.ocfl_head
    # after a crash between the catalog commit of a new version and its publication: published next run
    ocfl_head: Mapped[str | None] = mapped_column(String(12))

    aip: Mapped[Aip] = relationship(back_populates="copies")


class JournalMark(Base):
    """A single row: the last event ``seq`` written to the storage journal (``preservation.journal``).

    Every event with a higher ``seq`` is still to be journaled; a flush killed after writing to storage
    and before moving the mark writes the same events again next time (decision 0018)."""

    __tablename__ = "journal_mark"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class HarvestSource(Base):
    """A repository ``kho harvest`` pulls from (decision 0028): where the next incremental harvest starts.

    One row a (base URL, set, metadataPrefix): harvesting one agency's set and later the whole repository are
    two lists with two positions. ``resumption_token`` is saved with every page written, so a harvest that
    was interrupted (killed, the network gone) asks for the next page instead of starting again; ``list_from``
    and ``list_started`` are the ``from`` of that list and the ``responseDate`` of its first page, which
    becomes ``last_response_date`` (the next ``from``) once the list is complete."""

    __tablename__ = "harvest_sources"
    __table_args__ = (UniqueConstraint("url", "set_spec", "metadata_prefix"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(1000))  # the OAI-PMH base URL
    set_spec: Mapped[str] = mapped_column(String(255), default="")  # "": the whole repository
    metadata_prefix: Mapped[str] = mapped_column(String(100), default="oai_dc")
    repository_name: Mapped[str | None] = mapped_column(Text)  # from Identify
    granularity: Mapped[str | None] = mapped_column(String(30))  # from Identify: how ``from`` must be written
    last_response_date: Mapped[str | None] = mapped_column(String(30))  # the next harvest's ``from``
    resumption_token: Mapped[str | None] = mapped_column(Text)  # a list in progress
    list_from: Mapped[str | None] = mapped_column(String(30))
    list_started: Mapped[str | None] = mapped_column(String(30))
    last_harvest_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class HarvestedRecord(Base):
    """A record of another repository, as its OAI-PMH provider published it: the union catalogue (decision
    0028). Not an AIP and never edited here; a record deleted at the source stays as a tombstone
    (``deleted``), its last known description kept, as the source's own ``deletedRecord=persistent`` does."""

    __tablename__ = "harvested_records"
    __table_args__ = (UniqueConstraint("source", "identifier"), Index("ix_harvested_records_folded", "folded"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(1000), index=True)  # the base URL it was harvested from
    identifier: Mapped[str] = mapped_column(String(500))  # the OAI identifier
    datestamp: Mapped[str] = mapped_column(String(30))  # as the source wrote it (its granularity)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    sets: Mapped[list[str]] = mapped_column(JSON, default=list)
    metadata_prefix: Mapped[str] = mapped_column(String(100))
    metadata_xml: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    creator: Mapped[str | None] = mapped_column(Text)  # dc:creator, else dc:publisher
    date: Mapped[str | None] = mapped_column(String(100))
    dc_identifier: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(String(255))
    folded: Mapped[str | None] = mapped_column(Text)  # title and creator, accents folded, for kho union search
    harvested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccessRequest(Base):
    """A reader's request, from the reading room, for records they may not receive (decision 0030).

    TT 05's reading-room slip ("phiếu yêu cầu đọc"): who asks (name, organisation, contact), why (purpose) and
    what (the dossier and the documents, as the reader describes them: the names of withheld documents are
    never shown to a reader, so they cannot be picked). An archivist decides; an approved request is served
    as a DIP (``POST /aips/{id}/dips`` with ``request_id``). The requester's name and contact are personal
    data: only archivists see them."""

    __tablename__ = "access_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # the slip's number, told to the reader
    aip_id: Mapped[str | None] = mapped_column(String(36), index=True)  # the dossier asked about, when known
    requester: Mapped[str] = mapped_column(Text)
    organisation: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    documents: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5), default="vi")
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending|approved|refused
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64))  # token id of the archivist, never a name alone
    dip_name: Mapped[str | None] = mapped_column(String(100))  # the DIP built when it was approved

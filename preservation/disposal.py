"""Disposal (hủy tài liệu hết giá trị): never automatic. Expired records are listed for review; an
approved disposal deletes every stored copy, keeps the catalog rows as a tombstone with the decision,
and records a PREMIS ``deletion`` event. The AIP's storage journal is copied to the storage root before
its object is deleted, so ``kho catalog rebuild`` restores the tombstone and its history (decision 0018)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select

from packages import agents, ocfl, premis
from preservation.catalog import Aip, Catalog, StorageCopy
from preservation.faults import checkpoint
from preservation.journal import JournalError
from preservation.ocfl_store import object_prefix
from preservation.retention import MAINTENANCE_NAMES, retention_expires
from storage_adapters.base import StorageError
from storage_adapters.registry import open_location


class DisposalError(RuntimeError):
    """The disposal is not allowed or could not be completed; the message says why."""


@dataclass(frozen=True)
class DisposalCandidate:
    aip_id: str
    title: str
    maintenance: str
    expired_on: date

    def to_dict(self) -> dict[str, str]:
        return {"aip_id": self.aip_id, "title": self.title, "maintenance": self.maintenance,
                "maintenance_name": MAINTENANCE_NAMES.get(self.maintenance, ""),
                "expired_on": self.expired_on.isoformat(), "status": "Xem xét hủy / review for disposal"}


def review_list(catalog: Catalog, today: date | None = None) -> list[DisposalCandidate]:
    today = today or datetime.now(UTC).date()
    found = []
    for aip in catalog.list_aips():
        if aip.deleted_at is not None:
            continue
        expires = retention_expires(aip.bag_info)
        if expires is not None and expires < today:
            maintenance = next((v for k, v in aip.bag_info.items() if k.lower() == "maintenance"), "")
            found.append(DisposalCandidate(aip.id, aip.title or aip.sip_name, maintenance, expires))
    return sorted(found, key=lambda c: c.expired_on)


def _deletion_order(key: str) -> tuple[int, str]:
    """The root inventory first (the object stops claiming a head it no longer has), the object's
    NAMASTE declaration last (a rerun after a crash still finds what is left as this object)."""
    name = key.rsplit("/", 1)[-1]
    if name in (ocfl.INVENTORY, ocfl.SIDECAR) and key.count("/") == 4:
        return (0, key)
    return (2, key) if name == ocfl.OBJECT_NAMASTE[0] else (1, key)


def dispose(catalog: Catalog, aip_id: str, *, decision: str, approver: str, today: date | None = None) -> int:
    """Delete every copy of an expired AIP; returns the number of objects deleted."""
    today = today or datetime.now(UTC).date()
    aip = catalog.get_aip(aip_id)
    if aip is None:
        raise DisposalError(f"AIP {aip_id} not found / không tìm thấy")
    if aip.deleted_at is not None:
        raise DisposalError(f"AIP {aip_id} was already disposed of on {aip.deleted_at:%d/%m/%Y}")
    expires = retention_expires(aip.bag_info)
    if expires is None or expires >= today:
        raise DisposalError(
            f"AIP {aip_id}: retention has not expired ({expires:%d/%m/%Y} / chưa hết thời hạn lưu trữ)"
            if expires else f"AIP {aip_id} has no expiring retention (permanent or unknown) / không thuộc diện hủy")
    if not decision.strip() or not approver.strip():
        raise DisposalError("a disposal needs the decision number and the approver / cần số quyết định và người duyệt")
    if catalog.journal is not None:  # the object's logs/ go with it: its journal must be kept first
        try:
            catalog.journal.before_object_deleted(aip_id)
        except (StorageError, JournalError) as exc:
            raise DisposalError(
                f"AIP {aip_id}: its journal could not be kept at the storage root ({exc}); nothing was deleted, "
                "run again / chưa lưu được nhật ký của gói, chưa xóa gì, hãy chạy lại") from exc
    deleted = 0
    prefix = object_prefix(aip_id, aip.ocfl_head)
    for copy in catalog.copies(aip_id):
        try:
            location = open_location(copy.location)
            for key in sorted(location.list(prefix), key=_deletion_order):
                location.delete(key)
                deleted += 1
                checkpoint(f"dispose:after-delete:{deleted}")
        except StorageError as exc:
            raise DisposalError(f"{copy.location}: {exc}; nothing recorded, run again") from exc
    approver_agent = {"type": "approver", "value": approver, "name": approver, "agent_type": "person"}
    event = premis.new_event(
        "deletion", "success", aip_id=aip_id, object_ids=[aip_id],
        agents=[agents.link(agents.kho(), "executing program"), agents.link(approver_agent, "authorizer")],
        detail=f"disposal by decision {decision}, approved by {approver}; retention expired {expires:%d/%m/%Y}",
        outcome_detail=f"{deleted} objects deleted from {len(catalog.copies(aip_id))} locations; tombstone kept")
    with catalog.session() as session:
        row = session.get(Aip, aip_id)
        assert row is not None
        row.deleted_at = datetime.now(UTC)
        row.status = "deleted"
        row.disposal = {"decision": decision, "approver": approver, "expired_on": expires.isoformat()}
        for copy_row in session.scalars(select(StorageCopy).where(StorageCopy.aip_id == aip_id)):
            copy_row.status = "deleted"
        catalog.ensure_agents(session, [approver_agent])
        catalog.append_events(session, [event])
    return deleted

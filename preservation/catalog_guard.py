"""Opening the catalog loudly: a catalog that is unreadable, or that knows nothing while storage holds AIPs,
stops every command that needs it, with what happened and what to do.

Why: the AIPs in storage are the authoritative copy; the catalog is their index. With ``catalog.sqlite``
deleted or truncated, Kho used to create an empty one without a word: ``kho aip list`` said "no AIPs yet",
``kho events verify`` "intact (0 events)", ``kho fixity`` checked "0 copies" (all exit 0), and ingesting
the same SIP again made a second AIP of it. A half-truncated file gave a raw SQLAlchemy traceback.

The check that storage is empty runs only when the catalog is (one cheap query otherwise), and reads at
most a few keys of each location: the first key whose top folder is an AIP id is enough, and so is any
file of the storage journal (the history of rejected SIPs and disposed AIPs lives only there).

Both refusals name the way back: ``kho catalog rebuild`` restores the catalog from storage (decision 0018).
A catalog that opens gets its storage journal (``preservation.journal``) installed here, so every path
that opens the catalog journals what it commits.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.exc import DatabaseError, OperationalError

from preservation import journal, ocfl_store
from preservation.catalog import Aip, Catalog, Event
from preservation.config import Settings
from storage_adapters.base import StorageError, redact_url
from storage_adapters.registry import open_location

AIP_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
KEYS_LOOKED_AT = 5000  # keys (S3) or folders (local) looked at before concluding storage holds no AIP


class CatalogProblem(RuntimeError):
    """The catalog cannot be trusted as it is; the message says why and what to do (English / Vietnamese)."""


def _describe(url: str) -> str:
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else redact_url(url)


def unreadable(settings: Settings, exc: DatabaseError | OperationalError) -> CatalogProblem:
    """What to say about a catalog the database cannot read, and the two ways back."""
    reason = str(exc.orig) if getattr(exc, "orig", None) else str(exc).splitlines()[0]
    where = _describe(settings.database_url)
    aside = (f"move {where} aside (with its -wal and -shm files)" if settings.database_url.startswith("sqlite")
             else "point KHO_DATABASE_URL at a new, empty database")
    return CatalogProblem(
        f"the catalog {where} cannot be read ({reason}). Kho will not replace it: restore it from its backup, "
        f"or {aside} and run `kho catalog rebuild` to rebuild it from storage; or point KHO_DATABASE_URL at "
        "the right database / không đọc được danh mục; hãy khôi phục từ bản sao lưu, hoặc chuyển tệp hỏng "
        "sang chỗ khác rồi chạy `kho catalog rebuild` để dựng lại danh mục từ kho lưu trữ"
    )


def open_catalog(settings: Settings, *, check_storage: bool = True) -> Catalog:
    """The catalog of ``settings``, refused loudly when unreadable or when it lost what storage holds,
    with its storage journal installed (and anything an earlier process left unjournaled written)."""
    try:
        catalog = Catalog(settings.database_url)
    except (DatabaseError, OperationalError) as exc:
        raise unreadable(settings, exc) from None
    try:
        if check_storage:
            ensure_catalog_knows_storage(settings, catalog)
        journal.install(settings, catalog)
    except BaseException:
        catalog.close()
        raise
    return catalog


def ensure_catalog_knows_storage(settings: Settings, catalog: Catalog) -> None:
    with catalog.session(readonly=True) as session:
        known = session.scalar(select(func.count()).select_from(Aip)) or session.scalar(
            select(func.count()).select_from(Event)
        )
    if known:
        return
    in_progress = {p.name for p in settings.workspaces_dir.iterdir()} if settings.workspaces_dir.is_dir() else set()
    for url in settings.storage:
        found = _an_aip_in(url, in_progress)
        if found:
            raise CatalogProblem(
                f"the catalog {_describe(settings.database_url)} knows no AIPs, but storage {redact_url(url)} holds "
                f"{found} (and maybe more): the catalog was lost, emptied or replaced. Nothing is done until "
                "this is resolved: run `kho catalog rebuild` to rebuild it from storage, or restore it from its "
                "backup, or check that KHO_DATABASE_URL / KHO_HOME and KHO_STORAGE belong to the same "
                "installation / danh mục trống nhưng kho lưu trữ đã có gói AIP: hãy chạy `kho catalog rebuild` "
                "để dựng lại danh mục từ kho lưu trữ, hoặc khôi phục từ bản sao lưu"
            )


def _an_aip_in(url: str, in_progress: set[str]) -> str | None:
    """What proves the location holds catalogued history: an AIP (an OCFL object, or a top-level folder
    of the layout before OCFL) that no ingest in progress is storing (an ingest killed after its store
    step has objects in storage and nothing in the catalog yet: ``kho resume`` finishes it), or a file of
    the storage journal (rejected SIPs and disposed AIPs leave nothing else)."""
    try:
        location = open_location(url)
        for number, key in enumerate(location.list("")):
            if number >= KEYS_LOOKED_AT:
                break
            found = ocfl_store.aip_id_of_key(key) or key.split("/", 1)[0]
            if AIP_ID.match(found) and found not in in_progress:
                return f"AIP {found}"
        for key in location.list(f"{journal.ROOT_DIR}/"):
            if key.endswith(".json") and key != f"{journal.ROOT_DIR}/config.json":
                return f"the catalog journal {journal.ROOT_DIR}/"
    except (StorageError, OSError):
        return None  # unreachable now: the audit will say so; it cannot prove the catalog lost anything
    return None


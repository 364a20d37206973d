"""The AIP views of ``preservation.aip_views``: what the API serves a requester's role and what ``kho aip list|show
--json`` prints for the operator, built once, on a real catalog with AIPs stored by the in-process ingest.

The default fixture SIP is restricted (mode 02): archivists and administrators see it, readers do not; ``mode="01"``
makes one public. Its bag-info has a Contact-Name (personal data: not for readers) and a Payload-Oxum (the size of
the whole payload: administrators only).
"""

from __future__ import annotations

import unicodedata
from datetime import date

from sqlalchemy import update

from preservation.aip_views import (
    AipDetail,
    aip_detail,
    aip_page,
    aip_record,
    aip_rows,
    fold,
)
from preservation.catalog import Catalog, File
from tests.helpers import Ingest

TODAY = date(2025, 6, 1)
UNKNOWN = "00000000-0000-0000-0000-000000000000"

# the keys scripts and tests read from `kho aip list --json` / `kho aip show --json`, in the order printed
ROW_KEYS = ["aip_id", "sip_name", "title", "status", "files", "bytes", "needs_review", "review_reasons", "stored_at"]
RECORD_KEYS = ["aip_id", "sip_name", "title", "status", "payload_hash", "previous_version", "stored_at",
               "needs_review", "review_reasons", "bag_info", "files", "locations", "events"]
FILE_KEYS = ["path", "role", "representation", "validation", "validator", "source_id", "id", "puid", "format",
             "mime", "method", "size", "sha256"]


# -- the operator (kho aip list / show) -------------------------------------------------------------


def test_aip_rows_print_the_historic_keys_and_the_aips_own_counts(ingest: Ingest, catalog: Catalog) -> None:
    aip_id = ingest()
    [row] = aip_rows(catalog)
    printed = row.model_dump(mode="json")
    assert list(printed) == ROW_KEYS
    aip = catalog.get_aip(aip_id)
    assert aip is not None
    assert (printed["aip_id"], printed["files"], printed["bytes"]) == (aip_id, aip.file_count, aip.total_bytes)
    assert printed["stored_at"] == aip.stored_at.isoformat()  # as `kho` always printed it, not pydantic's form
    assert printed["review_reasons"] == (aip.review_reasons or [])


def test_aip_rows_needs_review_keeps_only_flagged_aips(ingest: Ingest, catalog: Catalog) -> None:
    ingest()
    flagged = [r for r in aip_rows(catalog) if r.needs_review]
    assert aip_rows(catalog, needs_review=True) == flagged


def test_aip_record_holds_files_copies_and_events_under_the_historic_keys(ingest: Ingest, catalog: Catalog) -> None:
    aip_id = ingest()
    record = aip_record(catalog, aip_id)
    assert record is not None
    printed = record.model_dump(mode="json")
    assert list(printed) == RECORD_KEYS
    assert [list(f) for f in printed["files"]] == [FILE_KEYS] * len(printed["files"])
    assert {f["path"] for f in printed["files"]} == {f.path for f in catalog.files(aip_id)}
    assert [c["location"] for c in printed["locations"]] == [c.location for c in catalog.copies(aip_id)]
    assert [(e["type"], e["datetime"]) for e in printed["events"]] == [
        (e.event_type, e.event_datetime.isoformat()) for e in catalog.events(aip_id)]
    assert printed["bag_info"]["Payload-Oxum"]  # the operator is withheld nothing


def test_aip_record_of_an_unknown_aip_is_none(catalog: Catalog) -> None:
    assert aip_record(catalog, UNKNOWN) is None


# -- requesters (the API) ---------------------------------------------------------------------------


def test_a_restricted_aip_is_hidden_from_readers_only(ingest: Ingest, catalog: Catalog) -> None:
    aip_id = ingest()
    assert aip_page(catalog, "reader", on=TODAY).total == 0
    assert aip_detail(catalog, "reader", aip_id, TODAY) is None  # as for an AIP that does not exist
    for role in ("archivist", "administrator"):
        page = aip_page(catalog, role, on=TODAY)
        assert [item.aip_id for item in page.items] == [aip_id]
        assert isinstance(aip_detail(catalog, role, aip_id, TODAY), AipDetail)
    assert aip_detail(catalog, "administrator", UNKNOWN, TODAY) is None


def test_readers_lose_personal_data_and_all_but_administrators_the_payload_size(ingest: Ingest,
                                                                                catalog: Catalog) -> None:
    aip_id = ingest(mode="01")
    shown = {role: aip_detail(catalog, role, aip_id, TODAY) for role in ("reader", "archivist", "administrator")}
    labels = {role: set(detail.bag_info) for role, detail in shown.items() if detail is not None}
    assert "Contact-Name" not in labels["reader"] and "Contact-Name" in labels["archivist"]
    assert "Payload-Oxum" not in labels["archivist"] and "Payload-Oxum" in labels["administrator"]
    reader = shown["reader"]
    assert reader is not None and reader.access_basis is None and reader.access_mode == "public"
    # a field a role may not read is not searched either
    contact = fold("Trần Thị Bình")
    assert aip_page(catalog, "reader", query=contact, on=TODAY).total == 0
    assert aip_page(catalog, "archivist", query=contact, on=TODAY).total == 1


def test_search_folds_case_and_unicode_and_needs_every_word(ingest: Ingest, catalog: Catalog) -> None:
    ingest(mode="01")
    assert aip_page(catalog, "reader", query="CÁT LÒNG sông", on=TODAY).total == 1
    # the same words typed decomposed (NFD, as some keyboards send them) still match
    assert aip_page(catalog, "reader", query=unicodedata.normalize("NFD", "Cát lòng"), on=TODAY).total == 1
    assert aip_page(catalog, "reader", query="cát vàng", on=TODAY).total == 0


def test_pages_count_every_match_and_return_the_slice(ingest: Ingest, catalog: Catalog) -> None:
    first = ingest(mode="01")
    second = ingest("hoso-2023-sotnmt-02", files={"data/thêm.txt": b"one more file"}, mode="01")
    whole = aip_page(catalog, "reader", on=TODAY)
    assert [i.aip_id for i in whole.items] == [first, second]  # oldest first
    page = aip_page(catalog, "reader", limit=1, offset=1, on=TODAY)
    assert (page.total, page.limit, page.offset, [i.aip_id for i in page.items]) == (2, 1, 1, [second])


def test_a_file_the_role_may_not_receive_is_counted_not_named_nor_sized(ingest: Ingest, catalog: Catalog) -> None:
    aip_id = ingest(mode="01")
    originals = sorted((f for f in catalog.files(aip_id) if f.role == "original"), key=lambda f: f.path)
    secret = originals[0]
    with catalog.session() as session:  # one original under its own regime, as a per-file access rule leaves it
        session.execute(update(File).where(File.id == secret.id).values(access_mode="confidential"))

    reader = aip_detail(catalog, "reader", aip_id, TODAY)
    admin = aip_detail(catalog, "administrator", aip_id, TODAY)
    assert reader is not None and admin is not None
    assert secret.path not in {f.path for f in reader.files} and secret.path in {f.path for f in admin.files}
    assert reader.withheld_count >= 1 and admin.withheld_count == 0
    assert (admin.file_count, admin.total_bytes) == (len(originals), sum(f.size for f in originals))
    assert (reader.file_count, reader.total_bytes) == (admin.file_count - 1, admin.total_bytes - secret.size)
    # the list counts the same way as the detail (one grouped query, not the AIP's own totals)
    [summary] = aip_page(catalog, "reader", on=TODAY).items
    assert (summary.file_count, summary.total_bytes) == (reader.file_count, reader.total_bytes)


def test_the_operator_sees_what_an_administrator_requester_sees(ingest: Ingest, catalog: Catalog) -> None:
    aip_id = ingest()
    record = aip_record(catalog, aip_id)
    detail = aip_detail(catalog, "administrator", aip_id, TODAY)
    assert record is not None and detail is not None
    assert [f.path for f in record.files] == [f.path for f in detail.files]
    assert record.bag_info == detail.bag_info
    [row] = aip_rows(catalog)
    assert (row.files, row.bytes) == (detail.file_count, detail.total_bytes)

"""preservation.transfer.hand_over_list: the one list of permanent records due for hand-over, shown by
`kho transfer list` and the daily transfer DAG alike."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from preservation.catalog import Aip, Catalog
from preservation.transfer import hand_over_list


def _aip(title: str, maintenance: str, stored: datetime, *, transferred: datetime | None = None,
         deleted: datetime | None = None) -> Aip:
    return Aip(id=str(uuid.uuid4()), sip_name=f"sip-{title}", title=title, status="stored", payload_hash="0" * 64,
               file_count=1, total_bytes=1, mets_sha256="0" * 64, bag_info={"maintenance": maintenance,
                                                                             "endDate": "31/12/2015"},
               created_at=stored, stored_at=stored, transferred_at=transferred, deleted_at=deleted)


def test_most_urgent_first_and_only_what_goes_to_the_historical_archive(tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    try:
        with catalog.session() as session:
            session.add_all([
                _aip("later", "01", datetime(2024, 3, 1, tzinfo=UTC)),
                _aip("overdue", "01", datetime(2018, 1, 1, tzinfo=UTC)),
                _aip("ten years", "06", datetime(2016, 1, 1, tzinfo=UTC)),
                _aip("due", "01", datetime(2020, 9, 1, tzinfo=UTC)),
                _aip("very overdue", "01", datetime(2017, 1, 1, tzinfo=UTC)),
                _aip("handed over", "01", datetime(2017, 1, 1, tzinfo=UTC), transferred=datetime(2022, 1, 1)),
                _aip("disposed", "01", datetime(2017, 1, 1, tzinfo=UTC), deleted=datetime(2023, 1, 1)),
            ])
        today = date(2025, 6, 1)
        found = hand_over_list(catalog, today)
        assert [(d.title, d.status) for d in found] == [
            ("very overdue", "overdue"), ("overdue", "overdue"), ("due", "due"), ("later", "not-yet-due"),
            ("handed over", "transferred")]
        row = found[0].to_dict()
        assert row["historical_archive_due"] == "2022-01-01" and row["d458_due"] == "2018-12-31"
        assert row["maintenance"] == "01" and row["work_ended"] == "2015-12-31"
        everything = hand_over_list(catalog, today, include_not_required=True)
        assert [d.title for d in everything][-1] == "ten years" and everything[-1].status == "not-required"
    finally:
        catalog.close()

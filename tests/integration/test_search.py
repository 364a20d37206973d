"""The full-text index (decision 0027) on SQLite FTS5 and on PostgreSQL: the same queries, the same AIPs.

Catalog rows are written through the ORM, as ingest, migration and disposal write them, so the catalog's
own hook keeps the index in step; no ingest runs here (fast)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from preservation.aip_views import aip_page
from preservation.catalog import Aip, Catalog
from preservation.search import open_index, reindex, set_text
from tests.helpers import pg_schema

TODAY = date(2026, 12, 5)
KHANH = "11111111-0000-0000-0000-000000000001"
UYBAN = "11111111-0000-0000-0000-000000000002"
SECRET = "11111111-0000-0000-0000-000000000003"
BODY = "11111111-0000-0000-0000-000000000004"
OLD = "11111111-0000-0000-0000-000000000005"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    with contextlib.ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'catalog.sqlite'}" if request.param == "sqlite"
               else stack.enter_context(pg_schema("kho_search")))
        opened = Catalog(url)
        yield opened
        opened.close()


def add(catalog: Catalog, aip_id: str, title: str, *, mode: str = "01", day: int = 1, **fields: str) -> None:
    bag_info = {"title": title, **{k.replace("_", "-"): v for k, v in fields.items()}}
    with catalog.session() as session:
        session.add(Aip(id=aip_id, sip_name=f"sip-{day}", title=title, status="stored", payload_hash="0" * 64,
                        file_count=1, total_bytes=1, mets_sha256="0" * 64, access_mode=mode, bag_info=bag_info,
                        review_reasons=[], created_at=datetime(2026, 1, day, tzinfo=UTC),
                        stored_at=datetime(2026, 1, day, tzinfo=UTC)))


@pytest.fixture
def archive(catalog: Catalog) -> Catalog:
    add(catalog, KHANH, "Hồ sơ về việc khánh thành cầu Cửa Hội", day=1,
        Source_Organization="Ủy ban nhân dân tỉnh Hà Tĩnh", fileCode="H40.2024.01-VP", maintenance="01",
        Contact_Name="Nguyễn Văn An")
    add(catalog, UYBAN, "Báo cáo tổng kết năm", day=2, Source_Organization="UY BAN NHAN DAN TINH NGHE AN",
        fileCode="H41.2023.05-VP", maintenance="02", keyword="khánh thành")
    add(catalog, SECRET, "Hồ sơ khánh thành đập sông Lam", mode="02", day=3, Source_Organization="Sở Tài nguyên",
        fileCode="H42.2022.01-KT", maintenance="01")
    add(catalog, OLD, "Thành lập trường Khánh Hòa", day=4, Source_Organization="Ủy ban nhân dân tỉnh Hà Tĩnh",
        fileCode="H40.2020.02-VP", maintenance="05")
    return catalog


def ids(catalog: Catalog, query: str, role: str = "administrator") -> list[str]:
    return [h.aip_id for h in open_index(catalog).search(query, role=role, on=TODAY, limit=100).hits]


def found(catalog: Catalog, query: str, role: str = "administrator") -> set[str]:
    return set(ids(catalog, query, role))


def test_accents_and_case_do_not_matter(archive: Catalog) -> None:
    assert found(archive, "khanh thanh") == {KHANH, UYBAN, SECRET, OLD}
    assert found(archive, "KHÁNH THÀNH cầu") == {KHANH}
    assert found(archive, "Ủy ban") == {KHANH, UYBAN, OLD}  # "UY BAN NHAN DAN" found by its accented form
    assert found(archive, "uy ban nghe an") == {UYBAN}
    assert found(archive, "đập") == found(archive, "dap") == {SECRET}


def test_phrases_need_the_words_together(archive: Catalog) -> None:
    assert found(archive, '"khanh thanh"') == {KHANH, UYBAN, SECRET}  # "Thành lập trường Khánh Hòa": not a phrase
    assert found(archive, '"thanh khanh"') == set()
    assert found(archive, '"khánh thành cầu" hội') == {KHANH}


def test_field_queries(archive: Catalog) -> None:
    assert found(archive, "title:khanh") == {KHANH, SECRET, OLD}  # UYBAN has it as a keyword only
    assert found(archive, 'agency:"ha tinh"') == {KHANH, OLD}
    assert found(archive, "fileCode:H40.2024.01-VP") == {KHANH}
    assert found(archive, "year:2024") == {KHANH}
    assert found(archive, "khanh year:2023") == {UYBAN}
    assert found(archive, "agency:cau") == set()  # the word is in a title, not in an agency


def test_facets_count_the_matching_set(archive: Catalog) -> None:
    result = open_index(archive).search("khanh", role="administrator", on=TODAY, facets=True)
    assert result.total == 4
    assert dict(result.facets["agency"]) == {"Ủy ban nhân dân tỉnh Hà Tĩnh": 2, "UY BAN NHAN DAN TINH NGHE AN": 1,
                                             "Sở Tài nguyên": 1}
    assert dict(result.facets["year"]) == {"2024": 1, "2023": 1, "2022": 1, "2020": 1}
    assert dict(result.facets["maintenance"]) == {"01": 2, "02": 1, "05": 1}
    assert dict(result.facets["record_type"]) == {"hồ sơ": 4}
    reader = open_index(archive).search("khanh", role="reader", on=TODAY, facets=True)
    assert dict(reader.facets["maintenance"]) == {"01": 1, "02": 1, "05": 1}  # the restricted one is not counted


def test_a_title_match_ranks_first(archive: Catalog) -> None:
    assert ids(archive, "khanh thanh")[-1] == UYBAN  # only a keyword: last
    assert ids(archive, "ha tinh")[0] in {KHANH, OLD}  # agency match over nothing else


def test_restricted_records_are_never_shown_to_a_reader(archive: Catalog) -> None:
    assert found(archive, "song lam", "reader") == set()
    assert found(archive, "song lam", "archivist") == {SECRET}
    page = aip_page(archive, "reader", query="khánh thành", on=TODAY)  # the API's GET /aips?q=
    assert page.total == 3 and SECRET not in {item.aip_id for item in page.items}
    assert [i.aip_id for i in aip_page(archive, "administrator", query="khanh thanh", on=TODAY).items] == [
        KHANH, UYBAN, SECRET, OLD]  # the API keeps its order: oldest first
    assert aip_page(archive, "reader", query="Nguyen Van An", on=TODAY).total == 0  # personal: staff only
    assert aip_page(archive, "archivist", query="Nguyen Van An", on=TODAY).total == 1


def test_an_embargo_hides_a_record_until_it_ends(archive: Catalog) -> None:
    with archive.session() as session:
        row = session.get(Aip, KHANH)
        assert row is not None
        row.embargo_until = TODAY + timedelta(days=1)
    assert KHANH not in found(archive, "khanh", "reader")
    assert KHANH in set(ids(archive, "khanh", "archivist"))
    assert KHANH in {h.aip_id for h in open_index(archive).search("khanh", on=TODAY + timedelta(days=1)).hits}


def test_a_disposed_aip_disappears_and_a_changed_one_is_reindexed(archive: Catalog) -> None:
    with archive.session() as session:  # what preservation.disposal.dispose writes
        row = session.get(Aip, OLD)
        assert row is not None
        row.deleted_at, row.status = datetime.now(UTC), "deleted"
    assert OLD not in found(archive, "khanh")
    assert aip_page(archive, "administrator", query="truong", on=TODAY).total == 0
    with archive.session() as session:  # what a migration or a new version changes
        row = session.get(Aip, UYBAN)
        assert row is not None
        row.title = "Báo cáo về đê điều"
    assert found(archive, "title:de dieu") == {UYBAN}
    assert UYBAN not in found(archive, "title:tong ket")


def test_record_text_is_searched_and_reindex_is_idempotent(archive: Catalog) -> None:
    add(archive, BODY, "Công văn", day=5)
    set_text(archive, BODY, "Nội dung: nghiệm thu công trình thủy lợi")
    assert found(archive, "thuy loi") == {BODY}
    before = {q: ids(archive, q) for q in ("khanh thanh", "thuy loi", "year:2024", "ha tinh")}
    assert reindex(archive) == 5
    assert reindex(archive) == 5
    assert {q: ids(archive, q) for q in before} == before  # the record text survives a rebuild
    with archive.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM search_docs")).scalar_one() == 5


def test_queries_that_match_nothing_or_are_malformed(archive: Catalog) -> None:
    assert found(archive, "...") == {KHANH, UYBAN, SECRET, OLD}  # nothing to match on: every record
    assert aip_page(archive, "reader", query="...", on=TODAY).total == 0
    assert aip_page(archive, "reader", query="year:20x4", on=TODAY).total == 0
    assert found(archive, 'AND OR NOT "near" * ^') == set()  # operators are words, quoted, never syntax

"""Accent folding and the query parser of ``preservation.search`` (decision 0027)."""

from __future__ import annotations

import unicodedata

import pytest

from preservation import aip_views, dip
from preservation.search import document
from preservation.search.fold import fold, words
from preservation.search.query import MAX_TERMS, QueryError, Term, parse


@pytest.mark.parametrize(("typed", "folded"), [
    ("khánh thành", "khanh thanh"), ("Ủy ban", "uy ban"), ("UY BAN", "uy ban"), ("Đồng Đăng", "dong dang"),
    (unicodedata.normalize("NFD", "Nguyễn Thị Hường"), "nguyen thi huong"), ("đê điều", "de dieu"),
])
def test_fold_drops_marks_and_case(typed: str, folded: str) -> None:
    assert fold(typed) == folded


def test_words_split_on_punctuation_and_underscore() -> None:
    assert words("Mã: H40.2024.01-VP") == ["ma", "h40", "2024", "01", "vp"]
    assert words("a_b c") == ["a", "b", "c"]


def test_parse_words_phrases_and_fields() -> None:
    parsed = parse('khánh "cửa hội" title:cầu agency:"Hà Tĩnh" fileCode:H40.2024.01-VP year:2024')
    assert parsed.terms == (Term(("khanh",)), Term(("cua", "hoi"), phrase=True), Term(("cau",), column="title"),
                            Term(("ha", "tinh"), phrase=True, column="agency"),
                            Term(("h40", "2024", "01", "vp"), phrase=True, column="filecode"))
    assert parsed.years == (2024,)


def test_unknown_fields_and_operators_are_only_words() -> None:
    assert parse("foo:bar").terms == (Term(("foo", "bar"), phrase=True),)
    assert [t.words for t in parse('AND "x" OR * NEAR(').terms] == [("and",), ("x",), ("or",), ("near",)]
    assert parse("... !!").empty


def test_malformed_queries_are_refused() -> None:
    with pytest.raises(QueryError):
        parse("year:20x4")
    with pytest.raises(QueryError):
        parse("year:2020 year:2021")
    with pytest.raises(QueryError):
        parse(" ".join(f"w{i}" for i in range(MAX_TERMS + 1)))


def test_field_lists_match_the_views_that_show_them() -> None:
    assert document.SIZE_FIELDS == aip_views.SIZE_FIELDS
    assert document.PERSONAL_FIELDS == dip.RESTRICTED_FIELDS


def test_a_document_puts_each_field_where_its_audience_may_search_it() -> None:
    doc = document.build(aip_id="a", sip_name="s", title=None, access_mode="01", embargo_until=None,
                         stored_at="2026-01-01T00:00:00+00:00",
                         bag_info={"title": "Hồ sơ khánh thành", "Source-Organization": "Ủy ban",
                                   "fileCode": "H40.2024.01-VP", "Contact-Name": "Nguyễn Văn An",
                                   "Payload-Oxum": "10.1", "maintenance": "01"})
    assert (doc.title, doc.f_title, doc.year, doc.access) == ("Hồ sơ khánh thành", "ho so khanh thanh", 2024, "public")
    assert "nguyen" not in doc.f_meta and doc.f_personal == "nguyen van an" and doc.f_sizes == "10 1"

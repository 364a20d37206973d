"""The Vietnamese dossier profile: strict dates, code lists, required fields."""

from __future__ import annotations

from datetime import date

import pytest

from packages.vn_profile import check_bag_info, parse_vn_date

VALID = {"fileCode": "H40.2024.01-VP", "title": "Hồ sơ", "maintenance": "01", "mode": "02",
         "language": "01,02", "startDate": "02/01/2024", "endDate": "28/12/2024"}


def test_valid_fields_pass() -> None:
    assert check_bag_info(VALID) == []


@pytest.mark.parametrize("text", ["2024-01-02", "2/1/2024", "31/02/2024", "02/13/2024", "02/01/24", " "])
def test_dates_are_parsed_strictly(text: str) -> None:
    with pytest.raises(ValueError):
        parse_vn_date(text)


def test_date_parses() -> None:
    assert parse_vn_date("29/02/2024") == date(2024, 2, 29)


def test_each_problem_names_field_and_value() -> None:
    details = [p.detail for p in check_bag_info({**VALID, "mode": "04", "language": "12", "endDate": "01/01/2023"})]
    assert any('mode: "04"' in d for d in details)
    assert any('language: "12"' in d for d in details)
    assert any("startDate is after endDate" in d for d in details)


def test_missing_required_field_is_named_in_both_languages() -> None:
    problems = check_bag_info({k: v for k, v in VALID.items() if k != "title"})
    assert [p.code for p in problems] == ["metadata-missing"]
    assert "title (Tiêu đề hồ sơ)" in problems[0].detail
    assert "thiếu" in problems[0].message_vi

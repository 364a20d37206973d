"""The Vietnamese dossier (hồ sơ) profile for BagIt SIPs, carried in ``bag-info.txt``.

Thông tư 05/2025/TT-BNV names the hồ sơ fields (fileCode, title, maintenance, mode,
language, startDate, endDate, totalDoc, ...). Until the full EAD profile lands, a SIP
carries them as ``bag-info.txt`` labels with the TT 05 tag names, and this module checks
the required ones, their code lists and the DD/MM/YYYY dates strictly.
"""

from __future__ import annotations

import re
from datetime import date

from packages.problems import Problem

# label -> (Vietnamese name, maximum length)
REQUIRED_FIELDS: dict[str, tuple[str, int]] = {
    "fileCode": ("Mã hồ sơ", 100),
    "title": ("Tiêu đề hồ sơ", 1000),
    "maintenance": ("Thời hạn lưu trữ", 100),
    "mode": ("Chế độ sử dụng", 30),
    "language": ("Ngôn ngữ", 100),
    "startDate": ("Thời gian bắt đầu", 10),
    "endDate": ("Thời gian kết thúc", 10),
}
MAINTENANCE_CODES = {f"{n:02d}" for n in range(1, 8)}  # 01 vĩnh viễn ... 07 khác
MODE_CODES = {"01", "02", "03"}  # công khai, sử dụng có điều kiện, mật
LANGUAGE_CODES = {f"{n:02d}" for n in range(1, 12)}
DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


def parse_vn_date(value: str) -> date:
    """Parse DD/MM/YYYY strictly (no other separators, real calendar dates only)."""
    match = DATE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not DD/MM/YYYY")
    day, month, year = (int(part) for part in match.groups())
    return date(year, month, day)


def _get(bag_info: dict[str, str], label: str) -> str | None:
    for key, value in bag_info.items():
        if key.lower() == label.lower():
            return value.strip()
    return None


def check_bag_info(bag_info: dict[str, str]) -> list[Problem]:
    problems: list[Problem] = []
    values: dict[str, str] = {}
    for label, (name_vi, max_length) in REQUIRED_FIELDS.items():
        value = _get(bag_info, label)
        if not value:
            problems.append(Problem("metadata-missing", detail=f"{label} ({name_vi})"))
            continue
        if len(value) > max_length:
            problems.append(Problem("metadata-invalid", detail=f"{label} ({name_vi}): longer than {max_length}"))
        values[label] = value

    def code_list(label: str, allowed: set[str], text: str) -> None:
        for code in (c.strip() for c in values.get(label, "").split(",")):
            if code and code not in allowed:
                problems.append(
                    Problem(
                        "metadata-invalid",
                        detail=f'{label}: "{code}" không thuộc danh mục {text} / not in code list {text}',
                    )
                )

    code_list("maintenance", MAINTENANCE_CODES, "01–07")
    code_list("mode", MODE_CODES, "01–03")
    code_list("language", LANGUAGE_CODES, "01–11")
    dates: dict[str, date] = {}
    for label in ("startDate", "endDate"):
        if label in values:
            try:
                dates[label] = parse_vn_date(values[label])
            except ValueError as exc:
                problems.append(Problem("metadata-invalid", detail=f"{label}: {exc} / không đúng định dạng DD/MM/YYYY"))
    if len(dates) == 2 and dates["startDate"] > dates["endDate"]:
        problems.append(
            Problem("metadata-invalid", detail="startDate is after endDate / ngày bắt đầu sau ngày kết thúc")
        )
    return problems

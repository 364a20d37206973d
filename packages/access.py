"""Access regimes carried by a SIP: the dossier's ``mode`` (TT 05/2025 chế độ sử dụng) and optional
per-file overrides in the tag file ``access-rules.csv``.

``mode`` codes: 01 công khai (public), 02 sử dụng có điều kiện (restricted), 03 mật (confidential).
``access-rules.csv`` (UTF-8, header ``path,mode,embargo_until,basis``) lets a file be stricter or
looser than its dossier, with an embargo date (DD/MM/YYYY) and the legal basis. It is a tag file the
producer writes, bounded like ``bag-info.txt`` (``max_tag_file_bytes``).
"""

from __future__ import annotations

import csv
import io
import stat
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from packages import bagit_reader
from packages.limits import MAX_TAG_FILE_BYTES
from packages.problems import Problem
from packages.vn_profile import parse_vn_date

ACCESS_RULES_FILE = "access-rules.csv"
MODES = {"01": "public", "02": "restricted", "03": "confidential"}


@dataclass(frozen=True)
class AccessRule:
    mode: str  # public | restricted | confidential
    embargo_until: date | None = None
    basis: str = ""

    def to_dict(self) -> dict[str, str | None]:
        return {
            "mode": self.mode,
            "embargo_until": self.embargo_until.isoformat() if self.embargo_until else None,
            "basis": self.basis,
        }


def mode_from_code(code: str | None) -> str:
    """TT 05 code (or its English name) to a regime; unknown or missing means restricted, never public."""
    if not code:
        return "restricted"
    code = code.strip()
    return MODES.get(code, code if code in MODES.values() else "restricted")


def dossier_rule(bag_info: dict[str, str]) -> AccessRule:
    lowered = {k.lower(): v for k, v in bag_info.items()}
    embargo = lowered.get("embargountil")
    return AccessRule(
        mode=mode_from_code(lowered.get("mode")),
        embargo_until=parse_vn_date(embargo) if embargo else None,
        basis=lowered.get("accessbasis", ""),
    )


def parse_access_rules(bag_root: Path, payload_paths: set[str], *, max_bytes: int = MAX_TAG_FILE_BYTES,
                       ) -> tuple[dict[str, AccessRule], list[Problem]]:
    """The per-file rules of ``access-rules.csv``, and a problem for each line that cannot be used.

    The file comes from the producer, so it is read as hostile input: at most ``max_bytes`` (the SIP's
    ``max_tag_file_bytes``, KHO_SIP_MAX_TAG_FILE_BYTES), checked by ``stat`` before reading and again
    while reading (``tag-file-too-large``, naming the limit); a symbolic link is never followed; and a
    line the ``csv`` module refuses (a lone CR inside a field, a field over its 128 KiB limit) is a
    problem naming the line, never an exception out of ``validate_sip``."""
    path = bag_root / ACCESS_RULES_FILE
    if not _regular_file(path):
        return {}, []
    problems: list[Problem] = []
    rules: dict[str, AccessRule] = {}
    try:
        data = bagit_reader.read_limited(path, max_bytes, ACCESS_RULES_FILE)
    except bagit_reader.TagFileError as exc:
        return {}, [Problem(exc.code, path=ACCESS_RULES_FILE, detail=exc.detail)]
    except OSError as exc:
        return {}, [Problem("unreadable", path=ACCESS_RULES_FILE, detail=str(exc))]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return {}, [Problem("metadata-invalid", detail=f"{ACCESS_RULES_FILE} is not UTF-8: {exc}")]
    # newline="": the csv module sees CR, LF and CRLF as they are (a quoted field may hold them)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fieldnames = reader.fieldnames
        if fieldnames is None or not {"path", "mode"} <= set(fieldnames):
            return {}, [Problem("metadata-invalid", detail=f"{ACCESS_RULES_FILE} needs the columns path,mode")]
        for row in reader:
            number = reader.line_num  # the physical line where the row ends (quoted fields may span lines)
            where = f"{ACCESS_RULES_FILE} line {number}"
            problem = _add_rule(row, where, payload_paths, rules)
            if problem is not None:
                problems.append(problem)
    except csv.Error as exc:
        problems.append(Problem("metadata-invalid",
                                detail=f"{ACCESS_RULES_FILE} line {reader.line_num}: not CSV / không đúng định dạng "
                                       f"CSV: {exc}"))
    return rules, problems


def _add_rule(row: dict[str | Any, str | Any], where: str, payload_paths: set[str],
              rules: dict[str, AccessRule]) -> Problem | None:
    """One row of ``access-rules.csv`` into ``rules``; the problem when it cannot be used."""
    target = _text(row.get("path"))
    if target not in payload_paths:
        return Problem("metadata-invalid", detail=f"{where}: {target[:300]!r} is not a payload file")
    code = _text(row.get("mode"))
    if code not in MODES:
        return Problem("metadata-invalid",
                       detail=f'{where}: mode "{code[:30]}" không thuộc danh mục 01–03 / not in code list 01–03')
    embargo_text = _text(row.get("embargo_until"))
    try:
        embargo = parse_vn_date(embargo_text) if embargo_text else None
    except ValueError as exc:
        return Problem("metadata-invalid", detail=f"{where}: embargo_until {str(exc)[:100]}")
    rules[target] = AccessRule(MODES[code], embargo, _text(row.get("basis")))
    return None


def _text(value: object) -> str:
    """A cell as stripped text. ``csv.DictReader`` gives None for missing cells and a list for the extra
    cells of a row longer than the header (under the key None): neither is a usable value."""
    return value.strip() if isinstance(value, str) else ""


def _regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


ROLES = ("reader", "archivist", "administrator")


def may_see(role: str, rule: AccessRule, today: date) -> tuple[bool, str]:
    """Whether a requester of ``role`` may receive a file under ``rule``, and why not.

    The reason (which may quote the legal basis) is for the server's own use: a requester is told only
    how many files were withheld, never which or why (``preservation.dip``)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {ROLES}")
    if role == "administrator":
        return True, ""
    if rule.mode == "confidential":
        return False, "confidential (mật) / tài liệu mật" + (f"; basis: {rule.basis}" if rule.basis else "")
    if role == "archivist":
        return True, ""
    if rule.mode == "restricted":
        return False, "restricted (sử dụng có điều kiện) / hạn chế sử dụng" + (
            f"; basis: {rule.basis}" if rule.basis else ""
        )
    if rule.embargo_until and rule.embargo_until > today:
        return False, f"embargoed until {rule.embargo_until:%d/%m/%Y} / chưa đến hạn công bố"
    return True, ""

"""Access regimes carried by a SIP: the dossier's ``mode`` (TT 05/2025 chế độ sử dụng) and optional
per-file overrides in the tag file ``access-rules.csv``.

``mode`` codes: 01 công khai (public), 02 sử dụng có điều kiện (restricted), 03 mật (confidential).
``access-rules.csv`` (UTF-8, header ``path,mode,embargo_until,basis``) lets a file be stricter or
looser than its dossier, with an embargo date (DD/MM/YYYY) and the legal basis.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from packages.sip import Problem
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


def parse_access_rules(bag_root: Path, payload_paths: set[str]) -> tuple[dict[str, AccessRule], list[Problem]]:
    path = bag_root / ACCESS_RULES_FILE
    if not path.is_file():
        return {}, []
    problems: list[Problem] = []
    rules: dict[str, AccessRule] = {}
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return {}, [Problem("metadata-invalid", detail=f"{ACCESS_RULES_FILE} is not UTF-8: {exc}")]
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"path", "mode"} <= set(reader.fieldnames):
        return {}, [Problem("metadata-invalid", detail=f"{ACCESS_RULES_FILE} needs the columns path,mode")]
    for number, row in enumerate(reader, start=2):
        where = f"{ACCESS_RULES_FILE} line {number}"
        target = (row.get("path") or "").strip()
        if target not in payload_paths:
            problems.append(Problem("metadata-invalid", detail=f"{where}: {target!r} is not a payload file"))
            continue
        code = (row.get("mode") or "").strip()
        if code not in MODES:
            problems.append(
                Problem(
                    "metadata-invalid",
                    detail=f'{where}: mode "{code}" không thuộc danh mục 01–03 / not in code list 01–03',
                )
            )
            continue
        embargo_text = (row.get("embargo_until") or "").strip()
        try:
            embargo = parse_vn_date(embargo_text) if embargo_text else None
        except ValueError as exc:
            problems.append(Problem("metadata-invalid", detail=f"{where}: embargo_until {exc}"))
            continue
        rules[target] = AccessRule(MODES[code], embargo, (row.get("basis") or "").strip())
    return rules, problems


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

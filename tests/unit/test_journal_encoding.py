"""The storage journal's streamed writer gives ``encode``'s exact bytes (the format rebuild reads)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from preservation.journal import JournalError, Rows, decode, encode, write_encoded


def _rows(count: int) -> list[dict[str, Any]]:
    return [{"path": f"representations/rep1/data/hồ sơ {n:05d}.pdf", "size": n, "sha256": f"{n:064x}",
             "mime": None, "extra": {"b": 1, "a": [1, 2]}} for n in range(count)]


BODIES: list[dict[str, Any]] = [
    {"format": "kho-journal/1", "aip_id": None, "events": [{"seq": 1, "detail": "Tiếp nhận"}], "agents": []},
    {"format": "kho-journal/1", "aip_id": "a1", "events": [], "agents": [], "written_at": "2026-12-05T00:00:00Z",
     "aip": {"title": "Ủy ban nhân dân"}, "copies": [], "files": {"version": "v1", "rows": _rows(3)}},
    {"aaa": 1},  # every member before the digest
    {"zzz": {"nested": [1, 2, {"k": "v"}]}},  # every member after it
    {},
]


@pytest.mark.parametrize("body", BODIES)
def test_streamed_file_is_byte_identical_to_encode(tmp_path: Path, body: dict[str, Any]) -> None:
    expected = encode(body)
    streamed = dict(body)
    if "files" in body:  # the file rows as the flush gives them: a one-pass iterator
        streamed["files"] = {**body["files"], "rows": Rows(iter(body["files"]["rows"]))}
    target = tmp_path / "entry.json"
    digest = write_encoded(streamed, target)
    assert target.read_bytes() == expected
    assert digest == hashlib.sha256(expected).hexdigest()
    if "format" in body:
        assert decode(target.read_bytes(), "entry") == body
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry.json"]  # the spooled halves are gone


def test_a_changed_byte_is_caught_by_decode(tmp_path: Path) -> None:
    target = tmp_path / "entry.json"
    write_encoded({"format": "kho-journal/1", "files": {"rows": Rows(iter(_rows(5)))}}, target)
    data = target.read_bytes().replace(b"00003", b"00004", 1)
    with pytest.raises(JournalError, match="does not match its sha256"):
        decode(data, "entry")


def test_a_body_holding_a_digest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="its own digest"):
        write_encoded({"sha256": "x"}, tmp_path / "entry.json")

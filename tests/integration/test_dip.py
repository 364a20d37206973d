"""DIPs on request within access rights, and the auditor's trail (export filters, chain verification)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from packages.eark import validate_eark
from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.helpers import mets_schema, premis_schema, rewrite_manifest
from tests.stored import stored_file


@pytest.fixture
def public_aip(kho_home: Path, sample_sip: Path, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """The public dossier, with one file marked confidential and one embargoed in access-rules.csv."""
    (sample_sip / "access-rules.csv").write_text(
        "path,mode,embargo_until,basis\n"
        "data/Ghi chú.txt,03,,Luật Bảo vệ bí mật nhà nước 2018\n"
        "data/Danh mục.xml,01,01/01/2999,embargo của cơ quan nộp lưu\n", encoding="utf-8")
    rewrite_manifest(sample_sip)
    env = {"KHO_STORAGE": f"{(tmp_path / 'a').as_uri()},{(tmp_path / 'b').as_uri()}"}
    out = json.loads(run_kho("ingest", str(sample_sip), "--json", env=env, check=True).stdout)
    return str(out["aip_id"]), env


def dip(aip_id: str, env: dict[str, str], out: Path, *args: str) -> dict[str, Any]:
    result = run_kho("dip", aip_id, "--requester", "Nguyễn Thị Mai", "--purpose", "01 nghiên cứu", "-o", str(out),
                     "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_reader_gets_access_copies_and_a_withheld_count(public_aip: tuple[str, dict[str, str]],
                                                         tmp_path: Path) -> None:
    aip_id, env = public_aip
    out = dip(aip_id, env, tmp_path / "dips", "--role", "reader", "--research-topic", "Lịch sử giao thông Hà Tĩnh")
    assert out["withheld_count"] == 2 and "withheld" not in out
    assert "Ghi chú" not in json.dumps(out, ensure_ascii=False) and "Bảo vệ bí mật" not in json.dumps(
        out, ensure_ascii=False)
    delivered = {d["path"]: d for d in out["delivered"]}
    assert delivered["representations/access/data/Tờ trình.pdf"]["copy"] == "preservation"  # DOCX → PDF/A
    assert delivered["representations/access/data/ảnh/Bản đồ.jpg"]["copy"] == "access"  # TIFF → JPEG
    assert delivered["representations/access/data/ảnh/Lễ khánh thành.jpg"]["copy"] == "original"
    archive = zipfile.ZipFile(str(out["zip"]))
    names = archive.namelist()
    top = Path(str(out["directory"])).name
    assert top == f"DIP-{aip_id}-1"
    assert f"{top}/representations/access/data/Tờ trình.pdf" in names
    assert not any("Ghi chú" in n for n in names)
    assert archive.read(f"{top}/representations/access/data/Tờ trình.pdf").startswith(b"%PDF")
    mets = etree.fromstring(archive.read(f"{top}/METS.xml"))
    assert mets_schema().validate(mets.getroottree())
    report = validate_eark(Path(str(out["zip"])), strict=True)  # E-ARK DIP 2.2, every file listed (decision 0015)
    assert report.valid and report.kind == "DIP", [f.line() for f in report.failures]
    assert {f.path for f in report.files} == {n.removeprefix(f"{top}/") for n in names} - {"METS.xml"}
    ns = {"m": "http://www.loc.gov/METS/"}
    assert mets.findtext(".//m:altRecordID[@TYPE='AIP']", namespaces=ns) == f"urn:uuid:{aip_id}"
    assert mets.findtext(".//m:altRecordID[@TYPE='researchTopic']", namespaces=ns) == "Lịch sử giao thông Hà Tĩnh"
    assert mets.findtext(".//m:altRecordID[@TYPE='requestDate']", namespaces=ns)
    rows = list(csv.DictReader(io.StringIO(archive.read(f"{top}/metadata.csv").decode("utf-8"))))
    assert rows and rows[0]["title"] == "Hồ sơ về việc khánh thành cầu Cửa Hội"
    assert "Contact-Name" not in rows[0], "personal data is dropped for readers"
    index = archive.read(f"{top}/index.html").decode("utf-8")
    assert "withheld (2)" in index and "Ghi chú" not in index and "confidential" not in index
    withheld = list(csv.DictReader(io.StringIO(archive.read(f"{top}/withheld.csv").decode("utf-8"))))
    assert len(withheld) == 1 and withheld[0]["withheld_files"] == "2"
    for name in names:
        text = archive.read(name).decode("utf-8", "replace")
        assert "Ghi chú.txt" not in text and "Bảo vệ bí mật" not in text and "Danh mục.xml" not in text, name
    events = json.loads(run_kho("aip", "show", aip_id, "--json", env=env, check=True).stdout)["events"]
    dissemination = [e for e in events if e["type"] == "dissemination"]
    assert len(dissemination) == 1 and "Nguyễn Thị Mai" in dissemination[0]["detail"]
    assert "01 nghiên cứu" in dissemination[0]["detail"] and "2 withheld" in dissemination[0]["outcome_detail"]
    assert "Ghi chú" not in dissemination[0]["outcome_detail"], "archivists read the trail: ids, not names"
    assert "Bảo vệ bí mật" not in dissemination[0]["outcome_detail"]


def test_archivist_sees_all_but_confidential_and_administrator_all(public_aip: tuple[str, dict[str, str]],
                                                                   tmp_path: Path) -> None:
    aip_id, env = public_aip
    archivist = dip(aip_id, env, tmp_path / "dips", "--role", "archivist")
    assert archivist["withheld_count"] == 1, "only the confidential file, and only counted"
    metadata = (Path(str(archivist["directory"])) / "metadata.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(metadata)))
    assert rows[0]["Contact-Name"] == "Nguyễn Văn An"
    admin = dip(aip_id, env, tmp_path / "dips", "--role", "administrator")
    assert admin["withheld_count"] == 0 and Path(str(admin["directory"])).name == f"DIP-{aip_id}-2"


def test_restricted_dossier_gives_a_reader_nothing(kho_home: Path, tmp_path: Path) -> None:
    aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json",
                                check=True).stdout)["aip_id"]
    out = dip(aip_id, {}, tmp_path / "dips", "--role", "reader")
    assert out["delivered"] == [] and out["withheld_count"] == 3


def test_selected_files_only_and_bad_copy_never_delivered(public_aip: tuple[str, dict[str, str]],
                                                          tmp_path: Path) -> None:
    aip_id, env = public_aip
    first = Path(env["KHO_STORAGE"].split(",")[0].removeprefix("file://"))
    damaged = stored_file(first, aip_id, "representations/rep-01/data/ảnh/Lễ khánh thành.jpg")
    good = damaged.read_bytes()
    damaged.write_bytes(good[:-5] + b"XXXXX")
    out = dip(aip_id, env, tmp_path / "dips", "--role", "reader", "--files", "data/ảnh/Lễ khánh thành.jpg")
    assert [d["path"] for d in out["delivered"]] == ["representations/access/data/ảnh/Lễ khánh thành.jpg"]
    delivered = Path(str(out["directory"])) / "representations/access/data/ảnh/Lễ khánh thành.jpg"
    assert delivered.read_bytes() == good
    assert out["repaired"] is True and damaged.read_bytes() == good
    unknown = run_kho("dip", aip_id, "--requester", "x", "--files", "data/none.pdf", env=env)
    assert unknown.returncode == 1 and "data/none.pdf" in unknown.stderr
    assert run_kho("dip", "no-such-aip", "--requester", "x").returncode == 1


def test_an_unreachable_location_during_a_dip_is_passed_over(public_aip: tuple[str, dict[str, str]],
                                                              tmp_path: Path) -> None:
    """The first location's root is gone (an unmounted disk): the DIP comes from the second, verified."""
    aip_id, env = public_aip
    first = Path(env["KHO_STORAGE"].split(",")[0].removeprefix("file://"))
    moved = first.with_name(first.name + "-unmounted")
    first.rename(moved)
    try:
        out = dip(aip_id, env, tmp_path / "dips", "--role", "reader", "--files", "data/ảnh/Lễ khánh thành.jpg")
    finally:
        moved.rename(first)
    [delivered] = out["delivered"]
    second = env["KHO_STORAGE"].split(",")[1]
    assert delivered["fetched_from"] == second
    path = Path(str(out["directory"])) / delivered["path"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == delivered["sha256"]


@pytest.mark.storage_left_damaged("every copy of an object is damaged on purpose: the DIP must refuse")
def test_no_verified_copy_stops_the_dip(kho_home: Path, tmp_path: Path) -> None:
    aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json",
                                check=True).stdout)["aip_id"]
    target = stored_file(kho_home / "storage", aip_id, "representations/rep-01/data/ảnh/Lễ khánh thành.jpg")
    target.write_bytes(b"broken")
    result = run_kho("dip", aip_id, "--requester", "x", "--role", "administrator", "-o", str(tmp_path / "d"))
    assert result.returncode == 1 and "SHA-256" in result.stderr
    assert not list((tmp_path / "d").glob("DIP-*"))
    events = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)["events"]
    assert any(e["type"] == "fixity check" and e["outcome"] == "failure" for e in events)


def test_events_export_filters_and_premis_validity(public_aip: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    aip_id, env = public_aip
    dip(aip_id, env, tmp_path / "dips", "--role", "reader")
    run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), env=env, check=True)
    everything = json_lines(run_kho("events", "export", "--format", "json", env=env, check=True).stdout)
    assert len({e["aip_id"] for e in everything}) == 2
    by_agent = json_lines(run_kho("events", "export", "--agent", "Nguyễn Thị Mai", "--format", "json", env=env,
                                  check=True).stdout)
    assert [e["event_type"] for e in by_agent] == ["dissemination"]
    future = json_lines(run_kho("events", "export", "--since", "2999-01-01", "--format", "json", env=env).stdout)
    assert future == []
    target = tmp_path / "all.xml"
    run_kho("events", "export", "--format", "premis", "-o", str(target), env=env, check=True)
    schema = premis_schema()
    assert schema.validate(etree.parse(str(target))), schema.error_log


def test_events_verify_names_the_edited_deleted_or_reordered_event(kho_home: Path) -> None:
    run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), check=True)
    assert run_kho("events", "verify", check=True).returncode == 0
    database = kho_home / "catalog.sqlite"
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE events SET outcome_detail = 'all fine' WHERE seq = 5")
    edited = run_kho("events", "verify")
    assert edited.returncode == 1 and "event #5" in edited.stderr and "edited" in edited.stderr
    run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), check=True)  # later events do not hide it
    still = run_kho("events", "verify")
    assert still.returncode == 1 and "event #5" in still.stderr


def test_reordered_events_are_named(kho_home: Path) -> None:
    run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), check=True)
    with sqlite3.connect(kho_home / "catalog.sqlite") as conn:
        a = conn.execute("SELECT event_datetime, event_type FROM events WHERE seq = 3").fetchone()
        b = conn.execute("SELECT event_datetime, event_type FROM events WHERE seq = 4").fetchone()
        conn.execute("UPDATE events SET seq = -3 WHERE seq = 3")
        conn.execute("UPDATE events SET seq = 3 WHERE seq = 4")
        conn.execute("UPDATE events SET seq = 4 WHERE seq = -3")
    assert a != b
    result = run_kho("events", "verify")
    assert result.returncode == 1 and "event #3" in result.stderr


def test_deleted_event_is_named(kho_home: Path) -> None:
    run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), check=True)
    with sqlite3.connect(kho_home / "catalog.sqlite") as conn:
        conn.execute("DELETE FROM events WHERE seq = 7")
    result = run_kho("events", "verify")
    assert result.returncode == 1 and "event #8" in result.stderr and "deleted" in result.stderr


def test_aip_history_is_a_readable_timeline(kho_home: Path) -> None:
    aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json",
                                check=True).stdout)["aip_id"]
    history = run_kho("aip", "history", aip_id, check=True).stdout
    lines = history.splitlines()
    assert "Hồ sơ về việc khánh thành cầu Cửa Hội" in lines[0]
    assert "ingestion start" in history and "normalization" in history and "ingestion end" in history

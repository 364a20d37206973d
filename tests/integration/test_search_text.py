"""The records' text is searchable (issue #19 D, decision 0029): ``kho ingest`` extracts the text of a born-digital
PDF and a DOCX (made here by LibreOffice from Vietnamese text), keeps it in the AIP and indexes it; ``kho search``
finds the AIP by a word that only its files hold, accents ignored, on SQLite and on PostgreSQL; after ``kho
catalog rebuild`` it still does; a reader never finds a restricted dossier, nor a public dossier by the text of
a confidential file in it. A digitised SIP (``kho digitise``) is found by its OCR text."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bagit
import pytest
from sqlalchemy import create_engine, text

from preservation.catalog import Catalog
from preservation.config import load_settings
from preservation.search import open_index
from tests.conftest import run_kho
from tests.helpers import PG_SERVER, pg_schema
from tests.stored import object_dir

pytestmark = pytest.mark.timeout(900)
needs_tools = pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdftotext") is None,
                                 reason="LibreOffice and poppler-utils are needed")
BAG_INFO = {
    "Source-Organization": "Ủy ban nhân dân tỉnh Hà Tĩnh", "Contact-Name": "Nguyễn Văn An",
    "External-Identifier": "H40.2024.07-VP", "fileCode": "H40.2024.07-VP",
    "title": "Hồ sơ công trình thủy lợi năm 2024", "maintenance": "01", "mode": "01", "language": "01",
    "startDate": "02/01/2024", "endDate": "28/12/2024", "totalDoc": "2",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, kho_home: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
        return
    with pg_schema("kho_text") as url:
        yield {"KHO_DATABASE_URL": url}


def lose_catalog(env: dict[str, str], home: Path) -> None:
    if not env:
        for name in ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"):
            (home / name).unlink(missing_ok=True)
        return
    schema = env["KHO_DATABASE_URL"].rsplit("%3D", 1)[1]
    engine = create_engine(PG_SERVER)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


MADE: dict[tuple[str, tuple[str, ...]], bytes] = {}  # LibreOffice's files, made once for both engines


def office(lines: list[str], target: Path, convert_to: str, work: Path) -> Path:
    """A real born-digital file from LibreOffice: ``lines`` of UTF-8 text converted to PDF or DOCX (in an
    ASCII-named folder ``work``: LibreOffice's profile URL is not percent-encoded here)."""
    key = (convert_to, tuple(lines))
    if key in MADE:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(MADE[key])
        return target
    work.mkdir(parents=True)
    source = work / "doc.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run(["soffice", "--headless", "--norestore", "--nolockcheck",
                    f"-env:UserInstallation={(work / 'profile').as_uri()}", "--infilter=Text (encoded):UTF8",
                    "--convert-to", convert_to, "--outdir", str(work), str(source)],
                   check=True, capture_output=True, timeout=180)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(work / f"doc.{convert_to.split(':')[0]}", target)
    shutil.rmtree(work)
    MADE[key] = target.read_bytes()
    return target


def sip(root: Path, files: dict[str, list[str]], *, rules: str | None = None, **bag_info: str) -> Path:
    """A BagIt SIP whose payload is ``files`` (name -> lines), PDFs and DOCX made by LibreOffice."""
    data = root / "payload"
    data.mkdir(parents=True)
    for number, (name, lines) in enumerate(files.items()):
        office(lines, data / name, "pdf:writer_pdf_Export" if name.endswith(".pdf") else "docx:MS Word 2007 XML",
               root / f"lo-{number}")
    bagit.make_bag(str(data), {**BAG_INFO, **bag_info}, checksums=["sha256"])
    if rules is not None:
        (data / "access-rules.csv").write_text(rules, encoding="utf-8")
        bag = bagit.Bag(str(data))
        bag.save()  # the tag manifest covers the new tag file
    return data


def kho(env: dict[str, str], *args: str) -> Any:
    return run_kho(*args, env=env, check=True)


def search(env: dict[str, str], query: str, role: str = "reader") -> set[str]:
    """What ``kho search QUERY --as ROLE`` finds, asked in-process (the same index and query; a subprocess a
    question made this test twice as long): the CLI itself is asked once, in the test."""
    catalog = Catalog(load_settings({"KHO_HOME": os.environ["KHO_HOME"], **env}).database_url)
    try:
        return {hit.aip_id for hit in open_index(catalog).search(query, role=role, limit=100).hits}
    finally:
        catalog.close()


def search_cli(env: dict[str, str], query: str, role: str = "reader") -> set[str]:
    found = json.loads(kho(env, "search", query, "--as", role, "--json").stdout)
    return {hit["aip_id"] for hit in found["hits"]}


@needs_tools
def test_text_of_pdf_and_docx_is_stored_and_found_by_role_and_after_rebuild(
        env: dict[str, str], kho_home: Path, tmp_path: Path) -> None:
    public = sip(tmp_path / "public", {
        "Quyết định khánh thành.pdf": ["QUYẾT ĐỊNH", "Về việc khánh thành đập thủy lợi Kẻ Gỗ"],
        "Tờ trình.docx": ["Tờ trình nghiệm thu kênh mương Vũng Áng"],
        "Biên bản mật.docx": ["Biên bản kiểm kê kho vũ khí Thạch Hà"],
    }, rules="path,mode,embargo_until,basis\ndata/Biên bản mật.docx,03,,Luật Bảo vệ bí mật nhà nước\n")
    restricted = sip(tmp_path / "restricted", {"Công văn.pdf": ["Công văn về việc di dời dân cư Sơn Kim"]},
                     mode="02", fileCode="H40.2024.08-VP", **{"External-Identifier": "H40.2024.08-VP"})
    embargoed = sip(tmp_path / "embargoed", {"Nghị quyết.docx": ["Nghị quyết quy hoạch thị xã Hồng Lĩnh"]},
                    embargoUntil="01/01/2090", fileCode="H40.2024.09-VP", **{"External-Identifier": "H40.2024.09-VP"})
    public_id = json.loads(kho(env, "ingest", str(public), "--json").stdout)["aip_id"]
    restricted_id = json.loads(kho(env, "ingest", str(restricted), "--json").stdout)["aip_id"]
    embargoed_id = json.loads(kho(env, "ingest", str(embargoed), "--json").stdout)["aip_id"]

    # the text is kept with the AIP, one file an original, listed in METS
    content = object_dir(kho_home / "storage", public_id) / "v1" / "content"
    index = json.loads((content / "metadata/preservation/text/text.json").read_text(encoding="utf-8"))
    by_path = {e["path"]: e for e in index["files"]}
    assert {by_path["data/Quyết định khánh thành.pdf"]["method"], by_path["data/Tờ trình.docx"]["method"]} == {
        "pdftotext", "ooxml-docx"}
    stored = (content / by_path["data/Quyết định khánh thành.pdf"]["text"]).read_text(encoding="utf-8")
    assert "khánh thành đập thủy lợi Kẻ Gỗ" in stored
    mets = (content / "METS.xml").read_text(encoding="utf-8")
    assert all(e["text"] in mets for e in index["files"]) and "metadata/preservation/text/text.json" in mets

    def check() -> None:
        # accents ignored; words that only the files' text holds (not the title or any metadata)
        assert search_cli(env, "khanh thanh ke go") == {public_id}
        assert search(env, "Vũng Áng") == {public_id}
        assert search(env, '"kenh muong vung ang"') == {public_id}
        # a restricted dossier: its text is searched by staff, never by a reader
        assert search(env, "son kim") == set()
        assert search(env, "son kim", "archivist") == {restricted_id}
        # a public dossier under embargo: not by a reader until the embargo ends
        assert search(env, "hong linh") == set() and search(env, "hong linh", "archivist") == {embargoed_id}
        # a confidential file of a public dossier: its text stays in the AIP and out of the index
        assert search(env, "thach ha", "reader") == set() and search(env, "thach ha", "administrator") == set()

    check()
    lose_catalog(env, kho_home)
    report = json.loads(kho(env, "catalog", "rebuild", "--json").stdout)
    assert report["aips"] == 3 and not report["problems"], report
    check()


needs_ocr = pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")


@needs_ocr
def test_a_digitised_dossier_is_found_by_its_ocr_text(kho_home: Path, tmp_path: Path) -> None:
    from tests.integration.test_digitise import FONT, document, page, write_metadata

    if not FONT.is_file():
        pytest.skip("fonts-dejavu-core is not installed")
    scans = tmp_path / "scans"
    (scans / "qd-01").mkdir(parents=True)
    page(["Quyết định phê duyệt dự án đê biển Cẩm Nhượng"]).save(scans / "qd-01" / "trang1.png", dpi=(300, 300))
    metadata = write_metadata(tmp_path / "hoso.json", [document("qd-01", 1)])
    made = tmp_path / "sip"
    result = run_kho("digitise", str(scans), "--metadata", str(metadata), "-o", str(made), timeout=600)
    assert result.returncode == 0, result.stderr
    aip_id = json.loads(run_kho("ingest", str(made), "--json", check=True).stdout)["aip_id"]
    content = object_dir(kho_home / "storage", aip_id) / "v1" / "content"
    index = json.loads((content / "metadata/preservation/text/text.json").read_text(encoding="utf-8"))
    methods = {Path(e["path"]).suffix: (e["method"], e["reason"]) for e in index["files"]}
    assert methods[".txt"][0] == "plain" and "OCR text" in methods[".pdf"][1], methods  # read once, from the .txt
    found = json.loads(run_kho("search", "de bien cam nhuong", "--as", "reader", "--json", check=True).stdout)
    assert [h["aip_id"] for h in found["hits"]] == [aip_id], found

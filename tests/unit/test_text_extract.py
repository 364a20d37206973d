"""Text extraction for search (format_registry.text, decision 0029) on real files: the format corpus's PDFs and
office files, and hostile ones made here (a truncated PDF, a zip bomb, an entity bomb). A file whose text
cannot be read gives no text and a reason; nothing raises."""

from __future__ import annotations

import shutil
import unicodedata
import zipfile
from pathlib import Path

import pytest

from format_registry import text as text_extract
from format_registry.text import extract_text
from tests.conftest import CORPORA

FORMATS = CORPORA / "formats"
needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")

CONTENT_TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                 'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>')
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx(path: Path, body: bytes, *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("word/document.xml", body)
    return path


def paragraph_xml(*paragraphs: str) -> bytes:
    runs = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    document = f'<w:document xmlns:w="{W}"><w:body>{runs}</w:body></w:document>'
    return ('<?xml version="1.0" encoding="UTF-8"?>' + document).encode()


@needs_pdftotext
@pytest.mark.parametrize(("name", "expected"), [
    ("pdf/lorem-ipsum.pdf", "Lorem ipsum dolor sit amet"),
    ("pdf/simple.pdf", "This is simple document, created in Open Office."),
    ("pdf-encrypted/encryption_nocopy.pdf", "This is a test document"),  # an owner password only: readable
])
def test_born_digital_pdf_text_layer(name: str, expected: str) -> None:
    result = extract_text(FORMATS / name)
    assert result.method == "pdftotext" and expected in result.text and not result.reason, result


@pytest.mark.parametrize(("name", "method", "expected"), [
    ("ooxml/lorem-ipsum.docx", "ooxml-docx", "Lorem ipsum dolor sit amet"),
    ("ooxml/PDF-Sample-Document-Fully-Featured-Layout.docx", "ooxml-docx", "This is a sample document"),
    ("ooxml/fits_samplepptx.pptx", "ooxml-pptx", "Sample PowerPoint File"),
    ("ooxml/fits_DH43D5TQESXBZ8W.xlsx", "ooxml-xlsx", "32-10115-11287"),
    ("odf/lorem-ipsum.oo3.2.odt", "odf", "Lorem ipsum dolor sit amet"),
    ("odf/LibreOfficeCalc_ods_1.3.ods", "odf", "spreadsheet"),
    ("odf/LibreOfficeImpress_odp_1.3.odp", "odf", "An example Impress file"),
    ("text/lorem-ipsum.txt", "plain", "Lorem ipsum dolor sit amet"),
    ("text/jhove-unit_utf8-bom-test.txt", "plain", "testing BOM"),
    ("xml/fits_test.xml", "xml", "Massachusetts Horticultural"),
])
def test_office_text_and_xml_records(name: str, method: str, expected: str) -> None:
    result = extract_text(FORMATS / name)
    assert result.method == method and expected in result.text, result


def test_vietnamese_text_is_nfc_and_lines_are_kept(tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", "Lễ khánh thành cầu Cửa Hội")
    path = docx(tmp_path / "to-trinh.docx", paragraph_xml(decomposed, "Kính gửi: Ủy ban nhân dân tỉnh"))
    result = extract_text(path)
    assert result.text == "Lễ khánh thành cầu Cửa Hội\nKính gửi: Ủy ban nhân dân tỉnh", result
    assert unicodedata.is_normalized("NFC", result.text)
    plain = tmp_path / "ocr.txt"
    plain.write_bytes(("Trang 1\r\n" + decomposed + "\f\x07Trang 2").encode())
    assert extract_text(plain).text == "Trang 1\nLễ khánh thành cầu Cửa Hội\nTrang 2"


@needs_pdftotext
def test_encrypted_and_truncated_pdfs_give_no_text_and_a_reason(tmp_path: Path) -> None:
    locked = extract_text(FORMATS / "pdf-encrypted" / "simple-open-password.pdf")
    assert locked.text == "" and "encrypted" in locked.reason, locked
    whole = (FORMATS / "pdf" / "lorem-ipsum.pdf").read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(whole[: len(whole) * 6 // 10])
    broken = extract_text(truncated)
    assert broken.text == "" and "could not be read" in broken.reason, broken


def test_encrypted_office_file_gives_no_text_and_a_reason() -> None:
    result = extract_text(FORMATS / "encrypted-office" / "fits_WordPasswordProtected.docx")
    assert result.text == "" and "password-protected" in result.reason, result


def test_a_zip_bomb_docx_is_refused_not_inflated(tmp_path: Path) -> None:
    # 8 MiB of spaces inside a paragraph compress to a few KiB: a ratio no office file has
    spaces = paragraph_xml("đầu" + " " * (8 * 1024 * 1024) + "cuối")
    ratio = extract_text(docx(tmp_path / "ratio.docx", spaces))
    assert ratio.text == "" and "zip bomb" in ratio.reason, ratio
    # a part that declares more than the per-part limit (stored: no ratio to judge by)
    big = tmp_path / "big.docx"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        with archive.open("word/document.xml", "w", force_zip64=True) as part:
            chunk = b" " * (1024 * 1024)
            for _ in range(text_extract.MAX_XML_BYTES // len(chunk) + 1):
                part.write(chunk)
    declared = extract_text(big)
    assert declared.text == "" and "zip bomb" in declared.reason, declared


def test_an_entity_bomb_gives_no_text(tmp_path: Path) -> None:
    lol = "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{lol}]><lolz>&lol9;</lolz>'
    path = tmp_path / "bomb.xml"
    path.write_text(bomb, encoding="utf-8")
    result = extract_text(path)
    assert result.text == "" and "entities" in result.reason, result
    inside = extract_text(docx(tmp_path / "bomb.docx", bomb.encode()))
    assert inside.text == "" and "entities" in inside.reason, inside


def test_broken_and_unknown_files_give_a_reason(tmp_path: Path) -> None:
    not_well_formed = extract_text(FORMATS / "xml" / "jhove-unit_not-well-formed.xml")
    assert not_well_formed.text == "" and "not well-formed" in not_well_formed.reason
    binary = extract_text(FORMATS / "text" / "jhove-unit_nulls-only.txt")
    assert binary.text == "" and binary.reason
    legacy = tmp_path / "tcvn3.txt"
    legacy.write_bytes(b"Ho s\xa5 \xfc\xfe\xff")  # not UTF-8: a legacy Vietnamese encoding
    assert "not UTF-8" in extract_text(legacy).reason
    assert extract_text(FORMATS / "archive" / "small_zip.zip").reason  # a zip, not an office file
    image = extract_text(next((FORMATS / "png").iterdir()))
    assert image.text == "" and image.method == ""


def test_text_is_capped_per_file(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("khánh thành " * 1000, encoding="utf-8")
    result = extract_text(path, max_chars=100)
    assert len(result.text) == 100 and result.truncated and "100 characters" in result.reason


def test_no_pdftotext_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    result = extract_text(FORMATS / "pdf" / "simple.pdf")
    assert result.text == "" and "pdftotext not found" in result.reason


def test_a_text_file_that_quotes_a_pdf_header_is_text(tmp_path: Path) -> None:
    path = tmp_path / "ghi-chu.txt"
    path.write_text("Tệp đính kèm bắt đầu bằng %PDF-1.7", encoding="utf-8")
    assert extract_text(path, mime="text/plain").text == "Tệp đính kèm bắt đầu bằng %PDF-1.7"


@pytest.mark.parametrize(("dossier", "until", "file_mode", "file_until", "joins"), [
    ("public", None, None, None, True),  # no rule of its own: the dossier's
    ("public", None, "public", None, True),
    ("public", None, "restricted", None, False),
    ("restricted", None, "public", None, True),  # looser than its dossier: searched as the dossier
    ("restricted", None, "confidential", None, False),
    ("public", None, "public", "2030-01-01", False),  # an embargo of its own the dossier does not have
    ("public", "2031-01-01", "public", "2030-01-01", True),
    ("public", "2029-01-01", "public", "2030-01-01", False),
])
def test_which_files_text_is_searched_with_its_dossier(dossier: str, until: str | None, file_mode: str | None,
                                                        file_until: str | None, joins: bool) -> None:
    from preservation.search.index import text_joins_dossier

    assert text_joins_dossier(dossier, until, file_mode, file_until) is joins


def test_a_corrupt_office_file_gives_a_reason(tmp_path: Path) -> None:
    good = docx(tmp_path / "good.docx", paragraph_xml("Biên bản họp " * 200))
    data = bytearray(good.read_bytes())
    start = data.index(b"word/document.xml") + len("word/document.xml")
    for offset in range(start + 10, start + 60):  # the deflated body of the part, damaged
        data[offset] ^= 0xFF
    broken = tmp_path / "broken.docx"
    broken.write_bytes(bytes(data))
    result = extract_text(broken)
    assert result.text == "" and result.reason, result

"""Honest verdicts on real files: every file of the shared corpus whose source states its validity is
validated, and no file the source calls broken or invalid may come out "valid". Every other
disagreement is listed below by file, with the reason; a new one (or one that went away) fails the test
until the table says why. Broken samples of the kinds that were once called valid are built here too.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import zipfile
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from format_registry.identify import identify
from format_registry.validators import INVALID, NOT_VALIDATED, VALID, WELL_FORMED, ValidationResult, validate_file
from tests.conftest import CORPORA
from tests.helpers import expected_status

FORMATS = CORPORA / "formats"
NOT_VALID = "not-valid"  # the source says broken or invalid, without saying which
_BROKEN_NOTE = ("not well-formed", "not-well-formed", "well-formed=false", "broken", "truncated", "corrupt")

# Remaining disagreements when the validators are told the format the corpus states (EXPECTED.tsv's
# PUID/MIME): path -> (stated, Kho's verdict, why). None of them is an invalid file called valid.
DISAGREEMENTS: dict[str, tuple[str, str, str]] = {
    **{
        f"epub/{name}": (VALID, WELL_FORMED, "EPUB: Kho checks the OCF container and the OPF manifest, not the "
                         "content documents (EPUBCheck is not available), so it cannot say valid")
        for name in ("font_fallback_chain.epub", "issue158.epub", "lorem.epub", "test_svg.epub", "valid-ncx.epub")
    },
    **{
        f"html/{name}": (VALID, NOT_VALIDATED, "HTML: no validator (JHOVE's HTML-hul is not installed here)")
        for name in ("Validate3.2.html", "Validate4.01Frameset.html", "Validate4.01Strict.html",
                     "Validate4.01Trans.html")
    },
    "jp2/bitwiser-icc-corrupted-tagcount-1911.jp2": (
        VALID, WELL_FORMED, "jpylyzer calls it valid; Kho reports the ICC profile's corrupt tag count as a warning"),
    "pdf/jhove-unit_T02-02_007_page-tree-wrong-count.pdf": (
        VALID, WELL_FORMED, "the page tree's /Count is wrong; JHOVE's unit test accepts it, Kho reports it"),
    "pdfa/veraPDFHiResWrongObjectID.pdf": (
        INVALID, WELL_FORMED, "refers to an XObject that does not exist: ISO 32000 reads a missing object as null, "
        "so Kho warns (not valid) where JHOVE says not well-formed"),
    "text/fits_plain-text.txt": (
        VALID, WELL_FORMED, "plain text: a clean decode is not validation (SPSS and SEG-Y files decode too)"),
    "text/fits_simple_webvtt.vtt": (VALID, WELL_FORMED, "WebVTT: encoding checked, cue syntax not validated"),
    **{
        f"xml/{name}": (VALID, WELL_FORMED, "XML: well-formed; Kho holds no schema for its namespace")
        for name in ("fits_KXXJXH4YTGWQ68W.kml", "fits_P3EKWCX2XYWWB8Y.xml", "fits_test.xml",
                     "jhove-unit_mods-well-formed.xml")
    },
}

# Files that are valid as what they really are, while the corpus states the validity of another claim.
# With Kho's own identification (as `kho validate` does it) they are validated as that real format.
IDENTIFIED_AS_ANOTHER_FORMAT: dict[str, str] = {
    "misidentified/is_jpeg.jp2": "a valid JPEG named .jp2; 'Valid JP2: No' is about the JP2 claim, which the "
    "stated-format run checks (invalid); Kho identifies the bytes as JPEG (fmt/43) and, as a JPEG, it is valid",
}


def _rows() -> list[dict[str, str]]:
    return list(csv.DictReader((FORMATS / "EXPECTED.tsv").open(encoding="utf-8"), delimiter="\t"))


def stated(row: dict[str, str]) -> str | None:
    """The validity the row's source states: valid, well-formed, invalid, not-valid, or None."""
    want = expected_status(row["note"])
    broken = any(part.endswith("-broken") for part in Path(row["path"]).parts) or any(
        word in row["note"].split(" [src ")[0].lower() for word in _BROKEN_NOTE
    )
    if want is None and broken:
        return NOT_VALID
    return want


def _stated_format(row: dict[str, str]) -> tuple[str | None, str | None]:
    if "Valid JP2:" in row["note"]:  # jpylyzer's verdict is about the JP2 claim
        return None, "image/jp2"
    return (row["expected_puid"].split(";")[0] or None), (row["expected_mime"] or None)


def _agrees(want: str, got: str) -> bool:
    return got == want or (want == NOT_VALID and got in (WELL_FORMED, INVALID))


@pytest.fixture(scope="module")
def judged() -> list[tuple[dict[str, str], str]]:
    rows = [(row, want) for row in _rows() if (want := stated(row)) is not None]
    assert len(rows) >= 190
    return rows


@pytest.fixture(scope="module")
def by_stated_format(judged: list[tuple[dict[str, str], str]]) -> dict[str, ValidationResult]:
    results = {}
    for row, _ in judged:
        puid, mime = _stated_format(row)
        results[row["path"]] = validate_file(FORMATS / row["path"], puid, mime, use_jhove=False, timeout=60)
    return results


def test_no_invalid_file_is_reported_valid(
    judged: list[tuple[dict[str, str], str]], by_stated_format: dict[str, ValidationResult]
) -> None:
    false_valid = [row["path"] for row, want in judged
                   if want != VALID and by_stated_format[row["path"]].status == VALID]
    assert false_valid == []


def test_every_other_disagreement_is_listed_with_its_reason(
    judged: list[tuple[dict[str, str], str]], by_stated_format: dict[str, ValidationResult]
) -> None:
    found = {
        row["path"]: (want, by_stated_format[row["path"]].status)
        for row, want in judged
        if not _agrees(want, by_stated_format[row["path"]].status)
    }
    table = {path: (want, got) for path, (want, got, _) in DISAGREEMENTS.items()}
    agree = len(judged) - len(found)
    print(f"\n{agree}/{len(judged)} agree; disagreements:\n" + "\n".join(
        f"  {path}: stated {want}, Kho {got}" for path, (want, got) in sorted(found.items())))
    assert found == table
    assert all(want == VALID or got != VALID for want, got, _ in DISAGREEMENTS.values())


def test_kho_validate_path_calls_no_invalid_file_valid(judged: list[tuple[dict[str, str], str]]) -> None:
    """As ``kho validate`` does it: Kho's own identification, then the validator for what it found."""
    false_valid = []
    for row, want in judged:
        if want == VALID:
            continue
        path = FORMATS / row["path"]
        found = identify(path)
        if validate_file(path, found.puid, found.mime, use_jhove=False, timeout=60).status == VALID:
            false_valid.append(row["path"])
    assert set(false_valid) <= set(IDENTIFIED_AS_ANOTHER_FORMAT), false_valid


# ---------------------------------------------------------------------------------------------------
# Broken samples of every kind that was once reported valid


def _zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED if name == "mimetype" else None)
    return path


def _siard(path: Path, sql_type: str, version: str = "2.1") -> Path:
    ns = "http://www.bar.admin.ch/xmlns/siard/2/metadata.xsd"
    metadata = (
        f'<?xml version="1.0" encoding="UTF-8"?><siardArchive xmlns="{ns}" version="{version}">'
        "<dbname>HOSO</dbname><dataOwner>UBND</dataOwner><dataOriginTimespan>2024</dataOriginTimespan>"
        "<schemas><schema><name>PUBLIC</name><folder>schema1</folder><tables><table><name>VANBAN</name>"
        "<folder>table1</folder><columns><column><name>ID</name><type>INTEGER</type></column>"
        f"<column><name>TIEUDE</name><type>{sql_type}</type></column></columns><rows>2</rows>"
        "</table></tables></schema></schemas></siardArchive>"
    ).encode()
    tns = "http://www.admin.ch/xmlns/siard/2/schema1/table1.xsd"
    xsd = (
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns="{tns}" targetNamespace="{tns}" '
        'elementFormDefault="qualified"><xs:element name="table"><xs:complexType><xs:sequence>'
        '<xs:element name="row" type="recordType" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>'
        '</xs:complexType></xs:element><xs:complexType name="recordType"><xs:sequence>'
        '<xs:element name="c1" type="xs:integer"/><xs:element name="c2" type="xs:string"/>'
        "</xs:sequence></xs:complexType></xs:schema>"
    ).encode()
    table = (f'<table xmlns="{tns}"><row><c1>1</c1><c2>Tờ trình</c2></row>'
             "<row><c1>2</c1><c2>Quyết định</c2></row></table>").encode()
    metadata_xsd = (  # a lax stand-in for the official metadata.xsd a SIARD file carries
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{ns}" '
        'elementFormDefault="qualified"><xs:element name="siardArchive"><xs:complexType><xs:sequence>'
        '<xs:any processContents="skip" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>'
        '<xs:attribute name="version" type="xs:string" use="required"/></xs:complexType></xs:element></xs:schema>'
    ).encode()
    return _zip(path, [("header/metadata.xml", metadata), ("header/metadata.xsd", metadata_xsd),
                       (f"header/siardversion/{version}/", b""),
                       ("content/schema1/table1/table1.xml", table), ("content/schema1/table1/table1.xsd", xsd)])


def _wav(path: Path, tag: int) -> Path:
    data = b"\xd5" * 800
    fmt = struct.pack("<HHIIHHH", tag, 1, 8000, 8000, 1, 8, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, len(data)) + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def _jpeg_with_exif_version(path: Path, version: bytes) -> Path:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9000] = version
    Image.new("RGB", (16, 16), (200, 30, 30)).save(path, "JPEG", exif=exif)
    return path


def _por(path: Path, *, truncate: bool = False) -> Path:
    table = bytearray(b"0" * 256)
    table[64:128] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ."
    text = (b"ASCII SPSS PORT FILE".ljust(40) * 5 + bytes(table) + b"SPSSPORTA8/202401156/093000"
            + b"1/3/Kho4/1/5/B/7/1/4/TIEN0/1/1/F1/2/" + b"Z" * 30)
    if truncate:
        text = text[: text.index(b"4/1/")]
    path.write_bytes(b"\r\n".join(text[i:i + 80] for i in range(0, len(text), 80)) + b"\r\n")
    return path


def _warc(path: Path, digest: str) -> Path:
    block = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nXin chao"
    head = (f"WARC/1.1\r\nWARC-Type: response\r\nWARC-Date: 2024-01-15T09:30:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:6f1c1a5e-8d44-4bb4-9a77-4b37c9f1e0a1>\r\n"
            f"WARC-Payload-Digest: sha1:{digest}\r\nContent-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(block)}\r\n\r\n").encode()
    path.write_bytes(head + block + b"\r\n\r\n")
    return path


def test_broken_samples_are_never_valid(tmp_path: Path) -> None:
    import hashlib

    def check(path: Path, puid: str | None, mime: str | None) -> ValidationResult:
        return validate_file(path, puid, mime, use_jhove=False)

    # PDF whose header version contradicts its content (FlateDecode streams under %PDF-1.0)
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].Contents = pdf.make_stream(b"0 0 m 10 10 l S")
    pdf.save(tmp_path / "v.pdf", compress_streams=True)
    data = (tmp_path / "v.pdf").read_bytes()
    (tmp_path / "v10.pdf").write_bytes(b"%PDF-1.0" + data[8:])
    header = check(tmp_path / "v10.pdf", "fmt/14", "application/pdf")
    assert header.status == WELL_FORMED and "pdf.version.content" in {m.id for m in header.messages}
    assert check(tmp_path / "v.pdf", None, "application/pdf").status == VALID  # the same file, honest header

    # ODT whose content.xml is not well-formed, identified only as a ZIP
    odt = _zip(tmp_path / "x.odt", [("mimetype", b"application/vnd.oasis.opendocument.text"),
                                    ("META-INF/manifest.xml", b"<manifest:manifest xmlns:manifest="
                                     b"'urn:oasis:names:tc:opendocument:xmlns:manifest:1.0'/>"),
                                    ("content.xml", b"<office:document-content><text>")])
    broken_odt = check(odt, "x-fmt/263", "application/zip")
    assert (broken_odt.status, broken_odt.module) == (INVALID, "ODF")
    # SIARD whose metadata says INTEGER where the table's XSD and data hold text; then a clean one
    assert check(_siard(tmp_path / "a.siard", "INTEGER"), "fmt/1196", "application/zip").status == WELL_FORMED
    clean = check(_siard(tmp_path / "b.siard", "CHARACTER VARYING(255)"), "fmt/1196", "application/zip")
    assert (clean.status, clean.module) == (VALID, "SIARD")
    assert check(_siard(tmp_path / "c.zip", "CHARACTER VARYING(255)"), None, "application/zip").status == WELL_FORMED
    assert check(_siard(tmp_path / "d.siard", "VARCHAR", "2.0"), "fmt/995", None).status == WELL_FORMED
    # SPSS portable files, as identified by signature and as libmagic's "text/plain"
    assert check(_por(tmp_path / "ok.por"), "fmt/997", None).status == WELL_FORMED
    assert check(_por(tmp_path / "cut.por", truncate=True), "fmt/997", None).status == INVALID
    assert check(_por(tmp_path / "cut2.por", truncate=True), None, "text/plain").status == WELL_FORMED
    # a SEG-Y textual header alone: 40 card images of text
    segy = tmp_path / "line.sgy"
    segy.write_bytes(b"".join(f"C{n:2d} CLIENT KHO".ljust(80).encode() for n in range(1, 41)))
    assert check(segy, "x-fmt/111", "text/plain").status == WELL_FORMED
    # an empty ZIP (an empty ATLAS.ti project), an A-law WAV, a BMP v5, a JPEG with a broken Exif version, an ICO
    empty = tmp_path / "empty.atlproj"
    with zipfile.ZipFile(empty, "w"):
        pass
    assert check(empty, None, "application/zip").status == WELL_FORMED
    alaw = check(_wav(tmp_path / "alaw.wav", 6), "fmt/142", "audio/x-wav")
    assert (alaw.status, alaw.details["encoding"]) == (WELL_FORMED, "G.711 A-law")
    assert check(_wav(tmp_path / "pcm.wav", 1), "fmt/142", "audio/x-wav").status == VALID
    Image.new("RGB", (4, 4)).save(tmp_path / "v5.bmp", "BMP")
    assert check(tmp_path / "v5.bmp", "fmt/119", "image/bmp").status == WELL_FORMED
    exif = check(_jpeg_with_exif_version(tmp_path / "exif.jpg", b"022\x00"), "fmt/43", "image/jpeg")
    assert exif.status == WELL_FORMED and "exif.version" in {m.id for m in exif.messages}
    assert check(_jpeg_with_exif_version(tmp_path / "ok.jpg", b"0232"), "fmt/43", "image/jpeg").status == VALID
    Image.new("RGB", (16, 16)).save(tmp_path / "x.ico", "ICO")
    assert check(tmp_path / "x.ico", "x-fmt/418", "image/vnd.microsoft.icon").status == WELL_FORMED
    # JSON in UTF-16 with a BOM (RFC 8259 requires UTF-8), and with NaN
    (tmp_path / "u16.json").write_bytes(json.dumps({"a": 1}).encode("utf-16"))
    assert check(tmp_path / "u16.json", "fmt/817", "application/json").status == WELL_FORMED
    (tmp_path / "nan.json").write_text('{"a": NaN}')
    assert check(tmp_path / "nan.json", "fmt/817", "application/json").status == INVALID
    # WARC: a payload digest that does not match; then the right one
    payload = b"Xin chao"
    good = hashlib.sha1(payload).hexdigest()
    assert check(_warc(tmp_path / "bad.warc", "0" * 40), "fmt/1281", "application/warc").status == INVALID
    assert check(_warc(tmp_path / "good.warc", good), "fmt/1281", "application/warc").status == VALID
    cut = tmp_path / "cut.warc"
    cut.write_bytes((tmp_path / "good.warc").read_bytes()[:-10])
    assert check(cut, "fmt/1281", "application/warc").status == INVALID


def test_a_tiff_with_empty_tags_is_not_valid(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 128).save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    offset = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[offset:offset + 2])[0]
    last = offset + 2 + 12 * (count - 1)
    data[last + 4:last + 8] = struct.pack("<I", 0)  # the last entry now has no value
    (tmp_path / "empty-tag.tif").write_bytes(bytes(data))
    result = validate_file(tmp_path / "empty-tag.tif", "fmt/353", "image/tiff", use_jhove=False)
    assert result.status == WELL_FORMED and "tiff.tag.count" in {m.id for m in result.messages}
    (tmp_path / "ok.tif").write_bytes(buffer.getvalue())
    assert validate_file(tmp_path / "ok.tif", "fmt/353", "image/tiff", use_jhove=False).status == VALID

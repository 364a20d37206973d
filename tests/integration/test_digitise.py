"""``kho digitise``: scanned pages -> BagIt SIP with a Vietnamese two-layer PDF/A -> ``kho ingest``.

The page images are generated here (Pillow + DejaVu, a known Vietnamese sentence at 300 dpi), so the
corpus is a few small pages and the expected text is known. Bad scans are refused before any OCR runs,
each with its reason and page; a blank page is a warning only.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.conftest import run_kho
from tests.stored import stored_files

SENTENCE = "Ủy ban nhân dân tỉnh Thừa Thiên Huế quyết định khánh thành công trình"
SECOND = "Cộng hòa xã hội chủ nghĩa Việt Nam độc lập tự do hạnh phúc"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")



def _has_vietnamese_ocr() -> bool:
    if shutil.which("tesseract") is None:
        return False
    listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30)
    return "vie" in listed.stdout.split()


needs_ocr = pytest.mark.skipif(not _has_vietnamese_ocr(),
                               reason="Tesseract with the Vietnamese model (tesseract-ocr-vie) is not installed")
needs_font = pytest.mark.skipif(not FONT.is_file(), reason="fonts-dejavu-core is not installed")


def page(lines: list[str], *, dpi: int = 300, mode: str = "RGB", size: tuple[int, int] = (2480, 900)) -> Image.Image:
    """A half-height A4-wide page at ``dpi`` with ``lines`` in 12 pt DejaVu Serif (50 px at 300 dpi)."""
    scale = dpi / 300
    width, height = int(size[0] * scale), int(size[1] * scale)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), max(8, int(50 * scale)))
    for number, text in enumerate(lines):
        draw.text((int(150 * scale), int((150 + number * 110) * scale)), text, font=font, fill="black")
    return image.convert(mode) if mode != "RGB" else image


def blank(dpi: int = 300) -> Image.Image:
    return Image.new("RGB", (2480 * dpi // 300, 900 * dpi // 300), "white")


def hoso(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "hoso": {
            "fileCode": "H40.2024.01-VP", "title": "Hồ sơ về việc khánh thành công trình", "maintenance": "01",
            "mode": "01", "language": "01", "startDate": "02/01/2024", "endDate": "28/12/2024",
            "totalDoc": str(len(documents)), "numberOfPaper": "2", "paperFileCode": "TTLT-HT.K02-G15-H03.125",
            "riskRecovery": "0", "description": "Số hóa từ bản giấy lưu tại hộp H03.",
        },
        "documents": documents,
    }


def document(folder: str, number: int, **fields: str) -> dict[str, Any]:
    return {
        "file": folder, "docId": f"H40.2024.01-VP.{number}", "docCode": f"H40.2024.01-VP.{number:07d}",
        "maintenance": "01", "typeName": "02", "issuedDate": "15/01/2024",
        "organName": "Ủy ban nhân dân tỉnh Thừa Thiên Huế", "subject": "Quyết định về việc khánh thành công trình",
        "language": "01", "mode": "01", "riskRecovery": "0", **fields,
    }


def write_metadata(path: Path, documents: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(hoso(documents), ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def words(text: str) -> list[str]:
    return unicodedata.normalize("NFC", text).lower().split()


def found_share(expected: str, text: str) -> float:
    got = set(words(text))
    wanted = words(expected)
    return sum(w in got for w in wanted) / len(wanted)


def pdf_text(pdf: Path) -> str:
    if shutil.which("pdftotext"):
        return subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                              timeout=60, check=True).stdout
    from pypdf import PdfReader  # pragma: no cover - poppler-utils is in the Makefile's test packages

    return "\n".join(p.extract_text() or "" for p in PdfReader(str(pdf)).pages)


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    """Two documents: a 2-page multi-page TIFF; a PNG page with text and a blank JPEG verso."""
    root = tmp_path / "scans"
    (root / "qd-01").mkdir(parents=True)
    first, second = page([SENTENCE, SECOND]), page([SECOND, SENTENCE])
    first.save(root / "qd-01" / "scan.tif", dpi=(300, 300), compression="tiff_lzw", save_all=True,
               append_images=[second], tiffinfo={271: "Fujitsu", 272: "fi-7160", 305: "PaperStream Capture"})
    (root / "to-trinh 02").mkdir()
    page([SENTENCE]).save(root / "to-trinh 02" / "trang1.png", dpi=(300, 300))
    blank().save(root / "to-trinh 02" / "trang2.jpg", dpi=(300, 300), quality=90)
    return root


@needs_ocr
@needs_font
def test_scans_become_a_sip_that_ingest_stores_with_a_vietnamese_text_layer(
        kho_home: Path, tmp_path: Path, scans: Path) -> None:
    metadata = write_metadata(tmp_path / "hoso.json", [document("qd-01", 1),
                                                       document("to-trinh 02", 2, numberOfPage="2")])
    (scans / "chua-mo-ta").mkdir()  # a folder no document names: a warning, left out of the SIP
    sip = tmp_path / "sip"
    result = run_kho("digitise", str(scans), "--metadata", str(metadata), "-o", str(sip), timeout=600)
    assert result.returncode == 0, result.stderr
    # the blank verso is reported, naming the document, the page and the file, and kept
    assert "warning / cảnh báo: H40.2024.01-VP.0000002 (to-trinh 02), page 2 / trang 2 (to-trinh 02/trang2.jpg)" \
        in result.stderr and "blank" in result.stderr and "trống" in result.stderr
    assert "chua-mo-ta in SCANS_DIR is not the folder of any document" in result.stderr

    written = json.loads((sip / "metadata" / "hoso.json").read_text(encoding="utf-8"))
    docs = written["documents"]
    assert [d["file"] for d in docs] == ["data/H40.2024.01-VP.0000001/H40.2024.01-VP.0000001.pdf",
                                         "data/H40.2024.01-VP.0000002/H40.2024.01-VP.0000002.pdf"]
    assert [d["numberOfPage"] for d in docs] == ["2", "2"]
    assert {d["confidenceLevel"] for d in docs} == {"02"} and written["hoso"]["confidenceLevel"] == "02"
    assert written["hoso"]["numberOfPage"] == "4"
    first = sip / "data" / "H40.2024.01-VP.0000001"
    assert sorted(p.name for p in (first / "masters").iterdir()) == ["scan.tif"]
    assert (first / "masters" / "scan.tif").read_bytes() == (scans / "qd-01" / "scan.tif").read_bytes()
    masters2 = sip / "data" / "H40.2024.01-VP.0000002" / "masters"
    assert sorted(p.name for p in masters2.iterdir()) == ["trang1.png", "trang2.jpg"]  # kept as submitted
    text = (first / "H40.2024.01-VP.0000001.txt").read_text(encoding="utf-8")
    assert text == unicodedata.normalize("NFC", text)
    assert found_share(SENTENCE + " " + SECOND, text) >= 0.8, text
    report = json.loads((sip / "metadata" / "digitisation.json").read_text(encoding="utf-8"))
    assert report["documents"][0]["pages"][0]["dpi"] == [300, 300]
    assert report["documents"][0]["pages"][0]["capture"] == {"make": "Fujitsu", "model": "fi-7160",
                                                             "software": "PaperStream Capture"}
    assert [p["source"] for p in report["documents"][0]["pages"]] == ["qd-01/scan.tif#1", "qd-01/scan.tif#2"]
    assert report["documents"][0]["ocr"]["language"] == "vie"
    assert {d["signature"]["signed"] for d in report["documents"]} == {False}  # no KHO_SIGNING_KEY here
    assert "KHO_SIGNING_KEY" in report["documents"][0]["signature"]["reason"]

    out = run_kho("ingest", str(sip), "--json", timeout=600)
    assert out.returncode == 0, out.stderr + out.stdout
    stored = json.loads(out.stdout)
    aip_id = str(stored["aip_id"])
    files = stored_files(kho_home / "storage", aip_id)
    pdfs = [path for logical, path in files.items() if logical.endswith("H40.2024.01-VP.0000001.pdf")]
    assert pdfs, sorted(files)
    for pdf in pdfs:
        assert pdf.read_bytes()[:5] == b"%PDF-"
        assert found_share(SENTENCE + " " + SECOND, pdf_text(pdf)) >= 0.8
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    assert shown["bag_info"]["confidenceLevel"] == "02"


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SAMPLE_SCANS, BAD_SCANS = FIXTURES / "scans", FIXTURES / "scans-bad"


def _generator() -> Any:
    """``fixtures/generate_scans.py`` as a module (fixtures/ is not a package): the text the pages carry."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("kho_generate_scans", FIXTURES / "generate_scans.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sample_scans_are_small_and_what_the_generator_makes(tmp_path: Path) -> None:
    """The committed samples are the generator's output (regenerate: ``python fixtures/generate_scans.py``)."""
    committed = sorted(p for p in (*SAMPLE_SCANS.rglob("*"), *BAD_SCANS.rglob("*")) if p.is_file())
    assert sum(p.stat().st_size for p in committed) < 1_500_000
    if not FONT.is_file():
        pytest.skip("fonts-dejavu-core is not installed")
    assert _generator().main(["--out", str(tmp_path)]) == 0
    made = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert [p.relative_to(tmp_path) for p in made] == [p.relative_to(FIXTURES) for p in committed]
    for ours, theirs in zip(made, committed, strict=True):
        if ours.suffix == ".json":
            assert ours.read_bytes() == theirs.read_bytes(), theirs
        else:  # pixels, not bytes: another zlib or libjpeg may compress the same page differently
            with Image.open(ours) as a, Image.open(theirs) as b:
                assert (a.size, a.mode, a.info.get("dpi"), getattr(a, "n_frames", 1)) == \
                       (b.size, b.mode, b.info.get("dpi"), getattr(b, "n_frames", 1)), theirs


@needs_ocr
@needs_font
def test_the_sample_scans_in_fixtures_go_through_digitise_and_ingest(kho_home: Path, tmp_path: Path) -> None:
    """The README's walk-through: ``kho digitise fixtures/scans --metadata fixtures/scans/hoso.json -o SIP``,
    then ``kho ingest SIP``: a stored AIP whose PDF/As read back (pdftotext) as the Vietnamese typed on the
    pages, and whose SIP validation has no warning (the masters and texts belong to their documents)."""
    expected = _generator().EXPECTED_TEXT
    sip = tmp_path / "sip"
    result = run_kho("digitise", str(SAMPLE_SCANS), "--metadata", str(SAMPLE_SCANS / "hoso.json"), "-o", str(sip),
                     timeout=900)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr and "refused" not in result.stderr, result.stderr  # hoso.json lies there
    assert "3 documents, 4 pages" in result.stdout + result.stderr
    written = json.loads((sip / "metadata" / "hoso.json").read_text(encoding="utf-8"))
    codes = [d["docCode"] for d in written["documents"]]
    assert [d["numberOfPage"] for d in written["documents"]] == ["2", "1", "1"]
    assert written["hoso"]["numberOfPage"] == "4" and written["hoso"]["confidenceLevel"] == "02"
    report = json.loads((sip / "metadata" / "digitisation.json").read_text(encoding="utf-8"))
    assert [d["profile"] for d in report["documents"]] == ["paper", "paper", "maps-drawings"]
    assert report["documents"][0]["pages"][1]["source"] == "qd-15/scan.tif#2"
    assert report["documents"][0]["pages"][0]["capture"]["make"] == "Fujitsu"

    out = run_kho("ingest", str(sip), "--json", timeout=900)
    assert out.returncode == 0, out.stderr + out.stdout
    aip_id = str(json.loads(out.stdout)["aip_id"])
    files = stored_files(kho_home / "storage", aip_id)
    for code, folder in zip(codes, ("qd-15", "cv-22", "ban-do-03"), strict=True):
        pdfs = [path for logical, path in files.items() if logical.endswith(f"{code}/{code}.pdf")]
        assert len(pdfs) == 1, sorted(files)
        text = pdf_text(pdfs[0])
        assert text == unicodedata.normalize("NFC", text)
        assert found_share(expected[folder], re.sub(r"[^\w\s]", " ", text)) >= 0.9, (folder, text)
        assert any(logical.endswith(f"{code}/{code}.txt") for logical in files)
        assert any(f"{code}/masters/" in logical for logical in files)
    shown = json.loads(run_kho("aip", "show", aip_id, "--json", check=True).stdout)
    assert shown["bag_info"]["confidenceLevel"] == "02"
    sip_check = next(e for e in shown["events"] if e["type"] == "validation" and "BagIt" in e["detail"])
    assert sip_check["outcome"] == "success", sip_check  # no "no document metadata describes" warning


BAD_FIXTURES = {
    # fixtures/scans-bad/<case>: what the refusal says (each case is refused for exactly one reason)
    "low-resolution": ["H40.2024.01-VP.0000001 (trang), page 2 / trang 2 (trang/trang2.png)",
                       "resolution 150 dpi is below the minimum of 200 dpi",
                       "độ phân giải 150 dpi thấp hơn mức tối thiểu 200 dpi"],
    "black-and-white": ["H40.2024.01-VP.0000001 (trang), page 1 / trang 1 (trang/trang1.tif)",
                        "colour mode 1 (1 bits a pixel) is not allowed: RGB of at least 24 bits required",
                        "chế độ màu 1 (1 bit/điểm ảnh) không đạt"],
    "page-count": ["H40.2024.01-VP.0000001 (trang): numberOfPage is 3 but trang/ holds 2 pages",
                   "numberOfPage là 3 nhưng trang/ có 2 trang"],
    "truncated": ["H40.2024.01-VP.0000001 (trang), page 1 / trang 1 (trang/trang1.jpg)",
                  "the image is unreadable or truncated", "ảnh không đọc được hoặc bị cụt"],
    "map-200-dpi": ["H40.2024.01-VP.0000001 (trang), page 1 / trang 1 (trang/ban-do.png)",
                    "resolution 200 dpi is below the minimum of 300 dpi [maps and technical drawings",
                    "độ phân giải 200 dpi thấp hơn mức tối thiểu 300 dpi"],
}


def test_every_bad_fixture_has_its_expected_refusal() -> None:
    assert sorted(p.name for p in BAD_SCANS.iterdir() if p.is_dir()) == sorted(BAD_FIXTURES)


@pytest.mark.parametrize("case", sorted(BAD_FIXTURES))
def test_each_bad_fixture_is_refused_with_its_reason_and_nothing_is_written(
        kho_home: Path, tmp_path: Path, case: str) -> None:
    sip = tmp_path / "sip"
    result = run_kho("digitise", str(BAD_SCANS / case), "--metadata", str(BAD_SCANS / case / "hoso.json"),
                     "-o", str(sip))
    assert result.returncode == 1, result.stderr
    refusals = [line for line in result.stderr.splitlines() if line.startswith("refused / từ chối: ")]
    assert len(refusals) == 1, result.stderr
    for text in BAD_FIXTURES[case]:
        assert text in refusals[0], result.stderr
    assert "nothing written / 1 lỗi: không tạo gói SIP" in result.stderr
    assert not sip.exists() and not list(tmp_path.glob(".sip.partial-*"))


BAD_CASES = {
    # name: (files to write {relname: (image, save options)}, document fields, expected text in the refusal)
    "low-resolution": ({"p1.tif": ("text100", {"dpi": (100, 100), "compression": "tiff_lzw"})}, {},
                       ["page 1 / trang 1 (bad/p1.tif)", "resolution 100 dpi is below the minimum of 200 dpi",
                        "độ phân giải 100 dpi thấp hơn mức tối thiểu 200 dpi"]),
    "truncated-jpeg": ({"p1.jpg": ("truncated", {"dpi": (300, 300), "quality": 90})}, {},
                       ["page 1 / trang 1 (bad/p1.jpg)", "unreadable or truncated", "bị cụt"]),
    "page-count": ({"p1.png": ("text", {"dpi": (300, 300)}), "p2.png": ("text", {"dpi": (300, 300)})},
                   {"numberOfPage": "3"},
                   ["numberOfPage is 3 but bad/ holds 2 pages", "numberOfPage là 3 nhưng bad/ có 2 trang"]),
    "grey-page": ({"p1.png": ("grey", {"dpi": (300, 300)})}, {},
                  ["colour mode L (8 bits a pixel) is not allowed", "chế độ màu L"]),
    "map-at-200-dpi": ({"p1.tif": ("text200", {"dpi": (200, 200)})}, {"typeName": "30"},
                       ["below the minimum of 300 dpi", "maps and technical drawings"]),
}


@needs_font
@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_scans_are_refused_with_their_reason_and_nothing_is_written(
        kho_home: Path, tmp_path: Path, case: str) -> None:
    files, fields, expected = BAD_CASES[case]
    folder = tmp_path / "scans" / "bad"
    folder.mkdir(parents=True)
    for name, (kind, options) in files.items():
        target = folder / name
        if kind == "grey":
            page([SENTENCE], mode="L").save(target, **options)
        elif kind.startswith("text") and kind[4:]:
            page([SENTENCE], dpi=int(kind[4:])).save(target, **options)
        else:
            page([SENTENCE]).save(target, **options)
        if kind == "truncated":
            data = target.read_bytes()
            target.write_bytes(data[: len(data) * 2 // 3])
    metadata = write_metadata(tmp_path / "hoso.json", [document("bad", 1, **fields)])
    sip = tmp_path / "sip"
    result = run_kho("digitise", str(tmp_path / "scans"), "--metadata", str(metadata), "-o", str(sip))
    assert result.returncode == 1, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    assert "H40.2024.01-VP.0000001 (bad)" in result.stderr
    assert not sip.exists() and not list(tmp_path.glob(".sip.partial-*"))


@needs_font
def test_metadata_is_checked_as_it_will_be_written_before_any_ocr(kho_home: Path, tmp_path: Path) -> None:
    """A digitised hồ sơ must name its paper original (TT 05: paperFileCode when confidenceLevel is 02)."""
    (tmp_path / "scans" / "qd").mkdir(parents=True)
    page([SENTENCE]).save(tmp_path / "scans" / "qd" / "p1.png", dpi=(300, 300))
    data = hoso([document("qd", 1, confidenceLevel="01")])
    del data["hoso"]["paperFileCode"]
    (tmp_path / "hoso.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = run_kho("digitise", str(tmp_path / "scans"), "--metadata", str(tmp_path / "hoso.json"),
                     "-o", str(tmp_path / "sip"))
    assert result.returncode == 1, result.stderr
    assert "hoso.json#/hoso" in result.stderr and "paperFileCode" in result.stderr
    assert 'confidenceLevel "01" replaced by "02"' in result.stderr  # a warning beside the refusal
    assert not (tmp_path / "sip").exists()


def test_usage_errors_exit_2(kho_home: Path, tmp_path: Path) -> None:
    metadata = write_metadata(tmp_path / "hoso.json", [document("missing", 1)])
    assert run_kho("digitise", str(tmp_path / "nowhere"), "--metadata", str(metadata), "-o",
                   str(tmp_path / "sip")).returncode == 2
    (tmp_path / "scans").mkdir()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("x")
    result = run_kho("digitise", str(tmp_path / "scans"), "--metadata", str(metadata), "-o", str(taken))
    assert result.returncode == 2 and "not an empty folder" in result.stderr
    bad_rules = tmp_path / "rules.yaml"
    bad_rules.write_text("version: 1\nformats: [GIF]\n", encoding="utf-8")
    result = run_kho("digitise", str(tmp_path / "scans"), "--metadata", str(metadata), "-o", str(tmp_path / "sip"),
                     "--quality", str(bad_rules))
    assert result.returncode == 2 and "rules.yaml" in result.stderr


def test_a_document_folder_outside_the_scans_is_refused(kho_home: Path, tmp_path: Path) -> None:
    (tmp_path / "scans").mkdir()
    (tmp_path / "outside").mkdir()
    metadata = write_metadata(tmp_path / "hoso.json", [document("../outside", 1)])
    result = run_kho("digitise", str(tmp_path / "scans"), "--metadata", str(metadata), "-o", str(tmp_path / "sip"))
    assert result.returncode == 1 and "relative path inside SCANS_DIR" in result.stderr
    assert not (tmp_path / "sip").exists()


def test_the_default_rules_follow_tt05() -> None:
    from preservation.digitise.rules import load_rules

    rules = load_rules()
    assert rules.profile_for("02").min_dpi == 200 and rules.profile_for(None).min_bits_per_pixel == 24
    assert rules.profile_for("30").min_dpi == 300 and rules.profile_for("31").min_dpi == 300
    assert not rules.ocr.deskew and not rules.ocr.clean and rules.ocr.language == "vie"


@needs_ocr
@needs_font
def test_ocr_that_takes_too_long_is_stopped(tmp_path: Path) -> None:
    """OCRmyPDF runs in a worker of its own: past its time, the whole process group is killed."""
    from preservation.digitise.ocr import OcrError, images_to_pdf, run_ocr
    from preservation.digitise.rules import load_rules

    source = tmp_path / "p1.png"
    page([SENTENCE]).save(source, dpi=(300, 300))
    images_to_pdf([source], tmp_path / "pages.pdf")
    options = dataclasses.replace(load_rules().ocr, timeout_seconds=0.2, timeout_seconds_per_page=0.01)
    with pytest.raises(OcrError, match="took longer than"):
        run_ocr(tmp_path / "pages.pdf", tmp_path / "out.pdf", tmp_path / "out.txt", options, 1, tmp_path / "work")
    assert not (tmp_path / "out.txt").exists()


def _crl(pki: Any) -> bytes:
    """The test root's CRL (nothing revoked): the revocation data Kho's signature validation requires."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    now = datetime.now(UTC)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(pki.root.certificate.subject)
           .last_update(now - timedelta(hours=1)).next_update(now + timedelta(days=30))
           .sign(pki.root.key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.DER)


@needs_ocr
@needs_font
def test_the_copy_is_signed_by_the_organisation_and_ingest_finds_the_signature_valid(
        kho_home: Path, tmp_path: Path) -> None:
    """Nghị định 30 / TT 05: the digitised copy carries the organisation's signature, visible top right with
    the marking; it keeps PDF/A, validates against the archive's root, and the ingest records it as valid."""
    from format_registry.signatures import validate_file
    from format_registry.validators.pdfa import accepted, check_pdfa
    from preservation.digitise import CopySigning, digitise, load_rules
    from preservation.signing import load_signer
    from tests.pki import RECEIVER_NAME, build_pki

    pki = build_pki(tmp_path / "pki")
    archive = pki.organisation(RECEIVER_NAME)
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    shutil.copyfile(pki.root.cert_pem, anchors / "root.pem")
    (tmp_path / "scans" / "qd").mkdir(parents=True)
    page([SENTENCE]).save(tmp_path / "scans" / "qd" / "p1.png", dpi=(300, 300))
    metadata = write_metadata(tmp_path / "hoso.json", [document("qd", 1)])
    signing = CopySigning(load_signer(archive.p12, archive.password), RECEIVER_NAME, crls=(_crl(pki),))
    sip = tmp_path / "sip"
    result = digitise(tmp_path / "scans", metadata, sip, load_rules(), signing=signing)
    assert result.sip == sip and not result.refused, result.findings

    pdf = sip / "data" / "H40.2024.01-VP.0000001" / "H40.2024.01-VP.0000001.pdf"
    assert accepted(check_pdfa(pdf, "2", "b"))
    reports = validate_file(pdf, anchors)
    assert [r.status.value for r in reports] == ["valid"], [r.to_dict() for r in reports]
    assert found_share(SENTENCE, pdf_text(pdf)) >= 0.8  # the text layer survives the incremental update
    import pikepdf

    with pikepdf.open(pdf) as opened:  # a visible box at the top right of page 1
        widget = next(a for a in opened.pages[0].get("/Annots", []) if a.get("/FT") == "/Sig")
        x0, _y0, x1, y1 = (float(v) for v in widget.Rect)
        width, height = (float(v) for v in opened.pages[0].mediabox[2:])
        assert x1 > width * 0.9 and y1 > height * 0.9 and x1 - x0 > 100
    recorded = json.loads((sip / "metadata" / "digitisation.json").read_text(encoding="utf-8"))
    signature = recorded["documents"][0]["signature"]
    assert signature["signed"] and signature["appearance"].startswith("visible")
    assert signature["marking"] == "Bản sao số hóa / Digitised copy" and RECEIVER_NAME in signature["signer"]
    assert signature["revocation_data_embedded"] is True

    out = run_kho("ingest", str(sip), "--json", env={"KHO_TRUST_ANCHORS": str(anchors)}, timeout=600)
    assert out.returncode == 0, out.stderr + out.stdout
    shown = json.loads(run_kho("aip", "show", str(json.loads(out.stdout)["aip_id"]), "--json", check=True).stdout)
    events = [e for e in shown["events"] if e["type"] == "digital signature validation"]
    assert [e["outcome"] for e in events] == ["success"], events
    assert "H40.2024.01-VP.0000001.pdf" in events[0]["detail"]


@needs_font
def test_an_unusable_signing_key_is_a_usage_error(kho_home: Path, tmp_path: Path) -> None:
    """KHO_SIGNING_KEY set but its password wrong: exit 2 before any OCR, nothing written."""
    from tests.pki import RECEIVER_NAME, build_pki

    archive = build_pki(tmp_path / "pki").organisation(RECEIVER_NAME)
    (tmp_path / "scans" / "qd").mkdir(parents=True)
    page([SENTENCE]).save(tmp_path / "scans" / "qd" / "p1.png", dpi=(300, 300))
    metadata = write_metadata(tmp_path / "hoso.json", [document("qd", 1)])
    wrong = run_kho("digitise", str(tmp_path / "scans"), "--metadata", str(metadata), "-o", str(tmp_path / "s2"),
                    env={**archive.env(), "KHO_SIGNING_KEY_PASSWORD": "sai"})
    assert wrong.returncode == 2 and "KHO_SIGNING_KEY_PASSWORD" in wrong.stderr
    assert not (tmp_path / "s2").exists()

def test_the_digitisation_dag_maps_one_task_per_document() -> None:
    """The DAG file imports, and its shape is check -> build_document (mapped) -> finish -> start_ingest."""
    pytest.importorskip("airflow")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags" / "kho_digitisation.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["digitisation"]
    upstream = {t: sorted(dag.get_task(t).upstream_task_ids) for t in dag.task_ids}
    assert upstream["build_document"] == ["check", "documents"]
    assert upstream["finish"] == ["build_document", "check"] and upstream["start_ingest"] == ["ingest_conf"]
    assert dag.get_task("discard").trigger_rule == "one_failed"


def test_the_dag_triggers_ingest_on_the_sip_unless_it_lies_in_the_ingest_folder(kho_home: Path, tmp_path: Path) -> None:
    """``start_ingest`` gets ``{"sip_path": sip_dir}``; a SIP finished inside the watched ingest folder is
    left to ``ingest_scan`` (a second ingest of the same SIP would race it); ``"ingest": false`` stops."""
    pytest.importorskip("airflow")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags" / "kho_digitisation.py"))
    ingest_conf = bag.dags["digitisation"].get_task("ingest_conf").python_callable
    sip = str(tmp_path / "sip")
    assert ingest_conf(sip, params={"ingest": True}) == [{"sip_path": sip}]
    assert ingest_conf(sip, params={"ingest": False}) == []
    assert ingest_conf(str(kho_home / "ingest" / "H40.2024.01-VP"), params={"ingest": True}) == []


@pytest.mark.airflow
@needs_ocr
@needs_font
def test_the_digitisation_dag_writes_the_sip(airflow_env: dict[str, str], kho_home: Path, tmp_path: Path) -> None:
    """``airflow dags test digitisation``: two one-page documents, each its own mapped task, one SIP, signed
    with the key of the settings (``KHO_SIGNING_KEY``); offline and without a CRL that is PAdES-B-B, said so."""
    from tests.conftest import BIN
    from tests.pki import RECEIVER_NAME, build_pki

    archive = build_pki(tmp_path / "pki").organisation(RECEIVER_NAME)

    scans = tmp_path / "scans"
    for name in ("qd", "tt"):
        (scans / name).mkdir(parents=True)
        page([SENTENCE]).save(scans / name / "p1.png", dpi=(300, 300))
    metadata = write_metadata(tmp_path / "hoso.json", [document("qd", 1), document("tt", 2)])
    sip = tmp_path / "sip"
    conf = {"scans_dir": str(scans), "metadata": str(metadata), "sip_dir": str(sip), "ingest": False}
    done = subprocess.run([str(BIN / "airflow"), "dags", "test", "digitisation", "-c", json.dumps(conf)],
                          env={**airflow_env, "KHO_HOME": str(kho_home), **archive.env()}, capture_output=True,
                          text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "task_id=build_document" in output and "map_index=1" in output
    written = json.loads((sip / "metadata" / "hoso.json").read_text(encoding="utf-8"))
    assert [d["file"] for d in written["documents"]] == ["data/H40.2024.01-VP.0000001/H40.2024.01-VP.0000001.pdf",
                                                         "data/H40.2024.01-VP.0000002/H40.2024.01-VP.0000002.pdf"]
    report = json.loads((sip / "metadata" / "digitisation.json").read_text(encoding="utf-8"))
    signatures = [d["signature"] for d in report["documents"]]
    assert [s["signed"] for s in signatures] == [True, True]
    assert all(s["format"].startswith("PAdES-B-B") and not s["revocation_data_embedded"] for s in signatures)
    assert RECEIVER_NAME in signatures[0]["signer"]
    assert not list(tmp_path.glob(".sip.partial-*"))

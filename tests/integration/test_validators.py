"""Format validators: JHOVE's XML reports, the JHOVE adapter with fake executables, and the built-in
validators against the real corpus, whose notes state what each file's validity should be."""

from __future__ import annotations

import csv
import re
import shlex
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from format_registry.validators import (
    INVALID,
    NOT_VALIDATED,
    VALID,
    WELL_FORMED,
    Message,
    ValidationResult,
    builtin_kind,
    status_from_messages,
    validate_file,
)
from format_registry.validators.container import validate_container
from format_registry.validators.image import validate_image
from format_registry.validators.jhove import (
    JhoveReportError,
    find_jhove,
    map_status,
    module_for,
    parse_jhove_report,
    validate_with_jhove,
)
from format_registry.validators.jp2 import validate_jp2
from format_registry.validators.pdf import validate_pdf
from format_registry.validators.text import validate_text
from format_registry.validators.xml import validate_xml
from tests.conftest import CORPORA
from tests.helpers import assert_process_gone, expected_status

FORMATS = CORPORA / "formats"
JHOVE_OUTPUT = CORPORA / "jhove-output"
DPF = JHOVE_OUTPUT / "dpf-knowledge-base"
HAS_FFPROBE = shutil.which("ffprobe") is not None

# ---------------------------------------------------------------------------------------------------
# JHOVE report parser: every real report in the corpus


def _report_files() -> list[Path]:
    return sorted(JHOVE_OUTPUT.rglob("*.xml"))


def test_every_jhove_report_parses_with_the_statuses_it_states() -> None:
    total = 0
    layouts: set[bytes] = set()
    for path in _report_files():
        raw = path.read_bytes()
        reports = parse_jhove_report(raw)
        stated = [s.decode().strip() for s in re.findall(rb"<status>([^<]*)</status>", raw)]
        assert [r.jhove_status for r in reports] == stated, path.name
        assert len(reports) == raw.count(b"<repInfo "), path.name
        assert all(r.status == map_status(r.jhove_status) for r in reports)
        assert all(r.status != NOT_VALIDATED for r in reports), path.name  # the corpus has only the 3 known statuses
        layouts.update(re.findall(rb'xmlns="([^"]+/ns/jhove)"', raw))
        total += len(reports)
    assert total == 88
    assert layouts == {
        b"http://hul.harvard.edu/ois/xml/ns/jhove",
        b"http://schema.openpreservation.org/ois/xml/ns/jhove",
    }


def test_jhove_reports_agree_with_the_corpus_index() -> None:
    rows = list(csv.DictReader((JHOVE_OUTPUT / "INDEX.tsv").open(encoding="utf-8"), delimiter="\t"))
    parsed: dict[str, list] = {}
    seen: dict[str, int] = {}
    for row in rows:
        name = row["output_file"]
        reports = parsed.setdefault(name, parse_jhove_report((JHOVE_OUTPUT / name).read_bytes()))
        report = reports[seen.get(name, 0)]
        seen[name] = seen.get(name, 0) + 1
        assert (report.module, report.module_release, report.jhove_status) == (
            row["module"],
            row["module_release"],
            row["status"],
        ), name
        assert report.jhove_release == row["jhove_release"]
        assert ",".join(sorted({m.id for m in report.messages if m.id})) == row["message_ids"], name
        assert ",".join(sorted({m.severity for m in report.messages})) == row["severities"], name
    assert len(rows) == 88


def test_jhove_spot_checks_new_layout() -> None:
    [report] = parse_jhove_report(
        (DPF / "file-scraper__tests__data__application_pdf__invalid_1.2_payload_altered.pdf.jhove.xml").read_bytes()
    )
    assert (report.module, report.module_release, report.jhove_release) == ("PDF-hul", "1.12.7", "1.32.1")
    assert report.status == INVALID and report.jhove_status == "Not well-formed"
    assert [(m.id, m.severity, m.offset) for m in report.messages] == [
        ("PDF-HUL-85", "error", 0),
        ("PDF-HUL-37", "error", 11215),
    ]
    assert report.messages[0].text == "No document catalog dictionary"

    [wave] = parse_jhove_report(
        (DPF / "file-scraper__tests__data__audio_x-wav__invalid__data_bytes_missing.wav.jhove.xml").read_bytes()
    )
    assert wave.messages[0] == Message(
        "WAVE-HUL-3", "error", "Unexpected end of file", 75851, 'Bytes missing = 3; Truncated chunk = "data"'
    )

    [tiff] = parse_jhove_report(
        (
            DPF / "format-corpus__tiff-examples__old-style-jpeg-compression__old-style-jpeg-compression.tif.jhove.xml"
        ).read_bytes()
    )
    assert (tiff.status, tiff.module, tiff.version) == (WELL_FORMED, "TIFF-hul", "6.0")
    assert [(m.id, m.severity) for m in tiff.messages] == [
        ("TIFF-HUL-49", "error"),
        ("TIFF-HUL-61", "info"),
        ("TIFF-HUL-12", "info"),
    ]
    assert tiff.messages[2].offset == 234


def test_jhove_spot_checks_old_layouts() -> None:
    # JHOVE 1.5 output captured with the command line in front of the XML declaration.
    raw = (JHOVE_OUTPUT / "format-corpus" / "simple-password-copy.pdf.jhove.xml").read_bytes()
    assert raw.startswith(b"java -classpath")
    [report] = parse_jhove_report(raw)
    assert (report.status, report.module, report.module_release, report.jhove_release) == (
        VALID,
        "PDF-hul",
        "1.8",
        "1.5",
    )
    assert report.uri == "simple-copy-password.pdf" and report.version == "1.4" and report.messages == ()

    # Stanford's JhoveToolkit wrapper: three repInfos in one report.
    reports = parse_jhove_report((JHOVE_OUTPUT / "sul-dlss-jhove-service" / "jhove_output.xml").read_bytes())
    assert [(r.uri, r.module, r.status) for r in reports] == [
        ("00000426.html", "HTML-hul", INVALID),
        ("00000426.jp2", "JPEG2000-hul", VALID),
        ("sample.txt", "ASCII-hul", VALID),
    ]
    assert reports[1].profiles == ("JP2",) and reports[0].jhove_name == "JhoveToolkit"


def test_jhove_parser_refuses_non_reports_and_expands_no_entities(tmp_path: Path) -> None:
    for junk in (b"", b"Exception in thread main", b"<?xml version='1.0'?><other/>", b"<jhove><repInfo>"):
        with pytest.raises(JhoveReportError):
            parse_jhove_report(junk)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    hostile = (
        f'<?xml version="1.0"?><!DOCTYPE jhove [<!ENTITY xxe SYSTEM "file://{secret}">'
        '<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<jhove release="9"><repInfo uri="x"><reportingModule release="1">PDF-hul</reportingModule>'
        "<status>&xxe;&b;</status></repInfo></jhove>"
    ).encode()
    [report] = parse_jhove_report(hostile)
    assert "TOP-SECRET" not in repr(report) and "aaaaaaaaaa" not in repr(report)
    assert report.status == NOT_VALIDATED


def test_jhove_text_modules_vouch_for_the_encoding_only() -> None:
    from format_registry.validators.jhove import result_from_report

    reports = parse_jhove_report((JHOVE_OUTPUT / "sul-dlss-jhove-service" / "jhove_output.xml").read_bytes())
    ascii_report = reports[2]
    assert (ascii_report.module, ascii_report.status) == ("ASCII-hul", VALID)  # what JHOVE said
    result = result_from_report(ascii_report)
    assert result.status == WELL_FORMED and result.messages[-1].id == "jhove.text"
    assert result_from_report(reports[1]).status == VALID  # JPEG2000-hul's verdict stands


def test_jhove_status_and_module_mapping() -> None:
    assert map_status("Well-Formed and valid") == VALID
    assert map_status("Well-Formed, but not valid") == WELL_FORMED
    assert map_status("Not well-formed") == INVALID
    assert map_status("Unknown") == NOT_VALIDATED and map_status(None) == NOT_VALIDATED
    assert module_for("fmt/276", None) == "PDF-hul" and module_for(None, "application/pdf; charset=x") == "PDF-hul"
    assert module_for("fmt/730", "image/tiff") == "TIFF-hul"
    assert module_for(None, "audio/x-wav") == "WAVE-hul" and module_for("x-fmt/135", None) == "AIFF-hul"
    assert module_for(None, "text/plain") == "UTF8-hul" and module_for("x-fmt/22", None) == "ASCII-hul"
    assert module_for("fmt/471", "text/html") is None  # HTML-hul predates HTML5
    assert module_for("fmt/40", "application/msword") is None


# ---------------------------------------------------------------------------------------------------
# JHOVE adapter with fake executables


def _fake_jhove(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-jhove"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return script


def test_jhove_adapter_runs_the_module_and_parses_its_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = JHOVE_OUTPUT / "format-corpus" / "simple.pdf.jhove.xml"
    argv = tmp_path / "argv"
    script = _fake_jhove(tmp_path, f'printf "%s\\n" "$@" > {shlex.quote(str(argv))}\ncat {shlex.quote(str(report))}')
    monkeypatch.setenv("KHO_JHOVE", str(script))
    assert find_jhove() == str(script)
    pdf = FORMATS / "pdf" / "simple.pdf"
    result = validate_file(pdf, "fmt/18", "application/pdf")
    assert argv.read_text().splitlines() == ["-h", "xml", "-m", "PDF-hul", str(pdf.resolve())]
    assert (result.status, result.validator, result.tool_version, result.module) == (VALID, "jhove", "1.5", "PDF-hul")
    assert result.details["module_release"] == "1.8" and result.details["version"] == "1.4"


def test_jhove_adapter_reports_not_well_formed_with_message_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = DPF / "format-corpus__pdf-handbuilt-test-corpus__T04_003_EOF-incomplete-EO.pdf.jhove.xml"
    monkeypatch.setenv("KHO_JHOVE", str(_fake_jhove(tmp_path, f"cat {shlex.quote(str(report))}")))
    target = FORMATS / "pdf-broken" / "handbuilt-ipres2017" / "T04_003_EOF-incomplete-EO.pdf"
    result = validate_file(target, None, "application/pdf")
    assert result.status == INVALID and result.validator == "jhove"
    assert [m.id for m in result.errors()] == ["PDF-HUL-138"]


@pytest.mark.timeout(60)  # the fake JHOVE and its child would run for an hour: returning at all means they were stopped
def test_jhove_timeout_kills_the_whole_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pidfile, childfile = tmp_path / "jhove.pid", tmp_path / "child.pid"
    script = _fake_jhove(tmp_path, f"echo $$ > {shlex.quote(str(pidfile))}\nsleep 3600 &\n"
                                   f"echo $! > {shlex.quote(str(childfile))}\nwait")
    pdf = FORMATS / "pdf" / "simple.pdf"
    result = validate_with_jhove(pdf, "PDF-hul", executable=str(script), timeout=1)
    assert result.status == NOT_VALIDATED and result.validator == "jhove"
    assert result.messages[0].id == "jhove.timeout" and "timed out" in result.messages[0].text
    assert_process_gone(int(pidfile.read_text()), "the timed-out JHOVE")
    assert_process_gone(int(childfile.read_text()), "JHOVE's child `sleep`")  # the whole group, none orphaned

    # Through the dispatcher, a JHOVE timeout falls back to the built-in validator and says so.
    monkeypatch.setenv("KHO_JHOVE", str(_fake_jhove(tmp_path, "sleep 30")))
    fallback = validate_file(pdf, "fmt/18", "application/pdf", timeout=1)
    assert fallback.validator == "pikepdf" and "timed out" in fallback.details["jhove"]


def test_jhove_not_found_and_unusable_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KHO_JHOVE", str(tmp_path / "no-such-jhove"))
    assert find_jhove() is None
    html = FORMATS / "html" / "Validate4.01Strict.html"
    result = validate_file(html, None, "text/html")
    assert result.status == NOT_VALIDATED
    assert result.messages[0].text == "not performed: no validator for text/html (jhove not found)"
    assert validate_with_jhove(html, "HTML-hul").messages[0].text == "not performed: jhove not found"
    pdf = validate_file(FORMATS / "pdf" / "simple.pdf", "fmt/18", "application/pdf")
    assert pdf.validator == "pikepdf" and pdf.details["jhove"] == "not found"

    monkeypatch.setenv("KHO_JHOVE", str(_fake_jhove(tmp_path, "echo 'Exception in thread main' >&2; exit 3")))
    crashed = validate_with_jhove(html, "HTML-hul")
    assert crashed.status == NOT_VALIDATED and crashed.messages[0].id == "jhove.failed"
    assert "exit 3" in crashed.messages[0].text and "Exception in thread main" in crashed.messages[0].text

    bytestream = tmp_path / "bytestream.xml"
    bytestream.write_text(
        '<?xml version="1.0"?><jhove xmlns="http://schema.openpreservation.org/ois/xml/ns/jhove" release="1.32.1">'
        '<repInfo uri="x"><reportingModule release="1.4">BYTESTREAM</reportingModule>'
        "<status>Well-Formed and valid</status></repInfo></jhove>"
    )
    monkeypatch.setenv("KHO_JHOVE", str(_fake_jhove(tmp_path, f"cat {shlex.quote(str(bytestream))}")))
    assert validate_with_jhove(html, "HTML-hul").status == NOT_VALIDATED


# ---------------------------------------------------------------------------------------------------
# Built-in validators on the real corpus


_MUST_NOT_BE_VALID = re.compile(r"not[-_ ]well[-_ ]formed|well-formed=FALSE|\bbroken\b|truncated|corrupt", re.I)


def _rows() -> list[dict[str, str]]:
    return list(csv.DictReader((FORMATS / "EXPECTED.tsv").open(encoding="utf-8"), delimiter="\t"))


def _claimed(row: dict[str, str]) -> tuple[str | None, str | None]:
    """PUID/MIME the file is validated as: a jpylyzer 'Valid JP2' verdict is about the JP2 claim."""
    if "Valid JP2:" in row["note"]:
        return None, "image/jp2"
    return (row["expected_puid"].split(";")[0] or None), (row["expected_mime"] or None)


@pytest.fixture(scope="module")
def corpus_results() -> dict[str, ValidationResult]:
    results = {}
    for row in _rows():
        puid, mime = _claimed(row)
        results[row["path"]] = validate_file(FORMATS / row["path"], puid, mime, use_jhove=False, timeout=60)
    return results


def test_agreement_with_the_validity_stated_in_the_corpus(corpus_results: dict[str, ValidationResult]) -> None:
    judged = [(r["path"], expected_status(r["note"])) for r in _rows()]
    judged = [(path, want) for path, want in judged if want is not None]
    agree, disagreements, false_valid = 0, [], []
    for path, want in judged:
        got = corpus_results[path].status
        if got == want or (want == "not-valid" and got in (WELL_FORMED, INVALID)):
            agree += 1
        else:
            disagreements.append(f"  {path}: expected {want}, got {got}")
            if got == VALID:
                false_valid.append(path)
    print(f"\nbuilt-in validators agree with the corpus on {agree}/{len(judged)} rows ({agree / len(judged):.1%})")
    print("\n".join(disagreements))
    assert len(judged) >= 110
    assert agree / len(judged) >= 0.78
    # JHOVE's TIFF "badfiles" example decodes cleanly but has empty IFD entries: no longer valid either.
    assert false_valid == []


def test_broken_files_never_come_out_valid(corpus_results: dict[str, ValidationResult]) -> None:
    must_fail = [
        r["path"]
        for r in _rows()
        if any(part.endswith("-broken") for part in Path(r["path"]).parts) or _MUST_NOT_BE_VALID.search(r["note"])
    ]
    assert len(must_fail) >= 150
    lenient = [f"  {p}: {corpus_results[p].status}" for p in must_fail if corpus_results[p].status != INVALID]
    print(f"\n{len(must_fail)} broken files; not invalid but never valid ({len(lenient)}):\n" + "\n".join(lenient))
    assert [p for p in must_fail if corpus_results[p].status == VALID] == []


def test_valid_only_when_a_tool_checked(corpus_results: dict[str, ValidationResult]) -> None:
    for path, result in corpus_results.items():
        assert result.status in (VALID, WELL_FORMED, INVALID, NOT_VALIDATED), path
        if result.status == VALID:
            assert result.validator != "kho" and result.tool_version, path
            assert not [m for m in result.messages if m.severity in ("error", "warning")], path
        if result.status == NOT_VALIDATED:
            assert any(m.text.startswith("not performed") for m in result.messages), path
        if result.status == INVALID:
            assert result.errors(), path


def test_dispatch_and_result_helpers(tmp_path: Path) -> None:
    assert builtin_kind("fmt/276", None) == "pdf" and builtin_kind(None, "application/pdf") == "pdf"
    assert builtin_kind("fmt/730", "image/tiff") is None  # DNG: Pillow cannot decode it
    assert builtin_kind(None, "application/vnd.oasis.opendocument.text") == "container"
    assert builtin_kind(None, "image/svg+xml") == "xml" and builtin_kind(None, "video/quicktime") == "av"
    unknown = validate_file(
        FORMATS / "ms-office-legacy" / "fits_valid.xls", "fmt/61", "application/vnd.ms-excel", use_jhove=False
    )
    assert unknown.status == NOT_VALIDATED and unknown.messages[0].text == "not performed: no validator for fmt/61"
    assert unknown.well_formed is None and unknown.is_valid is None
    with pytest.raises(FileNotFoundError):
        validate_file(tmp_path / "missing.pdf", None, "application/pdf")
    result = validate_file(FORMATS / "pdf" / "simple.pdf", "fmt/18", "application/pdf", use_jhove=False)
    data = result.to_dict()
    assert data["status"] == VALID and data["validator"] == "pikepdf" and isinstance(data["messages"], list)
    assert result.well_formed is True and result.is_valid is True
    assert status_from_messages([Message(None, "warning", "w")]) == WELL_FORMED
    assert status_from_messages([Message(None, "warning", "w"), Message(None, "error", "e")]) == INVALID
    assert status_from_messages([], WELL_FORMED) == WELL_FORMED


# ---------------------------------------------------------------------------------------------------
# Individual built-in validators


def test_pdf_encryption_pdfa_claim_and_truncation(tmp_path: Path) -> None:
    locked = validate_pdf(FORMATS / "pdf-encrypted" / "simple-open-password.pdf")
    assert locked.status == WELL_FORMED and locked.details["encrypted"] and locked.details["password_required"]
    assert [m.id for m in locked.messages] == ["pdf.encrypted.password"]
    nocopy = validate_pdf(FORMATS / "pdf-encrypted" / "encryption_nocopy.pdf")
    assert nocopy.details["encrypted"] is True and "extract" in nocopy.details["permissions_denied"]
    assert nocopy.details["pdf_version"] and nocopy.tool_version.startswith(("9.", "10."))

    pdfa = validate_pdf(FORMATS / "pdfa" / "veraPDFHiRes.pdf")
    assert pdfa.status == VALID and pdfa.details["pdfa"] == {"part": "1", "conformance": "B", "verified": False}
    jpx = validate_pdf(FORMATS / "pdfa" / "balloon_a1b_jp2k.pdf")
    assert jpx.status == WELL_FORMED and [m.id for m in jpx.messages if m.severity == "warning"] == [
        "pdf.version.content",  # %PDF-1.4 with JPXDecode, a PDF 1.5 filter
        "pdf.pdfa.forbidden",
    ]
    assert jpx.details["content_version"] == "1.5"

    data = (FORMATS / "pdf" / "simple.pdf").read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: len(data) // 2])
    assert validate_pdf(cut).status == INVALID
    assert validate_pdf(FORMATS / "pdf" / "pdf-17-header18.pdf").status == WELL_FORMED  # %PDF-1.8 does not exist


def test_pdf_validation_leaves_the_process_streams_alone() -> None:
    # pikepdf's check_pdf_syntax checks a linearized file through check_linearization(StringIO()) and
    # leaves sys.stderr pointing at that StringIO: every later message of `kho validate` would vanish.
    import sys

    before = sys.stdout, sys.stderr
    result = validate_pdf(FORMATS / "pdf" / "DDAP_Singlev3.pdf")
    assert result.details["linearized"] is True
    assert (sys.stdout, sys.stderr) == before


def test_image_truncation_tiff_details_and_bomb_guard(tmp_path: Path) -> None:
    jpeg = (FORMATS / "jpeg" / "fits_GLOBE1.JPG").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpeg[: len(jpeg) * 2 // 3])
    assert validate_image(cut, mime="image/jpeg").status == INVALID
    ojpeg = validate_image(FORMATS / "tiff" / "old-style-jpeg-compression.tif", mime="image/tiff")
    assert ojpeg.status == WELL_FORMED and ojpeg.details["compression"] == "old-style JPEG"
    assert ojpeg.details["photometric"] == "YCbCr" and ojpeg.module == "TIFF"
    lzw = validate_image(FORMATS / "tiff" / "AA_Banner.tif", mime="image/tiff")
    assert lzw.status == VALID and lzw.details["compression"] == "LZW" and lzw.details["width"] == 335

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = tmp_path / "bomb.png"  # 100000 x 100000 pixels declared in 80 bytes
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    bomb.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )
    guarded = validate_image(bomb, mime="image/png")  # refused before decoding (10^10 pixels: 10 GB)
    assert guarded.status == NOT_VALIDATED
    assert "decompression-bomb" in guarded.messages[0].text
    assert validate_image(FORMATS / "gif" / "textonly.gif", mime="image/gif").status == VALID  # no raster, walked


def test_jp2_with_jpylyzer(tmp_path: Path) -> None:
    good = validate_jp2(FORMATS / "jp2" / "balloon.jp2")
    assert (good.status, good.validator, good.module) == (VALID, "jpylyzer", "jp2")
    assert good.details["width"] == 2717 and good.details["lossless"] is False
    assert validate_jp2(FORMATS / "jp2" / "balloon.j2c", codestream=True).status == VALID
    truncated = validate_jp2(FORMATS / "jp2-broken" / "truncated_at_byte_5000.jp2")
    assert truncated.status == INVALID and "jpylyzer.foundEOCMarker" in {m.id for m in truncated.errors()}
    icc = validate_jp2(FORMATS / "jp2" / "bitwiser-icc-corrupted-tagcount-1911.jp2")
    assert icc.status == WELL_FORMED and [m.id for m in icc.messages if m.severity == "warning"] == ["jp2.icc.corrupt"]


def test_xml_is_parsed_safely_and_validated_only_against_held_schemas(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    hostile = tmp_path / "hostile.xml"
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    hostile.write_text(f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>')
    result = validate_xml(hostile)
    assert result.status == WELL_FORMED and "TOP-SECRET" not in repr(result)
    bomb = tmp_path / "laughs.xml"
    bomb.write_text(f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{laughs}]><r>&l9;</r>')
    refused = validate_xml(bomb)  # libxml2 refuses the amplification: no verdict, and certainly not valid
    assert refused.status == NOT_VALIDATED
    assert "amplification" in refused.messages[0].text, "stopped by libxml2's guard, not expanded (10^9 'lol's)"

    xsd = tmp_path / "note.xsd"
    xsd.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:kho:note" '
        'elementFormDefault="qualified"><xs:element name="note" type="xs:string"/></xs:schema>'
    )
    good, bad = tmp_path / "good.xml", tmp_path / "bad.xml"
    good.write_text('<note xmlns="urn:kho:note">hi</note>')
    bad.write_text('<note xmlns="urn:kho:note"><child/></note>')
    catalog = {"urn:kho:note": xsd}
    assert validate_xml(good).status == WELL_FORMED  # no schema held: well-formedness only
    assert validate_xml(good, schema_catalog=catalog).status == VALID
    invalid = validate_xml(bad, schema_catalog=catalog)
    assert invalid.status == WELL_FORMED and invalid.messages[0].id == "xml.schema"
    lying = tmp_path / "lying.xml"  # declares UTF-8, holds Latin-1: libxml2 raises OSError, not a syntax error
    lying.write_bytes('<?xml version="1.0" encoding="UTF-8"?><ghi_chu>Hà Nam, café</ghi_chu>'.encode("latin-1"))
    mislabelled = validate_xml(lying)
    assert mislabelled.status == INVALID and mislabelled.messages[0].id == "xml.encoding"
    with pytest.raises(FileNotFoundError):
        validate_xml(tmp_path / "absent.xml")
    broken = validate_xml(FORMATS / "xml" / "jhove-unit_not-well-formed.xml")
    assert broken.status == INVALID and broken.messages[0].detail == "line 5, column 13"


def _zip(path: Path, entries: list[tuple[str, bytes]], stored_first: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (name, data) in enumerate(entries):
            method = zipfile.ZIP_STORED if stored_first and index == 0 else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=method)
    return path


def test_containers_crc_package_rules_and_bomb_cap(tmp_path: Path) -> None:
    plain = _zip(tmp_path / "plain.zip", [("a.txt", b"hello " * 1000)])
    assert validate_container(plain).status == VALID
    data = bytearray(plain.read_bytes())
    data[40] ^= 0xFF  # inside the deflated data of the only entry
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(bytes(data))
    assert validate_container(corrupt).status == INVALID

    big = _zip(tmp_path / "big.zip", [("zeros.bin", bytes(8 * 1024 * 1024))])
    capped = validate_container(big, max_uncompressed=1024 * 1024)
    assert capped.status == WELL_FORMED and "zip.capped" in {m.id for m in capped.messages}

    no_types = _zip(tmp_path / "x.docx", [("_rels/.rels", b"<Relationships/>"), ("word/document.xml", b"<w/>")])
    assert validate_container(no_types, kind="ooxml").status == INVALID
    odt = _zip(
        tmp_path / "x.odt",
        [
            ("content.xml", b"<c/>"),
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("META-INF/manifest.xml", b"<m/>"),
        ],
    )
    assert "package.mimetype" in {m.id for m in validate_container(odt, kind="odf").errors()}
    epub = validate_file(FORMATS / "epub" / "lorem.epub", "fmt/483", "application/epub+zip", use_jhove=False)
    assert (epub.status, epub.module) == (WELL_FORMED, "EPUB")
    docx = validate_file(FORMATS / "ooxml" / "lorem-ipsum.docx", "fmt/412", None, use_jhove=False)
    assert (docx.status, docx.module) == (WELL_FORMED, "OOXML")


def test_text_encodings_and_json(tmp_path: Path) -> None:
    # a clean decode is well-formed, never valid: an SPSS portable file or a SEG-Y header decodes too
    utf16 = validate_text(FORMATS / "text" / "fits_utf16.txt", mime="text/plain")
    assert utf16.status == WELL_FORMED and utf16.details["encoding"] == "utf-16"
    assert [m.id for m in utf16.messages] == ["text.scope"]
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Hà Nội, tiếng Việt".encode() + b"\xff\xfe caf\xe9")
    undeclared = validate_text(latin, mime="text/plain")
    assert undeclared.status == INVALID and undeclared.messages[0].offset == len("Hà Nội, tiếng Việt".encode())
    assert validate_text(latin, mime="text/plain; charset=iso-8859-1").status == WELL_FORMED
    assert validate_text(latin, mime="text/plain", puid="x-fmt/282").status == WELL_FORMED
    crlf = validate_text(FORMATS / "text" / "cr-lf-and-crlf.txt", mime="text/plain")
    assert crlf.details["line_endings"] == ["CRLF", "CR", "LF"]
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"a": [1, 2,}')
    assert validate_text(bad_json, mime="application/json").status == INVALID
    assert validate_text(FORMATS / "text" / "small_json.json", mime="application/json").status == VALID


# ---------------------------------------------------------------------------------------------------
# Audio/video with ffprobe


@pytest.mark.skipif(not HAS_FFPROBE, reason="ffprobe not installed")
def test_av_probe_decode_and_wave_structure() -> None:
    from format_registry.validators.av import validate_av

    wav = validate_av(FORMATS / "audio" / "fits_test.wav")
    assert (wav.status, wav.validator, wav.module) == (VALID, "ffprobe", "WAVE") and wav.details["decoded"]
    assert wav.details["streams"][0]["codec_type"] == "audio"
    video = validate_av(FORMATS / "video" / "small_webm.webm")
    assert video.status == WELL_FORMED and video.details["format_name"] == "matroska,webm"
    truncated = validate_av(FORMATS / "audio-broken" / "wf-pcm-44khz-8bit-mono-truncated-riff-by-2-bytes.wav")
    assert truncated.status == INVALID and "riff.truncated" in {m.id for m in truncated.errors()}
    garbage = validate_av(FORMATS / "audio" / "small_mp3.mp3")
    assert garbage.status == INVALID and all(str(FORMATS) not in m.text for m in garbage.messages)


@pytest.mark.timeout(60)  # the fake ffprobe hangs for an hour: returning at all means it was stopped
def test_av_without_ffprobe_and_on_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from format_registry.validators.av import validate_av

    wav = FORMATS / "audio" / "fits_test.wav"
    monkeypatch.setenv("KHO_FFPROBE", str(tmp_path / "no-ffprobe"))
    missing = validate_av(wav)
    assert missing.status == NOT_VALIDATED and missing.messages[0].text == "not performed: ffprobe not found"
    slow, pidfile = tmp_path / "slow-ffprobe", tmp_path / "ffprobe.pid"
    slow.write_text('#!/bin/sh\n[ "$1" = "-version" ] && { echo "ffprobe version 0-fake"; exit 0; }\n'
                    f"echo $$ > {shlex.quote(str(pidfile))}\nexec sleep 3600\n")  # hangs for an hour
    slow.chmod(0o755)
    monkeypatch.setenv("KHO_FFPROBE", str(slow))
    timed_out = validate_av(wav, timeout=1)
    assert timed_out.status == NOT_VALIDATED and "timed out" in timed_out.messages[0].text
    assert_process_gone(int(pidfile.read_text()), "the timed-out ffprobe")


def test_validate_many_in_worker_processes_matches_one_by_one() -> None:
    from format_registry.validators import validate_file
    from format_registry.validators.batch import validate_many

    files = sorted(p for p in (FORMATS / "png").iterdir() if p.is_file())[:10] + sorted(
        p for p in (FORMATS / "pdf-broken").iterdir() if p.is_file())[:10]
    jobs = [(str(p), None, "image/png" if p.suffix == ".png" else "application/pdf") for p in files] * 4
    pooled = validate_many(jobs, workers=2)
    assert [r["status"] for r in pooled] == [validate_file(p, puid, mime).status for p, puid, mime in jobs]

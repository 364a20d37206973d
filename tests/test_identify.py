"""Identification on the real corpus: agreement with the PUIDs and MIME types its sources state."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from format_registry.identify import identify
from tests.conftest import CORPORA


def test_agreement_with_expected_puids_and_mimes() -> None:
    rows = list(csv.DictReader((CORPORA / "formats" / "EXPECTED.tsv").open(encoding="utf-8"), delimiter="\t"))
    puid_rows = [r for r in rows if r["expected_puid"]]
    mime_rows = [r for r in rows if r["expected_mime"]]
    results = {r["path"]: identify(CORPORA / "formats" / r["path"]) for r in rows}
    puid_agree = sum(results[r["path"]].puid in r["expected_puid"].split(";") for r in puid_rows)
    mime_agree = sum(results[r["path"]].mime == r["expected_mime"] for r in mime_rows)
    print(f"PUID agreement {puid_agree}/{len(puid_rows)}, MIME agreement {mime_agree}/{len(mime_rows)}")
    assert len(puid_rows) >= 40 and len(mime_rows) >= 300
    assert puid_agree / len(puid_rows) >= 0.90  # 41/44 with DROID container semantics (39 with FIDO's)
    assert mime_agree / len(mime_rows) >= 0.80
    assert all(res.method in ("container", "signature", "extension", "magic", "none") for res in results.values())


def test_empty_file_is_not_guessed(tmp_path: Path) -> None:
    empty = tmp_path / "rỗng.pdf"
    empty.write_bytes(b"")
    found = identify(empty)
    assert found.puid is None and found.method == "none" and found.warning == "zero-byte file"


def test_ooxml_is_identified_by_container() -> None:
    found = identify(CORPORA / "formats" / "ooxml" / "fits_Word_has_index.docx")
    assert (found.puid, found.method) == ("fmt/412", "container")


def test_fast_matcher_gives_exactly_fido_s_answers() -> None:
    """The indexed, precompiled matcher must agree with FIDO's own on every corpus file."""
    from format_registry.identify import Identifier

    reference, fast = Identifier(optimised=False), Identifier()
    files = sorted(p for p in (CORPORA / "formats").rglob("*") if p.is_file())
    assert len(files) > 350
    for path in files:
        expected, found = reference.identify(path), fast.identify(path)
        assert (found.puid, found.mime, found.method, found.candidates) == (
            expected.puid, expected.mime, expected.method, expected.candidates), path


def test_identify_many_uses_a_pool_and_keeps_order(tmp_path: Path) -> None:
    from format_registry import identify as module

    files = sorted(p for p in (CORPORA / "formats").rglob("*") if p.is_file())[:60]
    sequential = [module.identify(p) for p in files]
    pooled = module.identify_many(files * 10, workers=2)  # 600 ≥ POOL_THRESHOLD: real worker processes
    assert len(pooled) == 600
    assert [(r.puid, r.mime) for r in pooled[:60]] == [(r.puid, r.mime) for r in sequential]
    assert [(r.puid, r.mime) for r in pooled[540:]] == [(r.puid, r.mime) for r in sequential]


def test_vietnamese_text_that_libmagic_takes_for_audio_is_plain_text(tmp_path: Path) -> None:
    """libmagic reads "V\\xe1\\xbb\\xa5" as an MPEG-4 LATM sync word; the .txt candidates and a clean
    UTF-8 decode win over that guess. Binary bytes in a .txt are not called text."""
    text = tmp_path / "công-văn.txt"
    text.write_text(
        "Vụ tờ đồng tháng từ điện tháng vận mật cơ Việt cán dựng dung phát thu phát. "
        "Sự hỏa thôn viễn dụng tài môi bằng đào Cần thường bảo triển thập lưu.\n" * 20,
        encoding="utf-8",
    )
    import magic

    assert magic.from_file(str(text), mime=True) != "text/plain"  # the misfire this test is about
    found = identify(text)
    assert (found.puid, found.mime, found.method) == ("x-fmt/111", "text/plain", "extension")
    binary = tmp_path / "không-phải-văn-bản.txt"
    binary.write_bytes("Vụ tờ đồng".encode() + bytes(range(0, 32)) * 8)
    assert identify(binary).puid != "x-fmt/111"


def _odt(path: Path, version: str | None) -> Path:
    import zipfile

    declared = f' office:version="{version}"' if version else ""
    with zipfile.ZipFile(path, "w") as odt:
        odt.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        odt.writestr(
            "content.xml",
            '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
            'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
            f"{declared}><office:body/></office:document-content>",
        )
        odt.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
            'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry '
            'manifest:media-type="application/vnd.oasis.opendocument.text" manifest:full-path="/"/>'
            "</manifest:manifest>",
        )
    return path


def test_odf_version_comes_from_content_xml_as_droid_reads_it(tmp_path: Path) -> None:
    """Every file of a container signature is checked (FIDO checks only the first, the manifest, which
    all ODF versions share) and PRONOM priorities pick 1.2 over the version-less 1.1 signature."""
    answers = {v: identify(_odt(tmp_path / f"v{v}.odt", v)) for v in ("1.0", "1.1", "1.2")}
    assert {v: a.puid for v, a in answers.items()} == {"1.0": "fmt/136", "1.1": "fmt/290", "1.2": "fmt/291"}
    assert all(a.method == "container" for a in answers.values())
    assert identify(_odt(tmp_path / "none.odt", None)).puid == "fmt/290"  # no version declared: 1.1, the default


def test_container_sequences_compile_droid_syntax() -> None:
    from format_registry.containers import _sequence

    assert re.fullmatch(_sequence("'office:version=' [22 27] '1.2' [22 27]"), b"office:version='1.2'")
    assert re.fullmatch(_sequence("10 00 07 00 [00:FF] [00:FF] 00"), b"\x10\x00\x07\x00\xab\xcd\x00")
    assert re.fullmatch(_sequence("00 00 00 00 [01-04]"), b"\x00\x00\x00\x00\x03")
    assert not re.fullmatch(_sequence("00 00 00 00 [01-04]"), b"\x00\x00\x00\x00\x05")
    bits = re.compile(_sequence("[&01]"))
    assert bits.fullmatch(b"\x03") and not bits.fullmatch(b"\x02")


def test_broken_zip_falls_back_to_the_outer_signature(tmp_path: Path) -> None:
    broken = tmp_path / "hỏng.docx"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    found = identify(broken)
    assert found.method != "container"


def test_every_bundled_container_signature_compiles() -> None:
    """Patterns are compiled lazily, where a broken one would only show as a missed match."""
    from fido import CONFIG_DIR
    from fido.versions import get_local_versions

    from format_registry.containers import load_signatures

    signatures = load_signatures(Path(CONFIG_DIR) / get_local_versions(CONFIG_DIR).pronom_container_signature)
    patterns = [p for s in signatures for f in s.files for p in f.patterns]
    assert len(signatures) > 150 and len(patterns) > 150
    assert all(re.compile(p) for p in patterns)

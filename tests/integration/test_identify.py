"""Identification on the real corpus, with both engines: agreement with the PUIDs and MIME types its sources
state, the engine choice and its setting, the engine and signature version named in every result, and the
engines' behaviour under threads, worker processes and fork."""

from __future__ import annotations

import csv
import multiprocessing
import os
import re
import tempfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from format_registry import identify as identify_module
from format_registry.identify import (
    DEFAULT_ENGINE,
    ENGINES,
    METHODS,
    FidoIdentifier,
    IdentificationEngineError,
    configure,
    engine_info,
    identify,
    identify_many,
    shared_identifier,
)
from preservation.config import ConfigError, load_settings
from tests.conftest import CORPORA, FIXTURE_SIPS

FORMATS = CORPORA / "formats"


@pytest.fixture(autouse=True)
def _default_engine() -> Iterator[None]:
    """Every test starts and ends with the built-in default engine (configure() is process-wide)."""
    configure()
    yield
    configure()


def _expected_rows() -> list[dict[str, str]]:
    with (FORMATS / "EXPECTED.tsv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _scores(engine: str) -> tuple[int, int, int, int]:
    """(PUIDs right, PUIDs stated, MIME types right, MIME types stated) on EXPECTED.tsv."""
    rows = _expected_rows()
    results = {r["path"]: identify(FORMATS / r["path"], engine=engine) for r in rows}
    puid_rows = [r for r in rows if r["expected_puid"]]
    mime_rows = [r for r in rows if r["expected_mime"]]
    puid_right = sum(results[r["path"]].puid in r["expected_puid"].split(";") for r in puid_rows)
    mime_right = sum(results[r["path"]].mime == r["expected_mime"] for r in mime_rows)
    assert all(res.method in METHODS and res.engine == engine for res in results.values())
    return puid_right, len(puid_rows), mime_right, len(mime_rows)


# measured 2026-12 (docs/decisions/0016): Siegfried 44/44 PUIDs, 347/397 MIME; FIDO 41/44, 349/397
FLOORS = {"siegfried": (0.97, 0.85), "fido": (0.90, 0.85)}


@pytest.mark.parametrize("engine", ENGINES)
def test_agreement_with_expected_puids_and_mimes(engine: str) -> None:
    puid_right, puid_total, mime_right, mime_total = _scores(engine)
    print(f"{engine}: PUID agreement {puid_right}/{puid_total}, MIME agreement {mime_right}/{mime_total}")
    assert puid_total >= 40 and mime_total >= 300
    assert puid_right / puid_total >= FLOORS[engine][0]
    assert mime_right / mime_total >= FLOORS[engine][1]


def test_the_default_engine_is_the_one_right_more_often() -> None:
    """PUIDs first (the format policy keys on them), MIME types to break a tie."""
    scores = {engine: _scores(engine) for engine in ENGINES}
    other = next(e for e in ENGINES if e != DEFAULT_ENGINE)
    ours, theirs = scores[DEFAULT_ENGINE], scores[other]
    assert (ours[0], ours[2]) >= (theirs[0], theirs[2]), scores


@pytest.mark.parametrize(
    ("path", "puid", "method"),
    [
        ("audio/fits_test.wav", "fmt/703", "signature"),  # Broadcast WAVE 2 (FIDO: WAVE PCM, fmt/142)
        ("legacy-office/fits_WordPerfect4_2.wp", "x-fmt/203", "extension"),  # FIDO: no PUID
        ("video/fits_aletrek-rle.mov", "x-fmt/384", "signature"),  # QuickTime (FIDO: fmt/797, by extension)
        ("text/fits_simple_webvtt.vtt", "fmt/1454", "signature"),
        ("xml/fits_P3EKWCX2XYWWB8Y.xml", "fmt/1476", "signature"),  # TEI
    ],
)
def test_siegfried_on_the_files_fido_gets_wrong_or_hardly(path: str, puid: str, method: str) -> None:
    found = identify(FORMATS / path, engine="siegfried")
    assert (found.puid, found.method) == (puid, method)


@pytest.mark.parametrize("engine", ENGINES)
def test_kho_fixture_files_known_by_construction(engine: str) -> None:
    """fixtures/generate.py writes a %PDF-1.4 file, OOXML, Pillow JPEG (JFIF 1.01) / TIFF / PNG, XML and text."""
    expected = {".pdf": "fmt/18", ".docx": "fmt/412", ".jpg": "fmt/43", ".tif": "fmt/353", ".png": "fmt/11",
                ".xml": "fmt/101", ".txt": "x-fmt/111"}  # fmt: skip
    files = [p for p in sorted(FIXTURE_SIPS.rglob("*")) if p.is_file() and p.suffix in expected]
    assert len(files) > 50 and {p.suffix for p in files} == set(expected)
    answers = {p: identify(p, engine=engine).puid for p in files}
    assert {str(p): puid for p, puid in answers.items() if puid != expected[p.suffix]} == {}


def test_siegfried_knows_plain_json() -> None:
    """The TT 05 hồ sơ JSON is JSON (fmt/817); FIDO's extension fallback picks "Tweet JSON" (fmt/1311)."""
    found = identify(FIXTURE_SIPS / "tt05-hoso-json" / "metadata" / "hoso.json", engine="siegfried")
    assert (found.puid, found.mime, found.method) == ("fmt/817", "application/json", "extension")


# -- what every result says about its engine ---------------------------------------------------------


def test_result_names_engine_and_signature_version() -> None:
    pdf = FORMATS / "pdf" / "fits_PDF_eng.pdf"
    siegfried, fido = identify(pdf, engine="siegfried"), identify(pdf, engine="fido")
    assert siegfried.engine == "siegfried" and fido.engine == "fido"
    assert re.match(r"Siegfried 1\.\d+\.\d+, DROID_SignatureFile_V\d+ / container-signature-\d{8} \(default\.sig\)",
                    siegfried.tool), siegfried.tool  # fmt: skip
    assert re.match(r"FIDO 1\.\d+\.\d+, PRONOM v\d+ / container-signature-\d{8} \(formats-v\d+\.xml\)", fido.tool)
    for engine, found in (("siegfried", siegfried), ("fido", fido)):
        info = engine_info(engine)
        assert found.tool == info.tool and found.tool.startswith(info.describe()) and "; libmagic 5." in info.tool
        assert found.to_dict()["engine"] == engine and found.to_dict()["tool"] == found.tool
    info = engine_info("siegfried")
    assert (info.name, info.signature_file) == ("Siegfried", "default.sig") and info.signature_created
    assert int(re.search(r"V(\d+)", info.signatures).group(1)) > int(engine_info("fido").signatures.split()[1][1:])


# -- the engine choice and its setting ---------------------------------------------------------------


def test_engine_choice_setting(tmp_path: Path) -> None:
    pdf = FORMATS / "pdf" / "fits_PDF_eng.pdf"
    base = {"KHO_HOME": str(tmp_path / "home")}
    default = load_settings(base)
    assert (default.identify_engine, default.siegfried_signature) == (DEFAULT_ENGINE, "")
    chosen = load_settings({**base, "KHO_IDENTIFY_ENGINE": "FIDO"})
    assert chosen.identify_options() == {"engine": "fido", "siegfried_signature": None}
    assert identify(pdf, **chosen.identify_options()).engine == "fido"
    assert identify_many([pdf], **chosen.identify_options())[0].engine == "fido"
    assert identify(pdf).engine == DEFAULT_ENGINE  # passing options changes no process default
    chosen.adopt_identification()  # what Context (ensure_dirs) and the CLI do
    assert identify(pdf).engine == "fido" and engine_info().engine == "fido"
    (tmp_path / "kho.toml").write_text('[kho]\nidentify_engine = "siegfried"\n', encoding="utf-8")
    from_file = load_settings({**base, "KHO_CONFIG": str(tmp_path / "kho.toml")})
    from_file.adopt_identification()
    assert from_file.identify_engine == "siegfried" and identify(pdf).engine == "siegfried"
    with pytest.raises(ConfigError, match="KHO_IDENTIFY_ENGINE='droid'"):
        load_settings({**base, "KHO_IDENTIFY_ENGINE": "droid"})
    with pytest.raises(IdentificationEngineError, match="unknown identification engine"):
        identify(pdf, engine="droid")


def test_bad_signature_path_gives_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "không-có.sig"
    with pytest.raises(ConfigError, match=r"KHO_SIEGFRIED_SIGNATURE=.*không-có\.sig: no such file"):
        load_settings({"KHO_HOME": str(tmp_path), "KHO_SIEGFRIED_SIGNATURE": str(missing)})
    with pytest.raises(IdentificationEngineError, match="does not exist"):
        configure("siegfried", missing)
    not_a_signature = tmp_path / "newer.sig"
    not_a_signature.write_bytes(b"sf\x00\xff not really a signature file")
    settings = load_settings({"KHO_HOME": str(tmp_path), "KHO_SIEGFRIED_SIGNATURE": str(not_a_signature)})
    assert settings.siegfried_signature == str(not_a_signature.resolve())
    with pytest.raises(IdentificationEngineError, match=r"cannot load the signature file .*newer\.sig.*sf -update"):
        configure(**settings.identify_options(), load=True)
    with pytest.raises(IdentificationEngineError, match=r"newer\.sig"):
        identify(FORMATS / "pdf" / "fits_PDF_eng.pdf", **settings.identify_options())


def _embedded_signature_files(out: Path) -> list[Path]:
    """The .sig files pygfried embeds (default and archivematica), cut out of its extension module.

    A Siegfried signature file is ``sf\\x00\\xff``, two version bytes and one raw-deflate stream, so each
    embedded copy ends where its stream ends. They stand in for a newer file from `sf -update`: the
    point is that a signature file given by path is loaded and named."""
    import pygfried

    data = Path(str(pygfried.__file__)).read_bytes()  # the extension module: pygfried.abi3.so
    found = []
    for match in re.finditer(re.escape(b"sf\x00\xff"), data):
        stream = data[match.end() + 2:]
        inflate = zlib.decompressobj(-15)
        try:
            body = inflate.decompress(stream)
        except zlib.error:
            continue
        if inflate.eof and len(body) > 100_000:
            path = out / f"embedded-{len(found)}.sig"
            path.write_bytes(data[match.start():match.end() + 2 + len(stream) - len(inflate.unused_data)])
            found.append(path)
    return found


def test_a_signature_file_given_by_path_is_used_and_named(tmp_path: Path) -> None:
    files = _embedded_signature_files(tmp_path)
    assert len(files) >= 2, "pygfried no longer embeds its .sig files as this test expects"
    infos = {path: engine_info("siegfried", path) for path in files}
    assert all(info.signature_file == str(path) for path, info in infos.items())
    assert len({info.signatures for info in infos.values()}) == len(files)  # each names its own signatures
    pronom = next(path for path, info in infos.items() if info.signatures.startswith("DROID_SignatureFile_V"))
    assert infos[pronom].signatures == engine_info("siegfried").signatures  # the bundled one, now from a file
    configure("siegfried", pronom)
    found = identify(FORMATS / "pdf" / "fits_PDF_eng.pdf")
    assert found.puid == "fmt/17" and str(pronom) in found.tool
    settings = load_settings({"KHO_HOME": str(tmp_path / "home"), "KHO_SIEGFRIED_SIGNATURE": str(pronom)})
    assert identify(FORMATS / "jpeg" / "fits_GLOBE1.JPG", **settings.identify_options()).tool.startswith(
        infos[pronom].describe())


# -- large files: Siegfried reads a head + tail copy -----------------------------------------------------


def test_a_large_file_keeps_its_name_and_says_how_it_was_read(tmp_path: Path) -> None:
    """CSV has no signature: only the file's name (kept by the head + tail copy) makes it x-fmt/18."""
    from format_registry.siegfried import PROXY_ABOVE

    table = tmp_path / "danh-mục.csv"
    table.write_bytes("stt,số ký hiệu,trích yếu\r\n".encode() * (PROXY_ABOVE // 20))
    found = identify(table, engine="siegfried")
    assert (found.puid, found.method) == ("x-fmt/18", "extension")
    assert "first and last 4 MiB" in (found.warning or "")
    assert identify_many([table, table], engine="siegfried") == [found, found]
    assert not list(Path(tempfile.gettempdir()).glob("kho-siegfried-*"))  # the copies are gone


def test_a_large_file_is_not_read_whole(tmp_path: Path) -> None:
    """Siegfried maps a PDF whole (signatures that may match anywhere): a 600 MB file raised the peak RSS by
    600 MB. A sparse file costs no disk; the peak RSS of a fresh process tells whether it was read whole."""
    import subprocess
    import sys

    pdf = tmp_path / "hồ-sơ-lớn.pdf"
    with open(pdf, "wb") as handle:
        handle.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        handle.truncate(600_000_000)
        handle.seek(0, os.SEEK_END)
        handle.write(b"\ntrailer\n<< >>\nstartxref\n0\n%%EOF\n")
    script = ("import sys; from format_registry.identify import identify;"
              "f = identify(sys.argv[1], engine='siegfried');"
              "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0];"
              "print(f.puid, f.method, int(hwm) * 1024)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script, str(pdf)], capture_output=True, text=True, timeout=300,
                          check=True, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    puid, method, peak = done.stdout.split()
    assert (puid, method) == ("fmt/18", "signature")
    assert int(peak) < 400_000_000, f"peak RSS {int(peak) / 1e6:.0f} MB: the file was read whole"


# -- behaviour shared by both engines ----------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_file_is_not_guessed(tmp_path: Path, engine: str) -> None:
    empty = tmp_path / "rỗng.pdf"
    empty.write_bytes(b"")
    found = identify(empty, engine=engine)
    assert found.puid is None and found.method == "none" and found.warning == "zero-byte file"
    assert identify_many([empty], workers=2, engine=engine)[0] == found


@pytest.mark.parametrize("engine", ENGINES)
def test_ooxml_is_identified_by_container(engine: str) -> None:
    found = identify(FORMATS / "ooxml" / "fits_Word_has_index.docx", engine=engine)
    assert (found.puid, found.method) == ("fmt/412", "container")


def test_fast_matcher_gives_exactly_fido_s_answers() -> None:
    """The indexed, precompiled matcher must agree with FIDO's own on every corpus file."""
    reference, fast = FidoIdentifier(optimised=False), FidoIdentifier()
    files = sorted(p for p in FORMATS.rglob("*") if p.is_file())
    assert len(files) > 350
    for path in files:
        expected, found = reference.identify(path), fast.identify(path)
        assert (found.puid, found.mime, found.method, found.candidates) == (
            expected.puid, expected.mime, expected.method, expected.candidates), path


def test_identify_many_uses_a_pool_and_keeps_order_fido() -> None:
    files = sorted(p for p in FORMATS.rglob("*") if p.is_file())[:60]
    sequential = [identify(p, engine="fido") for p in files]
    pooled = identify_many(files * 10, workers=2, engine="fido")  # 600 ≥ POOL_THRESHOLD: real worker processes
    assert len(pooled) == 600
    assert [(r.puid, r.mime) for r in pooled[:60]] == [(r.puid, r.mime) for r in sequential]
    assert [(r.puid, r.mime) for r in pooled[540:]] == [(r.puid, r.mime) for r in sequential]


def test_identify_many_siegfried_uses_go_workers_keeps_order_and_answers(tmp_path: Path) -> None:
    """Go workers inside this process (no fork), several Go calls, an empty file and repeats in between."""
    empty = tmp_path / "rỗng.txt"
    empty.write_bytes(b"")
    files = [*sorted(p for p in FORMATS.rglob("*") if p.is_file()), empty]
    assert len(files) > identify_module.POOL_THRESHOLD // 2
    paths = files + files[:300]  # more than one BATCH_FILES call
    many = identify_many(paths, workers=2, engine="siegfried")
    one_by_one = [identify(p, engine="siegfried") for p in paths]
    assert many == one_by_one
    assert many[len(files) - 1].warning == "zero-byte file"
    with pytest.raises(FileNotFoundError):
        identify_many([files[0], tmp_path / "không-có.pdf"], engine="siegfried")


def test_siegfried_from_many_threads_gives_the_same_answers() -> None:
    files = sorted(p for p in FORMATS.rglob("*") if p.is_file())[:200]
    serial = [identify(p, engine="siegfried") for p in files]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda p: identify(p, engine="siegfried"), files))
    assert threaded == serial


def _identify_in_child(path: str, queue: Any) -> None:
    from format_registry.siegfried import SiegfriedIdentifier

    for attempt in (lambda: shared_identifier("siegfried").identify(path), SiegfriedIdentifier):
        try:
            attempt()
            queue.put("went ahead")
        except RuntimeError as exc:
            queue.put(f"refused: {exc}")


def test_siegfried_refuses_to_run_in_a_forked_child_instead_of_hanging() -> None:
    """Go code hangs after fork (the child never returns): the loaded scanner must say so instead."""
    pdf = str(FORMATS / "pdf" / "fits_PDF_eng.pdf")
    assert shared_identifier("siegfried").identify(pdf).puid  # loaded (Go runtime started) in this process
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_identify_in_child, args=(pdf, queue))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("the forked child hung in Siegfried instead of refusing")
    answers = [queue.get(timeout=5), queue.get(timeout=5)]  # the loaded scanner, then a new one
    assert all(a.startswith("refused:") and "forked" in a and str(os.getpid()) in a for a in answers), answers


@pytest.mark.parametrize("engine", ENGINES)
def test_vietnamese_text_that_libmagic_takes_for_audio_is_plain_text(tmp_path: Path, engine: str) -> None:
    """libmagic reads "V\\xe1\\xbb\\xa5" as an MPEG-4 LATM sync word; FIDO's .txt candidates and a clean UTF-8
    decode win over that guess, Siegfried's text matcher reads it as text. Binary bytes in a .txt are not text."""
    text = tmp_path / "công-văn.txt"
    text.write_text(
        "Vụ tờ đồng tháng từ điện tháng vận mật cơ Việt cán dựng dung phát thu phát. "
        "Sự hỏa thôn viễn dụng tài môi bằng đào Cần thường bảo triển thập lưu.\n" * 20,
        encoding="utf-8",
    )
    import magic

    assert magic.from_file(str(text), mime=True) != "text/plain"  # the misfire this test is about
    found = identify(text, engine=engine)
    method = {"fido": "extension", "siegfried": "text"}[engine]
    assert (found.puid, found.mime, found.method) == ("x-fmt/111", "text/plain", method)
    binary = tmp_path / "không-phải-văn-bản.txt"
    binary.write_bytes("Vụ tờ đồng".encode() + bytes(range(0, 32)) * 8)
    assert identify(binary, engine=engine).puid != "x-fmt/111"


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


@pytest.mark.parametrize("engine", ENGINES)
def test_odf_version_comes_from_content_xml_as_droid_reads_it(tmp_path: Path, engine: str) -> None:
    """Every file of a container signature is checked (FIDO itself checks only the first, the manifest, which
    all ODF versions share) and PRONOM priorities pick 1.2 over the version-less 1.1 signature."""
    answers = {v: identify(_odt(tmp_path / f"v{v}.odt", v), engine=engine) for v in ("1.0", "1.1", "1.2")}
    assert {v: a.puid for v, a in answers.items()} == {"1.0": "fmt/136", "1.1": "fmt/290", "1.2": "fmt/291"}
    assert all(a.method == "container" for a in answers.values())
    assert identify(_odt(tmp_path / "none.odt", None), engine=engine).puid == "fmt/290"  # no version: 1.1


def test_container_sequences_compile_droid_syntax() -> None:
    from format_registry.containers import _sequence

    assert re.fullmatch(_sequence("'office:version=' [22 27] '1.2' [22 27]"), b"office:version='1.2'")
    assert re.fullmatch(_sequence("10 00 07 00 [00:FF] [00:FF] 00"), b"\x10\x00\x07\x00\xab\xcd\x00")
    assert re.fullmatch(_sequence("00 00 00 00 [01-04]"), b"\x00\x00\x00\x00\x03")
    assert not re.fullmatch(_sequence("00 00 00 00 [01-04]"), b"\x00\x00\x00\x00\x05")
    bits = re.compile(_sequence("[&01]"))
    assert bits.fullmatch(b"\x03") and not bits.fullmatch(b"\x02")


@pytest.mark.parametrize("engine", ENGINES)
def test_broken_zip_falls_back_to_the_outer_signature(tmp_path: Path, engine: str) -> None:
    broken = tmp_path / "hỏng.docx"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    found = identify(broken, engine=engine)
    assert found.method != "container" and found.puid != "fmt/412" and "fmt/412" in found.candidates


def test_every_bundled_container_signature_compiles() -> None:
    """Patterns are compiled lazily, where a broken one would only show as a missed match."""
    from fido import CONFIG_DIR
    from fido.versions import get_local_versions

    from format_registry.containers import load_signatures

    signatures = load_signatures(Path(CONFIG_DIR) / get_local_versions(CONFIG_DIR).pronom_container_signature)
    patterns = [p for s in signatures for f in s.files for p in f.patterns]
    assert len(signatures) > 150 and len(patterns) > 150
    assert all(re.compile(p) for p in patterns)

"""Minimal inputs for the crashes the fuzz targets found (``tests/fuzz/known_bugs.py``), in each target's
input layout. ``python -m tests.fuzz.make_corpus`` writes them to ``tests/fuzz/regressions/<target>/``, which
every fuzz run and ``tests/integration/test_fuzz.py`` replay; the strict-xfail tests in
``tests/integration/test_fuzz.py`` use the same builders against the product functions directly.
"""

from __future__ import annotations

import hashlib
import io
import zipfile

from tests.fuzz.targets import SEP

METS_NS = 'xmlns="http://www.loc.gov/METS/" xmlns:xlink="http://www.w3.org/1999/xlink"'


def bagit_txt(encoding: str = "UTF-8", version: str = "1.0") -> bytes:
    return f"BagIt-Version: {version}\nTag-File-Character-Encoding: {encoding}\n".encode()


def mets_createdate(value: str) -> bytes:
    return f'<mets {METS_NS}><metsHdr CREATEDATE="{value}"/></mets>'.encode()


def mets_file_size(value: str) -> bytes:
    return (f'<mets {METS_NS}><fileSec><fileGrp USE="Data"><file SIZE="{value}">'
            '<FLocat LOCTYPE="URL" xlink:href="a.txt"/></file></fileGrp></fileSec></mets>').encode()


def _zip(name: str, content: bytes, compression: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr(zipfile.ZipInfo(name, date_time=(2025, 6, 1, 0, 0, 0)), content,
                         compress_type=compression)
    return buffer.getvalue()


def _local_data_offset(raw: bytes | bytearray) -> int:
    name_length = int.from_bytes(raw[26:28], "little")
    extra_length = int.from_bytes(raw[28:30], "little")
    return 30 + name_length + extra_length


def zip_corrupt_deflate() -> bytes:
    """One DEFLATE entry whose first compressed byte announces the reserved block type 3."""
    raw = bytearray(_zip("METS.xml", b"<mets/>" * 20, zipfile.ZIP_DEFLATED))
    raw[_local_data_offset(raw)] = 0xFF
    return bytes(raw)


def zip_corrupt_lzma() -> bytes:
    """One LZMA entry whose properties header is garbage."""
    raw = bytearray(_zip("METS.xml", b"<mets/>" * 20, zipfile.ZIP_LZMA))
    start = _local_data_offset(raw) + 4  # after the LZMA version and properties-size fields
    raw[start:start + 5] = b"\xff" * 5
    return bytes(raw)


def zip_bad_utf8_name() -> bytes:
    """An entry flagged UTF-8 (general purpose bit 11) whose name is not UTF-8."""
    return _zip("\u00e9.txt", b"x", zipfile.ZIP_STORED).replace("\u00e9".encode(), b"\xa2\xa2")


def zip_empty_name() -> bytes:
    """An entry with an empty name (its one name byte turned into 'extra field' bytes)."""
    raw = bytearray(_zip("M", b"", zipfile.ZIP_STORED))
    central = raw.index(b"PK\x01\x02")
    raw[26:30] = b"\x00\x00\x01\x00"  # local header: name length 0, extra length 1
    raw[central + 28:central + 32] = b"\x00\x00\x01\x00"  # central directory: the same
    return bytes(raw)


def zip_unsafe_and_corrupt_mets() -> bytes:
    """unpack_package refuses it for the unsafe name before decompressing anything; is_eark_package reads
    the corrupt METS.xml."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # fixed dates: make_corpus writes the same bytes every run
        archive.writestr(zipfile.ZipInfo("../x", date_time=(2025, 6, 1, 0, 0, 0)), b"")
        archive.writestr(zipfile.ZipInfo("METS.xml", date_time=(2025, 6, 1, 0, 0, 0)), b"<mets/>" * 20,
                         compress_type=zipfile.ZIP_DEFLATED)
    raw = bytearray(buffer.getvalue())
    mets = raw.index(b"PK\x03\x04", 1)
    raw[mets + _local_data_offset(raw[mets:])] = 0xFF
    return bytes(raw)


def access_rules_bag(rules: bytes) -> bytes:
    """A valid one-file bag (sip target's named bundle) whose access-rules.csv is ``rules``: the rules are
    read only after every checksum matched, and access-rules.csv is in no manifest."""
    content = b"hello\n"
    manifest = hashlib.sha256(content).hexdigest().encode() + b"  data/a.txt\n"
    return SEP.join([b"bagit.txt\n" + bagit_txt(), b"manifest-sha256.txt\n" + manifest, b"data/a.txt\n" + content,
                     b"access-rules.csv\n" + rules])


ACCESS_RULES_LONE_CR = b"path,mode\ndata/a\r.txt,01\n"
ACCESS_RULES_HUGE_FIELD = b'path,mode\n"data/' + b"x" * 200_000 + b'",01\n'


# target -> {name: input}; the name starts with the known bug's name
REGRESSIONS: dict[str, dict[str, bytes]] = {
    "bagit_tags": {
        "tag_file_unicode_error-utf16": SEP.join([bagit_txt("UTF-16"), b"", b"ab"]),
        "tag_file_unicode_error-undefined": SEP.join([bagit_txt("undefined"), b"A: b\n"]),
        "bagit_version_digits": bagit_txt(version="1" * 5000 + ".0"),
    },
    "sip": {
        "tag_file_unicode_error": SEP.join([b"bagit.txt\n" + bagit_txt("UTF-16"), b"manifest-sha256.txt\nab"]),
        "access_rules_csv_error-lone-cr": access_rules_bag(ACCESS_RULES_LONE_CR),  # the huge field: test only
    },
    "eark_mets": {
        "mets_datetime_overflow": mets_createdate("0001-01-01T00:00:00+01:00"),
        "mets_size_not_int": mets_file_size("\u00b2"),
    },
    "tt05_ead": {
        "ead_doc_name_digits": SEP.join([b"", "\u00b2".encode() + b"\n<simpledc/>"]),
    },
    "eark_zip": {
        "unpack_zip_library_errors-deflate": zip_corrupt_deflate(),
        "unpack_zip_library_errors-lzma": zip_corrupt_lzma(),
        "unpack_zip_library_errors-utf8-name": zip_bad_utf8_name(),
        "unpack_zip_library_errors-empty-name": zip_empty_name(),
        "is_eark_package_zip_errors": zip_unsafe_and_corrupt_mets(),
    },
}

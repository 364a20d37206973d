"""Crashes the fuzz targets have found that are not fixed yet, so that they do not hide new ones.

Each entry matches an exception by its type and the innermost frame of product code (``packages/`` or
``preservation/``) it went through: file and function, not the line, so that edits elsewhere in the file
do not break the match. Each has a strict-xfail regression test in ``tests/integration/test_fuzz.py`` with a minimal
reproducer; when the bug is fixed that test passes (XPASS fails the run), and its entry here must go.

The runner (``python -m tests.fuzz``) and ``tests/integration/test_fuzz.py`` count a known crash and go on; ``--strict``
makes the runner treat them as new ones.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_DIRS = ("packages", "preservation")


@dataclass(frozen=True)
class KnownBug:
    name: str  # the regression test is tests/integration/test_fuzz.py::test_known_<name>
    exceptions: tuple[str, ...]  # qualified names of exception types, e.g. "builtins.OverflowError"
    file: str  # product file of the innermost product frame, relative to the repository root
    functions: tuple[str, ...]  # function of that frame
    summary: str


# Exceptions zipfile lets through from a hostile archive besides BadZipFile/OSError (CPython 3.11).
_ZIP_ERRORS = ("zlib.error", "_lzma.LZMAError", "builtins.UnicodeDecodeError", "builtins.IndexError",
               "builtins.EOFError", "builtins.ValueError", "builtins.OverflowError", "builtins.TypeError",
               "struct.error", "builtins.KeyError", "builtins.AttributeError")

# Fixed (their tests in tests/integration/test_fuzz.py are plain regression tests now); kept to name what fuzzing found.
FIXED_BUGS: tuple[KnownBug, ...] = (
    KnownBug("unpack_zip_library_errors", _ZIP_ERRORS, "packages/eark.py", ("_unpack_zip",),
             "_unpack_zip catches only OSError/BadZipFile/...: a corrupt DEFLATE or LZMA stream (zlib.error, "
             "LZMAError), a non-UTF-8 name with the UTF-8 flag (UnicodeDecodeError) or an empty name "
             "(IndexError in ZipInfo.is_dir) escape unpack_package and validate_eark"),
    KnownBug("is_eark_package_zip_errors", _ZIP_ERRORS, "packages/eark.py", ("is_eark_package", "_looks_like_csip"),
             "is_eark_package lets the same zipfile exceptions, and EOFError from a truncated METS.xml entry, "
             "escape instead of answering False"),
    KnownBug("tag_file_unicode_error", ("builtins.UnicodeError",), "packages/bagit_reader.py",
             ("__iter__", "decode_tag_text"),
             "LineReader/decode_tag_text catch UnicodeDecodeError only; UTF-16 without a BOM and the "
             "'undefined' codec raise plain UnicodeError, which escapes validate_sip"),
    KnownBug("bagit_version_digits", ("builtins.ValueError",), "packages/bagit_reader.py", ("read_declaration",),
             "read_declaration: int() of a BagIt-Version with more than 4300 digits raises ValueError"),
    KnownBug("mets_datetime_overflow", ("builtins.OverflowError",), "packages/eark.py", ("_parse_datetime",),
             "_parse_datetime applies the time-zone offset outside its try: 0001-01-01T00:00:00+01:00 or "
             "9999-12-31T23:00:00-14:00 raise OverflowError"),
    KnownBug("mets_size_not_int", ("builtins.ValueError",), "packages/eark.py", ("check_reference",),
             "check_reference: SIZE passes str.isdigit() but not int() (\u00b2, or more than 4300 digits)"),
    KnownBug("ead_doc_name_digits", ("builtins.ValueError", "builtins.TypeError"), "packages/tt05.py",
             ("_natural_key",),
             "_natural_key: int() of a name part that is str.isdigit() but not a decimal (\u00b2) raises ValueError"),
    KnownBug("access_rules_csv_error", ("_csv.Error",), "packages/access.py", ("parse_access_rules",),
             "parse_access_rules: a lone CR inside an access-rules.csv field, or a field over the csv module's "
             "128 KiB limit, raise csv.Error, which escapes validate_sip (found by code reading while bounding "
             "the file's size)"),
)

# Found and not fixed yet: a crash matching one of these does not fail the fuzz run (its strict-xfail test does).
KNOWN_BUGS: tuple[KnownBug, ...] = ()


def _relative(filename: str) -> str:
    try:
        return Path(filename).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return filename


def product_frames(exc: BaseException) -> list[tuple[str, str, int]]:
    """(file, function, line) of the frames of product code the exception went through, innermost last."""
    found = []
    for frame in traceback.extract_tb(exc.__traceback__):
        rel = _relative(frame.filename)
        if rel.split("/", 1)[0] in PRODUCT_DIRS:
            found.append((rel, frame.name, frame.lineno or 0))
    return found


def product_frame(exc: BaseException) -> tuple[str, str, int] | None:
    """The innermost frame of product code; a comprehension counts as the function that holds it."""
    frames = product_frames(exc)
    while len(frames) > 1 and frames[-1][1].startswith("<") and frames[-2][0] == frames[-1][0]:
        frames.pop()
    return frames[-1] if frames else None


def exception_name(exc: BaseException) -> str:
    kind = type(exc)
    return f"{kind.__module__}.{kind.__qualname__}"


def signature(exc: BaseException) -> str:
    """A short, line-independent name of a crash: ``builtins.ValueError at packages/eark.py:check_reference``."""
    where = product_frame(exc)
    if where is None:
        frames = traceback.extract_tb(exc.__traceback__)
        last = frames[-1] if frames else None
        place = f"{_relative(last.filename)}:{last.name}" if last else "?"
    else:
        place = f"{where[0]}:{where[1]}"
    return f"{exception_name(exc)} at {place}"


def match(exc: BaseException) -> KnownBug | None:
    where = product_frame(exc)
    if where is None:
        return None
    name = exception_name(exc)
    for bug in KNOWN_BUGS:
        if name in bug.exceptions and bug.file == where[0] and where[1] in bug.functions:
            return bug
    return None

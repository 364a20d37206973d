"""The fuzz targets: each takes the fuzzer's bytes, lays them out where the parser reads them (a scratch
folder), calls the parser, and checks that the outcome is one the parser documents.

A target returns normally for every *expected* outcome (a report with problems or failures, or the
exception the parser documents, ``Target.expected``); any other exception is a crash, and so is a broken
invariant (``InvariantError``), e.g. a ZIP entry written outside the target folder.

Several targets read a *bundle*: sections separated by ``SEP``. In ``named`` bundles each section starts
with a line naming the file (a path relative to the package, sanitised so that it stays in the scratch
folder); the rest of the section is the file's content. The seed corpus (``tests/fuzz/corpus``, made by
``tests/fuzz/make_corpus.py``) uses the same layout, so mutations start from real packages.

Import this module inside ``atheris.instrument_imports()``: it imports the product modules it fuzzes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from packages import bagit_reader, eark, sip, tt05
from packages.bagit_reader import ALGORITHMS, Declaration, LineReader, TagFileError

SEP = b"\n%%\n"
MAX_DEPTH = 6  # path components of a named section
MAX_FILES = 64  # files a bundle may create
TAG_LIMIT = 64 * 1024  # max_tag_file_bytes the targets pass: small, so that the limit paths are reached
SMALL_TAG_LIMIT = 512  # ... with #small (sip): a TT 05 record or access-rules.csv of the seeds is over it
TT05_FILE_LIMIT = 4096  # max_file_bytes of tt05_ead: the seeds' records fit, grown mutants do not
TT05_LINE_LIMIT = 32  # max_lines of tt05_ead: a bundle may hold more EAD_doc files (MAX_FILES) than this
ZIP_MAX_BYTES = 64 * 1024  # "tiny max_bytes" of the ZIP pre-check
ZIP_MAX_ENTRIES = 64
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # E-ARK "date in the future" checks stay deterministic


class InvariantError(AssertionError):
    """The parser returned, but its result breaks a property it promises (a crash for the fuzzer)."""


# ----------------------------------------------------------------------------------------- scratch space

_scratch_root: Path | None = None


def set_scratch_root(path: Path | None) -> None:
    """Where targets lay out their files (default: a private temporary folder, made on first use)."""
    global _scratch_root
    _scratch_root = path


def fresh(name: str) -> Path:
    """An empty folder ``name`` under the scratch root; what the previous input left there is removed."""
    global _scratch_root
    if _scratch_root is None:
        _scratch_root = Path(tempfile.mkdtemp(prefix="kho-fuzz-"))
    folder = _scratch_root / name
    if os.path.lexists(folder):
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


# ----------------------------------------------------------------------------------------- bundles

def sections(data: bytes) -> list[bytes]:
    return data.split(SEP)


def safe_relpath(name: bytes, max_depth: int = MAX_DEPTH) -> bytes | None:
    """A relative path that stays below the folder it is joined to (any other bytes are kept: the
    parsers must cope with non-UTF-8, non-NFC and control characters in names)."""
    parts = [part[:255] for part in name.replace(b"\x00", b"").split(b"/") if part not in (b"", b".", b"..")]
    return b"/".join(parts[:max_depth]) or None


def named_sections(data: bytes) -> list[tuple[bytes, bytes]]:
    """``(relative path, content)`` of each section of a named bundle."""
    found = []
    for section in sections(data)[:MAX_FILES]:
        name, _newline, content = section.partition(b"\n")
        relpath = safe_relpath(name.rstrip(b"\r"))
        if relpath is not None:
            found.append((relpath, content))
    return found


def write_file(root: Path, relpath: bytes, content: bytes) -> bool:
    """Write ``root/relpath``; False when the layout makes it impossible (a file where a folder is)."""
    full = os.path.join(os.fsencode(root), relpath)
    try:
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if os.path.isdir(full):
            return False
        with open(full, "wb") as handle:
            handle.write(content)
    except OSError:
        return False
    return True


def _as_json(report_dict: object) -> None:
    """Every report ends up in JSON (API, PREMIS, audit log): that must always work."""
    json.dumps(report_dict, ensure_ascii=False)


# ----------------------------------------------------------------------------------------- targets

def fuzz_bagit_tags(data: bytes) -> None:
    """The BagIt tag-file parsers of ``packages.bagit_reader``, called directly as ``packages.sip`` calls
    them: ``bagit.txt`` (read_declaration), then in the declared encoding ``bag-info.txt``
    (read_limited, decode_tag_text, parse_tag_text), a manifest (LineReader, parse_manifest_line; the
    section's first line names the algorithm) and ``fetch.txt`` (LineReader, parse_fetch_line).
    Expected outcome: values, or ``TagFileError``."""
    parts = [*sections(data), b"", b"", b"", b""][:4]
    bagit_txt, info_txt, manifest_txt, fetch_txt = parts
    root = fresh("tags")
    (root / "bagit.txt").write_bytes(bagit_txt)
    try:
        decl = bagit_reader.read_declaration(root / "bagit.txt", TAG_LIMIT)
    except TagFileError:
        decl = Declaration(version=(1, 0), encoding="utf-8")  # go on, so that every input reaches every parser
    if decl.version not in bagit_reader.KNOWN_VERSIONS:
        raise InvariantError(f"read_declaration accepted version {decl.version}")

    (root / "bag-info.txt").write_bytes(info_txt)
    try:
        raw = bagit_reader.read_limited(root / "bag-info.txt", TAG_LIMIT, "bag-info.txt")
        text, _bom = bagit_reader.decode_tag_text(raw, decl.encoding, "bag-info.txt")
        parsed = bagit_reader.parse_tag_text(text)
        for label, value in parsed.values.items():
            if not isinstance(label, str) or not isinstance(value, str | list):
                raise InvariantError(f"bag-info value of {label!r}: {type(value)}")
    except TagFileError:
        pass

    first, _newline, body = manifest_txt.partition(b"\n")
    algorithm = first.strip().decode("ascii", "replace").lower()
    if algorithm not in ALGORITHMS:
        algorithm, body = "sha256", manifest_txt
    (root / f"manifest-{algorithm}.txt").write_bytes(body)
    try:
        reader = LineReader(root / f"manifest-{algorithm}.txt", decl.encoding, 1000, 4096)
        for _number, line in reader:
            if line is None:
                continue
            entry = bagit_reader.parse_manifest_line(line, algorithm, decl.percent_encoded_paths)
            if entry is not None and (
                len(entry.digest) != bagit_reader.hex_length(algorithm) or entry.digest != entry.digest.lower()
            ):
                raise InvariantError(f"manifest digest {entry.digest!r} for {algorithm}")
    except TagFileError:
        pass

    (root / "fetch.txt").write_bytes(fetch_txt)
    try:
        for _number, line in LineReader(root / "fetch.txt", decl.encoding, 1000, 4096):
            if line is not None:
                bagit_reader.parse_fetch_line(line, decl.percent_encoded_paths)
    except TagFileError:
        pass


def fuzz_sip(data: bytes) -> None:
    """``packages.sip.validate_sip`` on a bag laid out from a named bundle (``bagit.txt``, ``bag-info.txt``,
    manifests, ``fetch.txt``, payload files, TT 05 metadata, ``access-rules.csv`` ...). Leading flags: ``#vn``
    uses the Vietnamese profile, ``#small`` a ``max_tag_file_bytes`` of 512 (so that TT 05 records and access
    rules meet it). A report with problems beyond the per-code cap is also written (``SipReport.write_json``).
    Expected outcome: a ``SipReport`` (problems make it invalid); never an exception."""
    profile, limit = "bagit", TAG_LIMIT
    while data.startswith((b"#vn\n", b"#small\n")):
        flag, _newline, data = data.partition(b"\n")
        profile = "vn" if flag == b"#vn" else profile
        limit = SMALL_TAG_LIMIT if flag == b"#small" else limit
    root = fresh("bag")
    for relpath, content in named_sections(data):
        write_file(root, relpath, content)
    report = sip.validate_sip(root, profile, max_manifest_lines=1000, max_tag_file_bytes=limit,
                              max_problems_per_code=20, max_problems_in_file=50)
    try:
        _as_json(report.to_dict())
        if report.valid != (not report.problems) or (report.valid and report.payload_hash is None):
            raise InvariantError("a valid report without a payload hash")
        for payload in report.files:
            if not sip.path_is_safe(payload.path) or not payload.path.startswith("data/"):
                raise InvariantError(f"payload file outside data/: {payload.path!r}")
        if report.unlisted_problems or report.unlisted_warnings:
            _check_written_report(report)
    finally:
        report.close()


def _check_written_report(report: sip.SipReport) -> None:
    """The written report reads back, counts what the summary counts, and its problems file holds exactly
    the lines it says, each a problem or warning of a known code."""
    out = fresh("report")
    written = report.write_json(out / "report.json")
    data = json.loads((out / "report.json").read_text("utf-8"))
    if data["problem_count"] != report.problem_count or data["warning_count"] != report.warning_count:
        raise InvariantError("the written report counts differently from the summary")
    if written is None or data.get("problems_file") != written.name:
        raise InvariantError("problems beyond the cap, but no problems file")
    lines = [json.loads(line) for line in written.read_bytes().splitlines()]
    if len(lines) != data["problems_file_lines"] or len(lines) + data.get("problems_not_written", 0) != (
            report.unlisted_problems + report.unlisted_warnings):
        raise InvariantError(f"{len(lines)} lines in the problems file, the report says otherwise")
    for line in lines:
        if line["code"] not in sip.MESSAGES or line["severity"] not in ("problem", "warning"):
            raise InvariantError(f"problems file line {line!r}")
    if sorted(os.listdir(out)) != sorted(["report.json", written.name]):
        raise InvariantError(f"write_json left {sorted(os.listdir(out))}")


# The files an E-ARK package around the fuzzed METS.xml holds, so that references can resolve.
EARK_FILES = {
    "metadata/descriptive/dc.xml": b"<dc/>\n",
    "metadata/preservation/premis.xml": b"<premis/>\n",
    "representations/rep1/data/file.txt": b"hello\n",
    "documentation/readme.txt": b"read me\n",
    "schemas/mets.xsd": b"<xs:schema/>\n",
}


def fuzz_eark_mets(data: bytes) -> None:
    """``packages.eark.is_eark_package`` and ``validate_eark`` on a package folder whose ``METS.xml`` is the
    first section (and ``representations/rep1/METS.xml`` the second, when there is one).
    Expected outcome: a bool; an ``EarkReport`` (failures make it invalid); never an exception."""
    parts = sections(data)
    root = fresh("pkg")
    for relpath, content in EARK_FILES.items():
        write_file(root, relpath.encode(), content)
    (root / "METS.xml").write_bytes(parts[0])
    if len(parts) > 1:
        (root / "representations" / "rep1" / "METS.xml").write_bytes(SEP.join(parts[1:]))
    if not isinstance(eark.is_eark_package(root), bool):
        raise InvariantError("is_eark_package did not return a bool")
    report = eark.validate_eark(root, now=NOW)
    _as_json(report.to_dict())
    report.reason()
    for found in report.files:
        if not sip.path_is_safe(found.path) or not (root / found.path).is_file():
            raise InvariantError(f"a declared file outside the package: {found.path!r}")


def fuzz_tt05_ead(data: bytes) -> None:
    """``packages.tt05.check_bag`` (load_metadata + validate_metadata, then to_json as ``packages.sip``
    does) on a bag whose ``metadata/EAD.xml`` is the first section; each further section is
    ``metadata/EAD_doc/<its first line>`` (one path component, any bytes). The metadata files are listed
    in a tag manifest unless the input starts with ``#untagged``; ``#partial`` allows MM/YYYY dates.
    Limits as ``validate_sip`` passes them, small: ``TT05_FILE_LIMIT`` bytes a file, ``TT05_LINE_LIMIT``
    EAD_doc files. Expected outcome: (None or metadata, findings); never an exception."""
    partial = untagged = False
    while data.startswith((b"#partial\n", b"#untagged\n")):
        flag, _newline, data = data.partition(b"\n")
        partial |= flag == b"#partial"
        untagged |= flag == b"#untagged"
    parts = sections(data)
    root = fresh("bag")
    payload = {"data/Quyết định.pdf", "data/a.txt"}
    for relpath in payload:
        write_file(root, relpath.encode(), b"%PDF-1.4\n")
    written = []
    if parts[0]:
        write_file(root, b"metadata/EAD.xml", parts[0])
        written.append(("metadata/EAD.xml", parts[0]))
    for section in parts[1:MAX_FILES]:
        name, _newline, content = section.partition(b"\n")
        name = name.replace(b"/", b"").replace(b"\x00", b"")[:255]
        if name in (b"", b".", b".."):
            continue
        if write_file(root, b"metadata/EAD_doc/" + name, content):
            written.append(("metadata/EAD_doc/" + name.decode("utf-8", "surrogateescape"), content))
    if not untagged:
        lines = [f"{hashlib.sha256(content).hexdigest()}  {relpath}" for relpath, content in written]
        (root / "tagmanifest-sha256.txt").write_text("\n".join(lines) + "\n", "utf-8", "surrogateescape")
    meta, findings = tt05.check_bag(root, payload, allow_partial_dates=partial, max_file_bytes=TT05_FILE_LIMIT,
                                    max_lines=TT05_LINE_LIMIT)
    if len(meta.documents if meta is not None else []) > TT05_LINE_LIMIT:
        raise InvariantError("more EAD_doc records read than max_lines")
    for problem in [*findings.problems, *findings.warnings]:
        _as_json(problem.to_dict())
    if meta is None:
        if findings.problems or findings.warnings:
            raise InvariantError("findings without metadata")
        return
    if not findings.problems and meta.hoso is not None:
        _as_json(tt05.to_json(meta))


def fuzz_eark_zip(data: bytes) -> None:
    """The ZIP pre-check: ``packages.eark.unpack_package`` with a tiny ``max_bytes``, then
    ``is_eark_package`` on the same archive, and ``validate_eark`` when the archive unpacked.
    Expected outcome: an ``EarkReport`` (failures: refused, nothing left behind), a bool, or
    ``ZipSpaceError`` (the machine's disk, documented); never an exception. Invariants: nothing is written
    outside the target, nothing at all when refused, and never more than ``max_bytes``."""
    root = fresh("zip")
    archive = root / "in.zip"
    archive.write_bytes(data)
    out = root / "out"
    out.mkdir()
    target = out / "pkg"
    try:
        report = eark.unpack_package(archive, target, max_bytes=ZIP_MAX_BYTES, max_entries=ZIP_MAX_ENTRIES)
    except eark.ZipSpaceError:
        return
    _as_json(report.to_dict())
    left = sorted(os.listdir(out))
    if report.failures:
        if left:
            raise InvariantError(f"a refused ZIP left {left} behind")
    else:
        if left != ["pkg"] or not target.is_dir() or target.is_symlink():
            raise InvariantError(f"an accepted ZIP left {left}")
        total = 0
        for folder, dirs, files in os.walk(target):
            for name in [*dirs, *files]:
                if os.path.islink(os.path.join(folder, name)):
                    raise InvariantError(f"a link was unpacked: {name!r}")
            total += sum(os.path.getsize(os.path.join(folder, name)) for name in files)
        if total > ZIP_MAX_BYTES:
            raise InvariantError(f"{total} bytes unpacked > max_bytes {ZIP_MAX_BYTES}")
    if sorted(os.listdir(root)) != ["in.zip", "out"]:
        raise InvariantError(f"unpacking wrote beside the target: {sorted(os.listdir(root))}")
    if not isinstance(eark.is_eark_package(archive), bool):
        raise InvariantError("is_eark_package did not return a bool")
    if not report.failures:
        work = root / "work"
        work.mkdir()
        checked = eark.validate_eark(archive, max_zip_bytes=ZIP_MAX_BYTES, max_zip_entries=ZIP_MAX_ENTRIES,
                                     workdir=work, now=NOW)
        _as_json(checked.to_dict())
        if os.listdir(work):
            raise InvariantError("validate_eark left its temporary copy behind")


# ----------------------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    max_len: int  # libFuzzer -max_len
    extra_instrument: tuple[str, ...] = ()  # stdlib modules worth coverage feedback too

    @property
    def summary(self) -> str:
        return (self.run.__doc__ or "").strip().split("\n")[0]


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("bagit_tags", fuzz_bagit_tags, 8192),
        Target("sip", fuzz_sip, 16384),
        Target("eark_mets", fuzz_eark_mets, 16384),
        Target("tt05_ead", fuzz_tt05_ead, 16384),
        Target("eark_zip", fuzz_eark_zip, 8192, ("zipfile",)),
    )
}

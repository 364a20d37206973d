"""Validation of BagIt submission packages (SIPs) before anything is ingested.

Kho reads bags itself (``packages.bagit_reader``, docs/decisions/0011-bagit-reader.md): bagit-python
skipped malformed manifest lines with only a log message, followed whatever the file system held, split
lines at every Unicode line boundary and read ``bag-info.txt`` in quadratic time with no bound. An archive
must refuse those packages, so manifests are parsed strictly, every input is bounded by a limit checked
before the work (``validate_sip``'s keyword arguments), the tree is walked without following links, and
every payload file is hashed exactly once (all manifest algorithms plus the digests Kho keeps) so that
the fixity step can reuse the digests instead of reading the files again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from packages import access, bagit_reader, tt05, vn_profile
from packages.bagit_reader import ALGORITHMS, WEAK_ALGORITHMS, Declaration, LineReader, TagFileError
from packages.checksums import hash_file, hash_many

# The problem vocabulary and the hostile-input limits live in leaf modules that access, tt05 and
# vn_profile import too (no import cycle through this module); re-exported here for existing callers.
from packages.limits import MAX_MANIFEST_LINES as MAX_MANIFEST_LINES
from packages.limits import MAX_NAME_BYTES as MAX_NAME_BYTES
from packages.limits import MAX_PATH_BYTES as MAX_PATH_BYTES
from packages.limits import MAX_TAG_FILE_BYTES as MAX_TAG_FILE_BYTES
from packages.problems import MESSAGES as MESSAGES
from packages.problems import Problem as Problem

LOGGER = logging.getLogger(__name__)
MANIFEST_NAME = re.compile(r"^(tag)?manifest-([A-Za-z0-9_-]+)\.txt$")

MAX_PROBLEMS_PER_CODE = 100  # problems (and warnings) of one code listed in a report; the rest are counted
MAX_PROBLEMS_IN_FILE = 100_000  # problems beyond those listed that a written report keeps in its problems file
MAX_FIELD_CHARS = 1000  # a path or detail in the problems file is cut here: each line stays small
PROBLEMS_FILE_SUFFIX = "-problems.jsonl"  # report.json -> report-problems.jsonl, beside it

# Files operating systems leave behind (lower case); reported as warnings, never removed.
OS_FILES = frozenset({".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini", ".directory", "icon\r"})
OS_FOLDERS = frozenset({"__macosx", ".spotlight-v100", ".trashes", ".fseventsd", ".temporaryitems"})

@dataclass
class PayloadFile:
    path: str  # relative to the bag root, always starting with "data/"
    size: int
    digests: dict[str, str]


class _Spill:
    """Problems beyond the per-code cap, one JSON object a line (severity, code, path, detail; the code's
    English and Vietnamese messages are in the report, which lists the first problems of every code), in an
    anonymous temporary file.

    Why a file: a SIP with a million bad manifest lines (or access rules, or TT 05 records) must cost
    neither a million ``Problem`` objects in memory nor a 179 MB ``report.json``; the archivist still gets
    the lines behind the summary, in ``report-problems.jsonl`` beside the report (``SipReport.write_json``).
    The file is unlinked from the start (``tempfile.TemporaryFile``), so a killed process leaves nothing
    behind, and it holds at most ``limit`` lines of at most ``MAX_FIELD_CHARS`` per field: a hostile bag
    cannot turn 2-byte manifest lines into gigabytes of report either."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 0)
        self.handle: IO[bytes] | None = None
        self.written = 0  # lines in the file
        self.dropped = 0  # problems beyond ``limit``: counted only

    def add(self, warning: bool, problem: Problem) -> None:
        if self.written >= self.limit:
            self.dropped += 1
            return
        if self.handle is None:
            self.handle = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the report's lifetime
        entry = {"severity": "warning" if warning else "problem", "code": problem.code,
                 "path": _cut(problem.path), "detail": _cut(problem.detail)}
        self.handle.write(json.dumps(entry, ensure_ascii=False).encode("utf-8") + b"\n")
        self.written += 1

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_FIELD_CHARS:
        return text
    return text[:MAX_FIELD_CHARS] + f"… [+{len(text) - MAX_FIELD_CHARS:,} characters]"


@dataclass
class SipReport:
    """The outcome of validating a SIP. ``problems`` and ``warnings`` are the *summary*: at most
    ``max_problems_per_code`` of each code (plus one ``more-problems`` entry counting the rest), small
    enough for an event, the catalog and a terminal. Problems beyond that were spilled to a temporary
    file as they were found; ``write_json`` copies them beside the report."""

    path: str
    profile: str
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    files: list[PayloadFile] = field(default_factory=list)
    bag_info: dict[str, str] = field(default_factory=dict)
    algorithms: list[str] = field(default_factory=list)
    payload_hash: str | None = None
    dossier_access: dict[str, str | None] = field(default_factory=dict)
    file_access: dict[str, dict[str, str | None]] = field(default_factory=dict)
    tt05: dict[str, object] | None = None  # the TT 05/2025 metadata the SIP carries, in hoso.json form
    tt05_standard: str | None = None  # TT05, or TT02 when converted
    tt05_notes: list[str] = field(default_factory=list)
    unlisted_problems: int = 0  # found but not in ``problems`` (beyond the per-code cap)
    unlisted_warnings: int = 0
    _spill: _Spill | None = field(default=None, repr=False, compare=False)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def problem_count(self) -> int:
        """Every problem found, listed or not (``more-problems`` entries only summarise, they do not count)."""
        return sum(p.code != "more-problems" for p in self.problems) + self.unlisted_problems

    @property
    def warning_count(self) -> int:
        return sum(p.code != "more-problems" for p in self.warnings) + self.unlisted_warnings

    def reason(self) -> str:
        """One human line for the archivist (English / Vietnamese)."""
        if not self.problems:
            return "valid / hợp lệ"
        first = self.problems[0]
        others = self.problem_count - 1
        more = f" (+{others:,} more / và {others:,} lỗi khác)" if others > 0 else ""
        return first.line() + more

    def to_dict(self) -> dict[str, object]:
        """The summary as JSON-ready data (bounded: what the CLI prints and ingest keeps)."""
        return {
            "path": self.path,
            "profile": self.profile,
            "valid": self.valid,
            "reason": self.reason(),
            "problem_count": self.problem_count,
            "warning_count": self.warning_count,
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [p.to_dict() for p in self.warnings],
            "files": len(self.files),
            "bytes": sum(f.size for f in self.files),
            "algorithms": self.algorithms,
            "payload_hash": self.payload_hash,
            "bag_info": self.bag_info,
        }

    def problems_file_name(self, report_path: Path | str) -> str:
        """Name of the JSON-lines file ``write_json(report_path)`` writes beside the report."""
        return Path(report_path).stem + PROBLEMS_FILE_SUFFIX

    def write_json(self, path: Path | str, extra: Mapping[str, object] | None = None, *,
                   file_mode: int = 0o640) -> Path | None:
        """Write the report to ``path`` as JSON (the summary of ``to_dict`` plus ``extra``) and, when problems
        beyond the per-code cap were found, those problems as JSON lines in ``<stem>-problems.jsonl`` beside
        it; return that file's path (None when there is none).

        The problems file is copied in chunks from the spill file, never held in memory, and written before
        the report, so a report that names it can rely on it. Both are written under a temporary name,
        fsynced and renamed (a reader never sees half a report), with ``file_mode`` whatever the umask
        (failed SIPs can hold protected records). The report records ``problems_file`` and how many lines
        it holds; problems beyond ``max_problems_in_file`` are only counted (``problems_not_written``)."""
        target = Path(path)
        data: dict[str, object] = {**self.to_dict(), **(extra or {})}
        spill = self._spill
        problems_path: Path | None = None
        if spill is not None and spill.handle is not None:
            problems_path = target.with_name(self.problems_file_name(target))
            spilled = spill.handle
            spilled.flush()
            spilled.seek(0)
            _write_atomically(problems_path, file_mode, lambda out: shutil.copyfileobj(spilled, out))
            spilled.seek(0, os.SEEK_END)  # more problems may still be added (ingest appends its own)
            data.update(problems_file=problems_path.name, problems_file_lines=spill.written)
        if spill is not None and spill.dropped:
            data["problems_not_written"] = spill.dropped
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
        _write_atomically(target, file_mode, lambda out: out.write(text.encode("utf-8")))
        return problems_path

    def close(self) -> None:
        """Delete the spill file now (it also goes when the report is garbage-collected)."""
        if self._spill is not None:
            self._spill.close()


def _write_atomically(path: Path, file_mode: int, write: Callable[[IO[bytes]], object]) -> None:
    """``write`` into a new file beside ``path``, fsync, rename over ``path``; ``file_mode`` exactly."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), file_mode)
    try:
        os.fchmod(descriptor, file_mode)  # the umask only removed bits; set exactly what was asked
        with os.fdopen(descriptor, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    os.replace(partial, path)


CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control_character(name: str) -> bool:
    """C0 and C1 control characters (and DEL): no record's name holds one, XML cannot carry most of them
    (PREMIS ``originalName``, METS ``href``), and on a terminal they rewrite what an archivist sees."""
    return CONTROL_CHARACTERS.search(name) is not None


def path_is_safe(relpath: str) -> bool:
    """A package path is safe when it stays inside the package on every platform and can be written in
    the AIP's XML metadata."""
    if not relpath or relpath.startswith(("/", "\\", "~")) or "\\" in relpath or has_control_character(relpath):
        return False
    if re.match(r"^[A-Za-z]:", relpath):
        return False
    parts = relpath.split("/")
    return all(part not in ("", ".", "..") for part in parts)


class _Sink:
    """Adds problems and warnings to a report, listing at most ``cap`` of one code (a million bad
    manifest lines must not make a million-entry report); the rest go to the report's spill file (at
    most ``file_cap`` of them) as they are found, and ``finish`` counts them in ``more-problems`` entries."""

    def __init__(self, report: SipReport, cap: int, file_cap: int = MAX_PROBLEMS_IN_FILE) -> None:
        self.report = report
        self.cap = max(cap, 1)
        self.file_cap = file_cap
        self.counts: Counter[tuple[bool, str]] = Counter()

    def problem(self, problem: Problem) -> None:
        self._add(False, problem)

    def warning(self, problem: Problem) -> None:
        self._add(True, problem)

    def _add(self, warning: bool, problem: Problem) -> None:
        key = (warning, problem.code)
        self.counts[key] += 1
        if self.counts[key] <= self.cap:
            (self.report.warnings if warning else self.report.problems).append(problem)
            return
        if self.report._spill is None:
            spill = self.report._spill = _Spill(self.file_cap)
            weakref.finalize(self.report, spill.close)  # the temporary file goes with the report
        self.report._spill.add(warning, problem)
        if warning:
            self.report.unlisted_warnings += 1
        else:
            self.report.unlisted_problems += 1

    def finish(self) -> None:
        for (warning, code), count in sorted(self.counts.items()):
            if count > self.cap:
                more = Problem(
                    "more-problems",
                    detail=f"{code}: {count - self.cap:,} more not listed here / còn {count - self.cap:,} lỗi "
                    f"không liệt kê ở đây (max_problems_per_code={self.cap}; a report written to a file lists them "
                    f"in <name>{PROBLEMS_FILE_SUFFIX} beside it / báo cáo ghi ra tệp liệt kê chúng trong tệp "
                    f"<tên>{PROBLEMS_FILE_SUFFIX} bên cạnh)",
                )
                (self.report.warnings if warning else self.report.problems).append(more)


@dataclass(frozen=True)
class _Limits:
    manifest_lines: int
    tag_file_bytes: int
    name_bytes: int
    path_bytes: int

    @property
    def line_chars(self) -> int:
        """Longest manifest or fetch.txt line read: a digest, a URL, and a path of max_path_bytes even
        with every byte percent-encoded."""
        return 3 * self.path_bytes + 4096


def _is_os_file(relpath: str) -> bool:
    parts = relpath.lower().split("/")
    return parts[-1] in OS_FILES or parts[-1].startswith("._") or any(p in OS_FOLDERS for p in parts[:-1])


def _walk_tree(root: Path, sink: _Sink, limits: _Limits) -> tuple[set[str], set[str]]:
    """Walk without following links; return (payload files, tag files) as relative POSIX paths."""
    payload: set[str] = set()
    tags: set[str] = set()
    stack = [root]
    while stack:
        directory = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                full = Path(entry.path)
                rel = full.relative_to(root).as_posix()
                name_bytes = len(os.fsencode(entry.name))
                if name_bytes > limits.name_bytes:
                    sink.problem(Problem(
                        "name-too-long",
                        detail=f"{name_bytes} bytes > limit max_name_bytes={limits.name_bytes} / "
                        f"{name_bytes} byte > giới hạn {limits.name_bytes}",
                        path=repr(rel)[1:-1][:300],
                    ))
                    continue
                try:
                    rel.encode("utf-8")
                except UnicodeEncodeError:
                    sink.problem(Problem("name-not-utf8", path=repr(rel)))
                    continue
                if has_control_character(entry.name):
                    sink.problem(Problem("name-control-character", path=repr(rel)[1:-1][:300]))
                    continue
                if unicodedata.normalize("NFC", rel) != rel:
                    sink.problem(
                        Problem("name-not-nfc", detail=f"NFC form: {unicodedata.normalize('NFC', rel)}", path=rel)
                    )
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    sink.problem(Problem("symlink", path=rel))
                elif stat.S_ISDIR(mode):
                    stack.append(full)
                elif stat.S_ISREG(mode):
                    path_bytes = len(rel.encode("utf-8"))
                    if path_bytes > limits.path_bytes:
                        sink.problem(Problem(
                            "path-too-long",
                            detail=f"{path_bytes} bytes > limit max_path_bytes={limits.path_bytes} / "
                            f"{path_bytes} byte > giới hạn {limits.path_bytes}",
                            path=rel[:300] + "…",
                        ))
                        continue
                    (payload if rel.startswith("data/") else tags).add(rel)
                else:
                    sink.problem(Problem("special-file", path=rel))
    return payload, tags


def _regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


# {BagIt algorithm: {path: lowercase hex digest}}, one dictionary a manifest (memory: no per-path dict)
Manifests = dict[str, dict[str, str]]


def _read_manifests(root: Path, decl: Declaration, sink: _Sink, limits: _Limits) -> tuple[Manifests, Manifests]:
    """Parse every (tag)manifest strictly, in the declared encoding, streaming and bounded."""
    payload: Manifests = {}
    tag: Manifests = {}
    for manifest in sorted(root.iterdir()):
        match = MANIFEST_NAME.match(manifest.name)
        if not match or not _regular_file(manifest):
            continue  # a symlinked manifest is reported by the walk and never read
        is_tag, algorithm = bool(match.group(1)), match.group(2).lower()
        if algorithm not in ALGORITHMS:
            sink.problem(Problem(
                "manifest-algorithm", detail=f"{algorithm}; Kho reads {', '.join(ALGORITHMS)}", path=manifest.name
            ))
            continue
        target = (tag if is_tag else payload).setdefault(algorithm, {})
        reader = LineReader(manifest, decl.encoding, limits.manifest_lines, limits.line_chars)
        dot_slash = star = 0
        try:
            for number, body in reader:
                if body is None:
                    sink.problem(Problem(
                        "manifest-line",
                        detail=f"line {number}: longer than {limits.line_chars:,} characters",
                        path=manifest.name,
                    ))
                    continue
                if not body.strip():
                    continue
                entry = bagit_reader.parse_manifest_line(body, algorithm, decl.percent_encoded_paths)
                if entry is None:
                    sink.problem(Problem("manifest-line", detail=f"line {number}: {body[:120]!r}", path=manifest.name))
                    continue
                relpath = entry.path
                if not path_is_safe(relpath) or (not is_tag and not relpath.startswith("data/")):
                    sink.problem(Problem("unsafe-path", detail=f"{manifest.name} line {number}", path=relpath[:300]))
                    continue
                dot_slash += entry.dot_slash
                star += entry.star
                previous = target.get(relpath)
                if previous is None:
                    target[relpath] = entry.digest
                elif previous != entry.digest:
                    sink.problem(Problem(
                        "manifest-duplicate", detail=f"{manifest.name} line {number}: different checksums", path=relpath
                    ))
                elif decl.duplicate_is_error:
                    sink.problem(Problem(
                        "manifest-duplicate",
                        detail=f"{manifest.name} line {number}: same checksum, which BagIt 1.0 also forbids",
                        path=relpath,
                    ))
                else:
                    sink.warning(Problem(
                        "manifest-duplicate",
                        detail=f"{manifest.name} line {number}: same checksum (BagIt {decl.version_text})",
                        path=relpath,
                    ))
        except TagFileError as exc:
            sink.problem(Problem(exc.code, detail=exc.detail, path=manifest.name))
            continue
        except OSError as exc:
            sink.problem(Problem("unreadable", detail=str(exc), path=manifest.name))
            continue
        if reader.utf8_bom:
            sink.warning(Problem("tag-file-bom", path=manifest.name))
        if dot_slash:
            sink.warning(Problem("manifest-relative-path", detail=f"{dot_slash:,} lines", path=manifest.name))
        if star:
            sink.warning(Problem("manifest-binary-marker", detail=f"{star:,} lines", path=manifest.name))
    return payload, tag


def _read_fetch(root: Path, decl: Declaration, sink: _Sink, limits: _Limits) -> set[str]:
    """Paths ``fetch.txt`` lists (RFC 8493 §2.2.3). Kho never downloads them; a path that escapes the
    payload is refused here, and one that is not in the bag is refused as incomplete later."""
    fetch = root / "fetch.txt"
    if not _regular_file(fetch):
        return set()
    paths: set[str] = set()
    reader = LineReader(fetch, decl.encoding, limits.manifest_lines, limits.line_chars)
    try:
        for number, body in reader:
            if body is not None and not body.strip():
                continue
            entry = None if body is None else bagit_reader.parse_fetch_line(body, decl.percent_encoded_paths)
            if entry is None:
                shown = "too long" if body is None else repr(body[:120])
                sink.problem(Problem("fetch-line", detail=f"line {number}: {shown}", path="fetch.txt"))
                continue
            if not path_is_safe(entry.path) or not entry.path.startswith("data/"):
                sink.problem(Problem("fetch-unsafe-path", detail=f"fetch.txt line {number}", path=entry.path[:300]))
                continue
            paths.add(entry.path)
    except TagFileError as exc:
        sink.problem(Problem(exc.code, detail=exc.detail, path="fetch.txt"))
    except OSError as exc:
        sink.problem(Problem("unreadable", detail=str(exc), path="fetch.txt"))
    return paths


def _read_bag_info(root: Path, decl: Declaration, sink: _Sink, limits: _Limits, report: SipReport) -> bool:
    """bag-info.txt (package-info.txt before BagIt 0.96) into ``report.bag_info``; False when unreadable."""
    info = root / decl.info_file
    if not _regular_file(info):
        return True  # optional (RFC 8493 §2.2.2); a tag manifest listing it makes its absence an error
    try:
        data = bagit_reader.read_limited(info, limits.tag_file_bytes, decl.info_file)
        text, utf8_bom = bagit_reader.decode_tag_text(data, decl.encoding, decl.info_file)
        parsed = bagit_reader.parse_tag_text(text, decl.info_file)
    except TagFileError as exc:
        sink.problem(Problem(exc.code, detail=exc.detail, path=decl.info_file))
        return False
    except OSError as exc:
        sink.problem(Problem("unreadable", detail=str(exc), path=decl.info_file))
        return False
    if utf8_bom:
        sink.warning(Problem("tag-file-bom", path=decl.info_file))
    for key, value in parsed.values.items():
        text = "; ".join(value) if isinstance(value, list) else value
        report.bag_info[key] = unicodedata.normalize("NFC", text)
    return True


def _fold(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


def _reconcile(payload: Manifests, fs_payload: set[str], sink: _Sink) -> None:
    """Match manifest paths that differ from a file's name only in Unicode normalisation or letter case
    (a bag made on macOS or Windows). RFC 8493 asks for a warning; the entry is then read as the file's
    own name. Entries with different checksums stay an error."""
    listed = set().union(*payload.values())
    by_fold: dict[str, list[str]] = {}
    for relpath in fs_payload:
        by_fold.setdefault(_fold(relpath), []).append(relpath)
    for relpath in sorted(listed - fs_payload):
        nfc = unicodedata.normalize("NFC", relpath)
        if nfc != relpath and nfc in fs_payload:
            target, code = nfc, "manifest-normalisation"
        else:
            candidates = [f for f in by_fold.get(_fold(relpath), []) if f in listed]
            if len(candidates) != 1:
                continue  # a missing file, reported as such
            target, code = candidates[0], "manifest-case"
        conflicts = [
            algorithm for algorithm, entries in payload.items()
            if relpath in entries and target in entries and entries[relpath] != entries[target]
        ]
        if conflicts:
            sink.problem(Problem(
                "manifest-duplicate",
                detail=f"{relpath!r} and {target!r} name one file with different {', '.join(conflicts)} checksums",
                path=target,
            ))
            continue
        for entries in payload.values():
            if relpath in entries:
                entries.setdefault(target, entries.pop(relpath))
        sink.warning(Problem(code, detail=f"manifest: {relpath!r}, file: {target!r}", path=target))
    for group in by_fold.values():
        if len(group) > 1:  # two files that one case-insensitive file system cannot hold
            sink.warning(Problem("manifest-case", detail="files: " + ", ".join(sorted(group)), path=sorted(group)[0]))


def payload_hash(files: Iterable[PayloadFile]) -> str:
    """Identity of a set of files: SHA-256 over their sorted (path, SHA-256) pairs."""
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.path):
        digest.update(f"{item.path}\t{item.digests['sha256']}\n".encode())
    return digest.hexdigest()


def submission_hash(root: Path, files: Iterable[PayloadFile]) -> str:
    """Identity of a whole submission, what duplicates are judged on: the payload *and* the tag files
    (bag-info.txt, the TT 05 metadata, access rules...). The same records with different metadata are a
    new submission, not a byte-identical resubmission (``tt05-hoso-json`` was refused as a duplicate of
    ``tt02-hoso``). Manifests are left out: they only restate the payload's and tags' digests."""
    every = list(files)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(root).as_posix()
        if relative.startswith("data/") or MANIFEST_NAME.match(relative):
            continue
        every.append(PayloadFile(relative, path.stat().st_size, hash_file(path, ["sha256"])))
    return payload_hash(every)


def validate_sip(
    path: Path | str,
    profile: str = "bagit",
    keep_digests: Iterable[str] = ("sha256",),
    *,
    max_manifest_lines: int = MAX_MANIFEST_LINES,
    max_tag_file_bytes: int = MAX_TAG_FILE_BYTES,
    max_name_bytes: int = MAX_NAME_BYTES,
    max_path_bytes: int = MAX_PATH_BYTES,
    max_problems_per_code: int = MAX_PROBLEMS_PER_CODE,
    max_problems_in_file: int = MAX_PROBLEMS_IN_FILE,
) -> SipReport:
    """Validate a BagIt SIP and hash its payload once. Never modifies the SIP.

    The ``max_*`` limits bound what a hostile bag can cost; each is checked before the work it guards
    (reading a tag file, parsing a manifest line, hashing the payload), and a bag over one is refused
    with a problem naming the limit and the value found. ``max_tag_file_bytes`` also bounds the other
    tag files Kho reads whole: ``access-rules.csv`` and the TT 05 metadata (``metadata/hoso.json``,
    ``metadata/EAD.xml``, each ``metadata/EAD_doc/*.xml``).

    The report lists at most ``max_problems_per_code`` problems of one code; the others are spilled to
    a temporary file as they are found (at most ``max_problems_in_file``, then only counted), which
    ``SipReport.write_json`` copies beside the written report."""
    root = Path(path)
    report = SipReport(path=str(root), profile=profile)
    sink = _Sink(report, max_problems_per_code, max_problems_in_file)
    limits = _Limits(max_manifest_lines, max_tag_file_bytes, max_name_bytes, max_path_bytes)
    try:
        _validate(root, report, sink, limits, keep_digests)
    finally:
        sink.finish()
    if report.valid:
        report.payload_hash = submission_hash(root, report.files)
    return report


def _validate(root: Path, report: SipReport, sink: _Sink, limits: _Limits, keep_digests: Iterable[str]) -> None:
    profile = report.profile
    if not root.is_dir():
        sink.problem(Problem("not-a-directory", path=str(root)))
        return
    if not _regular_file(root / "bagit.txt"):
        sink.problem(Problem("not-a-bag", detail="bagit.txt is missing / thiếu bagit.txt"))
        return
    try:
        decl = bagit_reader.read_declaration(root / "bagit.txt", limits.tag_file_bytes)
    except TagFileError as exc:
        sink.problem(Problem(exc.code, detail=exc.detail, path="bagit.txt"))
        return
    except OSError as exc:
        sink.problem(Problem("unreadable", detail=str(exc), path="bagit.txt"))
        return
    fs_payload, fs_tags = _walk_tree(root, sink, limits)
    manifest_payload, manifest_tags = _read_manifests(root, decl, sink, limits)
    fetch_paths = _read_fetch(root, decl, sink, limits)
    report.algorithms = list(manifest_payload)
    if not report.algorithms:
        sink.problem(Problem("manifest-missing"))
    if report.problems:
        return  # unsafe or unreadable structure: read nothing more
    if not _read_bag_info(root, decl, sink, limits, report):
        return
    _reconcile(manifest_payload, fs_payload, sink)
    listed = set().union(*manifest_payload.values())
    oxum = report.bag_info.get("Payload-Oxum")
    if oxum:
        found = f"{sum((root / p).stat().st_size for p in fs_payload)}.{len(fs_payload)}"
        if oxum.strip() != found:
            sink.problem(Problem("oxum", detail=f"declared {oxum}, found {found} (bytes.files)"))
    for fetched in sorted(fetch_paths - fs_payload):
        sink.problem(Problem("fetch-incomplete", path=fetched))
    for missing in sorted(listed - fs_payload - fetch_paths):
        sink.problem(Problem("file-missing", path=missing))
    for extra in sorted(fs_payload - listed):
        sink.problem(Problem("file-unexpected", path=extra))
    for algorithm, entries in manifest_payload.items():
        for unlisted in sorted(fs_payload.intersection(listed).difference(entries)):
            sink.problem(Problem("manifest-incomplete", detail=f"not in manifest-{algorithm}.txt", path=unlisted))
    for missing in sorted(set().union(*manifest_tags.values()) - fs_tags):
        sink.problem(Problem("file-missing", path=missing))
    if not fs_payload:
        sink.problem(Problem("empty-payload"))
    if report.problems:
        return

    if set(report.algorithms) <= WEAK_ALGORITHMS:
        sink.warning(Problem("manifest-weak-algorithm", detail=", ".join(report.algorithms)))
    for relpath in sorted(fs_payload):
        if _is_os_file(relpath):
            sink.warning(Problem("os-file", path=relpath))
    wanted = list(dict.fromkeys([*keep_digests, "sha256"]))
    tag_paths = sorted(set().union(*manifest_tags.values()))
    for relpath in tag_paths:
        expected = {ALGORITHMS[a]: entries[relpath] for a, entries in manifest_tags.items() if relpath in entries}
        _check_file(root, relpath, expected, [], sink)
    payload_order = sorted(listed)
    hash_names = list(dict.fromkeys([*wanted, *(ALGORITHMS[a] for a in manifest_payload)]))
    digests_of = hash_many([root / relpath for relpath in payload_order], hash_names)  # one read, all cores
    for relpath, hashed in zip(payload_order, digests_of, strict=True):
        expected = {ALGORITHMS[a]: entries[relpath] for a, entries in manifest_payload.items()}
        checked = _check_file(root, relpath, expected, wanted, sink, hashed)
        if checked is not None:
            report.files.append(checked)
            if checked.size == 0:
                sink.warning(Problem("zero-byte", path=relpath))
    meta, findings = tt05.check_bag(root, {f.path for f in report.files}, max_file_bytes=limits.tag_file_bytes,
                                    max_lines=limits.manifest_lines)
    if meta is not None:  # metadata the SIP carries is always checked; --profile vn makes it mandatory
        for problem in findings.problems:  # through the sink: a hồ sơ of 100,000 bad records stays a small report
            sink.problem(problem)
        for problem in findings.warnings:
            sink.warning(problem)
        report.tt05_standard, report.tt05_notes = meta.standard, list(meta.conversion_notes)
        if not findings.problems and meta.hoso is not None:
            report.tt05 = tt05.to_json(meta)
            _merge_tt05(report, meta)
    elif profile == "vn":
        for problem in vn_profile.check_bag_info(report.bag_info):
            sink.problem(problem)
    try:
        report.dossier_access = access.dossier_rule(report.bag_info).to_dict()
    except ValueError as exc:
        sink.problem(Problem("metadata-invalid", detail=f"embargoUntil: {exc}"))
    rules, rule_problems = access.parse_access_rules(root, {f.path for f in report.files},
                                                     max_bytes=limits.tag_file_bytes)
    for problem in rule_problems:
        sink.problem(problem)
    report.file_access.update({path: rule.to_dict() for path, rule in rules.items()})  # access-rules.csv wins


def _merge_tt05(report: SipReport, meta: object) -> None:
    """TT 05 hồ sơ fields become the SIP's descriptive fields (bag-info labels keep precedence), and
    each document's own mode (chế độ sử dụng) becomes that file's access rule."""
    hoso = getattr(meta, "hoso", None)
    lowered = {k.lower() for k in report.bag_info}
    for tag in ("fileCode", "title", "maintenance", "mode", "language", "startDate", "endDate", "confidenceLevel",
                "keyword", "description"):
        value = getattr(hoso, tag, None)
        if value and tag.lower() not in lowered:
            report.bag_info[tag] = str(value)
    for document in getattr(meta, "documents", []):
        path, mode = getattr(document, "file", None), getattr(document, "mode", None)
        if path and mode in access.MODES and mode != getattr(hoso, "mode", None):
            report.file_access.setdefault(path, {"mode": access.MODES[mode], "embargo_until": None,
                                                 "basis": "TT 05 tài liệu: chế độ sử dụng"})


def _check_file(
    root: Path,
    relpath: str,
    expected: dict[str, str],
    keep: list[str],
    sink: _Sink,
    hashed: dict[str, str] | str | None = None,
) -> PayloadFile | None:
    """Compare a file's digests (``hashed``: computed already, or the error text of reading it);
    ``expected`` and ``keep`` name hashlib algorithms."""
    full = root / relpath
    algorithms = list(dict.fromkeys([*expected, *keep]))
    try:
        size = full.stat().st_size
        digests = hash_file(full, algorithms) if hashed is None else hashed
        if isinstance(digests, str):
            raise OSError(digests)
    except OSError as exc:
        sink.problem(Problem("unreadable", detail=str(exc), path=relpath))
        return None
    for algorithm, value in expected.items():
        if digests[algorithm] != value:
            sink.problem(
                Problem(
                    "checksum-mismatch",
                    detail=f"{algorithm} expected {value}, found {digests[algorithm]}",
                    path=relpath,
                )
            )
    return PayloadFile(path=relpath, size=size, digests={k: digests[k] for k in keep if k in digests})

"""Validation of BagIt submission packages (SIPs) before anything is ingested.

bagit-python parses ``bagit.txt``/``bag-info.txt`` and checks completeness, but it skips
malformed manifest lines with only a log message and follows whatever the file system
holds. An archive must refuse those packages, so manifests are parsed strictly here,
the tree is walked without following links, and every payload file is hashed exactly
once (all manifest algorithms plus the digests Kho keeps) so that the fixity step can
reuse the digests instead of reading the files again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import bagit

from packages.checksums import SUPPORTED, hash_file, hash_many

LOGGER = logging.getLogger(__name__)
HEX_LENGTH = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
MANIFEST_NAME = re.compile(r"^(tag)?manifest-([A-Za-z0-9]+)\.txt$")
MANIFEST_LINE = re.compile(r"^([0-9A-Fa-f]+)[ \t]+\*?(.+)$")

# One line a problem code, English then Vietnamese, so that reports stay bilingual.
MESSAGES: dict[str, tuple[str, str]] = {
    "not-a-directory": ("the SIP is not a directory", "gói SIP không phải là thư mục"),
    "not-a-bag": ("not a BagIt bag", "không phải gói BagIt"),
    "bag-info-encoding": ("bag-info.txt is not readable text", "bag-info.txt không đọc được"),
    "manifest-missing": ("no payload manifest", "thiếu tệp manifest"),
    "manifest-encoding": ("manifest is not UTF-8", "manifest không mã hóa UTF-8"),
    "manifest-line": ("malformed manifest line", "dòng manifest sai định dạng"),
    "manifest-algorithm": ("unsupported manifest algorithm", "thuật toán băm không được hỗ trợ"),
    "manifest-duplicate": ("file listed twice in a manifest", "tệp được liệt kê hai lần"),
    "unsafe-path": ("unsafe path (escapes the bag)", "đường dẫn không an toàn (ra ngoài gói)"),
    "symlink": ("symbolic link in the SIP", "liên kết tượng trưng trong gói"),
    "special-file": ("device, FIFO or socket in the SIP", "tệp thiết bị/FIFO/socket trong gói"),
    "name-not-nfc": (
        "file name is not Unicode NFC (e.g. written on macOS); re-create the bag with NFC names",
        "tên tệp không ở dạng Unicode NFC (ví dụ tạo trên macOS); hãy tạo lại gói với tên dạng NFC",
    ),
    "name-not-utf8": ("file name is not valid UTF-8", "tên tệp không phải UTF-8 hợp lệ"),
    "incomplete": ("bag is incomplete", "gói không đầy đủ"),
    "file-missing": ("file in manifest is missing", "tệp có trong manifest nhưng không tồn tại"),
    "file-unexpected": ("file not listed in any manifest", "tệp không có trong manifest"),
    "oxum": ("Payload-Oxum does not match the payload", "Payload-Oxum không khớp dữ liệu"),
    "checksum-mismatch": ("checksum mismatch", "sai giá trị băm"),
    "unreadable": ("file cannot be read", "không đọc được tệp"),
    "empty-payload": ("the bag has no payload files", "gói không có tệp dữ liệu"),
    "zero-byte": ("zero-byte file", "tệp rỗng (0 byte)"),
    "metadata-missing": ("required metadata field missing", "thiếu trường dữ liệu đặc tả bắt buộc"),
    "metadata-invalid": ("metadata field has an invalid value", "trường dữ liệu đặc tả có giá trị sai"),
    "duplicate": ("byte-identical SIP already ingested", "gói trùng với gói đã nộp lưu"),
}


@dataclass(frozen=True)
class Problem:
    """One reason a SIP is invalid (or, as a warning, worth an archivist's look)."""

    code: str
    detail: str = ""
    path: str | None = None

    @property
    def message_en(self) -> str:
        return MESSAGES[self.code][0]

    @property
    def message_vi(self) -> str:
        return MESSAGES[self.code][1]

    def line(self) -> str:
        where = f"{self.path}: " if self.path else ""
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.code}: {where}{self.message_en} / {self.message_vi}{extra}"

    def to_dict(self) -> dict[str, str | None]:
        return {**asdict(self), "message_en": self.message_en, "message_vi": self.message_vi}


@dataclass
class PayloadFile:
    path: str  # relative to the bag root, always starting with "data/"
    size: int
    digests: dict[str, str]


@dataclass
class SipReport:
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

    @property
    def valid(self) -> bool:
        return not self.problems

    def reason(self) -> str:
        """One human line for the archivist (English / Vietnamese)."""
        if not self.problems:
            return "valid / hợp lệ"
        first = self.problems[0]
        more = (
            f" (+{len(self.problems) - 1} more / và {len(self.problems) - 1} lỗi khác)"
            if len(self.problems) > 1
            else ""
        )
        return first.line() + more

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "profile": self.profile,
            "valid": self.valid,
            "reason": self.reason(),
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [p.to_dict() for p in self.warnings],
            "files": len(self.files),
            "bytes": sum(f.size for f in self.files),
            "algorithms": self.algorithms,
            "payload_hash": self.payload_hash,
            "bag_info": self.bag_info,
        }


def _decode_manifest_path(raw: str) -> str:
    # BagIt 1.0 §2.1.3: CR, LF and % are percent-encoded in manifest paths.
    return raw.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")


def path_is_safe(relpath: str) -> bool:
    """A package path is safe when it stays inside the package on every platform."""
    if not relpath or relpath.startswith(("/", "\\", "~")) or "\\" in relpath or "\x00" in relpath:
        return False
    if re.match(r"^[A-Za-z]:", relpath):
        return False
    parts = relpath.split("/")
    return all(part not in ("", ".", "..") for part in parts)


def _walk_tree(root: Path, report: SipReport) -> tuple[set[str], set[str]]:
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
                try:
                    rel.encode("utf-8")
                except UnicodeEncodeError:
                    report.problems.append(Problem("name-not-utf8", path=repr(rel)))
                    continue
                if unicodedata.normalize("NFC", rel) != rel:
                    report.problems.append(
                        Problem("name-not-nfc", detail=f"NFC form: {unicodedata.normalize('NFC', rel)}", path=rel)
                    )
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    report.problems.append(Problem("symlink", path=rel))
                elif stat.S_ISDIR(mode):
                    stack.append(full)
                elif stat.S_ISREG(mode):
                    (payload if rel.startswith("data/") else tags).add(rel)
                else:
                    report.problems.append(Problem("special-file", path=rel))
    return payload, tags


def _read_manifests(root: Path, report: SipReport) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Parse every (tag)manifest strictly: {path: {algorithm: digest}} for payload and tag files."""
    payload: dict[str, dict[str, str]] = {}
    tag: dict[str, dict[str, str]] = {}
    for manifest in sorted(root.iterdir()):
        match = MANIFEST_NAME.match(manifest.name)
        if not match or not manifest.is_file():
            continue
        is_tag, algorithm = bool(match.group(1)), match.group(2).lower()
        if algorithm not in SUPPORTED:
            report.problems.append(Problem("manifest-algorithm", detail=algorithm, path=manifest.name))
            continue
        if algorithm not in report.algorithms and not is_tag:
            report.algorithms.append(algorithm)
        try:
            text = manifest.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            report.problems.append(Problem("manifest-encoding", detail=str(exc), path=manifest.name))
            continue
        target = tag if is_tag else payload
        for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
            if not line.strip():
                continue
            parsed = MANIFEST_LINE.match(line.rstrip("\r"))
            if not parsed or len(parsed.group(1)) != HEX_LENGTH[algorithm]:
                report.problems.append(
                    Problem("manifest-line", detail=f"line {number}: {line[:120]!r}", path=manifest.name)
                )
                continue
            digest, relpath = parsed.group(1).lower(), _decode_manifest_path(parsed.group(2))
            if not path_is_safe(relpath) or (not is_tag and not relpath.startswith("data/")):
                report.problems.append(Problem("unsafe-path", detail=f"line {number}", path=relpath))
                continue
            entry = target.setdefault(relpath, {})
            if algorithm in entry:
                report.problems.append(Problem("manifest-duplicate", detail=f"line {number}", path=relpath))
            entry[algorithm] = digest
    return payload, tag


class _TagFilesOnlyBag(bagit.Bag):
    """bagit-python's own reading of bagit.txt and bag-info.txt (version, encoding, folded lines),
    without its manifest pass: Kho has parsed the manifests strictly already, and bagit's second,
    lenient parse cost 0.3 s per 2,000 files."""

    def _load_manifests(self) -> None:
        return None


def _read_bag_info(root: Path, report: SipReport) -> bagit.Bag | None:
    try:
        bag = _TagFilesOnlyBag(str(root))
    except UnicodeDecodeError as exc:
        report.problems.append(Problem("bag-info-encoding", detail=str(exc)))
        return None
    except bagit.BagError as exc:
        report.problems.append(Problem("not-a-bag", detail=str(exc)))
        return None
    for key, value in bag.info.items():
        text = "; ".join(value) if isinstance(value, list) else str(value)
        report.bag_info[str(key)] = unicodedata.normalize("NFC", text)
    return bag


def payload_hash(files: Iterable[PayloadFile]) -> str:
    """Identity of a payload: SHA-256 over its sorted (path, SHA-256) pairs."""
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.path):
        digest.update(f"{item.path}\t{item.digests['sha256']}\n".encode())
    return digest.hexdigest()


def validate_sip(
    path: Path | str,
    profile: str = "bagit",
    keep_digests: Iterable[str] = ("sha256",),
) -> SipReport:
    """Validate a BagIt SIP and hash its payload once. Never modifies the SIP."""
    from packages import vn_profile  # local import: the profile is optional

    root = Path(path)
    report = SipReport(path=str(root), profile=profile)
    if not root.is_dir():
        report.problems.append(Problem("not-a-directory", path=str(root)))
        return report
    if not (root / "bagit.txt").is_file():
        report.problems.append(Problem("not-a-bag", detail="bagit.txt is missing / thiếu bagit.txt"))
        return report
    fs_payload, fs_tags = _walk_tree(root, report)
    manifest_payload, manifest_tags = _read_manifests(root, report)
    if not report.algorithms:
        report.problems.append(Problem("manifest-missing"))
    if report.problems:
        return report  # unsafe or unreadable structure: do not hand it to bagit at all
    bag = _read_bag_info(root, report)
    if bag is None:
        return report
    oxum = report.bag_info.get("Payload-Oxum")
    if oxum:
        found = f"{sum((root / p).stat().st_size for p in fs_payload)}.{len(fs_payload)}"
        if oxum.strip() != found:
            report.problems.append(Problem("oxum", detail=f"declared {oxum}, found {found} (bytes.files)"))
    for missing in sorted(set(manifest_payload) - fs_payload):
        report.problems.append(Problem("file-missing", path=missing))
    for extra in sorted(fs_payload - set(manifest_payload)):
        report.problems.append(Problem("file-unexpected", path=extra))
    for missing in sorted(set(manifest_tags) - fs_tags):
        report.problems.append(Problem("file-missing", path=missing))
    if not fs_payload:
        report.problems.append(Problem("empty-payload"))
    if report.problems:
        return report

    wanted = list(dict.fromkeys([*keep_digests, "sha256"]))
    for relpath in sorted(manifest_tags):
        _check_file(root, relpath, manifest_tags[relpath], [], report)
    payload_order = sorted(manifest_payload)
    digests_of = dict(
        zip(
            payload_order,
            hash_many(
                [root / relpath for relpath in payload_order],
                list(dict.fromkeys([*wanted, *(a for d in manifest_payload.values() for a in d)])),
            ),
            strict=True,
        )
    )  # one read of each file for every digest needed, across all cores
    for relpath in payload_order:
        checked = _check_file(root, relpath, manifest_payload[relpath], wanted, report, digests_of[relpath])
        if checked is not None:
            report.files.append(checked)
            if checked.size == 0:
                report.warnings.append(Problem("zero-byte", path=relpath))
    from packages import access, tt05  # local imports: both build on this module's Problem

    meta, findings = tt05.check_bag(root, {f.path for f in report.files})
    if meta is not None:  # metadata the SIP carries is always checked; --profile vn makes it mandatory
        report.problems.extend(findings.problems)
        report.warnings.extend(findings.warnings)
        report.tt05_standard, report.tt05_notes = meta.standard, list(meta.conversion_notes)
        if not findings.problems and meta.hoso is not None:
            report.tt05 = tt05.to_json(meta)
            _merge_tt05(report, meta)
    elif profile == "vn":
        report.problems.extend(vn_profile.check_bag_info(report.bag_info))
    try:
        report.dossier_access = access.dossier_rule(report.bag_info).to_dict()
    except ValueError as exc:
        report.problems.append(Problem("metadata-invalid", detail=f"embargoUntil: {exc}"))
    rules, rule_problems = access.parse_access_rules(root, {f.path for f in report.files})
    report.problems.extend(rule_problems)
    report.file_access.update({path: rule.to_dict() for path, rule in rules.items()})  # access-rules.csv wins
    if report.valid:
        report.payload_hash = payload_hash(report.files)
    return report


def _merge_tt05(report: SipReport, meta: object) -> None:
    """TT 05 hồ sơ fields become the SIP's descriptive fields (bag-info labels keep precedence), and
    each document's own mode (chế độ sử dụng) becomes that file's access rule."""
    from packages.access import MODES

    hoso = getattr(meta, "hoso", None)
    lowered = {k.lower() for k in report.bag_info}
    for tag in ("fileCode", "title", "maintenance", "mode", "language", "startDate", "endDate", "confidenceLevel",
                "keyword", "description"):
        value = getattr(hoso, tag, None)
        if value and tag.lower() not in lowered:
            report.bag_info[tag] = str(value)
    for document in getattr(meta, "documents", []):
        path, mode = getattr(document, "file", None), getattr(document, "mode", None)
        if path and mode in MODES and mode != getattr(hoso, "mode", None):
            report.file_access.setdefault(path, {"mode": MODES[mode], "embargo_until": None,
                                                 "basis": "TT 05 tài liệu: chế độ sử dụng"})


def _check_file(
    root: Path,
    relpath: str,
    expected: dict[str, str],
    keep: list[str],
    report: SipReport,
    hashed: dict[str, str] | str | None = None,
) -> PayloadFile | None:
    """Compare a file's digests (``hashed``: computed already, or the error text of reading it)."""
    full = root / relpath
    algorithms = list(dict.fromkeys([*expected, *keep]))
    try:
        size = full.stat().st_size
        digests = hash_file(full, algorithms) if hashed is None else hashed
        if isinstance(digests, str):
            raise OSError(digests)
    except OSError as exc:
        report.problems.append(Problem("unreadable", detail=str(exc), path=relpath))
        return None
    for algorithm, value in expected.items():
        if digests[algorithm] != value:
            report.problems.append(
                Problem(
                    "checksum-mismatch",
                    detail=f"{algorithm} expected {value}, found {digests[algorithm]}",
                    path=relpath,
                )
            )
    return PayloadFile(path=relpath, size=size, digests={k: digests[k] for k in keep if k in digests})

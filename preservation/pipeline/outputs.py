"""Typed step outputs: what one ingest step hands the next, versioned, through the workspace.

Why typed: steps used to read each other's JSON as ``ws.output("validate_sip")["files"]``; a renamed key
failed at run time, perhaps in a later Airflow task on another machine, and mypy could not see it. Each
output is now a dataclass written by one function and read by one function here.

Why streamed: the per-file records (the SIP's files, their identification) are JSON lines, one record a
line, read back one at a time; a step that only walks them never holds them all. The small summaries
(bag-info, access rules, digests of the store) stay one JSON document each.

``OUTPUT_VERSION`` is written into every summary. A workspace left by an earlier Kho (version 1: the file
list inside ``validate_sip.json``, identification as one object keyed by path) is still read, so an ingest
interrupted before an upgrade resumes after it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from format_registry.identification import FormatIdentification
from preservation.workspace import Workspace, read_lines, write_lines_atomic

OUTPUT_VERSION = 2


# -- JSON lines in the workspace ------------------------------------------------------------------


def _records_path(ws: Workspace, step: str, name: str) -> Path:
    return ws.work_dir / f"{step}.{name}.jsonl"


# -- validate_sip ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SipFile:
    """A payload file of the SIP as validation found it: its new identifier, path in the SIP, size, digests."""

    id: str
    path: str
    size: int
    digests: dict[str, str]


@dataclass
class SipValidation:
    """What validation learnt of the SIP as a whole (the files are a stream of their own: :func:`sip_files`)."""

    bag_info: dict[str, str]
    payload_hash: str | None
    algorithms: list[str]
    warnings: list[dict[str, Any]] = field(default_factory=list)
    previous_version: str | None = None
    dossier_access: dict[str, Any] = field(default_factory=dict)
    file_access: dict[str, dict[str, Any]] = field(default_factory=dict)
    tt05: dict[str, Any] | None = None
    tt05_standard: str | None = None
    package_kind: str = "BagIt"
    objid: str | None = None
    file_count: int = 0
    version: int = OUTPUT_VERSION


def save_sip_files(ws: Workspace, files: Iterable[SipFile]) -> None:
    ws.work_dir.mkdir(exist_ok=True)
    write_lines_atomic(_records_path(ws, "validate_sip", "files"), (dataclasses.asdict(f) for f in files))


def sip_files(ws: Workspace) -> Iterator[SipFile]:
    """The SIP's payload files in the order validation listed them (every later step keeps that order)."""
    path = _records_path(ws, "validate_sip", "files")
    records: Iterable[dict[str, Any]] = (
        read_lines(path) if path.exists() else ws.output("validate_sip").get("files", [])  # version 1
    )
    for record in records:
        yield SipFile(record["id"], record["path"], int(record["size"]), dict(record["digests"]))


def sip_validation(ws: Workspace) -> SipValidation:
    data = dict(ws.output("validate_sip"))
    data.pop("files", None)  # version 1 kept the file list here
    known = {f.name for f in dataclasses.fields(SipValidation)}
    return SipValidation(**{k: v for k, v in data.items() if k in known})


# -- identify -------------------------------------------------------------------------------------


def _identification(data: dict[str, Any]) -> FormatIdentification:
    known = {f.name for f in dataclasses.fields(FormatIdentification)}
    values = {k: v for k, v in data.items() if k in known}
    values["candidates"] = tuple(values.get("candidates") or ())
    return FormatIdentification(**values)


def save_identifications(ws: Workspace, found: Iterable[tuple[str, FormatIdentification]]) -> None:
    ws.work_dir.mkdir(exist_ok=True)
    write_lines_atomic(
        _records_path(ws, "identify", "files"), ({"path": path, **item.to_dict()} for path, item in found)
    )


def identifications(ws: Workspace) -> Iterator[tuple[str, FormatIdentification]]:
    """(SIP path, identification) of every original, in the order of :func:`sip_files`."""
    path = _records_path(ws, "identify", "files")
    if path.exists():
        for record in read_lines(path):
            yield record["path"], _identification(record)
        return
    for sip_path, record in dict(ws.output("identify")).items():  # version 1: one object keyed by path
        yield sip_path, _identification(record)


def identification_map(ws: Workspace) -> dict[str, FormatIdentification]:
    """The identifications by SIP path, for the steps that look files up (the policy's plan, METS)."""
    return dict(identifications(ws))


# -- validate_signatures --------------------------------------------------------------------------


@dataclass
class SignatureValidation:
    """What the signature step found: counts, the review notes of signatures not valid, and the evidence
    files it wrote under ``metadata/preservation/signatures`` (AIP-relative paths)."""

    signed_files: int = 0
    signatures: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    review: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    version: int = OUTPUT_VERSION


def signature_validation(ws: Workspace) -> SignatureValidation:
    """The step's output; an empty one for a workspace begun before the step existed."""
    if "validate_signatures" not in ws.state().get("done", []):
        return SignatureValidation()
    data = dict(ws.output("validate_signatures"))
    return SignatureValidation(**{k: v for k, v in data.items() if k in SignatureValidation.__dataclass_fields__})


# -- extract_text ---------------------------------------------------------------------------------


@dataclass
class TextExtraction:
    """What the text step wrote under ``metadata/preservation/text`` (AIP-relative paths: the texts and
    ``text.json``), and the characters kept."""

    files: list[str] = field(default_factory=list)
    with_text: int = 0
    without_text: int = 0
    chars: int = 0
    version: int = OUTPUT_VERSION


def text_extraction(ws: Workspace) -> TextExtraction:
    """The step's output; an empty one for a workspace begun before the step existed."""
    if "extract_text" not in ws.state().get("done", []):
        return TextExtraction()
    data = dict(ws.output("extract_text"))
    return TextExtraction(**{k: v for k, v in data.items() if k in TextExtraction.__dataclass_fields__})


# -- validate_formats -----------------------------------------------------------------------------


@dataclass
class FormatValidation:
    """The review notes of the invalid originals (each original's verdict is a stream: :func:`verdicts`)."""

    review: list[str]
    version: int = OUTPUT_VERSION


def save_verdicts(ws: Workspace, verdicts: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Every original's validation result (``validate_file(...).to_dict()``, kept whole for the METS
    technical metadata), in the order of :func:`sip_files`."""
    ws.work_dir.mkdir(exist_ok=True)
    write_lines_atomic(
        _records_path(ws, "validate_formats", "files"), ({"path": path, **v} for path, v in verdicts)
    )


def verdicts(ws: Workspace) -> Iterator[tuple[str, dict[str, Any]]]:
    """(SIP path, validation result) of every original, in the order of :func:`sip_files`."""
    path = _records_path(ws, "validate_formats", "files")
    if path.exists():
        for record in read_lines(path):
            yield record.pop("path"), record
        return
    yield from dict(ws.output("validate_formats").get("validated", {})).items()  # version 1


def format_validation(ws: Workspace) -> FormatValidation:
    return FormatValidation(review=list(ws.output("validate_formats").get("review", [])))


# -- normalise ------------------------------------------------------------------------------------


@dataclass
class Normalisation:
    """The derivatives made (each a dict as ``preservation.normalise.run_jobs`` describes it), review notes,
    and the policy file that decided them."""

    derivatives: list[dict[str, Any]]
    review: list[str]
    policy: str
    version: int = OUTPUT_VERSION


def normalisation(ws: Workspace) -> Normalisation:
    data = ws.output("normalise")
    return Normalisation(
        derivatives=list(data.get("derivatives", [])), review=list(data.get("review", [])),
        policy=str(data.get("policy", "")),
    )


# -- package --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackagedFile:
    """One file of the AIP as packaged: its key (path in the AIP), size and digests."""

    key: str
    size: int
    sha256: str
    sha512: str


@dataclass
class Package:
    files: list[PackagedFile]
    mets_sha256: str
    version: int = OUTPUT_VERSION


def read_package(ws: Workspace) -> Package:
    data = ws.output("package")
    return Package(
        files=[PackagedFile(f["key"], int(f["size"]), f["sha256"], f["sha512"]) for f in data["files"]],
        mets_sha256=data["mets_sha256"],
    )


# -- store ----------------------------------------------------------------------------------------


@dataclass
class StoredCopy:
    location: str
    verified_at: str


@dataclass
class Stored:
    """Where the AIP's first OCFL version was stored and verified, and the content path of every file."""

    copies: list[StoredCopy]
    ocfl_head: str
    content_paths: dict[str, str]
    inventory: dict[str, str] | None = None
    version: int = OUTPUT_VERSION


def read_stored(ws: Workspace) -> Stored:
    data = ws.output("store")
    return Stored(
        copies=[StoredCopy(c["location"], c["verified_at"]) for c in data["copies"]],
        ocfl_head=data["ocfl_head"],
        content_paths=dict(data["content_paths"]),
        inventory=data.get("inventory"),
    )


def as_output(value: Any) -> dict[str, Any]:
    """A step output as the JSON document the workspace keeps."""
    return dataclasses.asdict(value)


_T = TypeVar("_T")


def in_batches(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    """``items`` as lists of at most ``size`` (``itertools.batched`` arrives with Python 3.12): a step works
    through a stream a batch at a time, so that only one batch is in memory."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


__all__ = [
    "OUTPUT_VERSION",
    "FormatValidation",
    "Normalisation",
    "Package",
    "PackagedFile",
    "SignatureValidation",
    "SipFile",
    "SipValidation",
    "Stored",
    "StoredCopy",
    "TextExtraction",
    "as_output",
    "format_validation",
    "identification_map",
    "identifications",
    "in_batches",
    "normalisation",
    "read_package",
    "read_stored",
    "save_identifications",
    "save_sip_files",
    "save_verdicts",
    "signature_validation",
    "sip_files",
    "sip_validation",
    "text_extraction",
    "verdicts",
]

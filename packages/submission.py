"""One report for every kind of submission: what the BagIt reader (``packages.sip``) or the E-ARK reader
(``packages.eark``) found, in one shape, so that the ingest's validation step has one path.

Why: the step used to branch for 300 lines on BagIt versus E-ARK, building the same events and the same
output twice from two report types. The readers stay as they are (each names its problems in its own
vocabulary: BagIt codes, E-ARK requirement ids, and each writes its own rejection report); this module
says what ingest needs of either: the payload (the records: BagIt ``data/``, E-ARK
``representations/*/data``), their digests, a description, access rules, the TT 05 metadata, the
problems and warnings as lines, and how the fixity of the files was checked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packages import aip as aip_layout
from packages import eark
from packages.sip import PayloadFile, Problem, SipReport, payload_hash, validate_sip

BAGIT, EARK = "BagIt", "E-ARK"
METS_NS = {"m": "http://www.loc.gov/METS/"}


@dataclass
class SubmissionReport:
    """What validating a submission found. ``source`` is the reader's own report: it writes the report
    of a rejected SIP (``failed/<name>/report.json``) in its own terms."""

    kind: str  # BAGIT or EARK
    standard: str  # what it was validated against, for the PREMIS event
    source: SipReport | eark.EarkReport
    files: list[PayloadFile] = field(default_factory=list)
    description: dict[str, str] = field(default_factory=dict)  # bag-info, or what the package METS says
    payload_hash: str | None = None
    algorithms: list[str] = field(default_factory=list)
    fixity_detail: str = ""  # how every file's checksum was checked (the manifest, or the METS)
    verified_files: int = 0
    dossier_access: dict[str, str | None] = field(default_factory=dict)
    file_access: dict[str, dict[str, str | None]] = field(default_factory=dict)
    tt05: dict[str, object] | None = None
    tt05_standard: str | None = None
    tt05_notes: list[str] = field(default_factory=list)
    objid: str | None = None

    @property
    def valid(self) -> bool:
        return self.source.valid

    def reason(self) -> str:
        return self.source.reason()

    def problem_lines(self) -> list[str]:
        if isinstance(self.source, SipReport):
            return [p.line() for p in self.source.problems]
        return [p.text for p in self.source.failures]

    def warning_lines(self) -> list[str]:
        """The warnings, each one line (BagIt: the whole line; E-ARK: ``REQUIREMENT: message``)."""
        if isinstance(self.source, SipReport):
            return [w.line() for w in self.source.warnings]
        return [w.text for w in self.source.warnings]

    def warning_dicts(self) -> list[dict[str, object]]:
        return [dict(w.to_dict()) for w in self.source.warnings]

    def refuse(self, code: str, detail: str, *, requirement: str = "KHO", path: str | None = None) -> None:
        """Add a problem found outside the reader (a duplicate, an unreadable ZIP entry, a copy problem):
        the package is then invalid, and its report says why in the reader's own vocabulary."""
        if isinstance(self.source, SipReport):
            self.source.problems.append(Problem(code, detail=detail, path=path))
        else:
            self.source.failures.append(eark.EarkProblem(requirement, code, detail, path))


def read_submission(
    root: Path,
    kind: str,
    *,
    profile: str = "bagit",
    keep_digests: Iterable[str] = ("sha256",),
    package_name: str | None = None,
    limits: dict[str, int] | None = None,
    found_before: Iterable[tuple[str, str, str | None]] = (),
) -> SubmissionReport:
    """Validate the submission unpacked at ``root`` with the reader of its ``kind`` (``"bagit"`` or
    ``"eark"``, as intake decided) and report it in one shape. ``found_before``: (code, detail, path) of
    what intake could not copy or unpack, listed first (requirement ``KHO-ZIP`` for an E-ARK ZIP)."""
    keep = tuple(keep_digests)
    before = list(found_before)
    if kind == "eark":
        read = eark.validate_eark(root, keep_digests=keep, package_name=package_name)
        read.failures[:0] = [eark.EarkProblem("KHO-ZIP", code, detail, path) for code, detail, path in before]
        return _from_eark(read, root, keep)
    report = validate_sip(root, profile=profile, keep_digests=keep, **(limits or {}))
    report.problems[:0] = [Problem(code, detail=detail, path=path) for code, detail, path in before]
    return _from_bagit(report)


def _from_bagit(report: SipReport) -> SubmissionReport:
    standard = "BagIt 1.0" + (" + Vietnamese TT 05 dossier profile" if report.profile == "vn" else "")
    return SubmissionReport(
        kind=BAGIT,
        standard=f"{standard}: structure, manifests, safe paths",
        source=report,
        files=list(report.files),
        description=dict(report.bag_info),
        payload_hash=report.payload_hash,
        algorithms=list(report.algorithms),
        fixity_detail=f"every payload file checked against the SIP's manifest ({', '.join(report.algorithms)})",
        verified_files=len(report.files),
        dossier_access=dict(report.dossier_access),
        file_access=dict(report.file_access),
        tt05=report.tt05,
        tt05_standard=report.tt05_standard,
        tt05_notes=list(report.tt05_notes),
    )


def _from_eark(report: eark.EarkReport, root: Path, keep: tuple[str, ...]) -> SubmissionReport:
    payload = [f for f in report.files if aip_layout.REPRESENTATION_DATA.match(f.path)]
    if report.valid and not payload:
        report.failures.append(eark.EarkProblem("CSIPSTR9", "no-representation-data"))
    digest = None
    if report.valid:
        # the whole submission (representations, metadata, documentation), as for BagIt: the same
        # records with other metadata are a new submission, not a duplicate
        digest = payload_hash([PayloadFile(f.path, f.size, f.digests) for f in report.files if "sha256" in f.digests])
    return SubmissionReport(
        kind=EARK,
        standard=f"E-ARK {report.specification} 2.x (METS, fileSec checksums, structMap)",
        source=report,
        files=[PayloadFile(f.path, f.size, {k: f.digests[k] for k in keep if k in f.digests}) for f in payload],
        description=eark_description(root, report) if report.valid else {},
        payload_hash=digest,
        algorithms=["sha256"],
        fixity_detail="every file checked against the checksum its METS declares",
        verified_files=sum(f.verified for f in report.files),
        dossier_access={"mode": "restricted", "embargo_until": None, "basis": ""},
        file_access={},
        objid=report.objid,
    )


def eark_description(root: Path, report: eark.EarkReport) -> dict[str, str]:
    """Descriptive fields from the package METS (LABEL, OBJID, submitting organisation)."""
    tree = eark.parse_xml(root / "METS.xml").getroot()
    info = {"title": tree.get("LABEL") or report.objid or root.name, "External-Identifier": report.objid or ""}
    submitter = tree.findtext("m:metsHdr/m:agent[@TYPE='ORGANIZATION']/m:name", namespaces=METS_NS)
    if submitter:
        info["Source-Organization"] = submitter
    return {k: v for k, v in info.items() if v}

"""JHOVE adapter: ``jhove -h xml -m MODULE FILE`` in a subprocess, and a parser for its XML reports.

The parser is namespace-agnostic because the corpus holds both layouts: JHOVE 1.x up to ~1.20 writes
``http://hul.harvard.edu/ois/xml/ns/jhove`` (messages without ids), newer releases write
``http://schema.openpreservation.org/ois/xml/ns/jhove`` with message ids (PDF-HUL-38), offsets and
subMessages. Wrappers such as Stanford's JhoveToolkit put several ``repInfo`` elements in one report,
and captured reports sometimes start with the command line, so anything before the XML is skipped.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from format_registry import safexml
from format_registry import settings as registry_settings

from .external import int_or_none, report_xml, run_for_reports
from .results import (
    DEFAULT_TIMEOUT,
    INVALID,
    NOT_VALIDATED,
    VALID,
    WELL_FORMED,
    Message,
    ValidationResult,
    not_validated,
)

JHOVE_ENV = "KHO_JHOVE"

JHOVE_STATUS = {
    "well-formed and valid": VALID,
    "well-formed, but not valid": WELL_FORMED,
    "not well-formed": INVALID,
}

# PRONOM PUID -> JHOVE module, for formats JHOVE's modules cover (see _MODULE_BY_MIME for the rest).
_MODULE_BY_PUID: dict[str, str] = {
    **{f"fmt/{n}": "PDF-hul" for n in (14, 15, 16, 17, 18, 19, 20, 276, 1129, 95, 354, 476, 477, 478, 479, 480, 481)},
    **{f"fmt/{n}": "PDF-hul" for n in (144, 145, 146, 147, 148, 157, 158, 488, 489, 490, 491, 492, 493)},
    **{
        p: "JPEG-hul"
        for p in (
            "fmt/41",
            "fmt/42",
            "fmt/43",
            "fmt/44",
            "fmt/112",
            "fmt/113",
            "fmt/645",
            "fmt/1507",
            "x-fmt/390",
            "x-fmt/391",
            "x-fmt/398",
        )
    },
    **{
        p: "TIFF-hul"
        for p in (
            "fmt/7",
            "fmt/8",
            "fmt/9",
            "fmt/10",
            "fmt/353",
            "fmt/152",
            "fmt/153",
            "fmt/154",
            "fmt/155",
            "fmt/156",
            "fmt/436",
            "fmt/438",
            "fmt/730",
            "x-fmt/387",
            "x-fmt/388",
            "x-fmt/399",
        )
    },
    **{p: "JPEG2000-hul" for p in ("x-fmt/392", "fmt/151")},
    **{p: "GIF-hul" for p in ("fmt/3", "fmt/4")},
    **{
        p: "XML-hul"
        for p in (
            "fmt/101",
            "fmt/1776",
            "fmt/102",
            "fmt/103",
            "fmt/91",
            "fmt/92",
            "fmt/244",
            "fmt/875",
            "x-fmt/280",
            "x-fmt/281",
        )
    },
    **{
        p: "WAVE-hul"
        for p in (
            "fmt/1",
            "fmt/2",
            "fmt/6",
            "fmt/141",
            "fmt/142",
            "fmt/143",
            "fmt/527",
            "fmt/713",
            *(f"fmt/{n}" for n in range(703, 712)),
        )
    },
    **{p: "AIFF-hul" for p in ("fmt/414", "x-fmt/135", "x-fmt/136")},
    **{p: "HTML-hul" for p in ("fmt/96", "fmt/97", "fmt/98", "fmt/99", "fmt/100")},
    **{p: "ASCII-hul" for p in ("x-fmt/21", "x-fmt/22")},
    **{p: "UTF8-hul" for p in ("x-fmt/111", "x-fmt/16")},
}
_MODULE_BY_MIME: dict[str, str] = {
    "application/pdf": "PDF-hul",
    "image/jpeg": "JPEG-hul",
    "image/tiff": "TIFF-hul",
    "image/jp2": "JPEG2000-hul",
    "image/jpx": "JPEG2000-hul",
    "image/gif": "GIF-hul",
    "application/xml": "XML-hul",
    "text/xml": "XML-hul",
    "application/xhtml+xml": "XML-hul",
    "audio/x-wav": "WAVE-hul",
    "audio/wav": "WAVE-hul",
    "audio/wave": "WAVE-hul",
    "audio/vnd.wave": "WAVE-hul",
    "audio/x-aiff": "AIFF-hul",
    "audio/aiff": "AIFF-hul",
    "text/html": "HTML-hul",
    "text/plain": "UTF8-hul",
}
JHOVE_MODULES = frozenset(_MODULE_BY_PUID.values()) | frozenset(_MODULE_BY_MIME.values())


class JhoveReportError(ValueError):
    """The bytes are not a JHOVE XML report."""


@dataclass(frozen=True)
class JhoveReport:
    """One ``repInfo`` of a JHOVE report: the verdict on one file."""

    uri: str | None
    module: str | None  # reportingModule, e.g. PDF-hul
    module_release: str | None
    format: str | None
    version: str | None
    status: str  # mapped onto Kho's STATUSES
    jhove_status: str | None  # as JHOVE wrote it
    mime: str | None
    messages: tuple[Message, ...]
    profiles: tuple[str, ...]
    jhove_name: str | None  # "Jhove", or a wrapper such as "JhoveToolkit"
    jhove_release: str | None


# JHOVE's text modules say "valid" for any byte sequence that decodes (an SPSS portable file, a SEG-Y
# header): Kho reports that as "well-formed", like its own text validator.
_ENCODING_ONLY_MODULES = frozenset({"ASCII-hul", "UTF8-hul"})
# Formats whose MIME type maps to a module that would misjudge them: HTML-hul predates HTML5.
_NO_MODULE_PUIDS = frozenset({"fmt/471"})


def module_for(puid: str | None, mime: str | None) -> str | None:
    """The JHOVE module for a PUID (preferred) or MIME type, or None if JHOVE has none."""
    puid = (puid or "").strip()
    if puid in _NO_MODULE_PUIDS:
        return None
    if puid in _MODULE_BY_PUID:
        return _MODULE_BY_PUID[puid]
    base = (mime or "").split(";", 1)[0].strip().lower()
    return _MODULE_BY_MIME.get(base)


def find_jhove() -> str | None:
    """The JHOVE executable from $KHO_JHOVE (a name or a path), else ``jhove`` on PATH; None if absent."""
    return shutil.which(registry_settings.value("jhove") or "jhove")


def map_status(jhove_status: str | None) -> str:
    """JHOVE's status text -> Kho status; anything unrecognised (e.g. "Unknown") means not validated."""
    return JHOVE_STATUS.get(" ".join((jhove_status or "").split()).lower(), NOT_VALIDATED)


def _local(element: Any) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child(element: Any, name: str) -> Any:
    return next((c for c in element if _local(c) == name), None)


def _child_text(element: Any, name: str) -> str | None:
    found = _child(element, name)
    text = found.text.strip() if found is not None and found.text else ""
    return text or None


def _message(element: Any) -> Message:
    severity = (element.get("severity") or "info").strip().lower()
    return Message(
        id=element.get("id") or None,
        severity=severity if severity in ("error", "warning", "info") else "info",
        text=" ".join((element.text or "").split()),
        offset=int_or_none(element.get("offset")),
        detail=element.get("subMessage") or None,
    )


def parse_jhove_report(xml_bytes: bytes) -> list[JhoveReport]:
    """All ``repInfo`` verdicts of a JHOVE XML report, old or new layout.

    Parsed without entity expansion, DTD loading or network access; raises JhoveReportError when the
    bytes hold no parseable ``<jhove>`` document.
    """
    try:
        root = safexml.fromstring(report_xml(xml_bytes, "jhove", JhoveReportError, "no JHOVE XML in the output"))
    except etree.XMLSyntaxError as exc:
        raise JhoveReportError(f"JHOVE report is not well-formed XML: {exc}") from exc
    if _local(root) != "jhove":
        raise JhoveReportError(f"root element is <{_local(root)}>, not <jhove>")
    reports = []
    for rep in root.iter():
        if _local(rep) != "repInfo":
            continue
        module = _child(rep, "reportingModule")
        messages_el = _child(rep, "messages")
        profiles_el = _child(rep, "profiles")
        jhove_status = _child_text(rep, "status")
        reports.append(
            JhoveReport(
                uri=rep.get("uri"),
                module=module.text.strip() if module is not None and module.text else None,
                module_release=module.get("release") if module is not None else None,
                format=_child_text(rep, "format"),
                version=_child_text(rep, "version"),
                status=map_status(jhove_status),
                jhove_status=jhove_status,
                mime=_child_text(rep, "mimeType"),
                messages=tuple(_message(m) for m in messages_el if _local(m) == "message")
                if messages_el is not None
                else (),
                profiles=tuple(p.text.strip() for p in profiles_el if _local(p) == "profile" and p.text)
                if profiles_el is not None
                else (),
                jhove_name=root.get("name"),
                jhove_release=root.get("release"),
            )
        )
    return reports


def result_from_report(report: JhoveReport) -> ValidationResult:
    """A JHOVE verdict as a ValidationResult; BYTESTREAM verdicts are not validation."""
    status = report.status
    messages = report.messages
    if (report.module or "").upper() == "BYTESTREAM":
        status = NOT_VALIDATED
        messages = (*messages, Message("jhove.bytestream", "info", "not performed: JHOVE fell back to BYTESTREAM"))
    elif status == NOT_VALIDATED:
        messages = (*messages, Message("jhove.status", "info", f"not performed: JHOVE status {report.jhove_status!r}"))
    elif status == VALID and (report.module or "") in _ENCODING_ONLY_MODULES:
        status = WELL_FORMED  # a clean decode is not validation: other formats decode as text too
        messages = (*messages, Message("jhove.text", "info", f"{report.module} checks the encoding only"))
    details: dict[str, Any] = {
        "module_release": report.module_release,
        "format": report.format,
        "version": report.version,
        "mime": report.mime,
        "profiles": list(report.profiles),
        "jhove_status": report.jhove_status,
    }
    return ValidationResult(status, "jhove", report.jhove_release or "", report.module, messages, details)


def validate_with_jhove(
    path: str | os.PathLike[str],
    module: str,
    *,
    executable: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ValidationResult:
    """Run JHOVE's ``module`` on one file; timeouts, crashes and unparseable output are not-validated."""
    exe = executable or find_jhove()
    if exe is None:
        return not_validated("not performed: jhove not found", validator="jhove", module=module)
    target = Path(path).resolve()
    reports = run_for_reports("jhove", [exe, "-h", "xml", "-m", module, str(target)], timeout, parse_jhove_report,
                              JhoveReportError, no_report="jhove report has no repInfo", module=module)
    if isinstance(reports, ValidationResult):
        return reports
    report = next((r for r in reports if r.uri and Path(r.uri).name == target.name), reports[0])
    return result_from_report(report)

"""veraPDF adapter: ``verapdf --format mrr --flavour 2b FILE`` in a subprocess, and a parser for its report.

veraPDF is the PDF Association's reference PDF/A checker (Java, not packaged by Debian), so it is used
where an archive installs it: ``$KHO_VERAPDF`` names the CLI script (or ``verapdf`` on PATH). Its
machine-readable report (MRR, "xml" since 1.24) looks like::

    <report><buildInformation><releaseDetails id="core" version="1.26.2" .../></buildInformation>
      <jobs><job><item size="..."><name>/path/file.pdf</name></item>
        <validationReport profileName="PDF/A-2B validation profile" statement="..." isCompliant="false">
          <details passedRules="143" failedRules="1" passedChecks="1200" failedChecks="2">
            <rule specification="ISO 19005-2:2011" clause="6.2.11.4.1" testNumber="1" status="failed" ...>
              <description>...</description><check status="failed"><context>...</context></check>
            </rule></details></validationReport></job></jobs>
      <batchSummary totalJobs="1" failedToParse="0" .../></report>

A job veraPDF could not run (unparseable or encrypted file) has a ``taskException`` instead of a
``validationReport``. The parser reads the report without DTDs, entities or network, skips anything a
wrapper script printed before the XML (log lines on stdout), and is namespace-agnostic.

Verdicts (a PDF/A verdict, not a PDF one): ``isCompliant="true"`` is "valid"; a failed rule is an
``error`` message each (ISO clause and test number as the id), so the result is "invalid" for the PDF/A
flavour asked for; a task exception, a timeout or no report is "not-validated".
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
from .results import DEFAULT_TIMEOUT, INVALID, NOT_VALIDATED, VALID, Message, ValidationResult, not_validated

VERAPDF_ENV = "KHO_VERAPDF"
FLAVOURS = frozenset({"1a", "1b", "2a", "2b", "2u", "3a", "3b", "3u", "4", "4e", "4f"})
MAX_RULE_MESSAGES = 50


class VeraPdfReportError(ValueError):
    """The bytes are not a veraPDF machine-readable report."""


@dataclass(frozen=True)
class FailedRule:
    """One failed veraPDF rule: where in ISO 19005 it comes from and what it checks."""

    specification: str | None
    clause: str | None
    test_number: str | None
    description: str
    failed_checks: int | None
    contexts: tuple[str, ...]

    @property
    def rule_id(self) -> str:
        return f"{self.clause or '?'}-{self.test_number or '?'}"


@dataclass(frozen=True)
class VeraPdfJob:
    """One job of a report: the verdict on one file, or why there is none."""

    name: str | None
    profile: str | None
    compliant: bool | None  # None when veraPDF could not validate the file
    statement: str | None
    passed_rules: int | None
    failed_rules: int | None
    passed_checks: int | None
    failed_checks: int | None
    rules: tuple[FailedRule, ...]
    exception: str | None  # taskException / exceptionMessage text
    release: str | None  # veraPDF core version from buildInformation


def find_verapdf() -> str | None:
    """The veraPDF CLI from $KHO_VERAPDF (a name or a path), else ``verapdf`` on PATH; None if absent."""
    return shutil.which(registry_settings.value("verapdf") or "verapdf")


def flavour_for(part: int | str, conformance: str | None) -> str:
    """veraPDF's flavour code for PDF/A-``part`` ``conformance`` (2, "B" -> "2b"); ValueError if unknown."""
    code = f"{part}{(conformance or '').lower()}"
    if code not in FLAVOURS:
        raise ValueError(f"no veraPDF flavour for PDF/A-{part}{conformance or ''}")
    return code


def _local(element: Any) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(element: Any, name: str) -> list[Any]:
    return [c for c in element if _local(c) == name]


def _text(element: Any) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _rule(element: Any) -> FailedRule:
    description = next((c for c in element if _local(c) == "description"), None)
    contexts = tuple(
        _text(ctx) for check in _children(element, "check") for ctx in check if _local(ctx) == "context"
    )
    return FailedRule(
        specification=element.get("specification"),
        clause=element.get("clause"),
        test_number=element.get("testNumber"),
        description=_text(description),
        failed_checks=int_or_none(element.get("failedChecks")),
        contexts=contexts[:5],
    )


def parse_verapdf_report(raw: bytes) -> list[VeraPdfJob]:
    """Every job of a veraPDF MRR report; VeraPdfReportError when the bytes hold none."""
    try:
        root = safexml.fromstring(report_xml(raw, "report", VeraPdfReportError, "no veraPDF XML report in the output"))
    except etree.XMLSyntaxError as exc:
        raise VeraPdfReportError(f"veraPDF report is not well-formed XML: {exc}") from exc
    if _local(root) != "report":
        raise VeraPdfReportError(f"root element is <{_local(root)}>, not <report>")
    release = next(
        (e.get("version") for e in root.iter() if _local(e) == "releaseDetails" and e.get("id") == "core"), None
    )
    jobs = []
    for job in (e for e in root.iter() if _local(e) == "job"):
        item = next(iter(_children(job, "item")), None)
        name_el = next(iter(_children(item, "name")), None) if item is not None else None
        report = next(iter(_children(job, "validationReport")), None)
        exception = next(iter(_children(job, "taskException")), None)
        exception_text = None
        if exception is not None:
            message = next((c for c in exception if _local(c) == "exceptionMessage"), None)
            exception_text = _text(message) or exception.get("type") or "task exception"
        details = next(iter(_children(report, "details")), None) if report is not None else None
        compliant_attr = report.get("isCompliant") if report is not None else None
        jobs.append(
            VeraPdfJob(
                name=_text(name_el) or None,
                profile=report.get("profileName") if report is not None else None,
                compliant=None if compliant_attr is None else compliant_attr.strip().lower() == "true",
                statement=report.get("statement") if report is not None else None,
                passed_rules=int_or_none(details.get("passedRules")) if details is not None else None,
                failed_rules=int_or_none(details.get("failedRules")) if details is not None else None,
                passed_checks=int_or_none(details.get("passedChecks")) if details is not None else None,
                failed_checks=int_or_none(details.get("failedChecks")) if details is not None else None,
                rules=tuple(
                    _rule(r) for r in _children(details, "rule") if (r.get("status") or "failed") == "failed"
                )
                if details is not None
                else (),
                exception=exception_text,
                release=release,
            )
        )
    return jobs


def result_from_job(job: VeraPdfJob, flavour: str | None = None) -> ValidationResult:
    """A veraPDF job as a PDF/A verdict: compliant "valid", failed rules "invalid", no verdict "not-validated"."""
    details: dict[str, Any] = {
        "profile": job.profile,
        "flavour": flavour,
        "passed_rules": job.passed_rules,
        "failed_rules": job.failed_rules,
        "passed_checks": job.passed_checks,
        "failed_checks": job.failed_checks,
    }
    if job.compliant is None:
        reason = job.exception or "no validation report for the file"
        return not_validated(
            f"not performed: veraPDF could not validate the file ({reason})",
            validator="verapdf",
            tool_version=job.release or "",
            module=job.profile,
            message_id="verapdf.exception",
            details=details,
        )
    messages: list[Message] = []
    for rule in job.rules[:MAX_RULE_MESSAGES]:
        where = f" at {rule.contexts[0]}" if rule.contexts else ""
        spec = f"{rule.specification} " if rule.specification else ""
        messages.append(
            Message(
                f"verapdf.{rule.rule_id}",
                "error",
                f"{spec}{rule.clause}-{rule.test_number}: {rule.description}{where}",
                detail=f"{rule.failed_checks} failed checks" if rule.failed_checks is not None else None,
            )
        )
    if len(job.rules) > MAX_RULE_MESSAGES:
        messages.append(Message("verapdf.more", "info", f"{len(job.rules) - MAX_RULE_MESSAGES} more failed rules"))
    if not job.compliant and not job.rules:  # a report that says "not compliant" without naming a rule
        messages.append(Message("verapdf.noncompliant", "error", job.statement or "not compliant"))
    status = VALID if job.compliant else INVALID
    return ValidationResult(status, "verapdf", job.release or "", job.profile, tuple(messages), details)


def validate_with_verapdf(
    path: str | os.PathLike[str],
    flavour: str,
    *,
    executable: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ValidationResult:
    """Check one file against a PDF/A flavour ("2b"); timeouts, crashes and unparseable output are not-validated."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown veraPDF flavour {flavour!r}")
    exe = executable or find_verapdf()
    if exe is None:
        return not_validated("not performed: verapdf not found", validator="verapdf")
    target = Path(path).resolve()
    args = [exe, "--format", "mrr", "--flavour", flavour, "--maxfailuresdisplayed", "5", "--nonpdfext", str(target)]
    jobs = run_for_reports("verapdf", args, timeout, parse_verapdf_report, VeraPdfReportError,
                           no_report="veraPDF report has no job")
    if isinstance(jobs, ValidationResult):
        return jobs
    job = next((j for j in jobs if j.name and Path(j.name).name == target.name), jobs[0])
    return result_from_job(job, flavour)


__all__ = [
    "FLAVOURS",
    "NOT_VALIDATED",
    "VERAPDF_ENV",
    "FailedRule",
    "VeraPdfJob",
    "VeraPdfReportError",
    "find_verapdf",
    "flavour_for",
    "parse_verapdf_report",
    "result_from_job",
    "validate_with_verapdf",
]

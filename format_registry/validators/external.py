"""External validators that answer with a report (JHOVE, veraPDF): one run, and every way it can fail to
give a report turned into a not-validated result that says why.

A validator that timed out, crashed or wrote something that is not its report has checked nothing: the
file is "not validated", never "invalid", with the tool's exit status and the end of its stderr kept
for whoever looks into it. Each adapter only parses its own report format and judges what it says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from format_registry import toolrun

from .results import ValidationResult, not_validated

Report = TypeVar("Report")


def run_for_reports(
    validator: str,
    args: Sequence[str],
    timeout: float,
    parse: Callable[[bytes], list[Report]],
    parse_error: type[Exception],
    *,
    no_report: str,
    module: str | None = None,
) -> list[Report] | ValidationResult:
    """Run ``args`` (``toolrun``: the process group is killed on timeout) and ``parse`` its stdout.

    Returns the reports, or the not-validated result (``<validator>.timeout``, ``<validator>.failed``)
    when it timed out, ``parse`` raised ``parse_error``, or there was no report (``no_report`` says so)."""
    run = toolrun.run(args, timeout=timeout)
    if run.timed_out:
        return not_validated(
            f"not performed: {validator} timed out after {timeout:g} s (killed)",
            validator=validator,
            module=module,
            message_id=f"{validator}.timeout",
        )
    try:
        reports = parse(run.stdout)
    except parse_error as exc:
        stderr = run.stderr_text().strip()[-500:]
        return not_validated(
            f"not performed: {validator} exit {run.returncode}, {exc}" + (f": {stderr}" if stderr else ""),
            validator=validator,
            module=module,
            message_id=f"{validator}.failed",
        )
    if not reports:
        return not_validated(f"not performed: {no_report}", validator=validator, module=module,
                             message_id=f"{validator}.failed")
    return reports


def report_xml(output: bytes, root: str, parse_error: type[Exception], missing: str) -> bytes:
    """The XML report in a tool's stdout: from ``<?xml`` (else ``<root``) to the last ``</root>``.

    Java tools print JVM warnings around their report; those lines are not XML. ``parse_error(missing)``
    is raised when there is no report at all."""
    start = output.find(b"<?xml")
    if start < 0:
        start = output.find(f"<{root}".encode())
    if start < 0:
        raise parse_error(missing)
    closing = f"</{root}>".encode()
    end = output.rfind(closing)
    return output[start : end + len(closing)] if end > start else output[start:]


def int_or_none(value: str | None) -> int | None:
    """A report's whole-number attribute, or None when it is absent or not a number."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None

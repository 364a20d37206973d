"""``kho authenticity``: the evidence that a stored record is what was received, for its whole retention period.

``verify`` re-validates every digital signature of an AIP from the evidence stored in it, offline, and
``report`` gives auditors the same as HTML or JSON (docs/decisions/0022-signature-validation.md);
``renew`` keeps each AIP's chain of RFC 3161 time-stamps alive (a new stamp before the TSA's certificate
expires, where one is missing, or with a hash that replaces a retired one); ``timestamps`` lists an AIP's
evidence record and checks every stamp (docs/decisions/0024-timestamps-and-evidence-records.md).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from preservation.cli.base import EXIT_OK, EXIT_REJECTED, EXIT_USAGE, Json, app, catalog, command, new_app, print_json
from preservation.config import Settings

authenticity_app = new_app("authenticity: timestamps and evidence records")
app.add_typer(authenticity_app, name="authenticity", help="authenticity: timestamps and evidence records")


class HashChoice(StrEnum):
    sha256 = "sha256"
    sha512 = "sha512"


@command(authenticity_app, "renew",
         help="add a timestamp over each AIP's evidence where one is missing, the TSA certificate expires "
              "soon, or a hash is retired")
def renew(
    settings: Settings,
    aip_ids: Annotated[list[str] | None, typer.Argument(metavar="[AIP_ID]...", help="the AIPs to look at")] = None,
    every: Annotated[bool, typer.Option("--all", help="every stored AIP")] = False,
    before_days: Annotated[int, typer.Option(
        "--before-days", min=0, help="renew where the last timestamp's TSA certificate expires within N days")] = 365,
    hash_name: Annotated[HashChoice | None, typer.Option(
        "--hash", help="renew with this hash wherever the last timestamp used another (the policy retired it)")]
    = None,
    as_json: Json = False,
) -> int:
    from preservation import evidence

    if not settings.tsa_url:
        print("kho: KHO_TSA_URL is not set: nothing is timestamped / chưa cấu hình máy chủ cấp dấu thời gian",
              file=sys.stderr)
        return EXIT_USAGE
    if bool(aip_ids) == every:
        print("kho: give AIP ids or --all / hãy chỉ định mã gói AIP hoặc --all", file=sys.stderr)
        return EXIT_USAGE
    opened = catalog(settings)
    targets = evidence.stored_aips(opened) if every else list(dict.fromkeys(aip_ids or []))
    failed = 0
    for aip_id in targets:
        try:
            outcome = evidence.renew(settings, opened, aip_id, before_days=before_days,
                                     algorithm=hash_name.value if hash_name else None)
        except evidence.EvidenceError as exc:
            outcome = evidence.RenewOutcome(aip_id, "failed", str(exc))
        failed += outcome.action == "failed"
        if as_json:
            print_json(outcome.to_dict())
        else:
            stamp = f" (timestamp {outcome.stamp})" if outcome.stamp else ""
            print(f"{aip_id}  {outcome.action}{stamp}: {outcome.reason}",
                  file=sys.stderr if outcome.action == "failed" else sys.stdout)
    return EXIT_OK if not failed else EXIT_REJECTED


@command(authenticity_app, "timestamps", help="list an AIP's evidence record and verify each timestamp")
def timestamps(
    settings: Settings,
    aip_id: Annotated[str, typer.Argument(help="the AIP")],
    as_json: Json = False,
) -> int:
    from preservation import evidence
    from preservation.timestamps import TimestampError, load_anchors

    opened = catalog(settings)
    try:
        anchors = load_anchors(settings.trust_anchors)
        report = evidence.verify_aip(opened, aip_id, anchors)
    except (evidence.EvidenceError, TimestampError) as exc:
        print(f"kho: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    if as_json:
        print_json(report.to_dict())
    else:
        print(f"AIP {aip_id}: {report.status} — {report.reason}")
        for version, state in report.versions.items():
            print(f"  {version} inventory: {state}")
        for check in report.stamps:
            s = check.stamp
            covers = ", ".join(s.versions) + (f" + timestamps {', '.join(map(str, s.previous))}" if s.previous else "")
            print(f"  #{s.seq} {s.kind} [{covers}] {s.hash_algorithm} {s.gen_time or s.requested_at} "
                  f"{s.tsa or s.tsa_url}: {check.status} — {check.reason}")
        for url, state in report.locations.items():
            print(f"  at {url}: {state}")
        if not settings.tsa_url:
            print("  (KHO_TSA_URL is not set: new versions are not timestamped / chưa cấu hình máy chủ cấp dấu thời "
                  "gian)")
    return EXIT_OK if report.status == "valid" else EXIT_REJECTED


class ReportFormat(StrEnum):
    html = "html"
    json = "json"


@command(authenticity_app, "verify",
         help="re-validate every digital signature of an AIP from the evidence stored in it (no network)")
def verify(
    settings: Settings,
    aip_id: Annotated[str, typer.Argument(help="the AIP")],
    as_json: Json = False,
) -> int:
    from preservation import authenticity

    try:
        report = authenticity.verify(settings, catalog(settings), aip_id)
    except authenticity.AuthenticityError as exc:
        print(f"kho: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if as_json:
        for check in report.signatures:
            print_json({"path": check.path, "format": check.format, "signer": check.signer,
                        "signing_time": check.signing_time, "status": check.status, "reason": check.reason,
                        "reason_vi": check.reason_vi, "stored_status": check.stored_status})
        for problem in report.evidence_problems:
            print_json({"path": problem.path, "evidence_problem": problem.problem})
    else:
        for check in report.signatures:
            changed = "" if check.agrees else f" (at ingest: {check.stored_status})"
            print(f"{check.status}{changed}\t{check.format}\t{check.path}\t{check.signer or '?'}\t"
                  f"{check.signing_time or '-'}\t{check.reason} / {check.reason_vi}")
        for problem in report.evidence_problems:
            print(f"EVIDENCE\t{problem.path}\t{problem.problem}")
        if not report.signatures and not report.evidence_problems:
            print(f"AIP {aip_id}: no digital signature / không có chữ ký số")
    return EXIT_OK if report.intact else EXIT_REJECTED


@command(authenticity_app, "report", help="an auditor's report of an AIP's signatures (HTML or JSON)")
def report(
    settings: Settings,
    aip_id: Annotated[str, typer.Argument(help="the AIP")],
    output_format: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.html,
    output: Annotated[str | None, typer.Option("-o", "--output", help="write here instead of stdout")] = None,
) -> int:
    from pathlib import Path

    from preservation import authenticity
    from preservation.authenticity_report import render_html

    try:
        checked = authenticity.verify(settings, catalog(settings), aip_id)
    except authenticity.AuthenticityError as exc:
        print(f"kho: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if output_format is ReportFormat.json:
        import json

        text = json.dumps(checked.to_dict(), ensure_ascii=False, indent=1) + "\n"
    else:
        text = render_html(checked, organization=settings.organization)
    if output:
        import os

        from storage_adapters.local import create_file

        fd = create_file(Path(output), exclusive=False)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode())
    else:
        sys.stdout.write(text)
    return EXIT_OK if checked.intact else EXIT_REJECTED

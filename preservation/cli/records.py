"""``kho transfer list|export|receive|receipt``, ``kho disposal list|approve``, ``kho report d458``: the
records' life after ingest (hand-over, disposal) and the reports owed on them."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from preservation.cli.base import EXIT_OK, EXIT_REJECTED, EXIT_USAGE, Json, app, catalog, command, new_app, print_json
from preservation.config import Settings

transfer_app = new_app("hand-over (nộp lưu) of permanent records")
app.add_typer(transfer_app, name="transfer", help="hand-over (nộp lưu) of permanent records")
disposal_app = new_app("records whose retention expired (never deleted automatically)")
app.add_typer(disposal_app, name="disposal", help="records whose retention expired (never deleted automatically)")
report_app = new_app("reports from the catalog")
app.add_typer(report_app, name="report", help="reports from the catalog")


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"
    html = "html"


@command(transfer_app, "list", help="permanent records due or overdue for the historical archive")
def transfer_list(
    settings: Settings,
    show_all: Annotated[bool, typer.Option("--all", help="also records that need no hand-over")] = False,
    as_json: Json = False,
) -> int:
    from preservation.transfer import hand_over_list

    # one list, one order: the transfer DAG reports the very same rows
    rows = [due.to_dict() for due in hand_over_list(catalog(settings), include_not_required=show_all)]
    for row in rows:
        if as_json:
            print_json(row)
        else:
            print(f"{row['status']:<12} {row['historical_archive_due'] or '-':<10}  D458 {row['d458_due'] or '-':<10}"
                  f"  {row['aip_id']}  {row['title']}")
    if not rows and not as_json:
        print("no permanent records awaiting hand-over / không có hồ sơ vĩnh viễn cần nộp lưu")
    return EXIT_OK


@command(transfer_app, "export", help="export AIPs as E-ARK SIP ZIPs with their PREMIS history")
def transfer_export(
    settings: Settings,
    aip_ids: Annotated[list[str], typer.Argument(metavar="AIP_ID")],
    to: Annotated[str, typer.Option("--to", help="the receiving archive")],
    output: Annotated[str, typer.Option("-o", "--output")],
    sender: Annotated[str | None, typer.Option("--sender", help="default: KHO_ORGANIZATION")] = None,
) -> int:
    from preservation.dip import DipError
    from preservation.transfer import TransferError, export_aips

    try:
        result = export_aips(catalog(settings), aip_ids, Path(output), sender=sender or
                             settings.organization, receiver=to, organization=settings.organization)
    except (TransferError, DipError) as exc:
        print(f"kho transfer export: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    for package in result.packages:
        print(f"{package['aip_id']}\t{result.directory / package['package']}\tsha256:{package['sha256']}")
    print(f"transfer list: {result.transfer_list_csv}" + (f", {result.transfer_list_pdf}" if result.transfer_list_pdf
                                                           else " (no PDF: LibreOffice not installed)"))
    return EXIT_OK


def hash_file_sha256(path: Path) -> str:
    from packages.checksums import hash_file

    return hash_file(path, ["sha256"])["sha256"]


@command(transfer_app, "receive", help="ingest handed-over packages; write a receipt")
def transfer_receive(
    settings: Settings,
    packages: Annotated[list[str], typer.Argument(metavar="PACKAGE")],
    sender: Annotated[str, typer.Option("--from")],
    receipt: Annotated[str, typer.Option("--receipt", help="where to write the signed receipt (JSON)")],
) -> int:
    from preservation.pipeline import Context, IngestError, ingest_path
    from preservation.signing import SigningError, signer_from_settings
    from preservation.transfer import TransferError, make_receipt
    from preservation.workspace import WorkspaceBusy

    try:  # before anything is ingested: a receipt that cannot be signed is a configuration error
        signer = signer_from_settings(settings)
    except SigningError as exc:
        print(f"kho transfer receive: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if signer is None:
        print("kho transfer receive: KHO_SIGNING_KEY is not set: the receipt cannot be signed with the archive's "
              "certificate / chưa đặt KHO_SIGNING_KEY: không ký được biên bản giao nhận", file=sys.stderr)
        return EXIT_USAGE
    ctx = Context(settings)
    received: list[dict[str, Any]] = []
    status = EXIT_OK
    try:
        for given in packages:
            path = Path(given)
            if not path.is_file():
                print(f"{given}: no such package / không tồn tại", file=sys.stderr)
                received.append({"package": path.name, "sha256": None, "status": "failed", "reason": "missing"})
                status = EXIT_REJECTED
                continue
            digest = hash_file_sha256(path)
            try:
                result = ingest_path(ctx, path)
            except (IngestError, WorkspaceBusy) as exc:
                print(f"{given}: {exc}", file=sys.stderr)
                received.append({"package": path.name, "sha256": digest, "status": "failed", "reason": str(exc)})
                status = EXIT_REJECTED
                continue
            received.append({"package": path.name, "sha256": digest, "status": result.status,
                             "new_aip_id": result.aip_id if result.status == "stored" else None,
                             "reason": result.reason or None})
            print(f"{path.name}: {result.status} {result.aip_id}")
            if result.status != "stored":
                status = EXIT_REJECTED
        signed = make_receipt(received, receiver=settings.organization, sender=sender, signer=signer)
    except TransferError as exc:
        print(f"kho transfer receive: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        ctx.close()
    Path(receipt).write_text(json.dumps(signed, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"receipt / biên bản giao nhận: {receipt} (signed by {signer.name})")
    return status


@command(transfer_app, "receipt", help="import the receiver's signed receipt; mark AIPs transferred")
def transfer_receipt(
    settings: Settings,
    receipt: Annotated[str, typer.Argument(metavar="RECEIPT")],
    export_dir: Annotated[str, typer.Option("--export-dir", help="the folder `kho transfer export` wrote")],
    receiver_cert: Annotated[str | None, typer.Option(
        "--receiver-cert", metavar="PEM", help="the receiving archive's certificate (PEM or DER; or the CA "
        "certificate it is issued under) that the receipt must be signed with")] = None,
) -> int:
    from preservation.transfer import MANIFEST, TransferError, import_receipt, load_receiver_certificates

    try:
        certificates = load_receiver_certificates(Path(receiver_cert)) if receiver_cert else None
        signed = json.loads(Path(receipt).read_text(encoding="utf-8"))
        manifest = json.loads((Path(export_dir) / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(signed, dict):
            raise ValueError("not a receipt (a JSON object)")
        done = import_receipt(catalog(settings), signed, manifest, receiver_certificates=certificates,
                              key=settings.transfer_key)
    except (OSError, ValueError, KeyError, TypeError, TransferError) as exc:
        print(f"kho transfer receipt: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    print(f"receipt {done.check.describe()}")
    for aip_id in done.aip_ids:
        print(f"{aip_id}: transferred / đã nộp lưu" + (" (legacy receipt / biên bản kiểu cũ)" if done.legacy else ""))
    return EXIT_OK


@command(disposal_app, "list", help='"Xem xét hủy": expired records to review')
def disposal_list(settings: Settings, as_json: Json = False) -> int:
    from preservation.disposal import review_list

    for candidate in review_list(catalog(settings)):
        data = candidate.to_dict()
        if as_json:
            print_json(data)
        else:
            print(f"Xem xét hủy  {data['expired_on']}  {data['maintenance_name']:<8} {data['aip_id']}  {data['title']}")
    return EXIT_OK


@command(disposal_app, "approve", help="carry out an approved disposal (deletes every copy)")
def disposal_approve(
    settings: Settings,
    aip_id: Annotated[str, typer.Argument(metavar="AIP_ID")],
    decision: Annotated[str, typer.Option("--decision", help="the disposal decision number (số quyết định)")],
    approver: Annotated[str, typer.Option("--approver")],
) -> int:
    from preservation.disposal import DisposalError, dispose

    try:
        deleted = dispose(catalog(settings), aip_id, decision=decision, approver=approver)
    except DisposalError as exc:
        print(f"kho disposal: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    print(f"{aip_id}: {deleted} objects deleted; tombstone and deletion event kept / đã hủy, giữ hồ sơ vết")
    return EXIT_OK


@command(report_app, "d458", help="Decision 458/QĐ-TTg indicators per agency")
def report_d458(
    settings: Settings,
    year: Annotated[int | None, typer.Option("--year", help="only AIPs stored in this year")] = None,
    output_format: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.json,
    output: Annotated[str | None, typer.Option("-o", "--output")] = None,
) -> int:
    from preservation.report import d458_report, render

    text = render(d458_report(catalog(settings), year=year), output_format.value)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK

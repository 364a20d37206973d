"""``kho``: the command line. Runs the same step functions as the Airflow DAGs, in-process.

Exit codes: 0 success, 1 the input was rejected / invalid / not found, 2 usage or configuration error,
3 busy: another process is already working on it (the message names it; try again later).

``kho -v COMMAND`` prints the pipeline's log lines (logger ``kho.*``: one per ingest step, with its
numbers) on stderr; without it only warnings are printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from preservation.config import ConfigError, Settings, load_settings

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, default=str))


def cmd_sip_validate(settings: Settings, args: argparse.Namespace) -> int:
    from packages.eark import is_eark_package, validate_eark
    from packages.sip import validate_sip

    profile = args.profile or ("eark" if is_eark_package(args.path) else "bagit")
    if profile == "eark":
        settings.adopt_scratch_dir()  # a ZIP is unpacked inside KHO_HOME, never in the system's /tmp
        eark_report = validate_eark(
            Path(args.path), keep_digests=settings.digests, workdir=settings.scratch_dir,
            max_zip_bytes=settings.zip_max_bytes, max_zip_entries=settings.zip_max_entries,
            max_zip_ratio=settings.zip_max_ratio,
        )
        if args.json:
            _print_json(eark_report.to_dict())
        for eark_failure in eark_report.failures:
            print(eark_failure.text, file=sys.stderr)
        for eark_warning in eark_report.warnings:
            print(f"warning: {eark_warning.text}", file=sys.stderr)
        if eark_report.valid and not args.json:
            print(f"{args.path}: valid E-ARK {eark_report.specification} package / gói E-ARK hợp lệ "
                  f"({len(eark_report.files)} files)")
        return EXIT_OK if eark_report.valid else EXIT_REJECTED
    settings.adopt_scratch_dir()  # problems beyond the cap spill to a temporary file: inside KHO_HOME
    report = validate_sip(Path(args.path), profile=profile, keep_digests=settings.digests, **settings.sip_limits())
    if args.json:
        _print_json(report.to_dict())
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        written = report.write_json(Path(args.report), file_mode=settings.file_mode)
        if written is not None:
            print(f"problems beyond those listed: {written}", file=sys.stderr)
    for problem in report.problems:
        print(problem.line(), file=sys.stderr)
    for warning in report.warnings:
        print("warning: " + warning.line(), file=sys.stderr)
    if report.valid and not args.json:
        print(f"{args.path}: valid / hợp lệ ({len(report.files)} files, profile {profile})")
    return EXIT_OK if report.valid else EXIT_REJECTED


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from preservation.ingest import Context, IngestError, ingest_path, result_json, summary_line
    from preservation.workspace import WorkspaceBusy

    ctx = Context(settings)
    try:
        result = ingest_path(ctx, Path(args.path), profile=args.profile)
    except IngestError as exc:
        hint = " (run `kho resume` to continue / chạy `kho resume` để tiếp tục)" if exc.resumable else ""
        print(f"kho ingest: {exc}{hint}", file=sys.stderr)
        return EXIT_REJECTED
    except WorkspaceBusy as exc:  # not an error of this SIP: another process is on it; no traceback
        print(f"kho ingest: {exc}", file=sys.stderr)
        return EXIT_BUSY
    finally:
        ctx.close()
    if args.json:
        print(result_json(result))
    elif result.status == "stored":
        print(result.aip_id)
    if result.status != "stored":
        print(summary_line(result), file=sys.stderr)
        return EXIT_REJECTED
    return EXIT_OK


def _print_results(results: list[Any], as_json: bool) -> int:
    from preservation.ingest import result_json, summary_line

    for result in results:
        print(result_json(result) if as_json else summary_line(result))
    return EXIT_OK


def cmd_resume(settings: Settings, args: argparse.Namespace) -> int:
    from preservation.ingest import Context, IngestError, resume_all
    from preservation.workspace import WorkspaceBusy

    ctx = Context(settings)
    try:
        results = resume_all(ctx)
    except IngestError as exc:
        print(f"kho resume: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except WorkspaceBusy as exc:  # resume_all skips busy workspaces; this is a last line of defence
        print(f"kho resume: {exc}", file=sys.stderr)
        return EXIT_BUSY
    finally:
        ctx.close()
    if not results and not args.json:
        from preservation.procutil import describe_holder
        from preservation.workspace import iter_workspaces

        busy = [(ws.path.name, ws.holder()) for ws in iter_workspaces(settings)]
        for name, holder in busy:
            if holder is not None:  # say why it was not resumed, and who has it
                print(f"{name}: being processed by {describe_holder(holder)} / "
                      f"đang được tiến trình khác xử lý", file=sys.stderr)
        if not any(holder is not None for _name, holder in busy):
            print("nothing to resume / không có gói nào cần tiếp tục")
    return _print_results(results, args.json)


def cmd_watch(settings: Settings, args: argparse.Namespace) -> int:
    from preservation.ingest import Context, IngestError, run_pipeline, scan_ingest_folder
    from preservation.workspace import WorkspaceBusy

    ctx = Context(settings)
    print(f"watching {settings.ingest_dir} (every {args.interval} s; Ctrl-C stops)", file=sys.stderr)
    try:
        cmd_resume(settings, argparse.Namespace(json=args.json))
        while True:
            for ws in scan_ingest_folder(ctx):
                try:
                    _print_results([run_pipeline(ctx, ws)], args.json)
                except IngestError as exc:
                    print(f"kho watch: {exc} (will retry with `kho resume`)", file=sys.stderr)
                except WorkspaceBusy as exc:
                    print(f"kho watch: {exc}", file=sys.stderr)
                sys.stdout.flush()
            if args.once:
                return EXIT_OK
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        ctx.close()


def cmd_validate(settings: Settings, args: argparse.Namespace) -> int:
    """Report, never judge: exit 0 even for invalid files (2 only for usage errors)."""
    from format_registry.identify import identify
    from format_registry.validators import validate_file

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"kho validate: no such file / không tồn tại: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    for given in args.paths:
        root = Path(given)
        for path in sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]:
            found = identify(path)
            result = validate_file(path, found.puid, found.mime)
            if args.json:
                _print_json({"path": str(path), "puid": found.puid, "mime": found.mime, **result.to_dict()})
            else:
                first = result.messages[0].text if result.messages else ""
                print(f"{path}\t{found.puid or '-'}\t{result.validator} {result.tool_version}\t{result.status}"
                      f"\t{first[:100]}")
    return EXIT_OK


def cmd_identify(settings: Settings, args: argparse.Namespace) -> int:
    from format_registry.identify import engine_info, identify

    options = settings.identify_options()
    if not args.json:
        print(f"# {engine_info(**options).tool}")
    status = EXIT_OK
    for given in args.paths:
        root = Path(given)
        if not root.exists():
            print(f"{given}: no such file / không tồn tại", file=sys.stderr)
            status = EXIT_REJECTED
            continue
        paths = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in paths:
            found = identify(path, **options)
            if args.json:
                _print_json({"path": str(path), **found.to_dict()})
            else:
                print(f"{path}\t{found.puid or '-'}\t{found.format_name or '-'}\t{found.mime or '-'}\t{found.method}")
    return status


def _catalog(settings: Settings) -> Any:
    from preservation.catalog_guard import open_catalog

    return open_catalog(settings)


def cmd_aip_list(settings: Settings, args: argparse.Namespace) -> int:
    catalog = _catalog(settings)
    rows = [a for a in catalog.list_aips() if a.needs_review or not args.needs_review]
    if args.json:
        for aip in rows:
            _print_json(
                {
                    "aip_id": aip.id,
                    "sip_name": aip.sip_name,
                    "title": aip.title,
                    "status": aip.status,
                    "files": aip.file_count,
                    "bytes": aip.total_bytes,
                    "needs_review": aip.needs_review,
                    "review_reasons": aip.review_reasons or [],
                    "stored_at": aip.stored_at.isoformat(),
                }
            )
    else:
        for aip in rows:
            stored = f"{aip.stored_at:%Y-%m-%d %H:%M}"
            print(f"{aip.id}\t{aip.status}\t{aip.file_count} files\t{stored}\t{aip.title or aip.sip_name}")
        if not rows:
            print("no AIPs yet / chưa có gói AIP nào")
    return EXIT_OK


def cmd_aip_show(settings: Settings, args: argparse.Namespace) -> int:
    catalog = _catalog(settings)
    aip = catalog.get_aip(args.aip_id)
    if aip is None:
        print(f"AIP {args.aip_id} not found / không tìm thấy", file=sys.stderr)
        return EXIT_REJECTED
    files = catalog.files(aip.id)
    events = catalog.events(aip.id)
    copies = catalog.copies(aip.id)
    data = {
        "aip_id": aip.id,
        "sip_name": aip.sip_name,
        "title": aip.title,
        "status": aip.status,
        "payload_hash": aip.payload_hash,
        "previous_version": aip.previous_version,
        "stored_at": aip.stored_at.isoformat(),
        "needs_review": aip.needs_review,
        "review_reasons": aip.review_reasons or [],
        "bag_info": aip.bag_info,
        "files": [
            {
                "path": f.path,
                "role": f.role,
                "representation": f.representation,
                "validation": f.validation_status,
                "validator": f.validator,
                "source_id": f.source_id,
                "id": f.id,
                "puid": f.puid,
                "format": f.format_name,
                "mime": f.mime,
                "method": f.id_method,
                "size": f.size,
                "sha256": f.sha256,
            }
            for f in files
        ],
        "locations": [
            {"location": c.location, "status": c.status, "verified_at": c.verified_at.isoformat()} for c in copies
        ],
        "events": [
            {
                "type": e.event_type,
                "datetime": e.event_datetime.isoformat(),
                "outcome": e.outcome,
                "detail": e.detail,
                "outcome_detail": e.outcome_detail,
            }
            for e in events
        ],
    }
    if args.json:
        _print_json(data)
        return EXIT_OK
    print(f"AIP {aip.id}  {aip.title or ''}\n  SIP {aip.sip_name}, stored {aip.stored_at:%Y-%m-%d %H:%M:%S}")
    print("Locations:")
    for c in copies:
        print(f"  {c.location}  {c.status} {c.verified_at:%Y-%m-%d %H:%M:%S}")
    print("Files:")
    for f in files:
        print(f"  {f.path}\t{f.puid or '-'}\t{f.mime or '-'}\t{f.size}\t{f.sha256}")
    print("Events:")
    for e in events:
        print(f"  {e.event_datetime:%Y-%m-%d %H:%M:%S}  {e.event_type:<28} {e.outcome:<13} {e.outcome_detail[:80]}")
    return EXIT_OK


def cmd_events_export(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import datetime

    from preservation.export import export_events

    catalog = _catalog(settings)
    try:
        since = datetime.fromisoformat(args.since) if args.since else None
        until = datetime.fromisoformat(args.until) if args.until else None
    except ValueError as exc:
        print(f"--since/--until must be ISO dates (YYYY-MM-DD[THH:MM]): {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.aip_id and not catalog.has_events(args.aip_id):
        print(f"no events for {args.aip_id} / không có sự kiện", file=sys.stderr)
        return EXIT_REJECTED
    events = catalog.iter_events(aip_id=args.aip_id, since=since, until=until, agent=args.agent)
    aip_ids = None if args.aip_id else catalog.event_aip_ids(since=since, until=until, agent=args.agent)
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115
    try:
        export_events(catalog, args.aip_id, events, args.format, out, aip_ids=aip_ids)
    finally:
        if args.output:
            out.close()
    return EXIT_OK


def cmd_events_verify(settings: Settings, args: argparse.Namespace) -> int:
    catalog = _catalog(settings)
    problem = catalog.verify_chain()
    if problem is None:
        print(f"event chain intact / chuỗi sự kiện nguyên vẹn ({catalog.event_count()} events)")
        return EXIT_OK
    print(f"event chain broken / chuỗi sự kiện bị phá vỡ: {problem}", file=sys.stderr)
    return EXIT_REJECTED


def cmd_aip_history(settings: Settings, args: argparse.Namespace) -> int:
    catalog = _catalog(settings)
    aip = catalog.get_aip(args.aip_id)
    events = catalog.events(args.aip_id)
    if aip is None and not events:
        print(f"AIP {args.aip_id} not found / không tìm thấy", file=sys.stderr)
        return EXIT_REJECTED
    if aip is not None:
        print(f"{aip.id}  {aip.title or aip.sip_name}")
    print(f"{'when (UTC)':<19}  {'event':<28}  {'outcome':<13}  detail")
    for event in events:
        detail = event.outcome_detail if event.event_type in ("format identification", "message digest calculation") \
            else event.detail
        print(f"{event.event_datetime:%Y-%m-%d %H:%M:%S}  {event.event_type:<28}  {event.outcome:<13}  {detail[:100]}")
    return EXIT_OK


def cmd_dip(settings: Settings, args: argparse.Namespace) -> int:
    from preservation.dip import DipError, build_dip

    catalog = _catalog(settings)
    try:
        result = build_dip(catalog, args.aip_id, requester=args.requester, role=args.role, purpose=args.purpose,
                           out_dir=Path(args.output) if args.output else settings.home / "dips",
                           files=args.files or None, request_id=args.request_id,
                           research_topic=args.research_topic)
    except DipError as exc:
        print(f"kho dip: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result.zip_path)
        if result.withheld_count:
            print(f"{result.withheld_count} files withheld / không cung cấp {result.withheld_count} tệp "
                  "(see withheld.csv)", file=sys.stderr)
    return EXIT_OK


def cmd_fixity(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from preservation.fixity import audit

    catalog = _catalog(settings)
    if args.aip and catalog.get_aip(args.aip) is None:
        print(f"AIP {args.aip} not found / không tìm thấy", file=sys.stderr)
        return EXIT_REJECTED
    older = timedelta(days=args.older_than_days) if args.older_than_days is not None else None
    summary = audit(catalog, aip_id=args.aip, location=args.location, max_aips=args.max_aips, older_than=older,
                    repair=not args.no_repair)
    catalog.close()
    if args.json:
        _print_json(summary.to_dict())
    else:
        print(summary.table())
    return EXIT_OK if summary.unrepaired == 0 else EXIT_REJECTED


def _locations(settings: Settings, only: str | None) -> list[Any]:
    from storage_adapters.registry import open_location

    return [open_location(url) for url in settings.storage if only is None or url == only]


def cmd_storage_init(settings: Settings, args: argparse.Namespace) -> int:
    from storage_adapters.base import StorageError

    status = EXIT_OK
    for url in settings.storage:
        try:
            location = _locations(settings, url)[0]
            report: Any = location.init()  # S3: includes check(), what the server actually does
            problems = list(report.get("problems") or []) if isinstance(report, dict) else []
            if problems:
                print(f"{url}: NOT READY / chưa sẵn sàng: {'; '.join(problems)}", file=sys.stderr)
                status = EXIT_REJECTED
            else:
                print(f"{url}: ready / sẵn sàng")
        except StorageError as exc:
            print(f"{url}: {exc}", file=sys.stderr)
            status = EXIT_REJECTED
    return status


def cmd_storage_check(settings: Settings, args: argparse.Namespace) -> int:
    from storage_adapters.base import StorageError

    status = EXIT_OK
    for url in settings.storage:
        try:
            report = _locations(settings, url)[0].check()
        except StorageError as exc:
            report = {"location": url, "reachable": False, "writable": False, "error": str(exc)}
        usable = bool(report.get("reachable") and report.get("writable"))
        if not usable or report.get("problems"):  # e.g. encryption or Object Lock the server ignores
            status = EXIT_REJECTED
        if args.json:
            _print_json(report)
        else:
            state = ("ok" if not report.get("problems") else "PROBLEMS") if usable else "NOT USABLE"
            extra = {k: v for k, v in report.items() if k not in ("location", "reachable", "writable")}
            print(f"{url}: {state} {json.dumps(extra, ensure_ascii=False) if extra else ''}".rstrip())
    return status


def cmd_storage_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    """AIPs of the layout before OCFL become OCFL objects (preservation/storage_upgrade.py)."""
    from preservation.storage_upgrade import upgrade_storage

    catalog = _catalog(settings)
    try:
        result = upgrade_storage(catalog, dry_run=args.dry_run)
    finally:
        catalog.close()
    if args.json:
        _print_json(result.to_dict())
    else:
        if args.dry_run:
            print(f"{len(result.pending)} AIPs to upgrade to OCFL / gói cần chuyển: " + " ".join(result.pending))
        for aip_id in result.upgraded:
            print(f"{aip_id}: upgraded to OCFL / đã chuyển sang OCFL")
        for aip_id, why in result.failed.items():
            print(f"{aip_id}: NOT upgraded / chưa chuyển: {why}", file=sys.stderr)
        if result.old_keys_deleted:
            print(f"{result.old_keys_deleted} keys of the old layout deleted / đã xóa khóa cũ")
        for key, why in result.old_keys_kept.items():
            print(f"kept (run again later) / còn giữ: {key}: {why}", file=sys.stderr)
    return EXIT_OK if not result.failed else EXIT_REJECTED


def _policy(args: argparse.Namespace) -> Any:
    from format_registry.policy import load_policy

    return load_policy(Path(args.policy) if args.policy else None, Path(args.tools) if args.tools else None)


def cmd_policy_check(settings: Settings, args: argparse.Namespace) -> int:
    from format_registry.policy import PolicyError

    try:
        policy = _policy(args)
    except PolicyError as exc:
        print(f"policy invalid / chính sách không hợp lệ:\n{exc}", file=sys.stderr)
        return EXIT_REJECTED
    missing = sorted({spec.command[0] for spec in policy.tools.values()
                      if not spec.command[0].startswith("{") and shutil.which(spec.command[0]) is None})
    print(f"{policy.path}: valid, {len(policy.entries)} format entries, {len(policy.tools)} tools")
    for program in missing:
        print(f"warning: {program} is not installed; conversions that need it will fail and be flagged for review")
    return EXIT_OK


def cmd_policy_show(settings: Settings, args: argparse.Namespace) -> int:
    policy = _policy(args)
    if args.json:
        _print_json({"path": str(policy.path), "default": policy.default, "formats": policy.entries})
        return EXIT_OK
    for entry in policy.entries:
        print(f"{entry['id']:<18} risk {entry['risk']:<6} keep→{entry['preservation']['action']:<10}"
              f" access→{entry['access']['action']:<16} {entry['name']}")
    return EXIT_OK


def cmd_policy_explain(settings: Settings, args: argparse.Namespace) -> int:
    from format_registry.identify import identify

    policy = _policy(args)
    status = EXIT_OK
    for given in args.files:
        path = Path(given)
        if not path.is_file():
            print(f"{given}: no such file / không tồn tại", file=sys.stderr)
            status = EXIT_REJECTED
            continue
        found = identify(path)
        decision = policy.decide(found.puid, found.mime)
        data = {
            "path": given, "puid": found.puid, "format": found.format_name, "mime": found.mime,
            "policy_entry": decision.entry_id, "matched_by": decision.matched_by, "risk": decision.risk,
            "preservation": decision.preservation.describe(), "access": decision.access.describe(),
            "rule": decision.rule,
        }
        if args.json:
            _print_json(data)
        else:
            print(f"{given}: {found.puid or '-'} {found.format_name or found.mime or 'unknown'}\n"
                  f"  policy entry {decision.entry_id} (matched by {decision.matched_by}), risk {decision.risk}\n"
                  f"  preservation: {decision.preservation.describe()}\n  access: {decision.access.describe()}\n"
                  f"  why: {decision.rule}")
    return status


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from preservation.migrate import run_campaign

    catalog = _catalog(settings)
    result = run_campaign(catalog, puid=args.puid, dry_run=args.dry_run, digests=settings.digests,
                          organization=settings.organization)
    catalog.close()
    data = result.to_dict()
    if args.json:
        _print_json(data)
    else:
        verb = "would migrate" if args.dry_run else "migrated"
        print(f"{verb} {data['files']} files ({data['bytes']} bytes) in {data['aips']} AIPs"
              + (f"; {len(result.migrated)} AIPs done" if not args.dry_run else ""))
        for entry in data["plan"]:
            for item in entry["files"]:
                print(f"  {entry['aip_id']}  {item['path']}  → {item['purpose']}: {item['target']} ({item['tool']})")
        for aip_id, error in result.failed.items():
            print(f"FAILED {aip_id}: {error}", file=sys.stderr)
    return EXIT_OK if not result.failed else EXIT_REJECTED


def cmd_transfer_list(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from preservation.retention import deadlines

    catalog = _catalog(settings)
    today = datetime.now(UTC).date()
    rows = []
    for aip in catalog.list_aips():
        if aip.deleted_at is not None:
            continue
        due = deadlines(aip.bag_info, aip.stored_at)
        status = due.status(today, aip.transferred_at.date() if aip.transferred_at else None)
        if status == "not-required" and not args.all:
            continue
        rows.append({
            "aip_id": aip.id, "title": aip.title or aip.sip_name, "maintenance": due.maintenance, "status": status,
            "work_ended": due.work_ended.isoformat() if due.work_ended else None,
            "current_archive_due": due.current_archive_due.isoformat() if due.current_archive_due else None,
            "entered_current_archive": due.entered_current_archive.isoformat(),
            "historical_archive_due": due.historical_archive_due.isoformat() if due.historical_archive_due else None,
            "d458_due": due.d458_due.isoformat() if due.d458_due else None,
        })
    order = {"overdue": 0, "due": 1, "not-yet-due": 2, "unknown": 3, "transferred": 4, "not-required": 5}
    rows.sort(key=lambda r: (order[r["status"]], r["historical_archive_due"] or "9999"))
    for row in rows:
        if args.json:
            _print_json(row)
        else:
            print(f"{row['status']:<12} {row['historical_archive_due'] or '-':<10}  D458 {row['d458_due'] or '-':<10}"
                  f"  {row['aip_id']}  {row['title']}")
    if not rows and not args.json:
        print("no permanent records awaiting hand-over / không có hồ sơ vĩnh viễn cần nộp lưu")
    return EXIT_OK


def cmd_transfer_export(settings: Settings, args: argparse.Namespace) -> int:
    from preservation.dip import DipError
    from preservation.transfer import TransferError, export_aips

    try:
        result = export_aips(_catalog(settings), args.aip_ids, Path(args.output), sender=args.sender or
                             settings.organization, receiver=args.to, organization=settings.organization)
    except (TransferError, DipError) as exc:
        print(f"kho transfer export: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    for package in result.packages:
        print(f"{package['aip_id']}\t{result.directory / package['package']}\tsha256:{package['sha256']}")
    print(f"transfer list: {result.transfer_list_csv}" + (f", {result.transfer_list_pdf}" if result.transfer_list_pdf
                                                           else " (no PDF: LibreOffice not installed)"))
    return EXIT_OK


def cmd_transfer_receive(settings: Settings, args: argparse.Namespace) -> int:
    from preservation.ingest import Context, IngestError, ingest_path
    from preservation.transfer import TransferError, make_receipt
    from preservation.workspace import WorkspaceBusy

    ctx = Context(settings)
    received: list[dict[str, Any]] = []
    status = EXIT_OK
    try:
        for given in args.packages:
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
        receipt = make_receipt(received, receiver=settings.organization, sender=args.sender)
    except TransferError as exc:
        print(f"kho transfer receive: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        ctx.close()
    Path(args.receipt).write_text(json.dumps(receipt, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"receipt / biên bản giao nhận: {args.receipt}")
    return status


def hash_file_sha256(path: Path) -> str:
    from packages.checksums import hash_file

    return hash_file(path, ["sha256"])["sha256"]


def cmd_transfer_receipt(settings: Settings, args: argparse.Namespace) -> int:
    from preservation.transfer import MANIFEST, TransferError, import_receipt

    try:
        receipt = json.loads(Path(args.receipt).read_text(encoding="utf-8"))
        manifest = json.loads((Path(args.export_dir) / MANIFEST).read_text(encoding="utf-8"))
        done = import_receipt(_catalog(settings), receipt, manifest)
    except (OSError, ValueError, KeyError, TransferError) as exc:
        print(f"kho transfer receipt: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    for aip_id in done:
        print(f"{aip_id}: transferred / đã nộp lưu")
    return EXIT_OK


def cmd_disposal_list(settings: Settings, args: argparse.Namespace) -> int:
    from preservation.disposal import review_list

    for candidate in review_list(_catalog(settings)):
        data = candidate.to_dict()
        if args.json:
            _print_json(data)
        else:
            print(f"Xem xét hủy  {data['expired_on']}  {data['maintenance_name']:<8} {data['aip_id']}  {data['title']}")
    return EXIT_OK


def cmd_disposal_approve(settings: Settings, args: argparse.Namespace) -> int:
    from preservation.disposal import DisposalError, dispose

    try:
        deleted = dispose(_catalog(settings), args.aip_id, decision=args.decision, approver=args.approver)
    except DisposalError as exc:
        print(f"kho disposal: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    print(f"{args.aip_id}: {deleted} objects deleted; tombstone and deletion event kept / đã hủy, giữ hồ sơ vết")
    return EXIT_OK


def cmd_catalog_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0: everything restored as the journal recorded it and the chain intact; 1: refused, or
    rebuilt with something that could not be restored exactly (each listed)."""
    from preservation.rebuild import RebuildRefused, rebuild

    try:
        report = rebuild(settings)
    except RebuildRefused as exc:
        print(f"kho catalog rebuild: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    if args.json:
        _print_json(report.to_dict())
    else:
        print("\n".join(report.lines()))
    return EXIT_OK if report.exact else EXIT_REJECTED


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from preservation.report import d458_report, render

    text = render(d458_report(_catalog(settings), year=args.year), args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from preservation.api import serve

    serve(settings, host=args.host, port=args.port)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kho", description="Kho — OAIS digital preservation for Vietnamese archives")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print what each step did (files, formats, bytes, AIP id, locations) on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    sip = sub.add_parser("sip", help="work with submission packages").add_subparsers(dest="sip_command", required=True)
    validate = sip.add_parser("validate", help="validate a SIP without ingesting it")
    validate.add_argument("path")
    validate.add_argument("--profile", choices=["bagit", "vn", "eark"],
                          help="default: eark for an E-ARK package (folder or ZIP), else bagit")
    validate.add_argument("--json", action="store_true")
    validate.add_argument("--report", metavar="FILE", help="also write the report as JSON to FILE (problems beyond "
                          "100 of a code in FILE's -problems.jsonl beside it)")
    validate.set_defaults(func=cmd_sip_validate)

    ingest = sub.add_parser("ingest", help="ingest a SIP (copied, never changed) into a stored AIP")
    ingest.add_argument("path")
    ingest.add_argument("--profile", choices=["bagit", "vn"], default="bagit")
    ingest.add_argument("--json", action="store_true")
    ingest.set_defaults(func=cmd_ingest)

    resume = sub.add_parser("resume", help="finish every interrupted ingest")
    resume.add_argument("--json", action="store_true")
    resume.set_defaults(func=cmd_resume)

    watch = sub.add_parser("watch", help="poll the ingest folder and ingest each new SIP once")
    watch.add_argument("--interval", type=float, default=5.0)
    watch.add_argument("--once", action="store_true", help="one scan, then exit")
    watch.add_argument("--json", action="store_true")
    watch.set_defaults(func=cmd_watch)

    ident = sub.add_parser("identify", help="identify file formats (PRONOM PUID, MIME)")
    ident.add_argument("paths", nargs="+")
    ident.add_argument("--json", action="store_true")
    ident.set_defaults(func=cmd_identify)

    validate_cmd = sub.add_parser("validate", help="validate files (JHOVE where installed, built-in validators)")
    validate_cmd.add_argument("paths", nargs="+")
    validate_cmd.add_argument("--json", action="store_true")
    validate_cmd.set_defaults(func=cmd_validate)

    aip = sub.add_parser("aip", help="archival packages in the catalog").add_subparsers(
        dest="aip_command", required=True
    )
    listing = aip.add_parser("list")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--needs-review", action="store_true", help="only AIPs flagged for an archivist's review")
    listing.set_defaults(func=cmd_aip_list)
    show = aip.add_parser("show")
    show.add_argument("aip_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_aip_show)

    events = sub.add_parser("events", help="PREMIS event trail").add_subparsers(dest="events_command", required=True)
    export = events.add_parser("export", help="export PREMIS events: of an AIP, a date range, an agent, or all")
    export.add_argument("aip_id", nargs="?", help="only this AIP (default: every event)")
    export.add_argument("--since", help="from this date/time (ISO 8601, UTC)")
    export.add_argument("--until", help="before this date/time (ISO 8601, UTC)")
    export.add_argument("--agent", help="only events linked to this agent identifier value (e.g. a requester)")
    export.add_argument("--format", choices=["premis", "json", "csv"], default="premis")
    export.add_argument("-o", "--output")
    export.set_defaults(func=cmd_events_export)
    verify = events.add_parser("verify", help="walk the event hash chain; name the first edited/deleted/moved event")
    verify.set_defaults(func=cmd_events_verify)

    history = aip.add_parser("history", help="the timeline of an AIP")
    history.add_argument("aip_id")
    history.set_defaults(func=cmd_aip_history)

    dip = sub.add_parser("dip", help="build a dissemination package (DIP) within the requester's rights")
    dip.add_argument("aip_id")
    dip.add_argument("--files", nargs="*", help="only these files (AIP or SIP paths)")
    dip.add_argument("--requester", required=True)
    dip.add_argument("--role", choices=["reader", "archivist", "administrator"], default="reader")
    dip.add_argument("--purpose", default="01", help="TT 05 purpose code or text (01 research ...)")
    dip.add_argument("--request-id", help="TT 05 requestID (default: the DIP's UUID)")
    dip.add_argument("--research-topic", help="TT 05 researchTopic (đề tài nghiên cứu)")
    dip.add_argument("-o", "--output", help="folder for the DIP (default $KHO_HOME/dips)")
    dip.add_argument("--json", action="store_true")
    dip.set_defaults(func=cmd_dip)

    fixity = sub.add_parser("fixity", help="re-read stored copies, compare digests, repair from a good copy")
    fixity.add_argument("--aip", help="audit only this AIP")
    fixity.add_argument("--location", help="audit only the copies at this location URL")
    fixity.add_argument("--max-aips", type=int, help="audit at most N AIPs (least recently checked first)")
    fixity.add_argument("--older-than-days", type=float, help="only copies not audited for this many days")
    fixity.add_argument("--no-repair", action="store_true", help="report damage without repairing")
    fixity.add_argument("--json", action="store_true")
    fixity.set_defaults(func=cmd_fixity)

    storage = sub.add_parser("storage", help="storage locations (KHO_STORAGE)").add_subparsers(
        dest="storage_command", required=True)
    storage_init = storage.add_parser("init", help="create each location (buckets are never created silently)")
    storage_init.set_defaults(func=cmd_storage_init)
    storage_check = storage.add_parser("check", help="is each location reachable and writable?")
    storage_check.add_argument("--json", action="store_true")
    storage_check.set_defaults(func=cmd_storage_check)
    storage_upgrade = storage.add_parser(
        "upgrade", help="store AIPs of the layout before OCFL as OCFL 1.1 objects (v1), then delete the old keys")
    storage_upgrade.add_argument("--dry-run", action="store_true", help="only list the AIPs to upgrade")
    storage_upgrade.add_argument("--json", action="store_true")
    storage_upgrade.set_defaults(func=cmd_storage_upgrade)

    migrate = sub.add_parser("migrate", help="migration campaign: new copies where the policy now asks for them")
    migrate.add_argument("--puid", help="only files of this PRONOM format")
    migrate.add_argument("--dry-run", action="store_true", help="list what would be migrated, change nothing")
    migrate.add_argument("--json", action="store_true")
    migrate.set_defaults(func=cmd_migrate)

    transfer = sub.add_parser("transfer", help="hand-over (nộp lưu) of permanent records").add_subparsers(
        dest="transfer_command", required=True)
    transfer_list = transfer.add_parser("list", help="permanent records due or overdue for the historical archive")
    transfer_list.add_argument("--all", action="store_true", help="also records that need no hand-over")
    transfer_list.add_argument("--json", action="store_true")
    transfer_list.set_defaults(func=cmd_transfer_list)
    export_cmd = transfer.add_parser("export", help="export AIPs as E-ARK SIP ZIPs with their PREMIS history")
    export_cmd.add_argument("aip_ids", nargs="+")
    export_cmd.add_argument("--to", required=True, help="the receiving archive")
    export_cmd.add_argument("--sender", help="default: KHO_ORGANIZATION")
    export_cmd.add_argument("-o", "--output", required=True)
    export_cmd.set_defaults(func=cmd_transfer_export)
    receive_cmd = transfer.add_parser("receive", help="ingest handed-over packages; write a receipt")
    receive_cmd.add_argument("packages", nargs="+")
    receive_cmd.add_argument("--from", dest="sender", required=True)
    receive_cmd.add_argument("--receipt", required=True, help="where to write the signed receipt (JSON)")
    receive_cmd.set_defaults(func=cmd_transfer_receive)
    receipt_cmd = transfer.add_parser("receipt", help="import the receiver's signed receipt; mark AIPs transferred")
    receipt_cmd.add_argument("receipt")
    receipt_cmd.add_argument("--export-dir", required=True, help="the folder `kho transfer export` wrote")
    receipt_cmd.set_defaults(func=cmd_transfer_receipt)

    disposal = sub.add_parser("disposal", help="records whose retention expired (never deleted automatically)")
    disposal_sub = disposal.add_subparsers(dest="disposal_command", required=True)
    disposal_list = disposal_sub.add_parser("list", help='"Xem xét hủy": expired records to review')
    disposal_list.add_argument("--json", action="store_true")
    disposal_list.set_defaults(func=cmd_disposal_list)
    approve = disposal_sub.add_parser("approve", help="carry out an approved disposal (deletes every copy)")
    approve.add_argument("aip_id")
    approve.add_argument("--decision", required=True, help="the disposal decision number (số quyết định)")
    approve.add_argument("--approver", required=True)
    approve.set_defaults(func=cmd_disposal_approve)

    catalog_cmd = sub.add_parser("catalog", help="the catalog itself").add_subparsers(
        dest="catalog_command", required=True)
    rebuild = catalog_cmd.add_parser(
        "rebuild", help="rebuild a lost catalog from the storage locations alone, into an empty catalog "
                        "(move a damaged one aside first)")
    rebuild.add_argument("--json", action="store_true")
    rebuild.set_defaults(func=cmd_catalog_rebuild)

    report = sub.add_parser("report", help="reports from the catalog").add_subparsers(
        dest="report_command", required=True)
    d458 = report.add_parser("d458", help="Decision 458/QĐ-TTg indicators per agency")
    d458.add_argument("--year", type=int, help="only AIPs stored in this year")
    d458.add_argument("--format", choices=["json", "csv", "html"], default="json")
    d458.add_argument("-o", "--output")
    d458.set_defaults(func=cmd_report)

    serve_cmd = sub.add_parser("serve", help="the HTTP API (FastAPI; bearer tokens from KHO_API_TOKENS)")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=8000)
    serve_cmd.set_defaults(func=cmd_serve)

    policy = sub.add_parser("policy", help="the format policy (format_registry/policy.yaml)").add_subparsers(
        dest="policy_command", required=True)
    for name, func, text in (("show", cmd_policy_show, "list the policy's format entries"),
                             ("check", cmd_policy_check, "validate policy.yaml and tools.yaml"),
                             ("explain", cmd_policy_explain, "what would happen to FILE, and why")):
        command = policy.add_parser(name, help=text)
        command.add_argument("--policy", help="policy file (default: KHO_POLICY or the bundled policy.yaml)")
        command.add_argument("--tools", help="tools file (default: KHO_TOOLS or the bundled tools.yaml)")
        command.add_argument("--json", action="store_true")
        if name == "explain":
            command.add_argument("files", nargs="+")
        command.set_defaults(func=func)
    return parser


def configure_logging(verbose: bool) -> None:
    """Log lines of the ``kho.*`` loggers on stderr: every step with ``-v``, else warnings only (a
    virus check not performed must not go unnoticed). Only the CLI does this: under Airflow the
    task's own logging handlers show the very same lines."""
    logger = logging.getLogger("kho")
    handler = next((h for h in logger.handlers if getattr(h, "kho_cli", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        handler.kho_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    for old_filter in list(handler.filters):
        handler.removeFilter(old_filter)
    if not verbose:  # a rejection is printed as the command's result already: not twice
        handler.addFilter(lambda record: not getattr(record, "kho_result", False))
    if verbose and not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        settings = load_settings()
        settings.adopt_identification()  # kho identify / validate / policy explain have no ingest Context
    except ConfigError as exc:
        print(f"kho: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from format_registry.identify import IdentificationEngineError
    from preservation.catalog_guard import CatalogProblem

    try:
        return int(args.func(settings, args))
    except CatalogProblem as exc:
        print(f"kho: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except IdentificationEngineError as exc:
        print(f"kho: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

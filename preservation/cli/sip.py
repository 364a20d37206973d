"""``kho sip validate``, ``kho ingest``, ``kho resume``, ``kho watch``: submission packages in, AIPs out."""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from preservation.cli.base import EXIT_BUSY, EXIT_OK, EXIT_REJECTED, Json, app, command, new_app, print_json, value
from preservation.config import Settings

sip_app = new_app("work with submission packages")
app.add_typer(sip_app, name="sip", help="work with submission packages")


class SipProfile(StrEnum):
    bagit = "bagit"
    vn = "vn"
    eark = "eark"


class IngestProfile(StrEnum):
    bagit = "bagit"
    vn = "vn"


@command(sip_app, "validate", help="validate a SIP without ingesting it")
def sip_validate(
    settings: Settings,
    path: Annotated[str, typer.Argument(metavar="PATH")],
    profile: Annotated[SipProfile | None, typer.Option(
        "--profile", help="default: eark for an E-ARK package (folder or ZIP), else bagit")] = None,
    as_json: Json = False,
    report: Annotated[str | None, typer.Option(
        "--report", metavar="FILE", help="also write the report as JSON to FILE (problems beyond "
        "100 of a code in FILE's -problems.jsonl beside it)")] = None,
) -> int:
    from packages.eark import is_eark_package, validate_eark
    from packages.sip import validate_sip

    chosen = value(profile) or ("eark" if is_eark_package(path) else "bagit")
    if chosen == "eark":
        settings.adopt_scratch_dir()  # a ZIP is unpacked inside KHO_HOME, never in the system's /tmp
        eark_report = validate_eark(
            Path(path), keep_digests=settings.digests, workdir=settings.scratch_dir,
            max_zip_bytes=settings.zip_max_bytes, max_zip_entries=settings.zip_max_entries,
            max_zip_ratio=settings.zip_max_ratio,
        )
        if as_json:
            print_json(eark_report.to_dict())
        for eark_failure in eark_report.failures:
            print(eark_failure.text, file=sys.stderr)
        for eark_warning in eark_report.warnings:
            print(f"warning: {eark_warning.text}", file=sys.stderr)
        if eark_report.valid and not as_json:
            print(f"{path}: valid E-ARK {eark_report.specification} package / gói E-ARK hợp lệ "
                  f"({len(eark_report.files)} files)")
        return EXIT_OK if eark_report.valid else EXIT_REJECTED
    settings.adopt_scratch_dir()  # problems beyond the cap spill to a temporary file: inside KHO_HOME
    found = validate_sip(Path(path), profile=chosen, keep_digests=settings.digests, **settings.sip_limits())
    if as_json:
        print_json(found.to_dict())
    if report:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        written = found.write_json(Path(report), file_mode=settings.file_mode)
        if written is not None:
            print(f"problems beyond those listed: {written}", file=sys.stderr)
    for problem in found.problems:
        print(problem.line(), file=sys.stderr)
    for warning in found.warnings:
        print("warning: " + warning.line(), file=sys.stderr)
    if found.valid and not as_json:
        print(f"{path}: valid / hợp lệ ({len(found.files)} files, profile {chosen})")
    return EXIT_OK if found.valid else EXIT_REJECTED


@command(app, "ingest", help="ingest a SIP (copied, never changed) into a stored AIP")
def ingest(
    settings: Settings,
    path: Annotated[str, typer.Argument(metavar="PATH")],
    profile: Annotated[IngestProfile, typer.Option("--profile")] = IngestProfile.bagit,
    as_json: Json = False,
) -> int:
    from preservation.pipeline import Context, IngestError, ingest_path, result_json, summary_line
    from preservation.workspace import WorkspaceBusy

    ctx = Context(settings)
    try:
        result = ingest_path(ctx, Path(path), profile=profile.value)
    except IngestError as exc:
        hint = " (run `kho resume` to continue / chạy `kho resume` để tiếp tục)" if exc.resumable else ""
        print(f"kho ingest: {exc}{hint}", file=sys.stderr)
        return EXIT_REJECTED
    except WorkspaceBusy as exc:  # not an error of this SIP: another process is on it; no traceback
        print(f"kho ingest: {exc}", file=sys.stderr)
        return EXIT_BUSY
    finally:
        ctx.close()
    if as_json:
        print(result_json(result))
    elif result.status == "stored":
        print(result.aip_id)
    if result.status != "stored":
        print(summary_line(result), file=sys.stderr)
        return EXIT_REJECTED
    return EXIT_OK


def print_results(results: list[Any], as_json: bool) -> int:
    from preservation.pipeline import result_json, summary_line

    for result in results:
        print(result_json(result) if as_json else summary_line(result))
    return EXIT_OK


@command(app, "resume", help="finish every interrupted ingest")
def resume(settings: Settings, as_json: Json = False) -> int:
    from preservation.pipeline import Context, IngestError, resume_all
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
    if not results and not as_json:
        from preservation.procutil import describe_holder
        from preservation.workspace import iter_workspaces

        busy = [(ws.path.name, ws.holder()) for ws in iter_workspaces(settings)]
        for name, holder in busy:
            if holder is not None:  # say why it was not resumed, and who has it
                print(f"{name}: being processed by {describe_holder(holder)} / "
                      f"đang được tiến trình khác xử lý", file=sys.stderr)
        if not any(holder is not None for _name, holder in busy):
            print("nothing to resume / không có gói nào cần tiếp tục")
    return print_results(results, as_json)


@command(app, "watch", help="poll the ingest folder and ingest each new SIP once")
def watch(
    settings: Settings,
    interval: Annotated[float, typer.Option("--interval")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="one scan, then exit")] = False,
    as_json: Json = False,
) -> int:
    from preservation.pipeline import Context, IngestError, run_pipeline, scan_ingest_folder
    from preservation.workspace import WorkspaceBusy

    ctx = Context(settings)
    print(f"watching {settings.ingest_dir} (every {interval} s; Ctrl-C stops)", file=sys.stderr)
    try:
        resume(settings, as_json=as_json)
        while True:
            for ws in scan_ingest_folder(ctx):
                try:
                    print_results([run_pipeline(ctx, ws)], as_json)
                except IngestError as exc:
                    print(f"kho watch: {exc} (will retry with `kho resume`)", file=sys.stderr)
                except WorkspaceBusy as exc:
                    print(f"kho watch: {exc}", file=sys.stderr)
                sys.stdout.flush()
            if once:
                return EXIT_OK
            time.sleep(interval)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        ctx.close()

"""``kho storage init|check|upgrade``, ``kho catalog rebuild``, ``kho serve``: the installation itself."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from preservation.cli.base import EXIT_OK, EXIT_REJECTED, Json, app, catalog, command, new_app, print_json
from preservation.config import Settings

storage_app = new_app("storage locations (KHO_STORAGE)")
app.add_typer(storage_app, name="storage", help="storage locations (KHO_STORAGE)")
catalog_app = new_app("the catalog itself")
app.add_typer(catalog_app, name="catalog", help="the catalog itself")


def _locations(settings: Settings, only: str | None) -> list[Any]:
    from storage_adapters.registry import open_location

    return [open_location(url) for url in settings.storage if only is None or url == only]


@command(storage_app, "init", help="create each location (buckets are never created silently)")
def storage_init(settings: Settings) -> int:
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


@command(storage_app, "check", help="is each location reachable and writable?")
def storage_check(settings: Settings, as_json: Json = False) -> int:
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
        if as_json:
            print_json(report)
        else:
            state = ("ok" if not report.get("problems") else "PROBLEMS") if usable else "NOT USABLE"
            extra = {k: v for k, v in report.items() if k not in ("location", "reachable", "writable")}
            print(f"{url}: {state} {json.dumps(extra, ensure_ascii=False) if extra else ''}".rstrip())
    return status


@command(storage_app, "upgrade",
         help="store AIPs of the layout before OCFL as OCFL 1.1 objects (v1), then delete the old keys")
def storage_upgrade(
    settings: Settings,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list the AIPs to upgrade")] = False,
    as_json: Json = False,
) -> int:
    """AIPs of the layout before OCFL become OCFL objects (preservation/storage_upgrade.py)."""
    from preservation.storage_upgrade import upgrade_storage

    opened = catalog(settings)
    try:
        result = upgrade_storage(opened, dry_run=dry_run)
    finally:
        opened.close()
    if as_json:
        print_json(result.to_dict())
    else:
        if dry_run:
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


@command(catalog_app, "rebuild", help="rebuild a lost catalog from the storage locations alone, into an empty "
                                      "catalog (move a damaged one aside first)")
def catalog_rebuild(settings: Settings, as_json: Json = False) -> int:
    """Exit 0: everything restored as the journal recorded it and the chain intact; 1: refused, or
    rebuilt with something that could not be restored exactly (each listed)."""
    from preservation.rebuild import RebuildRefused, rebuild

    try:
        report = rebuild(settings)
    except RebuildRefused as exc:
        print(f"kho catalog rebuild: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    if as_json:
        print_json(report.to_dict())
    else:
        print("\n".join(report.lines()))
    return EXIT_OK if report.exact else EXIT_REJECTED


@command(app, "serve", help="the HTTP API (bearer tokens from KHO_API_TOKENS), OAI-PMH at /oai and the reading "
                            "room at /reading-room")
def serve(
    settings: Settings,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> int:
    from preservation.api import serve as serve_api

    serve_api(settings, host=host, port=port)
    return EXIT_OK

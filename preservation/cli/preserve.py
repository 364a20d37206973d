"""``kho fixity``, ``kho migrate``: keeping what is stored readable, whole and in formats that last."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from preservation.cli.base import EXIT_OK, EXIT_REJECTED, Json, app, catalog, command, print_json
from preservation.config import Settings


@command(app, "fixity", help="re-read stored copies, compare digests, repair from a good copy")
def fixity(
    settings: Settings,
    aip: Annotated[str | None, typer.Option("--aip", help="audit only this AIP")] = None,
    location: Annotated[str | None, typer.Option("--location", help="audit only the copies at this location URL")]
    = None,
    max_aips: Annotated[int | None, typer.Option(
        "--max-aips", help="audit at most N AIPs (least recently checked first)")] = None,
    older_than_days: Annotated[float | None, typer.Option(
        "--older-than-days", help="only copies not audited for this many days")] = None,
    no_repair: Annotated[bool, typer.Option("--no-repair", help="report damage without repairing")] = False,
    as_json: Json = False,
) -> int:
    from datetime import timedelta

    from preservation.fixity import audit

    opened = catalog(settings)
    if aip and opened.get_aip(aip) is None:
        print(f"AIP {aip} not found / không tìm thấy", file=sys.stderr)
        return EXIT_REJECTED
    older = timedelta(days=older_than_days) if older_than_days is not None else None
    summary = audit(opened, aip_id=aip, location=location, max_aips=max_aips, older_than=older,
                    repair=not no_repair)
    opened.close()
    if as_json:
        print_json(summary.to_dict())
    else:
        print(summary.table())
    return EXIT_OK if summary.unrepaired == 0 else EXIT_REJECTED


@command(app, "migrate", help="migration campaign: new copies where the policy now asks for them")
def migrate(
    settings: Settings,
    puid: Annotated[str | None, typer.Option("--puid", help="only files of this PRONOM format")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be migrated, change nothing")] = False,
    as_json: Json = False,
) -> int:
    from preservation.migrate import run_campaign

    opened = catalog(settings)
    result = run_campaign(opened, puid=puid, dry_run=dry_run, digests=settings.digests,
                          organization=settings.organization)
    opened.close()
    data = result.to_dict()
    if as_json:
        print_json(data)
    else:
        verb = "would migrate" if dry_run else "migrated"
        print(f"{verb} {data['files']} files ({data['bytes']} bytes) in {data['aips']} AIPs"
              + (f"; {len(result.migrated)} AIPs done" if not dry_run else ""))
        for entry in data["plan"]:
            for item in entry["files"]:
                print(f"  {entry['aip_id']}  {item['path']}  → {item['purpose']}: {item['target']} ({item['tool']})")
        for aip_id, error in result.failed.items():
            print(f"FAILED {aip_id}: {error}", file=sys.stderr)
    return EXIT_OK if not result.failed else EXIT_REJECTED

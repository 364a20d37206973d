"""``kho aip list|show|history``, ``kho events export|verify``, ``kho dip``: what the catalog holds and
what is given out of it. ``aip list`` and ``aip show`` print the operator's views of ``preservation.aip_views``
(the API serves the requesters' views of the same module)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from preservation.cli.base import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    Json,
    app,
    catalog,
    command,
    new_app,
    print_json,
    value,
)
from preservation.config import Settings

aip_app = new_app("archival packages in the catalog")
app.add_typer(aip_app, name="aip", help="archival packages in the catalog")
events_app = new_app("PREMIS event trail")
app.add_typer(events_app, name="events", help="PREMIS event trail")

AipId = Annotated[str, typer.Argument(metavar="AIP_ID")]
Output = Annotated[str | None, typer.Option("-o", "--output")]


class EventFormat(StrEnum):
    premis = "premis"
    json = "json"
    csv = "csv"


class Role(StrEnum):
    reader = "reader"
    archivist = "archivist"
    administrator = "administrator"


@command(aip_app, "list")
def aip_list(
    settings: Settings,
    as_json: Json = False,
    needs_review: Annotated[bool, typer.Option(
        "--needs-review", help="only AIPs flagged for an archivist's review")] = False,
) -> int:
    from preservation.aip_views import aip_rows

    rows = aip_rows(catalog(settings), needs_review=needs_review)
    if as_json:
        for row in rows:
            print_json(row.model_dump(mode="json"))
    else:
        for row in rows:
            print(f"{row.aip_id}\t{row.status}\t{row.files} files\t{row.stored_at:%Y-%m-%d %H:%M}\t"
                  f"{row.title or row.sip_name}")
        if not rows:
            print("no AIPs yet / chưa có gói AIP nào")
    return EXIT_OK


@command(aip_app, "show")
def aip_show(settings: Settings, aip_id: AipId, as_json: Json = False) -> int:
    from preservation.aip_views import aip_record

    record = aip_record(catalog(settings), aip_id)
    if record is None:
        print(f"AIP {aip_id} not found / không tìm thấy", file=sys.stderr)
        return EXIT_REJECTED
    if as_json:
        print_json(record.model_dump(mode="json"))
        return EXIT_OK
    print(f"AIP {record.aip_id}  {record.title or ''}\n"
          f"  SIP {record.sip_name}, stored {record.stored_at:%Y-%m-%d %H:%M:%S}")
    print("Locations:")
    for c in record.locations:
        print(f"  {c.location}  {c.status} {c.verified_at:%Y-%m-%d %H:%M:%S}")
    print("Files:")
    for f in record.files:
        print(f"  {f.path}\t{f.puid or '-'}\t{f.mime or '-'}\t{f.size}\t{f.sha256}")
    print("Events:")
    for e in record.events:
        print(f"  {e.datetime:%Y-%m-%d %H:%M:%S}  {e.type:<28} {e.outcome:<13} {e.outcome_detail[:80]}")
    return EXIT_OK


@command(aip_app, "history", help="the timeline of an AIP")
def aip_history(settings: Settings, aip_id: AipId) -> int:
    opened = catalog(settings)
    aip = opened.get_aip(aip_id)
    events = opened.events(aip_id)
    if aip is None and not events:
        print(f"AIP {aip_id} not found / không tìm thấy", file=sys.stderr)
        return EXIT_REJECTED
    if aip is not None:
        print(f"{aip.id}  {aip.title or aip.sip_name}")
    print(f"{'when (UTC)':<19}  {'event':<28}  {'outcome':<13}  detail")
    for event in events:
        detail = event.outcome_detail if event.event_type in ("format identification", "message digest calculation") \
            else event.detail
        print(f"{event.event_datetime:%Y-%m-%d %H:%M:%S}  {event.event_type:<28}  {event.outcome:<13}  {detail[:100]}")
    return EXIT_OK


@command(events_app, "export", help="export PREMIS events: of an AIP, a date range, an agent, or all")
def events_export(
    settings: Settings,
    aip_id: Annotated[str | None, typer.Argument(metavar="AIP_ID", help="only this AIP (default: every event)")] = None,
    since: Annotated[str | None, typer.Option("--since", help="from this date/time (ISO 8601, UTC)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="before this date/time (ISO 8601, UTC)")] = None,
    agent: Annotated[str | None, typer.Option(
        "--agent", help="only events linked to this agent identifier value (e.g. a requester)")] = None,
    output_format: Annotated[EventFormat, typer.Option("--format")] = EventFormat.premis,
    output: Output = None,
) -> int:
    from datetime import datetime

    from preservation.export import export_events

    opened = catalog(settings)
    try:
        start = datetime.fromisoformat(since) if since else None
        end = datetime.fromisoformat(until) if until else None
    except ValueError as exc:
        print(f"--since/--until must be ISO dates (YYYY-MM-DD[THH:MM]): {exc}", file=sys.stderr)
        return EXIT_USAGE
    if aip_id and not opened.has_events(aip_id):
        print(f"no events for {aip_id} / không có sự kiện", file=sys.stderr)
        return EXIT_REJECTED
    events = opened.iter_events(aip_id=aip_id, since=start, until=end, agent=agent)
    aip_ids = None if aip_id else opened.event_aip_ids(since=start, until=end, agent=agent)
    out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
    try:
        export_events(opened, aip_id, events, output_format.value, out, aip_ids=aip_ids)
    finally:
        if output:
            out.close()
    return EXIT_OK


@command(events_app, "verify", help="walk the event hash chain and compare it, and the AIP rows, with the signed "
         "checkpoints in storage; name what was edited, deleted, inserted, truncated or changed")
def events_verify(settings: Settings, as_json: Json = False) -> int:
    """The chain alone cannot tell a rewritten trail from the real one (whoever edits the database can
    recompute it): the checkpoints in storage are the anchor (``preservation.checkpoints``)."""
    from preservation.checkpoints import verify

    opened = catalog(settings)
    problem = opened.verify_chain()
    trail = verify(settings, opened)
    if as_json:
        print_json({"chain": problem, "events": opened.event_count(), **trail.to_dict(),
                    "ok": problem is None and trail.ok})
        return EXIT_OK if problem is None and trail.ok else EXIT_REJECTED
    if problem is not None:
        print(f"event chain broken / chuỗi sự kiện bị phá vỡ: {problem}", file=sys.stderr)
    if not trail.ok:
        print("the event trail does not match its checkpoints in storage / nhật ký sự kiện không khớp với các điểm "
              "neo trong kho lưu trữ:", file=sys.stderr)
        for line in trail.problems:
            print(f"  - {line}", file=sys.stderr)
    if problem is not None or not trail.ok:
        return EXIT_REJECTED
    print(f"event chain intact / chuỗi sự kiện nguyên vẹn ({opened.event_count()} events)")
    newest = trail.newest
    if newest is not None:
        signed = ", not signed" if not newest.signer else f", signed by {newest.signer}" + (
            "" if newest.trusted else " (certificate not checked: set KHO_SIGNING_KEY or KHO_TRUST_ANCHORS)")
        print(f"anchored / đã neo: {len(trail.checkpoints)} checkpoints in storage agree, the newest #{newest.seq} of "
              f"{newest.when} UTC{signed}")
    for note in trail.notes:
        print(f"note / ghi chú: {note}")
    return EXIT_OK


@command(app, "dip", help="build a dissemination package (DIP) within the requester's rights")
def dip(
    settings: Settings,
    aip_id: AipId,
    requester: Annotated[str, typer.Option("--requester")],
    files: Annotated[list[str] | None, typer.Option(
        "--files", help="only these files (AIP or SIP paths): --files A B ... or --files A --files B")] = None,
    role: Annotated[Role, typer.Option("--role")] = Role.reader,
    purpose: Annotated[str, typer.Option("--purpose", help="TT 05 purpose code or text (01 research ...)")] = "01",
    request_id: Annotated[str | None, typer.Option(
        "--request-id", help="TT 05 requestID (default: the DIP's UUID)")] = None,
    research_topic: Annotated[str | None, typer.Option(
        "--research-topic", help="TT 05 researchTopic (đề tài nghiên cứu)")] = None,
    output: Annotated[str | None, typer.Option(
        "-o", "--output", help="folder for the DIP (default $KHO_HOME/dips)")] = None,
    as_json: Json = False,
) -> int:
    from preservation.dip import DipError, build_dip

    try:
        result = build_dip(catalog(settings), aip_id, requester=requester, role=value(role), purpose=purpose,
                           out_dir=Path(output) if output else settings.home / "dips",
                           files=files or None, request_id=request_id, research_topic=research_topic)
    except DipError as exc:
        print(f"kho dip: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    if as_json:
        print_json(result.to_dict())
    else:
        print(result.zip_path)
        if result.withheld_count:
            print(f"{result.withheld_count} files withheld / không cung cấp {result.withheld_count} tệp "
                  "(see withheld.csv)", file=sys.stderr)
    return EXIT_OK

"""``GET /events``: the PREMIS event trail for staff, streamed as PREMIS XML, JSON lines or CSV."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, TextIO

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from preservation.aip_views import today, visible
from preservation.api.auth import Staff
from preservation.api.deps import CatalogDep
from preservation.api.errors import INSTANT_HELP, ApiError, responses
from preservation.api.streaming import stream_text
from preservation.catalog import as_utc
from preservation.export import export_events

EXPORT_MEDIA = {"premis": ("application/xml", "xml"), "json": ("application/x-ndjson", "jsonl"),
                "csv": ("text/csv; charset=utf-8", "csv")}

router = APIRouter(tags=["events"])


def _instant(value: datetime | date | None) -> datetime | None:
    """A query bound in UTC; a bare date means its midnight (UTC), as ``kho events export`` reads it."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    try:
        return as_utc(moment)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past the last representable instant
        raise ApiError(422, f"since/until {INSTANT_HELP}, between years 1 and 9999.",
                       "since/until phải là ngày hoặc thời điểm ISO 8601 (ví dụ 2024-01-31 hoặc "
                       "2024-01-31T08:00:00+07:00), trong khoảng năm 1 đến 9999.") from None


@router.get("/events", response_class=StreamingResponse,
            responses={200: {"content": {"application/xml": {"schema": {"type": "string"}},
                                         "application/x-ndjson": {"schema": {"type": "string"}},
                                         "text/csv": {"schema": {"type": "string"}}},
                             "description": "PREMIS 3 XML, JSON lines or CSV, streamed"},
                       **responses(401, 403, 404, 422)})
def events(
    who: Staff,
    catalog: CatalogDep,
    aip_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | date | None, Query(description="From this ISO 8601 date/time (UTC if no offset)")
                     ] = None,
    until: Annotated[datetime | date | None, Query(description="Before this ISO 8601 date/time")] = None,
    agent: Annotated[str | None, Query(max_length=500, description="Agent identifier, e.g. a requester")] = None,
    fmt: Annotated[Literal["premis", "json", "csv"], Query(alias="format")] = "premis",
) -> StreamingResponse:
    """The PREMIS trail, streamed; archivists do not receive events of confidential AIPs."""
    start, end = _instant(since), _instant(until)
    on = today()
    hidden = {a.id for a in catalog.list_aips() if not visible(who.role, a, on)}
    if aip_id is not None and (aip_id in hidden or not catalog.has_events(aip_id)):
        raise ApiError(404, f"No events for AIP {aip_id} that your role may see. Check the id with GET /aips.",
                       f"Không có sự kiện nào của gói AIP {aip_id} mà vai trò của bạn được xem. "
                       "Kiểm tra mã bằng GET /aips.")
    aip_ids = None if aip_id else [
        i for i in catalog.event_aip_ids(since=start, until=end, agent=agent) if i not in hidden]

    def produce(out: TextIO) -> None:
        rows = catalog.iter_events(aip_id=aip_id, since=start, until=end, agent=agent)
        if hidden:
            rows = (e for e in rows if e.aip_id not in hidden)
        export_events(catalog, aip_id, rows, fmt, out, aip_ids=aip_ids)

    media, suffix = EXPORT_MEDIA[fmt]
    return StreamingResponse(stream_text(produce), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="kho-events.{suffix}"'})

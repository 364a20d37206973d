"""Export of an AIP's PREMIS trail from the catalog: PREMIS 3 XML, JSON lines or CSV.

CSV cells are made safe for spreadsheets (``spreadsheet_safe``): event details carry text people typed
(requester names, purposes), and a cell such as ``=HYPERLINK(...)`` would otherwise run as a formula
when an auditor opens the export in Excel or LibreOffice.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from lxml import etree

from packages import premis
from preservation.catalog import Catalog, Event, as_utc

# A cell starting with one of these is read as a formula (or, for TAB/CR/LF, as one after trimming) by
# spreadsheet programs (OWASP "CSV injection"); the full-width forms are converted to ASCII by some of them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula: text starting with = + - @ TAB CR LF gets a leading
    single quote (OWASP), which spreadsheets show as text and do not display. Other values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: dict[str, Any]) -> dict[str, Any]:
    return {key: spreadsheet_safe(value) for key, value in row.items()}


CSV_COLUMNS = [
    "seq",
    "id",
    "aip_id",
    "event_type",
    "event_datetime",
    "outcome",
    "detail",
    "outcome_detail",
    "object_ids",
    "agents",
    "prev_hash",
    "hash",
]


def _as_dict(event: Event) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "id": event.id,
        "aip_id": event.aip_id,
        "event_type": event.event_type,
        "event_datetime": as_utc(event.event_datetime).isoformat(),
        "outcome": event.outcome,
        "detail": event.detail,
        "outcome_detail": event.outcome_detail,
        "object_ids": event.object_ids,
        "agents": event.agents,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def export_events(
    catalog: Catalog,
    aip_id: str | None,
    events: Iterable[Event],
    fmt: str,
    out: TextIO,
    aip_ids: list[str] | None = None,
) -> None:
    """Write ``events`` (an iterator: nothing is held in memory) as PREMIS XML, JSON lines or CSV."""
    if fmt == "json":
        for event in events:
            out.write(json.dumps(_as_dict(event), ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for event in events:
            row = _as_dict(event)
            row["object_ids"] = " ".join(row["object_ids"])
            row["agents"] = json.dumps(row["agents"], ensure_ascii=False)
            writer.writerow(safe_row(row))
    elif fmt == "premis":
        used: set[tuple[str, str]] = set()

        def streamed() -> Iterator[dict[str, Any]]:
            for event in events:
                used.update((a["type"], a["value"]) for a in event.agents)
                yield _as_dict(event)

        def used_agents() -> Iterator[dict[str, str]]:
            for a in catalog.agents():
                if (a.identifier_type, a.identifier_value) in used:
                    yield {
                        "type": a.identifier_type,
                        "value": a.identifier_value,
                        "name": a.name,
                        "agent_type": a.agent_type,
                    }

        ids = [aip_id] if aip_id else (aip_ids or [])
        entities = []
        for current in ids or ["00000000-0000-0000-0000-000000000000"]:
            aip = catalog.get_aip(current)
            entities.append(premis.entity_element(current, aip.sip_name if aip else current))
        with etree.xmlfile(_PremisBuffer(out), encoding="UTF-8") as xf:
            xf.write_declaration()
            premis.write_premis(xf, entity=entities, files=[], agents=used_agents(), events=streamed())
        out.write("\n")
    else:
        raise ValueError(f"unknown export format {fmt!r}")


class _PremisBuffer:
    """lxml's xmlfile writes bytes; the CLI hands a text stream."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, data: bytes) -> None:
        self.out.write(data.decode("utf-8"))

"""Export of an AIP's PREMIS trail from the catalog: PREMIS 3 XML, JSON lines or CSV."""

from __future__ import annotations

import csv
import json
from typing import Any, TextIO

from lxml import etree

from preservation import premis
from preservation.catalog import Catalog, Event, as_utc

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


def export_events(catalog: Catalog, aip_id: str, events: list[Event], fmt: str, out: TextIO) -> None:
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
            writer.writerow(row)
    elif fmt == "premis":
        used = {(a["type"], a["value"]) for e in events for a in e.agents}
        agent_rows = [
            {"type": a.identifier_type, "value": a.identifier_value, "name": a.name, "agent_type": a.agent_type}
            for a in catalog.agents()
            if (a.identifier_type, a.identifier_value) in used
        ]
        aip = catalog.get_aip(aip_id)
        entity = premis.entity_element(aip_id, aip.sip_name if aip else aip_id)
        buffer = _PremisBuffer(out)
        with etree.xmlfile(buffer, encoding="UTF-8") as xf:
            xf.write_declaration()
            premis.write_premis(xf, entity=entity, files=[], agents=agent_rows, events=(_as_dict(e) for e in events))
        out.write("\n")
    else:
        raise ValueError(f"unknown export format {fmt!r}")


class _PremisBuffer:
    """lxml's xmlfile writes bytes; the CLI hands a text stream."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, data: bytes) -> None:
        self.out.write(data.decode("utf-8"))

"""Step 11, index: one catalog transaction (AIP, files, agents, events, copies); the workspace goes after it."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert

from preservation import agents, premis
from preservation.catalog import Aip, File, StorageCopy, content_file_row
from preservation.faults import checkpoint
from preservation.pipeline.content import file_objects
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import format_validation, normalisation, read_package, read_stored, sip_validation
from preservation.pipeline.recording import agents_of, log
from preservation.workspace import (
    Workspace,
)

# A descriptive value the catalog keeps (and `kho aip list`, search and the API show); the whole value is
# in the AIP (METS, dc.xml, metadata/other). A 9.4 MB E-ARK LABEL became the catalog title before.
MAX_CATALOG_VALUE = 4000


MAX_TITLE = 1000


def _catalog_title(title: str | None) -> str | None:
    return premis.bounded_text(title, MAX_TITLE, "the AIP's metadata") if title else title


def step_index(ctx: Context, ws: Workspace) -> None:
    """One transaction: AIP, files, agents, events, copies. The workspace goes only after it."""
    state = ws.state()
    aip_id = state["aip_id"]
    catalog = ctx.catalog
    if catalog.get_aip(aip_id) is None:
        validation = sip_validation(ws)
        package = read_package(ws)
        stored = read_stored(ws)
        formats = format_validation(ws)
        copies = stored.copies
        content_paths = stored.content_paths
        end = premis.new_event(
            "ingestion end",
            "success",
            aip_id=aip_id,
            object_ids=[aip_id],
            agents=[agents.link(agents.kho(), "executing program")],
            detail="AIP stored and catalogued",
            outcome_detail=f"{len(copies)} verified copies",
        )
        objects = file_objects(ws)
        originals = [o for o in objects if o["role"] == "original"]
        review = formats.review + normalisation(ws).review
        validated = formats.validated
        dossier_access = validation.dossier_access or {}
        file_access = validation.file_access or {}
        by_id = {o["id"]: o for o in objects}
        now = datetime.now(UTC)
        with catalog.session() as session:
            session.add(
                Aip(
                    id=aip_id,
                    sip_name=state["sip_name"],
                    title=_catalog_title(validation.bag_info.get("title")),
                    status="stored",
                    payload_hash=validation.payload_hash,
                    previous_version=validation.previous_version,
                    file_count=len(originals),
                    total_bytes=sum(o["size"] for o in originals),
                    needs_review=bool(review),
                    access_mode=dossier_access.get("mode") or "restricted",
                    embargo_until=_date_or_none(dossier_access.get("embargo_until")),
                    access_basis=dossier_access.get("basis") or None,
                    review_reasons=review,
                    mets_sha256=package.mets_sha256,
                    bag_info={k[:200]: premis.bounded_text(str(v), MAX_CATALOG_VALUE, "the AIP's metadata")
                              for k, v in validation.bag_info.items()},
                    created_at=datetime.fromisoformat(state["created_at"]),
                    stored_at=now,
                    ocfl_head=stored.ocfl_head,
                    inventory_digests=stored.inventory,
                )
            )
            session.flush()
            payload_keys = set()
            rows = []
            for obj in objects:
                key = obj["aip_path"]
                payload_keys.add(key)
                validated_file = validated.get(obj["original_name"]) or {}
                rows.append(
                    content_file_row(
                        aip_id,
                        obj,
                        validation_status=validated_file.get("status"),
                        validator=validated_file.get("validator"),
                        content_path=content_paths[key],
                        **_file_access(file_access, obj, by_id),
                    )
                )
            for item in package.files:
                if item.key not in payload_keys:
                    rows.append(
                        {
                            "id": str(uuid.uuid5(uuid.UUID(aip_id), item.key)),
                            "aip_id": aip_id,
                            "path": item.key,
                            "original_path": item.key,
                            "role": "metadata",
                            "size": item.size,
                            "sha256": item.sha256,
                            "sha512": item.sha512,
                            "content_path": content_paths[item.key],
                            "mime": "text/xml" if item.key.endswith(".xml") else "text/plain",
                        }
                    )
            session.execute(insert(File), rows)  # one executemany instead of an ORM object per file
            for copy in copies:
                session.add(
                    StorageCopy(
                        aip_id=aip_id,
                        location=copy.location,
                        status="verified",
                        verified_at=datetime.fromisoformat(copy.verified_at),
                        ocfl_head=stored.ocfl_head,
                    )
                )
            catalog.ensure_agents(session, agents_of(ws).values())
            all_events = [*ws.committed_events(), end]
            catalog.append_events(session, all_events)
        log.info(
            "AIP %s index: catalogued SIP %r: %d original files, %d bytes, %d files in all, %d events, "
            "%d copies at %s%s",
            aip_id, state["sip_name"], len(originals), sum(o["size"] for o in originals), len(rows),
            len(all_events), len(copies), ", ".join(c.location for c in copies),
            "; flagged for review" if review else "",
        )
    checkpoint("index:committed")
    shutil.rmtree(ws.path)


def _date_or_none(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _file_access(
    rules: dict[str, dict[str, Any]], obj: dict[str, Any], by_id: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """A file's own access rule; a derivative inherits its source's."""
    source = by_id.get(obj["source_id"], obj) if obj["source_id"] else obj
    rule = rules.get(source["original_name"])
    if not rule:
        return {}
    return {
        "access_mode": rule["mode"],
        "embargo_until": _date_or_none(rule.get("embargo_until")),
        "access_basis": rule.get("basis") or None,
    }

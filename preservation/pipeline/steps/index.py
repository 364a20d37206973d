"""Step 11, index: one catalog transaction (AIP, files, agents, events, copies); the workspace goes after it."""

from __future__ import annotations

import itertools
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert

from format_registry.text import MAX_AIP_CHARS
from packages import agents, premis
from packages.aip_reader import TEXT_INDEX, read_text_index
from preservation.catalog import Aip, File, StorageCopy, content_file_row
from preservation.faults import checkpoint
from preservation.pipeline.content import iter_file_objects
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import (
    format_validation,
    normalisation,
    read_package,
    read_stored,
    signature_validation,
    sip_files,
    sip_validation,
    verdicts,
)
from preservation.pipeline.recording import agents_of, log
from preservation.search.index import joined_text, put_text, text_joins_dossier
from preservation.workspace import (
    Workspace,
)

# A descriptive value the catalog keeps (and `kho aip list`, search and the API show); the whole value is
# in the AIP (METS, dc.xml, metadata/other). A 9.4 MB E-ARK LABEL became the catalog title before.
MAX_CATALOG_VALUE = 4000


MAX_TITLE = 1000
ROW_BATCH = 2000  # catalog file rows per executemany


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
        originals = list(sip_files(ws))  # small records; the content rows below are streamed in batches
        original_count, original_bytes = len(originals), sum(f.size for f in originals)
        names = {f.id: f.path for f in originals}  # a derivative inherits its source's access rule
        del originals
        review = signature_validation(ws).review + formats.review + normalisation(ws).review
        dossier_access = validation.dossier_access or {}
        file_access = validation.file_access or {}
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
                    file_count=original_count,
                    total_bytes=original_bytes,
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
            record_text = _record_text(ws, dossier_access, file_access)
            if record_text:  # searched with the AIP's metadata, committed with it (decision 0029)
                aip_row = session.get(Aip, aip_id)
                put_text(session.connection(), aip_row, record_text)
            payload_keys: set[str] = set()
            rows: list[dict[str, Any]] = []
            inserted = 0

            def flush_rows(at_least: int) -> None:
                nonlocal rows, inserted
                if rows and len(rows) >= at_least:
                    session.execute(insert(File), rows)  # one executemany a batch, never an ORM object per file
                    inserted += len(rows)
                    rows = []

            verdict_stream = verdicts(ws)  # in the originals' order, read alongside them
            for obj in iter_file_objects(ws):
                key = obj["aip_path"]
                payload_keys.add(key)
                validated_file: dict[str, Any] = {}
                if obj["role"] == "original":
                    path, validated_file = next(verdict_stream)
                    if path != obj["original_name"]:
                        raise ValueError(f"validation of {path!r} where {obj['original_name']!r} was expected")
                rows.append(
                    content_file_row(
                        aip_id,
                        obj,
                        validation_status=validated_file.get("status"),
                        validator=validated_file.get("validator"),
                        content_path=content_paths[key],
                        **_file_access(file_access, obj, names),
                    )
                )
                flush_rows(ROW_BATCH)
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
                    flush_rows(ROW_BATCH)
            flush_rows(1)
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
            counted = Counter[str]()

            def all_events() -> Iterator[dict[str, Any]]:  # streamed: half a million for 100,000 files
                for event in itertools.chain(ws.iter_events(ws.state().get("done", [])), [end]):
                    counted["events"] += 1
                    yield event

            catalog.append_events(session, all_events())
        log.info(
            "AIP %s index: catalogued SIP %r: %d original files, %d bytes, %d files in all, %d events, "
            "%d copies at %s%s",
            aip_id, state["sip_name"], original_count, original_bytes, inserted,
            counted["events"], len(copies), ", ".join(c.location for c in copies),
            "; flagged for review" if review else "",
        )
    checkpoint("index:committed")
    shutil.rmtree(ws.path)


def _date_or_none(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _file_access(rules: dict[str, dict[str, Any]], obj: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A file's own access rule; a derivative inherits its source's (``names``: original id -> SIP path)."""
    source_name = names.get(obj["source_id"], obj["original_name"]) if obj["source_id"] else obj["original_name"]
    rule = rules.get(source_name)
    if not rule:
        return {}
    return {
        "access_mode": rule["mode"],
        "embargo_until": _date_or_none(rule.get("embargo_until")),
        "access_basis": rule.get("basis") or None,
    }


def _record_text(ws: Workspace, dossier: dict[str, Any], rules: dict[str, dict[str, Any]]) -> str:
    """The text the extract_text step kept, of the originals whose readers are the dossier's (a file with a
    stricter rule of its own keeps its text in the AIP but out of the index)."""
    index = ws.aip_dir / TEXT_INDEX
    if not index.is_file():
        return ""
    mode, until = dossier.get("mode") or "restricted", dossier.get("embargo_until")
    parts = []
    for entry in read_text_index(index.read_bytes()):
        rule = rules.get(entry.path) or {}
        if entry.text and text_joins_dossier(mode, until, rule.get("mode"), rule.get("embargo_until")):
            parts.append((ws.aip_dir / entry.text).read_text(encoding="utf-8"))
    return joined_text(parts, MAX_AIP_CHARS)

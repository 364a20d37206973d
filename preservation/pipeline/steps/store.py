"""Step 10, store: the AIP as version 1 of an OCFL object at every location, each read back."""

from __future__ import annotations

from packages import agents, ocfl, premis
from packages.checksums import hash_file
from packages.sip import Problem, SipReport
from preservation import evidence, ocfl_store
from preservation.faults import checkpoint
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import PackagedFile, Stored, StoredCopy, as_output, read_package, sip_validation
from preservation.pipeline.recording import EventRecorder, log, register_agents
from preservation.pipeline.reject import reject
from preservation.pipeline.results import IngestError
from preservation.retention import lock_until
from preservation.workspace import (
    Workspace,
    write_bytes_atomic,
)
from storage_adapters.base import StorageError, StorageLocation
from storage_adapters.registry import open_location


def _first_version(ws: Workspace, manifest: list[PackagedFile]) -> ocfl.Inventory:
    """The OCFL inventory of the AIP's ``v1``, made once and kept in the workspace: a resumed store
    writes the very same bytes (a location that already committed it is recognised, not rewritten)."""
    saved = ws.work_dir / "ocfl-inventory.json"
    if saved.exists():
        return ocfl.Inventory.from_json(saved.read_bytes())
    state = ws.state()
    inventory, _ = ocfl.new_object(ws.aip_id).next_version(
        [ocfl.NewFile(item.key, item.sha512, item.sha256) for item in manifest],
        created=premis.now_iso(),
        message=f"Ingest of SIP {state['sip_name']} / tiếp nhận gói SIP",
        user={"name": f"Kho {agents.KHO_VERSION}", "address": "urn:kho:ingest"},
    )
    write_bytes_atomic(saved, inventory.to_json())
    return inventory


def step_store(ctx: Context, ws: Workspace) -> None:
    """Store the AIP at every location as the first version (``v1``) of an OCFL object, each object
    read back before it counts; the object's root inventory, written last, commits it."""
    aip_id = ws.aip_id
    manifest = read_package(ws).files
    retain_until = lock_until(sip_validation(ws).bag_info)  # the record's own retention period
    inventory = _first_version(ws, manifest)
    placed = {path: inventory.content_of(digest) for path, digest in inventory.state().items()}
    by_content = {placed[item.key]: item for item in manifest}  # one object per distinct content
    content = [(ocfl_store.content_key(aip_id, path), ws.aip_dir / item.key, item.sha256)
               for path, item in sorted(by_content.items())]
    events = EventRecorder(ws, "store", aip_id)
    stored: list[StoredCopy] = []
    for url in ctx.settings.storage:
        location: StorageLocation | None = None
        try:
            location = open_location(url)  # one location at a time: events per copy
            ocfl_store.stage_version(
                location, aip_id, inventory, content, ws.work_dir / "ocfl", retain_until,
                on_stored=lambda number: checkpoint(f"store:after-put:{number}"),
            )  # a batch: one flush to disk, parallel read-back, where the location can
            checkpoint("store:before-commit")
            ocfl_store.publish_version(location, aip_id, inventory, ws.work_dir / "ocfl", retain_until,
                                       ctx.settings)
        except StorageError as exc:
            if location is not None:
                ocfl_store.discard_staged(location, aip_id, inventory.head)  # e.g. a full disk gets its space back
            events.discard()
            ws.record_failure(
                premis.new_event(
                    "replication", "failure", aip_id=aip_id, object_ids=[aip_id],
                    agents=[agents.link(agents.kho(), "executing program")],
                    detail=f"store AIP at {url}", outcome_detail=str(exc),
                )
            )
            changed = _changed_since_validation(ws, manifest) if "SHA-256" in str(exc) else []
            if changed:
                # the bytes Kho validated are no longer what it holds (a hard-linked original edited in
                # place, a file still being written when it was claimed): no retry can succeed
                report = SipReport(path=str(ws.sip_dir), profile=ws.state().get("profile", "bagit"))
                for key in changed[:100]:
                    report.problems.append(Problem(
                        "checksum-mismatch", path=key,
                        detail="changed after validation: was it still being written, or edited in place? / "
                               "tệp bị thay đổi sau khi kiểm tra",
                    ))
                reject(ctx, ws, report, [], step="store")
            raise IngestError(f"storing at {url} failed: {exc}") from exc
        verified_at = premis.now_iso()
        total = sum(m.size for m in manifest)
        events.success(
            "replication",
            detail=f"AIP stored at {url} as OCFL object {ocfl.object_root(aip_id)} version {inventory.head}",
            outcome_detail=f"{len(manifest)} files ({len(content)} distinct objects), {total} bytes",
        )
        events.success(
            "fixity check",
            detail=f"stored copy at {url} read back, SHA-256 of every object compared",
            outcome_detail=f"{len(manifest)} objects match",
        )
        stored.append(StoredCopy(location=url, verified_at=verified_at))
    for event in evidence.take_events(aip_id):  # the version's RFC 3161 timestamp (decision 0024), if any
        events.add(event)
    if ctx.settings.tsa_url:
        register_agents(ws, evidence.tsa_agent(ctx.settings.tsa_url))
    output = Stored(copies=stored, ocfl_head=inventory.head, content_paths=placed, inventory=inventory.digests())
    ws.complete_step("store", events, as_output(output))
    log.info(
        "AIP %s store: %d objects, %d bytes stored and read back at %d location(s): %s",
        aip_id, len(manifest), sum(m.size for m in manifest), len(stored), ", ".join(c.location for c in stored),
    )


def _changed_since_validation(ws: Workspace, manifest: list[PackagedFile]) -> list[str]:
    """AIP files whose bytes no longer have the SHA-256 recorded when they were validated and described."""
    return [item.key for item in manifest if hash_file(ws.aip_dir / item.key, ["sha256"])["sha256"] != item.sha256]

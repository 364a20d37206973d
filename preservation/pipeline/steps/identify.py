"""Step 4, identify: PRONOM PUID and MIME type of every original."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from format_registry.identification import FormatIdentification
from format_registry.identify import engine_info, identify_many, release_isolated
from packages import agents
from preservation.faults import checkpoint
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import OUTPUT_VERSION, in_batches, save_identifications, sip_files
from preservation.pipeline.recording import EventRecorder, counts, log, register_agents
from preservation.workspace import Workspace

BATCH_FILES = 5000  # files identified per call: all cores busy, the answers of one batch in memory


def step_identify(ctx: Context, ws: Workspace) -> None:
    aip_id = ws.aip_id
    options = ctx.settings.identify_options()
    info = engine_info(**options)  # loads the engine: an unreadable signature file fails here, before any file
    tool = agents.tool(info.name, f"{info.version} ({info.signatures})")
    register_agents(ws, tool)
    links = [agents.link(tool, "executing program")]
    events = EventRecorder(ws, "identify", aip_id)
    puids: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    total = 0

    def recorded() -> Iterator[tuple[str, FormatIdentification]]:
        nonlocal total
        # a batch at a time: the SIP's file list and the answers are never all in memory
        for files in in_batches(sip_files(ws), BATCH_FILES):
            identified = identify_many([ws.sip_dir / item.path for item in files], **options)  # all cores
            for item, found in zip(files, identified, strict=True):
                total += 1
                checkpoint(f"identify:file:{total}")
                label = f"{found.puid} {found.format_name}" if found.puid else f"no PUID; MIME {found.mime}"
                events.record(
                    "format identification", "success" if found.puid else "warning", objects=[item.id],
                    agents=links, detail=f"program={found.tool}",
                    outcome_detail=f"{label} (method: {found.method})"
                    + (f"; {found.warning}" if found.warning else ""),
                )
                puids[found.puid or f"no PUID ({found.mime})"] += 1
                methods[found.method] += 1
                yield item.path, found

    try:
        save_identifications(ws, recorded())
    finally:
        release_isolated()  # the engine's worker (and its memory) goes until a conversion's output needs it
    ws.complete_step("identify", events, {"version": OUTPUT_VERSION, "files": total})
    log.info("AIP %s identify: %d files; formats: %s; methods: %s", aip_id, total, counts(puids), counts(methods))

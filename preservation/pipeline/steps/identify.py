"""Step 4, identify: PRONOM PUID and MIME type of every original."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from format_registry.identification import FormatIdentification
from format_registry.identify import engine_info, identify_many
from packages import agents
from preservation.faults import checkpoint
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import OUTPUT_VERSION, save_identifications, sip_files
from preservation.pipeline.recording import EventRecorder, counts, log, register_agents
from preservation.workspace import Workspace


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
    files = list(sip_files(ws))
    identified = identify_many([ws.sip_dir / item.path for item in files], **options)  # all cores for large SIPs

    def recorded() -> Iterator[tuple[str, FormatIdentification]]:
        for number, (item, found) in enumerate(zip(files, identified, strict=True), start=1):
            checkpoint(f"identify:file:{number}")
            label = f"{found.puid} {found.format_name}" if found.puid else f"no PUID; MIME {found.mime}"
            events.record(
                "format identification", "success" if found.puid else "warning", objects=[item.id], agents=links,
                detail=f"program={found.tool}",
                outcome_detail=f"{label} (method: {found.method})" + (f"; {found.warning}" if found.warning else ""),
            )
            puids[found.puid or f"no PUID ({found.mime})"] += 1
            methods[found.method] += 1
            yield item.path, found

    save_identifications(ws, recorded())
    ws.complete_step("identify", events, {"version": OUTPUT_VERSION, "files": len(files)})
    log.info(
        "AIP %s identify: %d files; formats: %s; methods: %s", aip_id, len(files), counts(puids), counts(methods)
    )

"""Step 8, describe: Dublin Core, TT 05 EAD, PREMIS and METS of the AIP."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from packages import aip as aip_layout
from packages import premis
from packages.aip_builder import PackageMetadata, write_package_metadata
from packages.checksums import hash_file
from packages.mets import MetsFile
from preservation.pipeline.content import iter_file_objects, mtime_iso
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import (
    SipValidation,
    normalisation,
    signature_validation,
    sip_files,
    sip_validation,
    text_extraction,
    verdicts,
)
from preservation.pipeline.recording import agents_of, log
from preservation.workspace import (
    Workspace,
)


def _metadata_file(ws: Workspace, relpath: str, mime: str) -> MetsFile:
    full = ws.aip_dir / relpath
    return MetsFile(
        file_id="file-md-" + uuid.uuid5(uuid.NAMESPACE_URL, relpath).hex,
        href=relpath,
        size=full.stat().st_size,
        sha256=hash_file(full, ["sha256"])["sha256"],
        mime=mime,
        created=mtime_iso(full),
    )


# the signature step's evidence files (metadata/preservation/signatures/), by suffix
EVIDENCE_MIME = {"json": "application/json", "xml": "text/xml", "cer": "application/pkix-cert",
                 "crl": "application/pkix-crl", "ocsp": "application/ocsp-response"}
PREMIS_ELEMENTS_IN_MEMORY = 60_000  # files + events; beyond this PREMIS elements are built per document
EVENTS_PER_FILE = 6  # an original has 4 events (identification, validation, digest, normalisation) and more


def step_describe(ctx: Context, ws: Workspace) -> None:
    """Write Dublin Core, PREMIS and METS for the AIP, and keep the SIP's bag tag files."""
    state = ws.state()
    aip_id = state["aip_id"]
    validation = sip_validation(ws)
    root = ws.aip_dir
    aip_layout.write_dublin_core(root / aip_layout.DC_PATH, aip_id, validation.bag_info)
    other_dir = root / aip_layout.OTHER_DIR
    other_dir.mkdir(parents=True, exist_ok=True)
    payload = {item.path for item in sip_files(ws)}
    other_names = sorted(
        p.relative_to(ws.sip_dir).as_posix()
        for p in ws.sip_dir.rglob("*")
        if p.is_file() and p.relative_to(ws.sip_dir).as_posix() not in payload
    )
    for name in other_names:  # the SIP's own metadata (bag tag files, E-ARK METS, ...) is kept as submitted
        (other_dir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ws.sip_dir / name, other_dir / name)
    descriptive_extra = _write_tt05(ctx, ws, validation, payload)
    done = list(state.get("done", []))
    file_count = validation.file_count + len(normalisation(ws).derivatives)
    agent_list = list(agents_of(ws).values())
    # PREMIS goes into premis.xml and into METS. A small AIP's elements are built once and written twice;
    # a large AIP's files and events are read from the workspace streams once per document instead, so
    # memory does not grow with the number of files (an element is a few hundred bytes, an event several).
    premis_files: Callable[[], Iterable[Any]] | None = None
    premis_events: Callable[[], Iterable[Any]] | None = None
    if 0 < file_count * EVENTS_PER_FILE <= PREMIS_ELEMENTS_IN_MEMORY:
        file_elements = [premis.file_element(o) for o in iter_file_objects(ws)]
        event_elements = [premis.event_element(e) for e in ws.iter_events(done)]
        premis_files, premis_events = (lambda: file_elements), (lambda: event_elements)
    write_package_metadata(
        PackageMetadata(
            aip_id=aip_id,
            sip_name=state["sip_name"],
            label=validation.bag_info.get("title") or state["sip_name"],
            organization=ctx.settings.organization,
            created=premis.now_iso(),
            objects=lambda: iter_file_objects(ws),
            events=lambda: ws.iter_events(done),
            agents=agent_list,
            premis_files=premis_files,
            premis_events=premis_events,
            descriptive=_metadata_file(ws, aip_layout.DC_PATH, "text/xml"),
            describe_premis=lambda _path: _metadata_file(ws, aip_layout.PREMIS_PATH, "text/xml"),
            file_created=lambda item: mtime_iso(ws.path / item["workspace_path"]),
            other_metadata=[
                _metadata_file(ws, path, "text/xml" if path.endswith((".xml", ".xsd")) else "application/json")
                for path in descriptive_extra
            ]
            + [_metadata_file(ws, f"{aip_layout.OTHER_DIR}/{n}", "text/plain") for n in other_names]
            + [_metadata_file(ws, path, EVIDENCE_MIME[path.rsplit(".", 1)[-1]])
               for path in signature_validation(ws).evidence]
            + [_metadata_file(ws, path, "application/json" if path.endswith(".json") else "text/plain")
               for path in text_extraction(ws).files],
            technical={f"file-{f.id}": verdict
                       for f, (_path, verdict) in zip(sip_files(ws), verdicts(ws), strict=True)},
            alt_record_ids=_alt_record_ids(ctx, validation.bag_info),
        ),
        premis_path=root / aip_layout.PREMIS_PATH,
        mets_path=root / aip_layout.METS_NAME,
    )
    ws.complete_step("describe", [])
    log.info(
        "AIP %s describe: METS.xml and PREMIS written: %d content files, %d events, %d agents%s",
        aip_id, file_count, sum(1 for _ in ws.iter_events(done)), len(agent_list),
        f", {len(descriptive_extra)} TT 05 metadata files" if descriptive_extra else "",
    )


def _alt_record_ids(ctx: Context, bag_info: dict[str, str]) -> dict[str, str]:
    """TT 05/2025 identifiers of the AIP: mã hồ sơ, and arcFileCode = mã cơ quan lưu trữ + mã hồ sơ."""
    file_code = next((v for k, v in bag_info.items() if k.lower() == "filecode"), "")
    ids = {"fileCode": file_code} if file_code else {}
    if file_code and ctx.settings.archive_code:
        ids["arcFileCode"] = f"{ctx.settings.archive_code}.{file_code}"
    return ids


def _write_tt05(ctx: Context, ws: Workspace, validation: SipValidation, payload: set[str]) -> list[str]:
    """The TT 05/2025 metadata, in its canonical form, under metadata/descriptive (EAD.xml, EAD_doc/, tt05.json)."""
    if not validation.tt05:
        return []
    from packages import tt05

    meta = tt05.load_metadata(ws.sip_dir, payload, max_file_bytes=ctx.settings.sip_max_tag_file_bytes,
                              max_lines=ctx.settings.sip_max_manifest_lines)  # the limits validation used
    if meta is None:
        return []
    descriptive = ws.aip_dir / aip_layout.DESCRIPTIVE_DIR
    shutil.rmtree(descriptive / "EAD_doc", ignore_errors=True)  # a re-run writes the same files again
    written = tt05.write_ead_xml(meta, descriptive / "EAD.xml")
    (descriptive / "tt05.json").write_text(
        json.dumps(validation.tt05, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    schemas = ws.aip_dir / "schemas"  # E-ARK: the schemas the package's metadata follows travel with it
    schemas.mkdir(exist_ok=True)
    (schemas / "tt05.xsd").write_text(tt05.xsd_text(), encoding="utf-8")
    for kind in ("hoso", "document"):
        (schemas / f"tt05-{kind}.schema.json").write_text(
            json.dumps(tt05.json_schema(kind), ensure_ascii=False, indent=1), encoding="utf-8"
        )
    extra = [*written, descriptive / "tt05.json", *sorted(schemas.iterdir())]
    return sorted(p.relative_to(ws.aip_dir).as_posix() for p in extra)

"""One METS write in a fresh process, so that its peak RSS is its own.

``python -m bench.mets_worker --files N --out FILE [--mode lists|stream] [--validate XSD]`` prints
one JSON line: seconds spent in ``write_aip_mets`` (PREMIS embedded through
``packages.premis.write_premis``), the process's peak RSS (VmHWM, MB) before and after, the
output size and, with
``--validate``, whether lxml's XMLSchema accepts the document.

``lists`` holds every PREMIS object and event in memory as ``step_describe`` does during an
ingest (one identification and one digest event per file); ``stream`` hands the writer
generators, which isolates the writer's own memory; ``metsrw`` is the baseline (metsrw, where
installed, with the same PREMIS elements per file).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb

PUIDS = [
    ("fmt/20", "Acrobat PDF 1.6 - Portable Document Format", "1.6", "application/pdf"),
    ("fmt/412", "Microsoft Word for Windows", "2007 onwards", "application/vnd.openxmlformats-officedocument"),
    ("fmt/43", "JPEG File Interchange Format", "1.01", "image/jpeg"),
    ("fmt/353", "Tagged Image File Format", None, "image/tiff"),
    ("x-fmt/111", "Plain Text File", None, "text/plain"),
    ("fmt/101", "Extensible Markup Language", "1.0", "text/xml"),
]
AIP_ID = "5b0c7c52-0d52-4f8e-9a51-3f0a1f3c2a10"
KHO_AGENT = {"type": "software", "value": "Kho 0.1.0", "name": "Kho", "agent_type": "software", "version": "0.1.0"}
FIDO_AGENT = {"type": "software", "value": "fido 1.6.1", "name": "fido", "agent_type": "software", "version": "1.6.1"}
ORG_AGENT = {"type": "organization", "value": "Kho", "name": "Kho", "agent_type": "organization"}


def file_object(index: int) -> dict[str, Any]:
    """A PREMIS file object as ``_file_objects`` builds it during ingest."""
    puid, name, version, mime = PUIDS[index % len(PUIDS)]
    path = f"data/hồ-sơ-{index // 250:03d}/{index:06d}-văn-bản.dat"
    return {
        "id": str(uuid.UUID(int=index + 1)),
        "original_name": path,
        "aip_path": f"representations/rep-01/{path}",
        "workspace_path": f"sip/{path}",
        "role": "original",
        "representation": "rep-01",
        "source_id": None,
        "size": 1000 + index * 7 % 900_000,
        "digests": {"sha256": f"{index:064x}"},
        "puid": puid,
        "format_name": name,
        "format_version": version,
        "mime": mime,
        "method": "signature",
    }


def events_for(index: int, premis: Any) -> list[dict[str, Any]]:
    """The two per-file events an ingest records: identification and digest calculation."""
    obj = str(uuid.UUID(int=index + 1))
    puid, name, _version, _mime = PUIDS[index % len(PUIDS)]
    return [
        premis.new_event(
            "format identification", "success", aip_id=AIP_ID, object_ids=[obj],
            agents=[{**FIDO_AGENT, "role": "executing program"}], detail="program=fido 1.6.1 (formats-v109.xml)",
            outcome_detail=f"{puid} {name} (method: signature)",
        ),
        premis.new_event(
            "message digest calculation", "success", aip_id=AIP_ID, object_ids=[obj],
            agents=[{**KHO_AGENT, "role": "executing program"}],
            detail="program=Kho 0.1.0 (hashlib); algorithms=sha256",
            outcome_detail=f"sha256:{index:064x}",
        ),
    ]  # fmt: skip


def aip_events(premis: Any) -> list[dict[str, Any]]:
    kinds = ["ingestion start", "validation", "fixity check", "virus check", "validation"]
    return [
        premis.new_event(kind, "success", aip_id=AIP_ID, object_ids=[AIP_ID], detail=f"{kind} of the SIP",
                         agents=[{**KHO_AGENT, "role": "executing program"}])
        for kind in kinds
    ]  # fmt: skip


def run(files: int, out: Path, mode: str) -> dict[str, Any]:
    from packages import mets, premis

    rss_start = peak_rss_mb()
    started = time.perf_counter()
    objects: Iterable[dict[str, Any]]
    events: Iterable[dict[str, Any]]
    if mode == "lists":
        objects = [file_object(i) for i in range(files)]
        events = aip_events(premis) + [e for i in range(files) for e in events_for(i, premis)]
    else:
        objects = (file_object(i) for i in range(files))
        events = (e for group in _flatten_groups(premis, files) for e in group)
    setup = time.perf_counter() - started
    rss_inputs = peak_rss_mb()

    def embedded(xf: Any) -> None:
        premis.write_premis(
            xf,
            entity=premis.entity_element(AIP_ID, "bench"),
            files=objects,
            events=events,
            agents=[KHO_AGENT, FIDO_AGENT, ORG_AGENT],
            schema_location=False,
        )

    def payload() -> Iterator[Any]:
        source = objects if mode == "lists" else (file_object(i) for i in range(files))
        for item in source:
            yield mets.MetsFile(
                file_id=f"file-{item['id']}", href=item["aip_path"], size=item["size"],
                sha256=item["digests"]["sha256"], mime=item["mime"], created="2024-12-30T00:00:00+00:00",
            )  # fmt: skip

    def metadata(href: str, mime: str) -> Any:
        return mets.MetsFile(
            file_id="file-md-" + uuid.uuid5(uuid.NAMESPACE_URL, href).hex, href=href, size=1234,
            sha256="0" * 64, mime=mime, created="2024-12-30T00:00:00+00:00",
        )  # fmt: skip

    kwargs: dict[str, Any] = {
        "aip_id": AIP_ID,
        "label": "Hồ sơ đo hiệu năng",
        "created": "2024-12-30T00:00:00+00:00",
        "software_version": "0.1.0",
        "organization": "Kho",
        "descriptive": metadata("metadata/descriptive/dc.xml", "text/xml"),
        "preservation": metadata("metadata/preservation/premis.xml", "text/xml"),
        "write_embedded_premis": embedded,
        "other_metadata": [metadata(f"metadata/other/{n}", "text/plain") for n in ("bagit.txt", "bag-info.txt")],
    }
    parameters = inspect.signature(mets.write_aip_mets).parameters
    if "representations" in parameters:  # API since the normalisation work (#5)
        kwargs["representations"] = [("rep-01", payload())]
    else:
        kwargs["representation"] = "rep-01"
        kwargs["payload"] = payload()
    started = time.perf_counter()
    write: Callable[..., None] = mets.write_aip_mets
    write(out, **kwargs)
    seconds = time.perf_counter() - started
    return {
        "files": files,
        "mode": mode,
        "seconds": seconds,
        "setup_seconds": setup,
        "rss_start_mb": rss_start,
        "rss_inputs_mb": rss_inputs,
        "peak_rss_mb": peak_rss_mb(),
        "bytes": out.stat().st_size,
    }


def run_metsrw(files: int, out: Path) -> dict[str, Any]:
    """The baseline: metsrw builds the document in memory (one FSEntry per file, with the same PREMIS
    object and two events from ``packages.premis``) and serialises it."""
    import metsrw

    from packages import premis

    rss_start = peak_rss_mb()
    objects = [file_object(i) for i in range(files)]
    events = [events_for(i, premis) for i in range(files)]
    rss_inputs = peak_rss_mb()
    started = time.perf_counter()
    document = metsrw.METSDocument()
    root = metsrw.FSEntry(label="rep-01", type="Directory", use=None)
    for item, pair in zip(objects, events, strict=True):
        entry = metsrw.FSEntry(path=item["aip_path"], file_uuid=item["id"], checksum=item["digests"]["sha256"],
                               checksumtype="SHA-256")  # fmt: skip
        entry.add_premis_object(premis.file_element(item))
        for event in pair:
            entry.add_premis_event(premis.event_element(event))
        root.add_child(entry)
    document.append_file(root)
    document.write(str(out), fully_qualified=True, pretty_print=False)
    seconds = time.perf_counter() - started
    return {
        "files": files,
        "mode": "metsrw",
        "seconds": seconds,
        "setup_seconds": 0.0,
        "rss_start_mb": rss_start,
        "rss_inputs_mb": rss_inputs,
        "peak_rss_mb": peak_rss_mb(),
        "bytes": out.stat().st_size,
        "metsrw": package_version("metsrw"),
    }


def _flatten_groups(premis: Any, files: int) -> Iterator[list[dict[str, Any]]]:
    yield aip_events(premis)
    for index in range(files):
        yield events_for(index, premis)


def validate(document: Path, xsd: Path) -> dict[str, Any]:
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(xsd)))
    parsed = etree.parse(str(document))
    valid = schema.validate(parsed)
    return {"valid": bool(valid), "errors": [str(e) for e in list(schema.error_log)[:5]]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mode", choices=["lists", "stream", "metsrw"], default="lists")
    parser.add_argument("--validate", type=Path, help="XSD to validate the output against")
    args = parser.parse_args(argv)
    if args.validate and (args.validate.parent / "catalog.xml").is_file():  # offline resolution, before lxml loads
        os.environ.setdefault("XML_CATALOG_FILES", str(args.validate.parent / "catalog.xml"))
    result = run_metsrw(args.files, args.out) if args.mode == "metsrw" else run(args.files, args.out, args.mode)
    if args.validate:
        result["validation"] = validate(args.out, args.validate)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

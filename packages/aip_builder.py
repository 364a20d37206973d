"""One builder of a package's preservation metadata: ``premis.xml`` and the ``METS.xml`` that embeds it.

Why one: ingest (an AIP's first version), a migration (the AIP's revised METS) and a hand-over (the E-ARK
SIP sent to another archive) each assembled PREMIS and METS on their own, in three copies of the same
twenty lines that had begun to differ. Each caller now says what its package holds (content files,
events, agents, metadata files); this module writes the two documents the same way for all of them.
``packages.aip_reader`` reads them back.

Why in ``packages/``: what a package looks like (layout, METS, PREMIS, the agents it names) is package
format, not preservation workflow; below ``preservation`` it can be read and tested without a catalog,
and the writer and its reader live in one layer (decision 0021).

Files and events are given as factories (``Callable[[], Iterable]``), because each is written twice,
into ``premis.xml`` and embedded in METS: a large AIP streams them from its workspace each time rather
than holding them, a small one hands over PREMIS elements built once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from packages import agents as kho_agents
from packages import premis
from packages.checksums import sha256_file
from packages.mets import MetsFile, representation_files, write_aip_mets

Items = Callable[[], Iterable[Any]]


def metadata_file_id(relpath: str) -> str:
    """The METS file ID of a non-content file: stable for its path, so a revised METS keeps the ID."""
    return "file-md-" + uuid.uuid5(uuid.NAMESPACE_URL, relpath).hex


def describe_file(root: Path, relpath: str, mime: str, *, file_id: str | None = None, sha256: str | None = None,
                  created: str | None = None) -> MetsFile:
    """A file written under ``root`` as METS lists it: size, SHA-256 (hashed here unless a digest verified
    elsewhere is given) and creation time (the file's modification time unless given)."""
    full = root / relpath
    info = full.stat()
    return MetsFile(
        file_id=file_id or metadata_file_id(relpath), href=relpath, size=info.st_size,
        sha256=sha256 or sha256_file(full), mime=mime,
        created=created or datetime.fromtimestamp(info.st_mtime, UTC).isoformat(timespec="seconds"),
    )


@dataclass
class PackageMetadata:
    """What a package's PREMIS and METS say. ``objects`` are the content files as dicts (METS fileSec and
    PREMIS objects); ``premis_files``/``premis_events``, when given, are what PREMIS is written from instead
    (elements built once for a small package). ``describe_premis`` makes the METS entry of the written
    ``premis.xml`` (its size and checksum are only known then)."""

    aip_id: str
    sip_name: str  # the PREMIS intellectual entity's original name
    label: str
    organization: str | None
    created: str  # METS CREATEDATE
    objects: Items
    events: Items
    agents: list[dict[str, str]]
    descriptive: MetsFile
    describe_premis: Callable[[Path], MetsFile]
    file_created: Callable[[dict[str, Any]], str]  # CREATED of a content file in METS
    other_metadata: list[MetsFile] = field(default_factory=list)
    technical: dict[str, dict[str, Any]] | None = None
    premis_files: Items | None = None
    premis_events: Items | None = None
    record_status: str = "NEW"
    package_type: str = "AIP"
    objid: str | None = None
    alt_record_ids: dict[str, str] | None = None


def write_package_metadata(meta: PackageMetadata, *, premis_path: Path, mets_path: Path) -> None:
    """Write ``premis_path``, then ``mets_path`` embedding the same PREMIS and listing ``premis_path``."""
    files = meta.premis_files or meta.objects
    events = meta.premis_events or meta.events

    def write(xf: Any, schema_location: bool) -> None:
        premis.write_premis(
            xf, entity=premis.entity_element(meta.aip_id, meta.sip_name), files=files(), events=events(),
            agents=meta.agents, schema_location=schema_location,
        )

    premis_path.parent.mkdir(parents=True, exist_ok=True)
    with etree.xmlfile(str(premis_path), encoding="UTF-8") as xf:
        xf.write_declaration()
        write(xf, True)
    write_aip_mets(
        mets_path,
        aip_id=meta.aip_id,
        label=meta.label,
        created=meta.created,
        software_version=kho_agents.KHO_VERSION,
        organization=meta.organization,
        descriptive=meta.descriptive,
        preservation=meta.describe_premis(premis_path),
        write_embedded_premis=lambda xf: write(xf, False),  # METS xmlData holds the PREMIS, never empty
        other_metadata=meta.other_metadata,
        representations=representation_files(meta.objects(), meta.file_created, meta.technical),
        record_status=meta.record_status,
        package_type=meta.package_type,
        objid=meta.objid,
        alt_record_ids=meta.alt_record_ids,
        technical=meta.technical,
    )

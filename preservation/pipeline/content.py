"""The AIP's content files as the steps after normalisation see them: originals, then derivatives."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packages import aip as aip_layout
from packages.mets import representation_of
from preservation.pipeline.outputs import identifications, normalisation, sip_files
from preservation.workspace import (
    Workspace,
)


def mtime_iso(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def iter_file_objects(ws: Workspace) -> Iterator[dict[str, Any]]:
    """Every content file of the AIP, one at a time: originals (rep-01) in the SIP's order, then derivatives
    (rep-02, rep-03). Each is the dict METS, PREMIS and the catalog row are written from."""
    for item, (path, found) in zip(sip_files(ws), identifications(ws), strict=True):
        if path != item.path:
            raise ValueError(f"identification of {path!r} where {item.path!r} was expected: workspace damaged")
        aip_path = aip_layout.payload_aip_path(item.path)
        yield {
            "id": item.id,
            "original_name": item.path,
            "aip_path": aip_path,
            "workspace_path": f"sip/{item.path}",
            "role": "original",
            "representation": representation_of(aip_path, aip_layout.REPRESENTATION),  # rep1 stays rep1
            "source_id": None,
            "size": item.size,
            "digests": item.digests,
            "puid": found.puid,
            "format_name": found.format_name,
            "format_version": found.format_version,
            "mime": found.mime,
            "method": found.method,
        }
    for derivative in normalisation(ws).derivatives:
        yield {
            **{k: derivative[k] for k in DERIVATIVE_FIELDS},
            "original_name": derivative["aip_path"],
            "role": derivative["purpose"],
            "workspace_path": f"work/derivatives/{derivative['aip_path']}",
        }


def file_objects(ws: Workspace) -> list[dict[str, Any]]:
    return list(iter_file_objects(ws))


DERIVATIVE_FIELDS = (
    "id", "aip_path", "representation", "source_id", "size", "digests", "puid", "format_name", "format_version",
    "mime", "method",
)

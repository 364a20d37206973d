"""Where an AIP's files are in a local storage root, for tests that look at or damage stored bytes.

AIPs are OCFL objects (packages/ocfl.py): a logical path such as ``METS.xml`` is stored at the content
path the head inventory names (``v1/content/METS.xml``, or an earlier version's file for unchanged
bytes). These helpers read the committed inventory the way any OCFL client would.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from packages import ocfl


def object_dir(root: Path, aip_id: str) -> Path:
    """The AIP's OCFL object root under a local storage root."""
    return Path(root) / ocfl.object_root(aip_id)


def inventory(root: Path, aip_id: str) -> dict:
    return json.loads((object_dir(root, aip_id) / ocfl.INVENTORY).read_text(encoding="utf-8"))


def stored_file(root: Path, aip_id: str, logical: str, version: str | None = None) -> Path:
    """The file holding ``logical``'s bytes in the head version (or ``version``) of the AIP at ``root``."""
    data = inventory(root, aip_id)
    state = data["versions"][version or data["head"]]["state"]
    digest = next(d for d, paths in state.items() if logical in paths)
    return object_dir(root, aip_id) / sorted(data["manifest"][digest])[0]


def stored_files(root: Path, aip_id: str, version: str | None = None) -> dict[str, Path]:
    """Every logical path of the head version (or ``version``) and the file holding its bytes."""
    data = inventory(root, aip_id)
    state = data["versions"][version or data["head"]]["state"]
    base = object_dir(root, aip_id)
    return {path: base / sorted(data["manifest"][digest])[0] for digest, paths in state.items() for path in paths}


def stored_aip(root: Path, aip_id: str, into: Path, version: str | None = None) -> Path:
    """The AIP as a folder (its head version's logical state) under ``into``, copied out of storage."""
    target = Path(into) / aip_id
    for logical, source in stored_files(root, aip_id, version).items():
        path = target / logical
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
    return target


def all_stored(root: Path, aip_id: str) -> list[Path]:
    """Every file of the AIP's object at ``root`` (all versions, inventories included)."""
    base = object_dir(root, aip_id)
    return [Path(d, n) for d, _dirs, names in os.walk(base) for n in names]


def stored_key(root: Path, aip_id: str, logical: str) -> str:
    """The storage key (relative to any location's root) of ``logical`` in the head version."""
    return stored_file(root, aip_id, logical).relative_to(Path(root)).as_posix()


def v1_key(aip_id: str, logical: str) -> str:
    """The storage key of a file the ingest (``v1``) stored, when its bytes are not a duplicate."""
    return f"{ocfl.object_root(aip_id)}/{ocfl.content_path('v1', logical)}"


def download_bucket(s3: object, bucket: str, prefix: str, into: Path) -> Path:
    """Every current object under ``prefix`` of an S3 bucket, as files under ``into`` (a storage root
    the OCFL validator can read)."""
    paginator = s3.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            target = Path(into) / item["Key"][len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())  # type: ignore[attr-defined]
    return Path(into)


def stored_aip_ids(root: Path) -> list[str]:
    """The AIP ids of the OCFL objects under a local storage root (from their inventories)."""
    ids = []
    for declaration in Path(root).rglob(ocfl.OBJECT_NAMASTE[0]):
        data = json.loads((declaration.parent / ocfl.INVENTORY).read_text(encoding="utf-8"))
        ids.append(ocfl.aip_id_of(data["id"]) or data["id"])
    return sorted(ids)

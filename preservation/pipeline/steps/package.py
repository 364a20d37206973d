"""Step 9, package: the E-ARK AIP layout, and the list of its files with their digests."""

from __future__ import annotations

import os
import shutil

from packages import aip as aip_layout
from packages import ocfl
from packages.checksums import hash_file
from preservation.pipeline.content import iter_file_objects
from preservation.pipeline.context import Context
from preservation.pipeline.outputs import Package, PackagedFile, as_output
from preservation.pipeline.recording import EventRecorder, log
from preservation.workspace import Workspace


def step_package(ctx: Context, ws: Workspace) -> None:
    """Place the originals under ``representations/rep-01/data`` (hard links: no copy) and list
    every file of the AIP with its digest for the store step."""
    manifest: list[PackagedFile] = []
    for item in iter_file_objects(ws):
        relpath = item["aip_path"]
        target = ws.aip_dir / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        source = ws.path / item["workspace_path"]
        if target.exists() and not os.path.samefile(source, target):
            target.unlink()
        if not target.exists():
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
        digests = item["digests"]
        if ocfl.DIGEST not in digests:  # a workspace begun before AIPs were OCFL objects
            digests = {**digests, **hash_file(target, [ocfl.DIGEST])}
        manifest.append(PackagedFile(relpath, item["size"], digests["sha256"], digests[ocfl.DIGEST]))
    payload_keys = {m.key for m in manifest}
    for path in sorted(ws.aip_dir.rglob("*")):
        relpath = path.relative_to(ws.aip_dir).as_posix()
        if path.is_file() and relpath not in payload_keys:
            digests = hash_file(path, ["sha256", ocfl.DIGEST])
            manifest.append(PackagedFile(relpath, path.stat().st_size, digests["sha256"], digests[ocfl.DIGEST]))
    mets_sha256 = next(m.sha256 for m in manifest if m.key == aip_layout.METS_NAME)
    events = EventRecorder(ws, "package")
    events.success(
        "information package creation",
        detail="E-ARK CSIP/AIP 2.x layout: METS.xml, metadata/, representations/<rep>/data",
        outcome_detail=f"{len(manifest)} files; METS.xml sha256:{mets_sha256}",
    )
    ws.complete_step("package", events, as_output(Package(files=manifest, mets_sha256=mets_sha256)))
    log.info(
        "AIP %s package: E-ARK AIP of %d files, %d bytes; METS.xml sha256:%s",
        events.aip_id, len(manifest), sum(m.size for m in manifest), mets_sha256,
    )

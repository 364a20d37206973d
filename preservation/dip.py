"""Dissemination packages (DIPs) on request, within the requester's access rights.

Only the objects needed are fetched (one storage object per file), each is verified against the
catalog's SHA-256 before it is used — a bad copy is never delivered: the next location is tried
and the AIP is audited, which repairs the bad copy. The DIP folder (files, METS pointing back to
the AIP, ``index.html``, ``metadata.csv``, ``withheld.csv``) is zipped from disk, so memory stays
flat for any AIP size, and a PREMIS ``dissemination`` event records who, when, what and why.

What a requester learns about files withheld from them (decision, issue "Hostile input and hostile
users" part D):

* **Only a count.** The DIP (``withheld.csv``, ``index.html``), the API answers and ``DipResult.to_dict``
  say how many files were withheld, never their names, paths, regimes, embargo dates or legal bases.
  The name of a file can itself be the protected information (the title of a mật document, the
  "Quyết định mật số ..." it cites), and TT 05/2025 lets an archive tell a requester no more than that
  material exists outside their access rights.
* **Readers** are withheld restricted (02), confidential (03) and embargoed files: they get the count.
* **Archivists** are withheld only confidential (03) files. Whether a document is classified, and its
  title, fall under the Law on the Protection of State Secrets (Luật Bảo vệ bí mật nhà nước 2018), not
  under the archive's access rules, so an archivist is not cleared for the names either: the count.
  (No rule today lets an archivist be withheld a non-confidential file; if one is added, its names may
  be shown to archivists, since the restricted list — Danh mục tài liệu hạn chế sử dụng — is theirs to
  keep.)
* **Administrators** are withheld nothing.
* The PREMIS ``dissemination`` event names withheld files by their object identifiers (UUIDs), not by
  name or basis: archivists read the event trail of non-confidential AIPs, and a public dossier may
  hold a confidential file. Administrators resolve the identifiers in the catalog.

The DIP is an E-ARK DIP 2.2 package (decision 0015): its ``METS.xml`` is written by the same CSIP writer
as AIPs and hand-over SIPs (``packages.mets``), lists every file of the DIP with size, creation time and
SHA-256 — the delivered files in ``Representations/access``, ``metadata.csv`` and the Dublin Core
(``metadata/descriptive/dc.xml``, referenced from the dmdSec) as Metadata, ``index.html`` and
``withheld.csv`` as Documentation — and points back to the AIP (``altRecordID TYPE="AIP"``). The Dublin
Core carries only the fields ``metadata.csv`` gives the same requester.

``metadata.csv`` is safe to open in a spreadsheet (cells that would start a formula are quoted, see
``preservation.export.spreadsheet_safe``), and everything written is ``FILE_MODE``/``DIR_MODE``
(``storage_adapters.local``, 0640/0750) whatever the umask.
"""

from __future__ import annotations

import csv
import html
import logging
import os
import shutil
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from format_registry.policy import cached_policy
from packages import agents, premis
from packages.access import AccessRule, may_see
from packages.aip import DC_PATH, METS_NAME, payload_relative, write_dublin_core
from packages.aip_builder import describe_file
from packages.mets import MetsFile, write_aip_mets
from preservation.catalog import Aip, Catalog, File
from preservation.export import spreadsheet_safe
from preservation.fixity import audit
from preservation.retrieval import RetrievalError, fetch_object
from storage_adapters.local import create_file, make_dirs, restrict

CHUNK = 1024 * 1024
# Log lines name the AIP, the DIP, the role and the counts, never the requester (a person: the PREMIS
# event keeps who asked) nor a withheld file (the module docstring)
log = logging.getLogger("kho.dip")
# bag-info fields a reader never receives in metadata.csv (personal data, internal notes)
RESTRICTED_FIELDS = {"contact-name", "contact-email", "contact-phone", "description", "autograph",
                     "internal-sender-description", "accessbasis"}
SYSTEM_FIELDS = {"payload-oxum", "bag-software-agent", "bagging-date", "bag-size", "bag-count"}
WITHHELD_NOTE = ("Tài liệu ngoài quyền tiếp cận của người yêu cầu; tên và căn cứ không được công bố. / "
                 "Files outside the requester's access rights; their names and grounds are not disclosed.")


class DipError(RuntimeError):
    """The DIP cannot be made (unknown AIP or file, no verified copy); nothing is delivered."""


@dataclass
class DipResult:
    dip_id: str
    directory: Path
    zip_path: Path
    delivered: list[dict[str, Any]] = field(default_factory=list)
    withheld_count: int = 0  # files the requester may not receive; never named (module docstring)
    repaired: bool = False

    @property
    def withheld(self) -> list[dict[str, str]]:
        """Per-file withheld entries the requester may be told about: none (see the module docstring).
        Kept for callers that list them; use ``withheld_count``."""
        return []

    def to_dict(self) -> dict[str, Any]:
        return {"dip_id": self.dip_id, "directory": str(self.directory), "zip": str(self.zip_path),
                "delivered": self.delivered, "withheld_count": self.withheld_count, "repaired": self.repaired}


def _rule(aip: Aip, item: File) -> AccessRule:
    if item.access_mode:
        return AccessRule(item.access_mode, item.embargo_until, item.access_basis or "")
    return AccessRule(aip.access_mode, aip.embargo_until, aip.access_basis or "")


def choose_copy(original: File, derivatives: list[File]) -> File:
    """The access copy where the policy makes one, the preservation copy where it serves access,
    else the original (which the policy then names as its own access copy)."""
    decision = cached_policy().decide(original.puid, original.mime)
    by_role = {d.role: d for d in derivatives}
    if decision.access.action == "normalise" and "access" in by_role:
        return by_role["access"]
    if decision.access.action == "use-preservation" and "preservation" in by_role:
        return by_role["preservation"]
    return original




def _new_dip_dir(out_dir: Path, aip_id: str) -> Path:
    """``DIP-<aip>-<n>`` with the first free n (mkdir is atomic: two requests never share one)."""
    make_dirs(out_dir)
    number = 1
    while True:
        candidate = out_dir / f"DIP-{aip_id}-{number}"
        try:
            candidate.mkdir(mode=0o700)  # DIR_MODE just below, whatever the umask
            restrict(candidate)
            return candidate
        except FileExistsError:
            number += 1


def build_dip(
    catalog: Catalog,
    aip_id: str,
    *,
    requester: str,
    role: str,
    purpose: str,
    out_dir: Path,
    files: list[str] | None = None,
    request_id: str | None = None,
    today: date | None = None,
    research_topic: str | None = None,
) -> DipResult:
    log.info("AIP %s dip: request as %s, purpose %r, %s", aip_id, role, purpose,
             f"{len(files)} files asked for" if files else "every file")
    aip = catalog.get_aip(aip_id)
    if aip is None:
        raise DipError(f"AIP {aip_id} not found / không tìm thấy")
    if aip.deleted_at is not None:
        raise DipError(f"AIP {aip_id} was disposed of ({(aip.disposal or {}).get('decision', '')}) / đã bị hủy")
    today = today or datetime.now(UTC).date()
    rows = catalog.files(aip_id)
    originals = [f for f in rows if f.role == "original"]
    derivatives: dict[str, list[File]] = {}
    for row in rows:
        if row.source_id:
            derivatives.setdefault(row.source_id, []).append(row)
    if files:
        wanted = set(files)
        known = {f.path for f in originals} | {f.original_path for f in originals}
        unknown = sorted(wanted - known)
        if unknown:
            raise DipError(f"not in AIP {aip_id}: {', '.join(unknown)}")
        originals = [f for f in originals if f.path in wanted or f.original_path in wanted]

    selected: list[tuple[File, File]] = []
    withheld: list[File] = []  # never named outside the catalog (module docstring)
    for original in originals:
        allowed, _why = may_see(role, _rule(aip, original), today)
        if allowed:
            selected.append((original, choose_copy(original, derivatives.get(original.id, []))))
        else:
            withheld.append(original)

    directory = _new_dip_dir(out_dir, aip_id)
    dip_id = str(uuid.uuid4())
    result = DipResult(dip_id=dip_id, directory=directory, zip_path=directory.with_suffix(".zip"),
                       withheld_count=len(withheld))
    needs_audit = False
    try:
        for original, chosen in selected:
            relative = payload_relative(original.original_path)
            name = relative.with_suffix(PurePosixPath(chosen.path).suffix) if chosen is not original else relative
            target = directory / "representations" / "access" / "data" / name
            make_dirs(target.parent)
            try:
                retrieved = fetch_object(catalog, aip_id, chosen, target)
            except RetrievalError as exc:
                raise DipError(str(exc)) from exc
            source_location = retrieved.source
            restrict(target)  # whatever mode the storage adapter gave it
            needs_audit |= bool(retrieved.bad)
            result.delivered.append({
                "path": f"representations/access/data/{name}", "source": chosen.path, "original": original.path,
                "copy": chosen.role, "puid": chosen.puid, "mime": chosen.mime, "size": chosen.size,
                "sha256": chosen.sha256, "fetched_from": source_location,
            })
    except DipError as exc:
        # the caller reports the refusal itself (marked as a result: the CLI prints it once without -v)
        log.warning("AIP %s dip: no verified copy of a file: %s; auditing the AIP", aip_id, exc,
                    extra={"kho_result": True})
        audit(catalog, aip_id=aip_id)  # records the damage and repairs what it can
        shutil.rmtree(directory, ignore_errors=True)
        raise
    if needs_audit:
        result.repaired = audit(catalog, aip_id=aip_id).repaired > 0

    _write_metadata_csv(directory / "metadata.csv", aip, result.delivered, role)
    _write_dublin_core(directory / DC_PATH, aip, role)
    if withheld:
        with _new_text_file(directory / "withheld.csv") as handle:
            writer = csv.writer(handle)
            writer.writerow(["withheld_files", "note"])
            writer.writerow([len(withheld), WITHHELD_NOTE])
    _write_index(directory / "index.html", aip, result, requester, purpose)
    request = {"requestDate": f"{today:%d/%m/%Y}", **({"researchTopic": research_topic} if research_topic else {})}
    _write_dip_mets(directory, dip_id, aip, result.delivered, request_id or dip_id, purpose, request)
    _zip(directory, result.zip_path)

    kho = agents.kho()
    requester_agent = {"type": "requester", "value": requester, "name": requester, "agent_type": "person"}
    event = premis.new_event(
        "dissemination", "success", aip_id=aip_id,
        object_ids=[aip_id, *(o.id for o, _ in selected)],
        agents=[agents.link(kho, "executing program"), agents.link(requester_agent, "requester")],
        detail=f"DIP {directory.name} ({dip_id}) for {requester} as {role}; purpose: {purpose}",
        outcome_detail=f"{len(result.delivered)} files delivered, {len(withheld)} withheld"
        + (f" (objects {', '.join(w.id for w in withheld)})" if withheld else ""),
    )
    with catalog.session() as session:
        catalog.ensure_agents(session, [requester_agent, kho])
        catalog.append_events(session, [event])
    log.info("AIP %s dip: %s written: %d files delivered (%d bytes), %d withheld%s", aip_id, result.zip_path.name,
             len(result.delivered), sum(d["size"] for d in result.delivered), len(withheld),
             "; a bad stored copy was met and repaired" if result.repaired else "")
    return result


def _new_text_file(path: Path) -> TextIO:
    """A new UTF-8 text file for the DIP, ``FILE_MODE`` whatever the umask."""
    return open(create_file(path), "w", encoding="utf-8", newline="")


def _cell(value: Any) -> Any:
    """A metadata.csv cell: repeated bag-info fields joined, and never a spreadsheet formula."""
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    return spreadsheet_safe(value)


def _fields(aip: Aip, role: str) -> dict[str, Any]:
    """The bag-info fields this requester may read: no system fields, and no personal data for readers."""
    return {k: v for k, v in (aip.bag_info or {}).items()
            if k.lower() not in SYSTEM_FIELDS and (role != "reader" or k.lower() not in RESTRICTED_FIELDS)}


def _write_dublin_core(path: Path, aip: Aip, role: str) -> None:
    """The DIP's descriptive metadata (CSIP17, CSIPSTR7): the AIP's Dublin Core built from the fields
    ``metadata.csv`` gives this requester, so a reader's DIP names no contact person here either."""
    fields = {k: "; ".join(str(x) for x in v) if isinstance(v, list) else str(v) for k, v in _fields(aip, role).items()}
    make_dirs(path.parent)
    write_dublin_core(path, aip.id, fields)
    restrict(path)  # written by lxml: FILE_MODE whatever the umask (its folder is DIR_MODE already)


def _write_metadata_csv(path: Path, aip: Aip, delivered: list[dict[str, Any]], role: str) -> None:
    fields = _fields(aip, role)
    columns = ["file", "format", "mime", "size", "sha256", "aip_id", *fields]
    with _new_text_file(path) as handle:
        writer = csv.writer(handle)
        writer.writerow([_cell(c) for c in columns])  # bag-info labels come from the SIP too
        for item in delivered:
            row = {"file": item["path"], "format": item["puid"] or "", "mime": item["mime"] or "",
                   "size": item["size"], "sha256": item["sha256"], "aip_id": aip.id, **fields}
            writer.writerow([_cell(row[c]) for c in columns])


def _write_index(path: Path, aip: Aip, result: DipResult, requester: str, purpose: str) -> None:
    e = html.escape
    rows = "\n".join(
        f'<tr><td><a href="{e(item["path"])}">{e(item["path"])}</a></td><td>{e(item["mime"] or "")}</td>'
        f'<td>{item["size"]}</td><td>{e(item["copy"])}</td></tr>' for item in result.delivered)
    withheld = (f"<p>{result.withheld_count} tệp không được cung cấp / files withheld. {e(WITHHELD_NOTE)}</p>"
                if result.withheld_count else "<p>—</p>")
    with _new_text_file(path) as handle:
        handle.write(f"""<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8"><title>{e(aip.title or aip.sip_name)}</title></head>
<body>
<h1>{e(aip.title or aip.sip_name)}</h1>
<p>Gói tài liệu sử dụng (DIP) {e(result.directory.name)} · AIP urn:uuid:{e(aip.id)}<br>
Người yêu cầu / requester: {e(requester)} · Mục đích / purpose: {e(purpose)} ·
{datetime.now(UTC):%d/%m/%Y %H:%M} UTC</p>
<h2>Tài liệu / files ({len(result.delivered)})</h2>
<table><tr><th>File</th><th>MIME</th><th>Bytes</th><th>Copy</th></tr>
{rows}
</table>
<h2>Không cung cấp / withheld ({result.withheld_count})</h2>
{withheld}
</body></html>
""")


def _described(directory: Path, relpath: str, mime: str, file_id: str, sha256: str | None = None) -> MetsFile:
    """A file of the DIP as METS lists it: size, creation time (when the DIP wrote it) and SHA-256 (hashed
    here unless the catalog's, verified when the file was fetched, is given)."""
    return describe_file(directory, relpath, mime, file_id=file_id, sha256=sha256)


def _write_dip_mets(directory: Path, dip_id: str, aip: Aip, delivered: list[dict[str, Any]], request_id: str,
                    purpose: str, request: dict[str, str]) -> None:
    """The DIP's METS (E-ARK DIP 2.2 on CSIP 2.2), carrying the TT 05/2025 request fields (requestID,
    requestDate, purpose, researchTopic) and the AIP it was made from as altRecordIDs."""
    content = [_described(directory, item["path"], item["mime"] or "application/octet-stream", f"file-{number}",
                          item["sha256"]) for number, item in enumerate(delivered, start=1)]
    documentation = [_described(directory, "index.html", "text/html", "file-index")]
    if (directory / "withheld.csv").is_file():
        documentation.append(_described(directory, "withheld.csv", "text/csv", "file-withheld"))
    path = directory / METS_NAME
    os.close(create_file(path))  # FILE_MODE before lxml writes into it
    write_aip_mets(
        path, aip_id=dip_id, objid=f"urn:uuid:{dip_id}", label=aip.title or aip.sip_name, created=premis.now_iso(),
        software_version=agents.KHO_VERSION, organization=None, package_type="DIP",
        descriptive=_described(directory, DC_PATH, "text/xml", "file-dc"),
        other_metadata=[_described(directory, "metadata.csv", "text/csv", "file-metadata-csv")],
        documentation=documentation,
        representations=[("access", content)] if content else [],
        alt_record_ids={"AIP": f"urn:uuid:{aip.id}", "requestID": request_id, "purpose": purpose, **request},
    )


def _zip(directory: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    with open(create_file(partial, exclusive=False), "wb") as handle, zipfile.ZipFile(
            handle, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for file_path in sorted(p for p in directory.rglob("*") if p.is_file()):
            archive.write(file_path, f"{directory.name}/{file_path.relative_to(directory).as_posix()}")
    os.replace(partial, target)

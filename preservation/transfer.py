"""Hand-over (nộp lưu) between archives: export stored AIPs as E-ARK SIP ZIPs carrying their full
PREMIS history, receive them elsewhere keeping that history, and close the loop with a receipt.

The sender records a PREMIS ``transfer`` event at export but marks an AIP *transferred* only when the
receiver's receipt is imported and checks out: every package's SHA-256 matches what was sent, and the
receipt is signed by the receiving archive: a detached CMS signature with its X.509 key (``KHO_SIGNING_KEY``,
``preservation.signing``) over the receipt's canonical JSON, checked against the receiver's certificate the
sender was given (``kho transfer receipt --receiver-cert``). Why not the HMAC of before: a key both archives
share lets either one make the other's receipt, so it proves nothing to an auditor (decision 0023). Receipts
of that kind are still read when ``KHO_TRANSFER_KEY`` is set, and marked ``legacy``.

:func:`hand_over_list` is the one list of permanent records and their hand-over deadlines: ``kho transfer
list`` and the daily ``transfer`` DAG both show it.

Each package is an E-ARK SIP 2.2 written by ``packages.mets`` (mets/@PROFILE ``E-ARK-SIP-v2-2-0.xml``, the
sending archive as submitting agent, every file listed with its checksum); the tests hold it to Kho's strict
E-ARK check and to E-ARK's own validator (decision 0015).
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from pydantic import SecretStr

from format_registry import toolrun
from packages import agents, premis
from packages import aip as aip_layout
from packages.aip_builder import PackageMetadata, describe_file, write_package_metadata
from packages.checksums import sha256_file
from packages.mets import MetsFile
from preservation.catalog import Aip, Catalog
from preservation.config import load_settings
from preservation.migrate import catalog_agents, catalog_events, catalog_objects
from preservation.retention import Deadlines, deadlines
from preservation.retrieval import RetrievalError, fetch_object
from preservation.signing import (
    Signer,
    SigningError,
    certificate_pem,
    fingerprint,
    parse_certificates,
    signer_from_settings,
    verify_detached,
)

MANIFEST = "transfer-manifest.json"
PDF_TIMEOUT = 300


class TransferError(RuntimeError):
    """The transfer cannot go on; the message says why (nothing is marked transferred)."""


Key = SecretStr | str | None  # the transfer_key setting (KHO_TRANSFER_KEY)


SIGNATURE_FORMAT = "cms-detached-sha256"  # the receipt's ``signature.format``: CMS SignedData, content detached
MAX_SIGNATURE_CHARS = 256 * 1024


def _key(key: Key) -> bytes:
    """The legacy receipt key: ``key``, else the installation's ``transfer_key`` setting."""
    if key is None:
        key = load_settings().transfer_key
    value = key.get_secret_value() if isinstance(key, SecretStr) else key
    if not value:
        raise TransferError("KHO_TRANSFER_KEY is not set: the receipt cannot be signed or verified / chưa đặt "
                            "KHO_TRANSFER_KEY: không ký hay kiểm tra được biên bản giao nhận")
    return value.encode("utf-8")


def sign(document: dict[str, Any], key: Key = None) -> str:
    """The legacy HMAC-SHA256 of ``document`` (without its signature) under ``key`` (default: the setting):
    how receipts were signed before X.509 signatures; kept to read those."""
    body = json.dumps({k: v for k, v in document.items() if k != "signature"}, sort_keys=True, ensure_ascii=False)
    return hmac.new(_key(key), body.encode("utf-8"), hashlib.sha256).hexdigest()


def receipt_bytes(receipt: dict[str, Any]) -> bytes:
    """What the receiver signs: the receipt without its signature, as canonical JSON (sorted keys, compact,
    UTF-8), so that the layout a file is written in does not matter and any other tool can rebuild it."""
    body = {k: v for k, v in receipt.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _receipt_signer(signer: Signer | None) -> Signer:
    if signer is not None:
        return signer
    try:
        found = signer_from_settings(load_settings())
    except SigningError as exc:
        raise TransferError(f"{exc}: the receipt cannot be signed / không ký được biên bản giao nhận") from exc
    if found is None:
        raise TransferError("KHO_SIGNING_KEY is not set: the receipt cannot be signed with the archive's certificate "
                            "/ chưa đặt KHO_SIGNING_KEY: không ký được biên bản giao nhận bằng chứng thư số của cơ "
                            "quan")
    return found


@dataclass(frozen=True)
class ReceiptCheck:
    """Who signed a receipt that verified, and how."""

    legacy: bool  # a shared-key HMAC receipt (before X.509 signatures): anyone holding the key could make it
    signer: str  # the certificate's subject; "" for a legacy receipt
    certificate_sha256: str = ""

    def describe(self) -> str:
        if self.legacy:
            return ("legacy receipt signed with the shared key (HMAC), not with the receiver's certificate / biên bản "
                    "kiểu cũ ký bằng khóa dùng chung")
        return f"signed by {self.signer} (certificate sha256:{self.certificate_sha256})"


def check_receipt(receipt: dict[str, Any], receiver_certificates: list[x509.Certificate] | None, *,
                  key: Key = None) -> ReceiptCheck:
    """The receipt's signature, checked: X.509 against the receiver's certificates the sender was given (the
    signer's own certificate, or a CA certificate above it); a legacy HMAC one with ``key`` or
    ``KHO_TRANSFER_KEY``. TransferError, in English and Vietnamese, when it does not verify."""
    signature = receipt.get("signature")
    if isinstance(signature, str):
        if not hmac.compare_digest(signature, sign(receipt, key)):
            raise TransferError("the receipt's signature does not verify (wrong key or altered receipt)"
                                " / chữ ký biên bản không hợp lệ")
        return ReceiptCheck(legacy=True, signer="")
    if not isinstance(signature, dict) or signature.get("format") != SIGNATURE_FORMAT:
        raise TransferError("the receipt carries no signature Kho knows / chữ ký biên bản không hợp lệ "
                            "(không có chữ ký hoặc không đúng định dạng)")
    if not receiver_certificates:
        raise TransferError("the receiver's certificate is needed to check the receipt (--receiver-cert PEM) / cần "
                            "chứng thư số của bên nhận để kiểm tra biên bản")
    cms = signature.get("cms")
    try:
        if not isinstance(cms, str) or len(cms) > MAX_SIGNATURE_CHARS:
            raise ValueError("no CMS signature")
        der = base64.b64decode(cms, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise TransferError(f"the receipt's signature cannot be read ({exc}) / chữ ký biên bản không hợp lệ") from exc
    verdict = verify_detached(receipt_bytes(receipt), der, receiver_certificates)
    if not verdict.ok or verdict.certificate is None:
        raise TransferError(f"the receipt's signature does not verify: {verdict.reason} / chữ ký biên bản không "
                            "hợp lệ: không phải do bên nhận ký hoặc biên bản đã bị sửa")
    # the readable copies beside the CMS must say what it says: a receipt is not shown with another signer
    try:
        shown = parse_certificates(str(signature.get("certificate", "")).encode())
    except ValueError:
        shown = []
    if shown[:1] != [verdict.certificate] or signature.get("signer") != verdict.signer:
        raise TransferError("the receipt's signature does not verify: the certificate or signer it shows is not the "
                            "one that signed / chữ ký biên bản không hợp lệ: chứng thư số ghi kèm không phải của "
                            "người ký")
    return ReceiptCheck(legacy=False, signer=verdict.signer, certificate_sha256=fingerprint(verdict.certificate))


def load_receiver_certificates(path: Path) -> list[x509.Certificate]:
    """The receiver's certificate(s) from a PEM (or DER) file; TransferError when it holds none."""
    try:
        return parse_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise TransferError(f"{path}: no certificate could be read ({exc}) / không đọc được chứng thư số của bên "
                            "nhận") from exc


# -- what is due ----------------------------------------------------------------------------------------

# the order of ``kho transfer list``: what needs doing first
STATUS_ORDER = {"overdue": 0, "due": 1, "not-yet-due": 2, "unknown": 3, "transferred": 4, "not-required": 5}


@dataclass(frozen=True)
class HandOverDue:
    """One stored AIP's hand-over deadlines (Luật Lưu trữ 2024 Điều 17, Decision 458) and its status today."""

    aip_id: str
    title: str
    status: str  # overdue, due, not-yet-due, unknown, transferred, not-required (retention.Deadlines.status)
    deadlines: Deadlines

    def to_dict(self) -> dict[str, Any]:
        """The row ``kho transfer list --json`` prints."""
        due = self.deadlines
        return {
            "aip_id": self.aip_id, "title": self.title, "maintenance": due.maintenance, "status": self.status,
            "work_ended": due.work_ended.isoformat() if due.work_ended else None,
            "current_archive_due": due.current_archive_due.isoformat() if due.current_archive_due else None,
            "entered_current_archive": due.entered_current_archive.isoformat(),
            "historical_archive_due": due.historical_archive_due.isoformat() if due.historical_archive_due else None,
            "d458_due": due.d458_due.isoformat() if due.d458_due else None,
        }


def hand_over_list(catalog: Catalog, today: date | None = None, *, include_not_required: bool = False
                   ) -> list[HandOverDue]:
    """Every AIP not disposed of with its hand-over status on ``today`` (default: today, UTC), most urgent
    first (``STATUS_ORDER``, then the historical archive's deadline); records that never go to the
    historical archive (not permanent) only with ``include_not_required``."""
    today = today or datetime.now(UTC).date()
    found = []
    for aip in catalog.list_aips():
        if aip.deleted_at is not None:
            continue
        due = deadlines(aip.bag_info, aip.stored_at)
        status = due.status(today, aip.transferred_at.date() if aip.transferred_at else None)
        if status == "not-required" and not include_not_required:
            continue
        found.append(HandOverDue(aip.id, aip.title or aip.sip_name, status, due))
    found.sort(key=lambda d: (STATUS_ORDER[d.status],
                              d.deadlines.historical_archive_due.isoformat() if d.deadlines.historical_archive_due
                              else "9999"))
    return found


def _mime(path: str) -> str:
    if path.endswith((".xml", ".xsd")):
        return "text/xml"
    return "application/json" if path.endswith(".json") else "text/plain"


@dataclass
class ExportResult:
    directory: Path
    packages: list[dict[str, Any]] = field(default_factory=list)
    transfer_list_csv: Path | None = None
    transfer_list_pdf: Path | None = None


def export_aips(catalog: Catalog, aip_ids: list[str], out_dir: Path, *, sender: str, receiver: str,
                organization: str) -> ExportResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ExportResult(directory=out_dir)
    rows_for_list = []
    for aip_id in aip_ids:
        aip = catalog.get_aip(aip_id)
        if aip is None or aip.deleted_at is not None:
            raise TransferError(f"AIP {aip_id} not found or disposed of / không tìm thấy")
        package = _build_package(catalog, aip, out_dir, sender=sender, receiver=receiver, organization=organization)
        result.packages.append(package)
        rows_for_list.append((aip, package))
    result.transfer_list_csv = _write_transfer_list(out_dir, rows_for_list, sender, receiver)
    result.transfer_list_pdf = _pdf_from_html(out_dir, rows_for_list, sender, receiver)
    manifest = {"batch": str(uuid.uuid4()), "sender": sender, "receiver": receiver,
                "exported_at": premis.now_iso(), "packages": result.packages}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return result


def _build_package(catalog: Catalog, aip: Aip, out_dir: Path, *, sender: str, receiver: str,
                   organization: str) -> dict[str, Any]:
    name = f"transfer-{aip.id}"
    rows = catalog.files(aip.id)
    with tempfile.TemporaryDirectory(prefix="kho-transfer-") as scratch_name:
        root = Path(scratch_name) / name
        for row in rows:
            if row.path in (aip_layout.METS_NAME, aip_layout.PREMIS_PATH):
                continue  # METS and PREMIS are written anew below
            target = root / row.path
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                fetch_object(catalog, aip.id, row, target)  # verified against the catalog, never a bad copy
            except RetrievalError as exc:
                raise TransferError(str(exc)) from exc
        event = premis.new_event(
            "transfer", "success", aip_id=aip.id, object_ids=[aip.id],
            agents=[agents.link(agents.kho(), "executing program")],
            detail=f"exported for hand-over from {sender} to {receiver} as E-ARK SIP {name}.zip",
            outcome_detail="awaiting the receiver's receipt / chờ biên bản giao nhận")
        objects = [{**o, "original_name": o["aip_path"]} for o in catalog_objects(rows)]
        events = [*catalog_events(catalog, aip.id), event]
        agent_rows = catalog_agents(catalog)
        now = premis.now_iso()

        def md(path: str) -> MetsFile:
            return describe_file(root, path, _mime(path), created=now)

        # every file the SIP ships is in its METS with size and checksum: the payload in the representation
        # groups, the rest (EAD.xml, EAD_doc/, tt05.json, schemas/, metadata/other/...) in the metadata ones
        listed = {aip_layout.METS_NAME, aip_layout.DC_PATH, aip_layout.PREMIS_PATH, *(o["aip_path"] for o in objects)}
        others = sorted(relpath for relpath in (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
                        if relpath not in listed)
        write_package_metadata(
            PackageMetadata(
                aip_id=aip.id, sip_name=aip.sip_name, label=aip.title or aip.sip_name, organization=organization,
                created=now, objects=lambda: objects, events=lambda: events, agents=agent_rows,
                descriptive=md(aip_layout.DC_PATH), describe_premis=lambda _path: md(aip_layout.PREMIS_PATH),
                file_created=lambda _obj: now, other_metadata=[md(p) for p in others], package_type="SIP",
                objid=name,
            ),
            premis_path=root / aip_layout.PREMIS_PATH,
            mets_path=root / aip_layout.METS_NAME,
        )
        archive = out_dir / f"{name}.zip"
        partial = archive.with_suffix(".zip.partial")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as handle:
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                handle.write(path, f"{name}/{path.relative_to(root).as_posix()}")
        os.replace(partial, archive)
    digest = sha256_file(archive)
    event["outcome_detail"] += f"; {archive.name} sha256:{digest}"
    with catalog.session() as session:
        catalog.append_events(session, [event])
    return {"aip_id": aip.id, "package": archive.name, "sha256": digest, "size": archive.stat().st_size}


def _list_rows(rows: list[tuple[Aip, dict[str, Any]]]) -> list[dict[str, Any]]:
    out = []
    for number, (aip, package) in enumerate(rows, start=1):
        info = {k.lower(): v for k, v in (aip.bag_info or {}).items()}
        out.append({"stt": number, "fileCode": info.get("filecode", ""), "title": aip.title or aip.sip_name,
                    "startDate": info.get("startdate", ""), "endDate": info.get("enddate", ""),
                    "maintenance": info.get("maintenance", ""), "files": aip.file_count,
                    "package": package["package"], "sha256": package["sha256"]})
    return out


def _write_transfer_list(out_dir: Path, rows: list[tuple[Aip, dict[str, Any]]], sender: str, receiver: str) -> Path:
    """Mục lục hồ sơ nộp lưu (the transfer list), CSV."""
    path = out_dir / "muc-luc-ho-so.csv"
    items = _list_rows(rows)
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(items[0]) if items else ["stt"])
        writer.writeheader()
        writer.writerows(items)
    return path


def _pdf_from_html(out_dir: Path, rows: list[tuple[Aip, dict[str, Any]]], sender: str, receiver: str) -> Path | None:
    """The same list as PDF through LibreOffice (absent: CSV only, and the caller says so)."""
    import html as html_module

    soffice = shutil.which("soffice")
    if soffice is None:
        return None
    e = html_module.escape
    body = "".join(f"<tr><td>{r['stt']}</td><td>{e(r['fileCode'])}</td><td>{e(r['title'])}</td>"
                   f"<td>{e(r['startDate'])} – {e(r['endDate'])}</td><td>{e(r['maintenance'])}</td>"
                   f"<td>{r['files']}</td></tr>" for r in _list_rows(rows))
    page = (f'<html><head><meta charset="utf-8"></head><body><h1>MỤC LỤC HỒ SƠ NỘP LƯU</h1>'
            f"<p>Bên giao / sender: {e(sender)} · Bên nhận / receiver: {e(receiver)} · "
            f"{datetime.now(UTC):%d/%m/%Y}</p><table border='1'><tr><th>STT</th><th>Mã hồ sơ</th><th>Tiêu đề</th>"
            f"<th>Thời gian</th><th>Thời hạn</th><th>Số tệp</th></tr>{body}</table></body></html>")
    with tempfile.TemporaryDirectory(prefix="kho-pdf-") as scratch:
        source = Path(scratch) / "muc-luc-ho-so.html"
        source.write_text(page, encoding="utf-8")
        completed = toolrun.run(  # a timeout (group killed) is a failure like any other: CSV only
            [soffice, "--headless", "--norestore", f"-env:UserInstallation=file://{scratch}/profile",
             "--convert-to", "pdf", "--outdir", scratch, str(source)],
            timeout=PDF_TIMEOUT, env={"HOME": scratch})
        produced = Path(scratch) / "muc-luc-ho-so.pdf"
        if not completed.ok or not produced.is_file():
            return None
        target = out_dir / "muc-luc-ho-so.pdf"
        shutil.copyfile(produced, target)
        return target


def make_receipt(received: list[dict[str, Any]], *, receiver: str, sender: str, signer: Signer | None = None
                 ) -> dict[str, Any]:
    """The receipt, signed by the receiving archive (``signer``, default its ``KHO_SIGNING_KEY``): a detached CMS
    signature over ``receipt_bytes`` and the signer's certificate travel in ``signature``."""
    signer = _receipt_signer(signer)
    receipt: dict[str, Any] = {"receipt": str(uuid.uuid4()), "receiver": receiver, "sender": sender,
                               "received_at": premis.now_iso(), "packages": received}
    receipt["signature"] = {
        "format": SIGNATURE_FORMAT,
        "signer": signer.name,
        "certificate": certificate_pem(signer.certificate),
        "cms": base64.b64encode(signer.sign(receipt_bytes(receipt))).decode("ascii"),
    }
    return receipt


@dataclass
class ReceiptResult:
    """What importing a receipt did: the AIPs marked transferred, and how the receipt was signed."""

    aip_ids: list[str]
    check: ReceiptCheck

    @property
    def legacy(self) -> bool:
        return self.check.legacy


def import_receipt(catalog: Catalog, receipt: dict[str, Any], manifest: dict[str, Any], *,
                   receiver_certificates: list[x509.Certificate] | None = None, key: Key = None) -> ReceiptResult:
    """Check the receipt's signature (``check_receipt``) and its packages against what was sent; mark those
    AIPs transferred, all or none."""
    check = check_receipt(receipt, receiver_certificates, key=key)
    sent = {p["sha256"]: p for p in manifest["packages"]}
    done = []
    events = []
    for package in receipt["packages"]:
        if package.get("status") != "stored":
            continue
        original = sent.get(package.get("sha256", ""))
        if original is None:
            raise TransferError(f"{package.get('package')}: the receiver's SHA-256 matches no package sent"
                                " / mã SHA-256 của bên nhận không khớp gói nào đã gửi")
        done.append(original["aip_id"])
        events.append(premis.new_event(
            "transfer", "success", aip_id=original["aip_id"], object_ids=[original["aip_id"]],
            agents=[agents.link(agents.kho(), "executing program")],
            detail=f"custody transferred to {receipt['receiver']} (receipt {receipt['receipt']}, {check.describe()})",
            outcome_detail=f"received as AIP {package.get('new_aip_id')}; sha256:{package['sha256']}"))
    now = datetime.now(UTC)
    with catalog.session() as session:
        for aip_id in done:
            row = session.get(Aip, aip_id)
            if row is not None:
                row.transferred_at = now
        catalog.append_events(session, events)
    return ReceiptResult(done, check)

"""``POST /aips/{aip_id}/dips`` and ``GET /dips/{dip_name}/download``: dissemination packages on request.

A DIP is built within the requester's rights by ``preservation.dip.build_dip``; who asked, under which role
and token, is kept in a sidecar JSON beside the zip, and only that requester (or an administrator) may
download it.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse

from packages.access import ROLES
from preservation.aip_views import today, visible
from preservation.api.auth import Requester, Who
from preservation.api.deps import CatalogDep, SettingsDep
from preservation.api.errors import ApiError, not_found, responses
from preservation.api.models import DeliveredFile, DipOut, DipRequest
from preservation.config import Settings
from preservation.dip import DipError, DipResult, build_dip
from storage_adapters.local import create_file

log = logging.getLogger("kho.api")

# a DIP directory is DIP-<aip id>-<n> (preservation.dip._new_dip_dir); nothing else is ever served
DIP_NAME = re.compile(r"DIP-[A-Za-z0-9-]{1,64}-[1-9][0-9]{0,8}")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}

router = APIRouter(tags=["dips"])


def dips_dir(settings: Settings) -> Path:
    """Where the API puts the DIPs it builds, and the only folder it serves them from."""
    return settings.home / "dips"


@router.post("/aips/{aip_id}/dips", status_code=201, response_model=DipOut,
             responses=responses(400, 401, 404, 422, 503))
def request_dip(who: Who, aip_id: Annotated[str, PathParam(max_length=64)], body: DipRequest,
                request: Request, catalog: CatalogDep, settings: SettingsDep) -> JSONResponse:
    """Build a DIP now, within the requester's rights, and record who asked and why (PREMIS event)."""
    aip = catalog.get_aip(aip_id)
    if aip is None or not visible(who.role, aip, today()):
        raise not_found(aip_id, who.role)
    if body.files:
        originals = [f for f in catalog.files(aip.id) if f.role == "original"]
        known = {f.path for f in originals} | {f.original_path for f in originals}
        unknown = sorted(set(body.files) - known)
        if unknown:
            listed = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            raise ApiError(422, f"Not original files of AIP {aip.id}: {listed}. "
                                f"Use paths listed by GET /aips/{aip.id}.",
                           f"Không phải tài liệu gốc của gói AIP {aip.id}: {listed}. "
                           f"Dùng đường dẫn do GET /aips/{aip.id} liệt kê.")
    try:
        result = build_dip(catalog, aip.id, requester=who.name, role=who.role, purpose=body.purpose,
                           out_dir=dips_dir(settings), files=body.files or None, request_id=body.request_id)
    except DipError:
        log.exception("DIP for %s failed", aip.id)
        raise ApiError(503, "No verified stored copy of a requested file is available right now; the AIP was "
                            "audited and the damage recorded. Try again later or tell the archive.",
                       "Hiện không có bản sao hợp lệ của tài liệu được yêu cầu; gói đã được kiểm tra và "
                       "ghi nhận hư hỏng. Hãy thử lại sau hoặc báo cho cơ quan lưu trữ.") from None
    record = record_dip(settings, aip.id, result, who, body.purpose, body.request_id)
    dip_name = result.directory.name
    url = str(request.url_for("download_dip", dip_name=dip_name))
    out = DipOut(**record, delivered=[DeliveredFile(**d) for d in result.delivered],
                 withheld_count=result.withheld_count, repaired=result.repaired, download_url=url)
    return JSONResponse(out.model_dump(mode="json", by_alias=True), status_code=201, headers={"Location": url})


@router.get("/dips/{dip_name}/download", response_class=FileResponse,
            responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "The DIP as a zip"}, **responses(401, 403, 404)})
def download_dip(who: Who, dip_name: str, settings: SettingsDep) -> FileResponse:
    """The zip, only to whoever requested it (or an administrator)."""
    archive = dip_archive(settings, who, dip_name)
    return FileResponse(archive, media_type="application/zip", filename=archive.name)


def record_dip(settings: Settings, aip_id: str, result: DipResult, who: Requester, purpose: str,
               request_id: str | None) -> dict[str, Any]:
    """Keep who asked for the DIP ``result`` (the sidecar ``dip_archive`` checks) and return that record.
    Also used by the reading room, when an archivist approves a reader's request."""
    record: dict[str, Any] = {"dip_id": result.dip_id, "dip_name": result.directory.name, "aip_id": aip_id,
                              "requester": who.name, "requester_token": who.token_id, "role": who.role,
                              "purpose": purpose, "request_id": request_id,
                              "created_at": datetime.now(UTC).isoformat()}
    _write_sidecar(result.zip_path.with_suffix(".json"), record)
    return record


def dip_archive(settings: Settings, who: Requester, dip_name: str) -> Path:
    """The zip of ``dip_name`` if ``who`` may download it (whoever requested it, by token, under a role no
    higher than theirs now; or an administrator), else an ``ApiError`` 404/403."""
    missing = ApiError(404, "No such DIP. Use the download_url returned by POST /aips/{aip_id}/dips.",
                       "Không có gói DIP này. Dùng download_url do POST /aips/{aip_id}/dips trả về.")
    if not DIP_NAME.fullmatch(dip_name):
        raise missing
    base = dips_dir(settings).resolve()
    archive = (base / f"{dip_name}.zip").resolve()
    if archive.parent != base or not archive.is_file():
        raise missing
    record = _read_sidecar(archive.with_suffix(".json"))
    if who.role != "administrator":
        # identity is the token, not the display name (two readers may share a name)
        owner = str(record.get("requester_token") or "") if record else ""
        if record is None or not owner or not who.token_id or not hmac.compare_digest(owner, who.token_id):
            raise ApiError(403, "This DIP was made for another requester; request your own with "
                                "POST /aips/{aip_id}/dips.",
                           "Gói DIP này được lập cho người khác; hãy tự yêu cầu bằng POST /aips/{aip_id}/dips.")
        if ROLE_RANK.get(str(record.get("role")), len(ROLES)) > ROLE_RANK[who.role]:
            raise ApiError(403, f"This DIP was made under the {record.get('role')} role; you are now "
                                f"{who.role}. Request a new DIP.",
                           f"Gói DIP này được lập với vai trò {record.get('role')}; vai trò hiện tại của bạn "
                           f"là {who.role}. Hãy yêu cầu gói mới.")
    return archive


def _write_sidecar(path: Path, record: dict[str, Any]) -> None:
    """Who asked for a DIP, beside (never inside) its zip; atomic so a reader never sees half of it."""
    partial = path.with_name(path.name + ".partial")
    with open(create_file(partial, exclusive=False), "w", encoding="utf-8") as handle:  # FILE_MODE, not the umask
        handle.write(json.dumps(record, ensure_ascii=False, indent=1))
    os.replace(partial, path)


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a DIP made by the CLI has no record: administrators only
    return data if isinstance(data, dict) else None

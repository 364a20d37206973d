"""``GET /health``: liveness for monitoring."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from packages.agents import KHO_VERSION
from preservation.api.deps import CatalogDep
from preservation.api.errors import error_response, responses
from preservation.api.models import Health

log = logging.getLogger("kho.api")

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health, responses=responses(503))
def health(catalog: CatalogDep) -> Health | JSONResponse:
    """Liveness for monitoring; no token needed, says nothing about the holdings."""
    try:
        with catalog.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        log.exception("health: catalog unreachable")
        return error_response(503, "The catalog database is unreachable; the administrator must check it.",
                              "Không kết nối được cơ sở dữ liệu mục lục; quản trị viên cần kiểm tra.")
    return Health(status="ok", version=KHO_VERSION)

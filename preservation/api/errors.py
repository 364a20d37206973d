"""Every error the API sends is JSON ``{"error", "error_vi"}`` that says what to do next.

Internals (paths, storage locations, stack traces) stay in the server log; a server error carries only an
incident number to quote. The handlers here are registered on the application by ``register_handlers``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("kho.api")

INSTANT_HELP = "must be an ISO 8601 date or time, e.g. 2024-01-31 or 2024-01-31T08:00:00+07:00"


class ApiError(Exception):
    """An answer for the client: status, an English and a Vietnamese message saying what to do."""

    def __init__(self, status: int, error: str, error_vi: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.error_vi, self.headers = status, error, error_vi, headers


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong and what to do, in English")
    error_vi: str = Field(description="The same in Vietnamese")
    incident: str | None = Field(None, description="Server errors only: quote it to the administrator")


def error_response(status: int, error: str, error_vi: str, headers: Mapping[str, str] | None = None,
                   incident: str | None = None) -> JSONResponse:
    """The one shape of every error body (also sent by ``BodyGuard``, before FastAPI sees the request)."""
    body: dict[str, str] = {"error": error, "error_vi": error_vi}
    if incident:
        body["incident"] = incident
    return JSONResponse(body, status_code=status, headers=headers)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route for the OpenAPI document: the given error codes, and 500 always."""
    text_of = {400: "Bad request", 401: "Missing or unknown bearer token", 403: "The role may not do this",
               404: "Unknown id (or not visible to the role)", 422: "Invalid parameters or body",
               500: "Internal error (details only in the server log)", 503: "Storage or catalog unavailable"}
    return {code: {"model": ErrorBody, "description": text_of[code]} for code in (*codes, 500)}


def not_found(aip_id: str, role: str) -> ApiError:
    """The same 404 for an AIP that does not exist and one the role may not see."""
    shown = aip_id[:80]
    return ApiError(404, f"AIP {shown} not found, or not available to the {role} role. "
                         "Check the id with GET /aips.",
                    f"Không tìm thấy gói AIP {shown}, hoặc vai trò {role} không được xem. "
                    "Kiểm tra mã bằng GET /aips.")


def _explain(problem: Mapping[str, Any]) -> str:
    if problem.get("type") == "string_pattern_mismatch":
        return "must be one line of text, not blank, without control characters"
    if tuple(problem.get("loc", ()))[-1:] in (("since",), ("until",)):
        return INSTANT_HELP
    return str(problem.get("msg", "invalid"))


async def api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)  # registered for ApiError only
    return error_response(exc.status, exc.error, exc.error_vi, exc.headers)


async def invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # registered for RequestValidationError only
    problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {_explain(e)}" for e in exc.errors()[:5])
    return error_response(422, f"Invalid request: {problems}. See /openapi.json for the expected parameters.",
                          f"Yêu cầu không hợp lệ: {problems}. Xem /openapi.json để biết tham số đúng.")


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # registered for StarletteHTTPException only
    if exc.status_code == 404:
        return error_response(404, f"No such endpoint: {request.method} {request.url.path[:200]}. "
                                   "The endpoints are listed at /openapi.json.",
                              "Không có địa chỉ này. Danh sách địa chỉ ở /openapi.json.")
    if exc.status_code == 405:
        return error_response(405, f"{request.method} is not allowed here; see /openapi.json for the methods.",
                              f"Không dùng được phương thức {request.method} ở đây; xem /openapi.json.",
                              headers=getattr(exc, "headers", None))
    if exc.status_code == 400:  # FastAPI's "error parsing the body" (e.g. not UTF-8)
        return error_response(400, "The request body could not be read: send JSON encoded as UTF-8, as documented "
                                   "at /openapi.json.",
                              "Không đọc được nội dung yêu cầu: gửi JSON mã hoá UTF-8 như mô tả ở /openapi.json.")
    return error_response(exc.status_code, str(exc.detail), f"Không thực hiện được yêu cầu (mã {exc.status_code}): "
                          f"{exc.detail}", headers=getattr(exc, "headers", None))


async def internal(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex[:12]
    log.error("incident %s: %s %s failed", incident, request.method, request.url.path, exc_info=exc)
    return error_response(500, f"Internal error (incident {incident}). Try again; if it persists, give the "
                               "incident number to the administrator.",
                          f"Lỗi nội bộ (sự cố {incident}). Hãy thử lại; nếu vẫn lỗi, báo số sự cố cho quản trị viên.",
                          incident=incident)


def register_handlers(app: FastAPI) -> None:
    """Every failure answered in the one error shape: ours, invalid input, routing errors, and the unforeseen."""
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal)

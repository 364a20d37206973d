"""HTTP API (issue #6): search AIPs, request and download DIPs, export the event trail.

Every answer respects the access regimes of ``packages.access``: a requester is known only by a
bearer token from configuration (``KHO_API_TOKENS`` or ``$KHO_HOME/api-tokens.toml``), which maps
to a name and a role. Files a role may not receive are only counted (``withheld_count``), never named
and never given a reason or legal basis (decision in ``preservation.dip``); nor are their sizes given
away: ``file_count`` and ``total_bytes`` count only the originals the requester may receive, and the
bag-info fields stating the whole payload's size (Payload-Oxum, Bag-Size) are for administrators. Errors are always JSON
``{"error", "error_vi"}`` that say what to do next; internals (paths, storage locations, stack traces)
stay in the server log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import re
import threading
import tomllib
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TextIO, cast

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import func, select, text
from starlette.exceptions import HTTPException as StarletteHTTPException

from packages.access import ROLES, AccessRule, may_see, mode_from_code
from packages.agents import KHO_VERSION
from preservation.catalog import Aip, Catalog, File, as_utc
from preservation.config import ConfigError, Settings, load_settings
from preservation.dip import RESTRICTED_FIELDS, DipError, build_dip
from preservation.export import export_events
from preservation.service import Service
from storage_adapters.local import create_file

log = logging.getLogger("kho.api")

TOKENS_ENV = "KHO_API_TOKENS"
TOKENS_FILE = "api-tokens.toml"
# a DIP directory is DIP-<aip id>-<n> (preservation.dip._new_dip_dir); nothing else is ever served
DIP_NAME = re.compile(r"DIP-[A-Za-z0-9-]{1,64}-[1-9][0-9]{0,8}")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
EXPORT_MEDIA = {"premis": ("application/xml", "xml"), "json": ("application/x-ndjson", "jsonl"),
                "csv": ("text/csv; charset=utf-8", "csv")}
EXPORT_CHUNK = 64 * 1024
EXPORT_STALL_SECONDS = 600.0  # a client that reads nothing for this long loses its export

Tokens = dict[str, tuple[str, str]]  # token -> (requester name, role)
# text a person typed: not blank, no control characters (they would break METS/PREMIS XML after the DIP is half
# made); the pattern (not only strip + min_length) keeps the OpenAPI document exact about blank values
PlainText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500,
                                             pattern=r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$")]


# -- configuration --------------------------------------------------------------------------------


def load_tokens(home: Path, environ: Mapping[str, str]) -> Tokens:
    """Tokens from ``KHO_API_TOKENS`` in ``environ`` (wins) or ``$KHO_HOME/api-tokens.toml``."""
    return tokens_from(home, environ.get(TOKENS_ENV))


def configured_tokens(settings: Settings) -> Tokens:
    """The tokens of ``settings``: its ``api_tokens`` setting (``KHO_API_TOKENS`` or ``api_tokens`` in
    kho.toml) when set, else ``$KHO_HOME/api-tokens.toml``."""
    return tokens_from(settings.home, settings.api_tokens.get_secret_value() if settings.api_tokens else None)


def tokens_from(home: Path, configured: str | None) -> Tokens:
    """Tokens from ``configured`` (``token=Name:role,…``; wins) or ``$KHO_HOME/api-tokens.toml``.

    Messages name the entry or the requester, never the token: config errors end up in logs.
    """
    if configured is not None:
        tokens = _parse_env_tokens(configured)
        source = TOKENS_ENV
    elif (home / TOKENS_FILE).is_file():
        path = home / TOKENS_FILE
        tokens = _parse_toml_tokens(path)
        source = str(path)
        if path.stat().st_mode & 0o077:
            log.warning("%s is readable by other users; chmod 600 it", path)
    else:
        tokens, source = {}, "nowhere"
    short = sorted({name for token, (name, _role) in tokens.items() if len(token) < 20})
    if short:
        log.warning("API tokens shorter than 20 characters (guessable) for: %s", ", ".join(short))
    log.info("%d API token(s) loaded from %s", len(tokens), source)
    return tokens


def _check_entry(where: str, name: str, role: str) -> tuple[str, str]:
    if not name:
        raise ConfigError(f"{where}: the requester name is empty")
    if role not in ROLES:
        raise ConfigError(f"{where} ({name}): role {role!r} is not one of {', '.join(ROLES)}")
    return name, role


def _parse_env_tokens(value: str) -> Tokens:
    """``token1=Name One:reader,token2=Name:archivist`` (the role follows the last colon)."""
    tokens: Tokens = {}
    for number, item in enumerate((i.strip() for i in value.split(",")), start=1):
        if not item:
            continue
        token, sep, rest = item.partition("=")
        name, colon, role = rest.rpartition(":")
        where = f"{TOKENS_ENV} entry {number}"
        if not sep or not token.strip() or not colon:
            raise ConfigError(f"{where} must look like token=Name:role")
        if token.strip() in tokens:
            raise ConfigError(f"{where} repeats an earlier token")
        tokens[token.strip()] = _check_entry(where, name.strip(), role.strip().lower())
    return tokens


def _parse_toml_tokens(path: Path) -> Tokens:
    """``[tokens]`` then one ``"token" = {name = "...", role = "reader"}`` line per requester."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    table = data.get("tokens", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tokens] must be a table")
    tokens: Tokens = {}
    for number, (token, entry) in enumerate(table.items(), start=1):
        where = f"{path} [tokens] entry {number}"
        if not isinstance(entry, dict) or not token.strip():
            raise ConfigError(f'{where} must look like "token" = {{name = "...", role = "reader"}}')
        tokens[token.strip()] = _check_entry(where, str(entry.get("name", "")).strip(),
                                             str(entry.get("role", "")).strip().lower())
    return tokens


# -- errors ---------------------------------------------------------------------------------------


class ApiError(Exception):
    """An answer for the client: status, an English and a Vietnamese message saying what to do."""

    def __init__(self, status: int, error: str, error_vi: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.error_vi, self.headers = status, error, error_vi, headers


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong and what to do, in English")
    error_vi: str = Field(description="The same in Vietnamese")
    incident: str | None = Field(None, description="Server errors only: quote it to the administrator")


def _error(status: int, error: str, error_vi: str, headers: dict[str, str] | None = None,
           incident: str | None = None) -> JSONResponse:
    body: dict[str, str] = {"error": error, "error_vi": error_vi}
    if incident:
        body["incident"] = incident
    return JSONResponse(body, status_code=status, headers=headers)


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text_of = {400: "Bad request", 401: "Missing or unknown bearer token", 403: "The role may not do this",
               404: "Unknown id (or not visible to the role)", 422: "Invalid parameters or body",
               500: "Internal error (details only in the server log)", 503: "Storage or catalog unavailable"}
    return {code: {"model": ErrorBody, "description": text_of[code]} for code in (*codes, 500)}


# -- response models ------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class AipSummary(BaseModel):
    aip_id: str
    sip_name: str
    title: str | None
    status: str
    access_mode: str = Field(description="public | restricted | confidential (TT 05 mode 01 | 02 | 03)")
    embargo_until: date | None
    file_count: int = Field(ge=0, description="Original files the requester's role may receive")
    total_bytes: int = Field(ge=0, description="Their size in bytes; files the role may not receive are not "
                                               "counted, so their sizes are not disclosed either")
    stored_at: datetime


class AipPage(BaseModel):
    total: int = Field(description="AIPs matching the query that the requester may see")
    limit: int
    offset: int
    items: list[AipSummary]


class FileOut(BaseModel):
    path: str
    role: str = Field(description="original | preservation | access | metadata")
    puid: str | None
    mime: str | None
    size: int
    sha256: str


class AipDetail(AipSummary):
    previous_version: str | None
    access_basis: str | None = Field(description="Legal basis of the regime; not shown to readers")
    bag_info: dict[str, str | list[str]] = Field(description="Personal data and internal notes dropped for readers")
    files: list[FileOut] = Field(description="Files the requester's role may receive")
    withheld_count: int = Field(ge=0, description="How many files the role may not receive; their names, "
                                                  "reasons and legal bases are not disclosed")


class DipRequest(BaseModel):
    purpose: PlainText = Field(description="Why the material is requested (TT 05 purpose code or text)")
    files: list[PlainText] | None = Field(None, max_length=10_000,
                                          description="Only these originals (paths in the SIP or the AIP)")
    request_id: PlainText | None = Field(None, description="The reading room's request number")


class DeliveredFile(BaseModel):
    path: str = Field(description="Inside the zip")
    source: str = Field(description="The AIP file delivered")
    original: str
    copy_role: str = Field(alias="copy", description="original | preservation | access")
    puid: str | None
    mime: str | None
    size: int
    sha256: str


class DipOut(BaseModel):
    dip_id: str
    dip_name: str
    aip_id: str
    requester: str
    role: str
    purpose: str
    request_id: str | None
    created_at: datetime
    delivered: list[DeliveredFile]
    withheld_count: int = Field(ge=0, description="Requested files outside the requester's rights, left out; "
                                                  "their names, reasons and legal bases are not disclosed")
    repaired: bool = Field(description="A bad stored copy was met, skipped and repaired")
    download_url: str


# -- access ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requester:
    """Who is asking. ``token_id`` (a digest of the token, never the token) is the identity: two people
    may share a display name, never a token."""

    name: str
    role: str
    token_id: str = ""


_bearer = HTTPBearer(auto_error=False, description="Token issued by the archive administrator")
UNAUTHORISED = ("Missing or unknown API token: send the header 'Authorization: Bearer <token>' "
                "with a token issued by the archive administrator.",
                "Thiếu hoặc sai mã truy cập API: gửi tiêu đề 'Authorization: Bearer <token>' "
                "với mã do quản trị viên lưu trữ cấp.")


def token_id(token: str) -> str:
    """A stable identity for a token that can be stored and compared without keeping the token."""
    return hashlib.sha256(b"kho-api-token\x00" + token.encode("utf-8")).hexdigest()[:32]


def find_requester(tokens: Tokens, presented: str | None) -> Requester | None:
    """The requester a token belongs to; compared in constant time, the token itself never logged."""
    if presented is None:
        return None
    found: Requester | None = None
    raw = presented.encode("utf-8", "surrogateescape")
    for token, (name, role) in tokens.items():  # no early exit: timing does not tell which token is near
        if hmac.compare_digest(token.encode("utf-8"), raw):
            found = Requester(name, role, token_id(token))
    return found


def _requester(request: Request,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Requester:
    found = find_requester(request.app.state.tokens, credentials.credentials if credentials else None)
    if found is None:
        raise ApiError(401, *UNAUTHORISED, headers={"WWW-Authenticate": "Bearer"})
    return found


class BodyGuard:
    """ASGI middleware: a request that carries a body is authenticated, and its size checked, before a
    byte of the body is read or parsed. Unauthenticated POSTs of 93 MB / 300 MB used to raise the server
    from 94 MB to 425 MB / 988 MB before their 401. The body (at most ``max_bytes``) is then handed on."""

    def __init__(self, app: Any, tokens: Tokens, max_bytes: int) -> None:
        self.app, self.tokens, self.max_bytes = app, tokens, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or find_requester(self.tokens, presented.strip() or None) is None:
            await _error(401, *UNAUTHORISED, headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        too_large = _error(413, f"The request body is larger than {self.max_bytes} bytes (KHO_API_MAX_BODY_BYTES).",
                           f"Nội dung yêu cầu lớn hơn {self.max_bytes} byte (KHO_API_MAX_BODY_BYTES).")
        try:
            declared = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            declared = 0
        if declared > self.max_bytes:
            await too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await self.app(scope, replay, send)


Who = Annotated[Requester, Depends(_requester)]


def _staff(who: Who) -> Requester:
    if who.role not in ("archivist", "administrator"):
        raise ApiError(403, f"The event trail is for archivists and administrators; your role is {who.role}. "
                            "Ask the archive for an audit extract.",
                       f"Nhật ký sự kiện chỉ dành cho lưu trữ viên và quản trị viên; vai trò của bạn là "
                       f"{who.role}. Hãy đề nghị cơ quan lưu trữ cung cấp bản trích.")
    return who


Staff = Annotated[Requester, Depends(_staff)]


def _today() -> date:
    return datetime.now(UTC).date()  # the date build_dip judges embargoes by


def _aip_rule(aip: Aip) -> AccessRule:
    # mode_from_code: an unexpected stored value is treated as restricted, never as public
    return AccessRule(mode_from_code(aip.access_mode), aip.embargo_until, aip.access_basis or "")


def _file_rule(aip: Aip, item: File) -> AccessRule:
    if item.access_mode:
        return AccessRule(mode_from_code(item.access_mode), item.embargo_until, item.access_basis or "")
    return _aip_rule(aip)


def _visible(who: Requester, aip: Aip, today: date) -> bool:
    return may_see(who.role, _aip_rule(aip), today)[0]


# bag-info labels that state the size of the whole payload as submitted, withheld files included: like
# ``total_bytes``, only an administrator (who is withheld nothing) receives them
SIZE_FIELDS = frozenset({"payload-oxum", "bag-size"})


def _bag_info(who: Requester, aip: Aip) -> dict[str, Any]:
    """bag-info as the requester may read it (and search it: ``_matches`` looks only here): readers lose
    personal data and internal notes, everyone but administrators the payload's declared size."""
    return {k: v for k, v in (aip.bag_info or {}).items()
            if (who.role != "reader" or k.lower() not in RESTRICTED_FIELDS)
            and (who.role == "administrator" or k.lower() not in SIZE_FIELDS)}


def _fold(value: str) -> str:
    return unicodedata.normalize("NFC", value).casefold()


def _matches(terms: list[str], who: Requester, aip: Aip) -> bool:
    """Every query word occurs in a field the requester may read (so a hidden field never matches)."""
    values: list[str] = [aip.id, aip.sip_name, aip.title or ""]
    for value in _bag_info(who, aip).values():
        values.extend(value if isinstance(value, list) else [str(value)])
    haystack = _fold("\n".join(values))
    return all(term in haystack for term in terms)


def _summary(aip: Aip, receivable: tuple[int, int]) -> dict[str, Any]:
    """An AIP as a requester sees it; ``receivable`` = (original files the requester may receive, their bytes).

    Not ``aip.file_count``/``aip.total_bytes``: those count every original, and a reader of a public dossier
    holding one confidential file could subtract what they receive and learn that file's exact size."""
    count, size = receivable
    return {"aip_id": aip.id, "sip_name": aip.sip_name, "title": aip.title, "status": aip.status,
            "access_mode": mode_from_code(aip.access_mode), "embargo_until": aip.embargo_until,
            "file_count": count, "total_bytes": size, "stored_at": as_utc(aip.stored_at)}


def _receivable(catalog: Catalog, who: Requester, aips: list[Aip], today: date) -> dict[str, tuple[int, int]]:
    """(count, bytes) of the originals of each AIP that ``who`` may receive, by the same rule as
    ``get_aip``'s file list and ``build_dip`` (``may_see`` of each file's own rule, else its AIP's).

    One grouped query for a whole page: a file's rule depends only on its mode and embargo date (the legal
    basis is only a reason), so the originals of an AIP fall into a few groups, each wholly visible or not."""
    totals = {aip.id: (0, 0) for aip in aips}
    if not aips:
        return totals
    by_id = {aip.id: aip for aip in aips}
    query = (select(File.aip_id, File.access_mode, File.embargo_until, func.count(),
                    func.coalesce(func.sum(File.size), 0))
             .where(File.aip_id.in_(list(by_id)), File.role == "original")
             .group_by(File.aip_id, File.access_mode, File.embargo_until))
    with catalog.session(readonly=True) as session:
        groups = session.execute(query).all()
    for aip_id, mode, embargo, count, size in groups:
        aip = by_id[aip_id]
        rule = AccessRule(mode_from_code(mode), embargo) if mode else _aip_rule(aip)
        if may_see(who.role, rule, today)[0]:
            seen_count, seen_size = totals[aip_id]
            totals[aip_id] = (seen_count + int(count), seen_size + int(size))
    return totals


INSTANT_HELP = "must be an ISO 8601 date or time, e.g. 2024-01-31 or 2024-01-31T08:00:00+07:00"


def _explain(problem: Mapping[str, Any]) -> str:
    if problem.get("type") == "string_pattern_mismatch":
        return "must be one line of text, not blank, without control characters"
    if tuple(problem.get("loc", ()))[-1:] in (("since",), ("until",)):
        return INSTANT_HELP
    return str(problem.get("msg", "invalid"))


def _instant(value: datetime | date | None) -> datetime | None:
    """A query bound in UTC; a bare date means its midnight (UTC), as ``kho events export`` reads it."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    try:
        return as_utc(moment)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past the last representable instant
        raise ApiError(422, f"since/until {INSTANT_HELP}, between years 1 and 9999.",
                       "since/until phải là ngày hoặc thời điểm ISO 8601 (ví dụ 2024-01-31 hoặc "
                       "2024-01-31T08:00:00+07:00), trong khoảng năm 1 đến 9999.") from None


def _not_found(aip_id: str, who: Requester) -> ApiError:
    shown = aip_id[:80]
    return ApiError(404, f"AIP {shown} not found, or not available to the {who.role} role. "
                         "Check the id with GET /aips.",
                    f"Không tìm thấy gói AIP {shown}, hoặc vai trò {who.role} không được xem. "
                    "Kiểm tra mã bằng GET /aips.")


# -- streaming a push-style writer ------------------------------------------------------------------


class _Cancelled(Exception):
    """The client went away; the producer thread stops writing."""


class _ChunkWriter:
    """A text stream for ``export_events`` that hands UTF-8 chunks to a bounded queue."""

    def __init__(self, put: Callable[[bytes], None]) -> None:
        self._put = put
        self._parts: list[str] = []
        self._size = 0

    def write(self, data: str) -> int:
        self._parts.append(data)
        self._size += len(data)
        if self._size >= EXPORT_CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._parts:
            chunk = "".join(self._parts).encode("utf-8")
            self._parts, self._size = [], 0
            self._put(chunk)


def _stream_text(produce: Callable[[TextIO], None]) -> Iterator[bytes]:
    """Run ``produce`` in a thread and yield what it writes: constant memory for any export size."""
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=16)
    stop = threading.Event()

    def put(item: bytes | BaseException | None) -> None:
        waited = 0.0
        while not stop.is_set() and waited < EXPORT_STALL_SECONDS:
            try:
                chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                waited += 0.5
        raise _Cancelled

    def run() -> None:
        try:
            writer = _ChunkWriter(put)
            produce(cast(TextIO, writer))
            writer.flush()
            put(None)
        except _Cancelled:
            return
        except BaseException as exc:  # handed to the consumer, which logs it
            try:
                put(exc)
            except _Cancelled:
                return

    thread = threading.Thread(target=run, name="kho-api-export", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = chunks.get(timeout=1.0)
            except queue.Empty:
                if thread.is_alive():
                    continue
                raise RuntimeError("event export stopped: the client read nothing for too long") from None
            if item is None:
                return
            if isinstance(item, BaseException):
                # the status line is already sent: aborting the connection (no final chunk) is the only
                # signal left, and it keeps a truncated CSV or JSON-lines export from looking complete
                raise RuntimeError("event export failed mid-stream") from item
            yield item
    finally:
        stop.set()


# -- the application ------------------------------------------------------------------------------


def create_app(settings: Settings | None = None, tokens: Tokens | None = None) -> FastAPI:
    """The API over one catalog; ``tokens`` defaults to the configured ones (see ``load_tokens``)."""
    settings = settings or load_settings()
    if tokens is None:
        tokens = configured_tokens(settings)
    else:
        tokens = {t: _check_entry(f"token for {n}", n, r) for t, (n, r) in tokens.items()}
    service = Service.open(settings)
    catalog = service.catalog  # opened now: a lost or unreadable catalog stops the API before it listens
    dips_dir = settings.home / "dips"

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        yield
        service.close()

    app = FastAPI(
        title="Kho API",
        version=KHO_VERSION,
        description="Search archival packages (AIPs), request dissemination packages (DIPs) within your access "
                    "rights, and export the PREMIS event trail. Authenticate with `Authorization: Bearer <token>`.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.catalog = catalog
    app.state.settings = settings
    app.state.tokens = tokens
    app.add_middleware(BodyGuard, tokens=tokens, max_bytes=settings.api_max_body_bytes)

    # -- handlers --

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.error, exc.error_vi, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {_explain(e)}" for e in exc.errors()[:5])
        return _error(422, f"Invalid request: {problems}. See /openapi.json for the expected parameters.",
                      f"Yêu cầu không hợp lệ: {problems}. Xem /openapi.json để biết tham số đúng.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error(404, f"No such endpoint: {request.method} {request.url.path[:200]}. "
                               "The endpoints are listed at /openapi.json.",
                          "Không có địa chỉ này. Danh sách địa chỉ ở /openapi.json.")
        if exc.status_code == 405:
            return _error(405, f"{request.method} is not allowed here; see /openapi.json for the methods.",
                          f"Không dùng được phương thức {request.method} ở đây; xem /openapi.json.",
                          headers=getattr(exc, "headers", None))
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (e.g. not UTF-8)
            return _error(400, "The request body could not be read: send JSON encoded as UTF-8, as documented at "
                               "/openapi.json.",
                          "Không đọc được nội dung yêu cầu: gửi JSON mã hoá UTF-8 như mô tả ở /openapi.json.")
        return _error(exc.status_code, str(exc.detail), f"Không thực hiện được yêu cầu (mã {exc.status_code}): "
                      f"{exc.detail}", headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.error("incident %s: %s %s failed", incident, request.method, request.url.path, exc_info=exc)
        return _error(500, f"Internal error (incident {incident}). Try again; if it persists, give the incident "
                           "number to the administrator.",
                      f"Lỗi nội bộ (sự cố {incident}). Hãy thử lại; nếu vẫn lỗi, báo số sự cố cho quản trị viên.",
                      incident=incident)

    # -- endpoints --

    @app.get("/health", response_model=Health, tags=["service"], responses=_responses(503))
    def health() -> Health | JSONResponse:
        """Liveness for monitoring; no token needed, says nothing about the holdings."""
        try:
            with catalog.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            log.exception("health: catalog unreachable")
            return _error(503, "The catalog database is unreachable; the administrator must check it.",
                          "Không kết nối được cơ sở dữ liệu mục lục; quản trị viên cần kiểm tra.")
        return Health(status="ok", version=KHO_VERSION)

    @app.get("/aips", response_model=AipPage, tags=["aips"], responses=_responses(401, 422))
    def list_aips(
        who: Who,
        q: Annotated[str | None, Query(max_length=200, description="Words in title, SIP name or metadata")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    ) -> AipPage:
        """AIPs the requester's role may see (readers: public and not embargoed), oldest first."""
        today = _today()
        terms = _fold(q).split() if q else []
        found = [a for a in catalog.list_aips() if _visible(who, a, today) and _matches(terms, who, a)]
        page = found[offset:offset + limit]
        receivable = _receivable(catalog, who, page, today)
        items = [AipSummary(**_summary(a, receivable[a.id])) for a in page]
        return AipPage(total=len(found), limit=limit, offset=offset, items=items)

    @app.get("/aips/{aip_id}", response_model=AipDetail, tags=["aips"], responses=_responses(401, 404, 422))
    def get_aip(who: Who, aip_id: Annotated[str, PathParam(max_length=64)]) -> AipDetail:
        """One AIP; files the role may not receive are only counted (``withheld_count``), never named."""
        today = _today()
        aip = catalog.get_aip(aip_id)
        if aip is None or not _visible(who, aip, today):
            raise _not_found(aip_id, who)
        files: list[FileOut] = []
        withheld = 0
        for item in catalog.files(aip.id):
            if may_see(who.role, _file_rule(aip, item), today)[0]:
                files.append(FileOut(path=item.path, role=item.role, puid=item.puid, mime=item.mime, size=item.size,
                                     sha256=item.sha256))
            else:
                withheld += 1
        originals = [f for f in files if f.role == "original"]  # what file_count/total_bytes count, as in /aips
        receivable = (len(originals), sum(f.size for f in originals))
        return AipDetail(**_summary(aip, receivable), previous_version=aip.previous_version,
                         access_basis=None if who.role == "reader" else aip.access_basis,
                         bag_info=_bag_info(who, aip), files=files, withheld_count=withheld)

    @app.post("/aips/{aip_id}/dips", status_code=201, response_model=DipOut, tags=["dips"],
              responses=_responses(400, 401, 404, 422, 503))
    def request_dip(who: Who, aip_id: Annotated[str, PathParam(max_length=64)], body: DipRequest,
                    request: Request) -> JSONResponse:
        """Build a DIP now, within the requester's rights, and record who asked and why (PREMIS event)."""
        aip = catalog.get_aip(aip_id)
        if aip is None or not _visible(who, aip, _today()):
            raise _not_found(aip_id, who)
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
                               out_dir=dips_dir, files=body.files or None, request_id=body.request_id)
        except DipError:
            log.exception("DIP for %s failed", aip.id)
            raise ApiError(503, "No verified stored copy of a requested file is available right now; the AIP was "
                                "audited and the damage recorded. Try again later or tell the archive.",
                           "Hiện không có bản sao hợp lệ của tài liệu được yêu cầu; gói đã được kiểm tra và "
                           "ghi nhận hư hỏng. Hãy thử lại sau hoặc báo cho cơ quan lưu trữ.") from None
        dip_name = result.directory.name
        record: dict[str, Any] = {"dip_id": result.dip_id, "dip_name": dip_name, "aip_id": aip.id,
                                  "requester": who.name, "requester_token": who.token_id,
                                  "role": who.role, "purpose": body.purpose,
                                  "request_id": body.request_id, "created_at": datetime.now(UTC).isoformat()}
        _write_sidecar(result.zip_path.with_suffix(".json"), record)
        url = str(request.url_for("download_dip", dip_name=dip_name))
        out = DipOut(**record, delivered=[DeliveredFile(**d) for d in result.delivered],
                     withheld_count=result.withheld_count, repaired=result.repaired, download_url=url)
        return JSONResponse(out.model_dump(mode="json", by_alias=True), status_code=201, headers={"Location": url})

    @app.get("/dips/{dip_name}/download", response_class=FileResponse, tags=["dips"],
             responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
                              "description": "The DIP as a zip"}, **_responses(401, 403, 404)})
    def download_dip(who: Who, dip_name: str) -> FileResponse:
        """The zip, only to whoever requested it (or an administrator)."""
        missing = ApiError(404, "No such DIP. Use the download_url returned by POST /aips/{aip_id}/dips.",
                           "Không có gói DIP này. Dùng download_url do POST /aips/{aip_id}/dips trả về.")
        if not DIP_NAME.fullmatch(dip_name):
            raise missing
        base = dips_dir.resolve()
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
        return FileResponse(archive, media_type="application/zip", filename=archive.name)

    @app.get("/events", response_class=StreamingResponse, tags=["events"],
             responses={200: {"content": {"application/xml": {"schema": {"type": "string"}},
                                          "application/x-ndjson": {"schema": {"type": "string"}},
                                          "text/csv": {"schema": {"type": "string"}}},
                              "description": "PREMIS 3 XML, JSON lines or CSV, streamed"},
                        **_responses(401, 403, 404, 422)})
    def events(
        who: Staff,
        aip_id: Annotated[str | None, Query(max_length=64)] = None,
        since: Annotated[datetime | date | None, Query(description="From this ISO 8601 date/time (UTC if no offset)")
                         ] = None,
        until: Annotated[datetime | date | None, Query(description="Before this ISO 8601 date/time")] = None,
        agent: Annotated[str | None, Query(max_length=500, description="Agent identifier, e.g. a requester")] = None,
        fmt: Annotated[Literal["premis", "json", "csv"], Query(alias="format")] = "premis",
    ) -> StreamingResponse:
        """The PREMIS trail, streamed; archivists do not receive events of confidential AIPs."""
        start, end = _instant(since), _instant(until)
        today = _today()
        hidden = {a.id for a in catalog.list_aips() if not _visible(who, a, today)}
        if aip_id is not None and (aip_id in hidden or not catalog.has_events(aip_id)):
            raise ApiError(404, f"No events for AIP {aip_id} that your role may see. Check the id with GET /aips.",
                           f"Không có sự kiện nào của gói AIP {aip_id} mà vai trò của bạn được xem. "
                           "Kiểm tra mã bằng GET /aips.")
        aip_ids = None if aip_id else [
            i for i in catalog.event_aip_ids(since=start, until=end, agent=agent) if i not in hidden]

        def produce(out: TextIO) -> None:
            rows = catalog.iter_events(aip_id=aip_id, since=start, until=end, agent=agent)
            if hidden:
                rows = (e for e in rows if e.aip_id not in hidden)
            export_events(catalog, aip_id, rows, fmt, out, aip_ids=aip_ids)

        media, suffix = EXPORT_MEDIA[fmt]
        return StreamingResponse(_stream_text(produce), media_type=media,
                                 headers={"Content-Disposition": f'attachment; filename="kho-events.{suffix}"'})

    return app


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


def serve(settings: Settings | None = None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """``kho serve``: the API under uvicorn (put TLS in front of it; tokens travel in a header)."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, server_header=False, log_level="info")

"""Who is asking: bearer tokens from configuration, the requester they name, and the guard on request bodies.

A requester is known only by a bearer token from configuration (``KHO_API_TOKENS`` or ``$KHO_HOME/api-tokens.toml``),
which maps to a name and a role of ``packages.access``. Tokens are compared in constant time and never logged;
``token_id`` (a digest) is what gets stored, e.g. as the owner of a DIP.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from packages.access import ROLES
from preservation.api.errors import ApiError, error_response
from preservation.config import ConfigError, Settings

log = logging.getLogger("kho.api")

TOKENS_ENV = "KHO_API_TOKENS"
TOKENS_FILE = "api-tokens.toml"

Tokens = dict[str, tuple[str, str]]  # token -> (requester name, role)


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


def check_entry(where: str, name: str, role: str) -> tuple[str, str]:
    """A token's (name, role), refused with a ``ConfigError`` naming ``where`` (never the token) when unusable."""
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
        tokens[token.strip()] = check_entry(where, name.strip(), role.strip().lower())
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
        tokens[token.strip()] = check_entry(where, str(entry.get("name", "")).strip(),
                                             str(entry.get("role", "")).strip().lower())
    return tokens


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

    def __init__(self, app: Any, tokens: Tokens, max_bytes: int, open_prefixes: tuple[str, ...] = (),
                 open_max_bytes: int = 16 * 1024) -> None:
        self.app, self.tokens, self.max_bytes = app, tokens, max_bytes
        # paths whose forms are posted without a token (the reading room): only small bodies, read by the route
        self.open_prefixes, self.open_max_bytes = open_prefixes, open_max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if self.open_prefixes and scope["path"].startswith(self.open_prefixes):
            try:
                declared = int(headers.get(b"content-length", b"0") or 0)
            except ValueError:
                declared = 0
            if declared > self.open_max_bytes:
                await error_response(413, f"A form is at most {self.open_max_bytes} bytes.",
                                     f"Biểu mẫu tối đa {self.open_max_bytes} byte.")(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the route reads at most open_max_bytes (reading_room.render)
            return
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or find_requester(self.tokens, presented.strip() or None) is None:
            await error_response(401, *UNAUTHORISED, headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        too_large = error_response(
            413, f"The request body is larger than {self.max_bytes} bytes (KHO_API_MAX_BODY_BYTES).",
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


# the dependencies of the routes: the requester of a valid token (else 401), and one who is staff (else 403)
Who = Annotated[Requester, Depends(_requester)]


def _staff(who: Who) -> Requester:
    if who.role not in ("archivist", "administrator"):
        raise ApiError(403, f"The event trail is for archivists and administrators; your role is {who.role}. "
                            "Ask the archive for an audit extract.",
                       f"Nhật ký sự kiện chỉ dành cho lưu trữ viên và quản trị viên; vai trò của bạn là "
                       f"{who.role}. Hãy đề nghị cơ quan lưu trữ cung cấp bản trích.")
    return who


Staff = Annotated[Requester, Depends(_staff)]

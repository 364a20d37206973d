"""The reading room's guards: CSRF tokens on every form, archivists' sessions, and the page headers.

- **CSRF** (double submit, signed): a random ``kho_csrf`` cookie (HttpOnly, SameSite=Strict) and, in every
  form, ``HMAC(key, cookie)``. A POST is accepted only when the form's value is the MAC of the cookie it
  came with, and, when the browser sends ``Origin``, from this very host. Another site can neither read the
  cookie nor compute the MAC, and a Strict cookie is not even sent with its cross-site POSTs.
- **Sessions**: an archivist logs in with their API token (identity by token, never by name). The session
  cookie holds the token's id (a digest, never the token), an expiry and a MAC; each request maps the id
  back to a configured token, so a token removed from configuration ends its sessions at once.
- **Headers**: a Content-Security-Policy that allows only this server's own styles and no script at all,
  no framing, no referrer to other sites.

Both MACs use the reading room's own key (``$KHO_HOME/reading-room.key``, 0600, made on first use).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from preservation.api.auth import Requester, Tokens, token_id
from preservation.oai.tokens import load_key

KEY_FILE = "reading-room.key"
CSRF_COOKIE = "kho_csrf"
SESSION_COOKIE = "kho_session"
LANG_COOKIE = "kho_lang"
SESSION_SECONDS = 8 * 3600  # a working day
PATH = "/reading-room"
STAFF_ROLES = ("archivist", "administrator")

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def key(home: Path) -> bytes:
    return load_key(home, KEY_FILE)


def _mac(secret: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# -- CSRF ----------------------------------------------------------------------------------------


def csrf_cookie(request: Request) -> tuple[str, bool]:
    """The visitor's CSRF cookie value, and whether it is new (then the response must set it)."""
    value = request.cookies.get(CSRF_COOKIE, "")
    if len(value) == 43 and value.replace("-", "").replace("_", "").isalnum():
        return value, False
    return secrets.token_urlsafe(32), True


def csrf_token(secret: bytes, cookie: str) -> str:
    """What a form carries for the visitor whose CSRF cookie is ``cookie``."""
    return _mac(secret, "csrf", cookie)


def csrf_ok(request: Request, secret: bytes, submitted: str) -> bool:
    """Whether a POST carries the MAC of its own CSRF cookie and, if the browser says where it comes from,
    comes from this host."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        return False
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(csrf_token(secret, cookie), submitted)


def set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    """A cookie the page's scripts cannot read (there are none) and other sites never send."""
    response.set_cookie(name, value, max_age=max_age, path=PATH, httponly=True, samesite="strict",
                        secure=False)  # TLS is put in front of kho serve; a Secure cookie would not survive http


# -- archivists' sessions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    requester: Requester
    expires: int


def session_value(secret: bytes, requester: Requester, now: float | None = None) -> str:
    expires = int(now if now is not None else time.time()) + SESSION_SECONDS
    body = f"{requester.token_id}.{expires}"
    return f"{body}.{_mac(secret, 'session', body)}"


def session_of(request: Request, secret: bytes, tokens: Tokens, now: float | None = None) -> Session | None:
    """The archivist's session of this request, or None (no cookie, forged, expired, the token withdrawn, or
    its role no longer staff)."""
    value = request.cookies.get(SESSION_COOKIE, "")
    body, _, mac = value.rpartition(".")
    ident, _, expires = body.partition(".")
    if not mac or not hmac.compare_digest(_mac(secret, "session", body), mac) or not expires.isdigit():
        return None
    if int(expires) < (now if now is not None else time.time()):
        return None
    for token, (name, role) in tokens.items():
        if hmac.compare_digest(token_id(token), ident) and role in STAFF_ROLES:
            return Session(Requester(name, role, ident), int(expires))
    return None


def secure(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers[name] = value
    return response

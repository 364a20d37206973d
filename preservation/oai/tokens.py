"""Resumption tokens that carry their own state, so they survive a restart of the server.

A token is the list request itself (verb, metadataPrefix, set, from, until), the last identifier
delivered and the cursor, as JSON, signed with HMAC-SHA256 and written in base64url. Nothing is kept on the
server but the key (``$KHO_HOME/oai-token.key``, made on first use, mode 0600): a restarted server, or a
second one over the same catalog, resumes any list it was handed. The signature stops a harvester from
forging a query (a token is not an argument it may pass otherwise, e.g. a cursor into another list);
the next page is "the records after this identifier", so records added or removed during a harvest
neither repeat nor shift the ones that follow.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

KEY_FILE = "oai-token.key"
KEY_BYTES = 32
VERSION = 1


class BadToken(ValueError):
    """Not a token this repository issued (or issued for another request)."""


@dataclass(frozen=True)
class ListState:
    """Where a list request stands: its arguments, the last identifier delivered, how many were."""

    verb: str
    prefix: str | None
    set: str | None
    from_: str | None
    until: str | None
    after: str
    cursor: int


def load_key(home: Path, name: str = KEY_FILE) -> bytes:
    """The signing key ``home/name``, created (0600, never overwritten) the first time one is needed (the
    reading room keeps its own, ``reading-room.key``: one secret one purpose)."""
    path = home / name
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        home.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            key = path.read_bytes()
        else:
            key = secrets.token_bytes(KEY_BYTES)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(key)
                handle.flush()
                os.fsync(handle.fileno())
    if len(key) < KEY_BYTES:
        raise RuntimeError(f"{path} holds {len(key)} bytes, not a {KEY_BYTES}-byte key; remove it to make a new one "
                           f"/ khóa ký không hợp lệ, xóa tệp để tạo khóa mới")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, b"kho-oai-token\x00" + body, hashlib.sha256).digest()


def encode(key: bytes, state: ListState) -> str:
    body = json.dumps({"v": VERSION, **asdict(state)}, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return f"{_b64(body)}.{_b64(_mac(key, body))}"


def decode(key: bytes, token: str, verb: str) -> ListState:
    """The state in ``token``, refused (``BadToken``) unless this repository signed it for ``verb``."""
    body_text, dot, mac_text = token.partition(".")
    if not dot or len(token) > 4096:
        raise BadToken("malformed")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (binascii.Error, ValueError) as exc:
        raise BadToken("not base64url") from exc
    if not hmac.compare_digest(mac, _mac(key, body)):
        raise BadToken("bad signature")
    try:
        data = json.loads(body)
        if data.pop("v") != VERSION:
            raise BadToken("another version")
        state = ListState(**data)
    except (ValueError, TypeError, KeyError) as exc:
        raise BadToken("unreadable") from exc
    if state.verb != verb or not isinstance(state.cursor, int) or state.cursor < 0:
        raise BadToken("issued for another request")
    return state

"""The reading room's sessions, CSRF tokens and request slips, without a browser."""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.requests import Request

from preservation import access_requests
from preservation.api.auth import Requester, token_id
from preservation.catalog import Catalog
from preservation.reading_room import security
from tests.helpers import pg_schema

TOKEN = "archivist-token-0123456789"
TOKENS = {TOKEN: ("Lan", "archivist"), "reader-token-0123456789abc": ("Đọc", "reader")}
SECRET = b"k" * 32


def _request(cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Request:
    raw = [(b"host", b"127.0.0.1:8000")]
    if cookies:
        raw.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()))
    raw.extend((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())
    return Request({"type": "http", "method": "POST", "path": "/reading-room/request", "headers": raw,
                    "query_string": b""})


def test_a_session_names_its_token_and_ends_when_expired_forged_withdrawn_or_not_staff() -> None:
    archivist = Requester("Lan", "archivist", token_id(TOKEN))
    value = security.session_value(SECRET, archivist, now=1000)
    assert TOKEN not in value  # the cookie holds the token's digest, never the token
    found = security.session_of(_request({security.SESSION_COOKIE: value}), SECRET, TOKENS, now=2000)
    assert found is not None and found.requester == archivist
    assert security.session_of(_request({security.SESSION_COOKIE: value}), SECRET, TOKENS,
                               now=1000 + security.SESSION_SECONDS + 1) is None
    assert security.session_of(_request({security.SESSION_COOKIE: value}), b"x" * 32, TOKENS, now=2000) is None
    ident, expires, mac = value.split(".")
    longer = f"{ident}.{int(expires) + 10**6}.{mac}"  # a later expiry with the old MAC
    assert security.session_of(_request({security.SESSION_COOKIE: longer}), SECRET, TOKENS, now=2000) is None
    assert security.session_of(_request({security.SESSION_COOKIE: value}), SECRET, {}, now=2000) is None
    reader = Requester("Đọc", "reader", token_id("reader-token-0123456789abc"))
    as_reader = security.session_value(SECRET, reader, now=1000)
    assert security.session_of(_request({security.SESSION_COOKIE: as_reader}), SECRET, TOKENS, now=2000) is None
    assert security.session_of(_request({security.SESSION_COOKIE: "garbage"}), SECRET, TOKENS, now=2000) is None


def test_csrf_needs_the_mac_of_the_visitor_s_own_cookie_and_this_host() -> None:
    cookie = "A" * 43
    token = security.csrf_token(SECRET, cookie)
    assert security.csrf_ok(_request({security.CSRF_COOKIE: cookie}), SECRET, token)
    assert security.csrf_ok(_request({security.CSRF_COOKIE: cookie}, {"Origin": "http://127.0.0.1:8000"}), SECRET,
                            token)
    assert not security.csrf_ok(_request({security.CSRF_COOKIE: cookie}, {"Origin": "http://evil.example"}), SECRET,
                                token)
    assert not security.csrf_ok(_request({security.CSRF_COOKIE: "B" * 43}), SECRET, token)
    assert not security.csrf_ok(_request(), SECRET, token)
    assert not security.csrf_ok(_request({security.CSRF_COOKIE: cookie}), SECRET, "")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    """The slips on both catalog engines (migration 0011 on each)."""
    with contextlib.ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'catalog.db'}" if request.param == "sqlite"
               else stack.enter_context(pg_schema("kho_requests")))
        opened = Catalog(url)
        yield opened
        opened.close()


def test_a_slip_is_stored_nfc_without_control_characters_and_decided_once(catalog: Catalog) -> None:
    decomposed = unicodedata.normalize("NFD", "Trần Thị Mai")
    saved = access_requests.submit(catalog, access_requests.NewRequest(
        requester=f"  {decomposed}\x00 ", contact="mai@example.vn", purpose="Nghiên cứu\nlịch sử\x07",
        documents="Bản đồ"))
    assert saved.requester == "Trần Thị Mai" and saved.purpose == "Nghiên cứu\nlịch sử"
    assert saved.number.startswith("YC-") and access_requests.exists(catalog, saved.number)
    total, waiting = access_requests.pending(catalog)
    assert total == 1 and waiting[0].number == saved.number
    decided = access_requests.decide(catalog, saved.number, "refused", "t" * 32)
    assert decided.status == "refused" and access_requests.pending(catalog)[0] == 0
    with pytest.raises(access_requests.RequestError, match="already refused"):
        access_requests.decide(catalog, saved.number, "approved", "t" * 32)


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("purpose", "   ", "required"), ("contact", "", "required"), ("documents", "x" * 2001, "at most 2000"),
    ("requester", "\x01\x02", "required"),
])
def test_a_slip_missing_or_too_long_is_refused_naming_the_field(catalog: Catalog, field: str, value: str,
                                                               reason: str) -> None:
    values = {"requester": "A", "contact": "a@example.vn", "purpose": "p", "documents": "d", field: value}
    with pytest.raises(access_requests.RequestError, match=reason) as raised:
        access_requests.submit(catalog, access_requests.NewRequest(**values))
    assert raised.value.field == field
    assert access_requests.pending(catalog)[0] == 0

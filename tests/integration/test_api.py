"""The HTTP API (#6) against real ingested AIPs: tokens and roles, access regimes, DIPs, events export.

The three AIPs are ingested once per module (as the ``kho_home`` fixture does, at module scope) to keep
the suite fast; tests that make DIPs only add, so they do not depend on each other's order.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import etree

from preservation.api import create_app, load_tokens
from preservation.config import ConfigError, load_settings
from preservation.export import CSV_COLUMNS
from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.helpers import premis_schema, rewrite_manifest

MAI = "reader-mai-7f3a9c2e5b1d4a6f0e8c"
HUNG = "reader-hung-2b8e4d1c9a7f3e5d6a1b"
BINH = "archivist-binh-5c1e9a3f7d2b8e4a9"
ADMIN = "admin-quan-9d4b2f8a1e6c3a7b5d2e"
TOKENS = {
    MAI: ("Nguyễn Thị Mai", "reader"),
    HUNG: ("Lê Văn Hùng", "reader"),
    BINH: ("Trần Văn Bình", "archivist"),
    ADMIN: ("Phạm Quản Trị", "administrator"),
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Archive:
    home: Path
    public: str  # hoso-2024-ubnd-01, mode 01; Ghi chú.txt confidential, Danh mục.xml embargoed
    restricted: str  # hoso-2023-sotnmt-02, mode 02
    confidential: str  # a changed copy of hoso-2023-sotnmt-02 with mode 03
    app: FastAPI
    client: TestClient


def _ingest(path: Path) -> str:
    return str(json.loads(run_kho("ingest", str(path), "--json", check=True).stdout)["aip_id"])


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    base = tmp_path_factory.mktemp("api")
    home = base / "kho-home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KHO_HOME", str(home))
        for name in ("KHO_STORAGE", "KHO_DATABASE_URL", "KHO_INGEST_DIR", "KHO_DUPLICATES", "KHO_DIGESTS",
                     "KHO_FAULT", "KHO_API_TOKENS"):
            patch.delenv(name, raising=False)
        public = shutil.copytree(FIXTURE_SIPS / "hoso-2024-ubnd-01", base / "sips" / "hoso-2024-ubnd-01")
        (public / "access-rules.csv").write_text(
            "path,mode,embargo_until,basis\n"
            "data/Ghi chú.txt,03,,Luật Bảo vệ bí mật nhà nước 2018\n"
            "data/Danh mục.xml,01,01/01/2999,embargo của cơ quan nộp lưu\n", encoding="utf-8")
        rewrite_manifest(public)
        secret = shutil.copytree(FIXTURE_SIPS / "hoso-2023-sotnmt-02", base / "sips" / "hoso-2023-sotnmt-03")
        info = secret / "bag-info.txt"
        info.write_text(info.read_text(encoding="utf-8").replace("mode: 02", "mode: 03"), encoding="utf-8")
        note = next((secret / "data").rglob("*.txt"))
        note.write_text(note.read_text(encoding="utf-8") + "\nBản mật.\n", encoding="utf-8")
        rewrite_manifest(secret)
        public_id, restricted_id, secret_id = (
            _ingest(public), _ingest(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), _ingest(secret))
        app = create_app(load_settings({"KHO_HOME": str(home)}), tokens=TOKENS)
        with TestClient(app) as client:
            yield Archive(home, public_id, restricted_id, secret_id, app, client)


def assert_error(response: Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] and body["error_vi"], body
    assert "Traceback" not in response.text
    return dict(body)


# -- auth -----------------------------------------------------------------------------------------


def test_health_needs_no_token(archive: Archive) -> None:
    response = archive.client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": f"Basic {MAI}"},
    {"Authorization": "Bearer not-a-configured-token"},
    {"Authorization": f"Bearer {MAI}x"},
    {"Authorization": f"Bearer {MAI[:-1]}"},
    {"Authorization": "Bearer"},
])
def test_missing_or_unknown_token_is_401(archive: Archive, headers: dict[str, str],
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for path in ("/aips", f"/aips/{archive.public}", "/events"):
        response = archive.client.get(path, headers=headers)
        body = assert_error(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in body["error"]
        assert MAI[:12] not in response.text
    assert not any(token in caplog.text for token in TOKENS)


def test_reader_may_not_export_events_403(archive: Archive) -> None:
    body = assert_error(archive.client.get("/events", headers=auth(MAI)), 403)
    assert "archivist" in body["error"] and "reader" in body["error"]


# -- visibility -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "expected"), [
    (MAI, {"public"}),
    (BINH, {"public", "restricted"}),
    (ADMIN, {"public", "restricted", "confidential"}),
])
def test_aip_list_follows_the_access_regime(archive: Archive, token: str, expected: set[str]) -> None:
    ids = {"public": archive.public, "restricted": archive.restricted, "confidential": archive.confidential}
    page = archive.client.get("/aips", headers=auth(token)).json()
    assert {item["aip_id"] for item in page["items"]} == {ids[name] for name in expected}
    assert page["total"] == len(expected)
    assert {item["access_mode"] for item in page["items"]} == expected


def test_aip_detail_withholds_files_and_personal_data_by_role(archive: Archive) -> None:
    reader = archive.client.get(f"/aips/{archive.public}", headers=auth(MAI)).json()
    assert reader["title"] == "Hồ sơ về việc khánh thành cầu Cửa Hội" and reader["access_mode"] == "public"
    assert reader["withheld_count"] == 2 and "withheld" not in reader
    assert "Ghi chú" not in json.dumps(reader, ensure_ascii=False), "withheld files are counted, never named"
    assert "Bảo vệ bí mật" not in json.dumps(reader, ensure_ascii=False)
    shown = {f["path"] for f in reader["files"]}
    assert "representations/rep-02/data/Tờ trình.pdf" in shown and not any("Ghi chú" in p for p in shown)
    assert {"path", "role", "puid", "mime", "size", "sha256"} <= set(reader["files"][0])
    assert "Contact-Name" not in reader["bag_info"] and reader["access_basis"] is None
    assert reader["bag_info"]["Source-Organization"] == "Ủy ban nhân dân tỉnh Hà Tĩnh"

    archivist = archive.client.get(f"/aips/{archive.public}", headers=auth(BINH)).json()
    assert archivist["withheld_count"] == 1 and "Ghi chú" not in json.dumps(archivist, ensure_ascii=False)
    assert archivist["bag_info"]["Contact-Name"] == "Nguyễn Văn An"
    admin = archive.client.get(f"/aips/{archive.public}", headers=auth(ADMIN)).json()
    assert admin["withheld_count"] == 0 and len(admin["files"]) == len(reader["files"]) + 2

    restricted = archive.client.get(f"/aips/{archive.restricted}", headers=auth(BINH)).json()
    assert restricted["access_mode"] == "restricted" and restricted["withheld_count"] == 0


def test_sizes_count_only_the_originals_the_role_may_receive(archive: Archive) -> None:
    """A reader is withheld a confidential and an embargoed file of the public dossier: neither is in the
    reader's file_count or total_bytes (in the detail and in the list), so their sizes cannot be worked out."""
    sizes = {}
    for token in (MAI, BINH, ADMIN):
        detail = archive.client.get(f"/aips/{archive.public}", headers=auth(token)).json()
        originals = [f for f in detail["files"] if f["role"] == "original"]
        assert (detail["file_count"], detail["total_bytes"]) == (len(originals), sum(f["size"] for f in originals))
        [item] = [i for i in archive.client.get("/aips", headers=auth(token)).json()["items"]
                  if i["aip_id"] == archive.public]
        assert (item["file_count"], item["total_bytes"]) == (detail["file_count"], detail["total_bytes"])
        sizes[token] = {f["path"]: f["size"] for f in originals}
    withheld_from_reader = set(sizes[ADMIN]) - set(sizes[MAI])
    assert len(withheld_from_reader) == 2 and len(set(sizes[ADMIN]) - set(sizes[BINH])) == 1


@pytest.mark.parametrize(("token", "which"), [(MAI, "restricted"), (MAI, "confidential"), (BINH, "confidential"),
                                              (ADMIN, "unknown")])
def test_invisible_or_unknown_aip_is_404(archive: Archive, token: str, which: str) -> None:
    aip_id = {"restricted": archive.restricted, "confidential": archive.confidential,
              "unknown": "00000000-0000-0000-0000-000000000000"}[which]
    body = assert_error(archive.client.get(f"/aips/{aip_id}", headers=auth(token)), 404)
    assert aip_id in body["error"] and "GET /aips" in body["error"]
    assert "sông Lam" not in body["error"]


def test_search_by_vietnamese_words(archive: Archive) -> None:
    def found(q: str, token: str = MAI, **params: int) -> list[str]:
        response = archive.client.get("/aips", params={"q": q, **params}, headers=auth(token))
        assert response.status_code == 200, response.text
        return [item["aip_id"] for item in response.json()["items"]]

    assert found("khánh thành") == [archive.public]
    assert found(unicodedata.normalize("NFD", "KHÁNH THÀNH")) == [archive.public]  # decomposed, upper case
    assert found("cầu khánh") == [archive.public]  # every word, anywhere
    assert found("Hà Tĩnh") == [archive.public]  # a bag-info value
    assert found("khánh thành sông") == []
    assert found("sông Lam") == []  # restricted: not for readers
    assert found("sông Lam", BINH) == [archive.restricted]
    assert set(found("sông Lam", ADMIN)) == {archive.restricted, archive.confidential}
    # Contact-Name is hidden from readers, so it never matches; as a phrase, because the three words occur
    # apart in the restricted dossier's text ("TAI NGUYEN", "Cong van", "NGHE AN"), which an archivist searches
    assert found('"Nguyễn Văn An"') == []
    assert found('"Nguyễn Văn An"', BINH) == [archive.public]
    assert found("Nguyễn Văn An", BINH) == [archive.public, archive.restricted]
    assert found("Hồ sơ", ADMIN, limit=1, offset=1) == [archive.restricted]
    assert_error(archive.client.get("/aips", params={"limit": 0}, headers=auth(MAI)), 422)


# -- DIPs -----------------------------------------------------------------------------------------


def test_dip_request_download_and_ownership(archive: Archive) -> None:
    response = archive.client.post(f"/aips/{archive.public}/dips", headers=auth(MAI),
                                   json={"purpose": "01 nghiên cứu", "request_id": "PĐK-2025-17"})
    assert response.status_code == 201, response.text
    dip = response.json()
    assert dip["requester"] == "Nguyễn Thị Mai" and dip["role"] == "reader"
    assert response.headers["location"] == dip["download_url"]
    assert dip["withheld_count"] == 2 and "Ghi chú" not in response.text and "Danh mục.xml" not in response.text
    assert str(archive.home) not in response.text, "no server paths in the answer"
    name = dip["dip_name"]
    assert dip["download_url"].endswith(f"/dips/{name}/download")

    download = archive.client.get(dip["download_url"], headers=auth(MAI))
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert f"{name}/representations/access/data/Tờ trình.pdf" in names and f"{name}/METS.xml" in names
    assert not any("Ghi chú" in n or n.endswith(".json") for n in names), "sidecar stays outside the zip"
    sidecar = json.loads((archive.home / "dips" / f"{name}.json").read_text(encoding="utf-8"))
    assert sidecar["requester"] == "Nguyễn Thị Mai" and sidecar["purpose"] == "01 nghiên cứu"

    body = assert_error(archive.client.get(dip["download_url"], headers=auth(HUNG)), 403)
    assert "another requester" in body["error"]
    assert_error(archive.client.get(dip["download_url"], headers=auth(BINH)), 403)
    assert archive.client.get(dip["download_url"], headers=auth(ADMIN)).content == download.content

    selected = archive.client.post(f"/aips/{archive.public}/dips", headers=auth(BINH),
                                   json={"purpose": "kiểm tra", "files": ["data/ảnh/Lễ khánh thành.jpg"]}).json()
    assert [d["path"] for d in selected["delivered"]] == ["representations/access/data/ảnh/Lễ khánh thành.jpg"]


def test_a_dip_belongs_to_the_token_that_asked_not_to_a_display_name(archive: Archive) -> None:
    """The finding: a second reader token with the same display name downloaded the first reader's DIP."""
    twin = "reader-mai-twin-0e1d2c3b4a59687f"
    app = create_app(load_settings({"KHO_HOME": str(archive.home)}),
                     tokens={**TOKENS, twin: ("Nguyễn Thị Mai", "reader")})
    with TestClient(app) as client:
        dip = client.post(f"/aips/{archive.public}/dips", headers=auth(MAI), json={"purpose": "01"}).json()
        assert client.get(dip["download_url"], headers=auth(MAI)).status_code == 200
        body = assert_error(client.get(dip["download_url"], headers=auth(twin)), 403)
        assert "another requester" in body["error"]
        sidecar = (archive.home / "dips" / f"{dip['dip_name']}.json").read_text(encoding="utf-8")
        assert MAI not in sidecar and twin not in sidecar, "the token itself is never stored"


def test_bodies_are_refused_unread_without_a_token_or_over_the_limit(archive: Archive) -> None:
    url = f"/aips/{archive.public}/dips"
    big = b'{"purpose": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    assert_error(archive.client.post(url, content=big, headers={"Content-Type": "application/json"}), 401)
    assert_error(archive.client.post(url, content=big, headers={**auth(MAI), "Content-Type": "application/json"}),
                 413)
    chunked = archive.client.post(url, content=iter([big[:600_000], big[600_000:]]),
                                  headers={**auth(MAI), "Content-Type": "application/json"})
    assert_error(chunked, 413)
    small = archive.client.post(url, json={"purpose": "01"}, headers=auth(MAI))
    assert small.status_code == 201, small.text


@pytest.mark.anyio
async def test_the_guard_reads_nothing_before_authentication_and_stops_at_the_limit() -> None:
    """At the ASGI level, where memory is spent: an unauthenticated request's body is never received,
    and an authenticated one is received only until it passes the limit."""
    from preservation.api import BodyGuard

    reached: list[str] = []
    pulled = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}  # an endless body

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    guard = BodyGuard(app, TOKENS, max_bytes=10 * 1024)
    scope = {"type": "http", "method": "POST", "path": "/aips/x/dips", "headers": []}
    await guard(scope, receive, send)
    assert pulled == 0 and not reached and sent[0]["status"] == 401
    sent.clear()
    await guard({**scope, "headers": [(b"authorization", f"Bearer {MAI}".encode())]}, receive, send)
    assert pulled == 11 and not reached and sent[0]["status"] == 413


@pytest.mark.parametrize(("token", "target", "body", "status"), [
    (MAI, "unknown", {"purpose": "x"}, 404),
    (MAI, "restricted", {"purpose": "x"}, 404),
    (BINH, "confidential", {"purpose": "x"}, 404),
    (MAI, "public", {"purpose": "x", "files": ["data/none.pdf"]}, 422),
    (MAI, "public", {"purpose": "   "}, 422),
    (MAI, "public", {"purpose": "a\x00b"}, 422),
    (MAI, "public", {}, 422),
    (None, "public", {"purpose": "x"}, 401),
])
def test_dip_request_errors(archive: Archive, token: str | None, target: str, body: dict[str, Any],
                            status: int) -> None:
    aip_id = {"public": archive.public, "restricted": archive.restricted, "confidential": archive.confidential,
              "unknown": "no-such-aip"}[target]
    before = set((archive.home / "dips").glob("DIP-*.zip")) if (archive.home / "dips").is_dir() else set()
    error = assert_error(archive.client.post(f"/aips/{aip_id}/dips", json=body,
                                             headers=auth(token) if token else {}), status)
    if status == 422 and "files" in body:
        assert "data/none.pdf" in error["error"]
    after = set((archive.home / "dips").glob("DIP-*.zip")) if (archive.home / "dips").is_dir() else set()
    assert after == before, "a refused request makes no DIP"


@pytest.mark.parametrize("name", [
    "..", "...", "../catalog.sqlite", "..%2Fcatalog.sqlite", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "DIP-x-1%2F..%2F..%2Fcatalog.sqlite", "DIP-..-1", "DIP-%00-1", "%2Fetc%2Fpasswd", "catalog.sqlite",
    "DIP-00000000-0000-0000-0000-000000000000-1", "DIP-outside-1", "DIP-link-1",
])
def test_dip_name_cannot_escape_the_dips_folder(archive: Archive, name: str) -> None:
    dips = archive.home / "dips"
    dips.mkdir(exist_ok=True)
    with zipfile.ZipFile(archive.home / "DIP-outside-1.zip", "w") as outside:
        outside.writestr("secret.txt", "not for download")
    link = dips / "DIP-link-1.zip"
    if not link.is_symlink():
        link.symlink_to(archive.home / "DIP-outside-1.zip")
    response = archive.client.get(f"/dips/{name}/download", headers=auth(ADMIN))
    assert response.status_code in (400, 404), response.text
    assert_error(response, response.status_code)


# -- events ---------------------------------------------------------------------------------------


def test_events_export_formats_filters_and_premis_validity(archive: Archive) -> None:
    archive.client.post(f"/aips/{archive.public}/dips", headers=auth(ADMIN), json={"purpose": "kiểm tra"})

    def get(token: str = BINH, **params: str) -> Any:
        return archive.client.get("/events", params=params, headers=auth(token))

    premis = get()
    assert premis.status_code == 200 and premis.headers["content-type"].startswith("application/xml")
    schema = premis_schema()
    document = etree.fromstring(premis.content)
    assert schema.validate(document), schema.error_log
    assert len(document.findall("{http://www.loc.gov/premis/v3}event")) > 10

    one = json_lines(get(aip_id=archive.public, format="json").text)
    assert one and {e["aip_id"] for e in one} == {archive.public}
    assert schema.validate(etree.fromstring(get(aip_id=archive.public).content))
    by_agent = json_lines(get(agent="Phạm Quản Trị", format="json").text)
    assert by_agent and {e["event_type"] for e in by_agent} == {"dissemination"}
    assert json_lines(get(since="2999-01-01", format="json").text) == []
    csv_text = get(format="csv", until="2999-01-01T00:00:00+07:00").text
    assert csv_text.splitlines()[0] == ",".join(CSV_COLUMNS) and len(csv_text.splitlines()) > 10

    assert_error(get(since="yesterday"), 422)
    assert_error(get(format="xml"), 422)
    assert_error(get(aip_id="00000000-0000-0000-0000-000000000000"), 404)


def test_events_of_confidential_aips_are_for_administrators_only(archive: Archive) -> None:
    def aip_ids(token: str) -> set[str]:
        return {str(e["aip_id"]) for e in json_lines(
            archive.client.get("/events", params={"format": "json"}, headers=auth(token)).text)}

    assert aip_ids(BINH) == {archive.public, archive.restricted}
    assert archive.confidential in aip_ids(ADMIN)
    assert_error(archive.client.get("/events", params={"aip_id": archive.confidential}, headers=auth(BINH)), 404)


# -- errors, OpenAPI, configuration -------------------------------------------------------------------


def test_internal_error_is_json_500_without_internals(archive: Archive, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> list[Any]:
        raise RuntimeError("database at /srv/secret/catalog.sqlite said password=hunter2")

    monkeypatch.setattr(archive.app.state.catalog, "list_aips", broken)
    client = TestClient(archive.app, raise_server_exceptions=False)
    response = client.get("/aips", headers=auth(MAI))
    body = assert_error(response, 500)
    assert body["incident"] and body["incident"] in body["error"]
    assert "hunter2" not in response.text and "/srv/secret" not in response.text and "RuntimeError" not in response.text
    assert body["incident"] in caplog.text and "hunter2" in caplog.text, "the details go to the server log"


def test_unknown_endpoint_and_wrong_method_are_json(archive: Archive) -> None:
    assert "/openapi.json" in assert_error(archive.client.get("/nowhere"), 404)["error"]
    assert_error(archive.client.delete(f"/aips/{archive.public}", headers=auth(ADMIN)), 405)
    assert_error(archive.client.post(f"/aips/{archive.public}/dips", content=b"{not json",
                                     headers={**auth(MAI), "Content-Type": "application/json"}), 422)


def test_openapi_documents_the_endpoints(archive: Archive) -> None:
    document = archive.client.get("/openapi.json").json()
    paths = document["paths"]
    assert {"/health", "/aips", "/aips/{aip_id}", "/aips/{aip_id}/dips", "/dips/{dip_name}/download",
            "/events"} <= set(paths)
    assert "201" in paths["/aips/{aip_id}/dips"]["post"]["responses"]
    assert {"401", "404", "422", "500"} <= set(paths["/aips/{aip_id}"]["get"]["responses"])
    assert "403" in paths["/events"]["get"]["responses"]
    assert "application/zip" in paths["/dips/{dip_name}/download"]["get"]["responses"]["200"]["content"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" not in paths["/health"]["get"]


def test_tokens_from_environment_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"KHO_API_TOKENS": " tok-aaaaaaaaaaaaaaaaaaaa=Nguyễn Văn A:reader , tok-bbb=Phòng: Lưu trữ:ARCHIVIST,"}
    assert load_tokens(tmp_path, env) == {"tok-aaaaaaaaaaaaaaaaaaaa": ("Nguyễn Văn A", "reader"),
                                          "tok-bbb": ("Phòng: Lưu trữ", "archivist")}
    (tmp_path / "api-tokens.toml").write_text(
        '[tokens]\n"tok-from-file-0123456789" = {name = "Trần Thị C", role = "administrator"}\n', encoding="utf-8")
    assert load_tokens(tmp_path, {}) == {"tok-from-file-0123456789": ("Trần Thị C", "administrator")}
    assert load_tokens(tmp_path, env)["tok-bbb"][1] == "archivist", "the environment wins over the file"
    for bad in ("secret-token-1", "secret-token-1=Nguyễn Văn A:superuser", "secret-token-1=:reader"):
        with pytest.raises(ConfigError) as problem:
            load_tokens(tmp_path, {"KHO_API_TOKENS": bad})
        assert "secret-token-1" not in str(problem.value)
    (tmp_path / "api-tokens.toml").write_text('[tokens]\n"secret-token-2" = {name = "D", role = "root"}\n',
                                              encoding="utf-8")
    with pytest.raises(ConfigError) as problem:
        load_tokens(tmp_path, {})
    assert "secret-token-2" not in str(problem.value) and "root" in str(problem.value)

    monkeypatch.setenv("KHO_API_TOKENS", "tok-env-0123456789abcdef=Lê Thị D:archivist")
    monkeypatch.setenv("KHO_HOME", str(tmp_path / "home"))
    app = create_app(load_settings())  # the process's environment, as `kho serve` loads it
    with TestClient(app) as client:
        assert client.get("/aips", headers=auth("tok-env-0123456789abcdef")).json()["total"] == 0
        assert_error(client.get("/aips", headers=auth("tok-from-file-0123456789")), 401)

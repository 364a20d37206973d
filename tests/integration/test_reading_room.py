"""The reading room, driven in a real browser (Debian's chromium through Playwright) against a real ``kho serve``.

The archive holds one real ingested TT 05 dossier (``fixtures/sips/tt05-hoso-json``: two public documents and
one in mode 02, "Bản đồ.tif") and 40 catalogued records of every regime (public, restricted, confidential,
embargoed; each with a contact person the public must never see), some flagged for review, due for hand-over
or past their retention. What a reader sees is compared with what the catalog rows say a reader may see, not
with what the reading room's own code computes; accessibility is judged by axe-core (the reference checker,
run in the page), and every request the browser makes must go to the server itself (the page works offline).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from preservation.catalog import Catalog
from preservation.config import load_settings
from preservation.disposal import review_list
from preservation.transfer import hand_over_list
from tests.conftest import BIN, run_kho
from tests.oai_fixtures import AGENCIES, CONTACT, aip_row, clean_env, free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARCHIVIST_TOKEN = "rr-archivist-0123456789abcdef"
READER_TOKEN = "rr-reader-0123456789abcdef0123"
ARCHIVIST = "Lê Thị Lan"
RECORDS = 40
SCREENSHOTS = ROOT / "docs" / "screenshots"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make install as root)"),
    pytest.mark.timeout(600),
]


@dataclass
class Room:
    home: Path
    base: str
    dossier: str  # the ingested dossier's AIP id
    public_titles: set[str] = field(default_factory=set)  # every record a reader may find
    hidden_titles: set[str] = field(default_factory=set)
    hidden_ids: set[str] = field(default_factory=set)
    by_agency: dict[str, int] = field(default_factory=dict)  # public records of each agency
    review_ids: list[str] = field(default_factory=list)
    due_ids: list[str] = field(default_factory=list)
    disposal_ids: list[str] = field(default_factory=list)
    disposed_id: str = ""


def _hidden_title(number: int) -> str:
    return f"Hồ sơ mật khánh thành số {number}"


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    home = tmp_path_factory.mktemp("reading-room") / "home"
    env = clean_env(home)
    run_kho("ingest", str(ROOT / "fixtures" / "sips" / "tt05-hoso-json"), env=env, check=True)
    catalog = Catalog(load_settings({"KHO_HOME": str(home)}).database_url)
    dossier = next(a for a in catalog.list_aips() if a.sip_name == "tt05-hoso-json")
    port = free_port()
    found = Room(home, f"http://127.0.0.1:{port}", dossier.id, public_titles={dossier.title or ""})
    found.by_agency[dossier.bag_info["Source-Organization"]] = 1
    rows = []
    for number in range(RECORDS):
        row, kind = aip_row(number)
        if kind != "public":  # a title a reader must never meet, whatever they search
            row.title = row.bag_info["title"] = _hidden_title(number)
            found.hidden_titles.add(row.title)
            found.hidden_ids.add(row.id)
        else:
            found.public_titles.add(row.title or "")
            agency = row.bag_info["Source-Organization"]
            found.by_agency[agency] = found.by_agency.get(agency, 0) + 1
        if number % 7 == 3:
            row.needs_review, row.review_reasons = True, [f"định dạng chưa xác định: tệp {number}.bin"]
            found.review_ids.append(row.id)
        if number == 4:  # public, then disposed of: a tombstone, never a record page or a search hit
            row.deleted_at, row.disposal = datetime(2026, 1, 5, tzinfo=UTC), {"decision": "QĐ 12/QĐ-LT"}
            found.public_titles.discard(row.title or "")
            found.by_agency[row.bag_info["Source-Organization"]] -= 1
            found.disposed_id = row.id
        if number % 5 == 0:  # permanent, in the archive since 2019: overdue for the historical archive (5 years)
            row.bag_info = {**row.bag_info, "maintenance": "01"}
            row.stored_at = row.created_at = row.stored_at.replace(year=2019)
        rows.append(row)
    with catalog.session() as session:
        session.add_all(rows)
    # what `kho transfer list` and `kho disposal list` say: the archivist's page must show the same
    found.due_ids = [d.aip_id for d in hand_over_list(catalog) if d.status in ("overdue", "due")]
    found.disposal_ids = [c.aip_id for c in review_list(catalog)]
    catalog.close()
    server = subprocess.Popen(
        [str(BIN / "kho"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=clean_env(home, KHO_API_TOKENS=f"{ARCHIVIST_TOKEN}={ARCHIVIST}:archivist,{READER_TOKEN}=Độc giả:reader",
                      KHO_PUBLIC_RATE_PER_SECOND="0"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{found.base}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("kho serve did not start") from None
                time.sleep(0.2)
        yield found
    finally:
        server.terminate()
        try:
            _out, errors = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            _out, errors = server.communicate()
        assert b"Traceback" not in errors, errors.decode("utf-8", "replace")[-3000:]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    # a short temporary folder of the browser's own: the one a test left in TMPDIR can be deep enough for
    # chromium's singleton socket path to pass the 108-byte limit of a Unix socket (chromium then aborts)
    scratch = tempfile.mkdtemp(prefix="kho-chromium-", dir="/tmp")
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = scratch  # the Playwright driver starts now and hands it to chromium
    try:
        with sync_playwright() as playwright:
            # Debian's chromium, never a downloaded one; --no-sandbox: CI runs as root
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                  args=["--no-sandbox"], env={**os.environ, "TMPDIR": scratch})
            yield launched
            launched.close()
    finally:
        if saved is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def visit(room: Room, browser: object) -> Iterator[object]:
    """A fresh browser context (no cookies) and its page; every URL the page asks for is checked at the end:
    the reading room must not need the internet."""
    context = browser.new_context(accept_downloads=True, locale="vi-VN")  # type: ignore[attr-defined]
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    yield page
    context.close()
    outside = [u for u in asked if urlsplit(u).netloc != urlsplit(room.base).netloc
               and not u.startswith(("data:", f"blob:{room.base}/"))]
    assert not outside, f"the page fetched from elsewhere: {outside}"


def _axe(page: object) -> list[str]:
    """axe-core's violations on the page (WCAG 2.x A/AA and best practices), as 'rule (impact): nodes'."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]]


def _all_hit_titles(page: object) -> list[str]:
    titles: list[str] = []
    while True:
        titles.extend(page.locator("a.hit-title").all_inner_texts())  # type: ignore[attr-defined]
        following = page.locator("a[rel=next]")  # type: ignore[attr-defined]
        if following.count() == 0:
            return titles
        following.click()


def test_a_reader_searches_without_accents_by_keyboard_and_finds_exactly_the_public_records(
        room: Room, visit: object) -> None:
    page = visit
    page.goto(f"{room.base}/")  # type: ignore[attr-defined]
    assert page.url.endswith("/reading-room")  # type: ignore[attr-defined]
    assert page.locator("html").get_attribute("lang") == "vi"  # type: ignore[attr-defined]
    page.keyboard.press("Tab")  # type: ignore[attr-defined]
    assert page.evaluate("document.activeElement.textContent") == "Bỏ qua đến nội dung chính"  # type: ignore[attr-defined]
    page.get_by_label("Tìm trong hồ sơ công khai").fill("khanh thanh")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"q=khanh"))  # type: ignore[attr-defined]
    assert page.locator("#results-heading").inner_text() == f"{len(room.public_titles)} hồ sơ"  # type: ignore[attr-defined]
    titles = _all_hit_titles(page)
    assert sorted(titles) == sorted(room.public_titles)
    for text in (CONTACT, "Ghi chú nội bộ", *room.hidden_titles):
        assert text not in page.content()  # type: ignore[attr-defined]
    # a hidden record's own words find nothing, and its page does not exist for a reader
    page.get_by_label("Tìm trong hồ sơ công khai").fill('"ho so mat"')  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"mat"))  # type: ignore[attr-defined]
    assert page.locator("#results-heading").inner_text() == "0 hồ sơ"  # type: ignore[attr-defined]
    hidden = sorted(room.hidden_ids)[0]
    response = page.goto(f"{room.base}/reading-room/records/{hidden}")  # type: ignore[attr-defined]
    assert response.status == 404
    assert page.goto(f"{room.base}/reading-room/records/{room.disposed_id}").status == 404  # type: ignore[attr-defined]
    assert _hidden_title(int(hidden.split("-")[0])) not in page.content()  # type: ignore[attr-defined]


def test_a_real_harvester_and_the_browser_see_the_same_public_records(room: Room, visit: object) -> None:
    """Issue #20's "done when": sickle over OAI-PMH and chromium in the reading room, on the same archive, each
    get exactly its public records."""
    from sickle import Sickle

    harvested = {record.metadata["title"][0] for record in Sickle(f"{room.base}/oai").ListRecords(
        metadataPrefix="oai_dc", ignore_deleted=True)}
    page = visit
    page.goto(f"{room.base}/reading-room")  # type: ignore[attr-defined]
    assert sorted(_all_hit_titles(page)) == sorted(harvested) == sorted(room.public_titles)


def test_facets_narrow_the_results_by_agency_and_year(room: Room, visit: object) -> None:
    page = visit
    page.goto(f"{room.base}/reading-room?q=khanh+thanh")  # type: ignore[attr-defined]
    agency = AGENCIES[1]
    facets = page.get_by_role("complementary")  # type: ignore[attr-defined]
    facets.get_by_role("link", name=agency, exact=True).click()
    page.wait_for_url(re.compile("agency"))  # type: ignore[attr-defined]
    assert page.locator("#results-heading").inner_text() == f"{room.by_agency[agency]} hồ sơ"  # type: ignore[attr-defined]
    assert page.get_by_label("Tìm trong hồ sơ công khai").input_value() == f'khanh thanh agency:"{agency}"'  # type: ignore[attr-defined]
    year_link = facets.get_by_role("link").filter(has_text=re.compile(r"^\d{4}$")).first
    year = year_link.inner_text()
    year_link.click()
    page.wait_for_url(re.compile("year"))  # type: ignore[attr-defined]
    titles = _all_hit_titles(page)
    assert titles, "a year facet that finds nothing"
    expected = {t for t in room.public_titles if t.startswith("Hồ sơ khánh thành công trình số ")
                and 2000 + int(t.rsplit(" ", 1)[1]) % 25 == int(year) and int(t.rsplit(" ", 1)[1]) % 3 == 1}
    assert set(titles) == expected


def test_the_record_page_shows_public_documents_counts_the_withheld_one_and_downloads_verified_copies(
        room: Room, visit: object) -> None:
    page = visit
    page.goto(f"{room.base}/reading-room/records/{room.dossier}")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Hồ sơ về việc khánh thành cầu Cửa Hội"  # type: ignore[attr-defined]
    rows = page.locator("table.documents tbody tr")  # type: ignore[attr-defined]
    assert rows.count() == 2
    content = page.content()  # type: ignore[attr-defined]
    assert "Bản đồ" not in content and "Nguyễn Văn An" not in content  # the mode-02 map; the contact person
    assert "1 tài liệu của hồ sơ này không công khai" in page.locator("#withheld").inner_text()  # type: ignore[attr-defined]
    catalog = Catalog(load_settings({"KHO_HOME": str(room.home)}).database_url)
    try:
        files = catalog.files(room.dossier)
    finally:
        catalog.close()
    original = next(f for f in files if f.role == "original" and f.original_path.endswith("Quyết định 123-QĐ-UBND.pdf"))
    copies = {f.sha256 for f in files if f.id == original.id or f.source_id == original.id}
    withheld = {f.sha256 for f in files if "Bản đồ" in f.original_path}
    with page.expect_download() as download_info:  # type: ignore[attr-defined]
        page.get_by_role("link", name=re.compile("Quyết định 123")).click()  # type: ignore[attr-defined]
    download = download_info.value
    assert download.suggested_filename.startswith("Quyết định 123-QĐ-UBND")
    data = Path(download.path()).read_bytes()
    assert hashlib.sha256(data).hexdigest() in copies
    # the withheld map cannot be fetched by its digest either (404, nothing of it in the answer)
    for sha in withheld:
        answer = httpx.get(f"{room.base}/reading-room/records/{room.dossier}/files/{sha}")
        assert answer.status_code == 404 and "Bản đồ" not in answer.text


def test_a_reader_asks_for_the_withheld_document_and_an_archivist_approves_it(room: Room, visit: object) -> None:
    page = visit
    page.goto(f"{room.base}/reading-room/records/{room.dossier}")  # type: ignore[attr-defined]
    page.get_by_role("link", name="Gửi phiếu yêu cầu đọc").last.click()  # type: ignore[attr-defined]
    page.get_by_label("Họ và tên").fill("Trần Thị Mai")  # type: ignore[attr-defined]
    page.get_by_label("Thư điện tử hoặc số điện thoại").fill("mai@example.vn")  # type: ignore[attr-defined]
    page.get_by_label("Mục đích sử dụng").fill("Nghiên cứu lịch sử giao thông Hà Tĩnh")  # type: ignore[attr-defined]
    page.get_by_label("Tài liệu cần đọc").fill("Bản đồ vị trí cầu")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Gửi yêu cầu").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/request/YC-"))  # type: ignore[attr-defined]
    number = page.url.rsplit("/", 1)[1]  # type: ignore[attr-defined]
    assert f"Đã nhận phiếu yêu cầu số {number}." in page.content()  # type: ignore[attr-defined]

    page.goto(f"{room.base}/reading-room/staff")  # type: ignore[attr-defined]
    assert page.url.endswith("/reading-room/staff/login")  # type: ignore[attr-defined]
    page.get_by_label("Mã truy cập").fill(READER_TOKEN)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Đăng nhập").click()  # type: ignore[attr-defined]
    assert "không thuộc lưu trữ viên" in page.content()  # type: ignore[attr-defined]
    page.get_by_label("Mã truy cập").fill(ARCHIVIST_TOKEN)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Đăng nhập").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/reading-room/staff$"))  # type: ignore[attr-defined]
    assert f"Đăng nhập: {ARCHIVIST} (archivist)" in page.content()  # type: ignore[attr-defined]
    requests = page.locator("section[aria-labelledby=requests-heading]")  # type: ignore[attr-defined]
    row = requests.locator("tr", has_text=number)
    assert "Trần Thị Mai" in row.inner_text() and "Bản đồ vị trí cầu" in row.inner_text()
    assert row.locator("td").nth(5).inner_text() == room.dossier
    review = page.locator("section[aria-labelledby=review-heading] tbody tr")  # type: ignore[attr-defined]
    assert sorted(review.locator("code").all_inner_texts()) == sorted(room.review_ids)
    due = page.locator("section[aria-labelledby=handover-heading] tbody tr code").all_inner_texts()  # type: ignore[attr-defined]
    assert due == room.due_ids and due
    disposal = page.locator("section[aria-labelledby=disposal-heading] tbody tr code").all_inner_texts()  # type: ignore[attr-defined]
    assert disposal == room.disposal_ids and disposal
    row.get_by_role("button", name=f"Chấp nhận {number}").click()
    page.wait_for_url(re.compile(r"done="))  # type: ignore[attr-defined]
    assert f"Phiếu {number}: đã chấp nhận." in page.content()  # type: ignore[attr-defined]
    assert requests.locator("tr", has_text=number).count() == 0
    # the approved slip was served as a DIP within the archivist's rights: the mode-02 map is in it
    with page.expect_download() as download_info:  # type: ignore[attr-defined]
        page.get_by_role("link", name=re.compile("Tải gói DIP")).click()  # type: ignore[attr-defined]
    with zipfile.ZipFile(download_info.value.path()) as dip:
        names = dip.namelist()
        assert any("Bản đồ" in n for n in names), names
        mets = next(n for n in names if n.endswith("METS.xml"))
        assert number in dip.read(mets).decode("utf-8")
    # the same DIP through the API, with the token the archivist logged in with; not with another's
    dip_name = Path(download_info.value.suggested_filename).stem
    api = httpx.get(f"{room.base}/dips/{dip_name}/download", headers={"Authorization": f"Bearer {ARCHIVIST_TOKEN}"})
    assert api.status_code == 200 and api.content == Path(download_info.value.path()).read_bytes()
    other = httpx.get(f"{room.base}/dips/{dip_name}/download", headers={"Authorization": f"Bearer {READER_TOKEN}"})
    assert other.status_code == 403
    page.get_by_role("button", name="Đăng xuất").click()  # type: ignore[attr-defined]
    page.goto(f"{room.base}/reading-room/staff")  # type: ignore[attr-defined]
    assert page.url.endswith("/staff/login")  # type: ignore[attr-defined]


def test_forms_refuse_posts_without_their_csrf_token_or_from_another_site(room: Room) -> None:
    with httpx.Client(base_url=room.base) as client:
        form = client.get("/reading-room/request")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None and "kho_csrf" in client.cookies
        slip = {"requester": "Phạm Văn Hùng", "organisation": "Trường Đại học Vinh", "contact": "hung@example.vn",
                "purpose": "Luận văn về giao thông Hà Tĩnh", "documents": "Các tờ trình năm 2024"}
        assert client.post("/reading-room/request", data={**slip, "csrf": "forged"}).status_code == 403
        assert client.post("/reading-room/request", data={**slip, "csrf": token.group(1)},
                           headers={"Origin": "http://evil.example"}).status_code == 403
        missing = client.post("/reading-room/request", data={**slip, "purpose": " ", "csrf": token.group(1)})
        assert missing.status_code == 422 and "bắt buộc" in missing.text
        assert client.post("/reading-room/request", data={**slip, "csrf": token.group(1)}).status_code == 303
        big = client.post("/reading-room/request", data={**slip, "documents": "x" * 20_000, "csrf": token.group(1)})
        assert big.status_code == 413
    with httpx.Client(base_url=room.base) as stranger:  # another visitor's token is not theirs
        stranger.get("/reading-room/request")
        assert stranger.post("/reading-room/request", data={**slip, "csrf": token.group(1)}).status_code == 403
        stranger.cookies.set("kho_session", "0" * 32 + ".9999999999.forged", path="/reading-room")
        assert stranger.get("/reading-room/staff", follow_redirects=False).status_code == 303
        # the API's own POSTs still need their token
        assert stranger.post(f"/aips/{room.dossier}/dips", json={"purpose": "x"}).status_code == 401


def test_every_page_passes_axe_and_english_is_available(room: Room, visit: object, tmp_path: Path) -> None:
    page = visit
    shots = SCREENSHOTS if os.environ.get("KHO_UPDATE_SCREENSHOTS") == "1" else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    pages = [("search", "/reading-room?q=khanh+thanh"), ("record", f"/reading-room/records/{room.dossier}"),
             ("request", f"/reading-room/request?record={room.dossier}"), ("login", "/reading-room/staff/login")]
    found: dict[str, list[str]] = {}
    for name, path in pages:
        page.goto(room.base + path)  # type: ignore[attr-defined]
        found[name] = _axe(page)
        page.screenshot(path=str(shots / f"reading-room-{name}.png"), full_page=True)  # type: ignore[attr-defined]
    page.get_by_label("Mã truy cập").fill(ARCHIVIST_TOKEN)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Đăng nhập").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/staff$"))  # type: ignore[attr-defined]
    found["staff"] = _axe(page)
    page.screenshot(path=str(shots / "reading-room-staff.png"), full_page=True)  # type: ignore[attr-defined]
    page.goto(f"{room.base}/reading-room?q=khanh+thanh")  # type: ignore[attr-defined]
    page.get_by_role("link", name="English").click()  # type: ignore[attr-defined]
    assert page.locator("html").get_attribute("lang") == "en"  # type: ignore[attr-defined]
    assert page.locator("#results-heading").inner_text() == f"{len(room.public_titles)} records"  # type: ignore[attr-defined]
    found["search-en"] = _axe(page)
    page.goto(f"{room.base}/reading-room/records/{room.dossier}")  # type: ignore[attr-defined]
    assert page.get_by_role("heading", name="Documents").count() == 1  # the choice is remembered  # type: ignore[attr-defined]
    assert {name: v for name, v in found.items() if v} == {}
    # the checker can fail: an image without a text alternative, added to this page, is reported
    page.evaluate("document.querySelector('main').appendChild(document.createElement('img'))")  # type: ignore[attr-defined]
    assert any(v.startswith("image-alt") for v in _axe(page))


def test_api_docs_render_from_the_server_alone(room: Room, visit: object) -> None:
    page = visit
    page.goto(f"{room.base}/docs")  # type: ignore[attr-defined]
    page.locator(".swagger-ui .info .title").wait_for(timeout=30_000)  # type: ignore[attr-defined]
    assert "Kho API" in page.locator(".swagger-ui .info .title").inner_text()  # type: ignore[attr-defined]
    assert page.locator(".opblock-summary-path").count() > 5  # type: ignore[attr-defined]


def test_the_public_pages_are_rate_limited(tmp_path: Path) -> None:
    """In-process (no browser): a client past its share gets 503 with Retry-After, and a bad query an error
    message, never a stack trace."""
    from fastapi.testclient import TestClient

    from preservation.api.app import create_app

    settings = load_settings({"KHO_HOME": str(tmp_path / "home"), "KHO_PUBLIC_RATE_PER_SECOND": "0.01",
                              "KHO_PUBLIC_RATE_BURST": "3"})
    with TestClient(create_app(settings, tokens={})) as client:
        answers = [client.get("/reading-room?q=year:20x") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 503]
    assert "năm gồm 4 chữ số" in answers[0].text and "Traceback" not in answers[0].text
    assert answers[3].headers["Retry-After"]


def test_chromium_is_debian_s(room: Room) -> None:
    """The browser the tests drive is the system's, not one Playwright downloaded."""
    assert shutil.which("chromium") == str(CHROMIUM)
    assert not (Path.home() / ".cache" / "ms-playwright").exists() or not any(
        (Path.home() / ".cache" / "ms-playwright").glob("chromium*"))

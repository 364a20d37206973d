"""``kho harvest`` (#20 B, decision 0028): a national Kho harvests an agency's Kho, two servers on 127.0.0.1.

The agency Kho (``tests/oai_fixtures.py``: 300 catalog rows, public, restricted, confidential and embargoed)
is served by a real ``kho serve``; the national Kho is another KHO_HOME running the real ``kho harvest``. Its
union catalogue must hold exactly the agency's public records, take only what changed on the next run, see a
disposal as a deletion, resume a harvest killed after its first page from the saved resumptionToken (across
a restart of the agency's server), and refuse hostile responses, from a small fake provider, changing nothing.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from preservation.catalog import Catalog
from preservation.catalog.models import HarvestedRecord, HarvestSource
from preservation.config import load_settings
from preservation.disposal import dispose
from preservation.harvest import FAULT_AFTER_PAGE, HarvestError, harvest, http_fetcher
from tests.conftest import BIN
from tests.oai_fixtures import CONTACT, PREFIX, Archive, clean_env, make_archive, start, stop

COUNT = 300  # 180 public: two pages of the provider's 100


@pytest.fixture(scope="module")
def agency(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    archive = make_archive(tmp_path_factory.mktemp("agency") / "kho-home", COUNT)
    start(archive)
    try:
        yield archive
    finally:
        stop(archive)
        archive.catalog.close()


def kho(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "kho"), *args], env=clean_env(home, **env), capture_output=True, text=True,
                          timeout=120)


def union(home: Path) -> dict[str, HarvestedRecord]:
    catalog = Catalog(load_settings({"KHO_HOME": str(home)}).database_url)
    try:
        with catalog.session(readonly=True) as session:
            return {r.identifier.removeprefix(PREFIX): r for r in session.scalars(select(HarvestedRecord))}
    finally:
        catalog.close()


def source_row(home: Path) -> HarvestSource:
    catalog = Catalog(load_settings({"KHO_HOME": str(home)}).database_url)
    try:
        with catalog.session(readonly=True) as session:
            row = session.scalars(select(HarvestSource)).one()
            session.expunge(row)
            return row
    finally:
        catalog.close()


def harvested(home: Path, url: str, *args: str, **env: str) -> dict[str, Any]:
    run = kho(home, "harvest", url, "--json", *args, **env)
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


def test_a_national_kho_harvests_exactly_the_agency_public_records_then_only_changes(
        agency: Archive, tmp_path: Path) -> None:
    national = tmp_path / "national"
    first = harvested(national, agency.url)
    assert first["added"] == len(agency.public) and first["pages"] == 2 and first["from"] is None
    rows = union(national)
    assert {i for i, r in rows.items() if not r.deleted} == agency.public
    assert not set(rows) & agency.hidden  # restricted, confidential, embargoed: the provider never lists them
    for row in rows.values():
        assert CONTACT not in (row.metadata_xml or "") and "Ghi chú nội bộ" not in (row.metadata_xml or "")
    sample = rows["00000001-0000-4000-8000-000000000001"]
    assert sample.title == "Hồ sơ khánh thành công trình số 1" and sample.creator == "Sở Tài nguyên và Môi trường"
    assert sample.source == agency.url and sample.metadata_prefix == "oai_dc" and "agency:so-tai-nguyen-va-moi-truong" \
        in sample.sets and sample.metadata_xml and sample.metadata_xml.startswith("<oai_dc:dc")

    # nothing new: the second run asks from the first run's responseDate and adds nothing
    second = harvested(national, agency.url)
    assert second["from"] == first["response_date"] and second["resumed"] is False
    assert (second["added"], second["updated"], second["deleted"], second["total"]) == (0, 0, 0, len(agency.public))

    # disposed of at the agency: a tombstone in the union catalogue, its description kept
    victim = "00000003-0000-4000-8000-000000000003"
    dispose(agency.catalog, victim, decision="12/QĐ-LT", approver="Trần Văn Bình")
    agency.public.discard(victim)
    third = harvested(national, agency.url)
    assert (third["added"], third["deleted"]) == (0, 1)
    rows = union(national)
    assert rows[victim].deleted and rows[victim].title == "Hồ sơ khánh thành công trình số 3"
    assert {i for i, r in rows.items() if not r.deleted} == agency.public

    listing = kho(national, "harvest", "--list", "--json")
    assert listing.returncode == 0, listing.stderr
    [entry] = [json.loads(line) for line in listing.stdout.splitlines()]
    assert (entry["url"], entry["records"], entry["deleted"], entry["in_progress"]) == (
        agency.url, len(agency.public), 1, False)
    found = kho(national, "union", "search", "khanh thanh cong trinh so 12", "--json")
    titles = {json.loads(line)["title"] for line in found.stdout.splitlines()}
    assert "Hồ sơ khánh thành công trình số 12" in titles  # and 120..129, 212.., public ones: a substring search
    assert all(t.startswith("Hồ sơ khánh thành công trình số 12") for t in titles)


def test_a_harvest_killed_after_its_first_page_resumes_from_the_saved_token(agency: Archive, tmp_path: Path) -> None:
    national = tmp_path / "national"
    killed = kho(national, "harvest", agency.url, KHO_FAULT=FAULT_AFTER_PAGE)
    assert killed.returncode == -9
    assert len(union(national)) == 100
    saved = source_row(national)
    assert saved.resumption_token and saved.last_response_date is None and saved.list_started

    # the agency's server goes away: the harvest stops with a clear error and keeps its position
    stop(agency)
    national_catalog = Catalog(load_settings({"KHO_HOME": str(national)}).database_url)
    try:
        with pytest.raises(HarvestError, match=r"không kết nối được.*no answer"):
            harvest(national_catalog, agency.url, fetch=http_fetcher(attempts=1, timeout=5))
    finally:
        national_catalog.close()
        start(agency)  # a restart: the token it issued must still be good
    assert source_row(national).resumption_token == saved.resumption_token
    assert "no answer" in (source_row(national).last_error or "")

    resumed = harvested(national, agency.url)
    assert resumed["resumed"] is True and resumed["pages"] == 1 and resumed["added"] == resumed["total"] - 100
    rows = union(national)
    assert {i for i, r in rows.items() if not r.deleted} == agency.public
    after = source_row(national)
    assert after.resumption_token is None and after.last_response_date == saved.list_started
    assert after.last_error is None


# -- hostile providers ----------------------------------------------------------------------------

IDENTIFY = b"""<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2026-01-01T00:00:00Z</responseDate>
<request verb="Identify">http://x/oai</request><Identify><repositoryName>Fake</repositoryName>
<baseURL>http://x/oai</baseURL><protocolVersion>2.0</protocolVersion><adminEmail>a@b.vn</adminEmail>
<earliestDatestamp>2000-01-01T00:00:00Z</earliestDatestamp><deletedRecord>persistent</deletedRecord>
<granularity>YYYY-MM-DDThh:mm:ssZ</granularity></Identify></OAI-PMH>"""
ONE_RECORD = """<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2026-01-02T00:00:00Z</responseDate>
<request verb="ListRecords">http://x/oai</request><ListRecords><record><header>
<identifier>oai:fake:1</identifier><datestamp>2025-06-01T00:00:00Z</datestamp><setSpec>a</setSpec></header>
<metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
 xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Hồ sơ đê điều</dc:title>
<dc:publisher>Sở Nông nghiệp</dc:publisher></oai_dc:dc></metadata></record></ListRecords></OAI-PMH>""".encode()
BOMB = b"""<?xml version="1.0"?><!DOCTYPE OAI-PMH [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<responseDate>2026-01-03T00:00:00Z</responseDate><ListRecords><record><header><identifier>oai:fake:1</identifier>
<datestamp>2026-01-03T00:00:00Z</datestamp></header></record></ListRecords></OAI-PMH>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>&x;</responseDate></OAI-PMH>"""
HOSTILE = {
    "entities": (BOMB, "DOCTYPE"),
    "external entity": (XXE, "DOCTYPE"),
    "huge": (b"<OAI-PMH>" + b" " * 300_000, "larger than"),
    "html": (b"<html><body>502 Bad Gateway</body></html>", "not OAI-PMH"),
    "not xml": (b"\x00\xff garbage", "not well-formed"),
    "no datestamp": (ONE_RECORD.replace(b"<datestamp>2025-06-01T00:00:00Z</datestamp>", b""), "datestamp"),
    "no header": (ONE_RECORD.replace(b"<header>", b"<heading>").replace(b"</header>", b"</heading>"), "header"),
    "oai error": (b"""<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2026-01-03T00:00:00Z
</responseDate><error code="badArgument">nope</error></OAI-PMH>""".replace(b"\n", b""), "badArgument"),
}


class Fake:
    """A provider whose ListRecords answer each test sets: ``bodies`` are served in turn, the last repeated."""

    def __init__(self) -> None:
        self.bodies: list[tuple[int, bytes, dict[str, str]]] = [(200, ONE_RECORD, {})]
        self.requests: list[dict[str, list[str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                args = parse_qs(urlsplit(self.path).query)
                if args.get("verb") == ["Identify"]:
                    status, body, headers = 200, IDENTIFY, {}
                else:
                    fake.requests.append(args)
                    status, body, headers = fake.bodies.pop(0) if len(fake.bodies) > 1 else fake.bodies[0]
                self.send_response(status)
                for name, value in {"Content-Type": "text/xml", **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oai"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake() -> Iterator[Fake]:
    server = Fake()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _snapshot(catalog: Catalog) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    with catalog.session(readonly=True) as session:
        rows = [(r.identifier, r.datestamp, r.deleted, r.title, r.metadata_xml)
                for r in session.scalars(select(HarvestedRecord))]
        source = session.scalars(select(HarvestSource)).one()
        return rows, (source.last_response_date, source.resumption_token, source.list_from)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_response_is_refused_and_changes_nothing(fake: Fake, tmp_path: Path, kind: str) -> None:
    catalog = Catalog(load_settings({"KHO_HOME": str(tmp_path / "national")}).database_url)
    try:
        result = harvest(catalog, fake.url, fetch=http_fetcher(attempts=1, max_bytes=100_000))
        assert result.added == 1 and result.response_date == "2026-01-02T00:00:00Z"
        before = _snapshot(catalog)
        body, message = HOSTILE[kind]
        fake.bodies = [(200, body, {})]
        with pytest.raises(HarvestError, match=message) as refused:
            harvest(catalog, fake.url, fetch=http_fetcher(attempts=1, max_bytes=100_000))
        assert " / " in str(refused.value)  # Vietnamese / English
        assert _snapshot(catalog) == before
        assert fake.requests[-1]["from"] == ["2026-01-02T00:00:00Z"]
        with catalog.session(readonly=True) as session:
            assert session.scalars(select(HarvestSource)).one().last_error == str(refused.value)[:2000]
    finally:
        catalog.close()


def test_a_503_is_retried_after_its_retry_after_and_the_cli_says_why_it_stopped(fake: Fake, tmp_path: Path) -> None:
    catalog = Catalog(load_settings({"KHO_HOME": str(tmp_path / "national")}).database_url)
    waits: list[float] = []
    fake.bodies = [(503, b"busy", {"Retry-After": "7"}), (500, b"oops", {}), (200, ONE_RECORD, {})]
    try:
        result = harvest(catalog, fake.url, fetch=http_fetcher(sleep=waits.append))
    finally:
        catalog.close()
    assert waits == [7.0, 2.0] and result.added == 1
    [row] = union(tmp_path / "national").values()
    assert (row.title, row.creator, row.sets) == ("Hồ sơ đê điều", "Sở Nông nghiệp", ["a"])

    fake.bodies = [(200, BOMB, {})]
    run = kho(tmp_path / "other", "harvest", fake.url)
    assert run.returncode == 1
    assert "thu thập dừng lại" in run.stderr and "harvest stopped" in run.stderr and "DOCTYPE" in run.stderr
    assert "Traceback" not in run.stderr
    assert kho(tmp_path / "other", "harvest", "file:///etc/passwd").returncode == 2
    assert kho(tmp_path / "other", "harvest", fake.url, "--from", "01/01/2025").returncode == 2

"""The OAI-PMH provider (#20 A, decision 0025) harvested by a real harvester (sickle) over HTTP.

A Kho of 1,000 records is made once per module by inserting catalog rows directly (1,000 ingests would take
an hour): public ones, restricted (mode 02), confidential (mode 03), embargoed until 2999, embargoed until a
past date (public again), and some already disposed of, public and restricted. Every bag-info carries a
contact person (name, phone, e-mail) the public must never see. ``kho serve`` runs it in a subprocess on
127.0.0.1, so a restart is a real one. Every response the harvester receives is validated against the
OAI-PMH 2.0 schema, and its oai_dc and ead_tt05 records against theirs (``schemas/oai-pmh``).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import unicodedata
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sickle import Sickle, oaiexceptions

from format_registry import safexml
from preservation.catalog import Aip, Catalog
from preservation.config import load_settings
from preservation.disposal import dispose
from preservation.oai.xml import stamp
from tests.conftest import BIN

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "oai-pmh"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
DC = "{http://www.openarchives.org/OAI/2.0/oai_dc/}dc"
EAD = "{urn:kho:oai:ead_tt05:1}hoSo"
CONTACT = "Nguyễn Thị Liên Hoa"
PHONE = "0912 345 678"
EMAIL = "lienhoa@example.vn"
AGENCIES = ("Ủy ban nhân dân tỉnh Hà Tĩnh", "Sở Tài nguyên và Môi trường", "Đài Phát thanh Truyền hình")
BASE = datetime(2025, 1, 1, tzinfo=UTC)
COUNT = 1000
PREFIX = "oai:kho.kho:"  # the default repositoryIdentifier (no archive_code, organization "Kho")


def kind_of(number: int) -> str:
    return ("public", "public", "public", "public", "public", "restricted", "confidential", "embargoed",
            "embargo-over", "disposed")[number % 10]


@dataclass
class Archive:
    home: Path
    catalog: Catalog
    public: set[str] = field(default_factory=set)  # live and public
    hidden: set[str] = field(default_factory=set)  # restricted, confidential, embargoed (live or disposed)
    deleted: set[str] = field(default_factory=set)  # public and disposed of
    port: int = 0
    server: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oai"


def _aip(number: int) -> tuple[Aip, str]:
    kind = kind_of(number)
    mode = {"restricted": "restricted", "confidential": "confidential"}.get(kind, "public")
    year = 2000 + number % 25
    aip_id = f"{number:08d}-0000-4000-8000-{number:012d}"
    bag_info = {
        "Source-Organization": AGENCIES[number % 3], "Contact-Name": CONTACT, "Contact-Phone": PHONE,
        "Contact-Email": EMAIL, "fileCode": f"H40.{year}.{number:04d}",
        "External-Identifier": f"H40.{year}.{number:04d}", "title": f"Hồ sơ khánh thành công trình số {number}",
        "maintenance": "06" if kind == "disposed" or number % 7 == 0 else "01",
        "mode": {"public": "01", "restricted": "02", "confidential": "03"}[mode], "language": "01",
        "startDate": f"02/01/{year}", "endDate": f"28/12/{year + (number % 2)}", "totalDoc": "3",
        "description": "Ghi chú nội bộ: không công bố", "Payload-Oxum": "1234.3", "Bagging-Date": "2025-01-01",
    }
    stored = BASE + timedelta(minutes=number)
    embargo = {"embargoed": date(2999, 1, 1), "embargo-over": date(2020, 1, 1)}.get(kind)
    row = Aip(id=aip_id, sip_name=f"hoso-{number}", title=bag_info["title"], status="stored",
              payload_hash=f"{number:064x}", file_count=3, total_bytes=1234, mets_sha256="0" * 64,
              needs_review=False, access_mode=mode, embargo_until=embargo, bag_info=bag_info, review_reasons=[],
              created_at=stored, stored_at=stored)
    return row, kind


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(archive: Archive) -> None:
    # a harvesting test, not a rate-limit one (tests/unit/test_ratelimit.py): no client here is ever held back
    env = {**os.environ, "KHO_HOME": str(archive.home), "KHO_PUBLIC_RATE_BURST": "1000000"}
    archive.server = subprocess.Popen([str(BIN / "kho"), "serve", "--host", "127.0.0.1", "--port", str(archive.port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{archive.port}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    stop(archive)
    raise AssertionError("kho serve did not start")


def stop(archive: Archive) -> None:
    if archive.server is not None:
        archive.server.terminate()
        try:
            archive.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            archive.server.kill()
            archive.server.wait()
        archive.server = None


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    home = tmp_path_factory.mktemp("oai") / "kho-home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KHO_HOME", str(home))
        for name in ("KHO_STORAGE", "KHO_DATABASE_URL", "KHO_INGEST_DIR", "KHO_DUPLICATES", "KHO_DIGESTS",
                     "KHO_FAULT", "KHO_API_TOKENS", "KHO_ARCHIVE_CODE", "KHO_ORGANIZATION", "KHO_CONFIG"):
            patch.delenv(name, raising=False)
        catalog = Catalog(load_settings({"KHO_HOME": str(home)}).database_url)
        archive = Archive(home, catalog, port=_free_port())
        rows = []
        for number in range(COUNT):
            row, kind = _aip(number)
            rows.append(row)
            if kind in ("public", "embargo-over"):
                archive.public.add(row.id)
            elif kind == "disposed":
                archive.public.add(row.id)  # disposed of below, through the real disposal
            else:
                archive.hidden.add(row.id)
        with catalog.session() as session:
            session.add_all(rows)
        # disposed of before the first harvest: a public one and a restricted one (its tombstone stays hidden)
        restricted_disposable = next(r.id for n, r in enumerate(rows) if kind_of(n) == "restricted"
                                     and r.bag_info["maintenance"] == "06")
        for aip_id in (rows[9].id, restricted_disposable):
            dispose(catalog, aip_id, decision="12/QĐ-LT", approver="Trần Văn Bình")
        archive.public.discard(rows[9].id)
        archive.deleted.add(rows[9].id)
        start(archive)
        try:
            yield archive
        finally:
            stop(archive)
            catalog.close()


# -- checking every response ------------------------------------------------------------------------

OAI_SCHEMA = safexml.schema(SCHEMAS / "OAI-PMH.xsd")
DC_SCHEMA = safexml.schema(SCHEMAS / "oai-dc-local.xsd")
EAD_SCHEMA = safexml.schema(SCHEMAS / "ead_tt05.xsd")


def check(body: bytes) -> Any:
    """Valid OAI-PMH 2.0, each record valid in its format, UTF-8 NFC, no personal field anywhere."""
    root = safexml.fromstring(body)
    OAI_SCHEMA.assertValid(root)
    for element, schema in ((DC, DC_SCHEMA), (EAD, EAD_SCHEMA)):
        for record in root.iter(element):
            schema.assertValid(safexml.fromstring(etree.tostring(record)))
    text = body.decode("utf-8")
    assert unicodedata.is_normalized("NFC", text)
    for secret in (CONTACT, PHONE, EMAIL, "Contact-Name", "Ghi chú nội bộ"):
        assert secret not in text, secret
    return root


class CheckedSickle(Sickle):  # type: ignore[misc]
    """The harvester, checking each response it receives before it reads it."""

    def harvest(self, **kwargs: Any) -> Any:
        response = super().harvest(**kwargs)
        assert response.http_response.headers["content-type"].startswith("text/xml")
        check(response.http_response.content)
        return response


def get(archive: Archive, **args: str) -> Any:
    with urllib.request.urlopen(f"{archive.url}?{urllib.parse.urlencode(args)}", timeout=30) as response:
        assert response.status == 200
        return check(response.read())


def error_code(root: Any) -> str | None:
    error = root.find(f"{OAI}error")
    return None if error is None else str(error.get("code"))


def ids(items: Any) -> list[str]:
    return [item.header.identifier.removeprefix(PREFIX) if hasattr(item, "header")
            else item.identifier.removeprefix(PREFIX) for item in items]


# -- tests ------------------------------------------------------------------------------------------


def test_identify_and_formats(archive: Archive) -> None:
    harvester = CheckedSickle(archive.url)
    identify = harvester.Identify()
    assert identify.protocolVersion == "2.0" and identify.deletedRecord == "persistent"
    assert identify.granularity == "YYYY-MM-DDThh:mm:ssZ" and identify.baseURL == archive.url
    assert {f.metadataPrefix for f in harvester.ListMetadataFormats()} == {"oai_dc", "ead_tt05"}
    sets = {s.setSpec: s.setName for s in harvester.ListSets()}
    assert sets["agency:uy-ban-nhan-dan-tinh-ha-tinh"] == AGENCIES[0]
    assert {"agency", "year", "year:2000", "year:2025"} <= set(sets)
    with urllib.request.urlopen(f"{archive.url}/ead_tt05.xsd", timeout=10) as response:
        assert b"urn:kho:oai:ead_tt05:1" in response.read()


def test_a_full_harvest_gets_exactly_the_public_records(archive: Archive) -> None:
    harvester = CheckedSickle(archive.url)
    records = list(harvester.ListRecords(metadataPrefix="oai_dc"))
    live = {i for r, i in zip(records, ids(records), strict=True) if not r.deleted}
    gone = {i for r, i in zip(records, ids(records), strict=True) if r.deleted}
    assert len(records) == len(live) + len(gone)  # nothing twice across the pages
    assert live == archive.public and gone == archive.deleted
    assert not ({*live, *gone} & archive.hidden)
    sample = next(r for r in records if not r.deleted)
    assert sample.metadata["creator"][0] in AGENCIES and sample.metadata["title"][0].startswith("Hồ sơ")
    assert "contributor" not in sample.metadata  # bag-info's Contact-Name would be dc:contributor
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}/\d{4}-\d{2}-\d{2}", sample.metadata["date"][0])  # W3CDTF, not DD/MM
    # the same by POST, by ListIdentifiers, and in the TT 05 format
    posted = CheckedSickle(archive.url, http_method="POST")
    assert set(ids(posted.ListIdentifiers(metadataPrefix="ead_tt05"))) == live | gone
    ead = list(posted.ListRecords(metadataPrefix="ead_tt05"))
    assert {i for r, i in zip(ead, ids(ead), strict=True) if not r.deleted} == live


def test_sets_select_by_agency_and_year(archive: Archive) -> None:
    harvester = CheckedSickle(archive.url)
    agency = set(ids(harvester.ListIdentifiers(metadataPrefix="oai_dc", set="agency:so-tai-nguyen-va-moi-truong")))
    assert agency == {i for i in archive.public | archive.deleted if int(i[-12:]) % 3 == 1}
    year = set(ids(harvester.ListIdentifiers(metadataPrefix="oai_dc", set="year:2003")))
    # year 2000 + n % 25, ending a year later when n is odd: 2003 holds n % 25 == 3, and n % 25 == 2 when n is odd
    expected = {i for i in archive.public | archive.deleted
                if int(i[-12:]) % 25 == 3 or (int(i[-12:]) % 25 == 2 and int(i[-12:]) % 2)}
    assert year == expected


def test_restricted_and_embargoed_records_never_appear(archive: Archive) -> None:
    harvester = CheckedSickle(archive.url)
    for aip_id in sorted(archive.hidden)[:40]:
        with pytest.raises(oaiexceptions.IdDoesNotExist):
            harvester.GetRecord(identifier=PREFIX + aip_id, metadataPrefix="oai_dc")
        with pytest.raises(oaiexceptions.IdDoesNotExist):
            harvester.ListMetadataFormats(identifier=PREFIX + aip_id)
    public = sorted(archive.public)[0]
    record = harvester.GetRecord(identifier=PREFIX + public, metadataPrefix="ead_tt05")
    assert "Payload-Oxum" not in record.raw and "1234.3" not in record.raw


def test_an_incremental_harvest_with_from_and_a_disposal_seen_as_deleted(archive: Archive) -> None:
    harvester = CheckedSickle(archive.url)
    since = BASE + timedelta(minutes=900)
    later = set(ids(harvester.ListIdentifiers(metadataPrefix="oai_dc", **{"from": stamp(since)})))
    # the records stored since, and the one disposed of (n = 9) when the archive was made: its last change
    assert later == {i for i in archive.public if int(i[-12:]) >= 900} | archive.deleted
    until = set(ids(harvester.ListIdentifiers(metadataPrefix="oai_dc", until="2025-01-01T10:00:00Z")))
    assert until == {i for i in archive.public if int(i[-12:]) <= 600}  # stored at BASE + n minutes
    assert set(ids(harvester.ListIdentifiers(metadataPrefix="oai_dc", until="2025-01-01"))) == archive.public
    # dispose of a public record now: the next incremental harvest sees it, deleted
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    victim = next(i for i in sorted(archive.public) if int(i[-12:]) % 7 == 0 and int(i[-12:]) < 900)
    dispose(archive.catalog, victim, decision="13/QĐ-LT", approver="Trần Văn Bình")
    archive.public.discard(victim)
    archive.deleted.add(victim)
    changed = list(harvester.ListRecords(metadataPrefix="oai_dc", **{"from": stamp(before)}))
    assert [(i, r.deleted) for r, i in zip(changed, ids(changed), strict=True)] == [(victim, True)]
    assert harvester.GetRecord(identifier=PREFIX + victim, metadataPrefix="oai_dc").deleted
    root = get(archive, verb="ListMetadataFormats", identifier=PREFIX + victim)
    assert error_code(root) == "noMetadataFormats"


def test_a_resumption_token_survives_a_restart(archive: Archive) -> None:
    first = get(archive, verb="ListRecords", metadataPrefix="oai_dc")
    token = first.find(f"{OAI}ListRecords/{OAI}resumptionToken")
    assert token is not None and token.text and token.get("cursor") == "0"
    total = int(token.get("completeListSize"))
    assert total == len(archive.public | archive.deleted)
    stop(archive)
    start(archive)
    second = get(archive, verb="ListRecords", resumptionToken=token.text)
    assert error_code(second) is None
    next_token = second.find(f"{OAI}ListRecords/{OAI}resumptionToken")
    assert next_token is not None and next_token.get("cursor") == "100"
    first_ids = [h.text for h in first.iter(f"{OAI}identifier")]
    second_ids = [h.text for h in second.iter(f"{OAI}identifier")]
    assert len(second_ids) == 100 and not set(first_ids) & set(second_ids) and max(first_ids) < min(second_ids)
    # a token changed by one character is refused
    forged = token.text[:-2] + ("A" if token.text[-2] != "A" else "B") + token.text[-1]
    assert error_code(get(archive, verb="ListRecords", resumptionToken=forged)) == "badResumptionToken"


@pytest.mark.parametrize(("args", "code"), [
    ({}, "badVerb"),
    ({"verb": "Frobnicate"}, "badVerb"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "Identify", "metadataPrefix": "oai_dc"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "01/01/2025"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2025-01-02", "until": "2025-01-01"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2025-01-01", "until": "2025-01-02T00:00:00Z"},
     "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "x"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
    ({"verb": "GetRecord", "identifier": "oai:kho.kho:nope", "metadataPrefix": "oai_dc"}, "idDoesNotExist"),
    ({"verb": "ListMetadataFormats", "identifier": "oai:elsewhere:1"}, "idDoesNotExist"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2999-01-01"}, "noRecordsMatch"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "agency:nowhere"}, "noRecordsMatch"),
    ({"verb": "ListIdentifiers", "resumptionToken": "bm90LWEtdG9rZW4.c2ln"}, "badResumptionToken"),
])
def test_each_bad_request_gets_its_protocol_error(archive: Archive, args: dict[str, str], code: str) -> None:
    root = get(archive, **args)
    assert error_code(root) == code
    if code in ("badVerb", "badArgument"):
        assert not root.find(f"{OAI}request").attrib  # the protocol: no attributes echoed back then


def test_a_repeated_argument_is_bad_and_post_needs_no_token(archive: Archive) -> None:
    url = f"{archive.url}?verb=Identify&verb=Identify"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert error_code(check(response.read())) == "badVerb"
    with urllib.request.urlopen(f"{archive.url}?verb=ListSets&set=a&set=b", timeout=10) as response:
        assert error_code(check(response.read())) == "badArgument"
    request = urllib.request.Request(archive.url, data=b"verb=Identify", method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert error_code(check(response.read())) is None


def test_an_empty_repository_has_no_set_hierarchy(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from preservation.api import create_app

    app = create_app(load_settings({"KHO_HOME": str(tmp_path / "empty")}), tokens={})
    with TestClient(app) as client:
        root = check(client.get("/oai", params={"verb": "ListSets"}).content)
        assert error_code(root) == "noSetHierarchy"
        root = check(client.get("/oai", params={"verb": "ListRecords", "metadataPrefix": "oai_dc"}).content)
        assert error_code(root) == "noRecordsMatch"
        assert error_code(check(client.get("/oai", params={"verb": "Identify"}).content)) is None


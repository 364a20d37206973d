"""``kho harvest``: pull another repository's OAI-PMH records into the union catalogue (decision 0028).

The national level of Decision 458 is "a Kho that harvests the others": each agency archive's Kho publishes
its public records at ``/oai`` (``preservation.oai``), and this client copies them into two catalog tables,
``harvest_sources`` (where each harvest stands) and ``harvested_records`` (one row a source's record, a
tombstone once it is deleted there). Nothing here makes an AIP: a harvested record describes something kept
elsewhere.

Our own small client, not a library (``sickle`` is only a test dependency): a harvester reads what another
server sends, so it must bound what it accepts. Every request has a timeout, every body a size cap, every
document is parsed by ``format_registry.safexml`` (no entities, no DTD, no network) and refused when it has a
DOCTYPE at all (OAI-PMH never does; a DOCTYPE is how entity bombs arrive). A page is parsed and checked
whole before anything of it is written, and written in one transaction with the resumptionToken that
follows it, so a harvest killed anywhere resumes at the first page it had not written, and a garbage page
changes nothing but the source's ``last_error``. A failed request is tried a few times, waiting as an HTTP
503's ``Retry-After`` asks (capped).

Incremental harvesting uses the ``responseDate`` of a complete list's first page as the next ``from``:
``from`` is inclusive, so a record changed while the list was being read is fetched again next time rather
than missed, and writing it again changes nothing (rows are unique on source and identifier).
"""

from __future__ import annotations

import re
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree
from sqlalchemy import func, select

from format_registry import safexml
from preservation import faults
from preservation.catalog import Catalog
from preservation.catalog.models import HarvestedRecord, HarvestSource

OAI_NS = "{http://www.openarchives.org/OAI/2.0/}"
DC_NS = "{http://purl.org/dc/elements/1.1/}"
TIMEOUT = 30.0  # seconds a request may take to connect or between reads
MAX_BYTES = 32 * 1024 * 1024  # a response bigger than this is refused (100 records of oai_dc are ~100 KB)
ATTEMPTS = 4  # tries a request gets before the harvest stops (and can be resumed later)
MAX_RETRY_AFTER = 300  # seconds: a longer Retry-After is not waited for
MAX_PAGES = 1_000_000  # a provider that never stops sending tokens is refused rather than followed forever
USER_AGENT = "Kho-harvester/0.1 (OAI-PMH 2.0; +https://www.openarchives.org/OAI/openarchivesprotocol.html)"
FAULT_AFTER_PAGE = "harvest-after-page"  # KHO_FAULT: killed once a page and its token are committed
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$")


class HarvestError(Exception):
    """The harvest stopped; what was written before stays, and the next run resumes. Bilingual, as people read it."""


@dataclass
class HarvestResult:
    source: str
    set_spec: str
    metadata_prefix: str
    added: int = 0
    updated: int = 0
    deleted: int = 0  # rows that became (or arrived as) tombstones in this run
    pages: int = 0
    resumed: bool = False  # this run continued an interrupted list from its saved resumptionToken
    from_: str | None = None
    response_date: str | None = None  # the next harvest's ``from``
    total: int = 0  # the source's rows in the union catalogue, tombstones included

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_")
        return data


@dataclass(frozen=True)
class Harvested:
    """One record of a page, as parsed (nothing written yet)."""

    identifier: str
    datestamp: str
    deleted: bool
    sets: list[str]
    metadata_xml: str | None
    dc: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    response_date: str
    records: list[Harvested]
    token: str | None  # None or "": the list is complete


Fetch = Callable[[str, dict[str, str]], bytes]


def fold(text: str) -> str:
    """Lower case without Vietnamese accents (đ → d), so ``khanh thanh`` finds ``Khánh thành``."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# -- HTTP ---------------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """The base URL if it is an http(s) URL without a query (OAI-PMH adds its own); ``HarvestError`` if not."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise HarvestError(f"không phải địa chỉ gốc OAI-PMH http(s) / not an http(s) OAI-PMH base URL: {url!r}")
    return url


def check_from(value: str | None) -> str | None:
    """``value`` if it is an OAI-PMH datestamp (a day, or a second in UTC); ``HarvestError`` if not."""
    if value is not None and not _DATE.match(value):
        raise HarvestError(f"--from phải là YYYY-MM-DD hoặc YYYY-MM-DDThh:mm:ssZ / --from must be "
                           f"YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ: {value!r}")
    return value


def _retry_after(value: str | None, attempt: int) -> float:
    """Seconds to wait before the next try: the server's Retry-After (seconds), else 1, 2, 4 s..."""
    if value and value.strip().isdigit():
        return float(int(value.strip()))
    return float(2 ** (attempt - 1))


class _HttpRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """Redirects are followed to http(s) only (urllib would also follow one to ftp:)."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        check_url(urllib.parse.urljoin(req.full_url, newurl).partition("?")[0])
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpRedirectsOnly)


def http_fetcher(*, timeout: float = TIMEOUT, max_bytes: int = MAX_BYTES, attempts: int = ATTEMPTS,
                 sleep: Callable[[float], None] = time.sleep) -> Fetch:
    """A GET of ``base_url?args`` returning the body: tried ``attempts`` times on network errors and 5xx
    (a 503 waits its Retry-After), refused at once on a 4xx, a body over ``max_bytes`` or a Retry-After
    over ``MAX_RETRY_AFTER``."""

    def fetch(base_url: str, args: dict[str, str]) -> bytes:
        url = f"{check_url(base_url)}?{urllib.parse.urlencode(args)}"
        request = urllib.request.Request(  # noqa: S310 (check_url: http and https only)
            url, headers={"User-Agent": USER_AGENT, "Accept": "text/xml"})
        problem = ""
        for attempt in range(1, attempts + 1):
            wait = 0.0
            try:
                with _OPENER.open(request, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    if length and length.isdigit() and int(length) > max_bytes:
                        raise HarvestError(_too_big(max_bytes))
                    body = response.read(max_bytes + 1)
                    if len(body) > max_bytes:
                        raise HarvestError(_too_big(max_bytes))
                    return bytes(body)
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
                if exc.code < 500:
                    raise HarvestError(f"máy chủ từ chối yêu cầu / the server refused the request: {problem}") from None
                wait = _retry_after(exc.headers.get("Retry-After") if exc.code == 503 else None, attempt)
                if wait > MAX_RETRY_AFTER:
                    raise HarvestError(f"máy chủ bận quá lâu / the server asks to wait too long: "
                                       f"Retry-After {wait:.0f} s") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                problem = str(getattr(exc, "reason", exc))
                wait = _retry_after(None, attempt)
            if attempt < attempts:
                sleep(wait)
        raise HarvestError(f"không kết nối được sau {attempts} lần / no answer after {attempts} tries: {problem}")

    return fetch


def _too_big(max_bytes: int) -> str:
    return f"phản hồi quá lớn / response larger than {max_bytes} bytes: refused"


# -- parsing ------------------------------------------------------------------------------------


def _text(element: Any) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def parse(body: bytes) -> Any:
    """The OAI-PMH root of ``body``; ``HarvestError`` for anything else (not XML, a DOCTYPE, another root)."""
    try:
        root = safexml.fromstring(body)
    except etree.XMLSyntaxError as exc:
        raise HarvestError(f"phản hồi không phải XML hợp lệ / the response is not well-formed XML: {exc}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise HarvestError("phản hồi có DOCTYPE (thực thể XML), bị từ chối / "
                           "the response has a DOCTYPE (XML entities): refused")
    if root.tag != f"{OAI_NS}OAI-PMH":
        raise HarvestError(f"phản hồi không phải OAI-PMH / the response is not OAI-PMH: root {root.tag!r}")
    return root


def _error(root: Any) -> tuple[str, str] | None:
    error = root.find(f"{OAI_NS}error")
    return None if error is None else (str(error.get("code") or ""), _text(error))


def _dc(metadata: Any) -> dict[str, str | None]:
    """The few Dublin Core fields the union catalogue shows and searches (first value of each)."""

    def first(name: str) -> str | None:
        element = metadata.find(f".//{DC_NS}{name}") if metadata is not None else None
        value = _text(element)
        return unicodedata.normalize("NFC", value) if value else None

    return {"title": first("title"), "creator": first("creator") or first("publisher"), "date": first("date"),
            "dc_identifier": first("identifier"), "type": first("type")}


def parse_page(body: bytes, verb: str = "ListRecords") -> Page:
    """A ListRecords page, checked whole: a header without identifier or datestamp refuses the page."""
    root = parse(body)
    response_date = _text(root.find(f"{OAI_NS}responseDate"))
    if not _DATE.match(response_date):
        raise HarvestError(f"responseDate không hợp lệ / bad responseDate: {response_date[:40]!r}")
    error = _error(root)
    if error is not None:
        if error[0] == "noRecordsMatch":
            return Page(response_date, [], None)
        raise OaiProtocolError(*error)
    listing = root.find(f"{OAI_NS}{verb}")
    if listing is None:
        raise HarvestError(f"phản hồi thiếu {verb} / the response has no {verb} element")
    records = []
    for record in listing.iterfind(f"{OAI_NS}record"):
        header = record.find(f"{OAI_NS}header")
        if header is None:
            raise HarvestError("biểu ghi thiếu phần header / a record without a header")
        identifier, datestamp = _text(header.find(f"{OAI_NS}identifier")), _text(header.find(f"{OAI_NS}datestamp"))
        if not identifier or len(identifier) > 500 or not _DATE.match(datestamp):
            raise HarvestError(f"biểu ghi thiếu định danh hoặc ngày / a record without a valid identifier or "
                               f"datestamp: {identifier[:80]!r} {datestamp[:40]!r}")
        metadata = record.find(f"{OAI_NS}metadata")
        content = None if metadata is None else next(iter(metadata), None)
        deleted = header.get("status") == "deleted"
        records.append(Harvested(
            identifier=identifier, datestamp=datestamp, deleted=deleted,
            sets=[_text(s) for s in header.iterfind(f"{OAI_NS}setSpec")],
            metadata_xml=None if content is None else etree.tostring(content, encoding="unicode"),
            dc={} if deleted else _dc(content)))
    token_element = listing.find(f"{OAI_NS}resumptionToken")
    return Page(response_date, records, _text(token_element) or None)


class OaiProtocolError(HarvestError):
    """The provider answered with an OAI-PMH error (``code``), e.g. ``badResumptionToken``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"máy chủ OAI-PMH báo lỗi / the OAI-PMH server answered {code}: {message[:300]}")
        self.code = code


# -- the harvest --------------------------------------------------------------------------------


def identify(fetch: Fetch, url: str) -> tuple[str, str]:
    """(repositoryName, granularity) of the repository: proves it speaks OAI-PMH before anything is asked."""
    root = parse(fetch(url, {"verb": "Identify"}))
    error = _error(root)
    if error is not None:
        raise OaiProtocolError(*error)
    element = root.find(f"{OAI_NS}Identify")
    if element is None:
        raise HarvestError("phản hồi Identify không hợp lệ / the Identify response has no Identify element")
    return _text(element.find(f"{OAI_NS}repositoryName")), _text(element.find(f"{OAI_NS}granularity"))


def _source(catalog: Catalog, url: str, set_spec: str, prefix: str) -> HarvestSource:
    with catalog.session() as session:
        row = session.scalar(select(HarvestSource).where(
            HarvestSource.url == url, HarvestSource.set_spec == set_spec, HarvestSource.metadata_prefix == prefix))
        if row is None:
            row = HarvestSource(url=url, set_spec=set_spec, metadata_prefix=prefix)
            session.add(row)
            session.flush()
        return row


def _from_at(granularity: str | None, moment: str) -> str:
    """``moment`` at the repository's granularity (a day-granular one refuses a time of day)."""
    return moment[:10] if granularity == "YYYY-MM-DD" else moment


def harvest(catalog: Catalog, url: str, *, set_spec: str | None = None, from_: str | None = None,
            prefix: str = "oai_dc", fetch: Fetch | None = None) -> HarvestResult:
    """Harvest ``url`` into the union catalogue: resume an interrupted list, else list from ``from_`` (default:
    the last complete harvest's responseDate; none: everything). ``HarvestError`` stops it, recorded as the
    source's ``last_error``; what earlier pages wrote stays, with the token to resume from."""
    url = check_url(url.strip())
    check_from(from_)
    fetch = fetch or http_fetcher()
    source = _source(catalog, url, set_spec or "", prefix)
    result = HarvestResult(url, set_spec or "", prefix)
    try:
        name, granularity = identify(fetch, url)
        with catalog.session() as session:
            row = session.get(HarvestSource, source.id)
            assert row is not None
            row.repository_name, row.granularity = name[:1000] or None, granularity or None
        for _page in _pages(catalog, fetch, source.id, url, set_spec or "", prefix, from_, granularity, result):
            if result.pages == 1:  # tests: a harvest killed with its first page written must resume after it
                faults.checkpoint(FAULT_AFTER_PAGE)
    except HarvestError as exc:
        with catalog.session() as session:
            row = session.get(HarvestSource, source.id)
            assert row is not None
            row.last_error = str(exc)[:2000]
        raise
    with catalog.session(readonly=True) as session:
        result.total = session.scalar(select(func.count()).select_from(HarvestedRecord)
                                      .where(HarvestedRecord.source == url)) or 0
    return result


def _pages(catalog: Catalog, fetch: Fetch, source_id: int, url: str, set_spec: str, prefix: str,
           from_: str | None, granularity: str, result: HarvestResult) -> Iterator[Page]:
    """Fetch, check and write page after page; yields each page once it and its token are committed."""
    with catalog.session(readonly=True) as session:
        source = session.get(HarvestSource, source_id)
        assert source is not None
        token, list_from, started = source.resumption_token, source.list_from, source.list_started
        last = source.last_response_date
    if token and from_ is None:
        result.resumed, result.from_ = True, list_from
    else:  # a new list (an explicit --from starts one, even over an interrupted list)
        token, started = None, None
        result.from_ = list_from = from_ or (_from_at(granularity, last) if last else None)
    for _ in range(MAX_PAGES):
        if token:
            args = {"verb": "ListRecords", "resumptionToken": token}
        else:
            args = {"verb": "ListRecords", "metadataPrefix": prefix}
            if set_spec:
                args["set"] = set_spec
            if list_from:
                args["from"] = list_from
        try:
            page = parse_page(fetch(url, args))
        except OaiProtocolError as exc:
            if exc.code == "badResumptionToken" and result.resumed and result.pages == 0:
                # the saved token expired at the source: list again from the same ``from`` (rows are upserts)
                token, started, result.resumed = None, None, False
                continue
            raise
        started = started or page.response_date
        _write(catalog, source_id, url, prefix, page, list_from, started, result)
        result.pages += 1
        yield page
        if not page.token:
            result.response_date = started
            return
        token = page.token
    raise HarvestError(f"quá {MAX_PAGES} trang / more than {MAX_PAGES} pages: the source never ends its list")


def _write(catalog: Catalog, source_id: int, url: str, prefix: str, page: Page, list_from: str | None,
           started: str, result: HarvestResult) -> None:
    """One page's records and the position after it, in one transaction."""
    moment = datetime.now(UTC)
    with catalog.session() as session:
        existing = {row.identifier: row for row in session.scalars(select(HarvestedRecord).where(
            HarvestedRecord.source == url,
            HarvestedRecord.identifier.in_([r.identifier for r in page.records])))} if page.records else {}
        for record in page.records:
            row = existing.get(record.identifier)
            if row is None:
                row = HarvestedRecord(source=url, identifier=record.identifier)
                session.add(row)
                existing[record.identifier] = row
                result.added += 1
            elif row.datestamp == record.datestamp and row.deleted == record.deleted:
                continue  # fetched again (``from`` is inclusive): nothing changed
            else:
                result.updated += 1
            if record.deleted and not row.deleted:
                result.deleted += 1
            row.datestamp, row.deleted, row.sets = record.datestamp, record.deleted, record.sets
            row.metadata_prefix, row.harvested_at = prefix, moment
            if not record.deleted:  # a tombstone keeps the last description it had
                row.metadata_xml = record.metadata_xml
                row.title, row.creator, row.date = record.dc.get("title"), record.dc.get("creator"), \
                    record.dc.get("date")
                row.dc_identifier, row.type = record.dc.get("dc_identifier"), record.dc.get("type")
                row.folded = fold(" ".join(v for v in (row.title, row.creator) if v)) or None
        source = session.get(HarvestSource, source_id)
        assert source is not None
        source.resumption_token = page.token or None
        source.list_from, source.list_started = (list_from, started) if page.token else (None, None)
        source.last_harvest_at, source.last_error = moment, None
        if not page.token:
            source.last_response_date = started


# -- reading the union catalogue ----------------------------------------------------------------


def sources(catalog: Catalog) -> list[dict[str, Any]]:
    """Every source with its counts (live, deleted) and where its next harvest starts."""
    with catalog.session(readonly=True) as session:
        counts: dict[tuple[str, bool], int] = {
            (source, bool(deleted)): count for source, deleted, count in session.execute(
                select(HarvestedRecord.source, HarvestedRecord.deleted, func.count())
                .group_by(HarvestedRecord.source, HarvestedRecord.deleted))}
        rows = session.scalars(select(HarvestSource).order_by(HarvestSource.url, HarvestSource.set_spec)).all()
        return [{"url": s.url, "set": s.set_spec, "metadata_prefix": s.metadata_prefix,
                 "repository_name": s.repository_name, "records": counts.get((s.url, False), 0),
                 "deleted": counts.get((s.url, True), 0), "next_from": s.last_response_date,
                 "in_progress": bool(s.resumption_token),
                 "last_harvest_at": s.last_harvest_at.isoformat() if s.last_harvest_at else None,
                 "last_error": s.last_error} for s in rows]


def search(catalog: Catalog, text: str, *, limit: int = 50, include_deleted: bool = False) -> list[dict[str, Any]]:
    """Union-catalogue records whose title or creator contains ``text``, accents ignored."""
    pattern = "%" + fold(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with catalog.session(readonly=True) as session:
        query = select(HarvestedRecord).where(HarvestedRecord.folded.like(pattern, escape="\\"))
        if not include_deleted:
            query = query.where(HarvestedRecord.deleted.is_(False))
        rows = session.scalars(query.order_by(HarvestedRecord.source, HarvestedRecord.identifier).limit(limit))
        return [{"source": r.source, "identifier": r.identifier, "datestamp": r.datestamp, "deleted": r.deleted,
                 "title": r.title, "creator": r.creator, "date": r.date, "type": r.type} for r in rows]

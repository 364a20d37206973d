"""The OAI-PMH 2.0 verbs over the catalog: a request's arguments in, the response document out.

No FastAPI here (``preservation.api.routes.oai`` only hands over the arguments and serves the bytes), so the
protocol can be tested and reused without a server. Every answer, errors included, is an OAI-PMH document
served with HTTP 200, as the protocol requires; an error's message is bilingual, since people read them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from lxml import etree

from packages.aip import OAI_DC_NS
from preservation.catalog import Catalog
from preservation.oai import tokens
from preservation.oai.records import AGENCY, YEAR, Record, field_value, public_record, public_records, slug
from preservation.oai.xml import (
    EAD_TT05_NS,
    GRANULARITY,
    OAI_DC_XSD,
    ead_tt05,
    envelope,
    header,
    oai_dc,
    serialise,
    stamp,
    sub,
)

PAGE_SIZE = 100  # records (or headers, or sets) a response
FORMATS = {"oai_dc": (OAI_DC_XSD, OAI_DC_NS), "ead_tt05": ("ead_tt05.xsd", EAD_TT05_NS)}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # earliestDatestamp of a repository that holds nothing yet

# verb -> (required, optional) arguments besides ``verb``; ``resumptionToken`` is exclusive where allowed
VERBS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Identify": (frozenset(), frozenset()),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"})),
    "ListSets": (frozenset(), frozenset()),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset()),
    "ListIdentifiers": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set"})),
    "ListRecords": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set"})),
}
RESUMABLE = frozenset({"ListSets", "ListIdentifiers", "ListRecords"})
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}$")
_SECOND = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

MESSAGES = {
    "badVerb": ("Động từ (verb) thiếu, lặp lại hoặc không hợp lệ", "verb is missing, repeated or not an OAI-PMH verb"),
    "cannotDisseminateFormat": ("Không cung cấp định dạng siêu dữ liệu này",
                                "this metadata format is not disseminated (oai_dc, ead_tt05)"),
    "idDoesNotExist": ("Không có biểu ghi với định danh này", "no record with this identifier"),
    "noRecordsMatch": ("Không có biểu ghi nào phù hợp", "no records match the request"),
    "noMetadataFormats": ("Biểu ghi đã bị hủy, không còn siêu dữ liệu",
                          "the record was disposed of (deleted); it has no metadata formats"),
    "noSetHierarchy": ("Kho chưa có tập (set) nào", "the repository has no sets yet"),
    "badResumptionToken": ("Mã tiếp tục (resumptionToken) không hợp lệ",
                           "the resumptionToken is invalid or was not issued by this repository"),
}


class OaiError(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code, self.detail = code, detail

    def message(self) -> str:
        vi, en = MESSAGES.get(self.code, ("Tham số không hợp lệ", "bad argument"))
        return f"{vi} / {en}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class Repository:
    """What the provider needs besides the catalog (from the installation's settings)."""

    catalog: Catalog
    home: Path
    name: str
    identifier: str  # repositoryIdentifier, the middle of oai:<repositoryIdentifier>:<aip id>
    admin_email: str
    archive_code: str = ""

    def oai_id(self, aip_id: str) -> str:
        return f"oai:{self.identifier}:{aip_id}"

    def aip_id(self, oai_id: str) -> str | None:
        prefix = f"oai:{self.identifier}:"
        return oai_id[len(prefix):] if oai_id.startswith(prefix) and len(oai_id) <= 200 else None


def repository_identifier(archive_code: str, organization: str) -> str:
    """A repositoryIdentifier in the form the oai-identifier scheme asks (a domain-like name): the
    archive's code (else its name) as a slug, ``.kho`` after it (e.g. ``h40.kho``)."""
    base = slug(archive_code) or slug(organization) or "kho"
    if not base[0].isalpha():
        base = f"kho-{base}"
    return f"{base}.kho"


def respond(repo: Repository, args: Sequence[tuple[str, str]], base_url: str,
            now: datetime | None = None) -> bytes:
    """The response document to a request with these (name, value) arguments, in order, repeats kept."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    names = [name for name, _ in args]
    single = dict(args)
    verb = single.get("verb")
    well_formed = names.count("verb") == 1 and verb in VERBS
    try:
        if not well_formed:
            raise OaiError("badVerb", "" if verb is None else verb[:60])
        assert verb is not None
        _check_arguments(verb, names, single)
    except OaiError as error:
        root, _request = envelope(base_url, {}, now)
        sub(root, "error", error.message(), code=error.code)
        return serialise(root)
    root, _request = envelope(base_url, single, now)
    try:
        handler = _HANDLERS[verb]
        handler(repo, root, single, now)
    except OaiError as error:
        for child in list(root)[2:]:
            root.remove(child)
        sub(root, "error", error.message(), code=error.code)
    return serialise(root)


def _check_arguments(verb: str, names: list[str], args: dict[str, str]) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise OaiError("badArgument", f"repeated argument(s) / tham số lặp lại: {', '.join(repeated)}")
    required, optional = VERBS[verb]
    given = set(args) - {"verb"}
    if "resumptionToken" in given and verb in RESUMABLE:
        if given != {"resumptionToken"}:
            raise OaiError("badArgument", "resumptionToken is an exclusive argument / mã tiếp tục phải đứng riêng")
        return
    illegal = given - required - optional
    if illegal:
        raise OaiError("badArgument", f"illegal argument(s) / tham số không hợp lệ: {', '.join(sorted(illegal))[:200]}")
    missing = required - given
    if missing:
        raise OaiError("badArgument", f"missing argument(s) / thiếu tham số: {', '.join(sorted(missing))}")
    _bounds(args.get("from"), args.get("until"))  # a bad date is a badArgument: answered before the envelope


# -- verbs ----------------------------------------------------------------------------------------


def _identify(repo: Repository, root: etree._Element, _args: dict[str, str], now: datetime) -> None:
    records = public_records(repo.catalog, now.date())
    earliest = min((r.datestamp for r in records), default=EARLIEST)
    element = sub(root, "Identify")
    sub(element, "repositoryName", repo.name)
    sub(element, "baseURL", root[1].text)
    sub(element, "protocolVersion", "2.0")
    sub(element, "adminEmail", repo.admin_email)
    sub(element, "earliestDatestamp", stamp(earliest))
    sub(element, "deletedRecord", "persistent")
    sub(element, "granularity", GRANULARITY)


def _list_metadata_formats(repo: Repository, root: etree._Element, args: dict[str, str], now: datetime) -> None:
    if "identifier" in args:
        record = _record(repo, args["identifier"], now.date())
        if record.deleted:
            raise OaiError("noMetadataFormats")
    element = sub(root, "ListMetadataFormats")
    for prefix, (schema, namespace) in FORMATS.items():
        item = sub(element, "metadataFormat")
        sub(item, "metadataPrefix", prefix)
        sub(item, "schema", schema if "://" in schema else f"{root[1].text}/{schema}")
        sub(item, "metadataNamespace", namespace)


def _set_names(records: list[Record]) -> dict[str, str]:
    """Every set a published record is in, and its name: the agency's own name, the year."""
    names: dict[str, str] = {}
    for record in records:
        for spec in record.sets:
            if spec.startswith(f"{AGENCY}:"):
                names.setdefault(spec, field_value(record.fields, "Source-Organization") or spec)
            else:
                names.setdefault(spec, f"Năm / Year {spec.removeprefix(f'{YEAR}:')}")
    if names:
        names[AGENCY] = "Cơ quan, tổ chức nộp lưu / Submitting agency"
        names[YEAR] = "Năm của hồ sơ / Year of the dossier"
    return names


def _list_sets(repo: Repository, root: etree._Element, args: dict[str, str], now: datetime) -> None:
    names = _set_names(public_records(repo.catalog, now.date()))
    if not names:
        raise OaiError("noSetHierarchy")
    specs = sorted(names)
    state = _resume(repo, "ListSets", args) if "resumptionToken" in args else None
    start = state.cursor if state else 0
    if state and (start > len(specs) or (start and specs[start - 1] != state.after)):
        raise OaiError("badResumptionToken", "the list of sets changed / danh sách tập đã thay đổi")
    element = sub(root, "ListSets")
    page = specs[start:start + PAGE_SIZE]
    for spec in page:
        item = sub(element, "set")
        sub(item, "setSpec", spec)
        sub(item, "setName", names[spec])
    _token(repo, element, "ListSets", None, None, None, None, page[-1] if page else "", start, len(page),
           len(specs))


def _get_record(repo: Repository, root: etree._Element, args: dict[str, str], now: datetime) -> None:
    prefix = args["metadataPrefix"]
    record = _record(repo, args["identifier"], now.date())
    if prefix not in FORMATS:
        raise OaiError("cannotDisseminateFormat", prefix[:60])
    element = sub(root, "GetRecord")
    _add_record(repo, element, record, prefix, root[1].text or "")


def _list_identifiers(repo: Repository, root: etree._Element, args: dict[str, str], now: datetime) -> None:
    _list(repo, root, args, now, "ListIdentifiers")


def _list_records(repo: Repository, root: etree._Element, args: dict[str, str], now: datetime) -> None:
    _list(repo, root, args, now, "ListRecords")


def _list(repo: Repository, root: etree._Element, args: dict[str, str], now: datetime, verb: str) -> None:
    if "resumptionToken" in args:
        state = _resume(repo, verb, args)
        prefix, set_spec, from_, until, after, cursor = (state.prefix or "", state.set, state.from_, state.until,
                                                         state.after, state.cursor)
    else:
        prefix, set_spec, from_, until = args["metadataPrefix"], args.get("set"), args.get("from"), args.get("until")
        after, cursor = "", 0
    low, high = _bounds(from_, until)
    if prefix not in FORMATS:
        raise OaiError("cannotDisseminateFormat", prefix[:60])
    records = public_records(repo.catalog, now.date())
    if set_spec is not None and not _set_names(records):
        raise OaiError("noSetHierarchy")
    matching = [r for r in records
                if (low is None or r.datestamp >= low) and (high is None or r.datestamp <= high)
                and (set_spec is None or any(s == set_spec or s.startswith(f"{set_spec}:") for s in r.sets))]
    if not matching:
        raise OaiError("noRecordsMatch")
    # the rest of the list: the records after the last identifier delivered (ids are the list's order)
    rest = [r for r in matching if r.aip_id > after] if after else matching
    page = rest[:PAGE_SIZE]
    if "resumptionToken" in args and not page:
        raise OaiError("badResumptionToken", "nothing left in this list / danh sách đã hết")
    element = sub(root, verb)
    base_url = root[1].text or ""
    for record in page:
        if verb == "ListIdentifiers":
            header(element, record, repo.oai_id(record.aip_id))
        else:
            _add_record(repo, element, record, prefix, base_url)
    # the list's size as it stands now: records added or removed since the first page change it
    total = cursor + len(rest)
    _token(repo, element, verb, prefix, set_spec, from_, until, page[-1].aip_id, cursor, len(page), total)


_HANDLERS = {"Identify": _identify, "ListMetadataFormats": _list_metadata_formats, "ListSets": _list_sets,
             "GetRecord": _get_record, "ListIdentifiers": _list_identifiers, "ListRecords": _list_records}


# -- helpers --------------------------------------------------------------------------------------


def _record(repo: Repository, identifier: str, on: date) -> Record:
    aip_id = repo.aip_id(identifier)
    record = public_record(repo.catalog, aip_id, on) if aip_id else None
    if record is None:  # absent and not public are answered alike: a hidden record's existence is not told
        raise OaiError("idDoesNotExist", identifier[:200])
    return record


def _add_record(repo: Repository, parent: etree._Element, record: Record, prefix: str, base_url: str) -> None:
    element = sub(parent, "record")
    identifier = repo.oai_id(record.aip_id)
    header(element, record, identifier)
    if record.deleted:
        return
    metadata = sub(element, "metadata")
    if prefix == "oai_dc":
        metadata.append(oai_dc(record, identifier, repo.name))
    else:
        file_code = field_value(record.fields, "fileCode")
        arc = f"{repo.archive_code}.{file_code}" if repo.archive_code and file_code else None
        metadata.append(ead_tt05(record, identifier, arc, f"{base_url}/ead_tt05.xsd"))


def _parse_date(value: str, end: bool) -> tuple[datetime, str]:
    try:
        if _SECOND.match(value):
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC), "second"
        if _DAY.match(value):
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            return (day + timedelta(days=1, seconds=-1) if end else day), "day"
    except ValueError:
        pass
    raise OaiError("badArgument",
                   f"not a UTC date YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ / ngày không hợp lệ: {value[:40]}")


def _bounds(from_: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    low = _parse_date(from_, end=False) if from_ is not None else None
    high = _parse_date(until, end=True) if until is not None else None
    if low and high:
        if low[1] != high[1]:
            raise OaiError("badArgument", "from and until differ in granularity / from và until khác độ chi tiết")
        if low[0] > high[0]:
            raise OaiError("badArgument", "from is later than until / from sau until")
    return (low[0] if low else None), (high[0] if high else None)


def _resume(repo: Repository, verb: str, args: dict[str, str]) -> tokens.ListState:
    try:
        return tokens.decode(tokens.load_key(repo.home), args["resumptionToken"], verb)
    except tokens.BadToken as exc:
        raise OaiError("badResumptionToken", str(exc)) from exc


def _token(repo: Repository, element: etree._Element, verb: str, prefix: str | None, set_spec: str | None,
           from_: str | None, until: str | None, last: str, cursor: int, count: int, total: int) -> None:
    """The resumptionToken element: a signed token while more remain, empty on the last page of a list
    that took more than one; none for a list that fits one page."""
    delivered = cursor + count
    if cursor == 0 and delivered >= total:
        return
    attributes = {"completeListSize": str(total), "cursor": str(cursor)}
    if delivered >= total:
        sub(element, "resumptionToken", **attributes)
        return
    state = tokens.ListState(verb, prefix, set_spec, from_, until, last, delivered)
    sub(element, "resumptionToken", tokens.encode(tokens.load_key(repo.home), state), **attributes)

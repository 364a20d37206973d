"""Evidence records: the RFC 3161 time-stamps of an AIP's versions, kept in its OCFL object and renewed so
that they stay verifiable for the whole retention period (docs/decisions/0024-timestamps-and-evidence-records.md).

Why: a time-stamp is only as good as the TSA certificate and the hash algorithm behind it, and both age
out long before a permanent record does. RFC 4998 (Evidence Record Syntax) answers with a *sequence* of
archive time-stamps: each new stamp covers the data and the stamps before it, made while those were still
valid, so the oldest stamp is checked at the time the next one covered it, not today. Kho keeps that idea
in plain JSON (a record an auditor can read, with the DER tokens beside it, each checkable with
``openssl ts -verify``):

- ``<object root>/logs/kho-evidence/evidence.json``: the digests (SHA-256 and SHA-512) of every version's
  ``inventory.json`` and the list of stamps, with the record's own SHA-256 (a damaged copy is told from a
  good one at another location);
- ``<object root>/logs/kho-evidence/<sha256 of the token>.tsr``: each token, written once.

The object's ``logs/`` belongs to no OCFL version (OCFL 1.1 §4.1; the journal lives there too), so a stamp
added years later changes no version. Two kinds of stamp:

- ``version``: made when a version is published (``after_publish``, called by
  ``preservation.ocfl_store.publish_version`` for ingest, migration and storage upgrade alike); its
  imprint is the digest of that version's ``inventory.json`` itself;
- ``renewal`` (``renew``, ``kho authenticity renew``): its imprint is the digest of a small canonical
  JSON naming every version's inventory digest and the digest of every stamp not yet covered (the
  "heads"), all with the renewal's algorithm. A renewal with a new algorithm (``--hash sha512``) is
  RFC 4998's hash-tree renewal: everything is hashed again with the algorithm that replaces the retired one.

A TSA that cannot be reached never stops a store: the attempt is recorded (``outcome: warning``) and
``kho authenticity renew`` adds the missing stamp later. Every attempt carries the PREMIS event that
records it; the events reach the catalog through ``record_events``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from asn1crypto import x509

from packages import agents, ocfl, premis
from preservation import ocfl_store, timestamps
from preservation.catalog import Aip, Catalog
from preservation.config import Settings, read_settings
from preservation.timestamps import TimestampError, TimestampInfo
from storage_adapters.base import StorageError, StorageLocation, redact_url
from storage_adapters.registry import open_location
from storage_adapters.replicated import ReplicatedStorage

log = logging.getLogger("kho.evidence")

EXTENSION = "kho-evidence"
OBJECT_DIR = f"logs/{EXTENSION}"
RECORD_NAME = "evidence.json"
FORMAT = "kho-evidence/1"
RENEWAL_FORMAT = "kho-evidence-renewal/1"
DIGESTS = ("sha256", "sha512")  # kept for every version's inventory; a renewal may use either
DEFAULT_ALGORITHM = "sha256"
EVENT_TYPE = "message digest calculation"  # LoC eventType; why this one: decision 0024
TSA_AGENT_TYPE = "URI"
MAX_RECORD_BYTES = 16 * 1024 * 1024
RECENT_LIMIT = 256

Status = Literal["valid", "invalid", "indeterminate"]


class EvidenceError(ValueError):
    """An evidence record that is not Kho's, is damaged, or cannot be read or written anywhere."""


# -- the record -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stamp:
    """One archive time-stamp of the record, or one failed attempt at it (``outcome`` ``warning``, no token)."""

    seq: int
    kind: Literal["version", "renewal"]
    versions: list[str]  # the versions whose inventory digests it covers
    previous: list[int]  # the stamps (by seq) whose tokens it covers (renewals only)
    hash_algorithm: str
    imprint: str  # hex: what the TSA was asked to stamp
    requested_at: str
    tsa_url: str
    outcome: Literal["success", "warning"]
    outcome_detail: str
    reason: str  # why it was made: "version v2 published", "TSA certificate expires 2027-01-01"…
    token_sha256: str | None = None
    gen_time: str | None = None
    tsa: str | None = None
    serial: str | None = None
    tsa_certificate_not_after: str | None = None
    event: dict[str, Any] = field(default_factory=dict)  # the PREMIS event recording this stamp

    @property
    def stamped(self) -> bool:
        return self.outcome == "success" and self.token_sha256 is not None

    def not_after(self) -> datetime | None:
        return datetime.fromisoformat(self.tsa_certificate_not_after) if self.tsa_certificate_not_after else None


@dataclass
class EvidenceRecord:
    aip_id: str
    versions: dict[str, dict[str, str]] = field(default_factory=dict)  # version -> {"sha256": hex, "sha512": hex}
    stamps: list[Stamp] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "aip_id": self.aip_id,
            "versions": {v: dict(self.versions[v]) for v in sorted(self.versions, key=ocfl.version_number)},
            "timestamps": [asdict(s) for s in self.stamps],
        }

    def to_bytes(self) -> bytes:
        body = self.body()
        return (json.dumps({**body, "sha256": _digest(body)}, sort_keys=True, ensure_ascii=False, indent=1)
                + "\n").encode()

    @classmethod
    def from_bytes(cls, raw: bytes, where: str) -> EvidenceRecord:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EvidenceError(f"{where}: not JSON ({exc}) / hồ sơ bằng chứng hỏng") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise EvidenceError(f"{where}: not a {FORMAT} record / không phải hồ sơ bằng chứng của Kho")
        stated = data.pop("sha256", None)
        if stated != _digest(data):
            raise EvidenceError(f"{where}: its content does not match its sha256 (damaged or edited) / nội dung "
                                "hồ sơ bằng chứng không khớp mã kiểm tra")
        try:
            stamps = [Stamp(**s) for s in data["timestamps"]]
            return cls(aip_id=str(data["aip_id"]), versions=dict(data["versions"]), stamps=stamps)
        except (KeyError, TypeError) as exc:
            raise EvidenceError(f"{where}: not a {FORMAT} record ({exc})") from exc

    @property
    def next_seq(self) -> int:
        return max((s.seq for s in self.stamps), default=0) + 1

    def stamped(self) -> list[Stamp]:
        return [s for s in self.stamps if s.stamped]

    def heads(self) -> list[Stamp]:
        """The stamps no later stamp covers: the ones whose validity today the record rests on."""
        covered = {seq for s in self.stamped() for seq in s.previous}
        return [s for s in self.stamped() if s.seq not in covered]

    def covered_versions(self) -> set[str]:
        return {v for s in self.stamped() for v in s.versions}

    def uncovered_versions(self) -> list[str]:
        covered = self.covered_versions()
        return sorted((v for v in self.versions if v not in covered), key=ocfl.version_number)

    def covering(self, seq: int) -> Stamp | None:
        """The earliest stamp that covers stamp ``seq`` (its token)."""
        return next((s for s in self.stamped() if seq in s.previous), None)


def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def inventory_digests(raw: bytes) -> dict[str, str]:
    return {name: hashlib.new(name, raw).hexdigest() for name in DIGESTS}


def renewal_input(record: EvidenceRecord, versions: Sequence[str], previous: Sequence[int],
                  tokens: dict[int, bytes], algorithm: str) -> bytes:
    """The canonical bytes a renewal stamps (their digest with ``algorithm``): every covered version's
    inventory digest and every covered token's digest, both with ``algorithm``."""
    body = {
        "format": RENEWAL_FORMAT,
        "aip_id": record.aip_id,
        "hash_algorithm": algorithm,
        "versions": {v: record.versions[v][algorithm] for v in versions},
        "previous": {str(seq): hashlib.new(algorithm, tokens[seq]).hexdigest() for seq in previous},
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def expected_imprint(record: EvidenceRecord, stamp: Stamp, tokens: dict[int, bytes]) -> bytes:
    """What ``stamp``'s token must stamp, recomputed from the record's digests and the tokens it covers.
    KeyError when a covered version or token is missing."""
    if stamp.kind == "version":
        (version,) = stamp.versions
        return bytes.fromhex(record.versions[version][stamp.hash_algorithm])
    data = renewal_input(record, stamp.versions, stamp.previous, tokens, stamp.hash_algorithm)
    return hashlib.new(stamp.hash_algorithm, data).digest()


# -- storage --------------------------------------------------------------------------------------------


def record_key(aip_id: str) -> str:
    return f"{ocfl.object_root(aip_id)}/{OBJECT_DIR}/{RECORD_NAME}"


def token_key(aip_id: str, token_sha256: str) -> str:
    return f"{ocfl.object_root(aip_id)}/{OBJECT_DIR}/{token_sha256}.tsr"


@dataclass
class Held:
    """An evidence record as one location holds it, with the tokens it names (``None``: none there)."""

    location: StorageLocation
    record: EvidenceRecord | None
    tokens: dict[int, bytes] = field(default_factory=dict)  # seq -> DER, for the tokens found and matching
    problems: list[str] = field(default_factory=list)


def read_held(location: StorageLocation, aip_id: str) -> Held:
    """The record at ``location`` and its tokens; a damaged record or token is a problem, not an exception."""
    held = Held(location, None)
    try:
        raw = ocfl_store.read_small(location, record_key(aip_id), MAX_RECORD_BYTES)
        if raw is None:
            return held
        held.record = EvidenceRecord.from_bytes(raw, f"{redact_url(location.url)}/{record_key(aip_id)}")
    except (StorageError, EvidenceError) as exc:
        held.problems.append(str(exc))
        return held
    for stamp in held.record.stamped():
        assert stamp.token_sha256 is not None
        try:
            token = ocfl_store.read_small(location, token_key(aip_id, stamp.token_sha256),
                                          timestamps.MAX_RESPONSE_BYTES)
        except StorageError as exc:
            held.problems.append(f"timestamp {stamp.seq}: {exc}")
            continue
        if token is None:
            held.problems.append(f"timestamp {stamp.seq}: token {stamp.token_sha256}.tsr is missing / thiếu tệp "
                                 "dấu thời gian")
        else:
            held.tokens[stamp.seq] = token  # a token whose digest differs is kept: verification says so
    return held


def best(helds: Sequence[Held]) -> Held | None:
    """The copy to go by: a readable record with the most stamps, whole tokens first; None when no location
    holds a readable one."""
    readable = [h for h in helds if h.record is not None]
    if not readable:
        return None

    def score(held: Held) -> tuple[int, int, int]:
        assert held.record is not None
        whole = sum(1 for s in held.record.stamped()
                    if s.seq in held.tokens and hashlib.sha256(held.tokens[s.seq]).hexdigest() == s.token_sha256)
        return len(held.record.stamped()), whole, len(held.record.stamps)

    return max(readable, key=score)


def write_record(location: StorageLocation, record: EvidenceRecord, tokens: dict[int, bytes], scratch: Path,
                 retain_until: datetime | None = None) -> None:
    """Put the record's tokens (each once: named by its digest) and then the record at ``location``, each
    read back. The tokens first: a record never names a token its location lacks."""
    storage = ReplicatedStorage([location])
    scratch.mkdir(parents=True, exist_ok=True)
    for stamp in record.stamped():
        assert stamp.token_sha256 is not None
        token = tokens.get(stamp.seq)
        if token is None or hashlib.sha256(token).hexdigest() != stamp.token_sha256:
            continue  # not ours to repair here: verification reports it
        path = scratch / f"{stamp.token_sha256}.tsr"
        path.write_bytes(token)
        storage.store(token_key(record.aip_id, stamp.token_sha256), path, stamp.token_sha256, retain_until)
    raw = record.to_bytes()
    path = scratch / RECORD_NAME
    path.write_bytes(raw)
    storage.store(record_key(record.aip_id), path, hashlib.sha256(raw).hexdigest(), retain_until)


def read_inventory_bytes(location: StorageLocation, aip_id: str, version: str) -> bytes | None:
    """A version's own ``vN/inventory.json`` when it matches its sidecar, else None."""
    root = ocfl.object_root(aip_id)
    raw = ocfl_store.read_small(location, f"{root}/{version}/{ocfl.INVENTORY}")
    side = ocfl_store.read_small(location, f"{root}/{version}/{ocfl.SIDECAR}", 4096)
    if raw is None or side is None or ocfl.sidecar_digest(side) != hashlib.sha512(raw).hexdigest():
        return None
    return raw


# -- stamping ---------------------------------------------------------------------------------------------


def tsa_agent(tsa_url: str) -> dict[str, str]:
    """The TSA as a PREMIS agent: identified by its URL (credentials never shown)."""
    url = redact_url(tsa_url)
    return {"type": TSA_AGENT_TYPE, "value": url, "name": f"RFC 3161 time-stamping authority {url}",
            "agent_type": "organization"}


def _stamp(
    tsa_url: str, aip_id: str, seq: int, kind: Literal["version", "renewal"], versions: list[str],
    previous: list[int], algorithm: str, imprint: bytes, reason: str, timeout: float,
) -> tuple[Stamp, bytes | None]:
    """Ask the TSA for one stamp; a failure is a ``warning`` stamp, never an exception."""
    requested = premis.now_iso()
    what = (f"the OCFL inventory of version {versions[0]}" if kind == "version"
            else f"the evidence of versions {', '.join(versions)}" + (
                f" and timestamps {', '.join(map(str, previous))}" if previous else ""))
    detail = (f"RFC 3161 timestamp ({'renewal' if kind == 'renewal' else 'first'}) of {what}, {algorithm}:"
              f"{imprint.hex()}, by {redact_url(tsa_url)} (evidence record entry {seq}; {reason}) / đóng dấu thời "
              "gian")
    token: bytes | None = None
    try:
        token = timestamps.request_timestamp(imprint, algorithm, tsa_url, timeout=timeout)
    except TimestampError as exc:
        outcome: Literal["success", "warning"] = "warning"
        outcome_detail = f"{exc}; `kho authenticity renew` adds it later / sẽ bổ sung sau"
        info = None
    else:
        outcome = "success"
        info = timestamps.describe(token)
        outcome_detail = (f"token serial {info.serial} at {info.gen_time.isoformat() if info.gen_time else '?'} by "
                          f"{info.tsa}; {OBJECT_DIR}/{hashlib.sha256(token).hexdigest()}.tsr")
    event = premis.new_event(
        EVENT_TYPE, outcome, aip_id=aip_id, object_ids=[aip_id], detail=detail, outcome_detail=outcome_detail,
        agents=[agents.link(agents.kho(), "executing program"), agents.link(tsa_agent(tsa_url), "implementer")],
    )
    stamp = Stamp(
        seq=seq, kind=kind, versions=versions, previous=previous, hash_algorithm=algorithm, imprint=imprint.hex(),
        requested_at=requested, tsa_url=redact_url(tsa_url), outcome=outcome, outcome_detail=outcome_detail,
        reason=reason, event=event,
        **(_token_fields(token, info) if token is not None and info is not None else {}),
    )
    return stamp, token


def _token_fields(token: bytes, info: TimestampInfo) -> dict[str, Any]:
    return {
        "token_sha256": hashlib.sha256(token).hexdigest(),
        "gen_time": info.gen_time.isoformat() if info.gen_time else None,
        "tsa": info.tsa,
        "serial": str(info.serial) if info.serial is not None else None,
        "tsa_certificate_not_after": (info.tsa_certificate_not_after.isoformat()
                                      if info.tsa_certificate_not_after else None),
    }


# Stamps made by this process, by (AIP, inventory SHA-512): the second location a version is published at
# gets the same stamp (and the same event) as the first, not a second request to the TSA.
_RECENT: OrderedDict[tuple[str, str], tuple[Stamp, bytes | None]] = OrderedDict()
# Events of stamps made at publication, until the caller that has a catalog takes them (``take_events``).
# Bounded: a long-running process whose caller never takes them (the ingest's store step, for now) must not
# grow; nothing is lost, the events are in the evidence records and ``renew`` records them.
_PENDING: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()


def _environment_settings() -> Settings | None:
    """This process's settings, for the publication hook when its caller has none to hand (a migration's or
    an audit's late publication). ``read_settings``: the environment and ``kho.toml``, without
    reconfiguring ``format_registry`` behind the caller's back as ``load_settings`` would."""
    try:
        return read_settings()
    except Exception as exc:  # a configuration the command itself loaded cannot fail here; say so if it does
        log.warning("timestamps: settings could not be read (%s); version not timestamped / không đọc được cấu "
                    "hình, phiên bản chưa được đóng dấu thời gian", exc)
        return None


def after_publish(location: StorageLocation, aip_id: str, version: str, raw_inventory: bytes, scratch: Path,
                  retain_until: datetime | None = None, settings: Settings | None = None) -> Stamp | None:
    """The publication hook (``ocfl_store.publish_version``): when ``KHO_TSA_URL`` is set, stamp the new
    inventory's digest and add the stamp to the AIP's evidence record at ``location``. Never raises: the
    version is committed already, and a stamp that could not be made or written is added by
    ``kho authenticity renew`` later (a failed attempt is recorded as a ``warning``)."""
    settings = settings or _environment_settings()
    if settings is None or not settings.tsa_url:
        return None
    try:
        return _publish_stamp(settings, location, aip_id, version, raw_inventory, scratch, retain_until)
    except (StorageError, EvidenceError, OSError) as exc:
        log.warning("AIP %s: evidence record not written at %s (%s); run `kho authenticity renew %s` / chưa ghi "
                    "được hồ sơ bằng chứng", aip_id, redact_url(location.url), exc, aip_id)
        return None


def _publish_stamp(settings: Settings, location: StorageLocation, aip_id: str, version: str, raw: bytes,
                   scratch: Path, retain_until: datetime | None) -> Stamp | None:
    held = read_held(location, aip_id)
    if held.problems and held.record is None:
        raise EvidenceError("; ".join(held.problems))  # a damaged record is not written over: renew mends it
    record = held.record or EvidenceRecord(aip_id)
    digests = inventory_digests(raw)
    known = record.versions.get(version)
    if known is not None and known != digests:
        raise EvidenceError(f"version {version}'s inventory digest differs from the one the evidence record holds "
                            "/ mã băm inventory khác với hồ sơ bằng chứng")
    record.versions[version] = digests
    if version in record.covered_versions():
        if known is None:
            write_record(location, record, held.tokens, scratch / "evidence", retain_until)
        return None
    cached = _RECENT.get((aip_id, digests["sha512"]))
    if cached is None:
        algorithm = DEFAULT_ALGORITHM
        cached = _stamp(settings.tsa_url, aip_id, record.next_seq, "version", [version], [], algorithm,
                        bytes.fromhex(digests[algorithm]), f"version {version} published", timestamps.DEFAULT_TIMEOUT)
        _RECENT[(aip_id, digests["sha512"])] = cached
        while len(_RECENT) > RECENT_LIMIT:
            _RECENT.popitem(last=False)
        _PENDING.setdefault(aip_id, []).append(cached[0].event)
        while len(_PENDING) > RECENT_LIMIT:
            _PENDING.popitem(last=False)
        if cached[0].outcome != "success":
            log.warning("AIP %s: version %s not timestamped: %s", aip_id, version, cached[0].outcome_detail)
    stamp, token = cached
    if any(s.event.get("id") == stamp.event.get("id") for s in record.stamps):
        return stamp  # this very attempt is in the record already (a publication repeated)
    stamp = replace(stamp, seq=record.next_seq)
    record.stamps.append(stamp)
    tokens = dict(held.tokens)
    if token is not None:
        tokens[stamp.seq] = token
    write_record(location, record, tokens, scratch / "evidence", retain_until)
    return stamp


def take_events(aip_id: str) -> list[dict[str, Any]]:
    """The events of the stamps this process made at publication of ``aip_id``'s versions, handed over once
    (to the ingest's store step, or to ``record_events`` after a migration)."""
    return _PENDING.pop(aip_id, [])


def record_events(catalog: Catalog, aip_id: str, events: Iterable[dict[str, Any]] = (), *, scan: bool = True) -> int:
    """Append to the catalog ``events``, those this process made at publication (``take_events``) and, with
    ``scan``, the events of every stamp in the AIP's evidence records in storage that the catalog does not
    hold yet (a stamp made at ingest, whose store step does not take them yet, or a publication finished by
    a process without a catalog at hand); returns how many were added. The TSA agents are registered first."""
    wanted: dict[str, dict[str, Any]] = {e["id"]: e for e in [*take_events(aip_id), *events]}
    for copy in catalog.copies(aip_id) if scan else []:
        if copy.status == "deleted":
            continue
        try:
            held = read_held(open_location(copy.location), aip_id)
        except StorageError:
            continue
        for stamp in held.record.stamps if held.record else []:
            if stamp.event.get("id"):
                wanted.setdefault(stamp.event["id"], stamp.event)
    if not wanted:
        return 0
    present = catalog.existing_event_ids(list(wanted))
    missing = sorted((e for i, e in wanted.items() if i not in present), key=lambda e: e["event_datetime"])
    if not missing:
        return 0
    tsa_agents = [tsa_agent_from_link(link) for e in missing for link in e.get("agents", [])
                  if link.get("type") == TSA_AGENT_TYPE]
    with catalog.session() as session:
        catalog.ensure_agents(session, [agents.kho(), *tsa_agents])
        catalog.append_events(session, missing)
    return len(missing)


def tsa_agent_from_link(link: dict[str, str]) -> dict[str, str]:
    return {"type": TSA_AGENT_TYPE, "value": link["value"], "name": f"RFC 3161 time-stamping authority "
            f"{link['value']}", "agent_type": "organization"}


# -- verifying ----------------------------------------------------------------------------------------------


@dataclass
class StampCheck:
    stamp: Stamp
    status: Status | Literal["failed attempt"]
    reason: str
    checked_at: str | None = None
    info: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        s = self.stamp
        return {
            "seq": s.seq, "kind": s.kind, "versions": s.versions, "previous": s.previous,
            "hash_algorithm": s.hash_algorithm, "imprint": s.imprint, "outcome": s.outcome, "reason_made": s.reason,
            "requested_at": s.requested_at, "tsa_url": s.tsa_url, "gen_time": s.gen_time, "tsa": s.tsa,
            "serial": s.serial, "tsa_certificate_not_after": s.tsa_certificate_not_after,
            "token": f"{OBJECT_DIR}/{s.token_sha256}.tsr" if s.token_sha256 else None,
            "status": self.status, "reason": self.reason, "checked_at": self.checked_at,
            "chain": (self.info or {}).get("chain", []),
        }


@dataclass
class EvidenceReport:
    aip_id: str
    status: Status
    reason: str
    versions: dict[str, str] = field(default_factory=dict)  # version -> "match" / why not
    stamps: list[StampCheck] = field(default_factory=list)
    locations: dict[str, str] = field(default_factory=dict)  # url -> "same" / "missing" / a problem

    def to_dict(self) -> dict[str, Any]:
        return {"aip_id": self.aip_id, "status": self.status, "reason": self.reason, "versions": self.versions,
                "timestamps": [c.to_dict() for c in self.stamps], "locations": self.locations}


def verify_record(
    record: EvidenceRecord, tokens: dict[int, bytes], inventories: dict[str, bytes | None],
    anchors: Sequence[x509.Certificate], *, now: datetime | None = None, retired: Iterable[str] = (),
) -> EvidenceReport:
    """Check the whole record: every version's inventory (``inventories``: the bytes read from storage)
    has the digests the record holds, every stamp's token is the one named and stamps what it must, each
    verified at the time the stamp covering it was made (RFC 4998), the heads today (``now``). ``retired``
    hash algorithms make a head indeterminate: a renewal with another algorithm is due."""
    now = now or datetime.now(UTC)
    retired = set(retired)
    report = EvidenceReport(record.aip_id, "valid", "")
    problems: dict[Status, list[str]] = {"invalid": [], "indeterminate": []}
    for version in sorted(record.versions, key=ocfl.version_number):
        raw = inventories.get(version)
        if raw is None:
            report.versions[version] = "inventory not found / không tìm thấy inventory"
            problems["indeterminate"].append(f"{version}: inventory not found")
        elif inventory_digests(raw) != record.versions[version]:
            report.versions[version] = "inventory differs from the stamped digest / inventory đã bị thay đổi"
            problems["invalid"].append(f"{version}: inventory differs from the stamped digest")
        else:
            report.versions[version] = "match"
    heads = {s.seq for s in record.heads()}
    for stamp in record.stamps:
        if not stamp.stamped:
            report.stamps.append(StampCheck(stamp, "failed attempt", stamp.outcome_detail))
            continue
        check = _check_stamp(record, stamp, tokens, anchors, now)
        if check.status == "valid" and stamp.seq in heads and stamp.hash_algorithm in retired:
            check = replace(check, status="indeterminate", reason=f"{stamp.hash_algorithm} is retired by the policy: "
                            "renew with another hash (`kho authenticity renew --hash sha512`) / thuật toán băm đã "
                            "hết hạn sử dụng, cần gia hạn")
        report.stamps.append(check)
        if check.status in problems:
            problems[check.status].append(f"timestamp {stamp.seq}: {check.reason}")
    uncovered = record.uncovered_versions()
    if uncovered:
        problems["indeterminate"].append(f"no timestamp of {', '.join(uncovered)} (`kho authenticity renew`) / "
                                         "chưa có dấu thời gian")
    if problems["invalid"]:
        report.status, report.reason = "invalid", "; ".join(problems["invalid"])
    elif problems["indeterminate"]:
        report.status, report.reason = "indeterminate", "; ".join(problems["indeterminate"])
    else:
        report.reason = (f"{len(record.stamped())} timestamps cover {len(record.versions)} versions; the chain "
                         "holds / chuỗi dấu thời gian hợp lệ")
    return report


def _check_stamp(record: EvidenceRecord, stamp: Stamp, tokens: dict[int, bytes],
                 anchors: Sequence[x509.Certificate], now: datetime) -> StampCheck:
    token = tokens.get(stamp.seq)
    if token is None:
        return StampCheck(stamp, "invalid", "the token is missing / thiếu tệp dấu thời gian")
    if hashlib.sha256(token).hexdigest() != stamp.token_sha256:
        return StampCheck(stamp, "invalid", "the token is not the one recorded (altered) / tệp dấu thời gian đã bị "
                          "thay đổi")
    try:
        imprint = expected_imprint(record, stamp, tokens)
    except KeyError as exc:
        return StampCheck(stamp, "invalid", f"what it covers is missing ({exc}) / thiếu dữ liệu được đóng dấu")
    if imprint.hex() != stamp.imprint:
        return StampCheck(stamp, "invalid", "what it covers changed since it was stamped / dữ liệu đã thay đổi sau "
                          "khi đóng dấu")
    cover = record.covering(stamp.seq)
    moment = datetime.fromisoformat(cover.gen_time) if cover is not None and cover.gen_time else now
    info = timestamps.verify_timestamp(token, imprint, anchors, at=moment, algorithm=stamp.hash_algorithm)
    reason = info.reason
    if cover is not None and info.status == "valid":
        reason = f"valid when timestamp {cover.seq} covered it / hợp lệ tại thời điểm được gia hạn"
    return StampCheck(stamp, info.status, reason, moment.isoformat(timespec="seconds"), info.to_dict())


def verify_aip(catalog: Catalog, aip_id: str, anchors: Sequence[x509.Certificate], *,
               now: datetime | None = None, retired: Iterable[str] = ()) -> EvidenceReport:
    """The AIP's evidence as storage holds it: the best copy of the record (``best``) checked against the
    inventories in storage; each location's copy compared with it."""
    aip = catalog.get_aip(aip_id)
    if aip is None:
        raise EvidenceError(f"AIP {aip_id} is not in the catalog / không tìm thấy gói AIP")
    locations = _locations(catalog, aip_id)
    helds = [read_held(location, aip_id) for location in locations]
    chosen = best(helds)
    if chosen is None or chosen.record is None:
        problems = "; ".join(p for h in helds for p in h.problems)
        report = EvidenceReport(aip_id, "indeterminate", "no evidence record: nothing was timestamped (is KHO_TSA_URL "
                                "set? `kho authenticity renew` adds the first timestamp) / chưa có hồ sơ bằng chứng"
                                + (f"; {problems}" if problems else ""))
        report.locations = {redact_url(h.location.url): "; ".join(h.problems) or "missing" for h in helds}
        return report
    record = chosen.record
    inventories = {v: _stamped_inventory(locations, aip_id, v, record.versions[v]) for v in record.versions}
    report = verify_record(record, chosen.tokens, inventories, anchors, now=now, retired=retired)
    for held in helds:
        if held.record is None:
            state = "; ".join(held.problems) or "missing"
        elif held.record.to_bytes() == record.to_bytes():
            state = "same" if not held.problems else "same record; " + "; ".join(held.problems)
        else:
            state = "differs (`kho authenticity renew` writes the best copy everywhere)"
        report.locations[redact_url(held.location.url)] = state
    return report


def _stamped_inventory(locations: Sequence[StorageLocation], aip_id: str, version: str,
                       digests: dict[str, str]) -> bytes | None:
    """The bytes of ``vN/inventory.json`` as stored, sidecar or not (the stamp is the evidence here): a copy
    with the stamped digests if any location has one, else the first copy found (which then fails)."""
    found: bytes | None = None
    for location in locations:
        try:
            raw = ocfl_store.read_small(location, f"{ocfl.object_root(aip_id)}/{version}/{ocfl.INVENTORY}")
        except StorageError:
            continue
        if raw is not None and inventory_digests(raw) == digests:
            return raw
        found = found if found is not None else raw
    return found


def _first_inventory(locations: Sequence[StorageLocation], aip_id: str, version: str) -> bytes | None:
    for location in locations:
        try:
            raw = read_inventory_bytes(location, aip_id, version)
        except StorageError:
            continue
        if raw is not None:
            return raw
    return None


def _locations(catalog: Catalog, aip_id: str) -> list[StorageLocation]:
    return [open_location(c.location) for c in catalog.copies(aip_id) if c.status != "deleted"]


# -- renewing -----------------------------------------------------------------------------------------------


@dataclass
class RenewOutcome:
    aip_id: str
    action: Literal["renewed", "current", "failed"]
    reason: str
    stamp: int | None = None
    events: int = 0
    locations: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def due(record: EvidenceRecord, *, now: datetime, before_days: int, algorithm: str | None) -> list[str]:
    """Why the record needs a new stamp now (empty: it does not): a version without a stamp, a head whose
    TSA certificate expires within ``before_days``, a head made with another algorithm than ``algorithm``."""
    reasons = []
    uncovered = record.uncovered_versions()
    if uncovered:
        reasons.append(f"no timestamp of {', '.join(uncovered)}")
    limit = now + timedelta(days=before_days)
    for head in record.heads():
        not_after = head.not_after()
        if not_after is not None and not_after <= limit:
            reasons.append(f"the TSA certificate of timestamp {head.seq} expires {not_after.date().isoformat()}")
        if algorithm is not None and head.hash_algorithm != algorithm:
            reasons.append(f"{algorithm} replaces {head.hash_algorithm} (timestamp {head.seq})")
    return reasons


def renew(settings: Settings, catalog: Catalog, aip_id: str, *, before_days: int = 365,
          algorithm: str | None = None, now: datetime | None = None) -> RenewOutcome:
    """Add a stamp to the AIP's evidence record where ``due`` says one is needed, covering every version and
    every head (so the chain of evidence continues), and write the record to every location of the AIP
    (also when nothing was due: a location that missed an earlier write gets the best copy). The stamp's
    event, and any stamp event the catalog lacks, go to the catalog."""
    from preservation.retention import lock_until

    if not settings.tsa_url:
        raise EvidenceError("KHO_TSA_URL is not set: no timestamp can be made / chưa cấu hình máy chủ cấp dấu "
                            "thời gian (KHO_TSA_URL)")
    if algorithm is not None and algorithm not in DIGESTS:
        raise EvidenceError(f"--hash {algorithm}: choose one of {DIGESTS} / chọn một trong {DIGESTS}")
    now = now or datetime.now(UTC)
    aip = catalog.get_aip(aip_id)
    if aip is None or aip.deleted_at is not None:
        raise EvidenceError(f"AIP {aip_id} is not in the catalog / không tìm thấy gói AIP")
    if not aip.ocfl_head:
        raise EvidenceError(f"AIP {aip_id} is stored in the layout before OCFL: run `kho storage upgrade` first / "
                            "gói AIP còn theo cấu trúc cũ")
    locations = _locations(catalog, aip_id)
    helds = [read_held(location, aip_id) for location in locations]
    chosen = best(helds)
    record = chosen.record if chosen is not None and chosen.record is not None else EvidenceRecord(aip_id)
    tokens = dict(chosen.tokens) if chosen is not None else {}
    _add_versions(record, locations, aip)
    reasons = due(record, now=now, before_days=before_days, algorithm=algorithm)
    outcome = RenewOutcome(aip_id, "current", "nothing due / chưa đến hạn gia hạn")
    new_events: list[dict[str, Any]] = []
    if reasons:
        heads = record.heads()
        chosen_algorithm = algorithm or (heads[-1].hash_algorithm if heads else DEFAULT_ALGORITHM)
        versions = sorted(record.versions, key=ocfl.version_number)
        previous = [h.seq for h in heads]
        missing_tokens = [seq for seq in previous if seq not in tokens]
        if missing_tokens:
            raise EvidenceError(f"AIP {aip_id}: the tokens of timestamps {missing_tokens} are missing at every "
                                "location: the chain cannot be continued / thiếu tệp dấu thời gian")
        reason = "; ".join(reasons)
        if not previous and len(versions) == 1:
            kind: Literal["version", "renewal"] = "version"
            imprint = bytes.fromhex(record.versions[versions[0]][chosen_algorithm])
        else:
            kind = "renewal"
            imprint = hashlib.new(chosen_algorithm, renewal_input(record, versions, previous, tokens,
                                                                  chosen_algorithm)).digest()
        stamp, token = _stamp(settings.tsa_url, aip_id, record.next_seq, kind, versions, previous, chosen_algorithm,
                              imprint, reason, timestamps.DEFAULT_TIMEOUT)
        record.stamps.append(stamp)
        if token is not None:
            tokens[stamp.seq] = token
        new_events.append(stamp.event)
        outcome = RenewOutcome(aip_id, "renewed" if stamp.stamped else "failed",
                               reason if stamp.stamped else stamp.outcome_detail, stamp.seq)
    retain_until = lock_until(aip.bag_info or {})
    settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kho-evidence-", dir=settings.scratch_dir) as scratch:
        for number, location in enumerate(locations):
            url = redact_url(location.url)
            try:
                write_record(location, record, tokens, Path(scratch) / str(number), retain_until)
                outcome.locations[url] = "written"
            except (StorageError, OSError) as exc:
                outcome.locations[url] = f"not written: {exc}"
                if outcome.action != "failed":
                    outcome.action = "failed"
                    outcome.reason = f"{url}: evidence record not written ({exc}) / chưa ghi được hồ sơ bằng chứng"
    outcome.events = record_events(catalog, aip_id, new_events)
    return outcome


def _add_versions(record: EvidenceRecord, locations: Sequence[StorageLocation], aip: Aip) -> None:
    """The inventory digests of every version up to the catalog's head the record does not list yet (an AIP
    stored while timestamps were off, or a version whose stamp was never written), read from storage."""
    assert aip.ocfl_head is not None
    for number in range(1, ocfl.version_number(aip.ocfl_head) + 1):
        version = ocfl.version_name(number)
        if version in record.versions:
            continue
        raw = _first_inventory(locations, aip.id, version)
        if raw is None:
            raise EvidenceError(f"AIP {aip.id}: no location holds a whole inventory of {version}; run `kho fixity "
                                f"--aip {aip.id}` / không tìm thấy inventory")
        record.versions[version] = inventory_digests(raw)


def stored_aips(catalog: Catalog) -> list[str]:
    """Every stored OCFL AIP (for ``renew --all``), oldest first."""
    return [a.id for a in catalog.list_aips() if a.ocfl_head and a.deleted_at is None]

"""Event-chain checkpoints: the catalog's trail anchored in storage, outside the database
(docs/decisions/0023-anchored-event-trail-and-signed-receipts.md).

Why: the event hash chain lives in the catalog with its own head row. Whoever can write the database can
edit an event and recompute every hash after it, insert or delete events the same way, delete the last
events and set the head row back, or delete everything; ``verify_chain`` then says "intact". The AIP rows
(access mode, embargo, title, archive codes) are not in the chain at all. A checkpoint is a small JSON
file, written to every storage location after each round of the storage journal (``journal.flush``),
before the journal mark moves, that says:

- ``seq``, ``hash``: the last journaled event and its chain hash (it covers every event before it);
- ``count``: how many events the chain holds up to ``seq``; ``from_seq``: the journal mark before this round;
- ``aips``: for every AIP that has events in (``from_seq``, ``seq``], three SHA-256 digests of what its row
  says about access (access mode, embargo, basis, and the files' own access rules), its disposal state
  (status, deletion, disposal decision, hand-over) and its identity (id, SIP name, title, the bag-info
  with its archive codes, payload hash, previous version, creation). The first checkpoint of a storage
  (none at the journal mark) covers every AIP: ``full``;
- ``written_at`` and ``sha256`` of the rest.

Where: ``extensions/kho-checkpoints/<seq>.json`` at every location, and a copy in the OCFL object's
``logs/kho-checkpoints/`` of each AIP it covers (it travels with the object). With ``KHO_SIGNING_KEY``
the archive signs it: ``<seq>.json.p7s``, a detached CMS signature (``preservation.signing``); a
timestamper (``Timestamper``, see ``timestamper_for``) adds ``<seq>.json.tsr``. Companions are written
first, the JSON last: a checkpoint that is there is complete.

``verify`` compares the catalog with every checkpoint: an event edited or re-chained before a
checkpoint changes the hash at its ``seq``; deleted or inserted events change the hash or the count; a
truncated or emptied chain lacks the events the newest checkpoint names; an AIP row whose access,
disposal or identity changed without an event no longer matches the last checkpoint that covers it.
What it cannot tell from Kho's own work: events appended at the end of the chain, past the journal mark,
are anchored by the next flush like any other (a writer of the database that appends the way Kho does
is Kho, as far as storage can tell).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from sqlalchemy import func, or_, select

from packages import ocfl
from preservation import ocfl_store
from preservation.catalog import Aip, Catalog, Event, File, StorageCopy
from preservation.config import Settings
from preservation.journal import JournalError, journal_mark, plain
from preservation.signing import SigningError, load_certificates, signer_from_settings, verify_detached
from storage_adapters.base import StorageError, StorageLocation
from storage_adapters.local import LocalStorage
from storage_adapters.registry import open_location
from storage_adapters.replicated import ReplicatedStorage

log = logging.getLogger("kho.checkpoints")

EXTENSION = "kho-checkpoints"
FORMAT = "kho-checkpoint/1"
ROOT_DIR = f"extensions/{EXTENSION}"
OBJECT_LOGS = f"logs/{EXTENSION}"
SIGNATURE = ".p7s"  # a detached CMS signature of the checkpoint's bytes
TIMESTAMP = ".tsr"  # an RFC 3161 timestamp token over them (part C of issue #18)
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024
BATCH = 500  # ids per IN (...)

# what an AIP row's digests cover, group by group (the names say what differs when one does not match)
GROUPS: dict[str, tuple[str, ...]] = {
    "access": ("access_mode", "embargo_until", "access_basis"),
    "disposal": ("status", "deleted_at", "disposal", "transferred_at"),
    "identity": ("id", "sip_name", "title", "bag_info", "payload_hash", "previous_version", "created_at"),
}
FILE_ACCESS = ("path", "access_mode", "embargo_until", "access_basis")  # a file's own access rule, in "access"
VIETNAMESE_GROUP = {"access": "quyền truy cập", "disposal": "trạng thái hủy/nộp lưu", "identity": "định danh"}

EXTENSION_CONFIG = {
    "extensionName": EXTENSION,
    "description": (
        "Kho's event-chain checkpoints (a local extension): after each round of the catalog journal, the seq, "
        "hash and count of the chain and digests of the AIP rows' access, disposal and identity, as JSON files "
        "written once, optionally with a detached CMS signature (.p7s) and an RFC 3161 timestamp (.tsr). See "
        "Kho's docs/decisions/0023-anchored-event-trail-and-signed-receipts.md."
    ),
    "format": FORMAT,
}


class CheckpointError(JournalError):
    """A checkpoint file that is not one Kho wrote, or whose digest does not match its content."""


class Timestamper(Protocol):
    """What timestamps a checkpoint: ``timestamp(data)`` returns the DER of an RFC 3161 TimeStampToken whose
    message imprint is the SHA-256 of ``data`` (the checkpoint's bytes), stored as ``<seq>.json.tsr``;
    it raises (any exception) when the TSA cannot be reached: the checkpoint is then written without."""

    def timestamp(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class TsaTimestamper:
    """Checkpoints time-stamped by the archive's RFC 3161 TSA (``KHO_TSA_URL``; decision 0024)."""

    tsa_url: str

    def timestamp(self, data: bytes) -> bytes:
        from preservation import timestamps

        return timestamps.request_timestamp(hashlib.sha256(data).digest(), "sha256", self.tsa_url)


def timestamper_for(settings: Settings) -> Timestamper | None:
    """The TSA that timestamps checkpoints: ``settings.tsa_url``'s; None (not timestamped) when unset."""
    return TsaTimestamper(settings.tsa_url) if settings.tsa_url else None


# -- digests -------------------------------------------------------------------------------------------


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def aip_digests(row: Any, file_rules: Iterable[Any] = ()) -> dict[str, str]:
    """The three digests of an AIP row (``Aip`` or a row with its columns) and its files' access rules."""
    digests = {}
    for group, names in GROUPS.items():
        values: dict[str, Any] = {name: plain(getattr(row, name)) for name in names}
        if group == "access":
            values["files"] = sorted([plain(getattr(rule, c)) for c in FILE_ACCESS] for rule in file_rules)
        digests[group] = hashlib.sha256(_canonical({"group": group, "values": values})).hexdigest()
    return digests


def _file_rules(session: Any, aip_ids: list[str] | None) -> dict[str, list[Any]]:
    """The files that carry an access rule of their own, by AIP (every AIP when ``aip_ids`` is None)."""
    rules: dict[str, list[Any]] = {}
    columns = [File.aip_id, *(getattr(File, c) for c in FILE_ACCESS)]
    own = or_(File.access_mode.is_not(None), File.embargo_until.is_not(None), File.access_basis.is_not(None))
    batches: Iterable[list[str] | None] = [None] if aip_ids is None else (
        aip_ids[i:i + BATCH] for i in range(0, len(aip_ids), BATCH))
    for batch in batches:
        query = select(*columns).where(own)
        if batch is not None:
            query = query.where(File.aip_id.in_(batch))
        for rule in session.execute(query):
            rules.setdefault(rule.aip_id, []).append(rule)
    return rules


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(body)).hexdigest()


def encode(body: dict[str, Any]) -> bytes:
    return _canonical({**body, "sha256": _digest(body)}) + b"\n"


def decode(raw: bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{where}: not a {FORMAT} file")
    stated = data.pop("sha256", None)
    if stated != _digest(data):
        raise CheckpointError(f"{where}: its content does not match its sha256 (damaged or edited)")
    return data


def file_name(seq: int) -> str:
    return f"{seq:012d}.json"


def object_prefix(aip_id: str) -> str:
    return f"{ocfl.object_root(aip_id)}/{OBJECT_LOGS}/"


# -- writing -------------------------------------------------------------------------------------------


@dataclass
class Written:
    key: str
    seq: int
    signed: bool
    timestamped: bool
    full: bool
    aips: int


def after_journal_round(settings: Settings, catalog: Catalog, *, start: int, last: int, aip_ids: Iterable[str],
                        timestamper: Timestamper | None = None) -> Written:
    """Write the checkpoint of the chain up to ``last`` (the journal round that held the events after the
    mark ``start``, of the AIPs ``aip_ids``). Called by ``journal.flush`` after the round's files are
    stored and before the mark moves: a checkpoint that could not be written is written by the next flush.
    Raises StorageError when a location refuses it. A key or TSA that fails leaves the checkpoint
    unsigned or untimestamped (logged): the journal must not stop for it, ``kho events verify`` says so."""
    previous = _read_previous(settings, start)
    body, objects = _snapshot(catalog, start, last, sorted(set(aip_ids)), previous)
    data = encode(body)
    name = file_name(last)
    companions: dict[str, bytes] = {}
    try:
        signer = signer_from_settings(settings)
        if signer is not None:
            companions[name + SIGNATURE] = signer.sign(data)
    except SigningError as exc:
        log.error("checkpoint #%d written unsigned: %s / điểm neo #%d được ghi nhưng chưa ký", last, exc, last)
    stamper = timestamper if timestamper is not None else timestamper_for(settings)
    if stamper is not None:
        try:
            companions[name + TIMESTAMP] = stamper.timestamp(data)
        except Exception as exc:  # any TSA failure: written without, renewed later (part C)
            log.warning("checkpoint #%d not timestamped: %s / điểm neo #%d chưa được gắn dấu thời gian", last, exc,
                        last)
    files = [*companions.items(), (name, data)]  # the JSON last: a checkpoint present is complete
    with _scratch(settings) as scratch:
        for file, content in files:
            _store(scratch, f"{ROOT_DIR}/{file}", content, list(settings.storage))
        if body["full"]:
            config = json.dumps(EXTENSION_CONFIG, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            _store(scratch, f"{ROOT_DIR}/config.json", config.encode(), list(settings.storage))
        for aip_id, urls in objects.items():
            for file, content in files:
                _store(scratch, object_prefix(aip_id) + file, content, urls)
    return Written(f"{ROOT_DIR}/{name}", last, any(k.endswith(SIGNATURE) for k in companions),
                   any(k.endswith(TIMESTAMP) for k in companions), bool(body["full"]), len(body["aips"]))


def _read_previous(settings: Settings, start: int) -> dict[str, Any] | None:
    """The checkpoint at the journal mark, if storage has a good one (its count is carried on)."""
    if start <= 0:
        return None
    key = f"{ROOT_DIR}/{file_name(start)}"
    for url in settings.storage:
        try:
            raw = ocfl_store.read_small(open_location(url), key, MAX_CHECKPOINT_BYTES)
            if raw is not None:
                return decode(raw, key)
        except (StorageError, CheckpointError) as exc:
            log.warning("checkpoint %s at %s unreadable (%s): the next one covers every AIP", key, url, exc)
    return None


def _snapshot(catalog: Catalog, start: int, last: int, aip_ids: list[str], previous: dict[str, Any] | None
              ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The checkpoint's body from one read of the catalog, and the live copies of each AIP whose object's
    logs get a copy."""
    full = previous is None
    with catalog.session(readonly=True) as session:
        head = session.scalar(select(Event.hash).where(Event.seq == last))
        if head is None:
            raise CheckpointError(f"event #{last} is not in the catalog: no checkpoint written")
        if previous is not None:
            count = int(previous["count"]) + int(session.scalar(
                select(func.count(Event.seq)).where(Event.seq > start, Event.seq <= last)) or 0)
        else:
            count = int(session.scalar(select(func.count(Event.seq)).where(Event.seq <= last)) or 0)
        rows: list[Aip] = []
        if full:
            rows = list(session.scalars(select(Aip).order_by(Aip.id)))
        else:
            for i in range(0, len(aip_ids), BATCH):
                rows.extend(session.scalars(select(Aip).where(Aip.id.in_(aip_ids[i:i + BATCH]))))
        rules = _file_rules(session, None if full else aip_ids)
        covered = {row.id: aip_digests(row, rules.get(row.id, ())) for row in rows}
        objects: dict[str, list[str]] = {}
        in_round = set(aip_ids)
        for row in rows:
            if row.id not in in_round or row.deleted_at is not None or not row.ocfl_head:
                continue
            live = [c.location for c in session.scalars(select(StorageCopy).where(StorageCopy.aip_id == row.id)
                                                         .order_by(StorageCopy.id)) if c.status != "deleted"]
            if live:
                objects[row.id] = live
    body = {"format": FORMAT, "seq": last, "hash": head, "count": count, "from_seq": start, "full": full,
            "written_at": plain(datetime.now(UTC)), "fields": {**GROUPS, "access": [*GROUPS["access"], "files"]},
            "aips": dict(sorted(covered.items()))}
    return body, objects


@contextlib.contextmanager
def _scratch(settings: Settings) -> Iterator[Path]:
    settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kho-checkpoint-", dir=settings.scratch_dir) as scratch:
        yield Path(scratch)


def _store(scratch: Path, key: str, data: bytes, urls: list[str]) -> None:
    """Put ``data`` under ``key`` at every location of ``urls``, each read back (as the journal does; an
    unmounted local volume is refused, never written into)."""
    locations = [open_location(u) for u in dict.fromkeys(urls)]
    for location in locations:
        if isinstance(location, LocalStorage) and not location.root.is_dir():
            raise StorageError(f"{location.url}: {location.root} is not there (an unmounted or lost volume?)")
    path = scratch / "entry"
    path.write_bytes(data)
    try:
        ReplicatedStorage(locations).store(key, path, hashlib.sha256(data).hexdigest())
    finally:
        path.unlink(missing_ok=True)


# -- verifying ----------------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    key: str
    body: dict[str, Any]
    signer: str | None = None  # the subject of a signature that matches the bytes
    trusted: bool = False  # and whose certificate is the archive's own or issued under a trust anchor
    timestamped: str | None = None  # the time an RFC 3161 timestamp over the bytes gives, when it checks

    @property
    def seq(self) -> int:
        return int(self.body["seq"])

    @property
    def when(self) -> str:
        return str(self.body.get("written_at", "?"))[:19].replace("T", " ")


@dataclass
class TrailReport:
    """What ``verify`` found: problems (the trail does not match its anchors) and notes (nothing wrong)."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def newest(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None

    def to_dict(self) -> dict[str, Any]:
        newest = self.newest
        return {"ok": self.ok, "checkpoints": len(self.checkpoints), "problems": self.problems, "notes": self.notes,
                "newest": None if newest is None else {"seq": newest.seq, "written_at": newest.body.get("written_at"),
                                                       "signed_by": newest.signer, "signer_trusted": newest.trusted,
                                                       "timestamped": newest.timestamped}}


def trusted_certificates(settings: Settings) -> list[x509.Certificate]:
    """Who may sign checkpoints: the archive's own certificate (``KHO_SIGNING_KEY``) and the trust anchors."""
    trusted: list[x509.Certificate] = []
    with contextlib.suppress(SigningError):
        signer = signer_from_settings(settings)
        if signer is not None:
            trusted.append(signer.certificate)
    if settings.trust_anchors is not None and settings.trust_anchors.is_dir():
        trusted.extend(load_certificates([settings.trust_anchors]))
    return trusted


def read_checkpoints(settings: Settings, report: TrailReport) -> None:
    """Every checkpoint at every location, each copy checked (digest, signature); ``report.checkpoints``
    gets one good copy per seq, in order."""
    trusted = trusted_certificates(settings)
    from preservation.timestamps import load_anchors

    tsa_anchors = load_anchors(settings.trust_anchors) if settings.trust_anchors else []
    holders: dict[str, list[StorageLocation]] = {}
    present: dict[str, set[str]] = {}  # key -> urls (companions too)
    for url in settings.storage:
        try:
            location = open_location(url)
            for key in location.list(f"{ROOT_DIR}/"):
                present.setdefault(key, set()).add(url)
                if key.endswith(".json") and key != f"{ROOT_DIR}/config.json":
                    holders.setdefault(key, []).append(location)
        except (StorageError, OSError) as exc:
            report.problems.append(f"{url}: its checkpoints could not be listed ({exc}) / không liệt kê được các "
                                   "điểm neo tại vị trí lưu trữ này")
    for key in sorted(holders):
        good: list[Checkpoint] = []
        for location in holders[key]:
            where = f"{location.url}/{key}"
            try:
                raw = ocfl_store.read_small(location, key, MAX_CHECKPOINT_BYTES)
                if raw is None:
                    continue
                body = decode(raw, where)
                signature = ocfl_store.read_small(location, key + SIGNATURE, 1024 * 1024) \
                    if location.url in present.get(key + SIGNATURE, ()) else None
            except (StorageError, CheckpointError) as exc:
                report.problems.append(f"checkpoint {where}: {exc} / điểm neo bị hỏng hoặc bị sửa")
                continue
            checkpoint = Checkpoint(key, body)
            if signature is not None:
                verdict = verify_detached(raw, signature, trusted)
                if not verdict.intact:
                    report.problems.append(f"checkpoint {where}: {verdict.reason} — the checkpoint file was altered "
                                           "/ tệp điểm neo đã bị sửa")
                    continue
                if trusted and not verdict.trusted:
                    report.problems.append(f"checkpoint {where}: {verdict.reason}")
                    continue
                checkpoint.signer, checkpoint.trusted = verdict.signer, verdict.trusted
            if location.url in present.get(key + TIMESTAMP, ()):
                problem = _check_timestamp(location, key, raw, tsa_anchors, checkpoint, report)
                if problem:
                    report.problems.append(f"checkpoint {where}: {problem}")
                    continue
            good.append(checkpoint)
        if not good:
            continue
        chosen = next((g for g in good if g.trusted), next((g for g in good if g.signer), good[0]))
        if any(g.body != chosen.body for g in good):
            if all(g.trusted for g in good):  # both signed by the archive: one rewritten after a crashed flush
                report.notes.append(f"checkpoint {key}: the locations hold two signed versions; the first is used")
            else:
                report.problems.append(f"checkpoint {key}: the copies at the locations differ / các bản sao điểm "
                                       "neo tại các vị trí lưu trữ khác nhau")
        report.checkpoints.append(chosen)
    report.checkpoints.sort(key=lambda c: c.seq)
    signed = [c for c in report.checkpoints if c.signer]
    if signed and settings.signing_key is not None:
        unsigned = [c.seq for c in report.checkpoints if c.seq > signed[0].seq and not c.signer]
        if unsigned:
            report.problems.append(
                f"checkpoint(s) #{', #'.join(map(str, unsigned[:10]))} are not signed although earlier ones are "
                "(signature removed, or the key failed: see the log) / điểm neo không có chữ ký dù các điểm trước có")


def _check_timestamp(location: StorageLocation, key: str, raw: bytes, anchors: list[Any], checkpoint: Checkpoint,
                     report: TrailReport) -> str | None:
    """A checkpoint's RFC 3161 token (``<seq>.json.tsr``): a token that does not stamp these bytes is a
    problem (the checkpoint or the token was replaced); one whose TSA is not trusted is a note."""
    from preservation.timestamps import TimestampError, verify_timestamp

    try:
        token = ocfl_store.read_small(location, key + TIMESTAMP, 1024 * 1024)
    except StorageError as exc:
        return f"its timestamp could not be read ({exc}) / không đọc được dấu thời gian"
    if token is None:
        return None
    try:
        info = verify_timestamp(token, hashlib.sha256(raw).digest(), anchors)
    except TimestampError as exc:
        return f"its timestamp is not a valid token ({exc}) / dấu thời gian không hợp lệ"
    if info.status == "invalid":
        return f"its timestamp does not stamp these bytes ({info.reason}) / dấu thời gian không khớp tệp điểm neo"
    if info.status == "valid":
        checkpoint.timestamped = info.gen_time.isoformat() if info.gen_time else "valid"
    else:
        report.notes.append(f"checkpoint {key}: timestamp {info.status} ({info.reason})")
    return None


def verify(settings: Settings, catalog: Catalog) -> TrailReport:
    """Compare the catalog's events and AIP rows with the checkpoints in storage (see the module docstring)."""
    report = TrailReport()
    read_checkpoints(settings, report)
    if not report.checkpoints:
        if catalog.event_count():
            report.notes.append("no checkpoint in storage yet: the trail is anchored by the next command that adds "
                                "an event / chưa có điểm neo nào trong kho lưu trữ")
        return report
    _compare_chain(catalog, report)
    _compare_aips(catalog, report)
    return report


def _compare_chain(catalog: Catalog, report: TrailReport) -> None:
    wanted = {c.seq for c in report.checkpoints}
    seen: dict[int, tuple[str, int]] = {}
    count, last_seq = 0, 0
    for event in catalog.iter_events():
        count += 1
        last_seq = event.seq
        if event.seq in wanted:
            seen[event.seq] = (event.hash, count)
    matched: Checkpoint | None = None
    newest = report.checkpoints[-1]
    for checkpoint in report.checkpoints:
        since = f"after #{matched.seq}, which matches" if matched else "from the start of the chain"
        since_vi = f"sau #{matched.seq}" if matched else "từ đầu chuỗi"
        got = seen.get(checkpoint.seq)
        if got is None and checkpoint.seq > last_seq:
            report.problems.append(
                f"the chain was truncated: checkpoint #{checkpoint.seq} of {checkpoint.when} records "
                f"{checkpoint.body['count']} events up to #{checkpoint.seq}, the catalog has {count} ending at "
                f"#{last_seq or '-'} (events deleted and the chain head reset) / chuỗi sự kiện bị cắt: điểm neo "
                f"#{checkpoint.seq} ghi {checkpoint.body['count']} sự kiện, danh mục chỉ còn {count}")
            break
        if got is None:
            report.problems.append(
                f"event #{checkpoint.seq}, anchored by the checkpoint of {checkpoint.when}, is missing from the "
                f"catalog (deleted) / sự kiện #{checkpoint.seq} đã được neo nhưng không còn trong danh mục (bị xóa)")
            break
        if got[0] != checkpoint.body["hash"]:
            later = sum(1 for c in report.checkpoints if c.seq > checkpoint.seq)
            report.problems.append(
                f"the events up to #{checkpoint.seq} are not those anchored by the checkpoint of {checkpoint.when}: "
                f"an event {since} was edited, inserted or deleted and the chain recomputed (its hash is "
                f"{got[0][:16]}…, the checkpoint says {str(checkpoint.body['hash'])[:16]}…)"
                + (f"; {later} later checkpoint(s) differ with it" if later else "")
                + f" / các sự kiện đến #{checkpoint.seq} khác với điểm neo: một sự kiện {since_vi} đã bị sửa, chèn "
                "hoặc xóa và chuỗi bị tính lại")
            break
        if got[1] != int(checkpoint.body["count"]):
            report.problems.append(
                f"the catalog holds {got[1]} events up to #{checkpoint.seq}, the checkpoint of {checkpoint.when} "
                f"{checkpoint.body['count']}: events {since} were deleted or inserted / số sự kiện đến "
                f"#{checkpoint.seq} là {got[1]}, điểm neo ghi {checkpoint.body['count']}: sự kiện bị xóa hoặc chèn")
            break
        matched = checkpoint
    if last_seq > newest.seq:
        with catalog.session(readonly=True) as session:
            mark = journal_mark(session)
        after = count - (seen[newest.seq][1] if newest.seq in seen else count)
        if mark > newest.seq:
            report.problems.append(
                f"events up to #{mark} were journaled but no checkpoint in storage covers those after #{newest.seq} "
                f"(checkpoint files deleted?) / các sự kiện sau #{newest.seq} đã ghi nhật ký nhưng không có điểm neo")
        else:
            report.notes.append(f"{after} event(s) after #{newest.seq} are not anchored yet (the next command writes "
                                f"their checkpoint) / {after} sự kiện sau #{newest.seq} chưa được neo")


def _compare_aips(catalog: Catalog, report: TrailReport) -> None:
    covering: dict[str, Checkpoint] = {}
    for checkpoint in report.checkpoints:
        for aip_id in checkpoint.body.get("aips", {}):
            covering[aip_id] = checkpoint
    newest = report.checkpoints[-1].seq
    with catalog.session(readonly=True) as session:
        rules = _file_rules(session, None)
        rows = list(session.scalars(select(Aip).order_by(Aip.id)))
        uncovered = [r.id for r in rows if r.id not in covering]
        first_event: dict[str | None, int] = {}
        for i in range(0, len(uncovered), BATCH):
            first_event.update(session.execute(
                select(Event.aip_id, func.min(Event.seq)).where(Event.aip_id.in_(uncovered[i:i + BATCH]))
                .group_by(Event.aip_id)).tuples().all())
        last_event: dict[str | None, int] = dict(session.execute(
            select(Event.aip_id, func.max(Event.seq)).where(Event.aip_id.is_not(None)).group_by(Event.aip_id)
        ).tuples().all())
    for row in rows:
        anchor = covering.get(row.id)
        if anchor is None:
            first = first_event.get(row.id)
            if first is None:
                report.problems.append(f"AIP {row.id} has a catalog row but no event and no checkpoint: added outside "
                                       f"Kho / gói {row.id} có trong danh mục nhưng không có sự kiện hay điểm neo nào")
            elif first <= newest:
                report.problems.append(f"AIP {row.id} is in no checkpoint although its events from #{first} are: its "
                                       f"row was added outside Kho / gói {row.id} không có trong điểm neo nào")
            continue
        digests = aip_digests(row, rules.get(row.id, ()))
        anchored = anchor.body["aips"][row.id]
        changed = [g for g in GROUPS if digests.get(g) != anchored.get(g)]
        if not changed:
            continue
        if last_event.get(row.id, 0) > newest:
            report.notes.append(f"AIP {row.id}: changed by events not anchored yet / gói {row.id} thay đổi bởi sự "
                                "kiện chưa được neo")
            continue
        fields = "; ".join(f"{g}: {', '.join([*GROUPS[g], *(['files’ access rules'] if g == 'access' else [])])}"
                           for g in changed)
        vietnamese = ", ".join(VIETNAMESE_GROUP[g] for g in changed)
        report.problems.append(
            f"AIP {row.id} ({row.title or row.sip_name}): what its row says about {' and '.join(changed)} changed "
            f"without an event since the checkpoint #{anchor.seq} of {anchor.when} ({fields}) / gói {row.id}: "
            f"{vietnamese} đã bị thay đổi mà không có sự kiện nào kể từ điểm neo #{anchor.seq}")
    catalogued = {r.id for r in rows}
    for aip_id in sorted(set(covering) - catalogued):
        report.problems.append(f"AIP {aip_id}, anchored by the checkpoint #{covering[aip_id].seq}, is missing from the "
                               f"catalog (its row was deleted) / gói {aip_id} đã được neo nhưng bị xóa khỏi danh mục")

"""The anchored event trail (issue #18 D, decision 0023): each attack on the catalog database that the hash
chain alone cannot see, performed with SQL, is caught by ``kho events verify`` against the checkpoints in
storage; Kho's own changes are not; a tampered checkpoint file is reported."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from preservation.catalog import GENESIS_HASH, as_utc, event_hash
from tests.conftest import FIXTURE_SIPS, run_kho
from tests.pki import RECEIVER_NAME, Identity, Pki, build_pki

CHECKPOINTS = "storage/extensions/kho-checkpoints"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def archive(pki: Pki) -> Identity:
    return pki.organisation(RECEIVER_NAME)


@pytest.fixture
def two_aips(kho_home: Path) -> list[str]:
    ids = [json.loads(run_kho("ingest", str(FIXTURE_SIPS / name), "--json", check=True).stdout)["aip_id"]
           for name in ("hoso-2023-sotnmt-02", "hoso-2024-ubnd-01")]
    assert run_kho("events", "verify").returncode == 0
    return ids


@pytest.fixture
def db(kho_home: Path) -> Iterator[sqlite3.Connection]:
    """The catalog as an attacker with SQL access sees it (autocommit)."""
    conn = sqlite3.connect(kho_home / "catalog.sqlite", isolation_level=None)
    yield conn
    conn.close()


def rechain(conn: sqlite3.Connection, from_seq: int) -> None:
    """Recompute every hash from ``from_seq`` on, and the chain head, as an attacker who knows the scheme
    (``event_hash`` is public) does after editing, inserting or deleting an event."""
    rows = conn.execute("SELECT seq, id, aip_id, object_ids, event_type, event_datetime, detail, outcome, "
                        "outcome_detail, agents, prev_hash FROM events WHERE seq >= ? ORDER BY seq",
                        (from_seq,)).fetchall()
    before = conn.execute("SELECT hash FROM events WHERE seq < ? ORDER BY seq DESC LIMIT 1", (from_seq,)).fetchone()
    previous = before[0] if before else GENESIS_HASH
    for seq, id_, aip_id, object_ids, event_type, when, detail, outcome, outcome_detail, agents, _ in rows:
        fields = {"id": id_, "aip_id": aip_id, "object_ids": json.loads(object_ids), "event_type": event_type,
                  "event_datetime": as_utc(when), "detail": detail, "outcome": outcome,
                  "outcome_detail": outcome_detail, "agents": json.loads(agents)}
        digest = event_hash(fields, previous)
        conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", (previous, digest, seq))
        previous = digest
    count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.execute("UPDATE event_chain_head SET last_hash = ?, count = ? WHERE id = 1", (previous, count))


def verify() -> tuple[int, str, str]:
    result = run_kho("events", "verify")
    return result.returncode, result.stdout, result.stderr


def assert_caught(*needles: str) -> str:
    code, _out, err = verify()
    assert code == 1, err
    assert "event chain broken" not in err, "the attack re-chained: only the anchors can see it"
    assert "không khớp với các điểm neo" in err  # bilingual
    for needle in needles:
        assert needle in err, err
    return err


def test_untouched_catalog_and_kho_own_changes_are_intact(kho_home: Path, two_aips: list[str]) -> None:
    run_kho("dip", two_aips[0], "--requester", "Nguyễn Thị Mai", "--role", "archivist", "-o",
            str(kho_home / "dips"), check=True)
    run_kho("fixity", check=True)
    code, out, err = verify()
    assert code == 0, err
    assert "intact" in out and "checkpoints in storage agree" in out
    names = sorted(p.name for p in (kho_home / CHECKPOINTS).iterdir())
    assert "config.json" in names and len([n for n in names if n.endswith(".json")]) >= 4
    last = json.loads((kho_home / CHECKPOINTS / names[-2]).read_text(encoding="utf-8"))
    with sqlite3.connect(kho_home / "catalog.sqlite") as conn:
        assert last["count"] == conn.execute("SELECT count(*) FROM events").fetchone()[0]
        assert last["hash"] == conn.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()[0]
    logs = list((kho_home / "storage").rglob("logs/kho-checkpoints/*.json"))
    assert logs, "each AIP's object gets the checkpoints that cover it"
    assert all(p.stat().st_mode & 0o007 == 0 for p in logs)


def test_edited_event_rechained_is_caught(two_aips: list[str], db: sqlite3.Connection) -> None:
    db.execute("UPDATE events SET outcome_detail = 'no virus found' WHERE seq = 5")
    rechain(db, 5)
    assert_caught("edited, inserted or deleted and the chain recomputed", "from the start of the chain")


def test_deleted_last_events_with_the_head_reset_are_caught(two_aips: list[str], db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM events WHERE seq > (SELECT max(seq) - 3 FROM events)")
    last = db.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()[0]
    db.execute("UPDATE event_chain_head SET last_hash = ?, count = count - 3", (last,))
    db.execute("UPDATE journal_mark SET last_seq = (SELECT max(seq) FROM events)")
    assert_caught("truncated")


def test_every_event_and_the_head_deleted_is_caught(two_aips: list[str], db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM events")
    db.execute("DELETE FROM event_chain_head")
    db.execute("DELETE FROM journal_mark")
    assert_caught("truncated", "the catalog has 0")


def test_inserted_event_rechained_is_caught(two_aips: list[str], db: sqlite3.Connection) -> None:
    template = db.execute("SELECT aip_id, object_ids, agents FROM events WHERE seq = 10").fetchone()
    db.execute("UPDATE events SET seq = -(seq + 1) WHERE seq >= 10")
    db.execute("UPDATE events SET seq = -seq WHERE seq < 0")
    db.execute("INSERT INTO events (seq, id, aip_id, object_ids, event_type, event_datetime, detail, outcome, "
               "outcome_detail, agents, prev_hash, hash) VALUES (10, ?, ?, ?, 'fixity check', ?, '', 'success', "
               "'all copies verified', ?, '', '')",
               (str(uuid.uuid4()), template[0], template[1],
                datetime(2024, 1, 1, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), template[2]))
    rechain(db, 10)
    assert_caught("edited, inserted or deleted")


def test_access_mode_and_title_changed_without_an_event_are_caught(two_aips: list[str],
                                                                   db: sqlite3.Connection) -> None:
    db.execute("UPDATE aips SET access_mode = 'public' WHERE id = ?", (two_aips[0],))
    err = assert_caught(f"AIP {two_aips[0]}", "access changed without an event", "quyền truy cập")
    assert two_aips[1] not in err
    db.execute("UPDATE aips SET access_mode = 'restricted' WHERE id = ?", (two_aips[0],))  # put back: intact again
    assert verify()[0] == 0
    db.execute("UPDATE aips SET title = 'Hồ sơ khác' WHERE id = ?", (two_aips[1],))
    assert_caught(f"AIP {two_aips[1]}", "identity changed without an event", "định danh")


def test_embargo_on_a_file_and_a_deleted_aip_row_are_caught(two_aips: list[str], db: sqlite3.Connection) -> None:
    db.execute("UPDATE files SET embargo_until = '2099-01-01' WHERE aip_id = ? AND role = 'original'", (two_aips[1],))
    assert_caught(f"AIP {two_aips[1]}", "access")
    db.execute("UPDATE files SET embargo_until = NULL WHERE aip_id = ?", (two_aips[1],))
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("DELETE FROM aips WHERE id = ?", (two_aips[0],))
    assert_caught(f"AIP {two_aips[0]}", "missing from the catalog")


def test_signed_checkpoints_and_a_tampered_one(kho_home: Path, archive: Identity,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in archive.env().items():
        monkeypatch.setenv(name, value)
    run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), check=True)
    code, out, err = verify()
    assert code == 0, err
    assert f"signed by CN={RECEIVER_NAME}" in out
    folder = kho_home / CHECKPOINTS
    newest = sorted(folder.glob("0*.json"))[-1]
    assert newest.with_name(newest.name + ".p7s").is_file()
    # the attacker of the catalog also rewrites the checkpoint, digest and all, but cannot sign it
    db = sqlite3.connect(kho_home / "catalog.sqlite", isolation_level=None)
    db.execute("UPDATE events SET outcome_detail = 'no virus found' WHERE seq = 3")
    rechain(db, 3)
    body = json.loads(newest.read_text(encoding="utf-8"))
    body.pop("sha256")
    body["hash"] = db.execute("SELECT hash FROM events WHERE seq = ?", (body["seq"],)).fetchone()[0]
    from preservation.checkpoints import encode

    newest.write_bytes(encode(body))
    db.close()
    code, _out, err = verify()
    assert code == 1 and "the checkpoint file was altered" in err and "tệp điểm neo đã bị sửa" in err, err
    # and without the key at verify time the signature still does not match the bytes
    monkeypatch.delenv("KHO_SIGNING_KEY")
    code, _out, err = verify()
    assert code == 1 and "altered" in err


def test_an_unsigned_checkpoint_edited_without_its_digest_is_reported(kho_home: Path, two_aips: list[str]) -> None:
    newest = sorted((kho_home / CHECKPOINTS).glob("0*.json"))[-1]
    newest.write_text(newest.read_text(encoding="utf-8").replace('"count":', '"count":1'), encoding="utf-8")
    code, _out, err = verify()
    assert code == 1 and "damaged or edited" in err, err


def test_events_not_yet_anchored_are_a_note_not_a_failure(kho_home: Path, two_aips: list[str],
                                                           db: sqlite3.Connection) -> None:
    """A flush that could not reach storage leaves events past the journal mark: they wait, Kho says so."""
    refused = {"KHO_FAULT": "journal:refused"}
    result = run_kho("fixity", env=refused)
    assert result.returncode == 0, result.stderr
    waiting = run_kho("events", "verify", env=refused)
    assert waiting.returncode == 0, waiting.stderr
    assert "not anchored yet" in waiting.stdout and "chưa được neo" in waiting.stdout
    run_kho("aip", "list", check=True)  # the next command writes the journal and the checkpoint
    code, out, _err = verify()
    assert code == 0 and "not anchored yet" not in out


# -- the same attacks on a PostgreSQL catalog ------------------------------------------------------------

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_url(kho_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    schema = f"kho_trail_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # the server is part of this machine kind; say clearly when it is not there
        pytest.fail(f"PostgreSQL at {PG_SERVER} is not reachable: {exc}")
    url = f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("KHO_DATABASE_URL", url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.mark.postgres
def test_the_attacks_on_a_postgresql_catalog_are_caught(pg_url: str) -> None:
    from sqlalchemy import create_engine, text

    aip_id = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2023-sotnmt-02"), "--json",
                                check=True).stdout)["aip_id"]
    assert verify()[0] == 0
    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:  # edit an event and recompute the chain from it
            conn.execute(text("UPDATE events SET outcome_detail = 'no virus found' WHERE seq = 4"))
            previous = conn.execute(text("SELECT hash FROM events WHERE seq = 3")).scalar_one()
            rows = conn.execute(text("SELECT * FROM events WHERE seq >= 4 ORDER BY seq")).mappings().all()
            for row in rows:
                digest = event_hash(dict(row), previous)
                conn.execute(text("UPDATE events SET prev_hash = :p, hash = :h WHERE seq = :s"),
                             {"p": previous, "h": digest, "s": row["seq"]})
                previous = digest
            conn.execute(text("UPDATE event_chain_head SET last_hash = :h"), {"h": previous})
        assert_caught("edited, inserted or deleted and the chain recomputed")
        with engine.begin() as conn:
            conn.execute(text("UPDATE aips SET access_mode = 'public' WHERE id = :a"), {"a": aip_id})
        assert_caught(f"AIP {aip_id}", "access")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM events"))
            conn.execute(text("DELETE FROM event_chain_head"))
            conn.execute(text("DELETE FROM journal_mark"))
        assert_caught("truncated")
    finally:
        engine.dispose()


class FakeTsa:
    """Stands in for part C's RFC 3161 client: what the timestamp hook is given and where its token goes."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def timestamp(self, data: bytes) -> bytes:
        self.seen.append(data)
        return b"token over " + hashlib.sha256(data).hexdigest().encode()


def test_the_timestamp_hook_gets_the_checkpoint_bytes(kho_home: Path, two_aips: list[str]) -> None:
    from preservation import checkpoints
    from preservation.catalog import Catalog
    from preservation.config import load_settings

    settings = load_settings()
    catalog = Catalog(settings.database_url)
    try:
        last = max(e.seq for e in catalog.events())
        tsa = FakeTsa()
        written = checkpoints.after_journal_round(settings, catalog, start=last, last=last,
                                                  aip_ids=[two_aips[1]], timestamper=tsa)
    finally:
        catalog.close()
    assert written.timestamped and not written.signed and written.aips == 1
    stored = kho_home / "storage" / written.key
    assert tsa.seen == [stored.read_bytes()]
    token = stored.with_name(stored.name + ".tsr").read_bytes()
    assert token == b"token over " + hashlib.sha256(stored.read_bytes()).hexdigest().encode()
    # events verify checks the token itself (a real TSA's: tests/integration/test_timestamps.py): a fake is refused
    checked = run_kho("events", "verify")
    assert checked.returncode == 1 and "timestamp" in checked.stdout + checked.stderr

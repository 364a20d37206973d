"""``kho catalog rebuild`` (decision 0018): a lost catalog comes back from the storage locations alone, and
says the same things as before it was lost — on SQLite and on PostgreSQL.

Compared before and after, byte for byte: ``kho aip list --json``, ``kho aip show --json`` of every AIP (a
migrated one, a disposed one, with its files, copies and events), ``kho events verify``, the whole event
trail (``kho events export``, as JSON lines and as PREMIS: ids, datetimes, chain values, agents and their
names, in chain order) and the summary of a
fixity audit. Nothing is ignored (``IGNORED`` is empty): every value the commands print is restored as it
was, the copies' audit dates included, because the journal holds them.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import FIXTURE_SIPS, json_lines, run_kho
from tests.helpers import with_bag_info
from tests.reference.ocfl import assert_valid_ocfl
from tests.stored import object_dir

pytestmark = pytest.mark.timeout(900)
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IGNORED: frozenset[str] = frozenset()  # nothing the compared commands print may differ after a rebuild
COMMANDS = (["aip", "list"], ["events", "verify"], ["fixity"], ["ingest", str(FIXTURE_SIPS / "tt05-hoso-json")])


class Backend:
    """Where the catalog lives, and how to lose it."""

    def __init__(self, kind: str, home: Path, pg_url: str | None) -> None:
        self.kind, self.home, self.pg_url = kind, home, pg_url
        self.env = {"KHO_DATABASE_URL": pg_url} if pg_url else {}

    def lose(self) -> None:
        """Delete the catalog: the SQLite file with its -wal and -shm, or every table of the PG schema."""
        if self.pg_url is None:
            for name in ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"):
                (self.home / name).unlink(missing_ok=True)
            return
        schema = self.pg_url.rsplit("%3D", 1)[1]
        engine = create_engine(PG_SERVER)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, kho_home: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", kho_home, None)
        return
    schema = f"kho_rebuild_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # the server is part of this machine kind; say clearly when it is not there
        pytest.fail(f"PostgreSQL at {PG_SERVER} is not reachable: {exc}")
    yield Backend("postgres", kho_home, f"{PG_SERVER}?options=-csearch_path%3D{schema}")
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def kho(backend: Backend, *args: str, env: dict[str, str] | None = None, check: bool = True) -> Any:
    return run_kho(*args, env={**backend.env, **(env or {})}, check=check)


def ingest(backend: Backend, path: Path, env: dict[str, str] | None = None) -> str:
    return str(json.loads(kho(backend, "ingest", str(path), "--json", env=env).stdout)["aip_id"])


def observe(backend: Backend, aip_ids: list[str]) -> dict[str, Any]:
    """What the catalog says: the listing, each AIP in full, the chain's verdict, the whole trail."""
    return {
        "list": json_lines(kho(backend, "aip", "list", "--json").stdout),
        "show": {a: json.loads(kho(backend, "aip", "show", a, "--json").stdout) for a in aip_ids},
        "verify": kho(backend, "events", "verify").stdout,
        "trail": json_lines(kho(backend, "events", "export", "--format", "json").stdout),
        "premis": kho(backend, "events", "export", "--format", "premis").stdout,  # with the agents' names
    }


def differences(before: Any, after: Any, where: str = "") -> list[str]:
    """Every path at which two JSON values differ (for an assertion message that says what)."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [d for k in sorted(before.keys() | after.keys()) if k not in IGNORED
                for d in differences(before.get(k), after.get(k), f"{where}.{k}")]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [d for i, (b, a) in enumerate(zip(before, after, strict=True))
                for d in differences(b, a, f"{where}[{i}]")]
    return [] if before == after else [f"{where}: {before!r} -> {after!r}"[:400]]


def assert_lost_is_loud(backend: Backend) -> None:
    for command in COMMANDS:
        completed = kho(backend, *command, check=False)
        assert completed.returncode == 1, (command, completed.stdout, completed.stderr)
        assert "kho catalog rebuild" in completed.stderr and "Traceback" not in completed.stderr, completed.stderr


def test_rebuild_restores_what_the_catalog_said(backend: Backend, kho_home: Path, sample_sip: Path,
                                                png_to_tiff_policy: dict[str, str]) -> None:
    kept = ingest(backend, FIXTURE_SIPS / "hoso-2023-sotnmt-02")  # has a PNG: migrated below
    with_bag_info(sample_sip, maintenance="06", startDate="02/01/2010", endDate="28/12/2010")
    disposed = ingest(backend, sample_sip)
    rejected = kho(backend, "ingest", str(FIXTURE_SIPS / "bad-checksum"), check=False)
    assert rejected.returncode == 1  # its events belong to no AIP: the journal keeps them at the storage root
    migrated = json.loads(kho(backend, "migrate", "--json", env=png_to_tiff_policy).stdout)
    assert migrated["migrated"] == [kept]
    kho(backend, "dip", kept, "--requester", "Nguyễn Thị Mai", "--role", "archivist", "-o", str(kho_home / "dips"))
    first_audit = json.loads(kho(backend, "fixity", "--json").stdout)
    assert first_audit["failed"] == 0 and first_audit["checked"] == 2
    kho(backend, "disposal", "approve", disposed, "--decision", "QĐ số 12/QĐ-UBND", "--approver", "Lê Văn Hùng")
    assert not object_dir(kho_home / "storage", disposed).exists()
    audit_before = json.loads(kho(backend, "fixity", "--json").stdout)  # what an audit says now: the one AIP
    assert audit_before["failed"] == 0 and audit_before["checked"] == 1
    before = observe(backend, [kept, disposed])
    assert before["show"][disposed]["status"] == "deleted" and before["show"][kept]["files"]
    assert {"migration", "dissemination", "fixity check"} <= {e["type"] for e in before["show"][kept]["events"]}

    backend.lose()
    assert_lost_is_loud(backend)

    rebuilt = kho(backend, "catalog", "rebuild", "--json")
    report = json.loads(rebuilt.stdout)
    assert report["exact"] and not report["problems"] and not report["from_metadata"], report
    assert (report["aips"], report["disposed"], report["recovered_events"]) == (2, 1, 0), report
    assert report["events"] == len(before["trail"]), report
    after = observe(backend, [kept, disposed])
    assert not differences(before, after), differences(before, after)[:20]
    assert "intact" in after["verify"]

    audit_after = json.loads(kho(backend, "fixity", "--json").stdout)
    assert not differences(audit_before, audit_after), differences(audit_before, audit_after)
    found = kho(backend, "search", "khai thac cat", "--json").stdout  # the rebuilt catalog is searchable at once
    assert kept in found and disposed not in found, found
    assert_valid_ocfl(kho_home / "storage")  # the journal lives in the object's logs/, which no version holds
    refused = kho(backend, "catalog", "rebuild", check=False)
    assert refused.returncode == 1 and "not empty" in refused.stderr, refused.stderr
    again = ingest(backend, FIXTURE_SIPS / "hoso-2024-ubnd-01")  # the rebuilt catalog takes new work
    assert again not in (kept, disposed)
    assert kho(backend, "events", "verify").returncode == 0


def test_a_crash_between_commit_and_journal_is_caught_by_the_next_command(kho_home: Path) -> None:
    """Killed after its catalog commit and before its journal write, ``kho dip`` leaves the DIP event
    only in the catalog; the next command (any) writes it, so a rebuild still restores it."""
    backend = Backend("sqlite", kho_home, None)
    aip_id = ingest(backend, FIXTURE_SIPS / "hoso-2023-sotnmt-02")
    killed = kho(backend, "dip", aip_id, "--requester", "Trần Văn Bình", "--role", "administrator",
                 "-o", str(kho_home / "dips"), env={"KHO_FAULT": "journal:before-flush"}, check=False)
    assert killed.returncode == -9, killed.stderr
    journal = object_dir(kho_home / "storage", aip_id) / "logs" / "kho-journal"
    assert len(list(journal.iterdir())) == 1, "only the ingest was journaled"
    before = observe(backend, [aip_id])  # opening the catalog writes what the killed process did not
    assert len(list(journal.iterdir())) == 2
    assert before["show"][aip_id]["events"][-1]["type"] == "dissemination"
    backend.lose()
    report = json.loads(kho(backend, "catalog", "rebuild", "--json").stdout)
    assert report["exact"], report
    assert not differences(before, observe(backend, [aip_id]))


def test_an_aip_the_journal_never_received_is_described_from_its_mets_and_premis(kho_home: Path) -> None:
    """The journal write failed (storage refused it) and the catalog was lost before any later command
    wrote it: the AIP comes back from its head version's METS/PREMIS and inventory, flagged for review,
    its PREMIS events appended after the journaled chain; the rebuild says so and exits 1."""
    backend = Backend("sqlite", kho_home, None)
    first = ingest(backend, FIXTURE_SIPS / "hoso-2023-sotnmt-02")
    refused = {"KHO_FAULT": "journal:refused"}
    second = ingest(backend, FIXTURE_SIPS / "hoso-2024-ubnd-01", env=refused)
    assert not (object_dir(kho_home / "storage", second) / "logs").exists()
    shown = json.loads(kho(backend, "aip", "show", second, "--json", env=refused).stdout)
    backend.lose()

    rebuilt = kho(backend, "catalog", "rebuild", check=False)
    assert rebuilt.returncode == 1, rebuilt.stdout + rebuilt.stderr
    assert f"AIP {second}: described from its METS/PREMIS" in rebuilt.stdout
    assert "read from the AIPs' PREMIS" in rebuilt.stdout and "event chain intact" in rebuilt.stdout
    assert kho(backend, "events", "verify").returncode == 0
    listed = {a["aip_id"]: a for a in json_lines(kho(backend, "aip", "list", "--json").stdout)}
    assert listed[first]["needs_review"] is False and listed[second]["needs_review"] is True
    assert listed[second]["sip_name"] == "hoso-2024-ubnd-01" and listed[second]["title"] == shown["title"]
    after = json.loads(kho(backend, "aip", "show", second, "--json").stdout)
    same = ("path", "id", "role", "representation", "source_id", "puid", "format", "mime", "size", "sha256",
            "validation", "validator")
    assert [{k: f[k] for k in same} for f in after["files"]] == [{k: f[k] for k in same} for f in shown["files"]]
    assert after["payload_hash"] == shown["payload_hash"], "the submission hash is recomputed exactly"
    assert after["bag_info"] == shown["bag_info"]
    written = [(e["type"], e["datetime"]) for e in after["events"]]
    assert written and set(written) < {(e["type"], e["datetime"]) for e in shown["events"]}
    assert "ingestion end" not in {t for t, _ in written}, "an event after the METS was written is lost"
    audit = json.loads(kho(backend, "fixity", "--json").stdout)
    assert audit["failed"] == 0 and audit["checked"] == 2


def test_a_corrupted_catalog_names_the_rebuild_and_is_never_written_over(kho_home: Path) -> None:
    backend = Backend("sqlite", kho_home, None)
    aip_id = ingest(backend, FIXTURE_SIPS / "hoso-2023-sotnmt-02")
    before = observe(backend, [aip_id])  # also checkpoints the WAL into the file
    catalog = kho_home / "catalog.sqlite"
    for extra in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (kho_home / extra).unlink(missing_ok=True)
    with open(catalog, "r+b") as handle:
        handle.truncate(catalog.stat().st_size // 2)
        handle.seek(0)
        handle.write(os.urandom(100))
    damaged = catalog.read_bytes()
    listed = kho(backend, "aip", "list", check=False)
    assert listed.returncode == 1 and "cannot be read" in listed.stderr, listed.stderr
    assert "kho catalog rebuild" in listed.stderr and "Traceback" not in listed.stderr
    refused = kho(backend, "catalog", "rebuild", check=False)
    assert refused.returncode == 1 and "move it aside" in refused.stderr and "Traceback" not in refused.stderr
    assert catalog.read_bytes() == damaged, "the rebuild never writes over a catalog it cannot read"
    shutil.move(catalog, kho_home / "catalog.sqlite.damaged")
    assert json.loads(kho(backend, "catalog", "rebuild", "--json").stdout)["exact"]
    assert not differences(before, observe(backend, [aip_id]))

"""The catalog on the real PostgreSQL server (127.0.0.1:5432, database `test`), in a private schema."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from preservation.catalog import Catalog
from tests.conftest import FIXTURE_SIPS, json_lines, run_kho

pytestmark = pytest.mark.postgres
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_url() -> Iterator[str]:
    schema = f"kho_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(SERVER)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # the server is part of this machine kind; say clearly when it is not there
        pytest.fail(f"PostgreSQL at {SERVER} is not reachable: {exc}")
    yield f"{SERVER}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_ingest_with_postgres_catalog(kho_home: Path, pg_url: str) -> None:
    env = {"KHO_DATABASE_URL": pg_url}
    out = json.loads(run_kho("ingest", str(FIXTURE_SIPS / "hoso-2024-ubnd-01"), "--json", env=env,
                             check=True).stdout)
    assert not (kho_home / "catalog.sqlite").exists(), "SQLite must not be used when a URL is given"
    shown = json.loads(run_kho("aip", "show", str(out["aip_id"]), "--json", env=env, check=True).stdout)
    assert len([f for f in shown["files"] if f["role"] == "original"]) == 6
    assert "Tờ trình" in " ".join(f["path"] for f in shown["files"])  # Vietnamese text round-trips
    rejected = run_kho("ingest", str(FIXTURE_SIPS / "bad-checksum"), env=env)
    assert rejected.returncode == 1
    assert len(json_lines(run_kho("aip", "list", "--json", env=env).stdout)) == 1


@pytest.mark.timeout(120)
def test_alembic_upgrade_is_idempotent_and_chain_serialises(pg_url: str) -> None:
    """Two appenders on a fresh catalog, overlapping for real: the second waits on the database lock
    (the chain head) while the first transaction is open, then appends after it; nothing fails or is lost."""
    first, second = Catalog(pg_url), Catalog(pg_url)  # the second open re-runs the upgrade: a no-op
    from datetime import UTC, datetime

    def event() -> dict[str, object]:
        return {"id": str(uuid.uuid4()), "event_type": "fixity check", "event_datetime": datetime.now(UTC),
                "outcome": "success"}

    appended, release = threading.Event(), threading.Event()
    contender_pid: list[int] = []
    errors: list[BaseException] = []

    def holder() -> None:
        try:
            with first.session() as s1:
                first.append_events(s1, [event()])  # creates the head row: the lazy case that used to collide
                appended.set()
                assert release.wait(60)  # keep the transaction, and its lock, open
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            appended.set()

    def contender() -> None:
        try:
            with second.session() as s2:
                contender_pid.append(int(s2.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()))
                second.append_events(s2, [event(), event()])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    assert appended.wait(60) and not errors, errors
    threads.append(threading.Thread(target=contender))
    threads[1].start()
    admin = create_engine(SERVER)
    try:
        deadline = time.monotonic() + 60
        waiting = None
        while time.monotonic() < deadline and waiting != "Lock":  # bounded poll of the server's own view
            with admin.connect() as conn:
                waiting = conn.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                                       {"pid": contender_pid[0] if contender_pid else -1}).scalar()
            if waiting != "Lock":
                time.sleep(0.01)
        assert waiting == "Lock", "the second appender did not wait for the first transaction's lock"
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=60)
        admin.dispose()
    assert not errors, errors
    events = first.events()
    assert len(events) == 3
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert first.verify_chain() is None
    first.close()
    second.close()

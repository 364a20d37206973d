"""Parallel work never collides: many `kho` processes at once, on SQLite and on PostgreSQL.

Real processes throughout (`.venv/bin/kho` subprocesses, `multiprocessing` workers behind a barrier);
every wait is bounded, and waits on a condition (a file, a child process) rather than on a sleep.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from preservation.catalog import Catalog
from preservation.procutil import held_lock_fds, process_alive
from preservation.workspace import Workspace, WorkspaceBusy
from tests.conftest import BIN, FIXTURE_SIPS, json_lines, run_kho
from tests.helpers import rewrite_manifest

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
BUSY_EXIT = 3


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, kho_home: Path) -> Iterator[dict[str, str]]:
    """Environment for `kho`: the default SQLite catalog, or a fresh PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield {}
        return
    schema = f"kho_conc_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG_SERVER} is not reachable: {exc}")
    url = f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    try:
        yield {"KHO_DATABASE_URL": url}
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def catalog_url(kho_home: Path, env: dict[str, str]) -> str:
    return env.get("KHO_DATABASE_URL") or f"sqlite:///{kho_home / 'catalog.sqlite'}"


def distinct_sips(root: Path, count: int, fixture: str = "hoso-2023-sotnmt-02") -> list[Path]:
    """Copies of a sample SIP, each with one file of its own (so no copy is a duplicate of another)."""
    sips = []
    for number in range(count):
        sip = root / f"{fixture}-{number}"
        shutil.copytree(FIXTURE_SIPS / fixture, sip)
        (sip / "data" / f"bản sao {number}.txt").write_text(f"bản sao số {number}\n", encoding="utf-8")
        rewrite_manifest(sip)
        sips.append(sip)
    return sips


def slow_sip(root: Path, images: int = 64, side: int = 2500) -> Path:
    """A SIP whose format validation runs in a process pool for a second or two: 64 PNGs (the pool
    threshold) that are small on disk but take Pillow ~25 ms each to decode."""
    from PIL import Image

    sip = root / "many-images"
    shutil.copytree(FIXTURE_SIPS / "hoso-2023-sotnmt-02", sip)
    first = sip / "data" / "ảnh-000.png"
    Image.linear_gradient("L").resize((side, side)).convert("RGB").save(first, compress_level=9)
    for number in range(1, images):
        shutil.copyfile(first, sip / "data" / f"ảnh-{number:03}.png")
    rewrite_manifest(sip)
    return sip


def start_kho(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([str(BIN / "kho"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})


def finish(processes: list[subprocess.Popen[str]], timeout: float = 120) -> list[tuple[int, str, str]]:
    deadline = time.monotonic() + timeout
    results = []
    for process in processes:
        out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        results.append((process.returncode, out, err))
    return results


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.005) -> object:
    """Poll a condition (bounded); the poll interval is not a synchronisation, the condition is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo.extend(children - found)
            found |= children
    return found


def python_descendants(pid: int) -> set[int]:
    """Descendants running Python (pool workers, a fork server), not tools such as clamscan."""
    python = os.path.realpath(BIN / "python")
    found = set()
    for child in descendants(pid):
        try:
            if os.readlink(f"/proc/{child}/exe") == python:
                found.add(child)
        except OSError:
            continue
    return found


def assert_chain_verifies(env: dict[str, str]) -> None:
    verified = run_kho("events", "verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def one_stored_aip(kho_home: Path, env: dict[str, str]) -> str:
    aips = json_lines(run_kho("aip", "list", "--json", env=env, check=True).stdout)
    assert len(aips) == 1, aips
    assert [p.name for p in (kho_home / "workspaces").iterdir()] == []
    return str(aips[0]["aip_id"])


@pytest.mark.timeout(120)
def test_eight_parallel_ingests_all_succeed(kho_home: Path, backend: dict[str, str], tmp_path: Path) -> None:
    sips = distinct_sips(tmp_path / "sips", 8)
    results = finish([start_kho("ingest", str(sip), "--json", env=backend) for sip in sips])
    for code, _out, err in results:
        assert code == 0, err
        assert "Traceback" not in err
    ids = {json.loads(out)["aip_id"] for _code, out, _err in results}
    assert len(ids) == 8
    listed = json_lines(run_kho("aip", "list", "--json", env=backend, check=True).stdout)
    assert {str(a["aip_id"]) for a in listed} == ids
    assert_chain_verifies(backend)
    assert list((kho_home / "workspaces").iterdir()) == []


WORKERS, APPENDS = 8, 12


def _appender(url: str, number: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    """One worker process: opens the (fresh) catalog, waits for all the others, then appends."""
    catalog = Catalog(url)
    agent = {"type": "local", "value": "kho-test", "name": "test", "agent_type": "software"}
    barrier.wait(timeout=60)
    for round_ in range(APPENDS):
        events = [
            {"id": str(uuid.uuid4()), "aip_id": f"worker-{number}", "event_type": "fixity check",
             "event_datetime": datetime.now(UTC), "outcome": "success", "detail": f"round {round_}.{k}"}
            for k in range(1 + round_ % 2)
        ]
        with catalog.session() as session:
            catalog.ensure_agents(session, [agent, {**agent, "value": f"worker-{number}"}])
            catalog.append_events(session, events)
    catalog.close()


@pytest.mark.timeout(120)
def test_parallel_appenders_lose_nothing(kho_home: Path, backend: dict[str, str]) -> None:
    url = catalog_url(kho_home, backend)
    kho_home.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    workers = [context.Process(target=_appender, args=(url, n, barrier)) for n in range(WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=90)
    assert [w.exitcode for w in workers] == [0] * WORKERS
    catalog = Catalog(url)
    try:
        per_worker = sum(1 + r % 2 for r in range(APPENDS))
        assert catalog.event_count() == WORKERS * per_worker
        assert catalog.verify_chain() is None
        assert len(catalog.agents()) == WORKERS + 1
    finally:
        catalog.close()


@pytest.mark.timeout(120)
def test_ingest_fixity_and_dip_at_once(kho_home: Path, backend: dict[str, str], tmp_path: Path) -> None:
    first, second = distinct_sips(tmp_path / "sips", 2)
    stored = json.loads(run_kho("ingest", str(first), "--json", env=backend, check=True).stdout)["aip_id"]
    running = [
        start_kho("ingest", str(second), "--json", env=backend),
        start_kho("fixity", "--json", env=backend),
        start_kho("dip", stored, "--requester", "Nguyễn Văn A", "--role", "archivist", "-o", str(tmp_path / "dips"),
                  "--json", env=backend),
    ]
    for code, _out, err in finish(running):
        assert code == 0, err
    assert len(json_lines(run_kho("aip", "list", "--json", env=backend, check=True).stdout)) == 2
    assert_chain_verifies(backend)


@pytest.mark.timeout(150)
def test_kill_during_pool_step_leaves_no_orphan_and_resume_finishes(
    kho_home: Path, backend: dict[str, str], tmp_path: Path
) -> None:
    sip = slow_sip(tmp_path / "sips")
    ingest = start_kho("ingest", str(sip), "--json", env=backend)
    try:
        # the pool's workers are the first Python children an ingest of this SIP starts (identify_many
        # stays in-process below 500 files, hash_many below 256 files and 64 MiB)
        children = wait_for(lambda: python_descendants(ingest.pid), 60, "the ingest's process pool", 0.002)
        assert isinstance(children, set)
        workers = children | python_descendants(ingest.pid)
    finally:
        ingest.kill()
    ingest.communicate(timeout=30)
    assert ingest.returncode == -signal.SIGKILL
    wait_for(lambda: not any(process_alive(pid) for pid in workers), 15, f"pool workers {workers} to die", 0.05)
    resumed = run_kho("resume", "--json", env=backend, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert [r["status"] for r in json_lines(resumed.stdout)] == ["stored"]
    assert one_stored_aip(kho_home, backend) == json_lines(resumed.stdout)[0]["aip_id"]
    assert_chain_verifies(backend)


@pytest.mark.timeout(120)
def test_two_ingests_of_one_path_make_one_aip(kho_home: Path, backend: dict[str, str], tmp_path: Path) -> None:
    sip = slow_sip(tmp_path / "sips")  # runs for seconds: the second starts while the first runs
    first, second = start_kho("ingest", str(sip), "--json", env=backend), start_kho("ingest", str(sip), env=backend)
    (code_a, _out_a, err_a), (code_b, _out_b, err_b) = finish([first, second])
    assert sorted([code_a, code_b]) == [0, BUSY_EXIT], (err_a, err_b)
    busy_err, busy_pid, winner_pid = (err_b, second.pid, first.pid) if code_b == BUSY_EXIT else (
        err_a, first.pid, second.pid)
    assert "Traceback" not in err_a + err_b
    assert "already being ingested" in busy_err and "đang được nạp" in busy_err, busy_err
    assert f"pid {winner_pid} " in busy_err and f"pid {busy_pid} " not in busy_err  # it names the holder
    one_stored_aip(kho_home, backend)


# -- the lock itself: fork hygiene and takeover of a lock whose holder died --------------------------


@pytest.mark.timeout(30)
def test_forked_child_never_keeps_the_workspace_lock(tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    workspace = Workspace(ws_dir)
    ready_r, ready_w = os.pipe()
    release_r, release_w = os.pipe()
    with workspace.locked():
        assert held_lock_fds()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe and its exit code
            os.close(ready_r)
            os.write(ready_w, b"0" if held_lock_fds() else b"1")
            os.read(release_r, 1)  # stays alive until the parent has taken the lock again
            os._exit(0)
        os.close(ready_w)
        assert os.read(ready_r, 1) == b"1", "the forked child still had the lock's descriptor"
    try:
        other = run_python_lock_probe(ws_dir)  # another process can take it while the child lives
        assert other == "locked", other
    finally:
        os.write(release_w, b"x")
        os.waitpid(child, 0)


def run_python_lock_probe(ws_dir: Path) -> str:
    code = (
        "import sys; from pathlib import Path; from preservation.workspace import Workspace, WorkspaceBusy\n"
        "try:\n"
        "    with Workspace(Path(sys.argv[1])).locked(): print('locked')\n"
        "except WorkspaceBusy as e: print('busy', e)\n"
    )
    done = subprocess.run([str(BIN / "python"), "-c", code, str(ws_dir)], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parents[2], check=False)
    return done.stdout.strip() or done.stderr


@pytest.mark.timeout(30)
def test_lock_held_by_an_orphan_of_a_dead_holder_is_taken_over(tmp_path: Path) -> None:
    """What older versions left behind: the recorded holder was killed, but a child it forked still
    holds the flock. The lock is recognised as abandoned and taken over; a live holder never is."""
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    gone = subprocess.Popen(["true"])  # a process that has certainly exited
    gone.wait(timeout=10)
    fd = os.open(ws_dir / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, json.dumps({"pid": gone.pid, "host": os.uname().nodename, "start_ticks": 1,
                             "started_at": "2025-01-01T00:00:00+00:00"}).encode())
    orphan = subprocess.Popen(["sleep", "60"], pass_fds=(fd,))  # inherits the locked file description
    os.close(fd)
    try:
        assert not Workspace(ws_dir).is_locked()
        with Workspace(ws_dir).locked():
            record = json.loads((ws_dir / ".lock").read_text())
            assert record["pid"] == os.getpid()
            assert run_python_lock_probe(ws_dir).startswith("busy")  # and now it is ours, with our name
            assert f"pid {os.getpid()} " in run_python_lock_probe(ws_dir)
    finally:
        orphan.kill()
        orphan.wait(timeout=10)


def test_busy_workspace_names_its_holder(tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    holder = subprocess.Popen(
        [str(BIN / "python"), "-c",
         "import sys; from pathlib import Path; from preservation.workspace import Workspace\n"
         "with Workspace(Path(sys.argv[1])).locked():\n    print('held', flush=True); sys.stdin.read()\n",
         str(ws_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert Workspace(ws_dir).is_locked()
        with pytest.raises(WorkspaceBusy) as busy, Workspace(ws_dir).locked():
            pass
        assert f"pid {holder.pid} on host {os.uname().nodename}" in str(busy.value)
        assert "đang được một tiến trình khác xử lý" in str(busy.value)
    finally:
        holder.communicate(input="", timeout=30)

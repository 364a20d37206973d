"""`make cluster` for real: the CeleryExecutor on this machine's PostgreSQL and Redis, two Celery workers.

One cluster for the module (fresh databases, a tmp KHO_HOME and AIRFLOW_HOME, a free port, a queue of its
own), started and stopped with ``python -m preservation.deploy.cluster up|down`` as ``make cluster`` does.
(a) eight SIPs dropped at once are ingested across both workers; (b) a worker killed (SIGKILL to its
process group and to the task process groups it forked, as when its machine dies) in the middle of a
task has the task retried on the other worker, and every SIP still ends as exactly one verified AIP.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.cluster import make_sips as bench_make_sips
from preservation.deploy import admin_password, free_port
from preservation.deploy.cluster import (
    ClusterConfig,
    alive,
    config_from_env,
    drop_databases,
    full_environment,
    kill_tree,
    process_tree,
    read_state,
    running_services,
    signal_tree,
    stop_processes,
)
from tests.conftest import ROOT, json_lines, run_kho

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

UP_TIMEOUT = 300
INGEST_TIMEOUT = 240
# the module's Celery queue is its own; a Redis database apart keeps worker gossip apart from `make cluster`
TEST_REDIS = "redis://127.0.0.1:6379/13"
HEARTBEAT_TIMEOUT = 20  # a dead worker's task is failed (then retried) this long after its last heartbeat


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]  # os.environ + the cluster's variables and secrets (what cluster.env gives a shell)
    config: ClusterConfig
    state: dict[str, Any]

    @property
    def home(self) -> Path:
        return Path(self.env["KHO_HOME"])

    def metadata(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.config.airflow_db}") as conn:
            return list(conn.execute(query, args).fetchall())

    def service(self, name: str) -> dict[str, Any]:
        return next(s for s in self.state["services"] if s["name"] == name)

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        password = admin_password(Path(self.env["AIRFLOW_HOME"]))
        token_request = urllib.request.Request(
            f"{self.state['api_url']}/auth/token", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"username": "admin", "password": password}).encode(),
        )
        with urllib.request.urlopen(token_request, timeout=30) as response:
            token = json.loads(response.read())["access_token"]
        request = urllib.request.Request(
            f"{self.state['api_url']}{path}", method=method,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            data=None if body is None else json.dumps(body).encode(),
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def _cluster_command(command: str, env: dict[str, str], timeout: float,
                     *args: str) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run([sys.executable, "-m", "preservation.deploy.cluster", command, *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    name = f"kho_test_{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KHO_", "AIRFLOW"))}
    env.update({
        "KHO_HOME": str(root / "kho-home"),
        "AIRFLOW_HOME": str(root / "airflow-home"),
        "KHO_CLUSTER_NAME": name,
        "KHO_AIRFLOW_PORT": str(free_port()),
        "KHO_REDIS_URL": TEST_REDIS,
        "KHO_WORKERS": "2",
        "KHO_WORKER_CONCURRENCY": "2",
        "KHO_TASK_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "KHO_TASK_QUEUED_TIMEOUT": "90",
        "KHO_SETTLE_SECONDS": "1",
    })  # fmt: skip
    config = config_from_env(env)
    home = Path(env["KHO_HOME"])
    try:
        started = _cluster_command("up", env, UP_TIMEOUT)
        assert started.returncode == 0, f"cluster up failed:\n{started.stdout}\n{started.stderr}"
        state = read_state(home)
        assert state is not None and len(running_services(state)) == 5, state
        yield Cluster(root, full_environment(home, env), config, state)
    finally:
        try:
            stopped = _cluster_command("down", env, 180, "--timeout", "10")
            print(stopped.stdout, stopped.stderr)
        finally:
            # whatever `down` did not stop (it failed, or `up` died half-way) is killed here
            state = read_state(home)
            stop_processes(running_services(state), timeout=5)
            drop_databases(config)
    # `down` stopped every component, and every task process their workers forked
    assert not running_services(read_state(home))


def make_sips(target: Path, prefix: str, count: int, fixtures: tuple[str, ...]) -> list[Path]:
    return bench_make_sips(target, count, prefix, fixtures)


def drop(cluster: Cluster, sips: list[Path]) -> None:
    """Into the ingest folder at once (a rename each, from a folder on the same file system), then ask for
    a scan now instead of waiting for the next minute (the scheduled scan would claim them just the same)."""
    ingest = cluster.home / "ingest"
    for sip in sips:
        sip.rename(ingest / sip.name)
    time.sleep(2.5)  # KHO_SETTLE_SECONDS=1
    cluster.api("POST", "/api/v2/dags/ingest_scan/dagRuns", {"logical_date": None})


def ingest_runs(cluster: Cluster) -> dict[str, str]:
    """run_id -> state of every ``ingest`` run."""
    return dict(cluster.metadata("SELECT run_id, state FROM dag_run WHERE dag_id = 'ingest'"))


def wait_for_ingests(cluster: Cluster, expected_runs: int, timeout: float = INGEST_TIMEOUT) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    runs: dict[str, str] = {}
    while time.monotonic() < deadline:
        runs = ingest_runs(cluster)
        finished = [s for s in runs.values() if s in ("success", "failed")]
        if len(runs) >= expected_runs and len(finished) == len(runs):
            return runs
        time.sleep(2)
    raise AssertionError(f"ingest runs not finished within {timeout} s: {runs}\n{task_table(cluster)}")


def task_table(cluster: Cluster) -> str:
    rows = cluster.metadata(
        "SELECT run_id, task_id, map_index, state, try_number, hostname FROM task_instance "
        "WHERE dag_id = 'ingest' ORDER BY start_date NULLS LAST"
    )
    return "\n".join(" ".join(str(c) for c in row) for row in rows)


def aips_by_sip(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
    listed = run_kho("aip", "list", "--json", env=cluster.env, check=True)
    result: dict[str, list[dict[str, Any]]] = {}
    for aip in json_lines(listed.stdout):
        result.setdefault(str(aip["sip_name"]), []).append(aip)
    return result


def assert_verified(cluster: Cluster) -> None:
    verified = run_kho("events", "verify", env=cluster.env)
    assert verified.returncode == 0, verified.stderr
    fixity = run_kho("fixity", "--no-repair", "--json", env=cluster.env)
    assert fixity.returncode == 0, fixity.stdout + fixity.stderr


@pytest.mark.timeout(UP_TIMEOUT + INGEST_TIMEOUT + 60)
def test_sips_dropped_at_once_are_ingested_across_both_workers(cluster: Cluster) -> None:
    # four SIPs, each an ingest run of a dozen tasks: enough for both workers to take tasks at once (asserted
    # below), while the test stays within the suite's time (eight took 167 s of CI)
    sips = make_sips(cluster.root / "staging-a", "a", 4, ("hoso-2023-sotnmt-02", "hoso-2024-ubnd-01"))
    drop(cluster, sips)
    runs = wait_for_ingests(cluster, expected_runs=4)
    assert sorted(runs.values()) == ["success"] * 4, task_table(cluster)

    hosts = {h for (h,) in cluster.metadata(
        "SELECT DISTINCT hostname FROM task_instance WHERE dag_id = 'ingest' AND state = 'success'")}  # fmt: skip
    assert hosts == set(cluster.state["workers"]), f"tasks ran on {hosts}, not on both workers"

    aips = aips_by_sip(cluster)
    assert sorted(aips) == sorted(s.name for s in sips)
    assert all(len(copies) == 1 and copies[0]["status"] == "stored" for copies in aips.values()), aips
    assert not any((cluster.home / "failed").iterdir()), "no SIP may be rejected"
    assert not any((cluster.home / "ingest").iterdir()), "every SIP was claimed"
    assert_verified(cluster)


@pytest.mark.timeout(INGEST_TIMEOUT + 120)
def test_a_killed_worker_has_its_task_retried_on_the_other(cluster: Cluster) -> None:
    before = aips_by_sip(cluster)
    runs_before = set(ingest_runs(cluster))
    victim, survivor = cluster.state["workers"]
    worker = cluster.service(victim.split("@", 1)[0])
    sips = make_sips(cluster.root / "staging-b", "b", 3, ("hoso-2024-ubnd-01", "hoso-2023-sotnmt-02"))
    drop(cluster, sips)

    # wait until the victim is in the middle of an ingest task, then kill it as its machine's death would:
    # stopped first (SIGSTOP), so that a task it was just finishing cannot slip out between look and kill
    def running_on_victim() -> list[tuple[Any, ...]]:
        return cluster.metadata(
            "SELECT run_id, task_id, map_index, try_number FROM task_instance "
            "WHERE dag_id = 'ingest' AND state = 'running' AND hostname = %s AND run_id <> ALL(%s)",
            victim, list(runs_before),
        )

    deadline = time.monotonic() + 120
    running: list[tuple[Any, ...]] = []
    killed: dict[int, int] = {}
    while time.monotonic() < deadline and not killed:
        if running_on_victim():
            tree = process_tree(int(worker["pid"]))
            signal_tree(tree, signal.SIGSTOP)
            time.sleep(0.5)  # a state change already sent reaches the API server
            running = running_on_victim()
            if running:
                killed = kill_tree(int(worker["pid"]), worker["ticks"])
                signal_tree(tree, signal.SIGKILL)
            else:
                signal_tree(tree, signal.SIGCONT)
        time.sleep(0.1)
    assert killed, f"{victim} never ran an ingest task:\n{task_table(cluster)}"
    time.sleep(1)
    assert not any(alive(pid, ticks) for pid, ticks in killed.items()), "every process of the worker is gone"

    runs = wait_for_ingests(cluster, expected_runs=len(runs_before) + 3,
                            timeout=INGEST_TIMEOUT + HEARTBEAT_TIMEOUT)  # fmt: skip
    new_runs = {r: s for r, s in runs.items() if r not in runs_before}
    assert sorted(new_runs.values()) == ["success"] * 3, task_table(cluster)

    # each task the victim was running when it died was tried again, and finished, on the survivor
    for run_id, task_id, map_index, try_number in running:
        (state, tries, host), *_ = cluster.metadata(
            "SELECT state, try_number, hostname FROM task_instance "
            "WHERE dag_id = 'ingest' AND run_id = %s AND task_id = %s AND map_index = %s",
            run_id, task_id, map_index,
        )
        assert (state, host) == ("success", survivor), task_table(cluster)
        assert tries > try_number, f"{task_id} of {run_id} was not retried:\n{task_table(cluster)}"

    aips = aips_by_sip(cluster)
    assert sorted(aips) == sorted([*before, *(s.name for s in sips)])
    assert all(len(copies) == 1 and copies[0]["status"] == "stored" for copies in aips.values()), aips
    assert not any((cluster.home / "failed").iterdir()), "no SIP may be rejected"
    assert_verified(cluster)

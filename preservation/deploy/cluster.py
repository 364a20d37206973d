"""``make cluster`` / ``make cluster-down``: Kho's Airflow scaled out on the CeleryExecutor.

``up`` starts, detached and in the background, the API server, the scheduler, the DAG processor and
``KHO_WORKERS`` (2) Celery workers on this machine's PostgreSQL (Airflow metadata, Celery results and
the Kho catalog, one database each) and Redis (the Celery broker), and returns once they are ready.
Each component runs in its own process group with its log in ``$AIRFLOW_HOME/logs/components/``; their
PIDs go to ``$KHO_HOME/cluster/state.json``, which ``down`` reads to stop them (SIGTERM to every
process group of each component's process tree, including the task processes a worker forked into
groups of their own, then SIGKILL after ``STOP_TIMEOUT``). ``up`` also writes ``$KHO_HOME/cluster.env``:
``source`` it and the ``kho`` and ``airflow`` commands of that shell use the running cluster.

Settings (environment): ``KHO_HOME`` (``./var`` from the Makefile), ``AIRFLOW_HOME``;
``KHO_CLUSTER_NAME`` (``kho``): the databases ``<name>_airflow`` and ``<name>_catalog`` and the Celery
queue ``<name>``, so two clusters (or a test's) never share state; ``KHO_POSTGRES``
(``postgresql+psycopg://postgres@127.0.0.1:5432``), ``KHO_REDIS_URL`` (``redis://127.0.0.1:6379/0``),
``KHO_DATABASE_URL`` (the catalog; default ``<KHO_POSTGRES>/<name>_catalog``), ``KHO_AIRFLOW_PORT``
(8090: not standalone's 8080), ``KHO_AIRFLOW_HOST`` (127.0.0.1), ``KHO_WORKERS`` (2; 0 on a control
machine whose workers run elsewhere, docs/decisions/0008-cluster-shared-storage.md),
``KHO_WORKER_CONCURRENCY`` (2 task processes per worker), ``KHO_TASK_HEARTBEAT_TIMEOUT`` (60 s: how
long a running task may go without a heartbeat before the scheduler takes its worker for dead and
retries it elsewhere; Airflow's default is 300), ``KHO_TASK_QUEUED_TIMEOUT`` (300 s: a task a dead
worker had taken but not started is handed out again after this).

Nothing here imports Airflow (``node_name`` is what Airflow calls for a task's hostname).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from preservation.config import load_settings
from preservation.deploy import (
    PASSWORDS_FILE,
    REPO,
    SECRETS_FILE,
    STOP_TIMEOUT,
    DeployError,
    Deployment,
    Supervisor,
    admin_password,
    airflow_program,
    default_parallelism,
    http_ok,
    load_or_create_secrets,
    migrate_database,
)
from preservation.deploy.standalone import API_READY_TIMEOUT, COMPONENTS_READY_TIMEOUT, components_healthy

CELERY_EXECUTOR = "airflow.providers.celery.executors.celery_executor.CeleryExecutor"
DEFAULT_PORT = 8090
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
WORKER_READY_TIMEOUT = 120.0
STATE_DIR = "cluster"
STATE_FILE = "state.json"
ENV_FILE = "cluster.env"
NODE_NAME_VARIABLE = "KHO_NODE_NAME"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
# what a shell needs besides the deployment's own variables; secrets stay in secrets.env
_SECRET_NAMES = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY")


def node_name() -> str:
    """The host name Airflow records for a task (``[core] hostname_callable``): a worker's Celery host
    name when several workers share one machine (``KHO_NODE_NAME``), the machine's FQDN otherwise."""
    return os.environ.get(NODE_NAME_VARIABLE) or socket.getfqdn()


@dataclass(frozen=True)
class ClusterConfig:
    """Everything ``up`` needs beyond :class:`Deployment`, read from the environment."""

    name: str
    postgres: str
    redis_url: str
    catalog_url: str
    workers: int
    concurrency: int
    heartbeat_timeout: float
    queued_timeout: float

    @property
    def airflow_db(self) -> str:
        return f"{self.name}_airflow"

    @property
    def catalog_db(self) -> str:
        return f"{self.name}_catalog"

    @property
    def airflow_url(self) -> str:
        return f"{self.postgres}/{self.airflow_db}"

    @property
    def airflow_async_url(self) -> str:
        server = urlsplit(self.postgres)
        return f"postgresql+psycopg_async://{server.netloc}/{self.airflow_db}"

    @property
    def result_backend(self) -> str:
        return f"db+{self.airflow_url}"

    @property
    def queue(self) -> str:
        return self.name

    def worker_names(self, host: str | None = None) -> list[str]:
        host = host or socket.gethostname()
        return [f"{self.name}-worker-{number}@{host}" for number in range(1, self.workers + 1)]


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    try:
        value = int(env.get(name, str(default)))
    except ValueError as exc:
        raise DeployError(f"{name} must be a whole number: {exc}") from None
    if value < minimum:
        raise DeployError(f"{name}={value}: at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, str(default)))
    except ValueError as exc:
        raise DeployError(f"{name} must be a number: {exc}") from None
    if value <= 0:
        raise DeployError(f"{name}={value}: must be positive")
    return value


def config_from_env(env: Mapping[str, str] | None = None) -> ClusterConfig:
    env = os.environ if env is None else env
    name = env.get("KHO_CLUSTER_NAME", "kho")
    if not _NAME.match(name):
        raise DeployError(f"KHO_CLUSTER_NAME={name!r}: lower-case letters, digits and _, starting with a letter")
    postgres = env.get("KHO_POSTGRES", DEFAULT_POSTGRES).rstrip("/")
    if not postgres.startswith("postgresql"):
        raise DeployError(f"KHO_POSTGRES={postgres!r}: a postgresql+psycopg://user@host:port URL")
    catalog = env.get("KHO_DATABASE_URL") or f"{postgres}/{name}_catalog"
    if not catalog.startswith("postgresql"):
        raise DeployError(f"KHO_DATABASE_URL={catalog!r}: the cluster's catalog must be on PostgreSQL, which "
                          "every worker reaches (unset it for the default database)")
    return ClusterConfig(
        name=name,
        postgres=postgres,
        redis_url=env.get("KHO_REDIS_URL", DEFAULT_REDIS),
        catalog_url=catalog,
        workers=_int(env, "KHO_WORKERS", 2, minimum=0),  # 0: a control machine, workers elsewhere
        concurrency=_int(env, "KHO_WORKER_CONCURRENCY", 2),
        heartbeat_timeout=_float(env, "KHO_TASK_HEARTBEAT_TIMEOUT", 60.0),
        queued_timeout=_float(env, "KHO_TASK_QUEUED_TIMEOUT", 300.0),
    )


def deployment_from_env(config: ClusterConfig, env: Mapping[str, str] | None = None) -> Deployment:
    env = os.environ if env is None else env
    kho_home = load_settings(dict(env)).home
    parallelism = _int(env, "KHO_AIRFLOW_PARALLELISM", max(default_parallelism(), config.workers * config.concurrency))
    return Deployment(
        airflow_home=Path(env.get("AIRFLOW_HOME", str(REPO / ".airflow"))).resolve(),
        kho_home=kho_home,
        port=_int(env, "KHO_AIRFLOW_PORT", DEFAULT_PORT),
        host=env.get("KHO_AIRFLOW_HOST", "127.0.0.1"),
        executor=CELERY_EXECUTOR,
        parallelism=parallelism,
        sql_alchemy_conn=config.airflow_url,
        extra_env={
            # Airflow's async engine would otherwise want asyncpg; psycopg 3 does both
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": config.airflow_async_url,
            "KHO_DATABASE_URL": config.catalog_url,  # every task of every worker writes the one catalog
            "AIRFLOW__CELERY__BROKER_URL": config.redis_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": config.result_backend,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(config.concurrency),
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": config.queue,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "preservation.deploy.cluster.node_name",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": f"{config.heartbeat_timeout:g}",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": f"{config.queued_timeout:g}",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "30",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        },
    )


# -- the servers this machine already runs -------------------------------------------------------------


def _psycopg_dsn(url: str, database: str) -> str:
    """A libpq URL for ``database`` on the server of a SQLAlchemy ``postgresql+driver://`` URL."""
    parts = urlsplit(url)
    return f"postgresql://{parts.netloc}/{database}"


def ensure_databases(config: ClusterConfig) -> list[str]:
    """Create the Airflow and catalog databases if missing; return the ones created."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - part of the airflow extra
        raise DeployError("psycopg is missing: install Kho with its Airflow extra (make install)") from exc
    wanted = [config.airflow_db]
    catalog = urlsplit(config.catalog_url)
    catalog_server = f"{catalog.scheme}://{catalog.netloc}"
    if catalog.path.strip("/") and urlsplit(config.postgres).netloc == catalog.netloc:
        wanted.append(catalog.path.strip("/"))
    elif not catalog.path.strip("/"):
        raise DeployError(f"KHO_DATABASE_URL={config.catalog_url!r} names no database")
    created = []
    try:
        with psycopg.connect(_psycopg_dsn(config.postgres, "postgres"), autocommit=True, connect_timeout=5) as conn:
            for database in wanted:
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
                    conn.execute(f'CREATE DATABASE "{database}"')  # a checked name, never user text
                    created.append(database)
    except psycopg.Error as exc:
        raise DeployError(f"PostgreSQL at {config.postgres} ({catalog_server} for the catalog): {exc}") from None
    return created


def drop_databases(config: ClusterConfig) -> None:
    """Drop the cluster's two databases (tests and benchmarks; never called by ``down``)."""
    import psycopg

    with psycopg.connect(_psycopg_dsn(config.postgres, "postgres"), autocommit=True, connect_timeout=5) as conn:
        for database in (config.airflow_db, config.catalog_db):
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def redis_ping(url: str, timeout: float = 3.0) -> None:
    """PING the broker (plain RESP over a socket: no client library needed to say it is not there)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise DeployError(f"KHO_REDIS_URL={url!r}: a redis://host:port/db URL")
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if parts.password:
                sock.sendall(f"AUTH {parts.password}\r\n".encode())
                sock.recv(64)
            sock.sendall(b"PING\r\n")
            answer = sock.recv(64)
    except OSError as exc:
        raise DeployError(f"Redis at {host}:{port} is not reachable: {exc}") from None
    if not answer.startswith(b"+PONG"):
        raise DeployError(f"Redis at {host}:{port} answered {answer[:60]!r} to PING")


def migrate_catalog(url: str) -> None:
    """Bring the catalog schema up to date once, before any task opens it (tasks on several workers
    opening a new catalog at the same moment would each run the Alembic upgrade)."""
    from preservation.catalog import Catalog

    Catalog(url).close()


# -- processes ------------------------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgrp, start ticks) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[19])


def alive(pid: int, ticks: int | None = None) -> bool:
    """A living (not zombie) process, and the same one that started at ``ticks`` when given."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z" and (ticks is None or stat[3] == ticks)


def process_tree(pid: int) -> dict[int, int]:
    """``pid`` and every living descendant, each with its start ticks (so a reused PID is never hit)."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _proc_stat(int(entry))
        if stat is None or stat[0] == "Z":
            continue
        children.setdefault(stat[1], []).append(int(entry))
        ticks[int(entry)] = stat[3]
    if pid not in ticks:
        return {}
    tree, todo = {}, [pid]
    while todo:
        current = todo.pop()
        if current in ticks and current not in tree:
            tree[current] = ticks[current]
            todo.extend(children.get(current, []))
    return tree


def signal_tree(processes: Mapping[int, int], sig: int) -> None:
    """Send ``sig`` to the process group of every process in ``processes`` (pid -> start ticks) that is
    still the same living process, then to each such process itself (one that left its group)."""
    groups = set()
    for pid, ticks in processes.items():
        stat = _proc_stat(pid)
        if stat is not None and stat[0] != "Z" and stat[3] == ticks:
            groups.add(stat[2])
    for group in groups:
        if group > 1:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, sig)
    for pid, ticks in processes.items():
        if alive(pid, ticks):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def kill_tree(pid: int, ticks: int | None = None) -> dict[int, int]:
    """SIGKILL a process, its process group and every process group its descendants made (Airflow puts
    each task process in a group of its own): what a machine's sudden death does to a worker."""
    if not alive(pid, ticks):
        return {}
    tree = process_tree(pid)
    signal_tree(tree, signal.SIGKILL)
    return tree


def stop_processes(entries: Iterable[Mapping[str, Any]], timeout: float = STOP_TIMEOUT) -> list[str]:
    """SIGTERM every process group of each entry's tree (``pid``, ``ticks``), wait up to ``timeout`` for
    them all to end, SIGKILL what is left; return the names of the entries that had to be killed."""
    trees = {}
    for entry in entries:
        pid, ticks = int(entry["pid"]), entry.get("ticks")
        if alive(pid, ticks):
            trees[str(entry["name"])] = process_tree(pid)
    for tree in trees.values():
        signal_tree(tree, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p, t) for tree in trees.values() for p, t in tree.items()):
        time.sleep(0.2)
    killed = []
    for name, tree in trees.items():
        # the tree again: a worker may have forked a task process after the first look
        root = next(iter(tree))
        if alive(root, tree[root]):
            tree = {**tree, **process_tree(root)}
        left = {p: t for p, t in tree.items() if alive(p, t)}
        if left:
            killed.append(name)
            signal_tree(left, signal.SIGKILL)
    return killed


# -- state ----------------------------------------------------------------------------------------------


def state_dir(kho_home: Path) -> Path:
    return kho_home / STATE_DIR


def read_state(kho_home: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((state_dir(kho_home) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def running_services(state: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not state:
        return []
    return [s for s in state.get("services", []) if alive(int(s["pid"]), s.get("ticks"))]


def cluster_environment(deployment: Deployment) -> dict[str, str]:
    """The variables a shell (or a test) adds to its own to use the cluster; no secrets."""
    env = deployment.env(base={})
    env.pop("PATH", None)
    for name in _SECRET_NAMES:
        env.pop(name, None)
    env["KHO_AIRFLOW_API_URL"] = deployment.api_url
    return env


def full_environment(kho_home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (os.environ) plus the running cluster's variables and secrets: what ``source
    $KHO_HOME/cluster.env`` gives a shell. For tests, benchmarks and scripts."""
    state = read_state(kho_home)
    if state is None:
        raise DeployError(f"no cluster state in {state_dir(kho_home)}: run `make cluster` first")
    env = dict(os.environ if base is None else base)
    env.update(state["env"])
    env.update(load_or_create_secrets(Path(state["env"]["AIRFLOW_HOME"]) / SECRETS_FILE))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def write_env_file(path: Path, env: Mapping[str, str]) -> None:
    lines = [
        "# Kho cluster (written by `make cluster`): `source` this file and the kho and airflow commands of",
        "# this shell use the running cluster. Secrets stay in $AIRFLOW_HOME/secrets.env (read below).",
        f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:\"$PATH\"",
    ]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    lines.append(f'if [ -r "$AIRFLOW_HOME/{SECRETS_FILE}" ]; then set -a; . "$AIRFLOW_HOME/{SECRETS_FILE}"; set +a; fi')
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _worker_ready(log_path: Path, start_offset: int) -> bool:
    try:
        with log_path.open("rb") as handle:
            handle.seek(start_offset)
            return b" ready." in handle.read()
    except OSError:
        return False


# -- up / down ------------------------------------------------------------------------------------------


def up(env: Mapping[str, str] | None = None, out: Any = None) -> dict[str, Any]:
    """Start the cluster and return its state (also written to ``$KHO_HOME/cluster/state.json``)."""
    env = dict(os.environ if env is None else env)
    out = out or sys.stdout
    config = config_from_env(env)
    deployment = deployment_from_env(config, env)
    home = deployment.kho_home
    if running_services(read_state(home)):
        raise DeployError(f"a cluster is already running for KHO_HOME={home}: `make cluster-down` first")
    redis_ping(config.redis_url)
    created = ensure_databases(config)
    component_env = deployment.env(env)
    load_settings(component_env).ensure_dirs()
    state_dir(home).mkdir(parents=True, exist_ok=True)
    print(f"  databases {config.airflow_db}, {urlsplit(config.catalog_url).path.strip('/')}"
          f"{' (created)' if created else ''}; migrating ...", file=out, flush=True)
    migrate_database(deployment)
    migrate_catalog(config.catalog_url)
    airflow = airflow_program()
    supervisor = Supervisor(deployment.logs_dir / "components")
    try:
        supervisor.start("api-server", [airflow, "api-server", "--host", deployment.host, "--port",
                                        str(deployment.port)], component_env)  # fmt: skip
        supervisor.wait_until(
            f"the API server answered on {deployment.api_url}",
            lambda: http_ok(f"{deployment.api_url}/api/v2/monitor/health"),
            API_READY_TIMEOUT,
        )
        supervisor.start("dag-processor", [airflow, "dag-processor"], component_env)
        supervisor.start("scheduler", [airflow, "scheduler", "--skip-serve-logs"], component_env)
        workers = []
        for worker in config.worker_names():
            short = worker.split("@", 1)[0]
            log_path = supervisor.log_dir / f"{short}.log"
            offset = log_path.stat().st_size if log_path.exists() else 0
            argv = [airflow, "celery", "worker", "--celery-hostname", worker, "--queues", config.queue,
                    "--concurrency", str(config.concurrency), "--skip-serve-logs"]  # fmt: skip
            workers.append((supervisor.start(short, argv, {**component_env, NODE_NAME_VARIABLE: worker}), offset))
        supervisor.wait_until(
            "the scheduler and DAG processor reported healthy",
            lambda: components_healthy(deployment.api_url),
            COMPONENTS_READY_TIMEOUT,
        )
        supervisor.wait_until(
            f"{len(workers)} Celery workers ready",
            lambda: all(_worker_ready(service.log_path, offset) for service, offset in workers),
            WORKER_READY_TIMEOUT,
        )
    except BaseException:
        supervisor.stop()
        raise
    services = []
    for service in supervisor.services:
        stat = _proc_stat(service.process.pid)
        services.append({"name": service.name, "pid": service.process.pid, "ticks": stat[3] if stat else None,
                         "log": str(service.log_path)})  # fmt: skip
        service.log.close()  # the child keeps its own descriptor; it runs on after this process exits
    cluster_env = cluster_environment(deployment)
    state = {
        "kho_home": str(home),
        "airflow_home": str(deployment.airflow_home),
        "api_url": deployment.api_url,
        "cluster_name": config.name,
        "airflow_database": config.airflow_url,
        "catalog_database": config.catalog_url,
        "broker": config.redis_url,
        "queue": config.queue,
        "workers": config.worker_names(),
        "services": services,
        "env": cluster_env,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp = state_dir(home) / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, state_dir(home) / STATE_FILE)
    write_env_file(home / ENV_FILE, cluster_env)
    return state


def down(kho_home: Path, timeout: float = STOP_TIMEOUT) -> tuple[list[str], list[str]]:
    """Stop a cluster started by ``up``: the scheduler, DAG processor and workers first (a worker finishes
    the task it runs within ``timeout``), the API server last, which those tasks still talk to. Returns
    (stopped, killed) component names."""
    state = read_state(kho_home)
    services = running_services(state)
    first = [s for s in services if s["name"] != "api-server"]
    last = [s for s in services if s["name"] == "api-server"]
    killed = stop_processes(first, timeout) + stop_processes(last, timeout)
    if state is not None:
        state["services"] = []
        state["stopped_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        (state_dir(kho_home) / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    return [str(s["name"]) for s in services], killed


def banner(state: Mapping[str, Any]) -> str:
    home = Path(state["kho_home"])
    airflow_home = Path(state["airflow_home"])
    password = admin_password(airflow_home)
    login = f"user admin, password {password}" if password else f"user admin, password in {PASSWORDS_FILE}"
    settings = load_settings(dict(state["env"]))
    return "\n".join(
        [
            "Kho's Airflow cluster is running / Cụm Airflow của Kho đang chạy",
            f"  UI:            {state['api_url']}  ({login})",
            f"  executor:      CeleryExecutor, queue {state['queue']}, broker {state['broker']}",
            f"  workers:       {', '.join(state['workers'])}",
            f"  metadata:      {state['airflow_database']}",
            f"  catalog:       {state['catalog_database']}",
            f"  ingest folder: {settings.ingest_dir}",
            f"  logs:          {airflow_home / 'logs' / 'components'}",
            f"  use it:        source {home / ENV_FILE}   (then: kho aip list)",
            "  stop it:       make cluster-down",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m preservation.deploy.cluster",
                                     description=(__doc__ or "").splitlines()[0])  # fmt: skip
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--timeout", type=float, default=STOP_TIMEOUT,
                        help=f"down: seconds from SIGTERM to SIGKILL (default {STOP_TIMEOUT:.0f})")
    args = parser.parse_args(argv)
    home = load_settings().home
    try:
        if args.command == "up":
            print(f"Starting Kho's Airflow cluster (KHO_HOME={home}) ...", flush=True)
            print(banner(up()), flush=True)
        elif args.command == "down":
            stopped, killed = down(home, args.timeout)
            if not stopped:
                print(f"no cluster running for KHO_HOME={home} / không có cụm nào đang chạy")
            else:
                extra = f" (killed after {args.timeout:.0f} s: {', '.join(killed)})" if killed else ""
                print(f"stopped / đã dừng: {', '.join(stopped)}{extra}")
        else:
            services = running_services(read_state(home))
            for service in services:
                print(f"{service['name']}\tpid {service['pid']}\t{service['log']}")
            if not services:
                print(f"no cluster running for KHO_HOME={home}")
                return 1
    except DeployError as exc:
        print(f"error / lỗi: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

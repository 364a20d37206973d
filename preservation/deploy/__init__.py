"""Running Kho's own Airflow: one machine (``standalone``) or a Celery cluster (``cluster``).

Nothing here imports Airflow: these modules start the ``airflow`` programs of the virtual environment
Kho is installed in, as an operator would, with one environment that every component shares. That
environment is what makes the components agree with each other:

- one set of secrets (the JWT secret that signs task tokens, the API secret key, the Fernet key),
  generated once into ``$AIRFLOW_HOME/secrets.env`` (mode 0600, never in git), because a component
  that makes up its own JWT secret has every task token it issues refused by the API server;
- the venv's ``bin`` first on ``PATH``, because Airflow starts some of its parts as a plain
  ``airflow`` command;
- every listener on 127.0.0.1 unless ``KHO_AIRFLOW_HOST`` says otherwise, and parallelism sized to the
  machine rather than Airflow's default of 32 task processes;
- ``KHO_HOME`` resolved to an absolute path, so every task of every component works on the same
  ingest folder, workspaces, catalog and storage.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets as _secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRETS_FILE = "secrets.env"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
STOP_TIMEOUT = 30.0


class DeployError(RuntimeError):
    """A component could not be started or did not become ready; the message says which and why."""


def airflow_program() -> str:
    """The ``airflow`` of this virtual environment (never whatever else is on PATH)."""
    program = BIN / "airflow"
    if not program.exists():
        raise DeployError(f"{program} not found: install Kho with its Airflow extra (make install)")
    return str(program)


def load_or_create_secrets(path: Path) -> dict[str, str]:
    """The deployment's shared secrets; created once (0600) so every component and restart agrees."""
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.startswith("#"):
                values[name.strip()] = value.strip()
    wanted = {
        "AIRFLOW__API_AUTH__JWT_SECRET": lambda: _secrets.token_urlsafe(48),
        "AIRFLOW__API__SECRET_KEY": lambda: _secrets.token_urlsafe(32),
        "AIRFLOW__CORE__FERNET_KEY": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    missing = [name for name in wanted if not values.get(name)]
    if missing:
        for name in missing:
            values[name] = wanted[name]()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("# Kho's Airflow secrets: shared by every component; keep private, never commit.\n")
            handle.writelines(f"{name}={values[name]}\n" for name in sorted(values))
        os.replace(tmp, path)
    os.chmod(path, 0o600)
    return values


def default_parallelism() -> int:
    """Task processes at once: two per core (tasks wait on disks and tools as much as on CPU, and each
    ingest step already spreads its own work over every core), never Airflow's flat 32."""
    return max(2, 2 * (os.cpu_count() or 1))


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Deployment:
    """Where one Kho + Airflow installation keeps its state, and how its components reach each other."""

    airflow_home: Path
    kho_home: Path
    port: int = 8080
    host: str = "127.0.0.1"
    executor: str = "LocalExecutor"
    parallelism: int = field(default_factory=default_parallelism)
    sql_alchemy_conn: str | None = None  # None: SQLite in airflow_home
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104 - compared, not bound
        return f"http://{host}:{self.port}"

    @property
    def logs_dir(self) -> Path:
        return self.airflow_home / "logs"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment every component and every ``airflow``/``kho`` command of this deployment uses."""
        env = dict(os.environ if base is None else base)
        env.update(load_or_create_secrets(self.airflow_home / SECRETS_FILE))
        env.update(
            {
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.airflow_home),
                "AIRFLOW_CONFIG": str(REPO / "airflow.cfg"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__EXECUTOR": self.executor,
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API__HOST": self.host,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs_dir),
                "KHO_HOME": str(self.kho_home),
            }
        )
        if self.sql_alchemy_conn:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.sql_alchemy_conn
        env.update(self.extra_env)
        return env


def run_airflow(deployment: Deployment, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """One ``airflow`` command of this deployment (``db migrate``, ``dags unpause`` ...)."""
    completed = subprocess.run(
        [airflow_program(), *args],
        env=deployment.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-20:])
        raise DeployError(f"airflow {' '.join(args)} failed (exit {completed.returncode}):\n{tail}")
    return completed


def migrate_database(deployment: Deployment) -> None:
    deployment.airflow_home.mkdir(parents=True, exist_ok=True)
    run_airflow(deployment, "db", "migrate")


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own http URL
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def admin_password(airflow_home: Path) -> str | None:
    """The password Airflow's simple auth manager generated for ``admin`` (kept in AIRFLOW_HOME)."""
    path = airflow_home / PASSWORDS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("admin") if isinstance(data, dict) else None
    return str(value) if value else None


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]


class Supervisor:
    """Starts components as child processes (each in its own process group, output to a log file),
    notices one that dies, and stops them all: SIGTERM to each group, SIGKILL after ``STOP_TIMEOUT``."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.services: list[Service] = []

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> Service:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen(
            argv, env=dict(env), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        service = Service(name, process, log_path, log)
        self.services.append(service)
        return service

    def dead(self) -> list[Service]:
        return [s for s in self.services if s.process.poll() is not None]

    def tail(self, service: Service, lines: int = 25) -> str:
        try:
            text = service.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, what: str, check: object, timeout: float) -> None:
        """Poll ``check()`` until true; fail early, with the component's log, if a component dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(check) and check():
                return
            for service in self.dead():
                raise DeployError(
                    f"{service.name} exited (code {service.process.returncode}) before {what}; "
                    f"its log ({service.log_path}):\n{self.tail(service)}"
                )
            time.sleep(0.5)
        raise DeployError(f"{what}: not within {timeout:.0f} s")

    def stop(self) -> None:
        for service in reversed(self.services):
            if service.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(service.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for service in self.services:
            remaining = max(0.1, deadline - time.monotonic())
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=remaining)
            # the group too: task processes a component forked must not outlive it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(service.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=5)
            service.log.close()
        self.services.clear()

    @contextlib.contextmanager
    def running(self) -> Iterator[Supervisor]:
        try:
            yield self
        finally:
            self.stop()

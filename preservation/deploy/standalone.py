"""``make airflow-standalone``: Kho's Airflow on one machine, started the way README says.

The API server (UI and the execution API tasks talk to), the scheduler with the LocalExecutor, and the
DAG processor, each a child process with its log in ``$AIRFLOW_HOME/logs/components/``. The API server
is started and answering before the scheduler, so the first task of each scheduled DAG does not fail
on a refused connection. The scheduler serves no logs over the network (``--skip-serve-logs``): the
API server reads task logs from the same folder on this machine, and Airflow's log server would
listen on every interface. Ctrl-C (or SIGTERM) stops every component.

Usage: ``python -m preservation.deploy.standalone [--port 8080] [--host 127.0.0.1]``; ``AIRFLOW_HOME``
and ``KHO_HOME`` from the environment (the Makefile sets ``.airflow`` and ``var``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

from preservation.config import load_settings
from preservation.deploy import (
    PASSWORDS_FILE,
    REPO,
    SECRETS_FILE,
    DeployError,
    Deployment,
    Supervisor,
    admin_password,
    airflow_program,
    default_parallelism,
    http_ok,
    migrate_database,
)

API_READY_TIMEOUT = 180.0
COMPONENTS_READY_TIMEOUT = 180.0


class _Stop(Exception):
    """SIGTERM or SIGINT: stop every component."""


def _raise_stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def components_healthy(api_url: str, names: tuple[str, ...] = ("scheduler", "dag_processor")) -> bool:
    """Airflow's own health report: each named component heartbeating."""
    try:
        with urllib.request.urlopen(f"{api_url}/api/v2/monitor/health", timeout=3) as response:  # noqa: S310
            report = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return all((report.get(name) or {}).get("status") == "healthy" for name in names)


def deployment_from_env(port: int | None = None, host: str | None = None) -> Deployment:
    env = os.environ
    return Deployment(
        airflow_home=Path(env.get("AIRFLOW_HOME", str(REPO / ".airflow"))).resolve(),
        kho_home=load_settings().home,
        port=port or int(env.get("KHO_AIRFLOW_PORT", "8080")),
        host=host or env.get("KHO_AIRFLOW_HOST", "127.0.0.1"),
        parallelism=int(env.get("KHO_AIRFLOW_PARALLELISM", str(default_parallelism()))),
    )


def start(deployment: Deployment, supervisor: Supervisor) -> None:
    """Migrate the metadata database, then start the components in an order that lets each find the
    others; return when Airflow reports the scheduler and DAG processor healthy."""
    env = deployment.env()
    load_settings(env).ensure_dirs()  # the ingest folder exists before anyone looks for it
    migrate_database(deployment)
    airflow = airflow_program()
    supervisor.start("api-server", [airflow, "api-server", "--host", deployment.host, "--port", str(deployment.port)],
                     env)
    supervisor.wait_until(
        f"the API server answered on {deployment.api_url}",
        lambda: http_ok(f"{deployment.api_url}/api/v2/monitor/health"),
        API_READY_TIMEOUT,
    )
    supervisor.start("dag-processor", [airflow, "dag-processor"], env)
    supervisor.start("scheduler", [airflow, "scheduler", "--skip-serve-logs"], env)
    supervisor.wait_until(
        "the scheduler and DAG processor reported healthy",
        lambda: components_healthy(deployment.api_url),
        COMPONENTS_READY_TIMEOUT,
    )


def banner(deployment: Deployment) -> str:
    settings = load_settings(deployment.env())
    password = admin_password(deployment.airflow_home)
    login = f"user admin, password {password}" if password else f"user admin, password in {PASSWORDS_FILE}"
    return "\n".join(
        [
            "Kho's Airflow is ready / Airflow của Kho đã sẵn sàng",
            f"  UI:             {deployment.api_url}  ({login})",
            f"  password file:  {deployment.airflow_home / PASSWORDS_FILE}",
            f"  secrets:        {deployment.airflow_home / SECRETS_FILE} (JWT, API, Fernet; mode 0600)",
            f"  ingest folder:  {settings.ingest_dir}  (drop BagIt or E-ARK packages here)",
            f"  KHO_HOME:       {settings.home}  (failed/ holds rejected SIPs and REASON.txt)",
            f"  component logs: {supervisor_log_dir(deployment)}",
            f"  executor:       {deployment.executor}, {deployment.parallelism} task processes at most",
            "Ctrl-C stops everything / Ctrl-C để dừng.",
        ]
    )


def supervisor_log_dir(deployment: Deployment) -> Path:
    return deployment.logs_dir / "components"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="airflow-standalone", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--port", type=int, default=None, help="API server / UI port (KHO_AIRFLOW_PORT, 8080)")
    parser.add_argument("--host", default=None, help="address to listen on (KHO_AIRFLOW_HOST, 127.0.0.1)")
    args = parser.parse_args(argv)
    deployment = deployment_from_env(args.port, args.host)
    supervisor = Supervisor(supervisor_log_dir(deployment))
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    print(f"Starting Kho's Airflow (AIRFLOW_HOME={deployment.airflow_home}, KHO_HOME={deployment.kho_home}) ...",
          flush=True)
    try:
        with supervisor.running():
            start(deployment, supervisor)
            print(banner(deployment), flush=True)
            while True:
                dead = supervisor.dead()
                if dead:
                    service = dead[0]
                    print(
                        f"{service.name} stopped (exit {service.process.returncode}); stopping the others. "
                        f"Its log, {service.log_path}:\n{supervisor.tail(service)}",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
                time.sleep(1)
    except _Stop:
        print("Stopped / Đã dừng.", flush=True)
        return 0
    except DeployError as exc:
        print(f"error / lỗi: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())

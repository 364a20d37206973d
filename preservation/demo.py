"""``make demo``: ingest each sample SIP through the real Airflow ``ingest`` DAG
(``airflow dags test``) and print what became of it.

The demo has an Airflow home of its own (``AIRFLOW_HOME``, ``.airflow-demo`` from the Makefile) and a
``KHO_HOME`` of its own: a scheduler of ``make airflow-standalone`` running at the same time never
sees the demo's runs, and the demo's rejections never land in that installation's ``failed/``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from preservation.config import load_settings
from preservation.deploy import REPO, Deployment, airflow_program, migrate_database
from preservation.pipeline import Context, result_for, summary_line
from preservation.service import Service

DAG_TIMEOUT = 900


def main(argv: list[str]) -> int:
    sips_root = Path(argv[0] if argv else "fixtures/sips").resolve()
    settings = load_settings()
    if settings.home.exists():
        shutil.rmtree(settings.home)  # the demo always starts from an empty KHO_HOME
    ctx = Context(settings)  # makes KHO_HOME's folders; result_for reads the new AIPs through it
    with Service.open(settings) as service, closing(ctx):
        deployment = Deployment(
            airflow_home=Path(os.environ.get("AIRFLOW_HOME", str(REPO / ".airflow-demo"))).resolve(),
            kho_home=settings.home,
        )
        migrate_database(deployment)
        env = deployment.env()
        airflow = airflow_program()
        print(
            f"Kho demo: KHO_HOME={settings.home}, AIRFLOW_HOME={deployment.airflow_home}, "
            "Airflow DAG 'ingest' via `airflow dags test`\n"
        )
        for sip in sorted(p for p in sips_root.iterdir() if p.is_dir()):
            known = {a.id for a in service.catalog.list_aips()}
            failed_before = set(os.listdir(settings.failed_dir))
            completed = subprocess.run(
                [airflow, "dags", "test", "ingest", "-c", json.dumps({"sip_path": str(sip)})],
                capture_output=True,
                text=True,
                env=env,
                timeout=DAG_TIMEOUT,
                check=False,
            )
            new = [a for a in service.catalog.list_aips() if a.id not in known]
            rejected = sorted(set(os.listdir(settings.failed_dir)) - failed_before)
            if new:
                print(summary_line(result_for(ctx, new[0].id, sip.name)))
            elif rejected:
                report = json.loads((settings.failed_dir / rejected[0] / "report.json").read_text(encoding="utf-8"))
                print(f"{sip.name}: REJECTED — {report['reason']}")
            else:
                print(f"{sip.name}: DAG run did not finish (exit {completed.returncode}); last lines:")
                print("\n".join(completed.stdout.splitlines()[-15:] + completed.stderr.splitlines()[-15:]))
        print(f"\nTry: KHO_HOME={settings.home} .venv/bin/kho aip list")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

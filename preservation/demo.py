"""``make demo``: ingest each sample SIP through the real Airflow ``ingest`` DAG
(``airflow dags test``) and print what became of it.

The demo has an Airflow home of its own (``AIRFLOW_HOME``, ``.airflow-demo`` from the Makefile) and a
``KHO_HOME`` of its own: a scheduler of ``make airflow-standalone`` running at the same time never
sees the demo's runs, and the demo's rejections never land in that installation's ``failed/``."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from format_registry import toolrun
from preservation.config import load_settings
from preservation.deploy import REPO, Deployment, airflow_program, migrate_database
from preservation.pipeline import Context, result_for, summary_line

DAG_TIMEOUT = 900


def main(argv: list[str]) -> int:
    sips_root = Path(argv[0] if argv else "fixtures/sips").resolve()
    settings = load_settings()
    if settings.home.exists():
        shutil.rmtree(settings.home)  # the demo always starts from an empty KHO_HOME
    with Context(settings) as service:  # makes KHO_HOME's folders; result_for reads the new AIPs through it
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
            completed = toolrun.run(
                [airflow, "dags", "test", "ingest", "-c", json.dumps({"sip_path": str(sip)})],
                env=env, timeout=DAG_TIMEOUT,
            )
            new = [a for a in service.catalog.list_aips() if a.id not in known]
            rejected = sorted(set(os.listdir(settings.failed_dir)) - failed_before)
            if new:
                print(summary_line(result_for(service, new[0].id, sip.name)))
            elif rejected:
                report = json.loads((settings.failed_dir / rejected[0] / "report.json").read_text(encoding="utf-8"))
                print(f"{sip.name}: REJECTED — {report['reason']}")
            else:
                print(f"{sip.name}: DAG run did not finish (exit {completed.returncode}); last lines:")
                lines = completed.stdout_text().splitlines()[-15:] + completed.stderr_text().splitlines()[-15:]
                print("\n".join(lines))
        print(f"\nTry: KHO_HOME={settings.home} .venv/bin/kho aip list")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

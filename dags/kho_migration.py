"""Airflow DAG ``format_migration``: weekly (or triggered with conf ``{"puid": ..., "dry_run": ...}``),
finds stored files whose format policy now asks for a new copy and writes new AIP revisions.
An interrupted campaign resumes: AIPs already migrated are skipped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from preservation.migrate import run_campaign
from preservation.service import Service


@dag(
    dag_id="format_migration",
    schedule=timedelta(weeks=1),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={"puid": Param(None, type=["null", "string"]), "dry_run": Param(False, type="boolean")},
    tags=["kho"],
    doc_md=__doc__,
)
def format_migration() -> None:
    @task
    def campaign(**context: Any) -> dict[str, Any]:
        params = context["params"]
        with Service.open() as service:
            result = run_campaign(service.catalog, puid=params.get("puid"), dry_run=bool(params.get("dry_run")),
                                  digests=service.settings.digests, organization=service.settings.organization)
        summary = result.to_dict()
        print(f"{'would migrate' if result.dry_run else 'migrated'} {summary['files']} files in {summary['aips']} AIPs")
        if result.failed:
            raise AirflowFailException(f"migration failed for {len(result.failed)} AIPs: {result.failed}")
        return {k: summary[k] for k in ("aips", "files", "bytes", "migrated")}

    campaign()


format_migration()
